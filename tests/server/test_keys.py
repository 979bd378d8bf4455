"""Asymmetric signing keys: made on first start, stored encrypted, rotated, published.

The last tests run the server for real on 127.0.0.1 and verify its tokens with the
library's :class:`~tekcify_auth.JwksVerifier` across a ``tekcify-auth keys rotate``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import socket
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from joserfc import jws
from sqlalchemy import delete, select

from tekcify_auth import JwksVerifier, TokenVerifier, verify_access_token
from tekcify_auth._keys import SignatureRegistry, load_public_key
from tekcify_auth.cli import main
from tekcify_auth.server import create_app
from tekcify_auth.server.context import ServerContext
from tekcify_auth.server.db.engine import Database
from tekcify_auth.server.db.migrate import upgrade
from tekcify_auth.server.db.models import ServerState, SigningKey
from tekcify_auth.server.services import keystore
from tekcify_auth.server.services.keys import KEK_FILE_NAME, key_cipher
from tekcify_auth.server.services.signing import (
    KeyRing,
    KeyRingSigner,
    KeyRingVerifier,
    KeySnapshot,
    PublishedKey,
)
from tekcify_auth.server.settings import Settings, SettingsError

from .conftest import PASSWORD, FakeClock, make_settings, running, signed_up

INTROSPECT = "/api/oauth/token/introspect"


def kid_of(token: str) -> str:
    header = jws.extract_compact(token.encode()).protected
    kid: str = header["kid"]
    return kid


def stored_keys(ctx: ServerContext) -> list[SigningKey]:
    with ctx.db.read() as db:
        return list(db.execute(select(SigningKey).order_by(SigningKey.created_at)).scalars())


def key_settings(
    clean_db: str, data_dir: Path, alg: str | None = "ES256", **extra: Any
) -> Settings:
    return make_settings(database_url=clean_db, data_dir=data_dir, signing_alg=alg, **extra)


def ring_of(app: FastAPI) -> KeyRing:
    signer = app.state.ctx.signer
    assert isinstance(signer, KeyRingSigner)
    return signer.ring


@pytest.mark.parametrize("alg", ["RS256", "ES256", "EdDSA"])
async def test_first_start_makes_a_key_whose_private_half_is_encrypted(
    alg: str, clean_db: str, tmp_path: Path, clock: FakeClock
) -> None:
    async with running(key_settings(clean_db, tmp_path, alg), clock) as (app, client):
        ctx: ServerContext = app.state.ctx
        [row] = stored_keys(ctx)
        assert row.alg == alg
        assert row.retired_at is None
        assert kid_of((await signed_up(client))["accessToken"]) == row.kid
    secret_file = tmp_path / KEK_FILE_NAME
    assert stat.S_IMODE(os.stat(secret_file).st_mode) == 0o600
    cipher, where = key_cipher(key_settings(clean_db, tmp_path, alg))
    assert where == f"the secret in {secret_file.resolve()}"
    der = cipher.open(row.private_key, row.kid, row.alg)
    assert der not in row.private_key
    # Bound to its row: the same blob does not open as another key's.
    with pytest.raises(SettingsError):
        cipher.open(row.private_key, "another-kid", row.alg)
    other, _ = key_cipher(
        key_settings(clean_db, tmp_path, alg, key_encryption_secret="x" * 40)
    )
    with pytest.raises(SettingsError):
        other.open(row.private_key, row.kid, row.alg)


async def test_keys_survive_a_restart(clean_db: str, tmp_path: Path, clock: FakeClock) -> None:
    settings = key_settings(clean_db, tmp_path)
    async with running(settings, clock) as (_app, client):
        pair = await signed_up(client)
    async with running(settings, clock) as (app, client):
        assert len(stored_keys(app.state.ctx)) == 1
        answer = await client.post(INTROSPECT, json={"token": pair["accessToken"]})
        assert answer.json()["active"] is True
        login = await client.post(
            "/api/auth/login", json={"email": "ada@example.com", "password": PASSWORD}
        )
        assert kid_of(login.json()["accessToken"]) == kid_of(pair["accessToken"])


async def test_another_key_encryption_secret_stops_the_start(
    clean_db: str, tmp_path: Path, clock: FakeClock
) -> None:
    async with running(key_settings(clean_db, tmp_path / "first"), clock) as (app, _client):
        [row] = stored_keys(app.state.ctx)
    with pytest.raises(SettingsError) as info:
        async with running(key_settings(clean_db, tmp_path / "second"), clock):
            pass
    assert "TEKCIFY_KEY_ENCRYPTION_SECRET" in str(info.value)
    assert row.kid in str(info.value)


async def test_the_key_encryption_secret_can_come_from_the_environment(
    clean_db: str, tmp_path: Path, clock: FakeClock
) -> None:
    secret = "s" * 48
    for folder in ("one", "two"):  # two hosts: no shared data folder, one secret
        settings = key_settings(clean_db, tmp_path / folder, key_encryption_secret=secret)
        async with running(settings, clock) as (app, _client):
            assert app.state.ctx.key_source.endswith(
                "TEKCIFY_KEY_ENCRYPTION_SECRET; rotate with `tekcify-auth keys rotate`)"
            )
        assert not (tmp_path / folder / KEK_FILE_NAME).exists()


async def test_a_changed_algorithm_refuses_to_start_until_it_is_switched_on_purpose(
    clean_db: str, tmp_path: Path, clock: FakeClock
) -> None:
    async with running(key_settings(clean_db, tmp_path, "ES256"), clock) as (_app, client):
        old = await signed_up(client)
    clock.advance(1)
    with pytest.raises(SettingsError) as refused:
        async with running(key_settings(clean_db, tmp_path, "EdDSA"), clock):
            pass
    said = str(refused.value)
    assert "TEKCIFY_SIGNING_ALG=EdDSA, but this database signs with ES256" in said
    assert 'resource servers that allow only ES256 (algorithms=["ES256"])' in said
    assert "`tekcify-auth keys switch-alg EdDSA`" in said
    # Nothing changed: the ES256 key still signs.
    async with running(key_settings(clean_db, tmp_path, "ES256"), clock) as (app, _client):
        assert [(r.alg, r.retired_at) for r in stored_keys(app.state.ctx)] == [("ES256", None)]
        ctx: ServerContext = app.state.ctx
        with ctx.db.write() as db:
            switch = keystore.switch_signing_alg(
                db, ctx.settings, "EdDSA", lambda: key_cipher(ctx.settings)[0], ctx.clock()
            )
        old_kid = kid_of(old["accessToken"])
        assert (switch.previous, switch.alg, switch.retired) == ("ES256", "EdDSA", (old_kid,))
    clock.advance(1)
    async with running(key_settings(clean_db, tmp_path, "EdDSA"), clock) as (app, client):
        rows = stored_keys(app.state.ctx)
        assert [(r.alg, r.retired_at is None) for r in rows] == [("ES256", False), ("EdDSA", True)]
        assert kid_of((await client.post(
            "/api/auth/login", json={"email": "ada@example.com", "password": PASSWORD}
        )).json()["accessToken"]) == rows[1].kid
        # The retired key stays published, and its tokens good, until they expire.
        answer = await client.post(INTROSPECT, json={"token": old["accessToken"]})
        assert answer.json()["active"] is True
        jwks = (await client.get("/api/.well-known/jwks.json")).json()
        assert [k["kid"] for k in jwks["keys"]] == [rows[1].kid, old_kid]


async def test_an_unset_algorithm_keeps_the_recorded_one(
    clean_db: str, tmp_path: Path, clock: FakeClock
) -> None:
    async with running(key_settings(clean_db, tmp_path, "RS256"), clock) as (_app, client):
        before = kid_of((await signed_up(client))["accessToken"])
    # The restart without the variable: still RS256, with the same key.
    unset = make_settings(database_url=clean_db, data_dir=tmp_path)
    assert unset.signing_alg is None
    async with running(unset, clock) as (app, client):
        ctx: ServerContext = app.state.ctx
        assert ctx.signing_alg == "RS256"
        assert "RS256 (TEKCIFY_SIGNING_ALG unset: the algorithm recorded in the database)" in (
            ctx.key_source
        )
        login = await client.post(
            "/api/auth/login", json={"email": "ada@example.com", "password": PASSWORD}
        )
        assert kid_of(login.json()["accessToken"]) == before
        assert [k["alg"] for k in (await client.get("/api/.well-known/jwks.json")).json()[
            "keys"]] == ["RS256"]


@pytest.mark.parametrize(
    ("first", "then", "consequence"),
    [
        (None, "RS256", "resource servers that verify with the shared secret (JWT_ACCESS_SECRET)"),
        ("HS256", "EdDSA", "resource servers that verify with the shared secret"),
        ("RS256", "HS256", "resource servers that verify with the JWKS (JwksVerifier, "
         "JwksAuthGuard) would refuse every one"),
    ],
)
async def test_a_mismatch_says_what_resource_servers_would_see(
    first: str | None, then: str, consequence: str, clean_db: str, tmp_path: Path,
    clock: FakeClock,
) -> None:
    async with running(key_settings(clean_db, tmp_path, first), clock):
        pass
    with pytest.raises(SettingsError) as refused:
        async with running(key_settings(clean_db, tmp_path, then), clock):
            pass
    said = str(refused.value)
    assert f"this database signs with {first or 'HS256'}" in said
    assert consequence in said
    assert f"`tekcify-auth keys switch-alg {then}`" in said


def hs256_keyed_with(token: str, row: SigningKey) -> str:
    """``token``'s claims as HS256 under ``row``'s kid, keyed with its public PEM."""
    pem = load_public_key(json.loads(row.public_jwk)).as_pem(private=False)
    header = base64.urlsafe_b64encode(
        json.dumps({"alg": "HS256", "kid": row.kid}).encode()
    ).rstrip(b"=")
    signing_input = header + b"." + token.split(".")[1].encode()
    mac = hmac.new(pem, signing_input, hashlib.sha256).digest()
    return (signing_input + b"." + base64.urlsafe_b64encode(mac).rstrip(b"=")).decode()


async def test_switching_to_hs256_keeps_the_retired_keys_until_their_tokens_expire(
    clean_db: str, tmp_path: Path, clock: FakeClock
) -> None:
    settings = key_settings(clean_db, tmp_path, "ES256")
    async with running(settings, clock) as (app, client):
        old = (await signed_up(client))["accessToken"]
        [row] = stored_keys(app.state.ctx)
        with app.state.ctx.db.write() as db:
            switch = keystore.switch_signing_alg(
                db, settings, "HS256", lambda: key_cipher(settings)[0], clock()
            )
        assert (switch.active, switch.retired) == (None, (row.kid,))
    async with running(make_settings(database_url=clean_db, data_dir=tmp_path), clock) as (
        app, client,
    ):
        ctx: ServerContext = app.state.ctx
        assert ctx.signing_alg == "HS256"
        assert "stay published until their tokens expire" in ctx.key_source
        login = await client.post(
            "/api/auth/login", json={"email": "ada@example.com", "password": PASSWORD}
        )
        new = login.json()["accessToken"]
        assert jws.extract_compact(new.encode()).protected["alg"] == "HS256"

        async def active(token: str) -> bool:
            answer = await client.post(INTROSPECT, json={"token": token})
            return bool(answer.json()["active"])

        async def published() -> list[str]:
            body = (await client.get("/api/.well-known/jwks.json")).json()
            return [key["kid"] for key in body["keys"]]

        # The retired key is published and its token good, as after a rotation (with
        # the id tokens' own RS256 key, issue 15)...
        id_kid = ctx.id_token_signer.kid
        assert await published() == [row.kid, id_kid]
        assert await active(old)
        assert await active(new)
        # ...and an HS256 token keyed with its public half is still refused.
        assert not await active(hs256_keyed_with(old, row))
        with ctx.db.read() as db:
            assert [k.state for k in keystore.list_keys(db, settings, clock())] == [
                "active", "retired",
            ]
        clock.advance(keystore.retention(settings).total_seconds())
        assert await published() == [id_kid]
        assert not await active(old)
        assert await active((await client.post(
            "/api/auth/login", json={"email": "ada@example.com", "password": PASSWORD}
        )).json()["accessToken"])
        # Switching to what is recorded changes nothing.
        with ctx.db.write() as db:
            again = keystore.switch_signing_alg(
                db, settings, "HS256", lambda: key_cipher(settings)[0], clock()
            )
        assert not again.changed


async def test_a_database_from_before_the_record_with_an_active_key_asks(
    clean_db: str, tmp_path: Path, clock: FakeClock
) -> None:
    # An earlier version made an RS256 key and recorded nothing; it may have gone on
    # signing with it or with HS256 (an unset variable): the operator is asked once.
    async with running(key_settings(clean_db, tmp_path, "RS256"), clock) as (app, _client):
        with app.state.ctx.db.write() as db:
            db.execute(delete(ServerState))
    unset = make_settings(database_url=clean_db, data_dir=tmp_path)
    with pytest.raises(SettingsError) as refused:
        async with running(unset, clock):
            pass
    said = str(refused.value)
    assert "active RS256 signing key but no recorded signing algorithm" in said
    assert "set TEKCIFY_SIGNING_ALG=RS256" in said
    assert "TEKCIFY_SIGNING_ALG=HS256" in said
    async with running(key_settings(clean_db, tmp_path, "RS256"), clock) as (app, _client):
        assert app.state.ctx.signing_alg == "RS256"
    async with running(unset, clock) as (app, _client):  # recorded now
        assert app.state.ctx.signing_alg == "RS256"


def test_without_migrations_at_start_an_old_database_asks_for_db_upgrade(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    db = Database(url)
    upgrade(db, "0007_input")  # as the previous version left it
    db.dispose()
    ctx = ServerContext(key_settings(url, tmp_path, migrate_on_start=False))
    with pytest.raises(SettingsError) as refused:
        ctx.start()
    ctx.stop()
    assert "run `tekcify-auth db upgrade` first" in str(refused.value)


async def test_concurrent_first_starts_with_different_algorithms_agree_on_one(
    clean_db: str, tmp_path: Path
) -> None:
    algs = ["ES256", "EdDSA", "ES256", "EdDSA"]
    contexts = [ServerContext(key_settings(clean_db, tmp_path, alg)) for alg in algs]

    def start(ctx: ServerContext) -> str:
        try:
            ctx.start()
        except SettingsError:
            return "refused"
        return ctx.signing_alg

    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            outcomes = list(pool.map(start, contexts))
        winner = next(o for o in outcomes if o != "refused")
        assert outcomes == [winner if alg == winner else "refused" for alg in algs]
        [row] = stored_keys(contexts[0])
        assert row.alg == winner
    finally:
        for ctx in contexts:
            ctx.stop()


async def test_concurrent_first_starts_make_a_single_key(
    clean_db: str, tmp_path: Path
) -> None:
    settings = key_settings(clean_db, tmp_path)
    contexts = [ServerContext(settings) for _ in range(4)]
    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(lambda ctx: ctx.start(), contexts))
        kids = {ctx.signer.sign({"sub": "x"}).split(".")[0] for ctx in contexts}
        assert len(kids) == 1
        assert len(stored_keys(contexts[0])) == 1
    finally:
        for ctx in contexts:
            ctx.stop()


def run_cli(args: list[str], monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> int:
    """``tekcify-auth ARGS`` in this process, with ``env`` as its environment."""
    for name in [n for n in os.environ if n.startswith("TEKCIFY_") or n == "JWT_ACCESS_SECRET"]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return main(args)


def cli_env(database_url: str, data_dir: Path, alg: str) -> dict[str, str]:
    return {
        "TEKCIFY_DATABASE_URL": database_url,
        "TEKCIFY_DATA_DIR": str(data_dir),
        "TEKCIFY_SIGNING_ALG": alg,
    }


async def test_a_running_server_switches_to_a_key_rotated_by_the_cli_now(
    clean_db: str, tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = key_settings(clean_db, tmp_path)
    async with running(settings, clock) as (_app, client):
        before = await signed_up(client)
        first_kid = kid_of(before["accessToken"])
        env = cli_env(clean_db, tmp_path, "ES256")
        assert run_cli(["keys", "rotate", "--now"], monkeypatch, env) == 0
        out = capsys.readouterr().out
        assert f"retired {first_kid}" in out
        new_kid = out.split()[3]

        def login() -> Any:
            return client.post(
                "/api/auth/login", json={"email": "ada@example.com", "password": PASSWORD}
            )

        # Until the reload interval has passed the server signs with the key it has...
        assert kid_of((await login()).json()["accessToken"]) == first_kid
        clock.advance(settings.key_reload_interval)
        # ...then with the new one, while tokens of the old one stay good.
        after = (await login()).json()
        assert kid_of(after["accessToken"]) == new_kid
        for token in (before["accessToken"], after["accessToken"]):
            answer = await client.post(INTROSPECT, json={"token": token})
            assert answer.json()["active"] is True
        jwks = (await client.get("/api/.well-known/jwks.json")).json()
        assert [k["kid"] for k in jwks["keys"]] == [new_kid, first_kid]


async def test_a_token_of_a_key_made_elsewhere_is_accepted_at_once(
    clean_db: str, tmp_path: Path, clock: FakeClock
) -> None:
    settings = key_settings(clean_db, tmp_path)
    async with running(settings, clock) as (app_a, client_a), running(settings, clock) as (
        app_b, client_b,
    ):
        ctx_b: ServerContext = app_b.state.ctx
        cipher, _ = key_cipher(settings)
        with ctx_b.db.write() as db:
            rotation = keystore.rotate_key(db, settings, cipher, ctx_b.clock(), immediate=True)
        ring_of(app_b).reload()
        token = (await signed_up(client_b))["accessToken"]
        assert kid_of(token) == rotation.active.kid
        # A has not reloaded yet; the unknown kid makes it look (at most once a second).
        clock.advance(1)
        answer = await client_a.post(INTROSPECT, json={"token": token})
        assert answer.json()["active"] is True
        assert ring_of(app_a).current().signing_kid == rotation.active.kid


async def test_a_retired_key_is_published_until_its_tokens_have_expired(
    clean_db: str, tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = key_settings(clean_db, tmp_path)
    retention = keystore.retention(settings).total_seconds()
    assert retention == 900 + 5 + 60
    async with running(settings, clock) as (app, client):
        ctx: ServerContext = app.state.ctx
        old = await signed_up(client)
        cipher, _ = key_cipher(settings)
        with ctx.db.write() as db:
            keystore.rotate_key(db, settings, cipher, ctx.clock(), immediate=True)

        async def published() -> list[str]:
            body = (await client.get("/api/.well-known/jwks.json")).json()
            return [key["kid"] for key in body["keys"]]

        clock.advance(retention - 1)
        assert kid_of(old["accessToken"]) in await published()
        clock.advance(1)
        assert kid_of(old["accessToken"]) not in await published()
        with ctx.db.read() as db:
            states = [k.state for k in keystore.list_keys(db, settings, ctx.clock())]
        assert states == ["active", "expired"]
        with ctx.db.write() as db:
            rotation = keystore.rotate_key(db, settings, cipher, ctx.clock(), immediate=True)
        assert rotation.deleted == (kid_of(old["accessToken"]),)
        assert len(stored_keys(ctx)) == 2


def test_keys_list_shows_each_key_and_its_state(
    clean_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    env = cli_env(clean_db, tmp_path, "EdDSA")
    assert run_cli(["keys", "rotate", "--now"], monkeypatch, env) == 0
    now_kid = capsys.readouterr().out.split()[3]
    assert run_cli(["keys", "rotate"], monkeypatch, env) == 0
    next_kid = capsys.readouterr().out.split()[3]
    assert run_cli(["keys", "list"], monkeypatch, env) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].split() == [
        "KID", "ALG", "STATE", "AGE", "CREATED", "SIGNS", "FROM", "RETIRED", "PUBLISHED",
        "UNTIL", "REVOKED",
    ]
    rows = [line.split() for line in lines[1:4]]
    assert [row[:3] for row in rows] == [
        [now_kid, "EdDSA", "active"], [next_kid, "EdDSA", "next"],
        [rows[2][0], "EdDSA", "retired"],
    ]
    assert all(row[3].endswith("s") for row in rows)  # an age in seconds: made just now
    assert lines[4].startswith(f"signing switches to {next_kid} at ")
    assert lines[4].endswith(" UTC (" + rows[1][5] + ")")  # the next key's SIGNS FROM
    assert lines[5].startswith(f"{rows[2][0]} leaves the JWKS at ")


def test_keys_rotate_with_hs256_rotates_the_id_token_key_only(
    clean_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Issue 15: HS256 access tokens have no key, but id tokens have an RS256 one.
    env = cli_env(clean_db, tmp_path, "HS256")
    assert run_cli(["keys", "rotate"], monkeypatch, env) == 0
    out = capsys.readouterr().out
    assert "rotated the id tokens' key only" in out
    assert "next id token signing key" in out
    assert run_cli(["keys", "list", "--json"], monkeypatch, env) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(k["alg"], k["purpose"], k["state"]) for k in listed] == [
        ("RS256", "id_token", "active"), ("RS256", "id_token", "next"),
    ]


def test_switch_alg_with_another_key_encryption_secret_changes_nothing(
    clean_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    env = cli_env(clean_db, tmp_path / "first", "ES256")
    assert run_cli(["keys", "list"], monkeypatch, env) == 0  # the first start: an ES256 key
    other = {**env, "TEKCIFY_DATA_DIR": str(tmp_path / "second")}  # another generated secret
    capsys.readouterr()
    assert run_cli(["keys", "switch-alg", "EdDSA"], monkeypatch, other) == 1
    assert "TEKCIFY_KEY_ENCRYPTION_SECRET does not decrypt signing key" in capsys.readouterr().err
    database = Database(clean_db)
    try:
        with database.read() as db:
            assert keystore.recorded_signing_alg(db) == "ES256"
            # A second on: FakeClock drops the microseconds the key was made with.
            later = FakeClock()() + timedelta(seconds=1)
            keys = keystore.list_keys(db, key_settings(clean_db, tmp_path), later)
    finally:
        database.dispose()
    assert [(k.alg, k.state) for k in keys] == [("ES256", "active")]


def test_switch_alg_to_hs256_then_keys_rotate_refuses(
    clean_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    env = cli_env(clean_db, tmp_path, "RS256")
    assert run_cli(["keys", "switch-alg", "HS256"], monkeypatch, env) == 0
    out = capsys.readouterr().out
    assert "signing algorithm switched from nothing (a new database) to HS256" in out
    assert "now set TEKCIFY_SIGNING_ALG=HS256" in out
    unset = {k: v for k, v in env.items() if k != "TEKCIFY_SIGNING_ALG"}
    # Only the id tokens' own key rotates now (issue 15): access tokens have none.
    assert run_cli(["keys", "rotate"], monkeypatch, unset) == 0
    assert "rotated the id tokens' key only" in capsys.readouterr().out
    # The old value in the environment is now the mismatch.
    assert run_cli(["keys", "list"], monkeypatch, env) == 1
    assert "TEKCIFY_SIGNING_ALG=RS256, but this database signs with HS256" in (
        capsys.readouterr().err
    )


# -- the key ring's reload rules, with a loader that counts -------------------------------


class CountingLoader:
    """Hands out snapshots with kids ``k1``, ``k2``... (or fails when told to)."""

    def __init__(self) -> None:
        self.calls = 0
        self.fail = False
        self.key = keystore.generate_key("ES256")

    def __call__(self) -> KeySnapshot:
        if self.fail:
            raise OSError("database gone")
        self.calls += 1
        return KeySnapshot(f"k{self.calls}", "ES256", self.key, {})


def test_the_ring_reloads_after_its_interval_and_keeps_its_keys_on_failure(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [1000.0]
    loader = CountingLoader()
    ring = KeyRing(loader, interval=5, clock=lambda: now[0])
    assert ring.current().signing_kid == "k1"
    now[0] += 4.9
    assert ring.current().signing_kid == "k1"
    now[0] += 0.1
    assert ring.current().signing_kid == "k2"
    loader.fail = True
    now[0] += 5
    assert ring.current().signing_kid == "k2"
    assert "database gone" in caplog.text
    assert "still signing with k2" in caplog.text
    loader.fail = False
    now[0] -= 60  # the clock went back: reload rather than trust the old time
    assert ring.current().signing_kid == "k3"


def test_unknown_kids_reload_at_most_once_a_second() -> None:
    now = [1000.0]
    loader = CountingLoader()
    ring = KeyRing(loader, interval=300, clock=lambda: now[0])
    for _ in range(10):
        assert ring.lookup("unknown") is None
    assert loader.calls == 1
    now[0] += 1
    for _ in range(10):
        ring.lookup("unknown")
    assert loader.calls == 2


def ring_verifier(alg: str = "ES256") -> tuple[KeyRingSigner, KeyRingVerifier, Any]:
    """A signer and verifier over one published key of ``alg``, outside any server."""
    key = keystore.generate_key(alg)
    jwk = {**key.as_dict(private=False), "kid": "k1", "alg": alg, "use": "sig"}
    public = PublishedKey("k1", alg, load_public_key(jwk), jwk)
    ring = KeyRing(
        lambda: KeySnapshot("k1", alg, key, {"k1": public}), interval=300, clock=lambda: 1000.0
    )
    signer = KeyRingSigner(ring)
    verifier = signer.verifier(issuer="tekcify-auth", audience="tekcify-api", clock=ring.clock)
    assert isinstance(verifier, KeyRingVerifier)
    return signer, verifier, key


CLAIMS = {"iss": "tekcify-auth", "aud": "tekcify-api", "sub": "u1", "type": "access",
          "exp": 2000}


async def test_the_ring_verifier_answers_from_async_code_too() -> None:
    signer, verifier, _key = ring_verifier()
    token = signer.sign(CLAIMS)
    assert (await verifier.averify(token)).valid
    assert verifier.verify(token).valid
    unknown = jws.serialize_compact(
        {"alg": "ES256", "kid": "k9"}, b'{"sub":"u1"}', keystore.generate_key("ES256")
    )
    assert (await verifier.averify(unknown)).error == "unknown_key"


def test_a_token_whose_alg_is_not_its_keys_is_refused() -> None:
    signer, verifier, key = ring_verifier("ES256")
    payload = json.dumps(CLAIMS)
    impostor = keystore.generate_key("EdDSA")
    forged = jws.serialize_compact(
        {"alg": "EdDSA", "kid": "k1"}, payload, impostor,
        registry=SignatureRegistry(algorithms=["EdDSA"]),
    )
    assert verifier.verify(forged).error == "algorithm_not_allowed"
    no_kid = jws.serialize_compact({"alg": "ES256"}, payload, key)
    assert verifier.verify(no_kid).error == "unknown_key"
    assert verifier.verify(signer.sign(CLAIMS)).valid


# -- a real server on 127.0.0.1 -------------------------------------------------------------


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """``app`` under uvicorn in a thread, on a free port of 127.0.0.1; yields its URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, log_config=None, access_log=False, lifespan="on", http="h11", ws="none"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])))
    thread.start()
    try:
        for _ in range(600):
            if server.started or not thread.is_alive():
                break
            threading.Event().wait(0.01)
        assert server.started, "the server did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


