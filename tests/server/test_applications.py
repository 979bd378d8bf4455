"""``/api/applications``: create, list, public lookup, update, delete, logo, new secret.

Every route that names an application is tried with another user's token (404, and
nothing changes); every validation rule of ``http-api.md`` has its case.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from PIL import Image
from sqlalchemy import func, select

from tekcify_auth.server.db.applications import Application
from tekcify_auth.server.db.images import StoredImage
from tekcify_auth.server.db.models import UserSession
from tekcify_auth.server.errors import OAuthError
from tekcify_auth.server.services.client_auth import ClientCredentials, authenticate_client
from tekcify_auth.server.settings import SettingsError, load_settings

from .conftest import (
    FakeClock,
    bearer,
    client_session,
    create_oauth_app,
    login,
    make_settings,
    running,
    signed_up,
)

APPLICATION_KEYS = {
    "clientId", "name", "description", "logoUrl", "redirectUris", "authorizedOrigins",
    "scopes", "primaryColor", "isActive", "createdAt", "updatedAt", "tokenEndpointAuthMethod",
    "postLogoutRedirectUris",
}
PUBLIC_KEYS = APPLICATION_KEYS - {
    "createdAt", "updatedAt", "isActive", "postLogoutRedirectUris"
} | {"clientIdObfuscated"}
NOT_FOUND = {"statusCode": 404, "error": "Not Found", "message": "Application not found"}


def new_app(**changes: Any) -> dict[str, Any]:
    """A valid create body, with ``changes``."""
    body: dict[str, Any] = {
        "name": "Cool app",
        "description": "An awesome application",
        "redirectUris": ["https://app.example.com/callback"],
        "authorizedOrigins": ["https://app.example.com"],
        "scopes": ["openid", "read:profile"],
    }
    body.update(changes)
    return body


async def create(
    client: httpx.AsyncClient, token: str, **changes: Any
) -> dict[str, Any]:
    response = await client.post("/api/applications", json=new_app(**changes),
                                 headers=bearer(token))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def row(app: FastAPI, client_id: str) -> dict[str, Any] | None:
    """Every column of the application's row, or ``None`` when it is gone."""
    with app.state.ctx.db.read() as db:
        found = db.get(Application, client_id)
        if found is None:
            return None
        return {c.key: getattr(found, c.key) for c in Application.__table__.columns}


def png(size: tuple[int, int] = (64, 48), noise: bool = False) -> bytes:
    if noise:
        image = Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3))
    else:
        image = Image.new("RGBA", size, (200, 30, 90, 128))  # alpha: stored as PNG
    out = io.BytesIO()
    image.save(out, "PNG", compress_level=0 if noise else 6)
    return out.getvalue()


@dataclass
class Two:
    """Ada owns an application; Eve is another user."""

    ada: str
    eve: str
    client_id: str
    secret: str


@pytest.fixture
async def two(client: httpx.AsyncClient) -> Two:
    ada = (await signed_up(client, "ada@example.com"))["accessToken"]
    eve = (await signed_up(client, "eve@example.com"))["accessToken"]
    created = await create(client, ada)
    return Two(ada, eve, created["clientId"], created["clientSecret"])


# -- create ------------------------------------------------------------------------------


