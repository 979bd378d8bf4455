"""Server throughput: the Tekcify Auth server's endpoints beside a bare FastAPI endpoint.

The server runs as it is deployed, under uvicorn (one worker, uvloop/httptools when
installed, no access log: uvicorn's is off and the server's own JSON line per request
is an INFO record, below the level logged here) on a free 127.0.0.1 port with a
temporary TEKCIFY_DATA_DIR, first on SQLite, then on PostgreSQL (in a private database
made for the run in TEKCIFY_TEST_POSTGRES_URL's cluster, or else in a throwaway cluster
from scripts/postgres.sh on a port of its own; without PostgreSQL's binaries that half
is left out with a note). The same process serves ``GET /bench/bare`` from an empty
FastAPI app (benchmarks/apps/server_app.py): the baseline. The server process is
pinned to one CPU, the load generator (a separate process, benchmarks/_serverload.py)
to the other(s). Servers and PostgreSQL are stopped on every way out.

Each endpoint but login is loaded from keep-alive connections, one request in flight
on each, interleaved with the bare endpoint in short slices whose order reverses every
round, so both meet the same machine; "x bare" is the median of the per-round ratios
of their rates. Latencies are the generator's (first byte out to last byte in) under
that load, so they include queueing behind the other connections. What is sent:

* login: ``POST /api/auth/login`` with the right password (argon2id), alone on 2
  connections; the sessions it opens seed the refresh load;
* refresh: ``POST /api/auth/refresh``: each connection has a session of its own and
  sends the refresh token the previous answer returned (they rotate);
* introspection: ``POST /api/oauth/token/introspect`` (the JSON form) of a live access
  token; userinfo: ``GET /api/oauth/userinfo`` with it; JWKS;
* client_credentials: ``POST /api/oauth/token`` (client_secret_basic, form-encoded);
* the authorization-code exchange: the same endpoint with codes made just before
  (the bench user signs in and consents once on the server's pages; each authorization
  request then redirects with a new code), one code per request.

Targets: introspection >= 0.50 x bare, userinfo >= 0.40 x bare, refresh >= 300/s on
SQLite, client_credentials >= 0.25 x bare; judged on wall-clock rates, or with
``--metric cpu`` on "req/CPU-s" (requests per CPU second of the server process, which
leaves PostgreSQL's own CPU out). "busy" is the server's CPU seconds per second: near
1.00 it had its core to itself; far below, the machine was busy or the server waited.

    python benchmarks/server.py [--seconds S] [--only sqlite|postgresql] [--check]

Exit status is 0 (it is a report) unless ``--check`` is given and a target fails.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import IO, Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import httpx
from _common import (
    SERVER_CPUS,
    UVICORN_HTTP,
    UVICORN_LOOP,
    close_generator,
    free_port,
    in_generator,
    in_server,
    machine_line,
    markdown_table,
    median,
    run_main,
    stop_group,
    verdict,
)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
APPS = os.path.join(HERE, "apps")
POSTGRES_SH = os.path.join(ROOT, "scripts", "postgres.sh")
EMAIL = "bench@example.com"
PASSWORD = "correct horse battery staple"
REDIRECT_URI = "http://127.0.0.1:9/callback"
BARE = "bare FastAPI endpoint"


# -- the rows ----------------------------------------------------------------------


@dataclass
class Row:
    """One endpoint on one database: what it measured and what it had to reach."""

    database: str
    label: str
    connections: int = 0
    rps: list[float] = field(default_factory=list)
    cpu_rps: list[float] = field(default_factory=list)
    ratios: list[float] = field(default_factory=list)
    cpu_ratios: list[float] = field(default_factory=list)
    busy: list[float] = field(default_factory=list)
    p50: list[float] = field(default_factory=list)
    p99: list[float] = field(default_factory=list)
    goal: str = ""
    check: Callable[[Row, str], bool] | None = None
    note: str = ""

    def cells(self, metric: str) -> tuple[list[str], bool | None]:
        """The table cells and whether the target was met (``None``: no target)."""
        def fmt(values: list[float], pattern: str) -> str:
            return format(median(values), pattern) if values else "-"

        cells = [
            self.database, self.label, str(self.connections or "-"), fmt(self.rps, ",.0f"),
            fmt(self.p50, ".1f"), fmt(self.p99, ".1f"), fmt(self.ratios, ".2f"),
            fmt(self.cpu_rps, ",.0f"), fmt(self.cpu_ratios, ".2f"), fmt(self.busy, ".2f"),
            self.goal or "-",
        ]
        if not self.rps:
            ok = False if self.check is not None else None
            shown = self.note or "not measured"
            return [*cells, f"FAIL ({shown})" if ok is False else shown], ok
        ok = None if self.check is None else self.check(self, metric)
        result = "" if ok is None else verdict(ok)
        if self.note:
            result = f"{result} ({self.note})" if result else self.note
        return [*cells, result], ok


def at_least_bare(share: float) -> Callable[[Row, str], bool]:
    """At least ``share`` of the bare endpoint's rate (wall-clock or per CPU second)."""
    return lambda row, metric: median(row.ratios if metric == "wall" else row.cpu_ratios) >= share


