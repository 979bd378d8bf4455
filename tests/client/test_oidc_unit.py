"""The OAuth client's OpenID Connect mode: id token validation (``_oidc.py``), each check
with its own reason, and the clients' discovery and JWKS reads over httpx.MockTransport.

The tokens are made here with joserfc, independently of the server."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, OctKey, RSAKey

from tekcify_auth import IdTokenError
from tekcify_auth._keys import SignatureRegistry
from tekcify_auth._oidc import validate_id_token
from tekcify_auth.oauth import AsyncOAuthClient, OAuthClient

NOW = 1_700_000_000
ISSUER = "https://auth.example.com"
CLIENT = "app-1"
ACCESS = "an-access-token"
KEY = RSAKey.generate_key(2048, parameters={"kid": "k1", "alg": "RS256", "use": "sig"})
JWKS = {"keys": [KEY.as_dict(private=False)]}


def half(token: str, hasher: Callable[..., Any] = hashlib.sha256) -> str:
    digest = hasher(token.encode()).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode()


def claims(**changes: Any) -> dict[str, Any]:
    base = {
        "iss": ISSUER, "sub": "user-1", "aud": CLIENT, "azp": CLIENT, "iat": NOW,
        "exp": NOW + 900, "auth_time": NOW, "nonce": "n-1", "at_hash": half(ACCESS),
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def sign(payload: dict[str, Any], key: Any = KEY, alg: str = "RS256", kid: str = "k1") -> str:
    return jwt.encode(
        {"alg": alg, "kid": kid, "typ": "JWT"}, payload, key,
        registry=SignatureRegistry(algorithms=[alg]),
    )


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def check(token: str, **options: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "jwks": JWKS, "issuer": ISSUER, "client_id": CLIENT, "now": NOW, "nonce": "n-1",
        "access_token": ACCESS,
    }
    params.update(options)
    return validate_id_token(token, **params)


def test_a_good_id_token_gives_its_claims() -> None:
    assert check(sign(claims()))["sub"] == "user-1"
    assert check(sign(claims(nonce=None)), nonce=None)["sub"] == "user-1"  # a refresh


def hostile() -> dict[str, tuple[str, str]]:
    """Each bad token, and the reason it must be refused for."""
    good = sign(claims())
    head, payload, signature = good.split(".")
    hmac_key = OctKey.import_key(json.dumps(JWKS["keys"][0]).encode())
    return {
        "alg none": (f"{b64({'alg': 'none', 'kid': 'k1'})}.{payload}.", "algorithm"),
        "HS256 with the public key": (
            sign(claims(), hmac_key, "HS256"), "algorithm",
        ),
        "another key, same kid": (
            sign(claims(), RSAKey.generate_key(2048)), "signature",
        ),
        "an unknown kid": (sign(claims(), kid="k2"), "unknown_key"),
        "an EC key's alg for the RSA key": (
            sign(claims(), ECKey.generate_key("P-256"), "ES256"), "algorithm",
        ),
        "altered claims": (f"{head}.{b64(claims(sub='mallory'))}.{signature}", "signature"),
        "another issuer": (sign(claims(iss="https://evil.example")), "issuer"),
        "another client": (sign(claims(aud="app-2", azp="app-2")), "audience"),
        "another azp": (sign(claims(azp="app-2")), "azp"),
        "several audiences, no azp": (sign(claims(aud=[CLIENT, "app-2"], azp=None)), "azp"),
        "expired": (sign(claims(exp=NOW - 61)), "expired"),
        "from the future": (sign(claims(iat=NOW + 3600)), "issued_in_the_future"),
        "another nonce": (sign(claims(nonce="n-2")), "nonce"),
        "no nonce": (sign(claims(nonce=None)), "nonce"),
        "another access token's at_hash": (sign(claims(at_hash=half("other"))), "at_hash"),
        "garbage": ("not a token", "malformed"),
    }


@pytest.mark.parametrize("what", list(hostile()))
def test_a_bad_id_token_is_refused_with_its_reason(what: str) -> None:
    token, reason = hostile()[what]
    with pytest.raises(IdTokenError) as refused:
        check(token)
    assert refused.value.reason == reason


def test_eddsa_id_tokens_hash_at_hash_with_sha512() -> None:
    from joserfc.jwk import OKPKey

    okp = OKPKey.generate_key("Ed25519", parameters={"kid": "e1", "alg": "EdDSA"})
    token = sign(claims(at_hash=half(ACCESS, hashlib.sha512)), okp, "EdDSA", "e1")
    jwks = {"keys": [okp.as_dict(private=False)]}
    assert check(token, jwks=jwks)["sub"] == "user-1"


# -- the clients: discovery and JWKS, then validation -------------------------------------


def server(id_token: str | None, calls: list[str], jwks: dict[str, Any] = JWKS) -> Any:
    def handle(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        if request.url.path == "/.well-known/openid-configuration":
            return httpx.Response(200, json={
                "issuer": ISSUER, "jwks_uri": f"{ISSUER}/api/.well-known/jwks.json",
            })
        if request.url.path == "/api/.well-known/jwks.json":
            return httpx.Response(200, json=jwks)
        body = {"access_token": ACCESS, "token_type": "Bearer", "expires_in": 900,
                "scope": "openid"}
        if id_token is not None:
            body["id_token"] = id_token
        return httpx.Response(200, json=body)

    return handle


def test_exchange_code_validates_the_id_token_and_exposes_its_claims() -> None:
    calls: list[str] = []
    transport = httpx.MockTransport(server(sign(claims()), calls))
    with OAuthClient(CLIENT, "secret", "https://app.example.com/cb",
                     auth_server_url=ISSUER, transport=transport, clock=lambda: NOW) as client:
        tokens = client.exchange_code("code", "v" * 43, nonce="n-1")
        assert tokens.id_token_claims is not None
        assert tokens.id_token_claims["sub"] == "user-1"
        assert "id_token_claims" not in repr(tokens)
        with pytest.raises(IdTokenError) as refused:
            client.exchange_code("code", "v" * 43, nonce="n-other")
        assert refused.value.reason == "nonce"
    # Discovery and the JWKS are read once per client.
    assert calls.count("/.well-known/openid-configuration") == 1
    assert calls.count("/api/.well-known/jwks.json") == 1


def test_a_nonce_sent_and_no_id_token_back_is_refused() -> None:
    transport = httpx.MockTransport(server(None, []))
    with OAuthClient(CLIENT, "secret", "https://app.example.com/cb",
                     auth_server_url=ISSUER, transport=transport, clock=lambda: NOW) as client:
        with pytest.raises(IdTokenError) as refused:
            client.exchange_code("code", "v" * 43, nonce="n-1")
        assert refused.value.reason == "missing"
        assert client.exchange_code("code", "v" * 43).id_token_claims is None  # plain OAuth


async def test_the_async_client_reads_the_jwks_again_for_a_new_key() -> None:
    calls: list[str] = []
    rotated = RSAKey.generate_key(2048, parameters={"kid": "k2", "alg": "RS256"})
    both = {"keys": [*JWKS["keys"], rotated.as_dict(private=False)]}
    jwks_answers = [JWKS, both]

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/.well-known/jwks.json":
            calls.append("jwks")
            return httpx.Response(200, json=jwks_answers[min(len(calls) - 1, 1)])
        return server(sign(claims(nonce=None), rotated, kid="k2"), [])(request)

    async with AsyncOAuthClient(
        CLIENT, "secret", "https://app.example.com/cb", auth_server_url=ISSUER,
        transport=httpx.MockTransport(handle), clock=lambda: NOW,
    ) as client:
        tokens = await client.refresh("rt")
    assert tokens.id_token_claims is not None
    assert calls == ["jwks", "jwks"]


def test_the_authorize_url_carries_the_nonce() -> None:
    with OAuthClient(CLIENT, redirect_uri="https://app.example.com/cb",
                     auth_server_url=ISSUER) as client:
        url = client.build_authorize_url("st", "c" * 43, nonce="n 1/é")
    assert "nonce=n%201%2F%C3%A9" in url