async def test_create_answers_201_with_the_application_and_its_secret(
    app: FastAPI, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    token = (await signed_up(client))["accessToken"]
    response = await client.post("/api/applications", json=new_app(), headers=bearer(token))
    assert response.status_code == 201
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert set(body) == APPLICATION_KEYS | {"clientSecret"}
    assert body["name"] == "Cool app"
    assert body["description"] == "An awesome application"
    assert body["logoUrl"] is None
    assert body["redirectUris"] == ["https://app.example.com/callback"]
    assert body["authorizedOrigins"] == ["https://app.example.com"]
    assert body["scopes"] == ["openid", "read:profile"]
    stamp = clock.now.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert body["createdAt"] == body["updatedAt"] == stamp
    assert len(body["clientId"]) == 32
    assert len(body["clientSecret"]) >= 43


async def test_the_secret_is_stored_only_as_its_hash(
    app: FastAPI, client: httpx.AsyncClient, two: Two
) -> None:
    stored = row(app, two.client_id)
    assert stored is not None
    assert stored["client_secret_hash"] == hashlib.sha256(two.secret.encode()).hexdigest()
    assert all(two.secret not in str(value) for value in stored.values())


async def test_the_secret_is_never_shown_after_creation(
    app: FastAPI, client: httpx.AsyncClient, two: Two
) -> None:
    stored = row(app, two.client_id)
    assert stored is not None
    answers = [
        await client.get("/api/applications", headers=bearer(two.ada)),
        await client.get(f"/api/applications/public/{two.client_id}"),
        await client.put(f"/api/applications/{two.client_id}", json={"name": "Renamed"},
                         headers=bearer(two.ada)),
    ]
    for answer in answers:
        assert answer.status_code == 200, answer.text
        assert "clientSecret" not in answer.text
        assert two.secret not in answer.text
        assert stored["client_secret_hash"] not in answer.text


async def test_description_and_origins_may_be_left_out_or_null(
    client: httpx.AsyncClient,
) -> None:
    token = (await signed_up(client))["accessToken"]
    body = new_app()
    del body["description"], body["authorizedOrigins"]
    response = await client.post("/api/applications", json=body, headers=bearer(token))
    assert response.status_code == 201, response.text
    assert response.json()["description"] is None
    assert response.json()["authorizedOrigins"] == []
    created = await create(client, token, description=None, authorizedOrigins=None)
    assert created["description"] is None
    assert created["authorizedOrigins"] == []
    created = await create(client, token, description="   ", name="  Trimmed  ")
    assert created["description"] is None
    assert created["name"] == "Trimmed"


async def test_loopback_http_redirects_and_origins_are_accepted(
    client: httpx.AsyncClient,
) -> None:
    token = (await signed_up(client))["accessToken"]
    uris = [
        "http://127.0.0.1:8080/callback", "http://[::1]/cb", "http://localhost:3000/cb?x=1",
        "https://app.example.com", "https://203.0.113.9:8443/oauth/done",
    ]
    origins = ["http://localhost:3000", "http://127.0.0.1:8080", "http://[::1]:5173",
               "https://app.example.com:8443"]
    created = await create(client, token, redirectUris=uris, authorizedOrigins=origins)
    assert created["redirectUris"] == uris
    assert created["authorizedOrigins"] == origins


# -- validation --------------------------------------------------------------------------

LONG_URI = "https://app.example.com/" + "a" * 2030
def operator_hint(scope: str) -> str:
    """What the unknown-scope message adds for the server's operator."""
    return (
        " (its operator adds scopes with TEKCIFY_EXTRA_SCOPES, e.g. "
        f'TEKCIFY_EXTRA_SCOPES="{scope}=What it lets the application do")'
    )


BAD_CREATES = [
    ({"name": ""}, "Invalid field name: must not be empty"),
    ({"name": "   "}, "Invalid field name: must not be empty"),
    ({"name": "x" * 101}, "Invalid field name: must be at most 100 characters"),
    ({"name": "tab\there"},
     "Invalid field name: must not contain control characters or line breaks"),
    ({"name": 42}, "Invalid field name: Input should be a valid string"),
    ({"name": None}, "Invalid field name: Input should be a valid string"),
    ({"description": "d" * 1001},
     "Invalid field description: must be at most 1000 characters"),
    ({"redirectUris": []},
     "Invalid field redirectUris: List should have at least 1 item after validation, not 0"),
    ({"redirectUris": "https://app.example.com/cb"},
     "Invalid field redirectUris: Input should be a valid list"),
    ({"redirectUris": [f"https://app.example.com/{n}" for n in range(21)]},
     "Invalid field redirectUris: List should have at most 20 items after validation, not 21"),
    ({"redirectUris": ["https://a.example.com/cb", "https://a.example.com/cb"]},
     "Invalid field redirectUris: lists https://a.example.com/cb twice"),
    ({"redirectUris": ["/callback"]},
     "Invalid field redirectUris.0: must be absolute, such as "
     "https://app.example.com/callback"),
    ({"redirectUris": ["app.example.com/callback"]},
     "Invalid field redirectUris.0: must be absolute, such as "
     "https://app.example.com/callback"),
    ({"redirectUris": ["https://ok.example.com/cb", "https://app.example.com/cb#top"]},
     "Invalid field redirectUris.1: must not have a fragment (#), RFC 6749 §3.1.2"),
    ({"redirectUris": ["https://app.example.com/cb#"]},
     "Invalid field redirectUris.0: must not have a fragment (#), RFC 6749 §3.1.2"),
    ({"redirectUris": ["https://*.example.com/cb"]},
     "Invalid field redirectUris.0: must not contain wildcards (*)"),
    ({"redirectUris": ["https://app.example.com/*"]},
     "Invalid field redirectUris.0: must not contain wildcards (*)"),
    ({"redirectUris": ["http://app.example.com/cb"]},
     "Invalid field redirectUris.0: http is allowed only for the loopback hosts 127.0.0.1, "
     "[::1] and localhost; use https"),
    ({"redirectUris": ["http://127.0.0.2/cb"]},
     "Invalid field redirectUris.0: http is allowed only for the loopback hosts 127.0.0.1, "
     "[::1] and localhost; use https"),
    ({"redirectUris": ["http://localhost.evil.example/cb"]},
     "Invalid field redirectUris.0: http is allowed only for the loopback hosts 127.0.0.1, "
     "[::1] and localhost; use https"),
    ({"redirectUris": ["https://user:pw@app.example.com/cb"]},
     "Invalid field redirectUris.0: must not contain user information (user:password@)"),
    ({"redirectUris": ["https://evil.example@app.example.com/cb"]},
     "Invalid field redirectUris.0: must not contain user information (user:password@)"),
    ({"redirectUris": ["ftp://app.example.com/cb"]},
     "Invalid field redirectUris.0: must use https (or http for a loopback host), "
     "in lower case, or a native app's private-use scheme such as com.example.app:/callback"),
    ({"redirectUris": ["javascript://app.example.com/%0Aalert(1)"]},
     "Invalid field redirectUris.0: must use https (or http for a loopback host), "
     "in lower case, or a native app's private-use scheme such as com.example.app:/callback"),
    # A private-use scheme (RFC 8252 §7.1) is followed by a path.
    ({"redirectUris": ["com.example.app:callback"]},
     "Invalid field redirectUris.0: must be absolute, such as "
     "https://app.example.com/callback"),
    ({"redirectUris": ["https:///callback"]}, "Invalid field redirectUris.0: has no host"),
    ({"redirectUris": ["https://exa_mple.com/cb"]},
     "Invalid field redirectUris.0: has an invalid host: exa_mple.com"),
    ({"redirectUris": ["https://[fe80::1%25eth0]/cb"]},
     "Invalid field redirectUris.0: has an invalid host: [fe80::1%25eth0]"),
    ({"redirectUris": ["https://app.example.com:99999/cb"]},
     "Invalid field redirectUris.0: has an invalid port (a number from 1 to 65535)"),
    ({"redirectUris": ["https://app.example.com/a b"]},
     "Invalid field redirectUris.0: contains a character a URI cannot hold as it is (a "
     "space, quote, backslash, non-ASCII letter...): percent-encode it"),
    ({"redirectUris": ["https://app.example.com/%zz"]},
     "Invalid field redirectUris.0: has a % that does not start a percent-encoded byte (%XX)"),
    ({"redirectUris": [LONG_URI]},
     "Invalid field redirectUris.0: must be at most 2048 characters"),
    ({"authorizedOrigins": ["https://app.example.com/"]},
     "Invalid field authorizedOrigins.0: must be only scheme://host[:port], without a path, "
     "query or fragment: https://app.example.com"),
    ({"authorizedOrigins": ["https://app.example.com/app"]},
     "Invalid field authorizedOrigins.0: must be only scheme://host[:port], without a path, "
     "query or fragment: https://app.example.com"),
    ({"authorizedOrigins": ["https://app.example.com?x=1"]},
     "Invalid field authorizedOrigins.0: must be only scheme://host[:port], without a path, "
     "query or fragment: https://app.example.com"),
    ({"authorizedOrigins": ["https://app.example.com#x"]},
     "Invalid field authorizedOrigins.0: must be only scheme://host[:port], without a path, "
     "query or fragment: https://app.example.com"),
    ({"authorizedOrigins": ["https://me@app.example.com"]},
     "Invalid field authorizedOrigins.0: must not contain user information (user:password@)"),
    ({"authorizedOrigins": ["http://app.example.com"]},
     "Invalid field authorizedOrigins.0: http is allowed only for the loopback hosts "
     "127.0.0.1, [::1] and localhost; use https"),
    ({"authorizedOrigins": ["https://*.example.com"]},
     "Invalid field authorizedOrigins.0: must not contain wildcards (*)"),
    ({"authorizedOrigins": ["https://App.Example.com"]},
     "Invalid field authorizedOrigins.0: must be written as browsers send it: "
     "https://app.example.com"),
    ({"authorizedOrigins": ["https://app.example.com:443"]},
     "Invalid field authorizedOrigins.0: must be written as browsers send it: "
     "https://app.example.com"),
    ({"authorizedOrigins": ["app.example.com"]},
     "Invalid field authorizedOrigins.0: must be absolute, such as https://app.example.com"),
    ({"authorizedOrigins": ["https://a.example.com", "https://a.example.com"]},
     "Invalid field authorizedOrigins: lists https://a.example.com twice"),
    ({"scopes": []},
     "Invalid field scopes: List should have at least 1 item after validation, not 0"),
    ({"scopes": ["openid", "openid"]}, "Invalid field scopes: lists openid twice"),
    ({"scopes": ["openid", "admin"]},
     "Invalid field scopes.1: unknown scope 'admin'; this server knows openid profile email "
     "offline_access read:profile write:profile" + operator_hint("admin")),
    ({"scopes": "openid"}, "Invalid field scopes: Input should be a valid list"),
    ({"isActive": False}, "Unknown field: isActive"),
    # One wire field makes a public client (tokenEndpointAuthMethod: "none"), not two.
    ({"public": True}, "Unknown field: public"),
    ({"clientSecret": "chosen-by-me"}, "Unknown field: clientSecret"),
]


@pytest.mark.parametrize(("changes", "message"), BAD_CREATES)
async def test_bad_input_to_create_is_400_naming_the_field(
    app: FastAPI, client: httpx.AsyncClient, changes: dict[str, Any], message: str
) -> None:
    token = (await signed_up(client))["accessToken"]
    response = await client.post(
        "/api/applications", json=new_app(**changes), headers=bearer(token)
    )
    assert response.status_code == 400, response.text
    assert response.json()["message"] == message
    with app.state.ctx.db.read() as db:
        assert db.execute(select(func.count()).select_from(Application)).scalar_one() == 0


_BIDI = "must not contain bidirectional control characters (U+202A-202E, U+2066-2069)"
_INVISIBLE = "must contain a visible character, not only invisible ones"
_NOT_LINES = "must not contain control characters other than line breaks and tabs"
#: Text that would show as something else on the consent page (issue 10, item 15).
DECEPTIVE_TEXT = [
    ("name", "elgoo\u202eG", _BIDI),  # displays as "Google"
    ("name", "\u202dGoogle", _BIDI),
    ("name", "Pay\u2066Pal\u2069", _BIDI),
    ("name", "\u2067lapyaP", _BIDI),
    ("name", "\u2068Bank\u2069", _BIDI),
    ("name", "\u200b", _INVISIBLE),
    ("name", "\u200b\u200b\u200d\u2060\ufeff", _INVISIBLE),
    ("name", "\u3164", _INVISIBLE),
    ("name", "Ad\x00a", "must not contain control characters or line breaks"),
    ("name", "Ada\nLovelace", "must not contain control characters or line breaks"),
    ("name", "A\x85da", "must not contain control characters or line breaks"),
    ("name", "Ada\u2028L", "must not contain control characters or line breaks"),
    ("description", "Official app by \u202eelgooG", _BIDI),
    ("description", "line one\n\u2066two\u2069", _BIDI),
    ("description", "\u200b\u200b", _INVISIBLE),
    ("description", "bell\x07", _NOT_LINES),
    ("description", "nul\x00", _NOT_LINES),
]


@pytest.mark.parametrize(("field", "value", "reason"), DECEPTIVE_TEXT)
async def test_deceptive_names_and_descriptions_are_refused_on_create(
    app: FastAPI, client: httpx.AsyncClient, field: str, value: str, reason: str
) -> None:
    token = (await signed_up(client))["accessToken"]
    response = await client.post(
        "/api/applications", json=new_app(**{field: value}), headers=bearer(token)
    )
    assert response.status_code == 400, response.text
    assert response.json()["message"] == f"Invalid field {field}: {reason}"
    with app.state.ctx.db.read() as db:
        assert db.execute(select(func.count()).select_from(Application)).scalar_one() == 0


@pytest.mark.parametrize(("field", "value", "reason"), DECEPTIVE_TEXT)
async def test_deceptive_names_and_descriptions_are_refused_on_update(
    app: FastAPI, client: httpx.AsyncClient, two: Two, field: str, value: str, reason: str
) -> None:
    before = row(app, two.client_id)
    response = await client.put(
        f"/api/applications/{two.client_id}", json={field: value}, headers=bearer(two.ada)
    )
    assert response.status_code == 400, response.text
    assert response.json()["message"] == f"Invalid field {field}: {reason}"
    assert row(app, two.client_id) == before


async def test_names_joiners_and_line_breaks_that_read_as_written_are_kept(
    app: FastAPI, client: httpx.AsyncClient, two: Two
) -> None:
    name = "\u0915\u094d\u200d\u0937 app \U0001F468\u200d\U0001F469"  # ZWJ in scripts, emoji
    description = "First line\r\nSecond\tline"
    created = await create(client, two.ada, name=name, description=description)
    assert (created["name"], created["description"]) == (name, description)
    response = await client.put(
        f"/api/applications/{two.client_id}", json={"name": "Zo\u00eb's app"},
        headers=bearer(two.ada),
    )
    assert response.status_code == 200, response.text
    assert (row(app, two.client_id) or {})["name"] == "Zo\u00eb's app"


@pytest.mark.parametrize("missing", ["name", "redirectUris", "scopes"])
async def test_a_required_field_left_out_is_400(
    client: httpx.AsyncClient, missing: str
) -> None:
    token = (await signed_up(client))["accessToken"]
    body = new_app()
    del body[missing]
    response = await client.post("/api/applications", json=body, headers=bearer(token))
    assert response.status_code == 400
    assert response.json()["message"] == f"Missing field: {missing}"


BAD_UPDATES = [
    ({"name": None}, "Invalid field name: must not be null"),
    ({"redirectUris": None}, "Invalid field redirectUris: must not be null"),
    ({"scopes": None}, "Invalid field scopes: must not be null"),
    ({"name": ""}, "Invalid field name: must not be empty"),
    ({"redirectUris": ["http://app.example.com/cb"]},
     "Invalid field redirectUris.0: http is allowed only for the loopback hosts 127.0.0.1, "
     "[::1] and localhost; use https"),
    ({"authorizedOrigins": ["https://app.example.com/path"]},
     "Invalid field authorizedOrigins.0: must be only scheme://host[:port], without a path, "
     "query or fragment: https://app.example.com"),
    ({"scopes": ["email", "superuser"]},
     "Invalid field scopes.1: unknown scope 'superuser'; this server knows openid profile "
     "email offline_access read:profile write:profile" + operator_hint("superuser")),
    ({"clientId": "mine-now"}, "Unknown field: clientId"),
]


@pytest.mark.parametrize(("changes", "message"), BAD_UPDATES)
async def test_bad_input_to_update_is_400_and_changes_nothing(
    app: FastAPI, client: httpx.AsyncClient, two: Two, changes: dict[str, Any], message: str
) -> None:
    before = row(app, two.client_id)
    response = await client.put(
        f"/api/applications/{two.client_id}", json=changes, headers=bearer(two.ada)
    )
    assert response.status_code == 400, response.text
    assert response.json()["message"] == message
    assert row(app, two.client_id) == before


async def test_scopes_an_operator_adds_are_accepted(
    clean_db: str, tmp_path: Path, clock: FakeClock
) -> None:
    settings = make_settings(
        database_url=clean_db, data_dir=tmp_path / "data", extra_scopes="read:orders write:orders"
    )
    async with running(settings, clock) as (_app, client):
        token = (await signed_up(client))["accessToken"]
        created = await create(client, token, scopes=["openid", "read:orders"])
        assert created["scopes"] == ["openid", "read:orders"]
        response = await client.post(
            "/api/applications", json=new_app(scopes=["delete:orders"]), headers=bearer(token)
        )
        assert response.status_code == 400
        assert response.json()["message"] == (
            "Invalid field scopes.0: unknown scope 'delete:orders'; this server knows openid "
            "profile email offline_access read:profile write:profile read:orders write:orders"
            + operator_hint("delete:orders")
        )


def test_extra_scopes_with_descriptions_and_their_refusals() -> None:
    settings = load_settings({
        "TEKCIFY_EXTRA_SCOPES":
            "read:orders = Read your  orders , write:orders=Place orders for you, admin:x",
    })
    assert settings.scopes[-3:] == ("read:orders", "write:orders", "admin:x")
    assert settings.scope_descriptions == {
        "read:orders": "Read your orders", "write:orders": "Place orders for you",
    }
    for bad in ("read:orders=", "a b=two names", "x=" + "y" * 121, "x=bidi\u202eevil",
                "x=zero\u200bwidth", "x=bell\x07", 'bad"name=fine'):
        with pytest.raises(SettingsError) as caught:
            load_settings({"TEKCIFY_EXTRA_SCOPES": bad})
        assert caught.value.problems[0].startswith("TEKCIFY_EXTRA_SCOPES="), bad


def test_extra_scopes_are_read_from_the_environment() -> None:
    settings = load_settings({"TEKCIFY_EXTRA_SCOPES": " read:orders,write:orders  openid "})
    assert settings.scopes == (
        "openid", "profile", "email", "offline_access", "read:profile", "write:profile",
        "read:orders", "write:orders",
    )
    assert load_settings({}).scopes[-1] == "write:profile"
    with pytest.raises(SettingsError) as caught:
        load_settings({"TEKCIFY_EXTRA_SCOPES": 'read:orders bad"quote'})
    assert caught.value.problems[0].startswith("TEKCIFY_EXTRA_SCOPES=")


# -- list --------------------------------------------------------------------------------


async def test_list_pages_through_the_callers_applications_newest_first(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    ada = (await signed_up(client, "ada@example.com"))["accessToken"]
    eve = (await signed_up(client, "eve@example.com"))["accessToken"]
    await create(client, eve, name="Eve's")
    names = []
    for n in range(25):
        clock.advance(1)
        names.append((await create(client, ada, name=f"App {n}"))["name"])
    newest_first = names[::-1]

    response = await client.get("/api/applications", headers=bearer(ada))
    assert response.status_code == 200
    assert response.headers["x-total-count"] == "25"
    assert [a["name"] for a in response.json()] == newest_first[:20]
    assert all(set(a) == APPLICATION_KEYS for a in response.json())

    seen = []
    for page in (1, 2, 3):
        response = await client.get(
            "/api/applications", params={"page": page, "limit": 10}, headers=bearer(ada)
        )
        assert response.headers["x-total-count"] == "25"
        seen += [a["name"] for a in response.json()["data"]]
    assert seen == newest_first

    response = await client.get(
        "/api/applications", params={"page": 4, "limit": 10}, headers=bearer(ada)
    )
    assert response.json()["data"] == []
    assert response.json()["pagination"] == {"page": 4, "limit": 10, "total": 25, "totalPages": 3}
    assert response.headers["x-total-count"] == "25"
    response = await client.get("/api/applications", params={"limit": 100}, headers=bearer(ada))
    assert len(response.json()["data"]) == 25

    response = await client.get("/api/applications", headers=bearer(eve))
    assert [a["name"] for a in response.json()] == ["Eve's"]
    assert response.headers["x-total-count"] == "1"


async def test_list_of_no_applications_is_an_empty_array(client: httpx.AsyncClient) -> None:
    token = (await signed_up(client))["accessToken"]
    response = await client.get("/api/applications", headers=bearer(token))
    assert response.status_code == 200
    assert response.json() == []
    assert response.headers["x-total-count"] == "0"


async def test_list_with_page_or_limit_is_the_2_2_12_envelope_with_stats(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    ada = (await signed_up(client, "ada@example.com"))["accessToken"]
    created = []
    for n in range(3):
        clock.advance(1)
        created.append((await create(client, ada, name=f"App {n}"))["clientId"])
    await client.put(
        f"/api/applications/{created[0]}", json={"isActive": False}, headers=bearer(ada)
    )

    bare = await client.get("/api/applications", headers=bearer(ada))
    assert isinstance(bare.json(), list)
    assert len(bare.json()) == 3
    for params in ({"page": 1}, {"limit": 2}, {"page": "1", "limit": "2"}):
        response = await client.get("/api/applications", params=params, headers=bearer(ada))
        assert response.status_code == 200
        body = response.json()
        assert set(body) == {"success", "stats", "data", "pagination"}
        assert body["success"] is True
        assert body["stats"] == {"total": 3, "active": 2, "inactive": 1}
        assert all(set(a) == APPLICATION_KEYS for a in body["data"])
        limit = params.get("limit", 20)
        assert body["pagination"] == {
            "page": 1, "limit": int(limit), "total": 3, "totalPages": 2 if limit != 20 else 1,
        }
    inactive = [a for a in bare.json() if a["clientId"] == created[0]]
    assert [a["isActive"] for a in inactive] == [False]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"limit": 101}, "Invalid field limit: Input should be less than or equal to 100"),
        ({"limit": 0}, "Invalid field limit: Input should be greater than or equal to 1"),
        ({"limit": -5}, "Invalid field limit: Input should be greater than or equal to 1"),
        ({"page": 0}, "Invalid field page: Input should be greater than or equal to 1"),
        ({"page": "two"}, "Invalid field page: Input should be a valid integer, unable to "
                          "parse string as an integer"),
        ({"limit": "1.5"}, "Invalid field limit: Input should be a valid integer, unable to "
                           "parse string as an integer"),
        ({"page": 10**30}, "Invalid field page: Input should be less than or equal to 1000000"),
    ],
)
async def test_bad_page_or_limit_is_400(
    client: httpx.AsyncClient, params: dict[str, Any], message: str
) -> None:
    token = (await signed_up(client))["accessToken"]
    response = await client.get("/api/applications", params=params, headers=bearer(token))
    assert response.status_code == 400
    assert response.json()["message"] == message


