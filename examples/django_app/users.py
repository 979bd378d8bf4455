"""Who the token's user is: asked of the auth server (``$AUTH_SERVER_URL``), cached per
user for 60 s. Your own user table would do as well: any function of the user id that
returns a dict, or ``None`` for "401 User not found"."""

from tekcify_auth import ServerUserInfo

get_user_info = ServerUserInfo(ttl=60)
