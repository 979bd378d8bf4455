"""Fleet throughput: one Tekcify Auth instance against two on the same PostgreSQL.

Two ``tekcify-auth serve`` processes (instances A and B: one uvicorn worker each, as
deployed, access log to /dev/null) share one PostgreSQL database and the
``JWT_ACCESS_SECRET``. A separate load process (this file with ``--generator``, built on
benchmarks/_serverload.py: keep-alive connections, one request in flight on each, every
latency recorded) loads login-free work in two ways, alternating in short slices whose
order reverses every round (one, two, two, one, ...), so that both meet the same
machine:

* **one instance**: every connection to A;
* **two instances**: the same number of connections, dealt alternately to A and B, as a
  round-robin proxy would.

What is sent: ``POST /api/auth/refresh`` (each connection rotates the refresh token of a
session of its own), ``POST /api/oauth/token/introspect`` of a live access token, and
``GET /api/oauth/userinfo`` with it. Logins are made beforehand, with cheap argon2
settings (login is not measured here; benchmarks/server.py measures it).

Besides requests per second and latencies (first byte out to last byte in, under that
load), each slice records where the machine's CPU went: both servers (their CPU clocks),
PostgreSQL (the postmaster and its backends, from /proc), the load generator, and the
whole machine (/proc/stat), so the report can say what limited the two-instance rate.

PostgreSQL: a throwaway cluster from scripts/postgres.sh on a free port (so its CPU is
only ours), or, without its binaries or with ``--postgres-url``, a private database in
that cluster (``TEKCIFY_TEST_POSTGRES_URL`` by default; its CPU then includes whatever
else the cluster serves).

    python benchmarks/fleet.py [--seconds S] [--slice S] [--connections N]

It is a report: the exit status is 0 unless the run itself failed (an unexpected answer,
a server that did not start, no PostgreSQL).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import IO, Any
from urllib.parse import urlsplit, urlunsplit

from _common import close_generator, die_with_parent, free_port, machine_line, median

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
POSTGRES_SH = os.path.join(ROOT, "scripts", "postgres.sh")
PASSWORD = "correct horse battery staple"
TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
CONFIGS = ("one instance", "two instances")


# -- CPU accounting (used in the generator process) --------------------------------------


def _proc_stat(pid: str) -> tuple[int, float] | None:
    """(parent pid, CPU seconds) of ``pid`` from /proc, or ``None`` if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            raw = f.read()
    except OSError:
        return None
    fields = raw[raw.rfind(")") + 2:].split()  # the name may hold spaces and parentheses
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / TICKS


def tree_cpu(root: int | None) -> dict[int, float] | None:
    """CPU seconds of ``root`` and each of its children, by pid (PostgreSQL's backends)."""
    if root is None or not os.path.isdir("/proc"):
        return None
    found: dict[int, float] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            stat = _proc_stat(name)
            if stat is not None and (int(name) == root or stat[0] == root):
                found[int(name)] = stat[1]
    return found


def tree_delta(before: dict[int, float] | None, after: dict[int, float] | None) -> float | None:
    """CPU used between two :func:`tree_cpu` samples (a process born between counts all)."""
    if before is None or after is None:
        return None
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())


def machine_busy() -> float | None:
    """CPU seconds every core together has spent busy since boot (/proc/stat)."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            values = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    return (sum(values[:8]) - idle) / TICKS


# -- the generator process -----------------------------------------------------------------


def _fleet_stream() -> type:
    """_serverload.Stream, its connections dealt over several instances."""
    sys.path.insert(0, HERE)
    from _load import cpu_clock
    from _serverload import Spec, Stream

    class FleetStream(Stream):  # type: ignore[misc]
        """A :class:`Stream` whose connections are dealt round-robin over ``ports``; its
        server CPU is the sum of every instance's."""

        def __init__(self, ports: Sequence[int], pids: Sequence[int], spec: dict[str, Any]):
            self._ports = itertools.cycle(ports)
            super().__init__(ports[0], None, Spec(**spec))
            clocks = [cpu_clock(pid) for pid in pids]

            def servers_cpu() -> float | None:
                readings = [clock() for clock in clocks]
                return None if None in readings else sum(r for r in readings if r is not None)

            self.cpu = servers_cpu

        def _connect(self, token: str | None) -> Any:
            self.port = next(self._ports)
            return super()._connect(token)

    return FleetStream