# -- public lookup -----------------------------------------------------------------------


async def test_public_lookup_needs_no_token_and_has_no_timestamps(
    client: httpx.AsyncClient, two: Two
) -> None:
    response = await client.get(f"/api/applications/public/{two.client_id}")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == PUBLIC_KEYS
    assert body["clientId"] == two.client_id
    assert body["name"] == "Cool app"
    assert body["scopes"] == ["openid", "read:profile"]


async def test_public_lookup_shows_the_client_id_obfuscated(
    client: httpx.AsyncClient, two: Two
) -> None:
    body = (await client.get(f"/api/applications/public/{two.client_id}")).json()
    masked = body["clientIdObfuscated"]
    assert masked == two.client_id[:8] + "*" * 20 + two.client_id[-4:]


@pytest.mark.parametrize("client_id", ["0" * 32, "nope", "x" * 300])
async def test_public_lookup_of_an_unknown_client_is_404(
    client: httpx.AsyncClient, client_id: str
) -> None:
    response = await client.get(f"/api/applications/public/{client_id}")
    assert response.status_code == 404
    assert response.json() == NOT_FOUND


# -- update ------------------------------------------------------------------------------


async def test_update_changes_only_the_fields_given(
    app: FastAPI, client: httpx.AsyncClient, two: Two, clock: FakeClock
) -> None:
    before = row(app, two.client_id)
    assert before is not None
    clock.advance(60)
    response = await client.put(
        f"/api/applications/{two.client_id}",
        json={"name": "Renamed", "redirectUris": ["https://new.example.com/cb"]},
        headers=bearer(two.ada),
    )
    assert response.status_code == 200
    assert response.json() == {"message": "Application updated"}
    after = row(app, two.client_id)
    assert after is not None
    assert after["name"] == "Renamed"
    assert after["redirect_uris"] == ["https://new.example.com/cb"]
    assert after["updated_at"] == clock.now
    unchanged = {"description", "authorized_origins", "scopes", "client_secret_hash",
                 "logo_url", "created_at", "owner_id"}
    assert {k: after[k] for k in unchanged} == {k: before[k] for k in unchanged}


