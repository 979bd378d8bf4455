"""The login page's second step with MFA on: the code, then the code-flow tokens carry
``amr: ["pwd", "otp"]``; a backup code works once; CSRF and the sign-in rules hold."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI

from tekcify_auth import decode_token

from .conftest import FakeClock, login, register
from .mfa_helpers import code_at, enable_mfa, next_step
from .test_authorize import (
    Browser,
    Client,
    alert_text,
    authorization,
    browser,  # noqa: F401  (fixture)
    hidden_fields,
    oauth_client,  # noqa: F401  (fixture)
    redeem,
    redirect_query,
)


async def mfa_user(client: httpx.AsyncClient, clock: FakeClock) -> dict[str, Any]:
    await register(client)
    pair = await login(client)
    return await enable_mfa(client, pair["accessToken"], clock)


async def second_step(person: Browser, request_url: str) -> httpx.Response:
    """The page after a right password: the code form."""
    page = await person.get(request_url)
    step = await person.sign_in(page)
    assert step.status_code == 200, step.text
    assert 'name="code"' in step.text
    assert 'name="password"' not in step.text
    return step


async def test_a_totp_user_signs_in_on_the_pages_with_a_code_and_gets_amr_pwd_otp(
    app: FastAPI, client: httpx.AsyncClient, browser: Browser,  # noqa: F811
    oauth_client: Client, clock: FakeClock,  # noqa: F811
) -> None:
    setup = await mfa_user(client, clock)
    request = authorization(oauth_client)
    step = await second_step(browser, request.url)
    fields = hidden_fields(step)
    assert set(fields) == {"csrf_token", "next", "mfa_token"}
    claims = decode_token(fields["mfa_token"])
    assert claims is not None
    assert claims["type"] == "temp"

    wrong = await browser.submit(step, {"code": "000000"})
    assert wrong.status_code == 401
    assert "incorrect" in alert_text(wrong)
    signed_in = await browser.submit(wrong, {"code": code_at(setup["secret"], clock)})
    assert signed_in.status_code == 303, signed_in.text
    consent_page = await browser.follow(signed_in)
    back = await browser.consent(consent_page)
    answer = redirect_query(back, request.redirect_uri)
    tokens = await redeem(client, oauth_client, answer["code"], request)
    assert tokens.status_code == 200, tokens.text
    access = decode_token(tokens.json()["access_token"])
    assert access is not None
    assert access["amr"] == ["pwd", "otp"]


async def test_a_backup_code_signs_in_on_the_pages_once(
    app: FastAPI, client: httpx.AsyncClient, oauth_client: Client,  # noqa: F811
    clock: FakeClock,
) -> None:
    from .conftest import asgi_client

    setup = await mfa_user(client, clock)
    code = setup["backupCodes"][0]
    async with asgi_client(app) as http:
        first = Browser(http)
        step = await second_step(first, authorization(oauth_client).url)
        done = await first.submit(step, {"code": code})
        assert done.status_code == 303, done.text
    async with asgi_client(app) as http:
        second = Browser(http)
        step = await second_step(second, authorization(oauth_client).url)
        refused = await second.submit(step, {"code": code})
        assert refused.status_code == 401
        assert 'name="code"' in refused.text


async def test_the_second_step_checks_csrf_and_needs_the_first(
    app: FastAPI, client: httpx.AsyncClient, browser: Browser,  # noqa: F811
    oauth_client: Client, clock: FakeClock,  # noqa: F811
) -> None:
    setup = await mfa_user(client, clock)
    step = await second_step(browser, authorization(oauth_client).url)
    forged = await browser.submit(
        step, {"code": code_at(setup["secret"], clock)}, csrf_token="0" * 64
    )
    assert forged.status_code == 403
    assert 'name="password"' in forged.text  # back to the first step, nothing signed in
    made_up = await browser.submit(
        step, {"code": code_at(setup["secret"], clock)}, mfa_token="not.a.token"
    )
    assert made_up.status_code == 401
    assert 'name="password"' in made_up.text


async def test_a_page_challenge_expires_after_five_minutes(
    app: FastAPI, client: httpx.AsyncClient, browser: Browser,  # noqa: F811
    oauth_client: Client, clock: FakeClock,  # noqa: F811
) -> None:
    setup = await mfa_user(client, clock)
    step = await second_step(browser, authorization(oauth_client).url)
    clock.advance(301)
    next_step(clock)
    late = await browser.submit(step, {"code": code_at(setup["secret"], clock)})
    assert late.status_code == 401
    assert 'name="password"' in late.text
