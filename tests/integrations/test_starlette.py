"""tekcify_auth.starlette: AuthMiddleware as pure ASGI middleware in real Starlette apps.

HTTP requests go through the whole app with httpx's ASGITransport; lifespan and
WebSocket conversations are driven by hand, message by message, as a server would.
"""

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx
import pytest
from fastapi import Depends, FastAPI
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.websockets import WebSocket

from tekcify_auth import ConfigurationError
from tekcify_auth.fastapi import CurrentUser, require_scopes
from tekcify_auth.starlette import AuthMiddleware
from tekcify_auth.testing import SigningKey, mint_access_token

SECRET = "starlette-middleware-test-secret-0123456789"
MISSING = "Missing or invalid authorization header"
INVALID = "Invalid or expired token"


def token(sub: str = "user-1", **claims: Any) -> str:
    return mint_access_token(sub, secret=SECRET, **claims)


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


async def whoami(request: Request) -> JSONResponse:
    user = request.state.user
    assert request.user is user
    return JSONResponse({"userId": user.user_id, "email": user.email, "scopes": list(user.scopes)})


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok", "user": "user" in request.scope})


def make_app(**options: Any) -> Starlette:
    options.setdefault("secret", SECRET)
    return Starlette(
        routes=[
            Route("/me", whoami),
            Route("/health", health),
            Route("/public/{rest:path}", health),
        ],
        middleware=[Middleware(AuthMiddleware, **options)],
    )


async def get(
    app: Any, path: str, headers: Mapping[str, str] | list[tuple[str, str]] | None = None
) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        return await client.get(path, headers=headers)


# --- the happy path -------------------------------------------------------------------------


async def test_user_is_at_request_state_and_scope() -> None:
    app = make_app()
    answer = await get(app, "/me", bearer(token(email="a@example.com", scopes=["read", "write"])))
    assert answer.status_code == 200
    assert answer.json() == {
        "userId": "user-1", "email": "a@example.com", "scopes": ["read", "write"]
    }


async def test_add_middleware_form() -> None:
    app = Starlette(routes=[Route("/me", whoami)])
    app.add_middleware(AuthMiddleware, secret=SECRET)
    assert (await get(app, "/me")).status_code == 401
    assert (await get(app, "/me", bearer(token("u2")))).json()["userId"] == "u2"


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "BeArEr"])
async def test_bearer_scheme_is_case_insensitive(scheme: str) -> None:
    answer = await get(make_app(), "/me", {"Authorization": f"{scheme} {token()}"})
    assert answer.status_code == 200


# --- refusals ---------------------------------------------------------------------------------


def assert_tekcify_refusal(answer: httpx.Response, status: int, message: str) -> None:
    assert answer.status_code == status
    assert answer.headers["content-type"] == "application/json"
    assert int(answer.headers["content-length"]) == len(answer.content)
    assert answer.json() == {
        "statusCode": status,
        "error": "Forbidden" if status == 403 else "Unauthorized",
        "message": message,
    }