async def test_update_clears_description_and_origins_with_null(
    app: FastAPI, client: httpx.AsyncClient, two: Two
) -> None:
    response = await client.put(
        f"/api/applications/{two.client_id}",
        json={"description": None, "authorizedOrigins": None}, headers=bearer(two.ada),
    )
    assert response.status_code == 200
    after = row(app, two.client_id)
    assert after is not None
    assert after["description"] is None
    assert after["authorized_origins"] == []


async def test_an_empty_update_changes_nothing(
    app: FastAPI, client: httpx.AsyncClient, two: Two, clock: FakeClock
) -> None:
    before = row(app, two.client_id)
    clock.advance(60)
    response = await client.put(
        f"/api/applications/{two.client_id}", json={}, headers=bearer(two.ada)
    )
    assert response.status_code == 200
    assert row(app, two.client_id) == before


async def test_primary_color_is_stored_in_lower_case_returned_and_cleared(
    app: FastAPI, client: httpx.AsyncClient, two: Two
) -> None:
    plain = await client.get("/api/applications", headers=bearer(two.ada))
    assert plain.json()[0]["primaryColor"] is None
    created = await create(client, two.ada, primaryColor="#A1B2C3")
    assert created["primaryColor"] == "#a1b2c3"
    assert (row(app, created["clientId"]) or {})["primary_color"] == "#a1b2c3"
    public = await client.get(f"/api/applications/public/{created['clientId']}")
    assert public.json()["primaryColor"] == "#a1b2c3"

    path = f"/api/applications/{created['clientId']}"
    assert (await client.put(path, json={"primaryColor": "#00FF7f"},
                             headers=bearer(two.ada))).status_code == 200
    assert (row(app, created["clientId"]) or {})["primary_color"] == "#00ff7f"
    assert (await client.put(path, json={"primaryColor": None},
                             headers=bearer(two.ada))).status_code == 200
    assert (row(app, created["clientId"]) or {})["primary_color"] is None