def measure(
    targets: Sequence[dict[str, Any]],
    postmaster: int | None,
    warmup: float,
    slice_seconds: float,
    rounds: int,
) -> dict[str, Any]:
    """Load each target (``{"ports", "pids", "spec"}``) in turn, ``rounds`` times.

    ``slices[r][i]`` is what target ``i`` measured in round ``r``: requests, seconds, and
    the CPU seconds of the servers, PostgreSQL, this generator and the whole machine.
    """
    fleet_stream = _fleet_stream()
    streams = []
    try:
        for target in targets:
            streams.append(fleet_stream(target["ports"], target["pids"], target["spec"]))
        for stream in streams:
            stream.load(warmup, record=False)
        slices: list[list[dict[str, Any]]] = []
        indexes = list(range(len(streams)))
        for r in range(rounds):
            got: dict[int, dict[str, Any]] = {}
            for i in indexes if r % 2 == 0 else indexes[::-1]:
                pg0, own0, busy0 = tree_cpu(postmaster), time.process_time(), machine_busy()
                result = streams[i].load(slice_seconds, record=True)
                pg1, own1, busy1 = tree_cpu(postmaster), time.process_time(), machine_busy()
                result["postgres_cpu"] = tree_delta(pg0, pg1)
                result["generator_cpu"] = own1 - own0
                result["machine_cpu"] = (
                    None if busy0 is None or busy1 is None else busy1 - busy0
                )
                got[i] = result
            slices.append([got[i] for i in indexes])
    finally:
        for stream in streams:
            stream.close()
    return {
        "slices": slices,
        "latency": [s.percentiles() for s in streams],
        "unexpected": [s.unexpected for s in streams],
        "first_unexpected": [s.first_unexpected for s in streams],
    }


def generator_main() -> int:
    """``--generator``: one JSON job per line in, one JSON answer per line out."""
    for line in sys.stdin:
        try:
            answer = measure(**json.loads(line))
        except Exception as exc:  # _load.ResponseError, OSError...: the parent reports it
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        print(json.dumps(answer), flush=True)
    return 0