def rotate_in_a_process(database_url: str, data_dir: Path, alg: str) -> str:
    """``tekcify-auth keys rotate --now`` as its own process; returns what it printed."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("TEKCIFY_")},
        **cli_env(database_url, data_dir, alg),
    }
    script = Path(sys.executable).with_name("tekcify-auth")
    done = subprocess.run(
        [str(script), "keys", "rotate", "--now"], env=env, capture_output=True, text=True,
        timeout=60, check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def log_in(base: str, http: httpx.Client) -> str:
    response = http.post(
        f"{base}/api/auth/login", json={"email": "ada@example.com", "password": PASSWORD}
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["accessToken"]
    return token


@pytest.mark.slow
@pytest.mark.parametrize(
    ("alg", "cli"), [("RS256", "in-process"), ("ES256", "own process"), ("EdDSA", "in-process")]
)
def test_tokens_verify_with_the_jwks_across_a_cli_rotation(
    alg: str, cli: str, clean_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Reload interval 0: the server reads the keys table before each use, so the test
    # needs no waiting to see the rotation.
    settings = key_settings(clean_db, tmp_path, alg, key_reload_interval=0)
    with serve(create_app(settings)) as base, httpx.Client(timeout=10) as http:
        registered = http.post(
            f"{base}/api/auth/register", json={"email": "ada@example.com", "password": PASSWORD}
        )
        assert registered.status_code == 201
        old = log_in(base, http)
        before = JwksVerifier(auth_server_url=base, refetch_cooldown=0)
        assert verify_access_token(old, jwks=before).valid

        if cli == "own process":
            printed = rotate_in_a_process(clean_db, tmp_path, alg)
        else:
            env = cli_env(clean_db, tmp_path, alg)
            assert run_cli(["keys", "rotate", "--now"], monkeypatch, env) == 0
            printed = capsys.readouterr().out
        assert f"retired {kid_of(old)}" in printed

        new = log_in(base, http)
        assert kid_of(new) != kid_of(old)
        assert kid_of(new) in printed
        # The verifier that knew only the old key fetches the new one for its kid...
        result = verify_access_token(new, jwks=before)
        assert result.valid, result.error
        # ...and one that starts now finds both keys published.
        after = JwksVerifier(auth_server_url=base)
        for token in (old, new):
            assert verify_access_token(token, jwks=after).valid
        published = http.get(f"{base}/api/.well-known/jwks.json").json()["keys"]
        assert [k["kid"] for k in published] == [kid_of(new), kid_of(old)]
        assert all(k["alg"] == alg for k in published)
        # A public key from the JWKS is all a resource server needs.
        assert TokenVerifier(key=published[1]).verify(old).valid
