"""The key lifecycle: next, active, retired, revoked, expired (issue 17, item 3).

``keys rotate`` publishes the next key at once and signs with it only after the JWKS
``max-age`` plus the reload interval; the proof runs the library's
:class:`~tekcify_auth.JwksVerifier` (``refetch_cooldown=30``, the default cache) against
a real server on 127.0.0.1 through a rotation, with the server's clock and the
verifiers' driven together. ``keys revoke`` withdraws a key at once: the second proof
sees its tokens refused by introspection, UserInfo and an account route on two
instances sharing one database.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tekcify_auth import JwksVerifier
from tekcify_auth.server import context as server_context
from tekcify_auth.server import create_app
from tekcify_auth.server.context import ServerContext
from tekcify_auth.server.db.models import SigningKey, UserSession
from tekcify_auth.server.services import keystore
from tekcify_auth.server.services.keys import key_cipher
from tekcify_auth.server.settings import Settings

from .conftest import PASSWORD, FakeClock, bearer, login, running, signed_up
from .test_keys import cli_env, key_settings, kid_of, run_cli, serve

INTROSPECT = "/api/oauth/token/introspect"
USERINFO = "/api/oauth/userinfo"
PROFILE = "/api/user/profile"
JWKS = "/api/.well-known/jwks.json"


def cli_on(clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the CLI, run in this process, read the servers' fake clock."""
    monkeypatch.setattr(server_context, "utcnow", clock)


def rotate(ctx: ServerContext, *, immediate: bool = False) -> keystore.Rotation:
    cipher, _ = key_cipher(ctx.settings)
    with ctx.db.write() as db:
        return keystore.rotate_key(db, ctx.settings, cipher, ctx.clock(), immediate=immediate)


def states(ctx: ServerContext) -> dict[str, str]:
    with ctx.db.read() as db:
        return {k.kid: k.state for k in keystore.list_keys(db, ctx.settings, ctx.clock())}


async def published(client: httpx.AsyncClient) -> list[str]:
    return [key["kid"] for key in (await client.get(JWKS)).json()["keys"]]


async def active(client: httpx.AsyncClient, token: str) -> bool:
    answer = await client.post(INTROSPECT, json={"token": token})
    assert answer.status_code == 200, answer.text
    value: bool = answer.json()["active"]
    return value


