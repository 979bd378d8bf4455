"""The framework-free guard core: header parsing, refusals and their wire form, the user
hook in sync and async code, scopes, and the one log line per refusal.

No web framework is imported here; every adapter builds on what is proved in this file.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import subprocess
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from tekcify_auth import AuthenticationError, ConfigurationError, TokenVerifier, UserPayload
from tekcify_auth._guard import (
    INSUFFICIENT_SCOPE,
    INVALID_TOKEN,
    MISSING_HEADER,
    USER_NOT_FOUND,
    GuardCore,
    build_verifier,
    extract_bearer,
)
from tekcify_auth.testing import mint_access_token
from vectors import NOW, Clock, Vector, load_vectors, verifier_options
from vectors.generate import claims as vector_claims
from vectors.generate import hs as vector_hs

SECRET = "guard-core-secret-0123456789abcdef-0123"
TOKEN68 = re.compile(r"[A-Za-z0-9\-._~+/]+=*")  # RFC 6750 §2.1 b64token


def mint(sub: str = "user-1", **claims: Any) -> str:
    return mint_access_token(sub, secret=SECRET, now=NOW, **claims)


def core(**options: Any) -> GuardCore:
    return GuardCore(TokenVerifier(secret=SECRET, clock=Clock()), **options)


def vector_core(**options: Any) -> GuardCore:
    """A guard for tokens made with the vectors' generator (any claim may be left out)."""
    return GuardCore(TokenVerifier(**verifier_options("hs"), clock=Clock()), **options)


def refusal(guard: GuardCore, header: str | None, **options: Any) -> AuthenticationError:
    with pytest.raises(AuthenticationError) as caught:
        guard.authenticate(header, **options)
    return caught.value


async def arefusal(guard: GuardCore, header: str | None, **options: Any) -> AuthenticationError:
    with pytest.raises(AuthenticationError) as caught:
        await guard.aauthenticate(header, **options)
    return caught.value


def refusals_from_both(guard: GuardCore, header: str | None,
                       **options: Any) -> list[AuthenticationError]:
    """The refusal from ``authenticate`` and from ``aauthenticate`` (run on a fresh loop)."""
    return [refusal(guard, header, **options),
            asyncio.run(arefusal(guard, header, **options))]


# -- extract_bearer -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Bearer abc.def.ghi", "abc.def.ghi"),
        ("bearer abc.def.ghi", "abc.def.ghi"),
        ("BEARER abc.def.ghi", "abc.def.ghi"),
        ("BeArEr abc.def.ghi", "abc.def.ghi"),
        ("Bearer   abc.def.ghi", "abc.def.ghi"),
        ("  Bearer abc.def.ghi\t", "abc.def.ghi"),
        ("Bearer a-b_c.d~e+f/g.h==", "a-b_c.d~e+f/g.h=="),
    ],
)
def test_extract_bearer_accepts_one_token(header: str, token: str) -> None:
    assert extract_bearer(header) == token


@pytest.mark.parametrize("header", [None, "", "   ", "\t"])
def test_no_credentials_is_401_without_an_error_code(header: str | None) -> None:
    with pytest.raises(AuthenticationError) as caught:
        extract_bearer(header)
    exc = caught.value
    assert (exc.status_code, exc.message, exc.reason) == (401, MISSING_HEADER, "missing_header")
    # RFC 6750 §3.1: a request without authentication information gets no error code.
    assert exc.headers() == {"WWW-Authenticate": "Bearer"}
    assert exc.body() == {"statusCode": 401, "error": "Unauthorized", "message": MISSING_HEADER}


@pytest.mark.parametrize(
    "header",
    ["Basic dXNlcjpwYXNz", "Digest username=x", "Token abc.def.ghi", "abc.def.ghi",
     "Bearerabc.def.ghi", "junk Bearer abc.def.ghi", "JWT abc.def.ghi"],
)
def test_another_scheme_counts_as_no_credentials(header: str) -> None:
    with pytest.raises(AuthenticationError) as caught:
        extract_bearer(header)
    exc = caught.value
    assert (exc.status_code, exc.message, exc.reason) == (401, MISSING_HEADER, "invalid_header")
    assert exc.www_authenticate == "Bearer"


