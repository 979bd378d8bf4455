"""Guard overhead: the same ``GET /hello`` served with and without each guard, as ratios.

Each framework's variants (benchmarks/apps/) run side by side as real servers on
127.0.0.1: uvicorn (one worker, no access log, uvloop/httptools when installed, else
asyncio/h11; the same for every variant) for FastAPI and Starlette, waitress for
Flask. A separate load process (benchmarks/_load.py: keep-alive connections, one
request in flight on each) sends a valid repeated bearer token, loading the variants in
turn in short slices whose order reverses every round (A B C, C B A, ...); each slice's
rate is divided by the unprotected app's in the same round, and the median of those
ratios is reported, so drift cancels. All servers share one CPU and the generator has
the other(s): left to the scheduler, two servers settle on different cores with
different neighbours, a bias no alternation removes. A second copy of the unprotected
app (the control row) shows the run's own noise: its ratio should be 1.00. Every
answer must be 200, and each guarded app must refuse a request without a token, or the
run is refused.

Two rates are measured per slice. "req/s" is wall-clock throughput. "req/CPU-s" is
requests per second of CPU the server process used (read from its CPU clock), which is
what a saturated single-worker server on a core of its own serves per second; on a
machine shared with other work it moves much less than req/s, which also drops
whenever the server or the generator is descheduled. Targets are judged on the CPU
figure (``--metric wall`` judges the wall-clock one): FastAPI ``JwtAuthGuard`` >= 0.80
of the unprotected rate, Starlette ``AuthMiddleware`` >= 0.90, Flask
``create_auth_middleware`` >= 0.90. FastAPI's own ``HTTPBearer()`` dependency (and
nothing else) is a reference row: the cost of FastAPI's security plumbing alone.

    python benchmarks/guard.py [--rounds N] [--slice S] [--only fastapi,flask] [--check]

Exit status is 0 (it is a report) unless ``--check`` is given and a target fails.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from _common import (
    SERVER_CPUS,
    UVICORN_HTTP,
    UVICORN_LOOP,
    close_generator,
    free_port,
    in_generator,
    in_server,
    installed,
    machine_line,
    markdown_table,
    median,
    run_main,
    stop_group,
    verdict,
)

from tekcify_auth.testing import mint_access_token

HERE = os.path.dirname(os.path.abspath(__file__))
APPS = os.path.join(HERE, "apps")
SECRET = "bench-secret-0123456789abcdef0123456789abcdef"
WAITRESS_THREADS = 4


@dataclass
class Variant:
    """One app behind one server, and what it measured."""

    label: str
    target: str  # "module:factory" in benchmarks/apps
    server: str  # "uvicorn" or "waitress"
    refusal: int | None = None  # status without a token: None unprotected, 0 any 4xx
    needs: str | None = None  # the adapter module this variant imports
    goal: float | None = None  # the target ratio; None for the baseline and references
    rps: list[float] = field(default_factory=list)
    cpu_rps: list[float] = field(default_factory=list)
    ratios: list[float] = field(default_factory=list)
    cpu_ratios: list[float] = field(default_factory=list)
    busy: list[float] = field(default_factory=list)  # server CPU / wall, per slice
    port: int = 0
    pid: int = 0
    problem: str = ""

    @property
    def available(self) -> bool:
        return self.needs is None or installed(self.needs)


@dataclass
class Group:
    """One framework: its baseline (the first variant) and the variants compared to it."""

    framework: str
    variants: list[Variant]


CONTROL = "unprotected again (control)"


def groups(control: bool) -> list[Group]:
    """The comparisons; with ``control``, each also loads a second unprotected server.

    The control is the same app as the baseline in another process: its ratio should
    be 1.00, and how far it strays is the run's own noise.
    """
    chosen = [
        Group("FastAPI", [
            Variant("unprotected", "fastapi_app:plain", "uvicorn"),
            Variant("HTTPBearer() only (reference)", "fastapi_app:bearer", "uvicorn",
                    refusal=0),
            Variant("JwtAuthGuard", "fastapi_app:guarded", "uvicorn", refusal=401,
                    needs="tekcify_auth.fastapi", goal=0.80),
        ]),
        Group("Starlette", [
            Variant("unprotected", "starlette_app:plain", "uvicorn"),
            Variant("AuthMiddleware", "starlette_app:guarded", "uvicorn", refusal=401,
                    needs="tekcify_auth.starlette", goal=0.90),
        ]),
        Group("Flask", [
            Variant("unprotected", "flask_app:plain", "waitress"),
            Variant("create_auth_middleware", "flask_app:guarded", "waitress", refusal=401,
                    needs="tekcify_auth.flask", goal=0.90),
        ]),
    ]
    if control:
        for group in chosen:
            base = group.variants[0]
            group.variants.insert(1, Variant(CONTROL, base.target, base.server))
    return chosen


def server_command(variant: Variant, port: int) -> list[str]:
    if variant.server == "uvicorn":
        return [
            sys.executable, "-m", "uvicorn", variant.target, "--factory",
            "--app-dir", APPS, "--host", "127.0.0.1", "--port", str(port),
            "--workers", "1", "--no-access-log", "--log-level", "warning",
            "--loop", UVICORN_LOOP, "--http", UVICORN_HTTP,
        ]
    return [
        sys.executable, "-m", "waitress", "--host=127.0.0.1", f"--port={port}",
        f"--threads={WAITRESS_THREADS}", "--call", variant.target,
    ]


def get(port: int, token: str | None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        conn.request("GET", "/hello", headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


@contextlib.contextmanager
def serving(variant: Variant, token: str) -> Iterator[None]:
    """Run ``variant``'s server until the block ends (even on Ctrl-C or an error)."""
    env = {**os.environ, "BENCH_SECRET": SECRET}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [APPS, env.get("PYTHONPATH")]))
    port = free_port()
    with tempfile.TemporaryFile() as log:
        # Its own session: a Ctrl-C reaches only us, and we stop the server ourselves.
        proc = subprocess.Popen(
            server_command(variant, port), env=env, cwd=APPS, stdin=subprocess.DEVNULL,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=in_server,
        )
        try:
            wait_ready(proc, port, token, log)
            check_answers(variant, port, token)
            variant.port, variant.pid = port, proc.pid
            yield
        finally:
            stop_group(proc, 5)


