"""History: the server's hot paths cost no more with a million expired rows, and the
purge takes the tables back to their live set (issue 12, item 5).

Two servers run side by side, each ``tekcify-auth serve`` (one worker) on SQLite in a
temporary TEKCIFY_DATA_DIR, both pinned to the same CPU as benchmarks/server.py pins
its server (the load generator, benchmarks/_serverload.py, gets the other CPUs). One
keeps an empty database; the other's gets ``--rows`` expired rows (default 1,000,000),
written straight into its SQLite file (INSERT ... SELECT over recursive CTEs, in
chunks) while it runs, spread as a year of traffic leaves them:

* 15% sessions that ended more than 60 days ago: two in five logged out, one in five
  with a fixed end (a sign-in without a refresh token), two in five whose last refresh
  token expired; one in three of an OAuth application; spread over a user per 200 of
  them, the bench user among them;
* 60% refresh tokens, four per such session (a rotation chain), all expired;
* 15% authorization codes, expired (four in five redeemed);
* 10% revoked client-credentials tokens, expired.

Then each endpoint is loaded on both servers in turn, in short slices whose order
reverses every round (as server.py interleaves an endpoint with its bare one), from
keep-alive connections with one request in flight each: introspection of the bench
user's access token and of a refresh token (``POST /api/oauth/token/introspect``, the
JSON form), and ``POST /api/auth/refresh`` (each connection rotates its own session's
token). "full / empty" is the median of the per-round ratios of their rates; target
>= 0.90. Last, ``tekcify-auth db purge`` runs on the full server's database (the server
still up, idle) and each table must be back to its live set: every row but the history
(marked: sessions by their user agent, codes by their redirect URI, revoked client
tokens by their jti; refresh tokens go with their sessions).

    python benchmarks/history.py [--rows N] [--seconds S] [--check]

Exit status is 0 (it is a report) unless ``--check`` is given and a target fails.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx
from _common import SERVER_CPUS, machine_line, markdown_table, median, run_main, verdict

from server import (
    EMAIL,
    Fixtures,
    Load,
    Server,
    json_post,
    login,
    prepare,
    serving,
)

#: The target: the full server's rate over the empty one's, for every endpoint.
TARGET = 0.90
#: Seconds in a day; history ends this long before now (past the default 30-day retention
#: and a refresh token's 30-day life), and spreads over the year before.
DAY = 86400
ENDED = 61 * DAY
SPREAD = 300 * DAY
#: The markers of the history rows.
AGENT = "history-bench"
REDIRECT = "https://history.invalid/callback"
JTI_PREFIX = "history-"
#: Rows per INSERT statement (one transaction each), so progress can be shown.
CHUNK = 50_000
#: The tables of the purge check, in the order printed.
TABLES = (
    "users", "sessions", "refresh_tokens", "authorization_codes", "revoked_client_tokens",
)


def serve_command(port: int) -> list[str]:
    """``tekcify-auth serve``, one worker, on 127.0.0.1:``port`` (server.py's serving)."""
    return [
        sys.executable, "-m", "tekcify_auth.cli", "serve", "--host", "127.0.0.1",
        "--port", str(port), "--workers", "1",
    ]


def database_path(server: Server) -> str:
    """The SQLite file of a server started without TEKCIFY_DATABASE_URL."""
    return os.path.join(server.env["TEKCIFY_DATA_DIR"], "tekcify.sqlite3")


# -- the history ---------------------------------------------------------------------


@dataclass
class Mix:
    """How many rows of each kind ``--rows`` makes."""

    sessions: int
    refresh_tokens: int
    codes: int
    client_tokens: int
    users: int

    @classmethod
    def of(cls, rows: int) -> Mix:
        sessions = max(1, rows * 15 // 100)
        tokens = 4 * sessions
        codes = rows * 15 // 100
        return cls(sessions, tokens, codes, max(0, rows - sessions - tokens - codes),
                   max(1, sessions // 200))

    @property
    def total(self) -> int:
        return self.sessions + self.refresh_tokens + self.codes + self.client_tokens


def _ts(epoch: str) -> str:
    """SQL for the timestamp ``epoch`` (seconds) as the server stores it on SQLite."""
    return f"(strftime('%Y-%m-%d %H:%M:%S', {epoch}, 'unixepoch') || '.000000')"


def _spread(n: str, now: int) -> str:
    """SQL for a time (epoch) in the history's year, scattered by the row number ``n``
    (a multiplicative hash: the same every time it is evaluated, unlike random())."""
    return f"({now - ENDED} - ({n} * 2654435761) % {SPREAD})"


def _numbers(first: int, last: int) -> str:
    """A recursive CTE ``c(n)`` counting from ``first`` to ``last``."""
    return (
        f"WITH RECURSIVE c(n) AS (SELECT {first} UNION ALL SELECT n + 1 FROM c "
        f"WHERE n < {last})"
    )


def _chunks(count: int) -> Iterator[tuple[int, int]]:
    for first in range(0, count, CHUNK):
        yield first, min(count, first + CHUNK) - 1


def _statements(mix: Mix, user_id: str, client_id: str, now: int) -> Iterator[tuple[str, int]]:
    """(SQL, rows it adds) in order; each a chunk of one kind."""
    yield "CREATE TEMP TABLE hu(n INTEGER PRIMARY KEY, id TEXT NOT NULL)", 0
    yield f"INSERT INTO hu VALUES (0, '{user_id}')", 0
    yield (
        f"{_numbers(1, mix.users)} INSERT INTO hu SELECT n, lower(hex(randomblob(16))) FROM c"
    ), 0
    yield (
        "INSERT INTO users (id, email, password_hash, role, email_verified, created_at, "
        f"updated_at) SELECT id, 'history-' || n || '@example.invalid', '!', 'user', 0, "
        f"{_ts(str(now - ENDED - SPREAD))}, {_ts(str(now - ENDED - SPREAD))} "
        "FROM hu WHERE n > 0"
    ), 0
    # The sessions, with their start (epoch) kept aside for their refresh tokens.
    yield "CREATE TEMP TABLE hs(n INTEGER PRIMARY KEY, id TEXT NOT NULL, t INTEGER)", 0
    for first, last in _chunks(mix.sessions):
        yield (
            f"{_numbers(first, last)} INSERT INTO hs SELECT n, lower(hex(randomblob(16))), "
            f"{_spread('n', now)} FROM c"
        ), 0
        yield (
            "INSERT INTO sessions (id, user_id, client_id, scopes, user_agent, ip_address, "
            "created_at, last_used_at, expires_at, revoked_at, revoked_reason) "
            f"SELECT s.id, u.id, CASE WHEN s.n % 3 = 0 THEN '{client_id}' END, "
            f"'openid profile', '{AGENT}', '203.0.113.9', {_ts('s.t')}, "
            f"{_ts('s.t + 3 * 86400')}, CASE WHEN s.n % 5 = 1 THEN {_ts('s.t + 900')} END, "
            f"CASE WHEN s.n % 5 IN (2, 3) THEN {_ts('s.t + 86400')} END, "
            "CASE WHEN s.n % 5 IN (2, 3) THEN 'logout' END "
            f"FROM hs s JOIN hu u ON u.n = s.n % {mix.users + 1} "
            f"WHERE s.n BETWEEN {first} AND {last}"
        ), last - first + 1
    for first, last in _chunks(mix.refresh_tokens):
        yield (
            f"{_numbers(first, last)} INSERT INTO refresh_tokens (id, session_id, token_hash, "
            "created_at, expires_at, rotated_at) "
            "SELECT lower(hex(randomblob(16))), s.id, lower(hex(randomblob(32))), "
            f"{_ts('s.t + (c.n % 4) * 3600')}, {_ts('s.t + (c.n % 4) * 3600 + 30 * 86400')}, "
            f"CASE WHEN c.n % 4 < 3 THEN {_ts('s.t + (c.n % 4 + 1) * 3600')} END "
            "FROM c JOIN hs s ON s.n = c.n / 4"
        ), last - first + 1
    for first, last in _chunks(mix.codes):
        yield (
            f"{_numbers(first, last)} INSERT INTO authorization_codes (id, code_hash, "
            "client_id, user_id, redirect_uri, code_challenge, scopes, created_at, "
            f"expires_at, used_at) SELECT lower(hex(randomblob(16))), "
            f"lower(hex(randomblob(32))), '{client_id}', u.id, '{REDIRECT}', "
            "lower(hex(randomblob(32))), 'openid profile', "
            f"{_ts('d.t')}, {_ts('d.t + 60')}, "
            f"CASE WHEN d.n % 5 > 0 THEN {_ts('d.t + 5')} END "
            f"FROM (SELECT n, {_spread('n', now)} AS t FROM c) AS d "
            f"JOIN hu u ON u.n = d.n % {mix.users + 1}"
        ), last - first + 1
    for first, last in _chunks(mix.client_tokens):
        yield (
            f"{_numbers(first, last)} INSERT INTO revoked_client_tokens (jti, client_id, "
            f"expires_at) SELECT '{JTI_PREFIX}' || lower(hex(randomblob(16))), "
            f"'{client_id}', {_ts(_spread('n', now))} FROM c"
        ), last - first + 1
    yield "DROP TABLE hs", 0
    yield "DROP TABLE hu", 0


def bench_user_id(path: str) -> str:
    with contextlib.closing(sqlite3.connect(path)) as db:
        row = db.execute("SELECT id FROM users WHERE email = ?", (EMAIL,)).fetchone()
    if row is None:
        raise RuntimeError("the bench user is not in the database")
    user_id: str = row[0]
    return user_id


def write_history(path: str, rows: int, client_id: str) -> float:
    """Insert ``rows`` expired rows into the SQLite file at ``path``; returns the seconds.

    The server keeps running on the file (WAL): it is idle meanwhile.
    """
    mix = Mix.of(rows)
    user_id = bench_user_id(path)
    began = time.perf_counter()
    done = 0
    # On a terminal one line that counts up; in a log a line per chunk.
    back, end = ("\r", "") if sys.stderr.isatty() else ("", "\n")
    with contextlib.closing(sqlite3.connect(path, timeout=60, isolation_level=None)) as db:
        db.execute("PRAGMA synchronous = OFF")  # a benchmark's own rows: speed over safety
        for sql, added in _statements(mix, user_id, client_id, int(time.time())):
            db.execute("BEGIN IMMEDIATE")
            db.execute(sql)
            db.execute("COMMIT")
            done += added
            if added:
                took = time.perf_counter() - began
                print(
                    f"{back}  history: {done:,} / {mix.total:,} rows ({took:.0f} s)",
                    end=end, file=sys.stderr, flush=True,
                )
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    if end == "":
        print(file=sys.stderr, flush=True)
    return time.perf_counter() - began


# -- the purge check -----------------------------------------------------------------


#: SQL counting each table's history rows.
_HISTORY = {
    "users": "SELECT 0",
    "sessions": f"SELECT count(*) FROM sessions WHERE user_agent = '{AGENT}'",
    "refresh_tokens": (
        "SELECT count(*) FROM refresh_tokens WHERE session_id IN "
        f"(SELECT id FROM sessions WHERE user_agent = '{AGENT}')"
    ),
    "authorization_codes": (
        f"SELECT count(*) FROM authorization_codes WHERE redirect_uri = '{REDIRECT}'"
    ),
    "revoked_client_tokens": (
        f"SELECT count(*) FROM revoked_client_tokens WHERE jti LIKE '{JTI_PREFIX}%'"
    ),
}


def table_counts(path: str) -> dict[str, tuple[int, int]]:
    """Each table's (rows, history rows)."""
    with contextlib.closing(sqlite3.connect(path, timeout=60)) as db:
        return {
            table: (
                int(db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]),
                int(db.execute(_HISTORY[table]).fetchone()[0]),
            )
            for table in TABLES
        }


@dataclass
class PurgeCheck:
    before: dict[str, tuple[int, int]]
    after: dict[str, tuple[int, int]]
    seconds: float
    output: str
    size_before: int
    size_after: int

    def rows(self) -> tuple[list[list[str]], bool]:
        table, ok = [], True
        for name in TABLES:
            total, history = self.before[name]
            live = total - history
            left = self.after[name][0]
            good = left == live
            ok &= good
            table.append([name, f"{total:,}", f"{history:,}", f"{live:,}", f"{left:,}",
                          verdict(good)])
        return table, ok


def run_purge(server: Server) -> PurgeCheck:
    """``tekcify-auth db purge`` on the server's database, with its settings."""
    path = database_path(server)
    before, size_before = table_counts(path), os.path.getsize(path)
    began = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "tekcify_auth.cli", "db", "purge"],
        env=server.env, capture_output=True, text=True, timeout=3600, check=False,
    )
    seconds = time.perf_counter() - began
    if done.returncode != 0:
        raise RuntimeError(f"tekcify-auth db purge failed ({done.returncode}):\n{done.stderr}")
    return PurgeCheck(before, table_counts(path), seconds, done.stdout.strip(),
                      size_before, os.path.getsize(path))


# -- the load ------------------------------------------------------------------------


@dataclass
class Row:
    """One endpoint on both servers."""

    label: str
    empty: list[float] = field(default_factory=list)
    full: list[float] = field(default_factory=list)
    ratios: list[float] = field(default_factory=list)
    p99: tuple[float | None, float | None] = (None, None)
    note: str = ""

    def cells(self) -> tuple[list[str], bool]:
        ok = bool(self.ratios) and median(self.ratios) >= TARGET

        def fmt(values: list[float], pattern: str) -> str:
            return format(median(values), pattern) if values else "-"

        def ms(value: float | None) -> str:
            return "-" if value is None else f"{value:.1f}"

        result = verdict(ok) + (f" ({self.note})" if self.note else "")
        return [
            self.label, fmt(self.empty, ",.0f"), fmt(self.full, ",.0f"),
            fmt(self.ratios, ".2f"), ms(self.p99[0]), ms(self.p99[1]), f">= {TARGET:.2f}",
            result,
        ], ok


@dataclass
class Side:
    """One server and what its load needs."""

    server: Server
    fixtures: Fixtures
    refresh_seeds: list[str]
    spare_refresh: str  # a refresh token nobody rotates, to introspect


def get_ready(server: Server, connections: int) -> Side:
    """The bench user, its client, and a session per refresh connection (+1 to introspect)."""
    fixtures = prepare(server)
    with httpx.Client(base_url=server.url, timeout=60) as http:
        seeds = [login(http)["refreshToken"] for _ in range(connections + 1)]
    return Side(server, fixtures, seeds[:-1], seeds[-1])


def specs(side: Side, connections: int) -> dict[str, dict[str, Any]]:
    """What each endpoint sends to ``side``'s server."""
    where = {"port": side.server.port, "pid": side.server.pid}
    introspect = "/api/oauth/token/introspect"
    return {
        "introspect": json_post(
            introspect, json.dumps({"token": side.fixtures.access_token}), connections,
            **where,
        ),
        "introspect_refresh": json_post(
            introspect, json.dumps({"token": side.spare_refresh}), connections, **where,
        ),
        "refresh": json_post(
            "/api/auth/refresh", '{"refreshToken": "{token}"}', connections,
            chain={"field": "refreshToken", "seeds": side.refresh_seeds}, **where,
        ),
    }


LABELS = {
    "introspect": "introspection, access token (POST /api/oauth/token/introspect)",
    "introspect_refresh": "introspection, refresh token (POST /api/oauth/token/introspect)",
    "refresh": "refresh with rotation (POST /api/auth/refresh)",
}


def load_both(
    row: Row, empty: dict[str, Any], full: dict[str, Any], load: Load,
    args: argparse.Namespace,
) -> None:
    """One endpoint on both servers, slice by slice; fills ``row``."""
    measured = load.run({
        "port": empty["port"], "warmup": args.warmup, "slice_seconds": args.slice,
        "rounds": max(2, round(args.seconds / args.slice)), "targets": [empty, full],
    })
    for slices in measured["slices"]:
        rates = [m["requests"] / m["seconds"] for m in slices]
        row.empty.append(rates[0])
        row.full.append(rates[1])
        if rates[0]:
            row.ratios.append(rates[1] / rates[0])
    latency = measured["latency"]
    row.p99 = (latency[0]["p99"], latency[1]["p99"])
    print(
        f"  empty {median(row.empty):,.0f}/s, full {median(row.full):,.0f}/s, "
        f"full / empty {median(row.ratios):.2f}",
        file=sys.stderr, flush=True,
    )


# -- the report ----------------------------------------------------------------------


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000,
                        help="expired rows written into the full database (default 1000000)")
    parser.add_argument("--seconds", type=float, default=4.0,
                        help="timed seconds per endpoint on each server (default 4)")
    parser.add_argument("--slice", type=float, default=0.25,
                        help="seconds per slice (default 0.25)")
    parser.add_argument("--warmup", type=float, default=1.0,
                        help="seconds of load per server before timing (default 1)")
    parser.add_argument("--connections", type=int, default=16,
                        help="keep-alive connections per endpoint and server (default 16)")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target fails")
    args = parser.parse_args(argv)

    # A SIGTERM unwinds like Ctrl-C, so the servers are stopped on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    began = time.perf_counter()
    rows = {key: Row(label) for key, label in LABELS.items()}
    load = Load()
    try:
        say("starting two servers (tekcify-auth serve, SQLite) ...")
        with contextlib.ExitStack() as stack, ThreadPoolExecutor(2) as pool:
            # Started from this thread (each dies with the thread that started it:
            # _common.die_with_parent), then made ready side by side.
            servers = [stack.enter_context(serving(None, serve_command)) for _ in range(2)]
            empty, full = pool.map(lambda server: get_ready(server, args.connections), servers)
            if full.fixtures.client is None:
                raise RuntimeError(f"no OAuth client: {full.fixtures.client_note}")
            say(f"writing {Mix.of(args.rows).total:,} expired rows into the full database ...")
            inserted = write_history(
                database_path(full.server), args.rows, full.fixtures.client[0]
            )
            empty_specs = specs(empty, args.connections)
            full_specs = specs(full, args.connections)
            for key, row in rows.items():
                say(f"{row.label} ...")
                load_both(row, empty_specs[key], full_specs[key], load, args)
            say("tekcify-auth db purge on the full database ...")
            check = run_purge(full.server)
    finally:
        load.close()
    elapsed = time.perf_counter() - began

    failed = False
    table = []
    for row in rows.values():
        cells, ok = row.cells()
        table.append(cells)
        failed |= not ok
    purged, purge_ok = check.rows()
    failed |= not purge_ok
    pinning = (
        "servers unpinned" if SERVER_CPUS is None else
        f"both servers pinned to CPU {min(SERVER_CPUS)}, load generator to the other CPU(s)"
    )
    mix = Mix.of(args.rows)
    print("## History (benchmarks/history.py)\n")
    print(machine_line("tekcify-auth-backend", "fastapi", "uvicorn", "SQLAlchemy"))
    print(
        f"\nTwo `tekcify-auth serve` (1 worker, SQLite, HS256) side by side; {pinning}. "
        f"The full one holds {mix.total:,} expired rows ({mix.sessions:,} ended sessions, "
        f"{mix.refresh_tokens:,} refresh tokens, {mix.codes:,} codes, {mix.client_tokens:,} "
        f"revoked client tokens, over {mix.users:,} more accounts), written in {inserted:.0f} s. "
        f"Each endpoint loaded on both in turn, {args.slice:g} s slices, {args.seconds:g} s "
        f"each after a {args.warmup:g} s warm-up, {args.connections} keep-alive connections; "
        "\"full / empty\" is the median of per-round ratios; p99 in ms. "
        f"{elapsed:.0f} s in all.\n"
    )
    print(markdown_table(
        ["endpoint", "empty req/s", "full req/s", "full / empty", "empty p99", "full p99",
         "target", "result"],
        table,
    ))
    print(
        f"\n`tekcify-auth db purge` (default retention) on the full database took "
        f"{check.seconds:.1f} s: {check.output}\n"
    )
    print(markdown_table(
        ["table", "before purge", "history", "live set", "after purge", "result"], purged,
    ))
    print(
        f"\nThe database file: {check.size_before / 1e6:,.0f} MB before the purge, "
        f"{check.size_after / 1e6:,.0f} MB after (SQLite reuses the freed pages; VACUUM "
        "would give them back to the file system)."
    )
    return 1 if args.check and failed else 0


if __name__ == "__main__":
    run_main(main)