@pytest.mark.parametrize(
    "color", ["red", "#fff", "#12345", "#1234567", "123456", "#12345g", " #123456", "#123456\n",
              "#\uff11\uff12\uff13\uff14\uff15\uff16", 123456],
)
async def test_a_bad_primary_color_is_400_on_create_and_update(
    app: FastAPI, client: httpx.AsyncClient, two: Two, color: object
) -> None:
    response = await client.post(
        "/api/applications", json=new_app(primaryColor=color), headers=bearer(two.ada)
    )
    assert response.status_code == 400, response.text
    assert response.json()["message"].startswith("Invalid field primaryColor")
    before = row(app, two.client_id)
    response = await client.put(
        f"/api/applications/{two.client_id}", json={"primaryColor": color},
        headers=bearer(two.ada),
    )
    assert response.status_code == 400, response.text
    assert response.json()["message"].startswith("Invalid field primaryColor")
    assert row(app, two.client_id) == before


async def test_the_owner_sets_an_application_inactive_and_active_again(
    app: FastAPI, client: httpx.AsyncClient, two: Two, clock: FakeClock
) -> None:
    path = f"/api/applications/{two.client_id}"
    clock.advance(5)
    assert (await client.put(path, json={"isActive": False},
                             headers=bearer(two.ada))).status_code == 200
    after = row(app, two.client_id) or {}
    assert after["is_active"] is False
    assert after["updated_at"] == clock.now
    listed = (await client.get("/api/applications", headers=bearer(two.ada))).json()
    assert listed[0]["isActive"] is False
    assert (await client.get(f"/api/applications/public/{two.client_id}")).status_code == 404
    # Eve cannot switch it back on: the application is not hers (404, unchanged).
    eve = await client.put(path, json={"isActive": True}, headers=bearer(two.eve))
    assert (eve.status_code, eve.json()) == (404, NOT_FOUND)
    assert (row(app, two.client_id) or {})["is_active"] is False

    assert (await client.put(path, json={"isActive": True},
                             headers=bearer(two.ada))).status_code == 200
    assert (row(app, two.client_id) or {})["is_active"] is True
    assert (await client.get(f"/api/applications/public/{two.client_id}")).status_code == 200


