"""Our server beside the npm ``oidc-provider``: the same endpoints, the same core, one table.

Our server runs as deployed: ``tekcify-auth serve --workers 1`` (uvicorn, uvloop/httptools
when installed, no access log), SQLite in a temporary TEKCIFY_DATA_DIR, HS256 signing (the
default). The peer is ``oidc-provider`` 9.x (OpenID Certified) in one Node process with its
default in-memory adapter (benchmarks/apps/oidc_peer.mjs); it is installed with npm into
``$XDG_CACHE_HOME/tekcify-auth-bench/`` (default ``~/.cache/tekcify-auth-bench/``) on the
first run and reused after. Both serve one confidential client that authenticates with
client_secret_basic. The rows:

* client_credentials: ``POST /api/oauth/token`` / ``POST /token``, form-encoded;
* introspection of a client_credentials access token, and of a user's access token:
  ``POST /api/oauth/token/introspect`` / ``POST /token/introspection``, the RFC 7662 form,
  the client authenticating with Basic (ours: a token from signing in; the peer's: an
  opaque token of a grant to the client, minted by oidc_peer.mjs just before the row);
* userinfo with that user token: ``GET /api/oauth/userinfo`` / ``GET /me``;
* JWKS: ``GET /api/.well-known/jwks.json`` / ``GET /jwks`` (the peer publishes one RSA key);
* each runtime's bare ceiling: a plain ASGI callable under the same uvicorn settings
  (benchmarks/apps/bare_asgi.py) beside a bare Node ``http.createServer``
  (benchmarks/apps/node_hello.mjs).

Every server is pinned to the first CPU with ``taskset``; the load generator is ``wrk -t1``
(Debian's package) pinned to the second, with 32 keep-alive connections and a Lua script
(benchmarks/apps/wrk_check.lua) that counts bad answers (a wrong status, or a body without
the expected text: ``"active":true`` for introspection). For each endpoint the servers are
loaded in turn, in rounds of ``--seconds`` (ours, the peer, ours, the peer, ...; our
PostgreSQL and default-serve variants take their turn in each round too), after a warm-up
of each; reported are the medians over the rounds of req/s and of wrk's p99 latency, and
"ours ÷ peer" is the ratio of the median rates. "busy" is a server's CPU seconds per second
of load (its whole process group, from /proc), and "per CPU-s" divides the two servers'
requests per CPU second (a figure neighbours on the core disturb less; the targets are
judged on req/s). "wrk CPU" is the generator's own CPU seconds per second (from
getrusage), the highest of the row: well below 1.00, it was not the bottleneck.

On PostgreSQL (a private database in TEKCIFY_TEST_POSTGRES_URL's cluster, or a throwaway
cluster from scripts/postgres.sh) our server's rows are measured again in the same rounds;
without PostgreSQL's binaries they are left out with a note. The workers rows load the
default ``tekcify-auth serve`` (no ``--workers``, unpinned) in the same rounds and divide by
the pinned one-worker SQLite figures.

Targets (ours ÷ peer): introspection (both tokens) >= 1.0, userinfo >= 1.0,
client_credentials >= 0.75, JWKS >= 0.50 and >= 0.8 of our bare ceiling; each p99 at most
2x the peer's. Workers: the default ``serve`` >= 1.6x the pinned one worker.

    python benchmarks/peers.py [--seconds 10] [--rounds 3] [--warmup 2] [--check]

About 12 minutes with the defaults. Without node (20 or later), npm or wrk it says what to
install and exits 0. Exit status is 0 (it is a report) unless ``--check`` is given and a
target fails.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlencode

import httpx
from _common import (
    UVICORN_HTTP,
    UVICORN_LOOP,
    die_with_parent,
    free_port,
    machine_line,
    markdown_table,
    median,
    run_main,
    stop_group,
    verdict,
)

from server import (
    APPS,
    Fixtures,
    Server,
    basic,
    login,
    postgres,
    postgres_version,
    prepare,
    running,
    server_env,
    tail,
)

LUA = os.path.join(APPS, "wrk_check.lua")
PEER_SCRIPT = os.path.join(APPS, "oidc_peer.mjs")
NODE_HELLO = os.path.join(APPS, "node_hello.mjs")
PEER_PACKAGE = "oidc-provider@9"
NODE_MAJOR = 20  # the oldest Node.js oidc-provider 9.x runs on
FORM = "Content-Type: application/x-www-form-urlencoded"
CC_BODY = urlencode({"grant_type": "client_credentials", "scope": "read:profile"})

OURS, PEER, OURS_PG, DEFAULT = "ours", "oidc-provider", "ours on PostgreSQL", "default serve"
BARE_OURS, BARE_PEER = "bare ASGI", "bare Node"


# -- tools, CPUs and the peer's install ---------------------------------------------------


def missing_tools() -> list[str]:
    """What this benchmark cannot run without, each with how to install it."""
    how = {
        "node": "Node.js 20 or later (Debian 13: apt-get install -y nodejs)",
        "npm": "npm (Debian: apt-get install -y npm)",
        "wrk": "wrk (Debian: apt-get install -y wrk)",
    }
    lacking = [f"{tool}: {text}" for tool, text in how.items() if shutil.which(tool) is None]
    if shutil.which("node") is not None:
        version = tool_version(["node", "--version"])
        major = version.lstrip("v").split(".")[0]
        if not major.isdigit() or int(major) < NODE_MAJOR:
            lacking.append(f"node: {how['node']}; this one says {version!r}")
    return lacking


def _cpus() -> tuple[int | None, int | None]:
    """(the servers' CPU, wrk's CPU): the first two this process may use, or no pinning."""
    try:
        allowed = sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return None, None
    if len(allowed) < 2 or shutil.which("taskset") is None:
        return None, None
    return allowed[0], allowed[1]


SERVER_CPU, WRK_CPU = _cpus()


def pinned(cpu: int | None, command: Sequence[str]) -> list[str]:
    """``command`` run by ``taskset`` on ``cpu`` (as it is when there is no CPU to pin to)."""
    return list(command) if cpu is None else ["taskset", "-c", str(cpu), *command]


def cache_dir() -> Path:
    """Where npm installs the peer: outside the repository, reused from run to run."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
    return Path(base) / "tekcify-auth-bench"


