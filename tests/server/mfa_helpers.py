"""Helpers of the MFA tests: an authenticator app (``pyotp``) on the test's clock."""

from __future__ import annotations

from typing import Any

import httpx
import pyotp

from .conftest import PASSWORD, FakeClock, bearer

MFA = "/api/auth/mfa"


def code_at(secret: str, clock: FakeClock, steps: int = 0) -> str:
    """The code an authenticator holding ``secret`` shows at ``clock`` (``steps`` away)."""
    return pyotp.TOTP(secret).at(clock.now.timestamp() + 30 * steps)


def next_step(clock: FakeClock) -> None:
    """Move ``clock`` to the start of the next 30-second step (a fresh code)."""
    clock.advance(30 - int(clock.now.timestamp()) % 30)


async def enable_mfa(
    client: httpx.AsyncClient, access_token: str, clock: FakeClock, password: str = PASSWORD
) -> dict[str, Any]:
    """Set up and turn on TOTP; the setup answer ``{secret, qrCodeUrl, backupCodes}``.

    The clock is moved to the next step afterwards, so the caller's next code is fresh.
    """
    response = await client.post(
        f"{MFA}/setup", json={"password": password}, headers=bearer(access_token)
    )
    assert response.status_code == 200, response.text
    setup: dict[str, Any] = response.json()
    response = await client.post(
        f"{MFA}/verify-setup", json={"code": code_at(setup["secret"], clock)},
        headers=bearer(access_token),
    )
    assert response.status_code == 200, response.text
    next_step(clock)
    return setup


async def start_login(
    client: httpx.AsyncClient, email: str = "ada@example.com", password: str = PASSWORD
) -> dict[str, Any]:
    """The first step of a login with MFA on: ``{mfaRequired, mfaToken, methods}``."""
    response = await client.post("/api/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["mfaRequired"] is True, body
    return body


async def finish_login(
    client: httpx.AsyncClient, mfa_token: str, **factor: str
) -> httpx.Response:
    """The second step: ``{mfaToken, code}`` or ``{mfaToken, backupCode}``."""
    return await client.post("/api/auth/login/mfa", json={"mfaToken": mfa_token, **factor})