@pytest.mark.parametrize(
    "header",
    [
        "Bearer",
        "Bearer ",
        "bearer    ",
        "Bearer abc def",  # two tokens
        "Bearer abc.def.ghi abc.def.ghi",
        "Bearer abc,Bearer def",  # a comma list, as a proxy may fold two headers
        "Bearer abc, Bearer def",
        "Bearer abc.def.ghi, Basic dXNlcjpwYXNz",
        "Bearer abc.def.ghi junk",
        "Bearer abc.def.ghi;",
        'Bearer "abc.def.ghi"',
        "Bearer <abc.def.ghi>",
        "Bearer abc.d=ef.ghi",  # '=' only at the end of a token68
        "Bearer\tabc.def.ghi",
        "Bearer abc.def.ghi\r\nX-Injected: 1",
        "Bearer abc.déf.ghi",
        "Bearer Bearer abc.def.ghi",
    ],
)
def test_a_bearer_header_that_is_not_exactly_one_token_is_an_invalid_request(header: str) -> None:
    with pytest.raises(AuthenticationError) as caught:
        extract_bearer(header)
    exc = caught.value
    assert (exc.status_code, exc.message, exc.reason) == (401, MISSING_HEADER, "invalid_header")
    assert exc.error == "invalid_request"
    assert exc.www_authenticate.startswith('Bearer error="invalid_request"')


# -- refusals through authenticate and aauthenticate -----------------------------------------


def test_a_missing_header_refusal_from_both_entry_points() -> None:
    for exc in refusals_from_both(core(), None):
        assert (exc.status_code, exc.message, exc.reason) == (401, MISSING_HEADER,
                                                               "missing_header")
        assert exc.www_authenticate == "Bearer"


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"expires_in": -1}, "expired"),
        ({"type": "refresh"}, "wrong_type"),
        ({"type": "temp"}, "wrong_type"),
        ({"type": None}, "wrong_type"),
        ({"issuer": "evil"}, "wrong_issuer"),
        ({"audience": "other"}, "wrong_audience"),
        ({"nbf": NOW + 60}, "not_yet_valid"),
        ({"exp": None}, "missing_exp"),
    ],
)
def test_a_presented_bad_token_is_401_invalid_token(claims: dict[str, Any], reason: str) -> None:
    for exc in refusals_from_both(core(), "Bearer " + mint(**claims)):
        assert (exc.status_code, exc.message, exc.reason) == (401, INVALID_TOKEN, reason)
        assert exc.www_authenticate == (
            'Bearer error="invalid_token", '
            'error_description="The access token is invalid or expired"'
        )
        assert exc.body() == {"statusCode": 401, "error": "Unauthorized",
                              "message": "Invalid or expired token"}


@pytest.mark.parametrize("sub", [None, ""])
def test_a_token_without_a_subject_is_refused(sub: str | None) -> None:
    exc = refusal(vector_core(), "Bearer " + vector_hs(vector_claims(sub=sub)))
    assert (exc.status_code, exc.message, exc.reason) == (401, INVALID_TOKEN, "missing_sub")
    assert exc.error == "invalid_token"


VECTORS = load_vectors()


@pytest.mark.parametrize("v", [v for v in VECTORS if isinstance(v.token, str)], ids=str)
def test_every_vector_is_a_401_or_a_user(v: Vector) -> None:
    guard = GuardCore(TokenVerifier(**verifier_options(v.verifier), clock=Clock()))
    header = f"Bearer {v.token}"
    # Spaces around a header value are optional whitespace (RFC 9110 §5.5), not the token's.
    if v.error is None or v.token != v.token.strip(" "):
        user = guard.authenticate(header)
        assert user.user_id == "8d5e9a52-user-0001"
        return
    for exc in refusals_from_both(guard, header):
        assert exc.status_code == 401
        if TOKEN68.fullmatch(v.token):
            assert (exc.message, exc.reason, exc.error) == (INVALID_TOKEN, v.error,
                                                            "invalid_token")
        else:  # not a token68 at all: refused at the header already
            assert (exc.message, exc.reason) == (MISSING_HEADER, "invalid_header")