def oidc_provider() -> tuple[str, str]:
    """(the entry point of the installed ``oidc-provider`` 9.x, its version).

    Installed with npm into :func:`cache_dir` when it is not there yet; raises
    ``RuntimeError`` when npm fails.
    """
    folder = cache_dir()
    package = folder / "node_modules" / "oidc-provider" / "package.json"

    def installed() -> dict[str, Any] | None:
        with contextlib.suppress(OSError, ValueError):
            found: dict[str, Any] = json.loads(package.read_text(encoding="utf-8"))
            if str(found.get("version", "")).startswith("9."):
                return found
        return None

    meta = installed()
    if meta is None:
        folder.mkdir(parents=True, exist_ok=True)
        print(f"installing {PEER_PACKAGE} with npm into {folder} (once) ...",
              file=sys.stderr, flush=True)
        done = subprocess.run(
            ["npm", "install", "--prefix", str(folder), "--no-audit", "--no-fund",
             "--loglevel", "http", PEER_PACKAGE],
            stdout=sys.stderr, stderr=sys.stderr, stdin=subprocess.DEVNULL, check=False,
        )
        meta = installed()
        if done.returncode != 0 or meta is None:
            raise RuntimeError(f"npm install {PEER_PACKAGE} failed ({done.returncode}), see above")
    entry = package.parent / str(meta.get("main") or "lib/index.js")
    return str(entry), str(meta["version"])


def tool_version(command: Sequence[str]) -> str:
    """The first line a tool prints about its version (wrk prints it before its usage)."""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
        lines = (done.stdout + done.stderr).strip().splitlines()
        if lines:
            return lines[0].strip()
    return "?"


# -- CPU of a server ------------------------------------------------------------------------

TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def group_processes(pgid: int) -> list[int]:
    """The processes of process group ``pgid`` (a server and any workers it started)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid:  # after "pid (comm)": state, ppid, pgrp, ...
            found.append(int(entry))
    return found


def group_cpu(pgid: int) -> float:
    """CPU seconds (user and system) the live processes of group ``pgid`` have used."""
    ticks = 0
    for pid in group_processes(pgid):
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / TICK


def worker_count(pgid: int) -> int:
    """uvicorn's worker processes in group ``pgid`` (1: it serves in its own process)."""
    workers = 0
    for pid in group_processes(pgid):
        with contextlib.suppress(OSError), open(f"/proc/{pid}/cmdline", "rb") as f:
            if b"spawn_main" in f.read():
                workers += 1
    return max(workers, 1)


