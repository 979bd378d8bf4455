"""Django adapter: ``JwtAuthMiddleware``, ``auth_required``, and DRF classes.

Configure it in settings (only one key source is required)::

    TEKCIFY_AUTH = {
        "SECRET": os.environ["JWT_ACCESS_SECRET"],  # or PUBLIC_KEY, JWKS, JWKS_URI, ...
        "ISSUER": "tekcify-auth",                   # default; None skips the check
        "AUDIENCE": "tekcify-api",                  # default; None skips the check
        "ALGORITHMS": None,                         # narrow the key's allow-list
        "LEEWAY": 0,                                # seconds of clock skew allowed
        "GET_USER_INFO": "myapp.auth.get_user_info",  # or the function; sync or async
        "PROTECTED_PATHS": ["/api"],                # default ["/"]: the whole site
        "EXEMPT_PATHS": ["/api/health"],            # default []: nothing
        "CLIENTS": ["<your client id>"],            # default None: every application's tokens
        "ALLOW_FIRST_PARTY": False,                 # with CLIENTS: also /api/auth/login tokens
        "ALLOW_CLIENT_TOKENS": False,               # client_credentials tokens (no user)
    }
    MIDDLEWARE = [..., "tekcify_auth.django.JwtAuthMiddleware"]

Key sources: ``SECRET`` is the server's ``JWT_ACCESS_SECRET`` (HS256/384/512);
``PUBLIC_KEY`` a PEM or JWK; ``JWKS`` a JWKS document (a dict with ``"keys"``, its
JSON or a joserfc ``KeySet``, read once, never fetched) or a
:class:`~tekcify_auth.JwksVerifier`; ``JWKS_URI`` a JWKS address; ``AUTH_SERVER_URL`` the
server, whose JWKS is at ``/api/.well-known/jwks.json``; ``VERIFIER`` a ready verifier
(or its dotted path) such as an :class:`~tekcify_auth.IntrospectionVerifier`, which
asks the server about each token. ``GET_USER_INFO(user_id)``
returns ``{"email": ...}`` or ``None`` (401 ``User not found``). ``CLIENTS`` accepts
only the tokens issued to those applications (without it, every application registered
on the server can call you with its users' tokens); first-party tokens then pass only
with ``ALLOW_FIRST_PARTY``. Tokens that act for no user (``client_credentials``) are
refused unless ``ALLOW_CLIENT_TOKENS`` is true. A missing or bad
setting, or an unknown key, raises ``ImproperlyConfigured`` naming the key.

``JwtAuthMiddleware`` refuses tokenless requests on the protected paths (as the Express
middleware does on what it is mounted on); ``auth_required`` protects single views
anywhere; ``JwtAuthentication`` and ``HasScopes`` (which import Django REST framework
only when first used) do the same for DRF views. The user is ``request.tekcify_user``
(a :class:`~tekcify_auth.UserPayload`), and for DRF ``request.user`` is a
:class:`TekcifyUser`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._conf import DjangoGuard, get_guard, refusal_response
from ._user import TekcifyUser
from .decorators import auth_required
from .middleware import JwtAuthMiddleware

if TYPE_CHECKING:
    from .rest_framework import HasScopes, JwtAuthentication

__all__ = [
    "DjangoGuard",
    "HasScopes",
    "JwtAuthMiddleware",
    "JwtAuthentication",
    "TekcifyUser",
    "auth_required",
    "get_guard",
    "refusal_response",
]

_DRF_NAMES = frozenset({"HasScopes", "JwtAuthentication"})


def __getattr__(name: str) -> Any:
    # Django REST framework is optional: load it only when its classes are asked for.
    if name in _DRF_NAMES:
        from . import rest_framework

        return getattr(rest_framework, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