@pytest.mark.parametrize("value", [None, "false", 0])
async def test_is_active_must_be_a_boolean(
    app: FastAPI, client: httpx.AsyncClient, two: Two, value: object
) -> None:
    before = row(app, two.client_id)
    response = await client.put(
        f"/api/applications/{two.client_id}", json={"isActive": value}, headers=bearer(two.ada)
    )
    assert response.status_code == 400
    assert response.json()["message"].startswith("Invalid field isActive")
    assert row(app, two.client_id) == before


async def test_taking_a_scope_away_revokes_the_sessions_that_hold_it(
    app: FastAPI, client: httpx.AsyncClient, two: Two
) -> None:
    await client.put(
        f"/api/applications/{two.client_id}",
        json={"scopes": ["openid", "email", "read:profile"]}, headers=bearer(two.ada),
    )
    holding = client_session(app, two.client_id, email="eve@example.com",
                             scopes=("openid", "read:profile"))
    other = client_session(app, two.client_id, email="eve@example.com", scopes=("email",))
    response = await client.put(
        f"/api/applications/{two.client_id}",
        json={"scopes": ["openid", "email"]}, headers=bearer(two.ada),
    )
    assert response.status_code == 200
    with app.state.ctx.db.read() as db:
        assert db.get(UserSession, holding.session_id).revoked_at is not None
        assert db.get(UserSession, other.session_id).revoked_at is None


# -- delete ------------------------------------------------------------------------------