# -- the user: claims, hook, email ---------------------------------------------------------------


def test_the_user_comes_from_the_token() -> None:
    token = mint(scopes=["read:profile", "write:profile"], email="ada@example.com",
                 role="admin", clientId="app-1", sid="session-9")
    user = core().authenticate(f"Bearer {token}")
    assert user == UserPayload(
        user_id="user-1", email="ada@example.com", scopes=("read:profile", "write:profile"),
        role="admin", client_id="app-1", session_id="session-9", claims=user.claims,
    )
    assert user.userId == "user-1"
    assert user.claims["sub"] == "user-1"
    assert core().authenticate(f"Bearer {mint()}").email is None


@dataclass
class Recorder:
    """A get_user_info hook that records who called it and on which thread."""

    answer: Any
    calls: list[tuple[str, int]]

    def __call__(self, user_id: str) -> Any:
        self.calls.append((user_id, threading.get_ident()))
        return self.answer


def test_a_sync_hook_runs_in_the_callers_thread_from_sync_code() -> None:
    hook = Recorder({"email": "hook@example.com"}, [])
    user = core(get_user_info=hook).authenticate(f"Bearer {mint(email='token@example.com')}")
    assert user.email == "hook@example.com"
    assert hook.calls == [("user-1", threading.get_ident())]


async def test_a_sync_hook_runs_in_a_worker_thread_from_async_code() -> None:
    hook = Recorder({"email": "hook@example.com"}, [])
    user = await core(get_user_info=hook).aauthenticate(f"Bearer {mint()}")
    assert user.email == "hook@example.com"
    [(user_id, thread)] = hook.calls
    assert user_id == "user-1"
    assert thread != threading.get_ident()  # never blocks the event loop's thread


async def test_an_async_hook_runs_on_the_event_loop() -> None:
    calls: list[tuple[str, int]] = []

    async def hook(user_id: str) -> Mapping[str, Any]:
        calls.append((user_id, threading.get_ident()))
        await asyncio.sleep(0)
        return {"email": "async@example.com"}

    user = await core(get_user_info=hook).aauthenticate(f"Bearer {mint()}")
    assert user.email == "async@example.com"
    assert calls == [("user-1", threading.get_ident())]


def test_an_async_hook_works_from_sync_code() -> None:
    async def hook(user_id: str) -> Mapping[str, Any]:
        await asyncio.sleep(0)
        return {"email": f"{user_id}@example.com"}

    assert core(get_user_info=hook).authenticate(f"Bearer {mint()}").email == "user-1@example.com"


async def test_an_async_hook_works_from_sync_code_inside_a_running_loop() -> None:
    # For example a sync Django view called from an ASGI server's thread with a loop.
    async def hook(user_id: str) -> Mapping[str, Any]:
        return {"email": "nested@example.com"}

    user = core(get_user_info=hook).authenticate(f"Bearer {mint()}")
    assert user.email == "nested@example.com"


async def test_async_callables_are_detected_through_partial_and_call() -> None:
    loop_thread = threading.get_ident()
    seen: list[int] = []

    async def lookup(domain: str, user_id: str) -> Mapping[str, Any]:
        seen.append(threading.get_ident())
        return {"email": f"{user_id}@{domain}"}

    class Directory:
        async def __call__(self, user_id: str) -> Mapping[str, Any]:
            seen.append(threading.get_ident())
            return {"email": f"{user_id}@directory.example"}

    partial_user = await core(get_user_info=functools.partial(lookup, "p.example")).aauthenticate(
        f"Bearer {mint()}")
    object_user = await core(get_user_info=Directory()).aauthenticate(f"Bearer {mint()}")
    assert (partial_user.email, object_user.email) == ("user-1@p.example",
                                                       "user-1@directory.example")
    assert seen == [loop_thread, loop_thread]