async def refreshed(client: httpx.AsyncClient, pair: dict[str, Any]) -> dict[str, Any]:
    answer = await client.post("/api/auth/refresh", json={"refreshToken": pair["refreshToken"]})
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def switch_time(printed: str) -> datetime:
    found = re.search(r"signing switches to \S+ at \d\d:\d\d UTC \((\S+)\)", printed)
    assert found, printed
    return datetime.strptime(found.group(1), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


# -- states -----------------------------------------------------------------------------------


def test_a_key_from_before_0011_is_active_from_its_creation() -> None:
    settings = key_settings("sqlite://", Path("."))
    made = datetime(2026, 1, 1, tzinfo=UTC)
    row = SigningKey(kid="k", alg="ES256", public_jwk="{}", private_key=b"", created_at=made)
    assert row.activates_at is None
    assert keystore.key_state(row, settings, made) == "active"
    row.retired_at = made + timedelta(hours=1)
    retention = keystore.retention(settings)
    assert keystore.key_state(row, settings, made + timedelta(minutes=59)) == "active"
    assert keystore.key_state(row, settings, made + timedelta(hours=1)) == "retired"
    assert keystore.key_state(row, settings, row.retired_at + retention) == "expired"
    row.revoked_at = made
    assert keystore.key_state(row, settings, made) == "revoked"


def test_the_publication_delay_is_the_jwks_max_age_plus_the_reload_interval() -> None:
    settings = key_settings("sqlite://", Path("."), key_reload_interval=7)
    assert keystore.publication_delay(settings) == timedelta(
        seconds=300 + 7 + keystore.ACTIVATION_MARGIN
    )
    shorter = key_settings("sqlite://", Path("."), key_reload_interval=7, jwks_max_age=60)
    assert keystore.publication_delay(shorter) == timedelta(
        seconds=60 + 7 + keystore.ACTIVATION_MARGIN
    )


async def test_rotate_publishes_the_next_key_and_every_instance_switches_by_itself(
    clean_db: str, tmp_path: Path, clock: FakeClock
) -> None:
    settings = key_settings(clean_db, tmp_path)
    async with running(settings, clock) as (app_a, a), running(settings, clock) as (_b, b):
        pair = await signed_up(a)
        old = kid_of(pair["accessToken"])
        rotation = rotate(app_a.state.ctx)
        new = rotation.active.kid
        assert rotation.active.state == "next"
        assert rotation.retired == (old,)
        assert rotation.switch_at == clock() + keystore.publication_delay(settings)
        assert states(app_a.state.ctx) == {old: "active", new: "next"}
        clock.advance(settings.key_reload_interval)  # every instance has re-read the keys
        for client in (a, b):
            assert await published(client) == [old, new]
        # Both go on signing with the active key until the switch...
        clock.now = rotation.switch_at - timedelta(seconds=1)
        for client in (a, b):
            pair = await refreshed(client, pair)
            assert kid_of(pair["accessToken"]) == old
        # ...and switch at that moment by themselves: no reload, no command.
        clock.now = rotation.switch_at
        for client in (a, b):
            assert kid_of((await login(client))["accessToken"]) == new
        assert states(app_a.state.ctx) == {old: "retired", new: "active"}
        assert await active(b, pair["accessToken"])


async def test_a_second_rotation_waits_for_the_next_key_unless_now(
    clean_db: str, tmp_path: Path, clock: FakeClock
) -> None:
    settings = key_settings(clean_db, tmp_path)
    async with running(settings, clock) as (app, client):
        ctx: ServerContext = app.state.ctx
        first = kid_of((await signed_up(client))["accessToken"])
        waiting = rotate(ctx).active.kid
        with pytest.raises(keystore.KeyPending) as refused:
            rotate(ctx)
        assert refused.value.pending.kid == waiting
        assert states(ctx) == {first: "active", waiting: "next"}
        emergency = rotate(ctx, immediate=True)
        assert set(emergency.retired) == {first, waiting}
        assert states(ctx) == {first: "retired", waiting: "retired", emergency.active.kid: "active"}
        clock.advance(settings.key_reload_interval)
        assert kid_of((await login(client))["accessToken"]) == emergency.active.kid


def test_keys_rotate_prints_when_signing_switches(
    clean_db: str, tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cli_on(clock, monkeypatch)
    env = cli_env(clean_db, tmp_path, "ES256")
    assert run_cli(["keys", "list"], monkeypatch, env) == 0  # the first key is made
    capsys.readouterr()
    assert run_cli(["keys", "rotate"], monkeypatch, env) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("next signing key ")
    settings = key_settings(clean_db, tmp_path)
    assert switch_time(printed) == clock() + keystore.publication_delay(settings)
    at = switch_time(printed).strftime("%H:%M")
    assert f"signing switches to {printed.split()[3]} at {at} UTC" in printed
    assert run_cli(["keys", "rotate"], monkeypatch, env) == 1
    refused = capsys.readouterr().err
    assert "is already next" in refused
    assert "--now" in refused


# -- the proof: no valid token refused through a rotation ----------------------------------


class ResourceServers:
    """Resource servers that each started at a different moment: a JwksVerifier with
    ``refetch_cooldown=30`` and the default cache (``cache_ttl=3600``, bounded by the
    JWKS ``max-age``), on the test's clock."""

    def __init__(self, base: str, clock: Callable[[], float], http: httpx.Client) -> None:
        self.base = base
        self.clock = clock
        self.http = http  # one client for all (a new one per fetch costs a TLS context)
        self.verifiers: list[JwksVerifier] = []
        self.refusals: list[str] = []

    def start_one(self) -> None:
        self.verifiers.append(
            JwksVerifier(
                auth_server_url=self.base, refetch_cooldown=30, clock=self.clock,
                http_client=self.http,
            )
        )

    def check(self, token: str, when: str) -> None:
        for index, verifier in enumerate(self.verifiers):
            result = verifier.verify(token)
            if not result.valid:
                self.refusals.append(f"{when}: resource server {index}: {result.error}")


def drive_rotation(
    settings: Settings, clock: FakeClock, *, immediate: bool
) -> tuple[ResourceServers, str, str]:
    """Run a server on 127.0.0.1 through a rotation while resource servers verify every
    fresh token (and the last of the old key until it expires); returns them and the
    two kids."""
    step = 10.0
    app = create_app(settings, clock=clock)
    with serve(app) as base, httpx.Client(base_url=base, timeout=10) as http:
        assert http.post(
            "/api/auth/register", json={"email": "ada@example.com", "password": PASSWORD}
        ).status_code == 201
        pair = http.post(
            "/api/auth/login", json={"email": "ada@example.com", "password": PASSWORD}
        ).json()
        servers = ResourceServers(base, lambda: clock().timestamp(), http)
        old_kid = kid_of(pair["accessToken"])
        last_of_old = pair["accessToken"]
        ctx: ServerContext = app.state.ctx
        total = keystore.publication_delay(settings) + keystore.retention(settings)
        steps = int(total.total_seconds() / step) + 20
        new_kid = ""
        for index in range(steps):
            if index % 3 == 0:
                servers.start_one()  # one that has fetched nothing yet, at this moment
            if index == 10:  # 100 s in: every resource server holds a set with old_kid
                new_kid = rotate(ctx, immediate=immediate).active.kid
            answer = http.post("/api/auth/refresh", json={"refreshToken": pair["refreshToken"]})
            assert answer.status_code == 200, answer.text
            pair = answer.json()
            token = pair["accessToken"]
            when = f"t+{index * step:g}s"
            servers.check(token, when)
            if kid_of(token) == old_kid:
                last_of_old = token
            elif clock().timestamp() < jwt_exp(last_of_old):
                servers.check(last_of_old, when + " (the old key's last token)")
            clock.advance(step)
        assert kid_of(pair["accessToken"]) == new_kid
        kids = [key["kid"] for key in http.get(JWKS).json()["keys"]]
        assert kids == [new_kid]  # the old key left once its last token had expired
    return servers, old_kid, new_kid


def jwt_exp(token: str) -> float:
    body = token.split(".")[1]
    return float(json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))["exp"])


