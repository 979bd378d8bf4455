"""IntrospectionVerifier's reading of introspection answers, the guards' ``verifier=``
option, the request token a guard hands its user hook, and the server user-info hooks'
rules. No server here: answers are built as the models the client parses
(tests/e2e/test_guards.py runs all of it against the real server)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from tekcify_auth import (
    AsyncAuthClient,
    AsyncServerUserInfo,
    AuthClient,
    ConfigurationError,
    IntrospectionVerifier,
    IntrospectResult,
    ServerUserInfo,
    VerifiedToken,
)
from tekcify_auth._guard import GuardCore, build_verifier, current_token

NOW = 1_800_000_000.0
URL = "https://auth.example.com"
ACTIVE: dict[str, Any] = {
    "active": True, "sub": "user-1", "scope": "openid read:profile", "clientId": "app-1",
    "client_id": "app-1", "username": "ada@example.com", "exp": int(NOW) + 600,
    "iat": int(NOW) - 60, "iss": "tekcify-auth", "aud": "tekcify-api",
    "tokenType": "access_token", "token_type": "access_token",
}


def answer(**changes: Any) -> IntrospectResult:
    body = {**ACTIVE, **changes}
    return IntrospectResult.model_validate({k: v for k, v in body.items() if v is not None})


@pytest.fixture
def verifier() -> Iterator[IntrospectionVerifier]:
    with IntrospectionVerifier(URL, clock=lambda: NOW) as built:
        yield built


def test_an_active_answer_becomes_the_claims_of_an_access_token(
    verifier: IntrospectionVerifier,
) -> None:
    result = verifier.result(answer(role="admin", sid="s-1"))
    assert (result.valid, result.error) == (True, None)
    assert result.payload == {
        "sub": "user-1", "type": "access", "scopes": ["openid", "read:profile"],
        "scope": "openid read:profile", "clientId": "app-1",
        "email": "ada@example.com", "username": "ada@example.com",
        "token_type": "access_token", "exp": int(NOW) + 600, "iat": int(NOW) - 60,
        "iss": "tekcify-auth", "aud": "tekcify-api", "active": True,
        "role": "admin", "sid": "s-1",
    }
    with pytest.raises(TypeError, match="read-only"):
        result.payload["scopes"].append("admin")


def test_the_guard_builds_the_same_user_as_from_a_jwt(verifier: IntrospectionVerifier) -> None:
    core = GuardCore(verifier)
    payload = core._payload(verifier.result(answer(role="admin", sid="s-1")))
    user = core._user(payload, None, ())
    assert (user.user_id, user.email, user.scopes, user.client_id, user.role, user.session_id) == (
        "user-1", "ada@example.com", ("openid", "read:profile"), "app-1", "admin", "s-1"
    )


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"active": False}, "inactive"),
        ({"token_type": "refresh_token", "tokenType": "refresh_token"}, "wrong_type"),
        ({"sub": None}, "malformed"),
        ({"exp": int(NOW)}, "expired"),
        ({"iss": "someone-else"}, "wrong_issuer"),
        ({"iss": None}, "wrong_issuer"),
        ({"aud": "another-api"}, "wrong_audience"),
        ({"aud": None}, "wrong_audience"),
    ],
)
def test_refusals(verifier: IntrospectionVerifier, changes: dict[str, Any], error: str) -> None:
    result = verifier.result(answer(**changes))
    assert (result.valid, result.error, dict(result.payload)) == (False, error, {})


def test_an_audience_list_and_skipped_checks() -> None:
    listed = answer(aud=["other", "tekcify-api"])
    with IntrospectionVerifier(URL, clock=lambda: NOW) as strict:
        assert strict.result(listed).valid
        assert strict.result(listed).payload["aud"] == ["other", "tekcify-api"]
    foreign = answer(iss="https://idp.example", aud="my-api", username="ada")
    with IntrospectionVerifier(URL, issuer=None, audience="my-api", clock=lambda: NOW) as loose:
        result = loose.result(foreign)
    assert result.valid
    assert "email" not in result.payload  # a username that is not an address
    with IntrospectionVerifier(URL, leeway=30, clock=lambda: NOW + 620) as lenient:
        assert lenient.result(answer()).valid


@pytest.mark.parametrize(
    ("token", "error"),
    [("x" * 9000, "too_large"), ("", "malformed"), ("  ", "malformed"), ("tökén", "malformed"),
     (b"\xff\xfe", "malformed"), (42, "malformed")],
)
async def test_bad_tokens_are_refused_without_asking(token: Any, error: str) -> None:
    # The URL has no server behind it: a question would be introspection_unavailable.
    with IntrospectionVerifier("http://127.0.0.1:9", retries=0) as verifier:
        assert verifier.verify(token).error == error
        assert (await verifier.averify(token)).error == error


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"client_secret": "s"}, "client_id"),
        ({"leeway": -1}, "leeway"),
        ({"leeway": float("nan")}, "leeway"),
        ({"cache_ttl": 0}, "cache_ttl"),
    ],
)
def test_unusable_settings(options: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        IntrospectionVerifier(URL, **options)


def test_clients_passed_in_keep_their_own_settings() -> None:
    with AuthClient(URL) as client, AuthClient("https://a.example") as elsewhere:
        with pytest.raises(ConfigurationError, match="introspection_cache_ttl"):
            IntrospectionVerifier(URL, cache_ttl=5, client=client)
        with pytest.raises(ConfigurationError, match="different servers"):
            IntrospectionVerifier(URL, client=elsewhere)


def test_no_scheme_is_refused_at_construction() -> None:
    with pytest.raises(ConfigurationError, match="http"):
        IntrospectionVerifier("auth.example.com")


async def test_the_base_url_comes_from_the_given_clients() -> None:
    with AuthClient(URL + "/") as client:
        assert IntrospectionVerifier(client=client).base_url == URL
    async with AsyncAuthClient(URL) as async_client:
        assert IntrospectionVerifier(async_client=async_client).base_url == URL


def test_build_verifier_takes_a_ready_verifier(verifier: IntrospectionVerifier) -> None:
    assert build_verifier(verifier=verifier) is verifier
    with pytest.raises(ConfigurationError, match="exactly one"):
        build_verifier(verifier=verifier, secret="s")
    with pytest.raises(ConfigurationError, match="averify"):
        build_verifier(verifier=object())  # type: ignore[arg-type]


class RecordingVerifier:
    """Says every token is valid for user-1 (a verifier is any verify/averify pair)."""

    def verify(self, token: str) -> VerifiedToken:
        return VerifiedToken({"sub": "user-1", "exp": NOW + 60}, True, None)

    async def averify(self, token: str) -> VerifiedToken:
        return self.verify(token)


def test_the_hook_sees_the_request_token_sync_and_async() -> None:
    seen: list[str | None] = []

    def hook(user_id: str) -> dict[str, str]:
        seen.append(current_token.get())
        return {"email": "a@b.c"}

    async def ahook(user_id: str) -> dict[str, str]:
        seen.append(current_token.get())
        return {"email": "a@b.c"}

    for get_user_info in (hook, ahook):
        core = GuardCore(RecordingVerifier(), get_user_info=get_user_info)
        core.authenticate("Bearer tok-sync")
        asyncio.run(core.aauthenticate("Bearer tok-async"))
    assert seen == ["tok-sync", "tok-async"] * 2
    assert current_token.get() is None  # reset after each hook


def test_a_sync_path_async_hook_inside_a_running_loop_still_sees_the_token() -> None:
    seen: list[str | None] = []

    async def ahook(user_id: str) -> dict[str, str]:
        seen.append(current_token.get())
        return {}

    core = GuardCore(RecordingVerifier(), get_user_info=ahook)

    async def from_async_code() -> None:
        core.authenticate("Bearer tok-nested")  # sync authenticate with a loop running

    asyncio.run(from_async_code())
    assert seen == ["tok-nested"]


async def test_server_user_info_outside_a_guard_says_what_it_is_for() -> None:
    with AuthClient(URL) as client, pytest.raises(ConfigurationError, match="get_user_info"):
        ServerUserInfo(client)("user-1")
    async with AsyncAuthClient(URL) as async_client:
        with pytest.raises(ConfigurationError, match="get_user_info"):
            await AsyncServerUserInfo(async_client)("user-1")


@pytest.mark.parametrize("ttl", [0, -1])
def test_server_user_info_needs_a_positive_ttl(ttl: float) -> None:
    with pytest.raises(ConfigurationError, match="ttl"):
        ServerUserInfo(ttl=ttl)
    with pytest.raises(ConfigurationError, match="ttl"):
        AsyncServerUserInfo(ttl=ttl)


def test_the_guards_detect_the_hooks_kind() -> None:
    assert not GuardCore(RecordingVerifier(), get_user_info=ServerUserInfo())._hook_is_async
    assert GuardCore(RecordingVerifier(), get_user_info=AsyncServerUserInfo())._hook_is_async


def test_every_guard_takes_verifier(verifier: IntrospectionVerifier) -> None:
    from tekcify_auth.fastapi import JwtAuthGuard
    from tekcify_auth.flask import create_auth_middleware
    from tekcify_auth.starlette import AuthMiddleware

    assert JwtAuthGuard(verifier=verifier).core.verifier is verifier
    assert create_auth_middleware(verifier=verifier).core.verifier is verifier
    middleware = AuthMiddleware(lambda *a: None, verifier=verifier)  # type: ignore[arg-type]
    assert middleware.core.verifier is verifier
    # A guard with a verifier does its I/O asynchronously under ASGI.
    assert not middleware._sync


def test_the_guard_never_memoises_an_introspected_user(verifier: IntrospectionVerifier) -> None:
    # GuardCore remembers users per header only over a verifier whose cache keeps the
    # token honest; doing so here would hide a logout until the memo was cleared.
    assert GuardCore(verifier)._memo is None