@pytest.mark.parametrize(
    ("headers", "challenge"),
    [
        pytest.param(None, "Bearer", id="no header"),
        pytest.param({"Authorization": "Basic dXNlcjpwYXNz"}, "Bearer", id="basic"),
        pytest.param({"Authorization": "Bearer"}, 'Bearer error="invalid_request"', id="alone"),
        pytest.param(
            {"Authorization": "Bearer TOKEN TOKEN"}, 'Bearer error="invalid_request"',
            id="two tokens",
        ),
        pytest.param(
            {"Authorization": "Bearer TOKEN junk"}, 'Bearer error="invalid_request"', id="junk"
        ),
        pytest.param(
            [("Authorization", "Bearer TOKEN"), ("Authorization", "Bearer TOKEN")],
            'Bearer error="invalid_request"',
            id="two headers",
        ),
    ],
)
async def test_bad_headers_get_the_tekcify_401(headers: Any, challenge: str) -> None:
    value = token()
    if isinstance(headers, dict):
        headers = {k: v.replace("TOKEN", value) for k, v in headers.items()}
    elif isinstance(headers, list):
        headers = [(k, v.replace("TOKEN", value)) for k, v in headers]
    answer = await get(make_app(), "/me", headers)
    assert_tekcify_refusal(answer, 401, MISSING)
    assert answer.headers["www-authenticate"].startswith(challenge)
    if challenge == "Bearer":
        assert answer.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(token(expires_in=-60), id="expired"),
        pytest.param(token(type="refresh"), id="refresh token"),
        pytest.param(token(type="temp"), id="temp token"),
        pytest.param(token(aud="another-api"), id="wrong audience"),
        pytest.param(
            mint_access_token("u", secret="wrong-secret-0123456789abcdef"), id="wrong key"
        ),
        pytest.param(token()[:-4], id="truncated"),
        pytest.param(
            "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJ1In0.", id="alg none"
        ),
        pytest.param("x" * 9000, id="over 8 KiB"),
    ],
)
async def test_bad_tokens_get_401_invalid_or_expired(value: str) -> None:
    answer = await get(make_app(), "/me", bearer(value))
    assert_tekcify_refusal(answer, 401, INVALID)
    assert answer.headers["www-authenticate"].startswith('Bearer error="invalid_token"')


async def test_required_scopes_get_the_tekcify_403() -> None:
    app = make_app(scopes=["read:profile"])
    answer = await get(app, "/me", bearer(token()))
    assert_tekcify_refusal(answer, 403, "Insufficient scope")
    assert answer.headers["www-authenticate"].startswith('Bearer error="insufficient_scope"')
    assert 'scope="read:profile"' in answer.headers["www-authenticate"]
    assert (await get(app, "/me", bearer(token(scopes=["read:profile"])))).status_code == 200


async def test_refusals_are_logged_without_the_token(caplog: pytest.LogCaptureFixture) -> None:
    value = token(expires_in=-1)
    with caplog.at_level(logging.WARNING, logger="tekcify_auth"):
        await get(make_app(), "/me", bearer(value))
    messages = [r.getMessage() for r in caplog.records if r.name == "tekcify_auth"]
    assert len(messages) == 1
    assert "reason=expired" in messages[0]
    assert "route=/me" in messages[0]
    assert "client=127.0.0.1" in messages[0]
    assert value.split(".")[2] not in messages[0]


# --- get_user_info ----------------------------------------------------------------------------


async def test_sync_hook_runs_in_a_worker_thread() -> None:
    threads: list[int] = []

    def get_user_info(user_id: str) -> dict[str, str]:
        threads.append(threading.get_ident())
        return {"email": f"{user_id}@db.example.com"}

    answer = await get(make_app(get_user_info=get_user_info), "/me", bearer(token("s1")))
    assert answer.json()["email"] == "s1@db.example.com"
    assert threads != [threading.get_ident()]
    assert len(threads) == 1


async def test_async_hook_and_unknown_user() -> None:
    known = {"a1": {"email": "a1@example.com"}}

    async def get_user_info(user_id: str) -> dict[str, str] | None:
        await asyncio.sleep(0)
        return known.get(user_id)

    app = make_app(get_user_info=get_user_info)
    assert (await get(app, "/me", bearer(token("a1")))).json()["email"] == "a1@example.com"
    refused = await get(app, "/me", bearer(token("ghost")))
    assert_tekcify_refusal(refused, 401, "User not found")


# --- what passes through ----------------------------------------------------------------------


async def test_excluded_paths_exact_and_prefix() -> None:
    app = make_app(exclude_paths=("/health", "/public/*"))
    assert (await get(app, "/health")).json() == {"status": "ok", "user": False}
    assert (await get(app, "/public/a/b")).status_code == 200
    assert (await get(app, "/me")).status_code == 401
    # An exact entry is not a prefix.
    assert (await get(app, "/health/more")).status_code == 401


async def test_excluded_paths_are_relative_to_the_mount_point() -> None:
    inner = make_app(exclude_paths=("/health",))
    app = Starlette(routes=[Mount("/api", app=inner)])
    assert (await get(app, "/api/health")).status_code == 200
    assert (await get(app, "/api/me")).status_code == 401


