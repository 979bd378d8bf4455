"""The Express example of ``@tekcify/auth-backend``'s README, in Flask.

Run it from the repository root::

    JWT_ACCESS_SECRET=... waitress-serve --host 127.0.0.1 --port 3000 examples.flask_app:app
    # or Flask's development server: python -m examples.flask_app

Then::

    curl http://127.0.0.1:3000/                          # public
    curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:3000/api/profile
    curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:3000/api/orders  # read:orders

A token for trying it: ``python -c "from tekcify_auth.testing import mint_access_token;
print(mint_access_token('user-1', secret='dev-secret-change-me', scopes=['read:orders']))"``.
"""

from __future__ import annotations

import os
from typing import Any

from flask import Blueprint, Flask

from tekcify_auth.flask import create_auth_middleware, current_user

# The auth server's JWT_ACCESS_SECRET; the default is for local development only.
JWT_ACCESS_SECRET = os.environ.get("JWT_ACCESS_SECRET", "dev-secret-change-me")

# Stands in for your user table.
USERS = {"user-1": {"email": "ada@example.com"}}


def get_user_info(user_id: str) -> dict[str, Any] | None:
    """The user's details, or ``None`` for an unknown user (answered 401 User not found)."""
    return USERS.get(user_id)


auth = create_auth_middleware(secret=JWT_ACCESS_SECRET, get_user_info=get_user_info)

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
    app.run(host="127.0.0.1", port=int(os.environ.get("PORT", "3000")))