# -- the servers ----------------------------------------------------------------------------


@dataclass
class Request:
    """What wrk sends, and the text every good answer's body holds."""

    method: str
    path: str
    expect: str
    body: str = ""
    headers: tuple[str, ...] = ()


@dataclass
class Side:
    """One server under load: its process and what it is sent per endpoint (made just before
    the endpoint is loaded, so tokens are fresh); ``None`` for an endpoint it skips."""

    name: str
    server: Server
    request: Callable[[str], Request | None]


@contextlib.contextmanager
def ours(database_url: str | None, *, one_pinned_worker: bool) -> Iterator[Server]:
    """``tekcify-auth serve`` on a temporary data dir: one worker on the servers' CPU, or
    the default (no ``--workers``, unpinned)."""
    port = free_port()
    command = [sys.executable, "-m", "tekcify_auth.cli", "serve",
               "--host", "127.0.0.1", "--port", str(port)]
    if one_pinned_worker:
        command = pinned(SERVER_CPU, [*command, "--workers", "1"])
    with tempfile.TemporaryDirectory(prefix="tekcify-peers-") as data_dir, \
            running(command, server_env(database_url, data_dir), port, die_with_parent) as server:
        yield server


@contextlib.contextmanager
def bare_asgi() -> Iterator[Server]:
    """benchmarks/apps/bare_asgi.py under uvicorn as ``serve`` runs it, pinned."""
    port = free_port()
    command = pinned(SERVER_CPU, [
        sys.executable, "-m", "uvicorn", "bare_asgi:app", "--app-dir", APPS,
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1", "--no-access-log",
        "--log-level", "warning", "--loop", UVICORN_LOOP, "--http", UVICORN_HTTP,
    ])
    with running(command, dict(os.environ), port, die_with_parent) as server:
        yield server


@dataclass
class NodeServer:
    """A Node server of benchmarks/apps/ and its stdin/stdout line protocol (JSON lines)."""

    server: Server
    proc: subprocess.Popen[bytes]
    log: IO[bytes]

    def read(self, timeout: float = 60) -> dict[str, Any]:
        """The next JSON line the server prints."""
        assert self.proc.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self.proc.stdout, selectors.EVENT_READ)
            if selector.select(timeout):
                line = self.proc.stdout.readline()
                if line.strip():
                    found: dict[str, Any] = json.loads(line)
                    return found
        raise RuntimeError(f"{self.proc.args} said nothing ({self.proc.poll()}):\n"
                           f"{tail(self.log)}")

    def ask(self) -> dict[str, Any]:
        """Send a line and read the answer (oidc_peer.mjs: a new user token)."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"\n")
        self.proc.stdin.flush()
        return self.read()


@contextlib.contextmanager
def node(script: str, env: dict[str, str]) -> Iterator[NodeServer]:
    """A Node server of benchmarks/apps/ on the servers' CPU, once it said it is ready."""
    port = free_port()
    env = {**os.environ, "NODE_ENV": "production", "PORT": str(port), **env}
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            pinned(SERVER_CPU, ["node", script]), env=env, cwd=APPS,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
            start_new_session=True, preexec_fn=die_with_parent,
        )
        try:
            started = NodeServer(Server(port, proc.pid), proc, log)
            started.read()
            yield started
            if proc.poll() is not None:
                raise RuntimeError(f"{script} exited ({proc.returncode}):\n{tail(log)}")
        finally:
            stop_group(proc, 10)