@pytest.mark.parametrize("entry", ["sync", "async"])
@pytest.mark.parametrize("hook_kind", ["sync", "async"])
def test_a_hook_returning_none_is_401_user_not_found(entry: str, hook_kind: str) -> None:
    def sync_hook(user_id: str) -> None:
        return None

    async def async_hook(user_id: str) -> None:
        return None

    guard = core(get_user_info=sync_hook if hook_kind == "sync" else async_hook)
    header = f"Bearer {mint()}"
    exc = refusal(guard, header) if entry == "sync" else asyncio.run(arefusal(guard, header))
    assert (exc.status_code, exc.message, exc.reason) == (401, USER_NOT_FOUND, "user_not_found")
    assert exc.error == "invalid_token"
    assert exc.body()["message"] == "User not found"


@pytest.mark.parametrize(
    ("answer", "email"),
    [
        ({"email": "hook@example.com"}, "hook@example.com"),
        ({"email": "hook@example.com", "name": "Ada"}, "hook@example.com"),
        ({}, "token@example.com"),  # a user the hook knows, without an email
        ({"email": None}, "token@example.com"),
        ({"name": "Ada"}, "token@example.com"),
    ],
)
def test_email_comes_from_the_hook_when_it_gives_one(answer: Any, email: str) -> None:
    guard = core(get_user_info=lambda user_id: answer)
    assert guard.authenticate(f"Bearer {mint(email='token@example.com')}").email == email


def test_a_hook_may_return_an_object_with_an_email() -> None:
    @dataclass
    class Profile:
        email: str

    guard = core(get_user_info=lambda user_id: Profile("object@example.com"))
    assert guard.authenticate(f"Bearer {mint()}").email == "object@example.com"


def test_a_hook_that_is_not_callable_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError):
        core(get_user_info="users.lookup")


# -- scopes ---------------------------------------------------------------------------------------


def test_guard_scopes_and_per_call_scopes_are_both_required() -> None:
    guard = core(scopes=["read:profile"])
    both = mint(scopes=["read:profile", "write:profile"])
    assert guard.authenticate(f"Bearer {both}", scopes=["write:profile"]).scopes == (
        "read:profile", "write:profile")
    exc = refusal(guard, f"Bearer {mint(scopes=['read:profile'])}", scopes=["write:profile"])
    assert (exc.status_code, exc.message, exc.reason) == (403, INSUFFICIENT_SCOPE,
                                                           "insufficient_scope")
    assert exc.www_authenticate == (
        'Bearer error="insufficient_scope", '
        'error_description="The token lacks the scopes: read:profile write:profile", '
        'scope="read:profile write:profile"'
    )
    assert exc.body() == {"statusCode": 403, "error": "Forbidden", "message": INSUFFICIENT_SCOPE}
    exc = refusal(guard, f"Bearer {mint(scopes=['write:profile'])}")
    assert exc.scope == "read:profile"


async def test_scopes_are_checked_from_async_code_too() -> None:
    exc = await arefusal(core(scopes=["admin"]), f"Bearer {mint(scopes=['read'])}")
    assert (exc.status_code, exc.scope) == (403, "admin")


def test_a_scope_string_is_a_space_separated_list_not_letters() -> None:
    token = f"Bearer {mint(scopes=['read', 'write'])}"
    assert core(scopes="read write").authenticate(token).user_id == "user-1"
    assert core().authenticate(token, scopes="read").user_id == "user-1"
    assert refusal(core(scopes="admin"), token).scope == "admin"
    user = core().authenticate(token)
    core().require(user, "read write")
    with pytest.raises(AuthenticationError) as caught:
        core().require(user, "read admin")
    assert caught.value.scope == "admin read"


def test_an_rfc_9068_scope_string_claim_is_understood() -> None:
    token = vector_hs(vector_claims(scopes=None, scope="a b"))
    assert vector_core(scopes=["b"]).authenticate(f"Bearer {token}").scopes == ("a", "b")


def test_a_token_without_scopes_has_none() -> None:
    for token in (vector_hs(vector_claims(scopes=None)), vector_hs(vector_claims(scopes=[]))):
        assert vector_core().authenticate(f"Bearer {token}").scopes == ()
        assert refusal(vector_core(scopes=["read"]), f"Bearer {token}").status_code == 403


# -- logging --------------------------------------------------------------------------------------


def _guard_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "tekcify_auth"]


