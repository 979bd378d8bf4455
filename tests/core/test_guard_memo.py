"""The guard core's memo of users by Authorization header (a speed measure, see
benchmarks/guard.py): it may skip work, never a check. An entry is used only while the
verifier's own cache still holds the token as valid.
"""

from __future__ import annotations

from typing import Any

import pytest

from tekcify_auth import AuthenticationError, TokenVerifier
from tekcify_auth._guard import INSUFFICIENT_SCOPE, INVALID_TOKEN, GuardCore
from tekcify_auth.testing import mint_access_token
from vectors import NOW, Clock

SECRET = "guard-memo-secret-0123456789abcdef-0123"


def mint(sub: str = "user-1", **claims: Any) -> str:
    return mint_access_token(sub, secret=SECRET, now=NOW, **claims)


def test_a_repeated_header_gives_the_user_remembered_for_it() -> None:
    guard = GuardCore(TokenVerifier(secret=SECRET, clock=Clock()))
    header = f"Bearer {mint(scopes=['read'])}"
    first = guard.authenticate(header)
    assert guard.authenticate(header) is first
    assert first.user_id == "user-1"


def test_a_remembered_header_is_refused_once_its_token_expires() -> None:
    clock = Clock()
    guard = GuardCore(TokenVerifier(secret=SECRET, clock=clock))
    header = f"Bearer {mint(expires_in=60)}"
    guard.authenticate(header)
    clock.advance(60)
    with pytest.raises(AuthenticationError) as caught:
        guard.authenticate(header)
    assert (caught.value.message, caught.value.reason) == (INVALID_TOKEN, "expired")


def test_a_cleared_verifier_cache_verifies_the_token_again() -> None:
    verifier = TokenVerifier(secret=SECRET, clock=Clock())
    guard = GuardCore(verifier)
    header = f"Bearer {mint()}"
    first = guard.authenticate(header)
    verifier.clear_cache()
    again = guard.authenticate(header)
    assert again is not first
    assert again == first


def test_tokens_evicted_from_the_verifier_cache_still_give_their_own_user() -> None:
    guard = GuardCore(TokenVerifier(secret=SECRET, clock=Clock(), cache_size=1))
    headers = {sub: f"Bearer {mint(sub)}" for sub in ("ada", "bob")}
    for _ in range(3):
        for sub, header in headers.items():
            assert guard.authenticate(header).user_id == sub


def test_per_call_scopes_are_checked_on_a_remembered_header() -> None:
    guard = GuardCore(TokenVerifier(secret=SECRET, clock=Clock()))
    header = f"Bearer {mint(scopes=['read'])}"
    guard.authenticate(header)
    with pytest.raises(AuthenticationError) as caught:
        guard.authenticate(header, scopes=["write"])
    assert (caught.value.status_code, caught.value.message) == (403, INSUFFICIENT_SCOPE)


def test_the_user_hook_runs_on_every_request() -> None:
    calls: list[str] = []

    def hook(user_id: str) -> dict[str, str]:
        calls.append(user_id)
        return {"email": f"{user_id}@example.com"}

    guard = GuardCore(TokenVerifier(secret=SECRET, clock=Clock()), get_user_info=hook)
    header = f"Bearer {mint()}"
    guard.authenticate(header)
    guard.authenticate(header)
    assert calls == ["user-1", "user-1"]


def test_without_a_verifier_cache_every_request_is_verified() -> None:
    clock = Clock()
    guard = GuardCore(TokenVerifier(secret=SECRET, clock=clock, cache=False))
    header = f"Bearer {mint(expires_in=60)}"
    assert guard.authenticate(header) is not guard.authenticate(header)
    clock.advance(60)
    with pytest.raises(AuthenticationError):
        guard.authenticate(header)