def server_log(log: IO[bytes]) -> str:
    log.seek(0)
    return log.read().decode("utf-8", "replace")[-2000:]


def wait_ready(proc: subprocess.Popen[bytes], port: int, token: str, log: IO[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited ({proc.returncode}):\n{server_log(log)}")
        with contextlib.suppress(OSError):
            get(port, token)
            return
        time.sleep(0.1)
    raise RuntimeError(f"the server did not answer within 30 s:\n{server_log(log)}")


def check_answers(variant: Variant, port: int, token: str) -> None:
    """The app must answer the token with the hello JSON, and a guard must refuse none."""
    status, body = get(port, token)
    if status != 200 or json.loads(body) != {"message": "hello"}:
        raise RuntimeError(f"{variant.label}: GET /hello with a token gave {status} {body!r}")
    status, body = get(port, None)
    if variant.refusal is None and status != 200:
        raise RuntimeError(f"{variant.label}: GET /hello without a token gave {status}")
    if variant.refusal == 0 and not 400 <= status < 500:
        raise RuntimeError(f"{variant.label}: not refused without a token ({status})")
    if variant.refusal and status != variant.refusal:
        raise RuntimeError(
            f"{variant.label}: without a token gave {status}, not {variant.refusal}: {body!r}"
        )


class Load:
    """The load generator: one separate process, given one job per framework over a pipe."""

    def __init__(self, token: str, args: argparse.Namespace) -> None:
        self.token = token
        self.args = args
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "_load.py"), "--serve"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, preexec_fn=in_generator,
        )

    def close(self) -> None:
        """Stop the generator: at once if it is idle, else (an interrupted job) by force."""
        close_generator(self.proc, 2)

    def measure(self, variants: Sequence[Variant]) -> list[list[dict[str, Any]]]:
        """Per round, per variant: requests, seconds and server CPU of its slice."""
        stdin, stdout = self.proc.stdin, self.proc.stdout
        if stdin is None or stdout is None:
            raise RuntimeError("the load generator has no pipes")
        job = {
            "targets": [{"port": v.port, "pid": v.pid} for v in variants],
            "path": "/hello", "headers": [f"Authorization: Bearer {self.token}"],
            "connections": self.args.connections, "warmup": self.args.warmup,
            "slice_seconds": self.args.slice, "rounds": self.args.rounds, "expect": 200,
        }
        stdin.write(json.dumps(job) + "\n")
        stdin.flush()
        try:
            line = stdout.readline()
        except BaseException:  # interrupted mid-job: stop loading before the servers stop
            self.proc.kill()
            raise
        if not line:
            raise RuntimeError(f"the load generator died ({self.proc.wait()}), see above")
        result = json.loads(line)
        for v, count, example in zip(
            variants, result["unexpected"], result["first_unexpected"], strict=True
        ):
            if count:
                raise RuntimeError(f"{v.label}: {count} answers were not 200, e.g.\n{example}")
        slices: list[list[dict[str, Any]]] = result["slices"]
        return slices