class Generator:
    """The load generator, a separate process given one JSON job at a time."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--generator"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=HERE,
        )

    def run(self, job: dict[str, Any]) -> dict[str, Any]:
        stdin, stdout = self.proc.stdin, self.proc.stdout
        if stdin is None or stdout is None:
            raise RuntimeError("the load generator has no pipes")
        stdin.write(json.dumps(job) + "\n")
        stdin.flush()
        line = stdout.readline()
        if not line:
            raise RuntimeError(f"the load generator died ({self.proc.wait()})")
        result: dict[str, Any] = json.loads(line)
        if "error" in result:
            raise RuntimeError(result["error"])
        for count, example in zip(result["unexpected"], result["first_unexpected"], strict=True):
            if count:
                raise RuntimeError(f"{count} unexpected answers, e.g.\n{example}")
        return result

    def close(self) -> None:
        close_generator(self.proc, 5)


# -- PostgreSQL ------------------------------------------------------------------------------


def _plain(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


@dataclass
class Postgres:
    url: str  # an empty database of the run's own
    postmaster: int | None
    where: str
    version: str


def _postmaster_of(url: str) -> tuple[int | None, str]:
    import psycopg

    with psycopg.connect(_plain(url)) as conn:
        number = conn.info.server_version
        row = conn.execute("SHOW data_directory").fetchone()
    version = f"PostgreSQL {number // 10000}.{number % 10000}"
    try:
        pid_file = os.path.join(str(row[0]) if row else "", "postmaster.pid")
        with open(pid_file, encoding="ascii") as f:
            return int(f.readline()), version
    except (OSError, ValueError):
        return None, version


@contextlib.contextmanager
def _database_in(cluster_url: str) -> Iterator[str]:
    import psycopg

    name = f"tekcify_fleet_bench_{uuid.uuid4().hex[:8]}"
    plain = _plain(cluster_url)
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield urlunsplit(urlsplit(plain)._replace(path=f"/{name}", query=""))
    finally:
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@contextlib.contextmanager
def postgres(given: str | None) -> Iterator[Postgres]:
    """A database for the run; raises ``RuntimeError`` when there is no PostgreSQL."""
    if given is None:
        env = {**os.environ, "TEKCIFY_PG_PORT": str(free_port())}
        started = subprocess.run(
            [POSTGRES_SH, "start"], env=env, capture_output=True, text=True, check=False
        )
        if started.returncode == 0:
            try:
                with _database_in(started.stdout.strip()) as url:
                    postmaster, version = _postmaster_of(url)
                    yield Postgres(url, postmaster, "a throwaway cluster of its own "
                                   "(scripts/postgres.sh)", version)
            finally:
                subprocess.run([POSTGRES_SH, "stop"], env=env, capture_output=True, check=False)
            return
        subprocess.run([POSTGRES_SH, "stop"], env=env, capture_output=True, check=False)
        given = os.environ.get("TEKCIFY_TEST_POSTGRES_URL")
        if not given:
            why = (started.stderr.strip().splitlines() or ["postgres.sh start failed"])[-1]
            raise RuntimeError(f"no PostgreSQL: {why}; or pass --postgres-url")
    with _database_in(given) as url:
        postmaster, version = _postmaster_of(url)
        yield Postgres(url, postmaster, "a private database in a cluster shared with other "
                       "work (its CPU figure counts that work too)", version)


# -- the instances ---------------------------------------------------------------------------


@dataclass
class Instance:
    name: str
    port: int
    proc: subprocess.Popen[bytes]
    log: IO[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode("utf-8", "replace")[-3000:]


def fleet_env(
    database_url: str, data_dir: str, signing_alg: str, shared: dict[str, str]
) -> dict[str, str]:
    """An instance's environment: ours without TEKCIFY_* or JWT_*, plus the fleet's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEKCIFY_", "JWT_"))}
    env.update(
        TEKCIFY_DATABASE_URL=database_url, TEKCIFY_DATA_DIR=data_dir,
        TEKCIFY_SIGNING_ALG=signing_alg, TEKCIFY_LOG_LEVEL="WARNING",
        # Login is not measured: cheap hashing makes the sessions the load needs quickly.
        TEKCIFY_ARGON2_TIME_COST="1", TEKCIFY_ARGON2_MEMORY_COST="8",
        TEKCIFY_ARGON2_PARALLELISM="1",
        TEKCIFY_REGISTRATION_MAX_PER_ADDRESS="100000",
        TEKCIFY_REGISTRATION_MAX_PER_NETWORK="100000",
        # One account opens every session of the load: lift the per-account limits.
        TEKCIFY_LOGIN_MAX_SUCCESSES_PER_ACCOUNT="100000", TEKCIFY_MAX_SESSIONS_PER_ACCOUNT="10000",
        **shared,
    )
    return env


def start(name: str, env: dict[str, str]) -> Instance:
    port = free_port()
    log = tempfile.TemporaryFile()  # noqa: SIM115 - closed by stop()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tekcify_auth.cli", "serve", "--host", "127.0.0.1",
         "--port", str(port)],
        env=env, cwd=env["TEKCIFY_DATA_DIR"], stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=log, start_new_session=True,
        preexec_fn=die_with_parent,
    )
    instance = Instance(name, port, proc, log)
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{instance.url}/health", timeout=2).status_code == 200:
                return instance
        time.sleep(0.1)
    stop(instance)
    raise RuntimeError(f"instance {name} did not start:\n{instance.output()}")


