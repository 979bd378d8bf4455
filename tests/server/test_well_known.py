"""The JWKS and the discovery documents (RFC 8414, OpenID Connect Discovery)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import FastAPI
from joserfc import jws

from tekcify_auth import TokenVerifier
from tekcify_auth.server.services import grants

from .conftest import FakeClock, make_settings, running, signed_up

JWKS = "/api/.well-known/jwks.json"
RFC8414 = "/.well-known/oauth-authorization-server"
OIDC = "/.well-known/openid-configuration"
ASYMMETRIC = ["RS256", "ES256", "EdDSA"]
#: Members of a JWK that belong to the private key (RFC 7518 §6, RFC 8037 §2).
PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}


async def test_the_jwks_holds_only_the_id_token_key_with_a_shared_secret(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    response = await client.get(JWKS)
    assert response.status_code == 200
    # The shared secret is never published; the id tokens' RS256 key is (issue 15).
    [jwk] = response.json()["keys"]
    assert (jwk["alg"], jwk["kty"], jwk["use"]) == ("RS256", "RSA", "sig")
    assert jwk["kid"] == app.state.ctx.id_token_signer.kid
    assert not PRIVATE_MEMBERS & set(jwk)
    assert response.headers["cache-control"] == "public, max-age=300"


@pytest.mark.parametrize("alg", ASYMMETRIC)
async def test_the_jwks_holds_only_public_keys_that_verify_the_tokens(
    alg: str, clean_db: str, tmp_path: Path, clock: FakeClock
) -> None:
    settings = make_settings(database_url=clean_db, data_dir=tmp_path, signing_alg=alg)
    async with running(settings, clock) as (_app, client):
        response = await client.get(JWKS)
        assert response.headers["cache-control"] == "public, max-age=300"
        keys = response.json()["keys"]
        assert len(keys) == 1
        jwk = keys[0]
        assert jwk["alg"] == alg
        assert jwk["use"] == "sig"
        assert not PRIVATE_MEMBERS & set(jwk)
        pair = await signed_up(client)
        header = jws.extract_compact(pair["accessToken"].encode()).protected
        assert header == {"alg": alg, "typ": "JWT", "kid": jwk["kid"]}
        verifier = TokenVerifier(key=jwk, clock=lambda: clock().timestamp())
        result = verifier.verify(pair["accessToken"])
        assert result.valid, result.error


async def discovery(client: httpx.AsyncClient) -> dict[str, Any]:
    """Both documents, checked to be the same; returns it."""
    first = await client.get(RFC8414)
    second = await client.get(OIDC)
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert first.headers["cache-control"].startswith("public, max-age=")
    body: dict[str, Any] = first.json()
    return body


async def test_discovery_describes_this_server(client: httpx.AsyncClient) -> None:
    doc = await discovery(client)
    base = "http://tekcify.test"
    # OIDC Discovery §3: the issuer is the base URL (no trailing slash), not the access
    # tokens' iss.
    assert doc["issuer"] == base
    assert doc["token_endpoint"] == f"{base}/api/oauth/token"
    assert doc["introspection_endpoint"] == f"{base}/api/oauth/token/introspect"
    assert doc["revocation_endpoint"] == f"{base}/api/oauth/revoke"
    assert doc["userinfo_endpoint"] == f"{base}/api/oauth/userinfo"
    assert doc["jwks_uri"] == f"{base}/api/.well-known/jwks.json"
    for endpoint in ("token", "introspection", "revocation"):
        assert doc[f"{endpoint}_endpoint_auth_methods_supported"] == [
            "client_secret_basic", "client_secret_post", "none",
        ]
    assert "refresh_token" in doc["grant_types_supported"]
    # offline_access is listed: it is how an application asks for a refresh token.
    assert {"openid", "profile", "email", "offline_access", "read:profile"} <= set(
        doc["scopes_supported"]
    )
    assert {"sub", "email", "email_verified", "name", "picture", "updated_at"} <= set(
        doc["claims_supported"]
    )


async def test_discovery_lists_exactly_the_grants_the_token_endpoint_takes(
    client: httpx.AsyncClient,
) -> None:
    doc = await discovery(client)
    assert doc["grant_types_supported"] == list(grants.GRANTS)
    for grant_type in doc["grant_types_supported"]:
        response = await client.post("/api/oauth/token", data={"grant_type": grant_type})
        assert response.json()["error"] != "unsupported_grant_type"
    # No grant uses the authorization endpoint yet, so none is advertised.
    if not any(g.uses_authorization_endpoint for g in grants.GRANTS.values()):
        assert "authorization_endpoint" not in doc
        assert doc["response_types_supported"] == []


async def test_a_code_grant_brings_the_authorization_endpoint_and_pkce(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(_ctx: object, _request: grants.TokenRequest) -> grants.IssuedTokens:
        raise AssertionError("not called")

    monkeypatch.setitem(
        grants.GRANTS, "authorization_code",
        grants.Grant("authorization_code", frozenset({"code"}), refuse,
                     uses_authorization_endpoint=True),
    )
    doc = await discovery(client)
    assert doc["authorization_endpoint"] == "http://tekcify.test/api/oauth/authorize"
    assert doc["response_types_supported"] == ["code"]
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert "authorization_code" in doc["grant_types_supported"]


async def test_every_advertised_endpoint_is_served(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    doc = await discovery(client)
    paths = set(app.openapi()["paths"])
    for name, value in doc.items():
        if name.endswith("_endpoint") or name == "jwks_uri":
            assert urlsplit(value).path in paths, name
    jwks = await client.get(urlsplit(doc["jwks_uri"]).path)
    assert jwks.status_code == 200


async def test_the_issuer_is_the_public_url_not_the_access_token_issuer(
    clean_db: str, tmp_path: Path
) -> None:
    settings = make_settings(
        database_url=clean_db, data_dir=tmp_path, public_url="https://auth.example.com/tekcify/",
        issuer="tekcify-auth",
    )
    async with running(settings) as (_app, client):
        doc = await discovery(client)
    assert doc["issuer"] == "https://auth.example.com/tekcify"
    assert doc["token_endpoint"] == "https://auth.example.com/tekcify/api/oauth/token"
    assert doc["jwks_uri"] == "https://auth.example.com/tekcify/api/.well-known/jwks.json"


async def test_discovery_advertises_the_scopes_an_operator_adds(
    clean_db: str, tmp_path: Path, clock: FakeClock
) -> None:
    settings = make_settings(
        database_url=clean_db, data_dir=tmp_path, extra_scopes="read:orders write:orders"
    )
    async with running(settings, clock) as (_app, client):
        doc = await discovery(client)
    assert doc["scopes_supported"] == list(settings.scopes)
    assert {"read:orders", "write:orders", "openid"} <= set(doc["scopes_supported"])