def run_group(group: Group, load: Load) -> None:
    runnable = [v for v in group.variants if v.available]
    for v in group.variants:
        if not v.available:
            v.problem = f"{v.needs} missing"
    if len(runnable) < 2 or runnable[0] is not group.variants[0]:
        return
    print(f"{group.framework}: starting {len(runnable)} servers ...", file=sys.stderr, flush=True)
    with contextlib.ExitStack() as stack:
        for v in runnable:
            stack.enter_context(serving(v, load.token))
        print(f"{group.framework}: loading ...", file=sys.stderr, flush=True)
        rounds = load.measure(runnable)
    for measured in rounds:
        base = measured[0]
        base_rps = base["requests"] / base["seconds"]
        base_cpu = base["server_cpu"]
        for v, m in zip(runnable, measured, strict=True):
            rps = m["requests"] / m["seconds"]
            v.rps.append(rps)
            v.ratios.append(rps / base_rps)
            cpu = m["server_cpu"]
            if cpu and base_cpu:
                v.cpu_rps.append(m["requests"] / cpu)
                v.cpu_ratios.append((m["requests"] / cpu) / (base["requests"] / base_cpu))
                v.busy.append(cpu / m["seconds"])
    for v in runnable[1:]:
        print(
            f"  {v.label}: x wall {_spread(v.ratios)}; x CPU {_spread(v.cpu_ratios)}",
            file=sys.stderr, flush=True,
        )