def at_least_rps(rate: float) -> Callable[[Row, str], bool]:
    """At least ``rate`` requests per second (wall-clock or per CPU second)."""
    return lambda row, metric: median(row.rps if metric == "wall" else row.cpu_rps) >= rate


# -- PostgreSQL ----------------------------------------------------------------------


@contextlib.contextmanager
def private_database(root_url: str) -> Iterator[str]:
    """A database of its own in the cluster at ``root_url``, dropped at the end."""
    import psycopg

    name = f"tekcify_bench_{secrets.token_hex(4)}"
    plain = root_url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    parts = urlsplit(plain)
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@contextlib.contextmanager
def postgres() -> Iterator[tuple[str | None, str]]:
    """(the URL of an empty database, where it lives), or (None, why there is none)."""
    given = os.environ.get("TEKCIFY_TEST_POSTGRES_URL")
    if given:
        with private_database(given) as url:
            yield url, "a private database in TEKCIFY_TEST_POSTGRES_URL's cluster"
        return
    if os.environ.get("TEKCIFY_TEST_SKIP_POSTGRES") == "1":  # left out on purpose
        yield None, "TEKCIFY_TEST_SKIP_POSTGRES=1"
        return
    # A port of our own: postgres.sh reuses a cluster already on its port, and we stop ours.
    env = {**os.environ, "TEKCIFY_PG_PORT": str(free_port())}
    started = subprocess.run(
        [POSTGRES_SH, "start"], env=env, capture_output=True, text=True, check=False
    )
    if started.returncode != 0:
        why = (started.stderr.strip().splitlines() or ["postgres.sh start failed"])[-1]
        # postgres.sh may have started the server before a later step failed.
        subprocess.run([POSTGRES_SH, "stop"], env=env, capture_output=True, check=False)
        yield None, why
        return
    try:
        yield started.stdout.strip(), "a throwaway cluster from scripts/postgres.sh"
    finally:
        subprocess.run([POSTGRES_SH, "stop"], env=env, capture_output=True, check=False)


def postgres_version(url: str) -> str:
    import psycopg

    with psycopg.connect(url) as conn:
        number = conn.info.server_version
    return f"PostgreSQL {number // 10000}.{number % 10000}"


# -- the server ----------------------------------------------------------------------


@dataclass
class Server:
    port: int
    pid: int
    env: dict[str, str] = field(default_factory=dict)  # for tekcify-auth admin commands

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def server_env(database_url: str | None, data_dir: str) -> dict[str, str]:
    """The environment of the server: ours without any TEKCIFY_* or JWT_* setting."""
    env = {
        k: v for k, v in os.environ.items()
        if not k.startswith(("TEKCIFY_", "JWT_"))
    }
    env["TEKCIFY_DATA_DIR"] = data_dir
    env["TEKCIFY_LOG_LEVEL"] = "WARNING"
    # The login load logs one account in over and over, and its sessions seed the refresh
    # load: lift the per-account limits on successful logins and live sessions.
    env["TEKCIFY_LOGIN_MAX_SUCCESSES_PER_ACCOUNT"] = "100000"
    env["TEKCIFY_MAX_SESSIONS_PER_ACCOUNT"] = "10000"
    if database_url is not None:
        env["TEKCIFY_DATABASE_URL"] = database_url
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [APPS, env.get("PYTHONPATH")]))
    return env


def with_bare_endpoint(port: int) -> list[str]:
    """The command of the server with the bare endpoint beside it, under uvicorn."""
    return [
        sys.executable, "-m", "uvicorn", "server_app:app", "--factory", "--app-dir", APPS,
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1", "--no-access-log",
        "--log-level", "warning", "--loop", UVICORN_LOOP, "--http", UVICORN_HTTP,
    ]


