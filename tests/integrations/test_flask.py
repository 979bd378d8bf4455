"""The Flask guard: app and blueprint protection, per-view scopes, every refusal."""

from __future__ import annotations

import base64
import json
import logging
from typing import Any

import pytest
from flask import Blueprint, Flask, g
from flask.testing import FlaskClient

from tekcify_auth import ConfigurationError, UserPayload
from tekcify_auth.flask import create_auth_middleware, current_user
from tekcify_auth.testing import SigningKey, mint_access_token, override_flask_user

SECRET = "flask-test-secret"
MISSING = "Missing or invalid authorization header"
INVALID = "Invalid or expired token"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def token(sub: str = "user-1", **kwargs: Any) -> str:
    return mint_access_token(sub, secret=SECRET, **kwargs)


def b64(data: dict[str, Any]) -> str:
    raw = json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def user_json() -> dict[str, Any]:
    return {
        "userId": current_user.user_id,
        "email": current_user.email,
        "scopes": list(current_user.scopes),
    }


def make_app(**options: Any) -> Flask:
    """A public route, an /api blueprint guarded as a whole, and decorated views."""
    options.setdefault("secret", SECRET)
    auth = create_auth_middleware(**options)
    app = Flask(__name__)
    api = Blueprint("api", __name__, url_prefix="/api")
    api.before_request(auth)

    @app.get("/")
    def public() -> dict[str, Any]:
        return {"public": True, "user": bool(current_user)}

    @api.get("/profile")
    def profile() -> dict[str, Any]:
        return user_json()

    @api.get("/orders")
    @auth.required(scopes=["read:orders"])
    def api_orders() -> dict[str, Any]:
        return user_json()

    @app.get("/me")
    @auth.required
    def me() -> dict[str, Any]:
        return user_json()

    @app.get("/orders")
    @auth.required(scopes=["read:orders", "write:orders"])
    def orders() -> dict[str, Any]:
        return user_json()

    @app.get("/async")
    @auth.required(scopes=["read:orders"])
    async def async_view() -> dict[str, Any]:
        return user_json()

    app.register_blueprint(api)
    return app


@pytest.fixture
def client() -> FlaskClient:
    return make_app().test_client()


def assert_refusal(response: Any, status: int, message: str, challenge: str) -> None:
    assert response.status_code == status
    assert response.mimetype == "application/json"
    error = "Forbidden" if status == 403 else "Unauthorized"
    assert response.get_json() == {"statusCode": status, "error": error, "message": message}
    assert response.headers["WWW-Authenticate"] == challenge


INVALID_CHALLENGE = (
    'Bearer error="invalid_token", error_description="The access token is invalid or expired"'
)
HEADER_CHALLENGE = (
    'Bearer error="invalid_request", error_description="Authorization must be \'Bearer <token>\'"'
)


def test_public_route_needs_no_token(client: FlaskClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.get_json() == {"public": True, "user": False}


def test_blueprint_route_answers_with_the_user(client: FlaskClient) -> None:
    response = client.get("/api/profile", headers=bearer(token(email="a@example.com")))
    assert response.status_code == 200
    assert response.get_json() == {"userId": "user-1", "email": "a@example.com", "scopes": []}


def test_blueprint_route_without_header_is_401(client: FlaskClient) -> None:
    assert_refusal(client.get("/api/profile"), 401, MISSING, "Bearer")


def test_whole_app_protection() -> None:
    app = Flask(__name__)
    auth = create_auth_middleware(secret=SECRET)
    app.before_request(auth)

    @app.get("/anything")
    def anything() -> dict[str, str]:
        return {"userId": g.user.user_id}

    client = app.test_client()
    assert_refusal(client.get("/anything"), 401, MISSING, "Bearer")
    assert client.get("/anything", headers=bearer(token())).get_json() == {"userId": "user-1"}


def test_decorated_view(client: FlaskClient) -> None:
    assert_refusal(client.get("/me"), 401, MISSING, "Bearer")
    assert client.get("/me", headers=bearer(token("u2"))).get_json()["userId"] == "u2"


def test_scoped_view_refuses_missing_scope_with_403(client: FlaskClient) -> None:
    response = client.get("/orders", headers=bearer(token(scopes=["read:orders"])))
    assert_refusal(
        response,
        403,
        "Insufficient scope",
        'Bearer error="insufficient_scope", '
        'error_description="The token lacks the scopes: read:orders write:orders", '
        'scope="read:orders write:orders"',
    )


def test_scoped_view_admits_every_scope(client: FlaskClient) -> None:
    headers = bearer(token(scopes=["write:orders", "read:orders", "other"]))
    response = client.get("/orders", headers=headers)
    assert response.status_code == 200
    assert response.get_json()["scopes"] == ["write:orders", "read:orders", "other"]


def test_scoped_view_inside_guarded_blueprint(client: FlaskClient) -> None:
    assert_refusal(client.get("/api/orders"), 401, MISSING, "Bearer")
    response = client.get("/api/orders", headers=bearer(token()))
    assert response.status_code == 403
    assert 'scope="read:orders"' in response.headers["WWW-Authenticate"]
    ok = client.get("/api/orders", headers=bearer(token(scopes=["read:orders"])))
    assert ok.status_code == 200


def test_async_view(client: FlaskClient) -> None:
    assert_refusal(client.get("/async"), 401, MISSING, "Bearer")
    assert client.get("/async", headers=bearer(token())).status_code == 403
    ok = client.get("/async", headers=bearer(token(scopes=["read:orders"])))
    assert ok.get_json()["userId"] == "user-1"


def test_guard_wide_scopes() -> None:
    client = make_app(scopes=["api"]).test_client()
    assert client.get("/api/profile", headers=bearer(token())).status_code == 403
    assert client.get("/api/profile", headers=bearer(token(scopes=["api"]))).status_code == 200


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "bEaReR"])
def test_scheme_is_case_insensitive(client: FlaskClient, scheme: str) -> None:
    response = client.get("/api/profile", headers={"Authorization": f"{scheme} {token()}"})
    assert response.status_code == 200


