"""Which tokens reach the account's own routes: first-party ones, app tokens by scope.

The matrix (route x token kind) is README's "Which tokens reach which routes" table;
:func:`test_every_route_answers_its_row_of_the_matrix` walks every route of the app,
so a new route under ``/api/auth``, ``/api/user``, ``/api/applications`` or
``/api/oauth/connected-apps`` that declares no rule (``deps.first_party_or``), or one the
table does not list, fails it.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Final

import httpx
import pytest
from fastapi import FastAPI
from fastapi.security import HTTPBearer

from tekcify_auth.server.routers.deps import ACCESS_RULE, AccessRule
from tekcify_auth.server.services import accounts, applications, client_credentials

from .conftest import (
    PASSWORD,
    allow_client_credentials,
    api_routes,
    bearer,
    client_session,
    create_oauth_app,
    dependency_calls,
    login,
    register,
)

README: Final = Path(__file__).resolve().parents[2] / "README.md"
MATRIX_HEADING: Final = "### Which tokens reach which routes"
#: The prefixes of the account's own routes: every Bearer route under them has a rule.
ACCOUNT_PREFIXES: Final = (
    "/api/auth/", "/api/user/", "/api/applications", "/api/oauth/connected-apps",
    "/api/security/",
)
#: Routes under those prefixes that take no token at all.
PUBLIC: Final = {
    ("POST", "/api/auth/register"), ("POST", "/api/auth/login"), ("POST", "/api/auth/login/mfa"),
    ("POST", "/api/auth/refresh"), ("GET", "/api/applications/public/{client_id}"),
    # The mailed links carry their own proof; a code needs the first-party token, which
    # the route asks for only then (routers/recovery.py).
    ("POST", "/api/auth/email/verify"), ("POST", "/api/auth/password/forgot"),
    ("POST", "/api/auth/password/reset"), ("POST", "/api/user/email/change/confirm"),
    # A passkey sign-in: the assertion is the proof.
    ("POST", "/api/auth/passkey/login/options"), ("POST", "/api/auth/passkey/login"),
}
#: Bearer routes with their own (OAuth) rules, outside the matrix.
OAUTH_OWN_RULES: Final = {("GET", "/api/oauth/userinfo"), ("POST", "/api/oauth/userinfo")}

ALL_SCOPES: Final = ("openid", "profile", "email", "read:profile", "write:profile")
FIRST_PARTY: Final = "first-party"
CLIENT_CREDENTIALS: Final = "client_credentials"
#: The app-token kinds of the matrix and the scopes each was granted.
APP_KINDS: Final = {
    "app: openid only": ("openid",),
    "app: read:profile": ("openid", "read:profile"),
    "app: write:profile": ("openid", "write:profile"),
}
KINDS: Final = (FIRST_PARTY, *APP_KINDS, CLIENT_CREDENTIALS)
REFUSAL: Final = {"statusCode": 403, "error": "Forbidden", "message": "Insufficient scope"}


def declared(app: FastAPI) -> dict[tuple[str, str], AccessRule | None]:
    """Every Bearer route of ``app`` (method, path) and the rule it declares, if any."""
    found: dict[tuple[str, str], AccessRule | None] = {}
    for route in api_routes(app):
        calls = list(dependency_calls(route))
        if not any(isinstance(call, HTTPBearer) for call in calls):
            continue
        rules = [getattr(call, ACCESS_RULE) for call in calls if hasattr(call, ACCESS_RULE)]
        assert len(rules) <= 1, f"{route.path} declares {len(rules)} rules"
        for method in route.methods:
            found[(method, route.path)] = rules[0] if rules else None
    return found


def documented() -> dict[tuple[str, str], dict[str, bool]]:
    """README's matrix: (method, path) -> token kind -> allowed."""
    text = README.read_text(encoding="utf-8")
    section = text.split(MATRIX_HEADING, 1)[1].split("\n### ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    matrix: dict[tuple[str, str], dict[str, bool]] = {}
    for row in rows:
        cells = [cell.strip() for cell in row.strip().strip("|").split("|")]
        method, path = cells[0].strip("`").split(" ", 1)
        assert set(cells[1:]) <= {"yes", "403"}, row
        assert len(cells) == 1 + len(KINDS), row
        matrix[(method, path)] = {
            kind: cell == "yes" for kind, cell in zip(KINDS, cells[1:], strict=True)
        }
    return matrix


def admitted(rule: AccessRule, kind: str) -> bool:
    """Whether ``rule`` should let a token of ``kind`` through."""
    if kind == FIRST_PARTY:
        return True
    if kind == CLIENT_CREDENTIALS:
        return False
    return rule.scope is not None and rule.scope in APP_KINDS[kind]


class Tokens:
    """Fresh access tokens of each kind for Ada (one session per token)."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.oauth = create_oauth_app(app, scopes=ALL_SCOPES)
        # As `tekcify-auth apps allow-client-credentials` would: a live client token.
        allow_client_credentials(app, self.oauth.client_id)

    def __call__(self, kind: str) -> str:
        if kind == FIRST_PARTY:
            # What /api/auth/login issues: no client, every first-party scope.
            scopes = accounts.DEFAULT_FIRST_PARTY_SCOPES
            return client_session(self.app, None, scopes=scopes).access_token
        if kind == CLIENT_CREDENTIALS:
            ctx = self.app.state.ctx
            application = applications.find_client(ctx.db.lookups, self.oauth.client_id)
            assert application is not None
            # Granted every scope the routes ask for: still no user behind it.
            granted = client_credentials.allowed_scopes(application)
            assert granted is not None
            assert {"read:profile", "write:profile"} <= set(granted)
            claims = client_credentials.client_token_claims(
                ctx, application, granted, ctx.clock()
            )
            token: str = ctx.signer.sign(claims)
            return token
        return client_session(self.app, self.oauth.client_id, scopes=APP_KINDS[kind]).access_token


def _url(path: str) -> str:
    # An id nobody has: an admitted call then fails later (404, 400), never with 401/403.
    return re.sub(r"\{[a-z_]+\}", str(uuid.uuid4()), path)


def assert_insufficient_scope(response: httpx.Response, scope: str | None) -> None:
    """The guard's 403 (RFC 6750 §3.1), naming ``scope`` when a scope would do."""
    assert response.status_code == 403, response.text
    assert response.json() == REFUSAL
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('Bearer error="insufficient_scope"'), challenge
    if scope is None:
        assert "scope=" not in challenge
    else:
        assert challenge.endswith(f'scope="{scope}"'), challenge


async def test_every_route_answers_its_row_of_the_matrix(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client)
    rules = declared(app)
    matrix = documented()
    account = {
        key: rule for key, rule in rules.items() if key[1].startswith(ACCOUNT_PREFIXES)
    }
    undeclared = sorted(key for key, rule in rules.items() if rule is None)
    assert undeclared == sorted(OAUTH_OWN_RULES), "a Bearer route declares no rule"
    assert set(account) == set(matrix), "README's matrix and the routes differ"
    every = {(m, r.path) for r in api_routes(app) for m in r.methods}
    unlisted = {key for key in every if key[1].startswith(ACCOUNT_PREFIXES)} - set(matrix)
    assert unlisted == PUBLIC, "an account route neither public nor in the matrix"

    tokens = Tokens(app)
    for (method, path), rule in sorted(account.items()):
        assert rule is not None
        for kind in KINDS:
            expected = matrix[(method, path)][kind]
            assert admitted(rule, kind) == expected, (method, path, kind)
            response = await client.request(method, _url(path), headers=bearer(tokens(kind)))
            where = f"{method} {path} with {kind}: {response.status_code} {response.text}"
            if expected:
                assert response.status_code not in (401, 403), where
            else:
                assert response.status_code == 403, where
                assert_insufficient_scope(response, rule.scope)


def _live_sessions(app: FastAPI, email: str = "ada@example.com") -> int:
    from tekcify_auth.server.services import sessions

    ctx = app.state.ctx
    with ctx.db.read() as db:
        user = accounts.find_by_email(db, email)
        assert user is not None
        return len(
            sessions.active_sessions(db, user.id, ctx.clock(), ctx.settings.refresh_token_ttl)
        )


async def test_an_openid_app_token_cannot_see_or_end_sessions_or_try_passwords(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client)
    own = await login(client)
    oauth = create_oauth_app(app)
    app_token = client_session(app, oauth.client_id, scopes=("openid",)).access_token
    headers = bearer(app_token)
    assert _live_sessions(app) == 2

    listed = await client.get("/api/auth/sessions", headers=headers)
    assert_insufficient_scope(listed, None)
    assert "ipAddress" not in listed.text
    assert_insufficient_scope(await client.delete("/api/auth/sessions", headers=headers), None)
    assert _live_sessions(app) == 2
    # Not a password oracle: a wrong and the right password get the same refusal.
    for guess in ("wrong password 1", PASSWORD):
        answer = await client.post(
            "/api/auth/password/change", headers=headers,
            json={"currentPassword": guess, "newPassword": "a brand new passphrase"},
        )
        assert_insufficient_scope(answer, None)
    assert _live_sessions(app) == 2
    await login(client)  # the password is unchanged
    # The account holder's own session still does all of it.
    mine = await client.get("/api/auth/sessions", headers=bearer(own["accessToken"]))
    assert mine.status_code == 200


async def test_a_client_credentials_token_reaches_no_user_route(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client)
    tokens = Tokens(app)
    token = tokens(CLIENT_CREDENTIALS)
    for method, path, scope in (
        ("GET", "/api/user/profile", "read:profile"),
        ("PUT", "/api/user/profile", "write:profile"),
        ("GET", "/api/auth/sessions", None),
        ("GET", "/api/applications", None),
    ):
        response = await client.request(
            method, path, headers=bearer(token),
            **({"json": {"firstName": "Mallory"}} if method == "PUT" else {}),
        )
        assert_insufficient_scope(response, scope)


async def test_an_app_token_with_write_profile_changes_the_profile_and_nothing_else(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await register(client)
    writer = Tokens(app)("app: write:profile")
    changed = await client.put(
        "/api/user/profile", headers=bearer(writer), json={"firstName": "Ada"}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["firstName"] == "Ada"
    assert_insufficient_scope(
        await client.get("/api/user/profile", headers=bearer(writer)), "read:profile"
    )
    assert_insufficient_scope(
        await client.get("/api/user/export-data", headers=bearer(writer)), None
    )


@pytest.mark.parametrize("kind", list(APP_KINDS))
async def test_a_revoked_app_session_is_401_not_403(
    app: FastAPI, client: httpx.AsyncClient, kind: str
) -> None:
    await register(client)
    token = Tokens(app)(kind)
    own = await login(client)
    await client.delete("/api/auth/sessions", headers=bearer(own["accessToken"]))
    response = await client.get("/api/auth/sessions", headers=bearer(token))
    assert response.status_code == 401