@contextlib.contextmanager
def serving(
    database_url: str | None, command_for: Callable[[int], list[str]] = with_bare_endpoint
) -> Iterator[Server]:
    """The server (``command_for(port)``, by default with the bare endpoint), pinned,
    until the block ends (even on errors)."""
    port = free_port()
    command = command_for(port)
    with tempfile.TemporaryDirectory(prefix="tekcify-bench-") as data_dir, \
            running(command, server_env(database_url, data_dir), port) as server:
        yield server


@contextlib.contextmanager
def running(
    command: Sequence[str], env: dict[str, str], port: int,
    preexec: Callable[[], None] = in_server,
) -> Iterator[Server]:
    """``command`` (a server on ``port`` answering ``GET /health``) in a session of its
    own, until the block ends (even on errors); ``preexec`` runs in the child first."""
    with tempfile.TemporaryFile() as log:
        # Its own session: a Ctrl-C reaches only us, and we stop the server ourselves.
        proc = subprocess.Popen(
            command, env=env, cwd=APPS,
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, preexec_fn=preexec,
        )
        try:
            wait_ready(proc, port, log)
            yield Server(port, proc.pid, env)
            if proc.poll() is not None:
                raise RuntimeError(f"the server exited ({proc.returncode}):\n{tail(log)}")
        finally:
            stop_group(proc, 10)


def tail(log: IO[bytes]) -> str:
    log.seek(0)
    return log.read().decode("utf-8", "replace")[-3000:]


def wait_ready(proc: subprocess.Popen[bytes], port: int, log: IO[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited ({proc.returncode}):\n{tail(log)}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"the server did not answer /health within 60 s:\n{tail(log)}")


# -- what the load needs -------------------------------------------------------------


@dataclass
class Fixtures:
    """Accounts, tokens and clients made through the API before the load."""

    access_token: str
    grants: list[str]
    client: tuple[str, str] | None  # (client_id, client_secret)
    client_note: str = ""
    #: Refresh tokens of sessions of their own (the login load's), one per connection.
    refresh_seeds: list[str] = field(default_factory=list)


def _ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    if response.status_code != status:
        raise RuntimeError(
            f"{response.request.method} {response.request.url.path} gave "
            f"{response.status_code}: {response.text[:300]}"
        )
    body: dict[str, Any] = response.json()
    return body


def login(http: httpx.Client) -> dict[str, Any]:
    return _ok(http.post("/api/auth/login", json={"email": EMAIL, "password": PASSWORD}))


def prepare(server: Server) -> Fixtures:
    """Register the user, log in once, make an OAuth client, read the grants offered."""
    with httpx.Client(base_url=server.url, timeout=60) as http:
        _ok(http.post("/api/auth/register", json={"email": EMAIL, "password": PASSWORD}), 201)
        access = login(http)["accessToken"]
        metadata = _ok(http.get("/.well-known/oauth-authorization-server"))
        client: tuple[str, str] | None = None
        note = ""
        created = http.post(
            "/api/applications",
            headers={"Authorization": f"Bearer {access}"},
            json={"name": "bench", "redirectUris": [REDIRECT_URI], "scopes": ["read:profile"]},
        )
        if created.status_code == 201:
            body = created.json()
            client = (body["clientId"], body["clientSecret"])
            # client_credentials needs the operator's leave (issue 10 item 6).
            subprocess.run(
                [sys.executable, "-m", "tekcify_auth.cli", "apps", "allow-client-credentials",
                 body["clientId"], "--scopes", "read:profile"],
                env=server.env, cwd=APPS, check=True, capture_output=True, timeout=120,
            )
        else:
            note = f"POST /api/applications gave {created.status_code}"
    return Fixtures(
        access_token=access,
        grants=list(metadata.get("grant_types_supported", [])),
        client=client,
        client_note=note,
    )


class _Forms(HTMLParser):
    """The forms of a page: action and hidden fields."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {name: value or "" for name, value in attrs}
        if tag == "form":
            self.forms.append((found.get("action", ""), {}))
        elif tag == "input" and self.forms and found.get("type") == "hidden":
            self.forms[-1][1][found.get("name", "")] = found.get("value", "")


@dataclass
class CodeFlow:
    """Authorization codes for the bench client, from ``/api/oauth/authorize``.

    The browser (an httpx client with its cookies) signed in and consented once on the
    server's pages; from then on each authorization request redirects at once with a
    new code, as it does for a returning user.
    """

    http: httpx.Client
    url: str
    verifier: str

    def code(self) -> str:
        answer = self.http.get(self.url)
        location: str = answer.headers.get("location", "")
        if answer.status_code != 302 or not location.startswith(REDIRECT_URI + "?"):
            raise RuntimeError(f"authorize gave {answer.status_code} {location[:200]!r}")
        return parse_qs(urlsplit(location).query)["code"][0]

    def bodies(self, count: int) -> list[str]:
        """``count`` token requests, each redeeming a new code (codes live 60 s)."""
        with ThreadPoolExecutor(4) as pool:
            codes = list(pool.map(lambda _: self.code(), range(count)))
        return [
            urlencode({
                "grant_type": "authorization_code", "code": code,
                "redirect_uri": REDIRECT_URI, "code_verifier": self.verifier,
            })
            for code in codes
        ]


def start_code_flow(server: Server, client_id: str) -> CodeFlow:
    """Sign in and consent on the pages; raises ``RuntimeError`` if they do not lead on."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    url = "/api/oauth/authorize?" + urlencode({
        "response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT_URI,
        "scope": "read:profile", "state": "bench", "code_challenge_method": "S256",
        "code_challenge": challenge.rstrip(b"=").decode(),
    })
    http = httpx.Client(base_url=server.url, timeout=30)
    page = http.get(url)
    for _ in range(6):  # the login page, the consent page and the redirects between
        if page.status_code in (302, 303):
            location = page.headers["location"]
            if location.startswith(REDIRECT_URI):
                return CodeFlow(http, url, verifier)
            page = http.get(location)
            continue
        forms = _Forms()
        forms.feed(page.text)
        if page.status_code != 200 or len(forms.forms) != 1:
            break
        action, hidden = forms.forms[0]
        extra = (
            {"email": EMAIL, "password": PASSWORD} if 'name="password"' in page.text
            else {"decision": "allow"}
        )
        page = http.post(action, data={**hidden, **extra})
    http.close()
    raise RuntimeError(f"the authorization pages did not end in a code ({page.status_code})")