def our_requests(server: Server, fixtures: Fixtures) -> Callable[[str], Request | None]:
    """Our endpoints; each call signs in or asks for a token afresh (they live 15 minutes)."""
    assert fixtures.client is not None
    authorization = basic(*fixtures.client)

    def request(endpoint: str) -> Request | None:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            if endpoint == "client_credentials":
                return Request("POST", "/api/oauth/token", '"access_token"', CC_BODY,
                               (FORM, authorization))
            if endpoint == "introspect_cc":
                answer = http.post("/api/oauth/token", content=CC_BODY,
                                   headers=_headers(FORM, authorization))
                answer.raise_for_status()
                return _introspect("/api/oauth/token/introspect",
                                   answer.json()["access_token"], authorization)
            if endpoint == "introspect_user":
                return _introspect("/api/oauth/token/introspect",
                                   login(http)["accessToken"], authorization)
            if endpoint == "userinfo":
                return Request("GET", "/api/oauth/userinfo", '"sub"', "",
                               (f"Authorization: Bearer {login(http)['accessToken']}",))
            if endpoint == "jwks":
                return Request("GET", "/api/.well-known/jwks.json", '"keys"')
        return None

    return request


def peer_requests(peer: NodeServer, client: tuple[str, str]) -> Callable[[str], Request | None]:
    """oidc-provider's equivalents of :func:`our_requests`."""
    authorization = basic(*client)

    def request(endpoint: str) -> Request | None:
        if endpoint == "client_credentials":
            return Request("POST", "/token", '"access_token"', CC_BODY, (FORM, authorization))
        if endpoint == "introspect_cc":
            answer = httpx.post(f"{peer.server.url}/token", content=CC_BODY,
                                headers=_headers(FORM, authorization), timeout=60)
            answer.raise_for_status()
            return _introspect("/token/introspection", answer.json()["access_token"],
                               authorization)
        if endpoint == "introspect_user":
            return _introspect("/token/introspection", peer.ask()["userToken"], authorization)
        if endpoint == "userinfo":
            return Request("GET", "/me", '"sub"', "",
                           (f"Authorization: Bearer {peer.ask()['userToken']}",))
        if endpoint == "jwks":
            return Request("GET", "/jwks", '"keys"')
        return None

    return request


def only(
    endpoints: Sequence[str], request: Callable[[str], Request | None]
) -> Callable[[str], Request | None]:
    """``request`` for ``endpoints``, ``None`` (not loaded) for the others."""
    return lambda endpoint: request(endpoint) if endpoint in endpoints else None


def _introspect(path: str, token: str, authorization: str) -> Request:
    return Request("POST", path, '"active":true', urlencode({"token": token}),
                   (FORM, authorization))


def _headers(*lines: str) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in lines)


def hello(_endpoint: str) -> Request:
    return Request("GET", "/", "hello")


# -- the load -------------------------------------------------------------------------------


@dataclass
class Run:
    rps: float
    p99_ms: float
    bad: int
    busy: float
    wrk_cpu: float

    @property
    def cpu_rps(self) -> float:
        """Requests per CPU second of the server: what it would serve on a core of its own."""
        return self.rps / self.busy if self.busy else float("nan")


def wrk(side: Side, request: Request, seconds: int, connections: int) -> Run:
    """One wrk run of ``seconds`` against ``side``; raises ``RuntimeError`` if wrk fails."""
    command = pinned(WRK_CPU, [
        "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", LUA,
        f"{side.server.url}{request.path}", "--",
        request.method, "200", request.expect, request.body, *request.headers,
    ])
    before, cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN), group_cpu(side.server.pid)
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60,
                          check=False)
    after, cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN), group_cpu(side.server.pid)
    found = [line for line in done.stdout.splitlines() if line.startswith("PEERS_JSON ")]
    if done.returncode != 0 or not found:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    result = json.loads(found[0].split(" ", 1)[1])
    for line in done.stdout.splitlines():
        if line.startswith("PEERS_FIRST_BAD "):
            print(f"  {side.name} {request.path}: bad answer, e.g. {line[16:]}",
                  file=sys.stderr, flush=True)
    elapsed = result["duration_us"] / 1e6
    wrk_cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return Run(
        rps=result["requests"] / elapsed,
        p99_ms=result["p99_us"] / 1000,
        bad=result["bad"] + result["socket_errors"],
        busy=(cpu1 - cpu0) / elapsed,
        wrk_cpu=wrk_cpu / elapsed,
    )


@dataclass
class Series:
    """What one side measured on one endpoint over the rounds."""

    runs: list[Run] = field(default_factory=list)
    bad: int = 0  # the warm-up's included
    note: str = ""

    def median(self, name: str) -> float:
        return median([getattr(run, name) for run in self.runs])

    @property
    def wrk_cpu(self) -> float:
        return max((run.wrk_cpu for run in self.runs), default=float("nan"))