@pytest.mark.slow
def test_no_valid_token_is_refused_by_jwks_verifiers_through_a_rotation(
    clean_db: str, tmp_path: Path, clock: FakeClock
) -> None:
    settings = key_settings(clean_db, tmp_path)  # reload interval 5 s, access tokens 900 s
    servers, _old, _new = drive_rotation(settings, clock, immediate=False)
    assert len(servers.verifiers) >= 50
    assert servers.refusals == []


@pytest.mark.slow
def test_an_immediate_rotation_is_refused_by_resource_servers_with_a_fresh_jwks(
    clean_db: str, tmp_path: Path, clock: FakeClock
) -> None:
    # The emergency switch (`keys rotate --now`), and what every rotation did before:
    # the same harness sees resource servers refuse the new key's first tokens.
    settings = key_settings(clean_db, tmp_path)
    servers, _old, _new = drive_rotation(settings, clock, immediate=True)
    assert servers.refusals
    assert all(refusal.endswith("unknown_key") for refusal in servers.refusals)


# -- revocation -------------------------------------------------------------------------------


async def refused_everywhere(
    clients: tuple[httpx.AsyncClient, ...], token: str
) -> None:
    for client in clients:
        assert not await active(client, token)
        for path in (USERINFO, PROFILE):
            answer = await client.get(path, headers=bearer(token))
            assert answer.status_code == 401, (path, answer.text)


async def accepted_everywhere(
    clients: tuple[httpx.AsyncClient, ...], token: str
) -> None:
    for client in clients:
        assert await active(client, token)
        for path in (USERINFO, PROFILE):
            answer = await client.get(path, headers=bearer(token))
            assert answer.status_code == 200, (path, answer.text)


