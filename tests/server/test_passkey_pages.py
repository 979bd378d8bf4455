"""Passkeys on the pages: the login page's "Sign in with a passkey" (alone, and as the
MFA step's second factor), driven over HTTP as the
page's script would (``static/passkey.js``), with the software authenticator."""

from __future__ import annotations

import html
import json
import re
from typing import Any

import httpx
from fastapi import FastAPI

from tekcify_auth import decode_token

from .conftest import FakeClock, login, register
from .mfa_helpers import enable_mfa
from .test_authorize import (
    Browser,
    Client,
    authorization,
    browser,  # noqa: F401  (fixture)
    hidden_fields,
    oauth_client,  # noqa: F401  (fixture)
    redeem,
    redirect_query,
)
from .test_passkeys import ORIGIN, add_passkey
from .webauthn_soft import SoftAuthenticator


def passkey_box(page: httpx.Response) -> dict[str, str]:
    """The data attributes of the login page's passkey box (what the script reads)."""
    box = re.search(r'<div id="passkey"(.*?)>', page.text, re.S)
    assert box is not None, page.text
    return {k: html.unescape(v) for k, v in re.findall(r'data-([a-z-]+)="([^"]*)"', box.group(1))}


async def press_passkey_button(
    person: Browser, page: httpx.Response, key: SoftAuthenticator, **overrides: str
) -> httpx.Response:
    """What the script does: fetch the options, ask the authenticator, post the form."""
    box = passkey_box(page)
    body = {"mfaToken": box["mfa-token"]} if box["mfa-token"] else {}
    options = await person.http.post(box["options"], json=body)
    assert options.status_code == 200, options.text
    answer = options.json()
    fields = {
        "csrf_token": box["csrf"], "next": box["next"], "mfa_token": box["mfa-token"],
        "challenge": answer["challenge"],
        "credential": json.dumps(key.get(answer["options"], origin=ORIGIN)), **overrides,
    }
    response = await person.http.post(box["action"], data=fields)
    person.visited.append(response)
    return response


async def code_tokens(
    person: Browser, client: httpx.AsyncClient, oauth: Client, signed_in: httpx.Response,
    request: Any,
) -> dict[str, Any]:
    assert signed_in.status_code == 303, signed_in.text
    page = await person.follow(signed_in)
    if page.status_code == 200:
        page = await person.consent(page)
    answer = redirect_query(page, request.redirect_uri)
    tokens = await redeem(client, oauth, answer["code"], request)
    assert tokens.status_code == 200, tokens.text
    claims = decode_token(tokens.json()["access_token"])
    assert claims is not None
    return claims


async def test_a_passkey_alone_signs_in_on_the_pages(
    app: FastAPI, client: httpx.AsyncClient, browser: Browser,  # noqa: F811
    oauth_client: Client,  # noqa: F811
) -> None:
    await register(client)
    key, _ = await add_passkey(client, (await login(client))["accessToken"])
    request = authorization(oauth_client)
    page = await browser.get(request.url)
    assert "Sign in with a passkey" in page.text
    assert passkey_box(page)["mfa-token"] == ""
    signed_in = await press_passkey_button(browser, page, key)
    claims = await code_tokens(browser, client, oauth_client, signed_in, request)
    assert claims["amr"] == ["hwk", "user"]
    assert claims["email"] == "ada@example.com"


async def test_the_passkey_post_checks_csrf_and_the_assertion(
    app: FastAPI, client: httpx.AsyncClient, browser: Browser,  # noqa: F811
    oauth_client: Client,  # noqa: F811
) -> None:
    await register(client)
    key, _ = await add_passkey(client, (await login(client))["accessToken"])
    page = await browser.get(authorization(oauth_client).url)
    forged = await press_passkey_button(browser, page, key, csrf_token="0" * 64)
    assert forged.status_code == 403
    assert "tekcify_login" not in forged.headers.get("set-cookie", "")
    garbled = await press_passkey_button(browser, page, key, credential="{not json")
    assert garbled.status_code == 400
    elsewhere = await press_passkey_button(browser, page, SoftAuthenticator())
    assert elsewhere.status_code == 401
    assert 'name="password"' in elsewhere.text


async def test_a_passkey_is_the_second_factor_on_the_mfa_step(
    app: FastAPI, client: httpx.AsyncClient, browser: Browser,  # noqa: F811
    oauth_client: Client, clock: FakeClock,  # noqa: F811
) -> None:
    await register(client)
    token = (await login(client))["accessToken"]
    await enable_mfa(client, token, clock)
    key, _ = await add_passkey(client, token)
    request = authorization(oauth_client)
    step = await browser.sign_in(await browser.get(request.url))
    assert 'name="code"' in step.text
    assert passkey_box(step)["mfa-token"] == hidden_fields(step)["mfa_token"]
    signed_in = await press_passkey_button(browser, step, key)
    claims = await code_tokens(browser, client, oauth_client, signed_in, request)
    assert claims["amr"] == ["pwd", "hwk", "user"]


async def test_another_users_passkey_is_no_second_factor_on_the_pages(
    app: FastAPI, client: httpx.AsyncClient, browser: Browser,  # noqa: F811
    oauth_client: Client, clock: FakeClock,  # noqa: F811
) -> None:
    await register(client)
    token = (await login(client))["accessToken"]
    await enable_mfa(client, token, clock)
    await register(client, "bob@example.com")
    bob_key, _ = await add_passkey(client, (await login(client, "bob@example.com"))["accessToken"])
    step = await browser.sign_in(await browser.get(authorization(oauth_client).url))
    refused = await press_passkey_button(browser, step, bob_key)
    assert refused.status_code == 401
    assert 'name="code"' in refused.text  # still on the second step
