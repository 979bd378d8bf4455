"""Where an application sees the user's email: only with the ``email`` or ``read:profile`` scope.

Its access tokens (authorization code and refresh), introspection's ``username`` (of the
access and the refresh token) and UserInfo agree. The user's own (first-party) tokens
always carry the email: the Node ``UserPayload`` contract.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tekcify_auth import decode_token

from .conftest import asgi_client, bearer, register, signed_up
from .test_authorize import TOKEN, Browser, authorization, get_code, make_client, redeem
from .test_introspection import introspect_form, introspect_json
from .test_oauth_token import assert_token_answer

ADA = "ada@example.com"
EVERY_SCOPE = ("openid", "profile", "email", "offline_access", "read:profile", "write:profile")


def _email_claim(token: str) -> Any:
    claims = decode_token(token)
    assert claims is not None
    return claims.get("email")


@pytest.mark.parametrize(
    ("scopes", "shown"),
    [
        (("openid",), False),
        (("openid", "profile"), False),
        (("openid", "write:profile"), False),
        (("openid", "email"), True),
        (("openid", "read:profile"), True),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, tuple) else str(value),
)
async def test_an_app_sees_the_email_only_with_the_email_or_read_profile_scope(
    app: FastAPI, client: httpx.AsyncClient, scopes: tuple[str, ...], shown: bool
) -> None:
    await register(client, ADA)
    oauth = make_client(app, scopes=EVERY_SCOPE)
    async with asgi_client(app) as http:
        code, request = await get_code(
            # offline_access: the refresh token is checked too.
            Browser(http), oauth, authorization(oauth, scope=" ".join((*scopes, "offline_access")))
        )
    issued = assert_token_answer(await redeem(client, oauth, code, request))
    assert issued["scope"].split() == [*scopes, "offline_access"]
    refreshed = assert_token_answer(await client.post(
        TOKEN, data={"grant_type": "refresh_token", "refresh_token": issued["refresh_token"]},
        headers=oauth.basic(),
    ))
    email = ADA if shown else None
    for body in (issued, refreshed):
        assert _email_claim(body["access_token"]) == email
        facts = await introspect_json(client, body["access_token"])
        assert facts["active"] is True
        assert facts.get("username") == email
    facts = await introspect_form(client, refreshed["refresh_token"], headers=oauth.basic())
    assert facts["active"] is True
    assert facts.get("username") == email
    info = await client.get("/api/oauth/userinfo", headers=bearer(refreshed["access_token"]))
    assert info.status_code == 200
    assert info.json().get("email") == email
    assert ("email_verified" in info.json()) is shown


async def test_first_party_tokens_always_carry_the_email(client: httpx.AsyncClient) -> None:
    pair = await signed_up(client, ADA)
    refreshed = await client.post("/api/auth/refresh", json={"refreshToken": pair["refreshToken"]})
    assert refreshed.status_code == 200
    for token in (pair["accessToken"], refreshed.json()["accessToken"]):
        assert _email_claim(token) == ADA
        assert (await introspect_json(client, token))["username"] == ADA
    refresh = refreshed.json()["refreshToken"]
    assert (await introspect_json(client, refresh))["username"] == ADA