async def test_lifespan_passes_through() -> None:
    events: list[str] = []

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        events.append("startup")
        yield
        events.append("shutdown")

    app = Starlette(lifespan=lifespan, middleware=[Middleware(AuthMiddleware, secret=SECRET)])
    incoming = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[str] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message["type"])

    await app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, receive, send)
    assert events == ["startup", "shutdown"]
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


# --- WebSockets -------------------------------------------------------------------------------


async def ws_echo_user(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text(websocket.state.user.user_id if "user" in websocket.scope else "-")
    await websocket.close()


async def handshake(app: Any, headers: list[tuple[bytes, bytes]]) -> list[dict[str, Any]]:
    """Open a WebSocket on /ws by hand and return what the app sent."""
    sent: list[dict[str, Any]] = []
    incoming = [{"type": "websocket.connect"}]

    async def receive() -> dict[str, Any]:
        return incoming.pop(0) if incoming else {"type": "websocket.disconnect", "code": 1000}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "websocket", "asgi": {"version": "3.0"}, "scheme": "ws", "path": "/ws",
        "raw_path": b"/ws", "root_path": "", "query_string": b"", "headers": headers,
        "client": ("127.0.0.1", 5000), "server": ("testserver", 80), "subprotocols": [],
        "state": {},
    }
    await app(scope, receive, send)
    return sent


def ws_app(**options: Any) -> Starlette:
    return Starlette(
        routes=[WebSocketRoute("/ws", ws_echo_user)],
        middleware=[Middleware(AuthMiddleware, secret=SECRET, **options)],
    )


async def test_websocket_without_token_is_closed_with_1008() -> None:
    sent = await handshake(ws_app(), [])
    assert sent == [{"type": "websocket.close", "code": 1008, "reason": MISSING}]
    sent = await handshake(ws_app(), [(b"authorization", f"Bearer {token(exp=1)}".encode())])
    assert sent == [{"type": "websocket.close", "code": 1008, "reason": INVALID}]


async def test_websocket_with_token_is_accepted_and_sees_the_user() -> None:
    sent = await handshake(ws_app(), [(b"authorization", f"Bearer {token('w1')}".encode())])
    assert [m["type"] for m in sent] == ["websocket.accept", "websocket.send", "websocket.close"]
    assert sent[1]["text"] == "w1"


async def test_websockets_false_lets_websockets_through() -> None:
    sent = await handshake(ws_app(websockets=False), [])
    assert sent[0]["type"] == "websocket.accept"
    assert sent[1]["text"] == "-"


# --- with FastAPI, and configuration -----------------------------------------------------------


async def test_fastapi_current_user_and_require_scopes_read_what_the_middleware_stored() -> None:
    app = FastAPI()
    app.add_middleware(AuthMiddleware, secret=SECRET)

    @app.get("/me")
    async def me(user: CurrentUser) -> str:
        return user.user_id

    @app.get("/admin", dependencies=[Depends(require_scopes("admin"))])
    async def admin() -> str:
        return "admin"

    assert (await get(app, "/me", bearer(token("f1")))).json() == "f1"
    assert (await get(app, "/admin", bearer(token("f1")))).status_code == 403
    assert (await get(app, "/admin", bearer(token("f1", scopes=["admin"])))).status_code == 200
    # The middleware answers refusals itself, in its own shape.
    assert (await get(app, "/me")).json()["message"] == MISSING


async def test_asymmetric_key() -> None:
    key = SigningKey.generate("EdDSA")
    app = make_app(secret=None, key=key.public_jwk())
    assert (await get(app, "/me", bearer(key.mint("ed1")))).json()["userId"] == "ed1"
    assert (await get(app, "/me", bearer(token()))).status_code == 401


def test_configuration_errors() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        return None

    with pytest.raises(ConfigurationError):
        AuthMiddleware(app)
    with pytest.raises(ConfigurationError):
        AuthMiddleware(app, secret=SECRET, key=SigningKey.generate("ES256").public_jwk())
