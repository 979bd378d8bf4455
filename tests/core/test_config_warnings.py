"""Configuration mistakes a verifier can tell from bad tokens are logged once, at WARNING.

The answer to the client stays the generic one (the error word here, a plain 401 at a
guard); only the operator's log says what to change. A token whose signature does not
verify never triggers the issuer or audience hint: anyone can forge those claims.
"""

from __future__ import annotations

import logging

import pytest

from services import KeyServer
from tekcify_auth import JwksVerifier, TokenVerifier
from tekcify_auth.testing import mint_access_token

SECRET = "a-long-enough-shared-secret-for-hs256-tests"


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def test_an_hs256_token_at_a_jwks_verifier_says_how_to_fix_it_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The server is never asked: an HS256 token is refused before any key is looked up.
    verifier = JwksVerifier("http://127.0.0.1:9/api/.well-known/jwks.json")
    caplog.set_level(logging.WARNING, logger="tekcify_auth")
    for _ in range(3):
        result = verifier.verify(mint_access_token("user-1", secret=SECRET))
        assert result.error == "algorithm_not_allowed"
    (message,) = _warnings(caplog)
    assert "HS256" in message
    assert "TEKCIFY_SIGNING_ALG=RS256" in message
    assert "JwtAuthGuard(secret=...)" in message
    assert SECRET not in message


def test_a_jwks_without_usable_keys_says_the_server_signs_with_a_secret(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = KeyServer(b'{"keys": []}')
    try:
        verifier = JwksVerifier(f"{server.url}/api/.well-known/jwks.json", refetch_cooldown=0)
        caplog.set_level(logging.WARNING, logger="tekcify_auth")
        token = mint_access_token("user-1", secret=SECRET, algorithm="HS256")
        # An RS256-looking header so the verifier goes on to fetch the keys.
        rs_token = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0." + token.split(".", 1)[1]
        for _ in range(2):
            assert verifier.verify(rs_token).error == "jwks_unavailable"
    finally:
        server.stop()
    hints = [m for m in _warnings(caplog) if "holds no key this verifier can use" in m]
    assert len(hints) == 1, _warnings(caplog)
    assert "TEKCIFY_SIGNING_ALG=HS256" in hints[0]


def test_a_signed_token_of_another_issuer_names_the_issuer_it_carries(
    caplog: pytest.LogCaptureFixture,
) -> None:
    verifier = TokenVerifier(secret=SECRET, issuer="tekcify-auth")
    caplog.set_level(logging.WARNING, logger="tekcify_auth")
    for _ in range(2):
        token = mint_access_token("user-1", secret=SECRET, issuer="https://auth.example.com")
        assert verifier.verify(token).error == "wrong_issuer"
    (message,) = _warnings(caplog)
    assert "'https://auth.example.com'" in message
    assert "issuer='https://auth.example.com'" in message
    assert "TEKCIFY_ISSUER" in message


def test_a_signed_token_for_another_audience_names_it(caplog: pytest.LogCaptureFixture) -> None:
    verifier = TokenVerifier(secret=SECRET)
    caplog.set_level(logging.WARNING, logger="tekcify_auth")
    token = mint_access_token("user-1", secret=SECRET, audience="billing-api")
    assert verifier.verify(token).error == "wrong_audience"
    (message,) = _warnings(caplog)
    assert "'billing-api'" in message
    assert "TEKCIFY_AUDIENCE" in message


def test_a_forged_token_with_another_issuer_logs_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    verifier = TokenVerifier(secret=SECRET)
    caplog.set_level(logging.WARNING, logger="tekcify_auth")
    forged = mint_access_token("user-1", secret="the-attackers-own-secret-of-32-bytes",
                               issuer="https://evil.example", audience="evil")
    assert verifier.verify(forged).error == "bad_signature"
    assert _warnings(caplog) == []
