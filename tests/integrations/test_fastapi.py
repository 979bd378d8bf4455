"""tekcify_auth.fastapi: the guards, CurrentUser and require_scopes in real FastAPI apps.

Requests go through the whole ASGI app with httpx's ASGITransport; the JWKS guard
fetches its keys from a real HTTP server on 127.0.0.1.
"""

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Annotated, Any, Self

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, Request, WebSocket

from services import SHUTDOWN_POLL
from tekcify_auth import ConfigurationError, JwksVerifier, UserPayload
from tekcify_auth.fastapi import CurrentUser, JwksAuthGuard, JwtAuthGuard, require_scopes
from tekcify_auth.testing import SigningKey, mint_access_token, override_guard

SECRET = "fastapi-guard-test-secret-0123456789abcdef"
MISSING = "Missing or invalid authorization header"
INVALID = "Invalid or expired token"
NOT_FOUND = "User not found"
INVALID_REQUEST = 'Bearer error="invalid_request"'
INVALID_TOKEN = 'Bearer error="invalid_token"'


def token(sub: str = "user-1", **claims: Any) -> str:
    return mint_access_token(sub, secret=SECRET, **claims)


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


async def get(
    app: FastAPI, path: str, headers: Mapping[str, str] | list[tuple[str, Any]] | None = None
) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        return await client.get(path, headers=headers)


def profile_app(guard: JwtAuthGuard | JwksAuthGuard) -> FastAPI:
    """The guard app-wide and a /profile that returns the user."""
    app = FastAPI(dependencies=[Depends(guard)])

    @app.get("/profile")
    async def profile(user: CurrentUser) -> dict[str, Any]:
        return {
            "userId": user.user_id, "email": user.email, "scopes": list(user.scopes),
            "role": user.role,
        }

    return app