def stop(instance: Instance) -> None:
    proc = instance.proc
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    instance.log.close()


@contextlib.contextmanager
def fleet(database_url: str, signing_alg: str) -> Iterator[tuple[Instance, Instance]]:
    """A and B on ``database_url``, started one after the other (migrations once)."""
    shared = {
        "JWT_ACCESS_SECRET": secrets.token_urlsafe(48),
        "TEKCIFY_KEY_ENCRYPTION_SECRET": secrets.token_urlsafe(48),
    }
    with tempfile.TemporaryDirectory(prefix="tekcify-fleet-a-") as dir_a, \
            tempfile.TemporaryDirectory(prefix="tekcify-fleet-b-") as dir_b:
        a = start("A", fleet_env(database_url, dir_a, signing_alg, shared))
        try:
            b = start("B", fleet_env(database_url, dir_b, signing_alg, shared))
            try:
                yield a, b
            finally:
                stop(b)
        finally:
            stop(a)


# -- what the load needs ---------------------------------------------------------------------


def _ok(response: Any, status: int = 200) -> dict[str, Any]:
    if response.status_code != status:
        raise RuntimeError(
            f"{response.request.method} {response.request.url.path} gave "
            f"{response.status_code}: {response.text[:300]}"
        )
    body: dict[str, Any] = response.json()
    return body


def sessions(a: Instance, count: int) -> tuple[str, list[str]]:
    """An access token and ``count`` refresh tokens, each of a session of its own."""
    import httpx

    email = f"bench-{uuid.uuid4().hex[:8]}@example.com"
    credentials = {"email": email, "password": PASSWORD}
    with httpx.Client(base_url=a.url, timeout=60) as http:
        _ok(http.post("/api/auth/register", json=credentials), 201)

        def login(_: int) -> dict[str, Any]:
            return _ok(http.post("/api/auth/login", json=credentials))

        with ThreadPoolExecutor(4) as pool:
            pairs = list(pool.map(login, range(count + 1)))
    return pairs[0]["accessToken"], [pair["refreshToken"] for pair in pairs[1:]]


def endpoints(token: str, connections: int) -> dict[str, Callable[[list[str]], dict[str, Any]]]:
    """The spec of each endpoint's load (refresh takes its connections' seeds)."""
    json_post = {"method": "POST", "headers": ["Content-Type: application/json"],
                 "connections": connections}
    return {
        "refresh (POST /api/auth/refresh)": lambda seeds: {
            **json_post, "path": "/api/auth/refresh", "body": '{"refreshToken": "{token}"}',
            "chain": {"field": "refreshToken", "seeds": seeds},
        },
        "introspection (POST /api/oauth/token/introspect)": lambda _seeds: {
            **json_post, "path": "/api/oauth/token/introspect",
            "body": json.dumps({"token": token}),
        },
        "userinfo (GET /api/oauth/userinfo)": lambda _seeds: {
            "method": "GET", "path": "/api/oauth/userinfo", "connections": connections,
            "headers": [f"Authorization: Bearer {token}"],
        },
    }


# -- the report ------------------------------------------------------------------------------


@dataclass
class Row:
    endpoint: str
    config: str
    connections: int
    rps: list[float] = field(default_factory=list)
    ratios: list[float] = field(default_factory=list)
    shares: dict[str, list[float]] = field(default_factory=dict)
    per_server: list[float] = field(default_factory=list)
    p50: float | None = None
    p99: float | None = None


