"""Nothing about a client is cached: a change made through one instance holds on the
very next request, on that instance and on another sharing the database (issue 12).

The protocol endpoints read the client (``services/applications.find_client``) and
the client token's state (``client_credentials.live_client_token``) from the database
on every request, through ``db/lookups.py``. These tests keep a second instance warm
(it has just authenticated the client and introspected its token) and change the
client through the first.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI

from tekcify_auth.server.services import accounts
from tekcify_auth.server.settings import Settings

from .conftest import FakeClock, allow_client_credentials, bearer, running, signed_up


@dataclass
class Fleet:
    one: FastAPI
    first: httpx.AsyncClient
    second: httpx.AsyncClient
    owner_token: str
    client_id: str
    secret: str


def _basic(client_id: str, secret: str) -> dict[str, str]:
    raw = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


@pytest.fixture
async def fleet(settings: Settings, clock: FakeClock, clean_db: str) -> AsyncIterator[Fleet]:
    async with AsyncExitStack() as stack:
        one, first = await stack.enter_async_context(running(settings, clock))
        _two, second = await stack.enter_async_context(running(settings, clock))
        owner = await signed_up(first, "owner@example.com")
        created = await first.post(
            "/api/applications", headers=bearer(owner["accessToken"]),
            json={"name": "Reporting", "redirectUris": ["https://app.example.com/cb"],
                  "scopes": ["read:profile"]},
        )
        assert created.status_code == 201, created.text
        body = created.json()
        allow_client_credentials(one, body["clientId"])
        yield Fleet(one, first, second, owner["accessToken"], body["clientId"],
                    body["clientSecret"])


async def _token(http: httpx.AsyncClient, client_id: str, secret: str) -> httpx.Response:
    return await http.post(
        "/api/oauth/token", data={"grant_type": "client_credentials"},
        headers=_basic(client_id, secret),
    )


async def _active(http: httpx.AsyncClient, client_id: str, secret: str, token: str) -> bool:
    answer = await http.post(
        "/api/oauth/token/introspect", data={"token": token}, headers=_basic(client_id, secret)
    )
    assert answer.status_code == 200, answer.text
    active: bool = answer.json()["active"]
    return active


async def test_a_regenerated_secret_is_refused_at_once_by_both_instances(fleet: Fleet) -> None:
    issued = await _token(fleet.second, fleet.client_id, fleet.secret)
    assert issued.status_code == 200
    token = issued.json()["access_token"]
    assert await _active(fleet.second, fleet.client_id, fleet.secret, token)  # warm
    regenerated = await fleet.first.post(
        f"/api/applications/{fleet.client_id}/regenerate-secret",
        headers=bearer(fleet.owner_token),
    )
    assert regenerated.status_code == 200
    new_secret = regenerated.json()["clientSecret"]
    for http in (fleet.second, fleet.first):
        refused = await _token(http, fleet.client_id, fleet.secret)
        assert refused.status_code == 401
        assert refused.json()["error"] == "invalid_client"
        # The token got with the old secret is dead too (its cfp names the old hash).
        assert not await _active(http, fleet.client_id, new_secret, token)
        assert (await _token(http, fleet.client_id, new_secret)).status_code == 200


async def test_a_suspended_application_is_refused_at_once_by_both_instances(
    fleet: Fleet,
) -> None:
    token = (await _token(fleet.second, fleet.client_id, fleet.secret)).json()["access_token"]
    assert await _active(fleet.second, fleet.client_id, fleet.secret, token)
    # Disabling the owner suspends the application (`tekcify-auth users disable`).
    ctx = fleet.one.state.ctx
    with ctx.db.write() as db:
        accounts.disable_user(db, ctx, "owner@example.com")
    for http in (fleet.second, fleet.first):
        refused = await _token(http, fleet.client_id, fleet.secret)
        assert refused.status_code == 401
        assert refused.json()["error"] == "invalid_client"
        # No client authenticates now; a resource server asking anonymously is told no.
        anonymous = await http.post("/api/oauth/token/introspect", data={"token": token})
        assert anonymous.json() == {"active": False}


async def test_an_inactive_application_is_refused_at_once_by_the_other_instance(
    fleet: Fleet,
) -> None:
    token = (await _token(fleet.second, fleet.client_id, fleet.secret)).json()["access_token"]
    assert await _active(fleet.second, fleet.client_id, fleet.secret, token)
    path = f"/api/applications/{fleet.client_id}"
    switched = await fleet.first.put(
        path, json={"isActive": False}, headers=bearer(fleet.owner_token)
    )
    assert switched.status_code == 200
    refused = await _token(fleet.second, fleet.client_id, fleet.secret)
    assert (refused.status_code, refused.json()["error"]) == (401, "invalid_client")
    anonymous = await fleet.second.post("/api/oauth/token/introspect", data={"token": token})
    assert anonymous.json() == {"active": False}
    await fleet.first.put(path, json={"isActive": True}, headers=bearer(fleet.owner_token))
    assert (await _token(fleet.second, fleet.client_id, fleet.secret)).status_code == 200


async def test_a_deleted_application_is_refused_at_once_by_the_other_instance(
    fleet: Fleet,
) -> None:
    token = (await _token(fleet.second, fleet.client_id, fleet.secret)).json()["access_token"]
    assert await _active(fleet.second, fleet.client_id, fleet.secret, token)
    deleted = await fleet.first.delete(
        f"/api/applications/{fleet.client_id}", headers=bearer(fleet.owner_token)
    )
    assert deleted.status_code in (200, 204)
    refused = await _token(fleet.second, fleet.client_id, fleet.secret)
    assert refused.status_code == 401
    anonymous = await fleet.second.post("/api/oauth/token/introspect", data={"token": token})
    assert anonymous.json() == {"active": False}


async def test_a_revoked_client_token_is_inactive_at_once_on_the_other_instance(
    fleet: Fleet,
) -> None:
    token = (await _token(fleet.second, fleet.client_id, fleet.secret)).json()["access_token"]
    assert await _active(fleet.second, fleet.client_id, fleet.secret, token)
    revoked = await fleet.first.post(
        "/api/oauth/revoke", data={"token": token}, headers=_basic(fleet.client_id, fleet.secret)
    )
    assert revoked.status_code == 200
    assert not await _active(fleet.second, fleet.client_id, fleet.secret, token)