def b64(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def claims_of(value: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(value.split(".")[1] + "=="))
    return loaded


def unsigned(alg: str) -> str:
    return f"{b64({'alg': alg, 'typ': 'JWT'})}.{b64(claims_of(token()))}."


def hs256_with(secret: bytes, claims: dict[str, Any]) -> str:
    """HS256 by hand, for secrets our own minting refuses (a public key's PEM)."""
    signing_input = f"{b64({'alg': 'HS256', 'typ': 'JWT'})}.{b64(claims)}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


def tamper_payload(value: str) -> str:
    head, body, sig = value.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=="))
    claims["sub"] = "someone-else"
    return f"{head}.{b64(claims)}.{sig}"


def tamper_signature(value: str) -> str:
    head, body, sig = value.split(".")
    return f"{head}.{body}.{sig[:-2]}{'AA' if not sig.endswith('AA') else 'BB'}"


# --- where the guard applies ------------------------------------------------------------


async def test_app_wide_guard_protects_every_route_but_not_the_docs() -> None:
    app = profile_app(JwtAuthGuard(secret=SECRET))

    ok = await get(app, "/profile", bearer(token(email="a@example.com", scopes=["read"])))
    assert ok.status_code == 200
    assert ok.json() == {
        "userId": "user-1", "email": "a@example.com", "scopes": ["read"], "role": "user"
    }
    assert (await get(app, "/profile")).status_code == 401
    assert (await get(app, "/openapi.json")).status_code == 200
    assert (await get(app, "/docs")).status_code == 200


async def test_per_route_guard_leaves_other_routes_public() -> None:
    guard = JwtAuthGuard(secret=SECRET)
    app = FastAPI()

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/profile", dependencies=[Depends(guard)])
    async def profile(user: CurrentUser) -> dict[str, str]:
        return {"userId": user.user_id}

    assert (await get(app, "/health")).json() == {"status": "ok"}
    assert (await get(app, "/profile")).status_code == 401
    assert (await get(app, "/profile", bearer(token("u2")))).json() == {"userId": "u2"}


async def test_per_router_guard_covers_only_that_router() -> None:
    guard = JwtAuthGuard(secret=SECRET)
    router = APIRouter(prefix="/api", dependencies=[Depends(guard)])

    @router.get("/me")
    async def me(user: CurrentUser) -> str:
        return user.user_id

    app = FastAPI()
    app.include_router(router)

    @app.get("/public")
    async def public() -> str:
        return "open"

    assert (await get(app, "/public")).json() == "open"
    assert (await get(app, "/api/me")).status_code == 401
    assert (await get(app, "/api/me", bearer(token("u3")))).json() == "u3"


async def test_guard_as_a_parameter_returns_the_user_and_runs_once_per_request() -> None:
    calls: list[str] = []

    async def get_user_info(user_id: str) -> dict[str, str]:
        calls.append(user_id)
        return {"email": "hook@example.com"}

    guard = JwtAuthGuard(secret=SECRET, get_user_info=get_user_info)
    app = FastAPI(dependencies=[Depends(guard)])

    @app.get("/me")
    async def me(
        user: Annotated[UserPayload, Depends(guard)], request: Request, current: CurrentUser
    ) -> dict[str, Any]:
        return {
            "email": user.email, "same": user is current is request.state.user,
        }

    answer = await get(app, "/me", bearer(token("u4")))
    assert answer.json() == {"email": "hook@example.com", "same": True}
    # FastAPI caches a dependency per request: app-wide and parameter are one call.
    assert calls == ["u4"]


async def test_current_user_without_a_guard_fails_closed() -> None:
    app = FastAPI()

    @app.get("/oops")
    async def oops(user: CurrentUser) -> str:
        return user.user_id

    with pytest.raises(ConfigurationError, match="no guard authenticated /oops"):
        await get(app, "/oops", bearer(token()))


def test_guard_is_a_coroutine_so_fastapi_runs_it_on_the_event_loop() -> None:
    guard = JwtAuthGuard(secret=SECRET)
    assert asyncio.iscoroutinefunction(guard.__call__)
    assert asyncio.iscoroutinefunction(require_scopes("x").__call__)


# --- scopes -------------------------------------------------------------------------------


async def test_require_scopes_answers_403_with_insufficient_scope() -> None:
    app = FastAPI(dependencies=[Depends(JwtAuthGuard(secret=SECRET))])

    @app.get("/write", dependencies=[Depends(require_scopes("write:profile", "read:profile"))])
    async def write() -> str:
        return "written"

    refused = await get(app, "/write", bearer(token(scopes=["read:profile"])))
    assert refused.status_code == 403
    assert refused.json() == {"detail": "Insufficient scope"}
    header = refused.headers["www-authenticate"]
    assert header.startswith('Bearer error="insufficient_scope"')
    assert 'scope="read:profile write:profile"' in header

    allowed = await get(app, "/write", bearer(token(scopes=["read:profile", "write:profile"])))
    assert allowed.status_code == 200
    assert allowed.json() == "written"


async def test_require_scopes_returns_the_user() -> None:
    app = FastAPI(dependencies=[Depends(JwtAuthGuard(secret=SECRET))])

    @app.get("/admin")
    async def admin(user: Annotated[UserPayload, Depends(require_scopes("admin"))]) -> str:
        return user.user_id

    assert (await get(app, "/admin", bearer(token("boss", scopes=["admin"])))).json() == "boss"
    assert (await get(app, "/admin", bearer(token("pleb")))).status_code == 403


async def test_guard_level_scopes_are_required_on_every_route() -> None:
    app = profile_app(JwtAuthGuard(secret=SECRET, scopes=["read:profile"]))
    refused = await get(app, "/profile", bearer(token()))
    assert refused.status_code == 403
    assert refused.json() == {"detail": "Insufficient scope"}
    assert 'scope="read:profile"' in refused.headers["www-authenticate"]
    ok = await get(app, "/profile", bearer(token(scopes=["read:profile"])))
    assert ok.status_code == 200


def test_require_scopes_needs_a_scope() -> None:
    with pytest.raises(ConfigurationError):
        require_scopes()


# --- refusals -----------------------------------------------------------------------------

BAD_HEADERS: list[tuple[str, Any, str, str]] = [
    ("no header", None, MISSING, "Bearer"),
    ("empty header", {"Authorization": ""}, MISSING, "Bearer"),
    ("basic scheme", {"Authorization": "Basic dXNlcjpwYXNz"}, MISSING, "Bearer"),
    ("token alone", {"Authorization": "TOKEN"}, MISSING, "Bearer"),
    ("no space", {"Authorization": "BearerTOKEN"}, MISSING, "Bearer"),
    ("junk before", {"Authorization": "x Bearer TOKEN"}, MISSING, "Bearer"),
    ("scheme alone", {"Authorization": "Bearer"}, MISSING, INVALID_REQUEST),
    ("two tokens", {"Authorization": "Bearer TOKEN TOKEN"}, MISSING, INVALID_REQUEST),
    ("junk after", {"Authorization": "Bearer TOKEN junk"}, MISSING, INVALID_REQUEST),
    ("comma list", {"Authorization": "Bearer TOKEN, Bearer TOKEN"}, MISSING, INVALID_REQUEST),
    (
        "two headers",
        [("Authorization", "Bearer TOKEN"), ("Authorization", "Bearer TOKEN")],
        MISSING,
        INVALID_REQUEST,
    ),
    ("non-ascii", {"Authorization": "Bearer TOKEN\u00e9".encode("latin-1")}, MISSING,
     INVALID_REQUEST),
]


def _fill(headers: Any, value: str) -> Any:
    if headers is None:
        return None
    if isinstance(headers, list):
        return [(k, v.replace("TOKEN", value)) for k, v in headers]
    return {
        k: v.replace(b"TOKEN", value.encode()) if isinstance(v, bytes)
        else v.replace("TOKEN", value)
        for k, v in headers.items()
    }


@pytest.mark.parametrize(
    ("headers", "message", "challenge"),
    [pytest.param(h, m, c, id=name) for name, h, m, c in BAD_HEADERS],
)
async def test_bad_headers_are_401_with_the_node_text(
    headers: Any, message: str, challenge: str
) -> None:
    app = profile_app(JwtAuthGuard(secret=SECRET))
    answer = await get(app, "/profile", _fill(headers, token()))
    assert answer.status_code == 401
    assert answer.json() == {"detail": message}
    assert answer.headers["www-authenticate"].startswith(challenge)
    if challenge == "Bearer":
        # RFC 6750 §3.1: no error code when no Bearer credentials came at all.
        assert answer.headers["www-authenticate"] == "Bearer"


BAD_TOKENS: list[tuple[str, Callable[[], str]]] = [
    ("expired", lambda: token(expires_in=-60)),
    ("future nbf", lambda: token(nbf=2_000_000_000_0)),
    ("wrong secret", lambda: mint_access_token("user-1", secret="another-secret-0123456789abcdef")),
    ("tampered payload", lambda: tamper_payload(token())),
    ("tampered signature", lambda: tamper_signature(token())),
    ("alg none", lambda: unsigned("none")),
    ("alg NONE", lambda: unsigned("NONE")),
    ("refresh token", lambda: token(type="refresh")),
    ("temp token", lambda: token(type="temp")),
    ("no type", lambda: token(type=None)),
    ("no exp", lambda: token(exp=None)),
    ("wrong issuer", lambda: token(iss="someone")),
    ("wrong audience", lambda: token(aud="another-api")),
    ("truncated", lambda: token()[:-10]),
    ("two segments", lambda: ".".join(token().split(".")[:2])),
    ("not a jwt", lambda: "abc"),
    ("over 8 KiB", lambda: "a" * 9000),
    ("no sub", lambda: token(sub=None)),
]


@pytest.mark.parametrize("make", [pytest.param(m, id=name) for name, m in BAD_TOKENS])
async def test_bad_tokens_are_401_invalid_or_expired_never_500(
    make: Callable[[], str],
) -> None:
    app = profile_app(JwtAuthGuard(secret=SECRET))
    answer = await get(app, "/profile", bearer(make()))
    assert answer.status_code == 401
    assert answer.json() == {"detail": INVALID}
    assert answer.headers["www-authenticate"].startswith(INVALID_TOKEN)


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "bEaReR"])
async def test_bearer_scheme_is_case_insensitive(scheme: str) -> None:
    app = profile_app(JwtAuthGuard(secret=SECRET))
    answer = await get(app, "/profile", {"Authorization": f"{scheme} {token()}"})
    assert answer.status_code == 200