def load_endpoint(
    endpoint: str, sides: list[Side], args: argparse.Namespace
) -> dict[str, Series]:
    """The sides that serve ``endpoint``, each warmed up, then in turn for each round."""
    results: dict[str, Series] = {}
    requests: dict[str, Request] = {}
    for side in sides:
        series = results[side.name] = Series()
        try:
            made = side.request(endpoint)
        except (httpx.HTTPError, RuntimeError, KeyError) as exc:
            series.note = "error, see stderr"
            print(f"  {side.name}: preparing {endpoint}: {exc}", file=sys.stderr, flush=True)
            continue
        if made is None:
            del results[side.name]
            continue
        requests[side.name] = made
    loaded = [side for side in sides if side.name in requests]
    for rnd in range(-1 if args.warmup else 0, args.rounds):
        for side in loaded:
            series = results[side.name]
            if series.note:
                continue
            seconds = args.warmup if rnd < 0 else args.seconds
            try:
                run = wrk(side, requests[side.name], seconds, args.connections)
            except (RuntimeError, subprocess.TimeoutExpired) as exc:
                series.note = "error, see stderr"
                print(f"  {side.name}: {exc}", file=sys.stderr, flush=True)
                continue
            series.bad += run.bad
            if rnd >= 0:
                series.runs.append(run)
                print(f"  round {rnd + 1}: {side.name} {run.rps:,.0f}/s, p99 "
                      f"{run.p99_ms:.1f} ms, busy {run.busy:.2f}, wrk CPU {run.wrk_cpu:.2f}"
                      + (f", {run.bad} bad" if run.bad else ""), file=sys.stderr, flush=True)
    return results


# -- the report -----------------------------------------------------------------------------

ENDPOINTS = {
    "client_credentials": "client_credentials",
    "introspect_cc": "introspection (client_credentials token)",
    "introspect_user": "introspection (user token)",
    "userinfo": "userinfo",
    "jwks": "JWKS",
}
TARGETS = {
    "client_credentials": 0.75, "introspect_cc": 1.0, "introspect_user": 1.0,
    "userinfo": 1.0, "jwks": 0.50,
}
JWKS_OF_BARE = 0.8
P99_OF_PEER = 2.0
WORKER_ENDPOINTS = ("client_credentials", "introspect_cc", "userinfo")
WORKERS_TARGET = 1.6


def _rate(series: Series | None) -> str:
    return f"{series.median('rps'):,.0f}" if series and series.runs else "-"


def _p99(series: Series | None) -> str:
    return f"{series.median('p99_ms'):.1f}" if series and series.runs else "-"


def _busy(series: Series | None) -> str:
    return f"{series.median('busy'):.2f}" if series and series.runs else "-"


def _bad(series: Series | None) -> str:
    return str(series.bad) if series and (series.runs or series.bad) else "-"


def peer_row(
    database: str, label: str, mine: Series | None, peer: Series | None,
    target: float | None, bare: Series | None = None,
) -> tuple[list[str], bool | None]:
    """One row of the peer table and whether its targets were met (``None``: no target)."""
    ratio = (
        mine.median("rps") / peer.median("rps")
        if mine and mine.runs and peer and peer.runs else None
    )
    goal, ok, checks = "-", None, []
    if target is not None:
        goal = f">= {target:.2f}, p99 <= {P99_OF_PEER:g}x peer"
        if ratio is None:
            ok = False
        else:
            checks = [ratio >= target]
            assert mine is not None
            assert peer is not None
            checks.append(mine.median("p99_ms") <= P99_OF_PEER * peer.median("p99_ms"))
            if bare is not None:
                goal += f", >= {JWKS_OF_BARE:.2f}x our bare"
                checks.append(
                    bool(bare.runs) and mine.median("rps") >= JWKS_OF_BARE * bare.median("rps")
                )
            ok = all(checks) and mine.bad == 0 and peer.bad == 0
    result = "" if ok is None else verdict(ok)
    notes = [s.note for s in (mine, peer) if s and s.note]
    if bare is not None and mine and mine.runs and bare.runs:
        notes.append(f"{mine.median('rps') / bare.median('rps'):.2f}x our bare")
    if notes:
        result = f"{result} ({'; '.join(notes)})" if result else "; ".join(notes)
    wrk_cpu = max((s.wrk_cpu for s in (mine, peer) if s and s.runs), default=None)
    cpu_ratio = (
        mine.median("cpu_rps") / peer.median("cpu_rps")
        if mine and mine.runs and peer and peer.runs else None
    )
    cells = [
        database, label, _rate(mine), _p99(mine), _rate(peer), _p99(peer),
        "-" if ratio is None else f"{ratio:.2f}",
        "-" if cpu_ratio is None else f"{cpu_ratio:.2f}", goal, f"{_bad(mine)} / {_bad(peer)}",
        f"{_busy(mine)} / {_busy(peer)}", "-" if wrk_cpu is None else f"{wrk_cpu:.2f}", result,
    ]
    return cells, ok