@pytest.mark.parametrize(
    "value",
    [
        "Bearer",
        "Bearer ",
        "Bearer {t} {t}",
        "Bearer {t}, Bearer {t}",
        "Bearer {t} junk",
        "Bearer <{t}>",
        "Bearer\t{t}",
    ],
)
def test_two_tokens_or_junk_are_refused(client: FlaskClient, value: str) -> None:
    response = client.get("/api/profile", headers={"Authorization": value.format(t=token())})
    assert_refusal(response, 401, MISSING, HEADER_CHALLENGE)


@pytest.mark.parametrize("value", ["Basic dXNlcjpwYXNz", "{t}", "Token {t}", "Bearer{t}"])
def test_other_schemes_count_as_no_credentials(client: FlaskClient, value: str) -> None:
    # RFC 6750 §3.1: no Bearer credentials at all, so the challenge has no error code.
    response = client.get("/api/profile", headers={"Authorization": value.format(t=token())})
    assert_refusal(response, 401, MISSING, "Bearer")


def test_empty_header_is_a_missing_header(client: FlaskClient) -> None:
    response = client.get("/api/profile", headers={"Authorization": ""})
    assert_refusal(response, 401, MISSING, "Bearer")


def _alg_none(alg: str) -> str:
    claims = json.loads(base64.urlsafe_b64decode(token().split(".")[1] + "=="))
    return f"{b64({'alg': alg, 'typ': 'JWT'})}.{b64(claims)}."


def _tampered() -> str:
    head, body, sig = token().split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=="))
    claims["scopes"] = ["admin"]
    return f"{head}.{b64(claims)}.{sig}"


BAD_TOKENS = {
    "expired": lambda: token(expires_in=-60),
    "wrong_secret": lambda: mint_access_token("user-1", secret="another-secret"),
    "tampered_payload": _tampered,
    "tampered_signature": lambda: token()[:-4] + "AAAA",
    "alg_none": lambda: _alg_none("none"),
    "alg_None": lambda: _alg_none("None"),
    "refresh_type": lambda: token(type="refresh"),
    "temp_type": lambda: token(type="temp"),
    "wrong_audience": lambda: token(audience="someone-else"),
    "wrong_issuer": lambda: token(issuer="someone-else"),
    "not_a_jwt": lambda: "abc.def",
    "four_segments": lambda: token() + ".",
    "oversized": lambda: "a" * 9000,
}


@pytest.mark.parametrize("name", sorted(BAD_TOKENS))
def test_bad_tokens_are_401_never_500(client: FlaskClient, name: str) -> None:
    response = client.get("/api/profile", headers=bearer(BAD_TOKENS[name]()))
    assert_refusal(response, 401, INVALID, INVALID_CHALLENGE)


def test_asymmetric_key() -> None:
    key = SigningKey.generate("ES256")
    client = make_app(secret=None, key=key.public_jwk()).test_client()
    assert client.get("/api/profile", headers=bearer(key.mint("k-user"))).status_code == 200
    response = client.get("/api/profile", headers=bearer(token()))
    assert_refusal(response, 401, INVALID, INVALID_CHALLENGE)


def test_sync_user_hook_supplies_the_email() -> None:
    calls: list[str] = []

    def get_user_info(user_id: str) -> dict[str, str] | None:
        calls.append(user_id)
        return {"email": "hook@example.com"} if user_id == "known" else None

    client = make_app(get_user_info=get_user_info).test_client()
    response = client.get("/api/profile", headers=bearer(token("known", email="claim@x.io")))
    assert response.get_json()["email"] == "hook@example.com"
    assert_refusal(
        client.get("/api/profile", headers=bearer(token("ghost"))),
        401,
        "User not found",
        'Bearer error="invalid_token", error_description="The token\'s user does not exist"',
    )
    assert calls == ["known", "ghost"]
    # An async view awaits the guard; the sync hook then runs in a worker thread.
    response = client.get("/async", headers=bearer(token("known", scopes=["read:orders"])))
    assert response.get_json()["email"] == "hook@example.com"
    assert calls == ["known", "ghost", "known"]