async def test_a_revoked_key_s_tokens_are_refused_by_both_instances(
    clean_db: str, tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cli_on(clock, monkeypatch)
    env = cli_env(clean_db, tmp_path, "ES256")
    settings = key_settings(clean_db, tmp_path)
    async with running(settings, clock) as (app_a, a), running(settings, clock) as (_b, b):
        pair = await signed_up(a)
        leaked = kid_of(pair["accessToken"])
        # Both instances verified the token: it sits in their verifiers' caches.
        await accepted_everywhere((a, b), pair["accessToken"])

        # The key that signs is revoked only with --now, which makes its successor.
        assert run_cli(["keys", "revoke", "--", leaked], monkeypatch, env) == 1
        assert "--now" in capsys.readouterr().err
        assert states(app_a.state.ctx) == {leaked: "active"}
        assert run_cli(["keys", "revoke", "--now", "--", leaked], monkeypatch, env) == 0
        printed = capsys.readouterr().out
        assert printed.startswith(f"revoked {leaked}: out of the JWKS now")
        found = re.search(r"new signing key (\S+) \(ES256\), signing now", printed)
        assert found, printed
        successor = found.group(1)
        assert states(app_a.state.ctx) == {leaked: "revoked", successor: "active"}

        clock.advance(settings.key_reload_interval)  # every instance has re-read the keys
        for client in (a, b):
            assert await published(client) == [successor]
        await refused_everywhere((a, b), pair["accessToken"])
        # The session lives on (no --revoke-sessions): its refresh token gets a token of
        # the new key, good everywhere.
        fresh = await refreshed(b, pair)
        assert kid_of(fresh["accessToken"]) == successor
        await accepted_everywhere((a, b), fresh["accessToken"])


async def test_revoke_sessions_ends_the_sessions_whose_access_tokens_the_key_signed(
    clean_db: str, tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cli_on(clock, monkeypatch)
    settings = key_settings(clean_db, tmp_path)
    async with running(settings, clock) as (app_a, a), running(settings, clock) as (_b, b):
        ctx: ServerContext = app_a.state.ctx
        stays = await signed_up(a)  # signed by the first key, refreshed under the next
        ends = await login(a)  # signed by the first key only
        leaked = kid_of(ends["accessToken"])
        rotation = rotate(ctx, immediate=True)
        clock.advance(settings.key_reload_interval)
        stays = await refreshed(b, stays)
        assert kid_of(stays["accessToken"]) == rotation.active.kid
        with ctx.db.read() as db:
            kids = dict(db.execute(select(UserSession.id, UserSession.signing_kid)).all())
        assert sorted(kids.values()) == sorted([leaked, rotation.active.kid])

        env = cli_env(clean_db, tmp_path, "ES256")
        assert run_cli(["keys", "revoke", "--revoke-sessions", "--", leaked], monkeypatch, env) == 0
        assert "revoked 1 session(s) whose access tokens" in capsys.readouterr().out
        clock.advance(settings.key_reload_interval)
        await refused_everywhere((a, b), ends["accessToken"])
        for client in (a, b):
            answer = await client.post(
                "/api/auth/refresh", json={"refreshToken": ends["refreshToken"]}
            )
            assert answer.status_code == 401
        await accepted_everywhere((a, b), stays["accessToken"])
        assert kid_of((await refreshed(a, stays))["accessToken"]) == rotation.active.kid


async def test_revoking_the_next_key_keeps_the_active_one_signing(
    clean_db: str, tmp_path: Path, clock: FakeClock
) -> None:
    settings = key_settings(clean_db, tmp_path)
    async with running(settings, clock) as (app, client):
        ctx: ServerContext = app.state.ctx
        current = kid_of((await signed_up(client))["accessToken"])
        rotation = rotate(ctx)
        with ctx.db.write() as db:
            revocation = keystore.revoke_key(
                db, settings, rotation.active.kid, ctx.clock(),
                cipher=lambda: key_cipher(settings)[0],
            )
        assert revocation.restored == (current,)
        assert revocation.replacement is None
        assert states(ctx) == {current: "active", rotation.active.kid: "revoked"}
        assert rotation.switch_at is not None
        clock.now = rotation.switch_at + timedelta(seconds=1)
        assert kid_of((await login(client))["accessToken"]) == current
        assert await published(client) == [current]
        # And a rotation may be scheduled again.
        assert rotate(ctx).active.state == "next"


async def test_an_instance_whose_clock_runs_behind_signs_with_the_key_revoke_made(
    clean_db: str, tmp_path: Path, clock: FakeClock
) -> None:
    # `keys revoke --now` ran on a host whose clock is 30 s ahead: by the instance's
    # clock its new key is not active yet, and the revoked one no longer is.
    settings = key_settings(clean_db, tmp_path)
    async with running(settings, clock) as (app, client):
        ctx: ServerContext = app.state.ctx
        pair = await signed_up(client)
        with ctx.db.write() as db:
            revocation = keystore.revoke_key(
                db, settings, kid_of(pair["accessToken"]), ctx.clock() + timedelta(seconds=30),
                cipher=lambda: key_cipher(settings)[0], replace=True,
            )
        assert revocation.replacement is not None
        clock.advance(settings.key_reload_interval)  # re-read; the CLI's clock still ahead
        await refused_everywhere((client,), pair["accessToken"])
        fresh = await login(client)
        assert kid_of(fresh["accessToken"]) == revocation.replacement.kid
        await accepted_everywhere((client,), fresh["accessToken"])


def test_keys_revoke_names_an_unknown_kid(
    clean_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    env = cli_env(clean_db, tmp_path, "ES256")
    assert run_cli(["keys", "revoke", "no-such-kid"], monkeypatch, env) == 1
    assert "no signing key no-such-kid" in capsys.readouterr().err


def test_keys_list_json_is_machine_readable_and_never_holds_key_material(
    clean_db: str, tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cli_on(clock, monkeypatch)
    env = cli_env(clean_db, tmp_path, "ES256")
    assert run_cli(["keys", "list"], monkeypatch, env) == 0  # the first key is made
    assert run_cli(["keys", "rotate"], monkeypatch, env) == 0
    capsys.readouterr()
    assert run_cli(["keys", "list", "--json"], monkeypatch, env) == 0
    printed = capsys.readouterr().out
    listed = json.loads(printed)  # nothing but the JSON on standard output
    assert [key["state"] for key in listed] == ["active", "next"]
    for key in listed:
        assert set(key) == {"kid", "alg", "state", "ageSeconds", "createdAt", "activatesAt",
                            "retiredAt", "publishedUntil", "revokedAt", "purpose"}
        assert key["purpose"] == "access"  # ES256 signs id tokens too (no key of their own)
        assert key["alg"] == "ES256"
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", key["createdAt"])
    assert listed[1]["activatesAt"] == (
        clock() + keystore.publication_delay(key_settings(clean_db, tmp_path))
    ).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert "PRIVATE" not in printed  # the fields above are all there is: no key material