def record(rows: list[Row], measured: dict[str, Any], instances: int) -> None:
    """Fill ``rows`` (one per target) from the generator's answer."""
    for slices in measured["slices"]:
        one = slices[0]["requests"] / slices[0]["seconds"]
        for row, m, servers in zip(rows, slices, (1, instances), strict=True):
            rps = m["requests"] / m["seconds"]
            row.rps.append(rps)
            row.ratios.append(rps / one)
            for key in ("server_cpu", "postgres_cpu", "generator_cpu", "machine_cpu"):
                if m.get(key) is not None:
                    row.shares.setdefault(key, []).append(m[key] / m["seconds"])
            if m.get("server_cpu") is not None:
                row.per_server.append(m["server_cpu"] / m["seconds"] / servers)
    for row, latency in zip(rows, measured["latency"], strict=True):
        row.p50, row.p99 = latency["p50"], latency["p99"]


def _fmt(values: Sequence[float] | None, pattern: str) -> str:
    return format(median(values), pattern) if values else "-"


def table(rows: list[Row], cores: int) -> str:
    header = [
        "endpoint", "instances", "conns", "req/s", "p50 ms", "p99 ms", "x one",
        "servers CPU", "PostgreSQL CPU", "generator CPU", f"machine busy (of {cores})",
    ]
    lines = [header, [":---", ":---", *["---:"] * (len(header) - 2)]]
    for row in rows:
        lines.append([
            row.endpoint, row.config, str(row.connections), _fmt(row.rps, ",.0f"),
            "-" if row.p50 is None else f"{row.p50:.1f}",
            "-" if row.p99 is None else f"{row.p99:.1f}", _fmt(row.ratios, ".2f"),
            _fmt(row.shares.get("server_cpu"), ".2f"),
            _fmt(row.shares.get("postgres_cpu"), ".2f"),
            _fmt(row.shares.get("generator_cpu"), ".2f"),
            _fmt(row.shares.get("machine_cpu"), ".2f"),
        ])
    return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)