def _spread(values: list[float]) -> str:
    """The median with the 10th and 90th percentiles of the per-round ratios."""
    if not values:
        return "-"
    ordered = sorted(values)
    low, high = ordered[len(ordered) // 10], ordered[-1 - len(ordered) // 10]
    return f"{median(ordered):.2f} (p10 {low:.2f}, p90 {high:.2f})"


def _fmt(values: list[float], pattern: str) -> str:
    return format(median(values), pattern) if values else "-"


def row(group: Group, v: Variant, metric: str) -> tuple[list[str], bool | None]:
    """The table row for ``v`` and whether it met its goal (None: no goal)."""
    if v.goal is not None:
        wanted = f">= {v.goal:.2f}"
    elif v.label == CONTROL:
        wanted = "1.00 (noise)"
    else:
        wanted = "baseline" if v.refusal is None else "reference"
    judged = v.cpu_ratios if metric == "cpu" else v.ratios
    cells = [
        group.framework, v.label, _fmt(v.rps, ",.0f"), _fmt(v.ratios, ".2f"),
        _fmt(v.cpu_rps, ",.0f"), _fmt(v.cpu_ratios, ".2f"), _fmt(v.busy, ".2f"), wanted,
    ]
    if not judged:
        why = v.problem or "not measured"
        return [*cells, f"FAIL ({why})" if v.goal is not None else why], (
            False if v.goal is not None else None
        )
    ok = None if v.goal is None else median(judged) >= v.goal
    return [*cells, "" if ok is None else verdict(ok)], ok


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=50, help="timed rounds (default 50)")
    parser.add_argument("--slice", type=float, default=0.1,
                        help="seconds each variant is loaded per round (default 0.1)")
    parser.add_argument("--warmup", type=float, default=1.0,
                        help="seconds of load per variant before the rounds (default 1)")
    parser.add_argument("--connections", type=int, default=16,
                        help="keep-alive connections (default 16)")
    parser.add_argument("--metric", choices=("cpu", "wall"), default="cpu",
                        help="the ratio the targets are judged on (default cpu)")
    parser.add_argument("--only", default="", help="comma-separated frameworks to run")
    parser.add_argument("--no-control", action="store_true",
                        help="skip the second unprotected server that gauges the noise")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target fails")
    args = parser.parse_args(argv)
    args.rounds = max(1, args.rounds)

    # A SIGTERM unwinds like Ctrl-C, so every server is stopped on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    token = mint_access_token(
        "bench-user", secret=SECRET, scopes=["read:profile"], email="bench@example.com",
        expires_in=24 * 3600,
    )
    wanted = {name.strip().lower() for name in args.only.split(",") if name.strip()}
    chosen = [
        g for g in groups(not args.no_control) if not wanted or g.framework.lower() in wanted
    ]
    started = time.perf_counter()
    load = Load(token, args)
    try:
        for group in chosen:
            try:
                run_group(group, load)
            except RuntimeError as exc:
                print(f"{group.framework}: {exc}", file=sys.stderr, flush=True)
                for v in group.variants:
                    v.rps.clear()
                    v.ratios.clear()
                    v.cpu_rps.clear()
                    v.cpu_ratios.clear()
                    v.busy.clear()
                    v.problem = v.problem or "error, see stderr"
    finally:
        load.close()
    elapsed = time.perf_counter() - started

    metric = args.metric
    measured = [v for g in chosen for v in g.variants if v.ratios]
    if metric == "cpu" and measured and not any(v.cpu_ratios for v in measured):
        metric = "wall"  # no process CPU clock on this platform
    rows: list[list[str]] = []
    failed = False
    for group in chosen:
        for v in group.variants:
            cells, ok = row(group, v, metric)
            rows.append(cells)
            failed |= ok is False
    pinning = (
        "servers unpinned" if SERVER_CPUS is None else
        f"servers pinned to CPU {min(SERVER_CPUS)}, load generator to the other CPU(s)"
    )
    print("## Guard overhead (benchmarks/guard.py)\n")
    print(machine_line(
        "tekcify-auth-backend", "fastapi", "starlette", "flask", "uvicorn", "waitress"
    ))
    print(
        f"\nuvicorn: 1 worker, loop {UVICORN_LOOP}, http {UVICORN_HTTP}, no access log; "
        f"waitress: {WAITRESS_THREADS} threads; {pinning}. Load: {args.connections} keep-alive "
        "connections from a separate Python process, one valid repeated HS256 token; "
        f"{args.rounds} rounds of a {args.slice:g} s slice per variant (order reversed "
        f"each round) after a {args.warmup:g} s warm-up; {elapsed:.0f} s in all. Rates are "
        "medians; each \"x\" column is the median of per-round ratios to the unprotected "
        "app; \"busy\" is the server's CPU seconds per second (1.00: it had a core to "
        f"itself). Targets are judged on \"x {'CPU' if metric == 'cpu' else 'wall'}\".\n"
    )
    print(markdown_table(
        ["framework", "variant", "req/s", "x wall", "req/CPU-s", "x CPU", "busy", "target",
         "result"],
        rows, left=2,
    ))
    return 1 if args.check and failed else 0


if __name__ == "__main__":
    run_main(main)
