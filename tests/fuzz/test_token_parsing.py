"""Hypothesis on token parsing: only the documented result, and never valid without the key.

``verify_access_token``, ``TokenVerifier.verify`` (a shared secret and an ES256 public
key, caches on) and ``decode_token`` get arbitrary text and bytes and tokens an attacker
built from a valid one (``tokens.mutations``). Each must answer without raising: a
``VerifiedToken`` that is invalid with an error word of ``_verify.ERROR_WORDS`` and an
empty payload, unless the token still carries the original signed content. Tokens
signed with the real key but with arbitrary claims are valid exactly when every claim
holds (``exp``, ``nbf``, ``iat``, ``iss``, ``aud``, ``type``, ``sub``, ``scopes``).
"""

from __future__ import annotations

import json
from typing import Any, Final

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from joserfc import jws

from tekcify_auth import TokenVerifier, VerifiedToken, decode_token, verify_access_token
from tekcify_auth._verify import ERROR_WORDS
from tekcify_auth.testing import SigningKey, mint_access_token

from .tokens import (
    AUDIENCE,
    ISSUER,
    NOW,
    arbitrary_tokens,
    b64url,
    genuine,
    hmac_sign,
    is_date,
    mutate,
    mutations,
    payloads,
)

SECRET: Final = "fuzz-secret-that-only-the-server-knows"
ES_KEY: Final = SigningKey.generate("ES256", kid="fuzz-es256")
PUBLIC_PEM: Final = ES_KEY.public_pem()

HS_TOKEN: Final = mint_access_token(
    "user-1", secret=SECRET, scopes=["read:profile"], email="ada@example.com", now=NOW - 60
)
ES_TOKEN: Final = ES_KEY.mint("user-1", scopes=["read:profile"], now=NOW - 60)
# verify_access_token reads the real clock: this one is valid for an hour from import.
LIVE_TOKEN: Final = mint_access_token("user-1", secret=SECRET, expires_in=3600)

#: Shared across examples, caches on: a cached valid token must not vouch for its mutants.
HS_VERIFIER: Final = TokenVerifier(secret=SECRET, clock=lambda: NOW)
ES_VERIFIER: Final = TokenVerifier(key=PUBLIC_PEM, clock=lambda: NOW)

FUZZ: Final = settings(
    max_examples=300, derandomize=True, database=None, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def assert_refused(result: object) -> None:
    """The documented refusal: an invalid ``VerifiedToken`` with an error word, no payload."""
    assert isinstance(result, VerifiedToken)
    assert result.valid is False
    assert result.error in ERROR_WORDS
    assert dict(result.payload) == {}


def test_the_originals_are_valid() -> None:
    # Without this the properties below could hold for a verifier that refuses everything.
    assert HS_VERIFIER.verify(HS_TOKEN).valid
    assert ES_VERIFIER.verify(ES_TOKEN).valid
    assert verify_access_token(LIVE_TOKEN, secret=SECRET).valid


@FUZZ
@given(token=arbitrary_tokens)
def test_arbitrary_input_is_refused_with_an_error_word(token: str | bytes) -> None:
    assert_refused(HS_VERIFIER.verify(token))
    assert_refused(ES_VERIFIER.verify(token))
    assert_refused(verify_access_token(token, secret=SECRET))
    decoded = decode_token(token)
    assert decoded is None or isinstance(decoded, dict)


@FUZZ
@given(steps=mutations(), as_bytes=st.booleans())
def test_a_token_mutated_without_the_secret_is_never_valid(steps: Any, as_bytes: bool) -> None:
    for original, verify in (
        (HS_TOKEN, HS_VERIFIER.verify),
        (LIVE_TOKEN, lambda t: verify_access_token(t, secret=SECRET)),
    ):
        assert verify(original).valid  # cached now, for the mutant to try its luck
        mutant: str | bytes = mutate(original, steps)
        if as_bytes:
            mutant = mutant.encode("utf-8")
        result = verify(mutant)
        if result.valid:
            assert genuine(mutant, original), mutant
        else:
            assert_refused(result)
        decoded = decode_token(mutant)
        assert decoded is None or isinstance(decoded, dict)


@FUZZ
@given(steps=mutations(public_secret=PUBLIC_PEM))
def test_a_token_mutated_without_the_private_key_is_never_valid(steps: Any) -> None:
    # Includes HS256 signatures made with the public key itself (algorithm confusion).
    assert ES_VERIFIER.verify(ES_TOKEN).valid
    mutant = mutate(ES_TOKEN, steps)
    result = ES_VERIFIER.verify(mutant)
    if result.valid:
        assert genuine(mutant, ES_TOKEN), mutant
    else:
        assert_refused(result)


def claims_hold(payload: object) -> bool:
    """What ``library-api.md`` promises a valid token's claims are (the test's oracle)."""
    if not isinstance(payload, dict):
        return False
    exp, nbf, iat = payload.get("exp"), payload.get("nbf"), payload.get("iat")
    aud, sub, scopes = payload.get("aud"), payload.get("sub"), payload.get("scopes")
    return (
        is_date(exp) and exp > NOW
        and (nbf is None or (is_date(nbf) and nbf <= NOW))
        and (iat is None or is_date(iat))
        and payload.get("iss") == ISSUER
        and (aud == AUDIENCE or (isinstance(aud, list) and AUDIENCE in aud))
        and payload.get("type") == "access"
        and (sub is None or isinstance(sub, str))
        and (scopes is None or (isinstance(scopes, list)
                                and all(isinstance(s, str) for s in scopes)))
    )


def _json(value: object) -> str:
    return json.dumps(value, sort_keys=True)


_HS256_HEADER: Final = b64url(b'{"alg":"HS256","typ":"JWT"}')


def _signed(payload: object, kind: str) -> str:
    body = json.dumps(payload)
    if kind == "hs256":
        signing_input = f"{_HS256_HEADER}.{b64url(body.encode())}"
        return f"{signing_input}.{hmac_sign(signing_input, SECRET.encode())}"
    return jws.serialize_compact(
        {"alg": "ES256", "kid": ES_KEY.kid}, body, ES_KEY.key, algorithms=["ES256"]
    )


@FUZZ
@given(payload=payloads, kind=st.sampled_from(["hs256", "es256"]))
def test_a_token_signed_with_the_key_is_valid_exactly_when_its_claims_hold(
    payload: Any, kind: str
) -> None:
    token = _signed(payload, kind)
    result = (HS_VERIFIER if kind == "hs256" else ES_VERIFIER).verify(token)
    if claims_hold(payload):
        assert result.valid, (result.error, payload)
        # Compared as JSON: an extra claim may be NaN, which equals nothing.
        assert _json(result.payload) == _json(payload)
        assert _json(decode_token(token)) == _json(payload)
    else:
        assert_refused(result)