def limits(rows: list[Row], cores: int) -> str:
    """What limited the ratio, in sentences made from the figures."""
    pairs = [(rows[i], rows[i + 1]) for i in range(0, len(rows), 2)]
    ratio = median([median(two.ratios) for _one, two in pairs])

    def avg(config: int, key: str) -> float:
        values = [median(p[config].shares[key]) for p in pairs if p[config].shares.get(key)]
        return sum(values) / len(values) if values else float("nan")

    one_server = max(median(one.per_server) for one, _two in pairs if one.per_server)
    busy_one, busy_two = avg(0, "machine_cpu"), avg(1, "machine_cpu")
    servers, pg, gen = avg(1, "server_cpu"), avg(1, "postgres_cpu"), avg(1, "generator_cpu")
    other = max(busy_two - servers - pg - gen, 0.0)
    said = [
        f"**What limits the ratio.** Two instances served {ratio:.2f} times what one did "
        f"(the median over the endpoints) on a machine of {cores} cores, which the servers "
        "share with PostgreSQL, the load generator and whatever else runs on it.",
    ]
    if one_server >= 0.85:
        said.append(
            f"One instance is one Python process and used {one_server:.2f} CPU-seconds per "
            "second, about the one core the GIL lets it use: that is why a second instance "
            "helps at all."
        )
    else:
        said.append(
            f"One instance used {one_server:.2f} CPU-seconds per second, less than the one "
            "core a Python process could use: the machine was busy with more than it "
            f"({busy_one:.2f} of {cores} cores in the one-instance slices)."
        )
    said.append(
        f"With two instances the machine was {busy_two:.2f} of {cores} cores busy: servers "
        f"{servers:.2f}, PostgreSQL {pg:.2f}, the load generator {gen:.2f}, everything "
        f"else {other:.2f}."
    )
    if busy_two >= 0.9 * cores:
        said.append(
            "The machine was saturated: a second instance brings no core of its own here, "
            "it can only take CPU time from PostgreSQL, the generator and the first "
            "instance."
        )
    if other >= 0.2:
        said.append(
            f"Other work took {other:.2f} cores; the scheduler shares CPU between "
            "processes, so two server processes also win a larger share against it than "
            "one: part of the ratio is that share, not the server scaling."
        )
    said.append(
        "On hosts of their own (and a generator elsewhere) each instance brings its "
        "cores, and the one PostgreSQL becomes the shared limit: every request here asks "
        "it at least once (session liveness, refresh rotation)."
    )
    return " ".join(said)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--generator", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=4.0,
                        help="timed seconds per endpoint and configuration (default 4)")
    parser.add_argument("--slice", type=float, default=0.5,
                        help="seconds per slice (default 0.5)")
    parser.add_argument("--warmup", type=float, default=1.0,
                        help="seconds of load per configuration before timing (default 1)")
    parser.add_argument("--connections", type=int, default=16,
                        help="keep-alive connections, in all, in either configuration "
                        "(default 16; two instances get half each)")
    parser.add_argument("--signing-alg", default="HS256", choices=("HS256", "ES256", "EdDSA",
                        "RS256"), help="TEKCIFY_SIGNING_ALG of the fleet (default HS256)")
    parser.add_argument("--postgres-url", default=None,
                        help="a cluster to make the run's database in (default: a "
                        "throwaway cluster of its own)")
    args = parser.parse_args(argv)
    if args.generator:
        return generator_main()

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    cores = os.cpu_count() or 1
    began = time.perf_counter()
    rounds = max(1, round(args.seconds / args.slice))
    rows: list[Row] = []
    generator = Generator()
    try:
        print("fleet: preparing PostgreSQL ...", file=sys.stderr, flush=True)
        with postgres(args.postgres_url) as pg, fleet(pg.url, args.signing_alg) as (a, b):
            print(f"fleet: A on {a.port}, B on {b.port}", file=sys.stderr, flush=True)
            token, seeds = sessions(a, 2 * args.connections)
            for label, spec in endpoints(token, args.connections).items():
                print(f"fleet: {label} ...", file=sys.stderr, flush=True)
                pids = [a.proc.pid, b.proc.pid]
                measured = generator.run({
                    "targets": [
                        {"ports": [a.port], "pids": pids,
                         "spec": spec(seeds[:args.connections])},
                        {"ports": [a.port, b.port], "pids": pids,
                         "spec": spec(seeds[args.connections:])},
                    ],
                    "postmaster": pg.postmaster, "warmup": args.warmup,
                    "slice_seconds": args.slice, "rounds": rounds,
                })
                pair = [Row(label, config, args.connections) for config in CONFIGS]
                record(pair, measured, instances=2)
                rows += pair
            where, version = pg.where, pg.version
    except RuntimeError as exc:
        print(f"fleet: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        generator.close()
    elapsed = time.perf_counter() - began

    print("## Fleet throughput (benchmarks/fleet.py)\n")
    print(machine_line("tekcify-auth-backend", "fastapi", "uvicorn", "SQLAlchemy", "psycopg"))
    print(
        f"\n{version}, {where}. Two `tekcify-auth serve` instances (1 uvicorn worker each, "
        f"{args.signing_alg}, unpinned) on that one database; \"one instance\" sends every "
        f"connection to A, \"two instances\" deals the same {args.connections} keep-alive "
        "connections alternately to A and B. One request in flight per connection, from a "
        "separate load process; the two configurations alternate in "
        f"{args.slice:g} s slices, {args.seconds:g} s each per endpoint after a "
        f"{args.warmup:g} s warm-up; {elapsed:.0f} s in all. req/s are medians of slices, "
        "\"x one\" the median of per-round ratios to the one-instance slice, p50/p99 the "
        "latency in ms under that load. CPU columns are CPU-seconds per second (cores) used "
        "during the slices: both servers, PostgreSQL (postmaster and backends), the load "
        "generator, and the whole machine.\n"
    )
    print(table(rows, cores))
    print()
    print(limits(rows, cores))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