@pytest.mark.parametrize(
    ("header", "reason", "status"),
    [
        (None, "missing_header", 401),
        ("Basic dXNlcjpwYXNz", "invalid_header", 401),
        ("Bearer {token} {token}", "invalid_header", 401),
        ("Bearer {expired}", "expired", 401),
        ("Bearer {tampered}", "bad_signature", 401),
        ("Bearer {token}", "insufficient_scope", 403),
    ],
)
def test_each_refusal_logs_one_warning_with_reason_route_and_client(
    caplog: pytest.LogCaptureFixture, header: str | None, reason: str, status: int
) -> None:
    token, expired = mint(scopes=["read"]), mint(expires_in=-5)
    tampered = token[:-6] + ("AAAAAA" if not token.endswith("AAAAAA") else "BBBBBB")
    filled = header.format(token=token, expired=expired, tampered=tampered) if header else None
    guard = core(scopes=["admin"])
    caplog.set_level(logging.DEBUG)
    exc = refusal(guard, filled, route="/api/orders/7", client="203.0.113.9")
    asyncio.run(arefusal(guard, filled, route="/api/orders/7", client="203.0.113.9"))
    assert exc.reason == reason
    records = _guard_records(caplog)
    assert len(records) == 2  # one per refusal, from each entry point
    for record in records:
        assert record.levelno == logging.WARNING
        message = record.getMessage()
        assert message == (f"authentication refused: reason={reason} status={status} "
                           "route=/api/orders/7 client=203.0.113.9")
    for record in caplog.records:  # any logger at all, any level
        text = record.getMessage() + repr(record.args) + (record.exc_text or "")
        for secret in (token, expired, tampered, token.split(".")[2], SECRET):
            assert secret not in text


def test_a_successful_authentication_logs_no_warning(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    token = mint()
    core().authenticate(f"Bearer {token}", route="/x", client="198.51.100.1")
    assert not [r for r in _guard_records(caplog) if r.levelno >= logging.WARNING]
    assert all(token not in r.getMessage() for r in caplog.records)


def test_route_and_client_cannot_forge_log_lines(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    refusal(core(), None, route="/a\nauthentication refused: reason=none", client="1.2.3.4\r\n")
    [record] = _guard_records(caplog)
    message = record.getMessage()
    assert "\n" not in message
    assert "\r" not in message
    assert "route=/a\\nauthentication refused" in message
    refusal(core(), None, route="/" + "a" * 5000)
    assert len(_guard_records(caplog)[-1].getMessage()) < 400


def test_defaults_for_route_and_client_in_the_log(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    refusal(core(), None)
    assert _guard_records(caplog)[0].getMessage().endswith("route=- client=-")


def test_a_custom_logger_receives_the_refusals(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    refusal(core(log=logging.getLogger("myapp.auth")), None)
    assert [r.name for r in caplog.records] == ["myapp.auth"]


# -- building the verifier ----------------------------------------------------------------------


def test_build_verifier_needs_exactly_one_source() -> None:
    with pytest.raises(ConfigurationError):
        build_verifier()
    with pytest.raises(ConfigurationError):
        build_verifier(secret=SECRET, jwks_uri="http://127.0.0.1:1/jwks.json")
    verifier = build_verifier(secret=SECRET, issuer=None, audience=None, leeway=5)
    assert isinstance(verifier, TokenVerifier)
    assert (verifier.issuer, verifier.audience, verifier.leeway) == (None, None, 5)


def test_the_guard_core_loads_no_web_framework() -> None:
    code = (
        "import asyncio, sys\n"
        "from tekcify_auth._guard import GuardCore\n"
        "from tekcify_auth import TokenVerifier\n"
        "from tekcify_auth.testing import mint_access_token\n"
        "core = GuardCore(TokenVerifier(secret='s' * 32), get_user_info=lambda u: {})\n"
        "header = 'Bearer ' + mint_access_token('u', secret='s' * 32)\n"
        "core.authenticate(header)\n"
        "asyncio.run(core.aauthenticate(header))\n"
        "banned = ('fastapi', 'starlette', 'flask', 'werkzeug', 'django', 'rest_framework',\n"
        "          'sqlalchemy', 'uvicorn')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in banned))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60)
    assert out.stdout.strip() == "[]"
