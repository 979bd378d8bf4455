"""The Express example of ``@tekcify/auth-backend``'s README, in Flask.

With the auth server running (``make run``), run it from the repository root on port
8001 (``PORT=...`` for another; Flask's development server)::

    JWT_ACCESS_SECRET="$(cat .tekcify/jwt_access_secret)" python -m examples.flask_app

or under a WSGI server: ``waitress-serve --port 8001 examples.flask_app:app``. Then, with a
user's access token from the server (``ACCESS_TOKEN``)::

    curl http://127.0.0.1:8001/                                                # public
    curl -H "Authorization: Bearer $ACCESS_TOKEN" http://127.0.0.1:8001/api/profile
    curl -H "Authorization: Bearer $ACCESS_TOKEN" http://127.0.0.1:8001/api/orders  # read:orders

The middleware asks the server (``$AUTH_SERVER_URL``, default http://localhost:7001) who
the token's user is (``ServerUserInfo``): a deleted account gets 401 ``User not found``.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from flask import Blueprint, Flask

from tekcify_auth import ServerUserInfo
from tekcify_auth.flask import create_auth_middleware, current_user

#: Where ``python -m examples.flask_app`` listens unless ``PORT`` says otherwise.
DEFAULT_PORT = 8001
DEV_SECRET = "dev-secret-change-me"

# The auth server's JWT_ACCESS_SECRET; the default is for local development only.
JWT_ACCESS_SECRET = os.environ.get("JWT_ACCESS_SECRET") or DEV_SECRET
if JWT_ACCESS_SECRET == DEV_SECRET:
    print(
        "WARNING: JWT_ACCESS_SECRET is not set; using a development secret, so the auth "
        "server's tokens are refused. Set it to the server's JWT_ACCESS_SECRET (the server "
        "prints how when it starts).",
        file=sys.stderr,
    )

# Who the token's user is, asked of the auth server (cached per user for 60 s); or your
# own function of the user id returning a dict, or None for "401 User not found".
auth = create_auth_middleware(secret=JWT_ACCESS_SECRET, get_user_info=ServerUserInfo(ttl=60))

app = Flask(__name__)
api = Blueprint("api", __name__, url_prefix="/api")
api.before_request(auth)  # as app.use("/api", authMiddleware): every /api route needs a token


@app.get("/")
def index() -> dict[str, Any]:
    """A public route."""
    return {"message": "Hello from the public route"}


@api.get("/profile")
def profile() -> dict[str, Any]:
    """The authenticated user, as the Express example's ``req.user``."""
    return {
        "user": {
            "userId": current_user.user_id,
            "email": current_user.email,
            "scopes": list(current_user.scopes),
            "role": current_user.role,
        }
    }


@api.get("/orders")
@auth.required(scopes=["read:orders"])
def orders() -> dict[str, Any]:
    """A route that also needs the ``read:orders`` scope (else 403 insufficient_scope)."""
    return {"userId": current_user.user_id, "orders": []}


app.register_blueprint(api)

if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(os.environ.get("PORT", DEFAULT_PORT)))