def test_async_user_hook_supplies_the_email() -> None:
    async def get_user_info(user_id: str) -> dict[str, str] | None:
        return {"email": f"{user_id}@async.example"} if user_id != "ghost" else None

    client = make_app(get_user_info=get_user_info).test_client()
    response = client.get("/api/profile", headers=bearer(token("amy")))
    assert response.get_json()["email"] == "amy@async.example"
    assert client.get("/async", headers=bearer(token("amy", scopes=["read:orders"]))).get_json()[
        "email"
    ] == "amy@async.example"
    response = client.get("/api/profile", headers=bearer(token("ghost")))
    assert response.status_code == 401
    assert response.get_json()["message"] == "User not found"


def test_decorator_after_before_request_does_not_authenticate_twice() -> None:
    calls: list[str] = []

    def get_user_info(user_id: str) -> dict[str, str]:
        calls.append(user_id)
        return {"email": "e@example.com"}

    client = make_app(get_user_info=get_user_info).test_client()
    response = client.get("/api/orders", headers=bearer(token(scopes=["read:orders"])))
    assert response.status_code == 200
    assert calls == ["user-1"]


def test_refusal_is_not_replaced_by_the_apps_401_handler() -> None:
    app = make_app()

    @app.errorhandler(401)
    def html_401(error: Exception) -> tuple[str, int]:
        return "<h1>login please</h1>", 401

    @app.after_request
    def cors(response: Any) -> Any:
        response.headers["Access-Control-Allow-Origin"] = "*"
        return response

    response = app.test_client().get("/api/profile")
    assert_refusal(response, 401, MISSING, "Bearer")
    assert response.headers["Access-Control-Allow-Origin"] == "*"


def test_every_refusal_is_logged_without_the_token(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    expired = token(expires_in=-60)
    with caplog.at_level(logging.WARNING, logger="tekcify_auth"):
        client.get("/api/profile", headers=bearer(expired))
        client.get("/orders", headers=bearer(token()), environ_base={"REMOTE_ADDR": "10.1.2.3"})
    first, second = (r.getMessage() for r in caplog.records)
    assert "reason=expired" in first
    assert "route=/api/profile" in first
    assert "client=127.0.0.1" in first
    assert expired not in first
    assert "reason=insufficient_scope" in second
    assert "status=403" in second
    assert "route=/orders client=10.1.2.3" in second


def test_current_user_outside_a_guarded_request_is_an_error() -> None:
    app = Flask(__name__)
    with app.test_request_context("/"):
        assert not current_user
        with pytest.raises(RuntimeError, match="no authenticated user"):
            _ = current_user.user_id


def test_configuration_errors() -> None:
    with pytest.raises(ConfigurationError):
        create_auth_middleware()
    with pytest.raises(ConfigurationError):
        create_auth_middleware(secret=SECRET, jwks_uri="http://127.0.0.1:1/jwks.json")


def test_override_stands_in_for_every_guard(client: FlaskClient) -> None:
    with override_flask_user("stand-in", scopes=["read:orders"], email="s@example.com") as user:
        assert isinstance(user, UserPayload)
        response = client.get("/api/profile")
        assert response.get_json() == {
            "userId": "stand-in", "email": "s@example.com", "scopes": ["read:orders"],
        }
        assert client.get("/api/orders").status_code == 200
        assert client.get("/async").status_code == 200
        assert_refusal(
            client.get("/orders"),
            403,
            "Insufficient scope",
            'Bearer error="insufficient_scope", '
            'error_description="The token lacks the scopes: read:orders write:orders", '
            'scope="read:orders write:orders"',
        )
    assert client.get("/api/profile").status_code == 401


@override_flask_user(UserPayload(user_id="payload-user", scopes=("read:orders", "write:orders")))
def test_override_as_a_decorator(client: FlaskClient) -> None:
    assert client.get("/orders").get_json()["userId"] == "payload-user"


@override_flask_user("async-test-user")
async def test_override_decorates_async_tests() -> None:
    client = make_app().test_client()
    assert client.get("/me").get_json()["userId"] == "async-test-user"


def test_overrides_nest_and_restore(client: FlaskClient) -> None:
    outer = override_flask_user("outer")
    with outer, override_flask_user("inner"):
        assert client.get("/me").get_json()["userId"] == "inner"
    with outer:
        assert client.get("/me").get_json()["userId"] == "outer"
    assert client.get("/me").status_code == 401