def workers_row(
    label: str, default: Series | None, one: Series | None
) -> tuple[list[str], bool]:
    ratio = (
        default.median("rps") / one.median("rps")
        if default and default.runs and one and one.runs else None
    )
    ok = ratio is not None and ratio >= WORKERS_TARGET and default is not None \
        and default.bad == 0
    result = verdict(ok)
    if default and default.note:
        result += f" ({default.note})"
    return [
        label, _rate(default), _p99(default), _busy(default), _bad(default), _rate(one),
        "-" if ratio is None else f"{ratio:.2f}", f">= {WORKERS_TARGET:g}", result,
    ], ok


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=10,
                        help="seconds of load per server per round (default 10)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    parser.add_argument("--warmup", type=int, default=2,
                        help="seconds of load per server before the rounds (default 2; 0: none)")
    parser.add_argument("--connections", type=int, default=32,
                        help="wrk's keep-alive connections (default 32)")
    parser.add_argument("--without", action="append", default=[],
                        choices=("postgresql", "workers"),
                        help="leave out our PostgreSQL rows or the workers rows")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target fails")
    args = parser.parse_args(argv)
    if args.seconds < 1 or args.rounds < 1 or args.warmup < 0:
        parser.error("--seconds and --rounds must be at least 1, --warmup at least 0")

    print("## Our server beside oidc-provider (benchmarks/peers.py)\n")
    lacking = missing_tools()
    if lacking:
        print("Not measured: this benchmark needs these tools, which are not installed:")
        for line in lacking:
            print(f"- {line}")
        return 0
    try:
        entry, peer_version = oidc_provider()
    except RuntimeError as exc:
        print(f"Not measured: oidc-provider could not be installed ({exc}).")
        return 0

    # A SIGTERM unwinds like Ctrl-C, so every server is stopped on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    began = time.perf_counter()
    notes: list[str] = []
    results: dict[str, dict[str, Series]] = {}
    workers = 0
    with contextlib.ExitStack() as stack:
        print("starting our server (SQLite, one pinned worker) ...", file=sys.stderr, flush=True)
        mine = stack.enter_context(ours(None, one_pinned_worker=True))
        fixtures = prepare(mine)
        if fixtures.client is None:
            raise RuntimeError(f"no OAuth client for the load: {fixtures.client_note}")
        print("starting oidc-provider ...", file=sys.stderr, flush=True)
        peer = stack.enter_context(node(PEER_SCRIPT, {
            "OIDC_PROVIDER": entry, "CLIENT_ID": fixtures.client[0],
            "CLIENT_SECRET": fixtures.client[1],
        }))
        sides = [
            Side(OURS, mine, our_requests(mine, fixtures)),
            Side(PEER, peer.server, peer_requests(peer, fixtures.client)),
        ]
        if "postgresql" not in args.without:
            print("PostgreSQL: preparing a database ...", file=sys.stderr, flush=True)
            url, where = stack.enter_context(postgres())
            if url is None:
                notes.append(f"PostgreSQL left out: {where}.")
                print(notes[-1], file=sys.stderr, flush=True)
            else:
                notes.append(f"{postgres_version(url)}: {where}.")
                pg = stack.enter_context(ours(url, one_pinned_worker=True))
                sides.append(Side(OURS_PG, pg, our_requests(pg, prepare(pg))))
        if "workers" not in args.without:
            print("starting the default serve (unpinned) ...", file=sys.stderr, flush=True)
            default = stack.enter_context(ours(None, one_pinned_worker=False))
            requests = our_requests(default, prepare(default))
            workers = worker_count(default.pid)
            sides.append(Side(DEFAULT, default, only(WORKER_ENDPOINTS, requests)))
        for endpoint, label in ENDPOINTS.items():
            print(f"{label} ...", file=sys.stderr, flush=True)
            results[endpoint] = load_endpoint(endpoint, sides, args)
        print("bare hello of each runtime ...", file=sys.stderr, flush=True)
        asgi = stack.enter_context(bare_asgi())
        hello_node = stack.enter_context(node(NODE_HELLO, {}))
        results["bare"] = load_endpoint(
            "bare", [Side(BARE_OURS, asgi, hello), Side(BARE_PEER, hello_node.server, hello)],
            args,
        )
    elapsed = time.perf_counter() - began

    table, failed = [], False
    bare = results["bare"]
    for database, name in (("SQLite", OURS), ("PostgreSQL", OURS_PG)):
        if not any(name in found for found in results.values()):
            continue
        for endpoint, label in ENDPOINTS.items():
            found = results[endpoint]
            cells, ok = peer_row(
                database, label, found.get(name), found.get(PEER), TARGETS[endpoint],
                bare.get(BARE_OURS) if endpoint == "jwks" else None,
            )
            table.append(cells)
            failed |= ok is False
    cells, _ = peer_row("-", "bare hello of each runtime", bare.get(BARE_OURS),
                        bare.get(BARE_PEER), None)
    table.append(cells)

    pinning = (
        "no pinning (fewer than 2 CPUs or no taskset)" if SERVER_CPU is None else
        f"every server pinned to CPU {SERVER_CPU} with taskset, wrk to CPU {WRK_CPU}"
    )
    print(machine_line("tekcify-auth-backend", "fastapi", "uvicorn", "uvloop", "httptools",
                       "SQLAlchemy"))
    print(f"\nPeer: oidc-provider {peer_version} on Node {tool_version(['node', '--version'])}"
          f" (one process, in-memory adapter); load: {tool_version(['wrk', '-v'])}.\n")
    print(
        f"Ours: `tekcify-auth serve --workers 1` (uvicorn, loop {UVICORN_LOOP}, http "
        f"{UVICORN_HTTP}), HS256 signing (the default); {pinning}. `wrk -t1 "
        f"-c{args.connections}`, {args.rounds} round(s) of {args.seconds} s alternating the "
        f"servers after a {args.warmup} s warm-up of each; medians of req/s and of p99 (ms); "
        "\"ours ÷ peer\" divides the median rates; \"bad\" counts wrong answers and socket "
        "errors (warm-up included, must be 0); \"busy\" is each server's CPU seconds per "
        "second, and \"per CPU-s\" divides requests per CPU second (what each would serve on "
        "a core of its own, where neighbours take part of the core; the targets are judged "
        "on req/s); \"wrk CPU\" the generator's (highest of the row). "
        f"{elapsed:.0f} s in all.\n"
    )
    for note in notes:
        print(f"- {note}")
    if notes:
        print()
    print(markdown_table(
        ["database", "endpoint", "ours req/s", "ours p99", "oidc-provider req/s", "p99",
         "ours ÷ peer", "per CPU-s", "target", "bad ours / peer", "busy ours / peer",
         "wrk CPU", "result"],
        table, left=2,
    ))
    if "workers" not in args.without:
        rows = []
        for endpoint in WORKER_ENDPOINTS:
            cells, ok = workers_row(ENDPOINTS[endpoint], results[endpoint].get(DEFAULT),
                                    results[endpoint].get(OURS))
            rows.append(cells)
            failed |= not ok
        print(
            f"\n### Workers: the default `tekcify-auth serve` ({workers} worker"
            f"{'s' if workers != 1 else ''}, unpinned, SQLite) ÷ one pinned worker\n"
        )
        print(markdown_table(
            ["endpoint", "default req/s", "p99", "busy", "bad", "one pinned worker req/s",
             "default ÷ one", "target", "result"],
            rows,
        ))
    return 1 if args.check and failed else 0


if __name__ == "__main__":
    run_main(main)