async def test_every_refusal_is_logged_without_the_token(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = profile_app(JwtAuthGuard(secret=SECRET))
    expired = token(expires_in=-60)
    with caplog.at_level(logging.WARNING, logger="tekcify_auth"):
        await get(app, "/profile", bearer(expired))
        await get(app, "/profile")
    messages = [r.getMessage() for r in caplog.records if r.name == "tekcify_auth"]
    assert len(messages) == 2
    assert "reason=expired" in messages[0]
    assert "route=/profile" in messages[0]
    assert "client=127.0.0.1" in messages[0]
    assert "reason=missing_header" in messages[1]
    assert all(expired not in m and expired.split(".")[2] not in m for m in messages)


async def test_scope_refusal_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    app = FastAPI(dependencies=[Depends(JwtAuthGuard(secret=SECRET))])

    @app.get("/admin", dependencies=[Depends(require_scopes("admin"))])
    async def admin() -> None:
        return None

    with caplog.at_level(logging.WARNING, logger="tekcify_auth"):
        await get(app, "/admin", bearer(token()))
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert "reason=insufficient_scope" in caplog.records[0].getMessage()
    assert "route=/admin" in caplog.records[0].getMessage()


# --- get_user_info -------------------------------------------------------------------------


async def test_sync_get_user_info_runs_in_a_worker_thread() -> None:
    threads: list[int] = []

    def get_user_info(user_id: str) -> dict[str, str]:
        threads.append(threading.get_ident())
        return {"email": f"{user_id}@db.example.com"}

    app = profile_app(JwtAuthGuard(secret=SECRET, get_user_info=get_user_info))
    answer = await get(app, "/profile", bearer(token("u5", email="token@example.com")))
    assert answer.json()["email"] == "u5@db.example.com"
    assert len(threads) == 1
    assert threads[0] != threading.get_ident()


async def test_async_get_user_info() -> None:
    async def get_user_info(user_id: str) -> dict[str, str]:
        await asyncio.sleep(0)
        return {"email": f"{user_id}@async.example.com"}

    app = profile_app(JwtAuthGuard(secret=SECRET, get_user_info=get_user_info))
    answer = await get(app, "/profile", bearer(token("u6")))
    assert answer.json()["email"] == "u6@async.example.com"


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
async def test_unknown_user_is_401_user_not_found(is_async: bool) -> None:
    def sync_hook(user_id: str) -> None:
        return None

    async def async_hook(user_id: str) -> None:
        return None

    hook = async_hook if is_async else sync_hook
    app = profile_app(JwtAuthGuard(secret=SECRET, get_user_info=hook))
    answer = await get(app, "/profile", bearer(token()))
    assert answer.status_code == 401
    assert answer.json() == {"detail": NOT_FOUND}
    assert answer.headers["www-authenticate"].startswith(INVALID_TOKEN)


async def test_without_hook_the_email_comes_from_the_token() -> None:
    app = profile_app(JwtAuthGuard(secret=SECRET))
    answer = await get(app, "/profile", bearer(token(email="claim@example.com")))
    assert answer.json()["email"] == "claim@example.com"


# --- OpenAPI and Swagger ------------------------------------------------------------------


async def test_openapi_lists_an_http_bearer_scheme_referenced_by_guarded_routes() -> None:
    guard = JwtAuthGuard(secret=SECRET)
    app = FastAPI()

    @app.get("/health")
    async def health() -> str:
        return "ok"

    @app.get("/profile", dependencies=[Depends(guard)])
    async def profile() -> str:
        return "me"

    @app.get("/admin", dependencies=[Depends(guard), Depends(require_scopes("admin"))])
    async def admin() -> str:
        return "admin"

    document = (await get(app, "/openapi.json")).json()
    assert document["components"]["securitySchemes"] == {
        "HTTPBearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    }
    paths = document["paths"]
    assert paths["/profile"]["get"]["security"] == [{"HTTPBearer": []}]
    assert paths["/admin"]["get"]["security"] == [{"HTTPBearer": []}]
    assert "security" not in paths["/health"]["get"]
    # The guard takes no parameter of its own that would show in the document.
    assert "parameters" not in paths["/profile"]["get"]


async def test_openapi_scheme_name_and_description_can_be_chosen() -> None:
    guard = JwtAuthGuard(secret=SECRET, scheme_name="TekcifyAuth", description="Tekcify token")
    app = profile_app(guard)
    document = (await get(app, "/openapi.json")).json()
    assert document["components"]["securitySchemes"]["TekcifyAuth"] == {
        "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
        "description": "Tekcify token",
    }
    assert document["paths"]["/profile"]["get"]["security"] == [{"TekcifyAuth": []}]


async def test_swagger_ui_is_served_and_its_authorize_header_is_accepted() -> None:
    app = profile_app(JwtAuthGuard(secret=SECRET))
    page = await get(app, "/docs")
    assert "swagger-ui" in page.text
    assert "/openapi.json" in page.text
    # Swagger UI sends an http/bearer scheme's value as exactly "Bearer <value>".
    assert (await get(app, "/profile", {"Authorization": "Bearer " + token()})).status_code == 200


# --- WebSockets ----------------------------------------------------------------------------


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


async def test_websocket_route_is_guarded_with_close_code_1008() -> None:
    app = FastAPI()

    @app.websocket("/ws", dependencies=[Depends(JwtAuthGuard(secret=SECRET))])
    async def ws(websocket: WebSocket, user: CurrentUser) -> None:
        await websocket.accept()
        await websocket.send_text(user.user_id)
        await websocket.close()

    refused = await handshake(app, [])
    assert refused == [{"type": "websocket.close", "code": 1008, "reason": MISSING}]
    accepted = await handshake(app, [(b"authorization", f"Bearer {token('w1')}".encode())])
    assert [m["type"] for m in accepted] == [
        "websocket.accept", "websocket.send", "websocket.close"
    ]
    assert accepted[1]["text"] == "w1"


# --- JwksAuthGuard -------------------------------------------------------------------------


class JwksServer:
    """Serves one JWKS document over HTTP on 127.0.0.1 at any path."""

    def __init__(self, document: dict[str, Any]) -> None:
        body = json.dumps(document).encode()
        self.paths: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.paths.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": SHUTDOWN_POLL},
            daemon=True,
        )

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture(scope="module")
def es256() -> SigningKey:
    return SigningKey.generate("ES256")


@pytest.fixture(scope="module")
def rs256() -> SigningKey:
    return SigningKey.generate("RS256")


@pytest.fixture
def jwks_server(es256: SigningKey, rs256: SigningKey) -> Iterator[JwksServer]:
    with JwksServer(es256.jwks(rs256)) as server:
        yield server


async def test_jwks_guard_with_a_static_key(es256: SigningKey) -> None:
    app = profile_app(JwksAuthGuard(key=es256.public_jwk()))
    assert (await get(app, "/profile", bearer(es256.mint("k1")))).json()["userId"] == "k1"
    # An HS256 token is never accepted by a guard configured with a public key.
    refused = await get(app, "/profile", bearer(token()))
    assert refused.status_code == 401
    assert refused.json() == {"detail": INVALID}


async def test_hs256_signed_with_the_public_pem_is_refused(rs256: SigningKey) -> None:
    pem = rs256.public_pem()
    app = profile_app(JwksAuthGuard(key=pem))
    forged = hs256_with(pem, claims_of(rs256.mint("attacker")))
    answer = await get(app, "/profile", bearer(forged))
    assert answer.status_code == 401
    assert answer.json() == {"detail": INVALID}
    assert (await get(app, "/profile", bearer(rs256.mint("k2")))).status_code == 200


async def test_jwks_guard_fetches_keys_from_a_jwks_uri(
    jwks_server: JwksServer, es256: SigningKey, rs256: SigningKey
) -> None:
    app = profile_app(JwksAuthGuard(f"{jwks_server.url}/keys.json"))
    assert (await get(app, "/profile", bearer(es256.mint("e1")))).json()["userId"] == "e1"
    assert (await get(app, "/profile", bearer(rs256.mint("r1")))).json()["userId"] == "r1"
    stranger = SigningKey.generate("ES256", kid="not-published")
    refused = await get(app, "/profile", bearer(stranger.mint("x")))
    assert refused.status_code == 401
    assert refused.json() == {"detail": INVALID}
    assert jwks_server.paths[0] == "/keys.json"


async def test_jwks_guard_from_auth_server_url_and_from_the_environment(
    jwks_server: JwksServer, es256: SigningKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = profile_app(JwksAuthGuard(auth_server_url=jwks_server.url))
    assert (await get(app, "/profile", bearer(es256.mint("a1")))).status_code == 200

    monkeypatch.setenv("AUTH_SERVER_URL", jwks_server.url)
    app = profile_app(JwksAuthGuard())
    assert (await get(app, "/profile", bearer(es256.mint("a2")))).status_code == 200
    assert jwks_server.paths == ["/api/.well-known/jwks.json"] * 2


async def test_jwks_guard_with_a_verifier_and_a_sync_hook(
    jwks_server: JwksServer, rs256: SigningKey
) -> None:
    verifier = JwksVerifier(f"{jwks_server.url}/jwks")
    app = profile_app(
        JwksAuthGuard(jwks=verifier, get_user_info=lambda user_id: {"email": "j@example.com"})
    )
    answer = await get(app, "/profile", bearer(rs256.mint("v1")))
    assert answer.json()["email"] == "j@example.com"
    assert (await get(app, "/profile", bearer(rs256.mint("v1", expires_in=-5)))).status_code == 401


# --- configuration -------------------------------------------------------------------------


def test_jwt_guard_needs_exactly_one_key() -> None:
    with pytest.raises(ConfigurationError):
        JwtAuthGuard()
    with pytest.raises(ConfigurationError):
        JwtAuthGuard(secret=SECRET, key=SigningKey.generate("ES256").public_jwk())


def test_jwks_guard_takes_one_source_of_keys(es256: SigningKey) -> None:
    with pytest.raises(ConfigurationError):
        JwksAuthGuard("http://127.0.0.1:9/jwks", key=es256.public_jwk())


def test_get_user_info_must_be_callable() -> None:
    with pytest.raises(ConfigurationError):
        JwtAuthGuard(secret=SECRET, get_user_info="not a function")  # type: ignore[arg-type]


# --- override_guard ------------------------------------------------------------------------


async def test_override_guard_stands_in_for_the_guard_until_it_ends() -> None:
    guard = JwtAuthGuard(secret=SECRET)
    app = profile_app(guard)

    with override_guard(app, guard, "test-1", scopes=["read"], email="t@example.com") as user:
        assert user.user_id == "test-1"
        answer = await get(app, "/profile")
        assert answer.status_code == 200
        assert answer.json() == {
            "userId": "test-1", "email": "t@example.com", "scopes": ["read"], "role": "user"
        }
    assert app.dependency_overrides == {}
    assert (await get(app, "/profile")).status_code == 401


async def test_override_guard_as_a_decorator_and_nested() -> None:
    guard = JwtAuthGuard(secret=SECRET)
    app = profile_app(guard)
    seen: list[str] = []

    @override_guard(app, guard, UserPayload(user_id="outer"))
    async def scenario() -> None:
        seen.append((await get(app, "/profile")).json()["userId"])
        with override_guard(app, guard, "inner"):
            seen.append((await get(app, "/profile")).json()["userId"])
        seen.append((await get(app, "/profile")).json()["userId"])

    await scenario()
    assert seen == ["outer", "inner", "outer"]
    assert app.dependency_overrides == {}


async def test_override_guard_still_checks_scopes() -> None:
    guard = JwtAuthGuard(secret=SECRET, scopes=["read:profile"])
    app = profile_app(guard)

    @app.get("/admin", dependencies=[Depends(require_scopes("admin"))])
    async def admin() -> str:
        return "admin"

    with override_guard(app, guard, "t", scopes=["read:profile"]):
        assert (await get(app, "/profile")).status_code == 200
        refused = await get(app, "/admin")
        assert refused.status_code == 403
        assert refused.json() == {"detail": "Insufficient scope"}
    with override_guard(app, guard, "t"):
        assert (await get(app, "/profile")).status_code == 403


def test_override_guard_refuses_to_clobber_a_custom_override() -> None:
    guard = JwtAuthGuard(secret=SECRET)
    app = profile_app(guard)

    async def mine() -> UserPayload:
        return UserPayload(user_id="mine")

    app.dependency_overrides[guard] = mine
    with pytest.raises(ConfigurationError), override_guard(app, guard):
        pass
    assert app.dependency_overrides[guard] is mine
    with pytest.raises(ConfigurationError):
        override_guard(app, object(), "x")  # type: ignore[arg-type]


def test_importing_testing_loads_no_framework() -> None:
    code = (
        "import sys, tekcify_auth.testing\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('fastapi', 'starlette', 'flask', 'django', 'rest_framework')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