async def test_delete_removes_the_application_and_revokes_its_sessions(
    app: FastAPI, client: httpx.AsyncClient, two: Two, clock: FakeClock
) -> None:
    doomed = client_session(app, two.client_id, email="eve@example.com")
    other_app = create_oauth_app(app)
    kept = client_session(app, other_app.client_id, email="eve@example.com")
    assert (await client.get("/api/oauth/userinfo", headers=bearer(doomed.access_token))
            ).status_code == 200
    clock.advance(5)

    response = await client.delete(
        f"/api/applications/{two.client_id}", headers=bearer(two.ada)
    )
    assert response.status_code == 200
    assert response.json() == {"message": "Application deleted; its tokens have been revoked"}
    assert row(app, two.client_id) is None
    assert (await client.get(f"/api/applications/public/{two.client_id}")).status_code == 404
    with app.state.ctx.db.read() as db:
        revoked = db.get(UserSession, doomed.session_id)
        assert revoked.revoked_at == clock.now
        assert revoked.revoked_reason == "application_deleted"
        assert db.get(UserSession, kept.session_id).revoked_at is None
    assert (await client.get("/api/oauth/userinfo", headers=bearer(doomed.access_token))
            ).status_code == 401
    assert (await client.get("/api/oauth/userinfo", headers=bearer(kept.access_token))
            ).status_code == 200
    # The owner's own login is not the application's and stays.
    assert (await client.get("/api/applications", headers=bearer(two.ada))).status_code == 200
    again = await client.delete(f"/api/applications/{two.client_id}", headers=bearer(two.ada))
    assert again.status_code == 404


# -- regenerate-secret -------------------------------------------------------------------


def _auth_error(app: FastAPI, client_id: str, secret: str) -> str | None:
    """The OAuth error of authenticating as the client with ``secret``; ``None`` if it works."""
    credentials = ClientCredentials(client_id, secret, "client_secret_post")
    try:
        authenticate_client(app.state.ctx.db.lookups, credentials)
    except OAuthError as exc:
        return exc.error
    return None


def _authenticates(app: FastAPI, client_id: str, secret: str) -> bool:
    error = _auth_error(app, client_id, secret)
    assert error in (None, "invalid_client")
    return error is None


async def test_regenerate_gives_a_new_secret_and_the_old_one_stops_working(
    app: FastAPI, client: httpx.AsyncClient, two: Two
) -> None:
    assert _authenticates(app, two.client_id, two.secret)
    response = await client.post(
        f"/api/applications/{two.client_id}/regenerate-secret", headers=bearer(two.ada)
    )
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert set(body) == {"clientId", "clientSecret", "message"}
    assert body["clientId"] == two.client_id
    assert body["clientSecret"] != two.secret
    assert not _authenticates(app, two.client_id, two.secret)
    assert _authenticates(app, two.client_id, body["clientSecret"])
    stored = row(app, two.client_id)
    assert stored is not None
    assert stored["client_secret_hash"] == hashlib.sha256(
        body["clientSecret"].encode()
    ).hexdigest()


async def test_the_old_secret_is_refused_at_the_token_endpoint(
    app: FastAPI, client: httpx.AsyncClient, two: Two
) -> None:
    form = {"grant_type": "refresh_token", "refresh_token": "x" * 43,
            "client_id": two.client_id}
    before = await client.post("/api/oauth/token", data={**form, "client_secret": two.secret})
    assert before.json()["error"] == "invalid_grant"  # the client got through
    await client.post(
        f"/api/applications/{two.client_id}/regenerate-secret", headers=bearer(two.ada)
    )
    after = await client.post("/api/oauth/token", data={**form, "client_secret": two.secret})
    assert after.status_code == 401
    assert after.json()["error"] == "invalid_client"


async def test_a_public_client_has_no_secret_to_regenerate(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    public = create_oauth_app(app, owner_email="ada@example.com", confidential=False)
    token = (await login(client, "ada@example.com"))["accessToken"]
    response = await client.post(
        f"/api/applications/{public.client_id}/regenerate-secret", headers=bearer(token)
    )
    assert response.status_code == 400
    assert response.json()["message"] == "This application is a public client and has no secret"
    stored = row(app, public.client_id)
    assert stored is not None
    assert stored["client_secret_hash"] is None


# -- logo --------------------------------------------------------------------------------


async def _upload(
    client: httpx.AsyncClient, token: str, client_id: str, data: bytes, name: str = "logo.png"
) -> httpx.Response:
    return await client.post(
        f"/api/applications/{client_id}/logo", files={"file": (name, data, "image/png")},
        headers=bearer(token),
    )


def _images(app: FastAPI) -> int:
    with app.state.ctx.db.read() as db:
        return int(db.execute(select(func.count()).select_from(StoredImage)).scalar_one())


async def test_logo_upload_stores_it_and_replacing_removes_the_old_one(
    app: FastAPI, client: httpx.AsyncClient, two: Two
) -> None:
    first = await _upload(client, two.ada, two.client_id, png((64, 48)))
    assert first.status_code == 200, first.text
    assert set(first.json()) == {"logoUrl"}
    first_url = first.json()["logoUrl"]
    assert first_url.startswith("http://tekcify.test/api/images/")
    served = await client.get(first_url)
    assert served.status_code == 200
    assert served.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(served.content)).size == (64, 48)
    public = await client.get(f"/api/applications/public/{two.client_id}")
    assert public.json()["logoUrl"] == first_url

    second = await _upload(client, two.ada, two.client_id, png((32, 32)))
    assert second.status_code == 200
    assert second.json()["logoUrl"] != first_url
    assert (await client.get(first_url)).status_code == 404
    assert (await client.get(second.json()["logoUrl"])).status_code == 200
    assert _images(app) == 1
    stored = row(app, two.client_id)
    assert stored is not None
    # The path is stored, never the host the upload came through (issue 10, item 14).
    assert "http://tekcify.test" + stored["logo_url"] == second.json()["logoUrl"]
    assert stored["logo_url"].startswith("/api/images/")

    await client.delete(f"/api/applications/{two.client_id}", headers=bearer(two.ada))
    assert _images(app) == 0
    assert (await client.get(second.json()["logoUrl"])).status_code == 404