def bare_spec(connections: int) -> dict[str, Any]:
    return {"method": "GET", "path": "/bench/bare", "connections": connections}


def json_post(path: str, body: str, connections: int, **extra: Any) -> dict[str, Any]:
    return {
        "method": "POST", "path": path, "body": body, "connections": connections,
        "headers": ["Content-Type: application/json"], **extra,
    }


def basic(client_id: str, secret: str) -> str:
    raw = f"{client_id}:{secret}".encode()  # both are URL-safe already (RFC 6749 §2.3.1)
    return "Authorization: Basic " + base64.b64encode(raw).decode()


# -- the load generator --------------------------------------------------------------


class Load:
    """The load generator: a separate process, given one JSON job at a time."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "_serverload.py"), "--serve"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=HERE,
            preexec_fn=in_generator,
        )
        self.generator_share: list[float] = []

    def close(self) -> None:
        close_generator(self.proc, 2)

    def run(self, job: dict[str, Any]) -> dict[str, Any]:
        stdin, stdout = self.proc.stdin, self.proc.stdout
        if stdin is None or stdout is None:
            raise RuntimeError("the load generator has no pipes")
        stdin.write(json.dumps(job) + "\n")
        stdin.flush()
        try:
            line = stdout.readline()
        except BaseException:  # interrupted mid-job: stop loading before the server stops
            self.proc.kill()
            raise
        if not line:
            raise RuntimeError(f"the load generator died ({self.proc.wait()}), see above")
        result: dict[str, Any] = json.loads(line)
        if "error" in result:
            raise RuntimeError(result["error"])
        self.generator_share.append(result["generator_cpu_share"])
        for count, example in zip(
            result["unexpected"], result["first_unexpected"], strict=True
        ):
            if count:
                raise RuntimeError(f"{count} unexpected answers, e.g.\n{example}")
        return result


def record(row: Row, measured: dict[str, Any], index: int, base: int | None) -> None:
    """Add target ``index``'s slices of ``measured`` to ``row`` (ratios to ``base``).

    Rounds from the first one in which a target ran out of single-use requests (codes)
    on are left out: they were not loaded all along.
    """
    for slices in measured["slices"]:
        if any(m.get("partial") for m in slices):
            break
        m = slices[index]
        rps = m["requests"] / m["seconds"]
        row.rps.append(rps)
        cpu = m["server_cpu"]
        if cpu:
            row.cpu_rps.append(m["requests"] / cpu)
            row.busy.append(cpu / m["seconds"])
        if base is not None:
            b = slices[base]
            row.ratios.append(rps / (b["requests"] / b["seconds"]))
            if cpu and b["server_cpu"]:
                row.cpu_ratios.append((m["requests"] / cpu) / (b["requests"] / b["server_cpu"]))
    latency = measured["latency"][index]
    if latency["count"]:
        row.p50.append(latency["p50"])
        row.p99.append(latency["p99"])


# -- one database --------------------------------------------------------------------


@dataclass
class Job:
    """One endpoint's load: the row it fills, what is sent, and (for single-use requests)
    how to make the pool of bodies just before the load."""

    row: Row
    spec: dict[str, Any]
    make_pool: Callable[[], list[str]] | None = None


def database_rows(database: str) -> dict[str, Row]:
    """The rows of one database, by key, with their targets."""
    rows = {
        "bare": Row(database, BARE + " (GET /bench/bare)"),
        "login": Row(database, "login (POST /api/auth/login)"),
        "refresh": Row(database, "refresh (POST /api/auth/refresh)"),
        "introspect": Row(
            database, "introspection (POST /api/oauth/token/introspect)",
            goal=">= 0.50 x bare", check=at_least_bare(0.50),
        ),
        "userinfo": Row(
            database, "userinfo (GET /api/oauth/userinfo)",
            goal=">= 0.40 x bare", check=at_least_bare(0.40),
        ),
        "jwks": Row(database, "JWKS (GET /api/.well-known/jwks.json)"),
        "client_credentials": Row(
            database, "client_credentials (POST /api/oauth/token)",
            goal=">= 0.25 x bare", check=at_least_bare(0.25),
        ),
        "code": Row(database, "authorization_code exchange (POST /api/oauth/token)"),
    }
    if database == "SQLite":
        rows["refresh"].goal, rows["refresh"].check = ">= 300/s", at_least_rps(300)
    return rows


def jobs_for(
    rows: dict[str, Row], server: Server, fixtures: Fixtures, args: argparse.Namespace
) -> list[Job]:
    """The interleaved jobs; rows whose endpoint cannot be loaded get a note instead."""
    conns = args.connections
    token = fixtures.access_token
    jobs = [
        Job(rows["refresh"], json_post(
            "/api/auth/refresh", '{"refreshToken": "{token}"}', conns,
            chain={"field": "refreshToken", "seeds": fixtures.refresh_seeds},
        )),
        Job(rows["introspect"], json_post(
            "/api/oauth/token/introspect", json.dumps({"token": token}), conns,
        )),
        Job(rows["userinfo"], {
            "method": "GET", "path": "/api/oauth/userinfo", "connections": conns,
            "headers": [f"Authorization: Bearer {token}"],
        }),
        Job(rows["jwks"], {
            "method": "GET", "path": "/api/.well-known/jwks.json", "connections": conns,
        }),
    ]
    offered = {"client_credentials": "client_credentials", "authorization_code": "code"}
    for grant, key in offered.items():
        if grant not in fixtures.grants:
            rows[key].note = "grant not offered by the server yet"
        elif fixtures.client is None:
            rows[key].note = fixtures.client_note
    if fixtures.client is None:
        return jobs
    token_request = {
        "method": "POST", "path": "/api/oauth/token", "connections": conns,
        "headers": ["Content-Type: application/x-www-form-urlencoded", basic(*fixtures.client)],
    }
    if "client_credentials" in fixtures.grants:
        jobs.append(Job(rows["client_credentials"], {
            **token_request,
            "body": urlencode({"grant_type": "client_credentials", "scope": "read:profile"}),
        }))
    if "authorization_code" in fixtures.grants:
        try:
            flow = start_code_flow(server, fixtures.client[0])
        except (RuntimeError, httpx.HTTPError) as exc:
            rows["code"].note = "error, see stderr"
            print(f"authorization pages: {exc}", file=sys.stderr, flush=True)
        else:
            jobs.append(Job(rows["code"], token_request, lambda: flow.bodies(args.codes)))
    return jobs


def load_login(
    row: Row, server: Server, fixtures: Fixtures, load: Load, args: argparse.Namespace
) -> None:
    """Login alone (it hashes, so its rate says nothing beside the bare endpoint's).

    The sessions it opens seed the refresh load, topped up to one per connection.
    """
    row.connections = args.login_connections
    body = json.dumps({"email": EMAIL, "password": PASSWORD})
    try:
        measured = load.run({
            "port": server.port, "pid": server.pid, "warmup": args.warmup,
            "slice_seconds": args.seconds, "rounds": 1,
            "targets": [json_post(
                "/api/auth/login", body, args.login_connections, collect="refreshToken",
            )],
        })
    except RuntimeError as exc:
        row.note = "error, see stderr"
        print(f"login: {exc}", file=sys.stderr, flush=True)
    else:
        record(row, measured, 0, None)
        fixtures.refresh_seeds = measured["collected"][0][-args.connections:]
    missing = args.connections - len(fixtures.refresh_seeds)
    if missing > 0:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            fixtures.refresh_seeds += [login(http)["refreshToken"] for _ in range(missing)]


def load_beside_bare(
    job: Job, bare: Row, server: Server, load: Load, args: argparse.Namespace
) -> None:
    """``job`` interleaved with the bare endpoint; fills both rows."""
    job.row.connections = bare.connections = args.connections
    spec = job.spec
    try:
        if job.make_pool is not None:
            started = time.perf_counter()
            spec = {**spec, "pool": job.make_pool()}
            print(
                f"  {len(spec['pool'])} codes made in {time.perf_counter() - started:.1f} s",
                file=sys.stderr, flush=True,
            )
        measured = load.run({
            "port": server.port, "pid": server.pid, "warmup": args.warmup,
            "slice_seconds": args.slice, "rounds": max(1, round(args.seconds / args.slice)),
            "targets": [bare_spec(args.connections), spec],
        })
    except (RuntimeError, httpx.HTTPError) as exc:
        job.row.note = "error, see stderr"
        print(f"{job.row.label}: {exc}", file=sys.stderr, flush=True)
        return
    if measured["slices"][-1][1].get("partial"):
        job.row.note = "ran out of codes: the rounds before only"
    record(bare, measured, 0, None)
    record(job.row, measured, 1, 0)
    if job.row.rps:
        print(
            f"  {median(job.row.rps):,.0f}/s, x bare {median(job.row.ratios):.2f}",
            file=sys.stderr, flush=True,
        )


def bench_database(
    database: str, url: str | None, load: Load, args: argparse.Namespace
) -> list[Row]:
    """Every row of one database; rows left unmeasured carry a note."""
    rows = database_rows(database)
    print(f"{database}: starting the server ...", file=sys.stderr, flush=True)
    try:
        with serving(url) as server:
            fixtures = prepare(server)
            print(
                f"{database}: grants offered: {', '.join(fixtures.grants)}",
                file=sys.stderr, flush=True,
            )
            print(f"{database}: {rows['login'].label} ...", file=sys.stderr, flush=True)
            load_login(rows["login"], server, fixtures, load, args)
            for job in jobs_for(rows, server, fixtures, args):
                print(f"{database}: {job.row.label} ...", file=sys.stderr, flush=True)
                load_beside_bare(job, rows["bare"], server, load, args)
    except (RuntimeError, httpx.HTTPError, OSError) as exc:
        print(f"{database}: {exc}", file=sys.stderr, flush=True)
        for row in rows.values():
            if not row.rps and not row.note:
                row.note = "error, see stderr"
    if rows["bare"].p50:
        rows["bare"].note = "p50/p99: medians over its runs beside each endpoint"
    return list(rows.values())


# -- the report ----------------------------------------------------------------------


def argon2_line() -> str:
    """The server's argon2id parameters (its defaults) and one hash's time here."""
    from tekcify_auth.server.services.passwords import Passwords
    from tekcify_auth.server.settings import load_settings

    settings = load_settings(env={})
    hasher = Passwords(
        time_cost=settings.argon2_time_cost, memory_cost=settings.argon2_memory_cost,
        parallelism=settings.argon2_parallelism,
    )
    started = time.perf_counter()
    hasher.hash(PASSWORD)
    took = (time.perf_counter() - started) * 1000
    return (
        f"Login checks an argon2id hash, slow by design: time_cost="
        f"{settings.argon2_time_cost}, memory_cost={settings.argon2_memory_cost} KiB, "
        f"parallelism={settings.argon2_parallelism} (the TEKCIFY_ARGON2_* defaults); one "
        f"hash took {took:.0f} ms in this (unpinned) process."
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=4.0,
                        help="timed seconds per endpoint, and as many for the bare one "
                        "beside it (default 4)")
    parser.add_argument("--slice", type=float, default=0.25,
                        help="seconds per slice (default 0.25)")
    parser.add_argument("--warmup", type=float, default=1.0,
                        help="seconds of load per target before timing (default 1)")
    parser.add_argument("--connections", type=int, default=16,
                        help="keep-alive connections per endpoint (default 16)")
    parser.add_argument("--login-connections", type=int, default=2,
                        help="connections for login, which hashes (default 2)")
    parser.add_argument("--codes", type=int, default=1200,
                        help="authorization codes made for the code exchange (default 1200)")
    parser.add_argument("--only", choices=("sqlite", "postgresql"), default=None)
    parser.add_argument("--metric", choices=("wall", "cpu"), default="wall",
                        help="what targets are judged on: req/s and x bare (default), or "
                        "req/CPU-s and x CPU")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target fails")
    args = parser.parse_args(argv)

    # A SIGTERM unwinds like Ctrl-C, so the servers and PostgreSQL are stopped on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    began = time.perf_counter()
    rows: list[Row] = []
    notes: list[str] = []
    load = Load()
    try:
        if args.only in (None, "sqlite"):
            rows += bench_database("SQLite", None, load, args)
        if args.only in (None, "postgresql"):
            print("PostgreSQL: preparing a database ...", file=sys.stderr, flush=True)
            with postgres() as (url, where):
                if url is None:
                    note = f"PostgreSQL left out: {where}"
                    print(note, file=sys.stderr, flush=True)
                    notes.append(note)
                else:
                    notes.append(f"{postgres_version(url)}: {where}.")
                    rows += bench_database("PostgreSQL", url, load, args)
    finally:
        load.close()
    elapsed = time.perf_counter() - began

    table: list[list[str]] = []
    failed = False
    for row in rows:
        cells, ok = row.cells(args.metric)
        table.append(cells)
        failed |= ok is False
    pinning = (
        "server unpinned" if SERVER_CPUS is None else
        f"server pinned to CPU {min(SERVER_CPUS)}, load generator to the other CPU(s)"
    )
    share = (
        f" (the generator used at most {max(load.generator_share):.0%} of its CPU)"
        if load.generator_share else ""
    )
    judged = "req/s and x bare" if args.metric == "wall" else "req/CPU-s and x CPU"
    print("## Server throughput (benchmarks/server.py)\n")
    print(machine_line(
        "tekcify-auth-backend", "fastapi", "uvicorn", "SQLAlchemy", "psycopg", "argon2-cffi"
    ))
    print(
        f"\nuvicorn: 1 worker, loop {UVICORN_LOOP}, http {UVICORN_HTTP}, no access log; "
        f"{pinning}; HS256 signing (the default). Load: keep-alive connections from a "
        "separate Python process, one request in flight on each; every endpoint but login "
        f"interleaved with the bare one in {args.slice:g} s slices, {args.seconds:g} s each "
        f"after a {args.warmup:g} s warm-up; {elapsed:.0f} s in all{share}. req/s are "
        "medians of slices, \"x bare\" the median "
        "of per-round ratios, p50/p99 latencies in ms under that load; req/CPU-s counts "
        "the server process's CPU only (not PostgreSQL's), \"busy\" is its CPU seconds per "
        f"second. Targets are judged on {judged}.\n"
    )
    for note in [
        argon2_line(),
        "Client secrets are 256-bit random strings stored as SHA-256 (no slow hash: "
        "nothing to guess), so client authentication costs one lookup and one digest.",
        *notes,
    ]:
        print(f"- {note}")
    print()
    print(markdown_table(
        ["database", "endpoint", "conns", "req/s", "p50 ms", "p99 ms", "x bare",
         "req/CPU-s", "x CPU", "busy", "target", "result"],
        table, left=2,
    ))
    return 1 if args.check and failed else 0


if __name__ == "__main__":
    run_main(main)
