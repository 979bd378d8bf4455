"""The administration commands (issue 17, items 4 and 5), run as the real command line
on SQLite and PostgreSQL: ``invites``, and ``users`` and ``apps`` beyond create/list."""

from __future__ import annotations

import base64
import io
import json
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from tekcify_auth.cli import main
from tekcify_auth.server.services.applications import find_application
from tekcify_auth.server.settings import load_settings

from .conftest import PASSWORD, running
from .test_cli import cli_env  # noqa: F401  (the fixture)


@pytest.fixture
def admin_env(
    cli_env: Path,  # noqa: F811
    clean_db: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Path:
    """The CLI's environment on this run's database (SQLite or PostgreSQL)."""
    monkeypatch.setenv("TEKCIFY_DATABASE_URL", clean_db)
    monkeypatch.setenv("TEKCIFY_MAIL_POLL_INTERVAL", "0")
    return cli_env


def cli(
    args: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    stdin: str = "",
) -> tuple[int, str, str]:
    """Run ``tekcify-auth ARGS``; its exit status, output and errors."""
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    try:
        code = main(args)
    except SystemExit as exc:  # argparse refusing the arguments
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# -- invites -------------------------------------------------------------------------------


async def test_invites_create_list_revoke(
    admin_env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, err = cli(["invites", "create", "--uses", "2", "--expires", "7d", "--json"],
                         capsys, monkeypatch)
    assert code == 0, err
    made = json.loads(out)  # the JSON alone on standard output
    assert made["maxUses"] == 2
    assert made["expiresAt"] is not None
    assert "TEKCIFY_REGISTRATION=invite" in err  # registration is open: it says so
    code, out, _ = cli(["invites", "list", "--json"], capsys, monkeypatch)
    listed = json.loads(out)
    assert set(listed[0]) == {"id", "state", "uses", "maxUses", "createdAt", "expiresAt",
                              "revokedAt"}
    assert [(i["id"], i["state"], i["uses"]) for i in listed] == [(made["id"], "usable", 0)]
    assert made["code"] not in out  # never shown again

    monkeypatch.setenv("TEKCIFY_REGISTRATION", "invite")
    settings = load_settings()
    async with running(settings) as (_app, client):
        body = {"email": "ada@example.com", "password": PASSWORD, "inviteCode": made["code"]}
        assert (await client.post("/api/auth/register", json=body)).status_code == 201
    code, out, _ = cli(["invites", "list"], capsys, monkeypatch)
    assert "1/2" in out
    assert "usable" in out

    code, out, _ = cli(["invites", "revoke", made["id"]], capsys, monkeypatch)
    assert code == 0
    assert "revoked" in out
    async with running(settings) as (_app, client):
        body = {"email": "bob@example.com", "password": PASSWORD, "inviteCode": made["code"]}
        assert (await client.post("/api/auth/register", json=body)).status_code == 403
    code, _, err = cli(["invites", "revoke", made["id"]], capsys, monkeypatch)
    assert code == 1
    assert "tekcify-auth invites list" in err


def test_invites_refuse_a_bad_duration_or_count(
    admin_env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, _, err = cli(["invites", "create", "--expires", "soon"], capsys, monkeypatch)
    assert code == 2
    assert "e.g. 30m, 12h, 7d or 2w" in err
    code, _, err = cli(["invites", "create", "--uses", "0"], capsys, monkeypatch)
    assert code == 2
    assert "1 or more" in err


# -- users ---------------------------------------------------------------------------------


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def _create_user(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    email: str = "ada@example.com",
) -> None:
    code, _, err = cli(["users", "create", "--email", email, "--password-stdin"],
                       capsys, monkeypatch, stdin=PASSWORD + "\n")
    assert code == 0, err


async def _login(email: str = "ada@example.com") -> dict[str, Any]:
    async with running(load_settings()) as (_app, client):
        answer = await client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body


async def _refresh(refresh_token: str) -> httpx.Response:
    async with running(load_settings()) as (_app, client):
        return await client.post("/api/auth/refresh", json={"refreshToken": refresh_token})


async def test_users_show_prints_the_accounts_facts(
    admin_env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _create_user(capsys, monkeypatch)
    code, out, _ = cli(["users", "show", "ada@example.com"], capsys, monkeypatch)
    assert code == 0
    assert "last login:" in out
    assert "live sessions:  0" in out
    await _login()
    await _login()
    code, out, _ = cli(["users", "show", "Ada@Example.com", "--json"], capsys, monkeypatch)
    facts = json.loads(out)
    assert facts["email"] == "ada@example.com"
    assert facts["role"] == "user"
    assert facts["state"] == "active"
    assert facts["emailVerified"] is False
    assert facts["liveSessions"] == 2
    assert facts["lastLoginAt"] is not None
    assert facts["applications"] == 0
    assert set(facts) >= {"id", "createdAt"}
    code, _, err = cli(["users", "show", "nobody@example.com"], capsys, monkeypatch)
    assert code == 1
    assert "User not found: nobody@example.com (tekcify-auth users list" in err


async def test_users_set_role_changes_the_next_tokens_role(
    admin_env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _create_user(capsys, monkeypatch)
    pair = await _login()
    assert _claims(pair["accessToken"])["role"] == "user"
    code, out, _ = cli(["users", "set-role", "ada@example.com", "admin"], capsys, monkeypatch)
    assert code == 0
    assert "now has the role admin (was user)" in out
    assert "users revoke-sessions ada@example.com" in out
    refreshed = await _refresh(pair["refreshToken"])
    assert _claims(refreshed.json()["accessToken"])["role"] == "admin"
    code, out, _ = cli(["users", "set-role", "ada@example.com", "admin"], capsys, monkeypatch)
    assert "nothing changed" in out
    code, _, err = cli(["users", "set-role", "ada@example.com", "root"], capsys, monkeypatch)
    assert code == 2
    assert "invalid choice" in err
    code, _, err = cli(["users", "set-role", "nobody@example.com", "user"], capsys, monkeypatch)
    assert code == 1
    assert "User not found" in err
    # The user's activity says an administrator did it.
    async with running(load_settings()) as (_app, client):
        mine = await client.get(
            "/api/security/activity", params={"activityType": "role_changed"},
            headers={"Authorization": f"Bearer {(await _login_with(client))['accessToken']}"},
        )
    events = mine.json()["data"] if "data" in mine.json() else mine.json()["activities"]
    assert [e["metadata"] for e in events] == [{"by": "admin", "from": "user", "to": "admin"}]


async def _login_with(client: httpx.AsyncClient) -> dict[str, Any]:
    answer = await client.post(
        "/api/auth/login", json={"email": "ada@example.com", "password": PASSWORD}
    )
    body: dict[str, Any] = answer.json()
    return body


async def test_users_revoke_sessions_ends_every_session(
    admin_env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _create_user(capsys, monkeypatch)
    first, second = await _login(), await _login()
    code, out, _ = cli(["users", "revoke-sessions", "ada@example.com"], capsys, monkeypatch)
    assert code == 0
    assert "ended 2 sessions of ada@example.com" in out
    for pair in (first, second):
        assert (await _refresh(pair["refreshToken"])).status_code == 401
    code, _, err = cli(["users", "revoke-sessions", "nobody@example.com"], capsys, monkeypatch)
    assert code == 1
    assert "User not found" in err


async def test_users_delete_asks_for_the_email_unless_yes(
    admin_env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _create_user(capsys, monkeypatch)
    _create_user(capsys, monkeypatch, "bob@example.com")
    pair = await _login()
    code, out, err = cli(["users", "delete", "ada@example.com"], capsys, monkeypatch,
                         stdin="bob@example.com\n")
    assert code == 1
    assert "Type ada@example.com to confirm" in out
    assert "not deleted" in err
    assert "--yes" in err
    code, out, _ = cli(["users", "list"], capsys, monkeypatch)
    assert "ada@example.com" in out
    code, out, err = cli(["users", "delete", "ada@example.com"], capsys, monkeypatch,
                         stdin="ada@example.com\n")
    assert code == 0, err
    assert "deleted ada@example.com" in out
    assert (await _refresh(pair["refreshToken"])).status_code == 401
    code, out, _ = cli(["users", "delete", "bob@example.com", "--yes"], capsys, monkeypatch)
    assert code == 0
    code, out, _ = cli(["users", "list"], capsys, monkeypatch)
    assert "@example.com" not in out
    code, _, err = cli(["users", "delete", "ada@example.com", "--yes"], capsys, monkeypatch)
    assert code == 1
    assert "User not found" in err


# -- apps ----------------------------------------------------------------------------------


async def _client_token(client_id: str, secret: str) -> httpx.Response:
    async with running(load_settings()) as (_app, client):
        return await client.post(
            "/api/oauth/token", auth=(client_id, secret),
            data={"grant_type": "client_credentials"},
        )


def _create_app(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> tuple[str, str]:
    code, out, err = cli([
        "apps", "create", "--owner", "ada@example.com", "--name", "Orders",
        "--redirect-uri", "https://orders.example.com/callback",
        "--redirect-uri", "http://127.0.0.1/callback", "--scopes", "openid profile",
        "--json",
    ], capsys, monkeypatch)
    assert code == 0, err
    made = json.loads(out)
    return made["clientId"], made["clientSecret"]


async def test_apps_create_list_show(
    admin_env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _create_user(capsys, monkeypatch)
    code, out, err = cli([
        "apps", "create", "--owner", "Ada@Example.com", "--name", "Orders",
        "--redirect-uri", "https://orders.example.com/callback", "--scopes", "openid profile",
    ], capsys, monkeypatch)
    assert code == 0, err
    client_id = out.split("client id:", 1)[1].split()[0]
    secret = out.split("client secret:", 1)[1].split()[0]
    assert "shown this once" in out
    code, out, _ = cli(["apps", "list"], capsys, monkeypatch)
    assert client_id in out
    assert "confidential" in out
    assert secret not in out
    code, out, _ = cli(["apps", "list", "--json"], capsys, monkeypatch)
    (listed,) = json.loads(out)
    assert secret not in out
    assert set(listed) == {"clientId", "name", "owner", "type", "state", "createdAt",
                           "redirectUris", "authorizedOrigins", "scopes",
                           "clientCredentialsScopes", "description"}
    assert listed["createdAt"].endswith("Z")
    assert listed["clientId"] == client_id
    assert listed["owner"] == "ada@example.com"
    assert listed["state"] == "active"
    assert listed["scopes"] == ["openid", "profile"]
    code, out, _ = cli(["apps", "show", client_id], capsys, monkeypatch)
    assert "https://orders.example.com/callback" in out
    assert "not allowed" in out  # client_credentials
    assert secret not in out
    code, _, _ = cli(["apps", "allow-client-credentials", client_id, "--scopes", "profile"],
                     capsys, monkeypatch)
    assert (await _client_token(client_id, secret)).status_code == 200
    code, out, _ = cli(["apps", "show", client_id, "--json"], capsys, monkeypatch)
    assert json.loads(out)["clientCredentialsScopes"] == ["profile"]
    code, _, err = cli(["apps", "show", "nope"], capsys, monkeypatch)
    assert code == 1
    assert "Application not found: nope (tekcify-auth apps list" in err


def test_apps_create_refuses_bad_input_saying_how_to_fix_it(
    admin_env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    base = ["apps", "create", "--name", "Orders", "--scopes", "openid"]
    code, _, err = cli([*base, "--owner", "nobody@example.com", "--redirect-uri",
                        "https://a.example.com/cb"], capsys, monkeypatch)
    assert code == 1
    assert "tekcify-auth users create --email nobody@example.com" in err
    _create_user(capsys, monkeypatch)
    code, _, err = cli([*base, "--owner", "ada@example.com", "--redirect-uri",
                        "https://a.example.com/*"], capsys, monkeypatch)
    assert code == 1
    assert "redirectUris" in err
    assert "--redirect-uri" in err
    code, _, err = cli(["apps", "create", "--owner", "ada@example.com", "--name", "Orders",
                        "--scopes", "fly:planes", "--redirect-uri", "https://a.example.com/cb"],
                       capsys, monkeypatch)
    assert code == 1
    assert "unknown scope 'fly:planes'" in err
    assert "TEKCIFY_EXTRA_SCOPES" in err
    code, _, err = cli(["apps", "create", "--owner", "ada@example.com", "--name", "Orders",
                        "--scopes", "openid"], capsys, monkeypatch)
    assert code == 2
    assert "--redirect-uri" in err
    code, out, _ = cli(["apps", "list", "--json"], capsys, monkeypatch)
    assert json.loads(out) == []


async def test_apps_deactivate_activate_and_regenerate_secret(
    admin_env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _create_user(capsys, monkeypatch)
    client_id, secret = _create_app(capsys, monkeypatch)
    cli(["apps", "allow-client-credentials", client_id, "--scopes", "profile"],
        capsys, monkeypatch)
    code, out, _ = cli(["apps", "deactivate", client_id], capsys, monkeypatch)
    assert code == 0
    assert f"tekcify-auth apps activate {client_id}" in out
    assert (await _client_token(client_id, secret)).status_code == 401
    code, out, _ = cli(["apps", "show", client_id, "--json"], capsys, monkeypatch)
    assert json.loads(out)["state"] == "inactive"
    code, out, _ = cli(["apps", "activate", client_id], capsys, monkeypatch)
    assert code == 0
    assert (await _client_token(client_id, secret)).status_code == 200
    code, out, _ = cli(["apps", "regenerate-secret", client_id], capsys, monkeypatch)
    assert code == 0
    assert "shown this once" in out
    new_secret = out.split("client secret:", 1)[1].split()[0]
    assert new_secret != secret
    assert (await _client_token(client_id, secret)).status_code == 401
    assert (await _client_token(client_id, new_secret)).status_code == 200
    for action in ("deactivate", "activate", "regenerate-secret"):
        code, _, err = cli(["apps", action, "nope"], capsys, monkeypatch)
        assert code == 1
        assert "Application not found" in err


async def test_apps_delete_asks_for_the_client_id_unless_yes(
    admin_env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _create_user(capsys, monkeypatch)
    client_id, secret = _create_app(capsys, monkeypatch)
    other_id, _ = _create_app(capsys, monkeypatch)
    code, _, err = cli(["apps", "delete", client_id], capsys, monkeypatch, stdin="no\n")
    assert code == 1
    assert "not deleted" in err
    # Still there: its secret authenticates (it is not allowed client_credentials).
    kept = await _client_token(client_id, secret)
    assert kept.json()["error"] == "unauthorized_client"
    code, out, _ = cli(["apps", "delete", client_id], capsys, monkeypatch, stdin=client_id + "\n")
    assert code == 0
    assert f"deleted {client_id}" in out
    gone = await _client_token(client_id, secret)
    assert gone.json()["error"] == "invalid_client"
    code, out, _ = cli(["apps", "delete", other_id, "--yes"], capsys, monkeypatch)
    assert code == 0
    code, out, _ = cli(["apps", "list", "--json"], capsys, monkeypatch)
    assert json.loads(out) == []
    code, _, err = cli(["apps", "delete", client_id, "--yes"], capsys, monkeypatch)
    assert code == 1
    assert "Application not found" in err


def test_users_list_json(
    admin_env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _create_user(capsys, monkeypatch)
    cli(["users", "disable", "ada@example.com"], capsys, monkeypatch)
    code, out, _ = cli(["users", "list", "--json"], capsys, monkeypatch)
    assert code == 0
    (listed,) = json.loads(out)
    assert (listed["email"], listed["role"], listed["state"]) == (
        "ada@example.com", "user", "disabled"
    )


def test_users_create_works_when_registration_is_closed(
    admin_env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEKCIFY_REGISTRATION", "closed")
    _create_user(capsys, monkeypatch)
    code, out, _ = cli(["users", "list"], capsys, monkeypatch)
    assert code == 0
    assert "ada@example.com" in out


async def test_users_disable_and_enable_are_in_the_users_activity(
    admin_env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _create_user(capsys, monkeypatch)
    for action in ("disable", "enable", "enable"):  # the second enable changes nothing
        code, _, err = cli(["users", action, "ada@example.com"], capsys, monkeypatch)
        assert code == 0, err
    async with running(load_settings()) as (_app, client):
        token = (await _login_with(client))["accessToken"]
        mine = await client.get(
            "/api/security/activity", headers={"Authorization": f"Bearer {token}"}
        )
    events = [(e["activityType"], e["metadata"]) for e in mine.json()["activities"]
              if e["activityType"].startswith("account_")]
    assert events == [("account_enabled", {"by": "admin"}), ("account_disabled", {"by": "admin"})]


async def test_apps_create_public_makes_a_client_without_a_secret(
    admin_env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _create_user(capsys, monkeypatch)
    code, out, err = cli([
        "apps", "create", "--owner", "ada@example.com", "--name", "Mobile", "--public",
        "--redirect-uri", "com.example.mobile:/callback", "--scopes", "openid profile",
        "--post-logout-redirect-uri", "com.example.mobile:/signed-out",
    ], capsys, monkeypatch)
    assert code == 0, err
    assert "created the public application 'Mobile'" in out
    assert "client secret" not in out
    client_id = out.split("client id:", 1)[1].split()[0]
    code, out, _ = cli(["apps", "show", client_id, "--json"], capsys, monkeypatch)
    assert json.loads(out)["type"] == "public"
    async with running(load_settings()) as (app, _client):
        with app.state.ctx.db.read() as db:
            made = find_application(db, client_id)
            assert made is not None
            assert made.post_logout_redirect_uris == ["com.example.mobile:/signed-out"]
    code, _, err = cli([
        "apps", "create", "--owner", "ada@example.com", "--name", "Bad", "--scopes", "openid",
        "--redirect-uri", "https://a.example/cb", "--post-logout-redirect-uri", "http://a.example/",
    ], capsys, monkeypatch)
    assert code == 1
    assert "postLogoutRedirectUris.0" in err
    code, out, err = cli([
        "apps", "create", "--owner", "ada@example.com", "--name", "Desktop", "--public",
        "--redirect-uri", "http://127.0.0.1/callback", "--scopes", "openid", "--json",
    ], capsys, monkeypatch)
    assert code == 0, err
    assert set(json.loads(out)) == {"clientId", "type"}