async def test_a_logo_is_served_under_the_public_url(
    clean_db: str, tmp_path: Path, clock: FakeClock
) -> None:
    settings = make_settings(
        database_url=clean_db, data_dir=tmp_path / "data",
        public_url="https://auth.example.com",
    )
    async with running(settings, clock) as (_app, client):
        token = (await signed_up(client))["accessToken"]
        created = await create(client, token)
        response = await _upload(client, token, created["clientId"], png())
        assert response.json()["logoUrl"].startswith("https://auth.example.com/api/images/")


async def test_a_large_valid_logo_gets_through_the_body_limit(
    app: FastAPI, client: httpx.AsyncClient, two: Two
) -> None:
    data = png((1000, 1000), noise=True)
    assert len(data) > 2 * 1024 * 1024  # above the ordinary 1 MiB request limit
    response = await _upload(client, two.ada, two.client_id, data)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("data", "status", "message"),
    [
        (b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>", 400,
         "The file is not a PNG, JPEG, WebP or GIF image"),
        (b"just some text", 400, "The file is not a PNG, JPEG, WebP or GIF image"),
        (b"", 400, "The file is empty"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * (6 * 1024 * 1024), 413, None),
    ],
    ids=["svg", "text", "empty", "6-MiB"],
)
async def test_a_bad_logo_is_refused_and_the_old_one_stays(
    app: FastAPI, client: httpx.AsyncClient, two: Two, data: bytes, status: int,
    message: str | None,
) -> None:
    url = (await _upload(client, two.ada, two.client_id, png())).json()["logoUrl"]
    response = await _upload(client, two.ada, two.client_id, data, name="logo.png")
    assert response.status_code == status, response.text
    if message is not None:
        assert response.json()["message"] == message
    stored = row(app, two.client_id)
    assert stored is not None
    assert "http://tekcify.test" + stored["logo_url"] == url
    assert _images(app) == 1


async def test_a_logo_upload_without_a_file_is_400(
    client: httpx.AsyncClient, two: Two
) -> None:
    response = await client.post(
        f"/api/applications/{two.client_id}/logo", data={"other": "x"},
        files={"notfile": ("a.png", png(), "image/png")}, headers=bearer(two.ada),
    )
    assert response.status_code == 400
    assert response.json()["message"] == "Missing field: file"


# -- who may -----------------------------------------------------------------------------

Route = Callable[[httpx.AsyncClient, str, str], Awaitable[httpx.Response]]


async def _put(c: httpx.AsyncClient, client_id: str, token: str) -> httpx.Response:
    return await c.put(f"/api/applications/{client_id}",
                       json={"name": "Stolen", "redirectUris": ["https://evil.example/cb"]},
                       headers=bearer(token))


async def _delete(c: httpx.AsyncClient, client_id: str, token: str) -> httpx.Response:
    return await c.delete(f"/api/applications/{client_id}", headers=bearer(token))


async def _logo(c: httpx.AsyncClient, client_id: str, token: str) -> httpx.Response:
    return await _upload(c, token, client_id, png())


async def _regenerate(c: httpx.AsyncClient, client_id: str, token: str) -> httpx.Response:
    return await c.post(f"/api/applications/{client_id}/regenerate-secret",
                        headers=bearer(token))


ROUTES = [_put, _delete, _logo, _regenerate]
ROUTE_IDS = ["PUT", "DELETE", "logo", "regenerate-secret"]


@pytest.mark.parametrize("route", ROUTES, ids=ROUTE_IDS)
async def test_another_users_application_is_404_and_unchanged(
    app: FastAPI, client: httpx.AsyncClient, two: Two, clock: FakeClock, route: Route
) -> None:
    session = client_session(app, two.client_id, email="eve@example.com")
    before = row(app, two.client_id)
    clock.advance(30)
    response = await route(client, two.client_id, two.eve)
    assert response.status_code == 404
    assert response.json() == NOT_FOUND
    assert row(app, two.client_id) == before
    assert _authenticates(app, two.client_id, two.secret)
    assert _images(app) == 0
    with app.state.ctx.db.read() as db:
        assert db.get(UserSession, session.session_id).revoked_at is None
    # The same answer as for an application that does not exist at all.
    missing = await route(client, "f" * 32, two.eve)
    assert (missing.status_code, missing.json()) == (404, NOT_FOUND)


async def test_another_users_applications_are_not_listed(
    client: httpx.AsyncClient, two: Two
) -> None:
    response = await client.get("/api/applications", headers=bearer(two.eve))
    assert response.json() == []
    assert response.headers["x-total-count"] == "0"
    response = await client.get("/api/applications", params={"page": 1}, headers=bearer(two.eve))
    assert response.json()["data"] == []
    assert response.json()["stats"] == {"total": 0, "active": 0, "inactive": 0}


@pytest.mark.parametrize("route", ROUTES, ids=ROUTE_IDS)
async def test_a_token_issued_to_an_application_cannot_manage_applications(
    app: FastAPI, client: httpx.AsyncClient, two: Two, route: Route
) -> None:
    third_party = client_session(app, two.client_id, email="ada@example.com",
                                 scopes=("openid", "read:profile", "write:profile"))
    before = row(app, two.client_id)
    response = await route(client, two.client_id, third_party.access_token)
    assert response.status_code == 403
    assert row(app, two.client_id) == before
    listed = await client.get("/api/applications", headers=bearer(third_party.access_token))
    assert listed.status_code == 403
    created = await client.post("/api/applications", json=new_app(),
                                headers=bearer(third_party.access_token))
    assert created.status_code == 403


@pytest.mark.parametrize("route", ROUTES, ids=ROUTE_IDS)
async def test_without_a_token_every_route_is_401(
    app: FastAPI, client: httpx.AsyncClient, two: Two, route: Route
) -> None:
    before = row(app, two.client_id)
    response = await route(client, two.client_id, "not-a-token")
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert row(app, two.client_id) == before
    assert (await client.get("/api/applications")).status_code == 401
    assert (await client.post("/api/applications", json=new_app())).status_code == 401
