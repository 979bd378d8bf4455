"""Flask variants of ``GET /hello`` for guard.py; each factory builds one app.

The secret comes from ``BENCH_SECRET``, set by guard.py for the server process.
"""

from __future__ import annotations

import os

from flask import Flask


def plain() -> Flask:
    """No authentication at all: the baseline."""
    app = Flask(__name__)

    @app.get("/hello")
    def hello() -> dict[str, str]:
        return {"message": "hello"}

    return app


def guarded() -> Flask:
    """``create_auth_middleware`` as ``app.before_request``, as the README shows it."""
    from tekcify_auth.flask import create_auth_middleware

    app = plain()
    app.before_request(create_auth_middleware(secret=os.environ["BENCH_SECRET"]))
    return app
