"""What Prometheus metrics cost the hot paths (issue 17: at most 3%).

The server app with metrics on, called in-process as ``benchmarks/hotpaths.py`` does
(SQLite, HS256, no socket), in two runners: **one process** (as ``serve --workers 1``
runs) and **multiprocess** (``PROMETHEUS_MULTIPROC_DIR`` set, as every worker of ``serve
--workers N`` runs: values written to shared memory-mapped files; prometheus-client
chooses its mode at import, hence a process each). Each runner times every endpoint in
short slices with its metrics **on**, **off** (the app's recording switched off in the
same process: same memory, same caches, same database) and off again as a **control**,
whose ratio to the first off says how far two identical slices differ on this machine
(1.00 on a quiet one). In a round each endpoint gets one slice per mode, in a new random
order each time, so the machine's other work falls on all of them alike. A slice is timed
by the process's CPU time (on a shared machine another process takes the core, which the
wall clock would count; the wall-clock ratios are printed too); an on slice ends by writing
out what it recorded (the flush a worker does once a second), inside its time. The judged
figure is the median over the rounds of each round's on ÷ off (target ≤ 1.03), shown with
the control's and the middle half of both. The recording's own cost is also timed alone
(a token request's counter, histogram, grant and share of the flush), and
so is one scrape of ``/metrics`` (every endpoint's metrics plus the database's counts),
which a scraper asks for every 15 s or so.

``--profile SECONDS`` instead records the multiprocess runner with py-spy (``pip install
py-spy``) for that long serving with metrics on, then off, keeps both profiles
(``benchmarks/profiles/metrics-multiprocess-{on,off}.speedscope.json``) and writes the
share of the samples spent in the metrics code (``server/metrics.py`` and
prometheus-client), with those stacks, to ``benchmarks/profiles/metrics-multiprocess.txt``:
the proof behind the figures (``benchmarks/profiles/README.md``).

    python benchmarks/metrics.py [--requests N] [--rounds N] [--profile SECONDS]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import machine_line, markdown_table

ENDPOINTS = ("client_credentials", "introspection-user", "userinfo")
RUNNERS = ("one process", "multiprocess")
MODES = ("off", "control", "on")
TOKEN = "bench-scraper-token-0123456789"
TARGET = 1.03


async def _child(n: int, only: str | None = None) -> None:
    """Serve rounds on request: each line on stdin runs one round (every endpoint in a
    slice of ``n`` requests per mode, in a random order), and prints one JSON line of µs
    per request by ``endpoint:mode`` (and the recording's µs and the scrape's ms).
    ``only`` (``on`` or ``off``) serves that mode alone: what ``--profile`` records."""
    import httpx
    from hotpaths import _call, _requests

    from tekcify_auth.server import create_app, metrics
    from tekcify_auth.server.settings import Settings

    logging.getLogger("tekcify_auth.server.access").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="tekcify-metrics-bench-") as data_dir:
        app = create_app(Settings(data_dir=data_dir, metrics=True, metrics_token=TOKEN))
        async with app.router.lifespan_context(app):
            requests = {name: request for name, request in (await _requests(app)).items()
                        if name in ENDPOINTS}
            extra = {"app": app}
            front = app.middleware_stack  # the server's Front, built by the first request
            recorder = metrics._active
            assert recorder is not None
            assert getattr(front, "record", None) is True

            def switch(on: bool) -> None:
                front.record = on  # type: ignore[union-attr]
                metrics._active = recorder if on else None

            transport = httpx.ASGITransport(app=app)
            base = "http://127.0.0.1:7001"
            async with httpx.AsyncClient(transport=transport, base_url=base) as c:
                for scope, body in requests.values():  # warm up
                    for _ in range(min(200, n)):
                        await _call(app, scope, body, extra)
                metrics.flush()
                print("ready", flush=True)
                for _line in sys.stdin:
                    figures: dict[str, float] = {}
                    for name, (scope, body) in requests.items():
                        order = list(MODES) if only is None else [only]
                        random.shuffle(order)
                        for mode in order:
                            switch(mode == "on")
                            started, cpu = time.perf_counter(), time.process_time()
                            for _ in range(n):
                                await _call(app, scope, body, extra)
                            if mode == "on":
                                # What a worker writes out once a second (the slice
                                # never yields to the event loop, where the sampler
                                # would): the slice's requests pay for it here.
                                metrics.flush()
                            # The process's CPU time judges (another process on a
                            # shared machine takes the core, not this one's CPU time);
                            # the wall clock is shown beside it.
                            figures[f"{name}:{mode}"] = (time.process_time() - cpu) / n * 1e6
                            figures[f"{name}:{mode}:wall"] = (
                                (time.perf_counter() - started) / n * 1e6
                            )
                    switch(True)
                    if only is not None:  # a profile: the requests alone
                        print(json.dumps(figures), flush=True)
                        continue
                    figures["record_us"] = _recording(requests["client_credentials"][0], n)
                    started = time.perf_counter()
                    scraped = await c.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
                    figures["scrape_ms"] = (time.perf_counter() - started) * 1e3
                    assert scraped.status_code == 200, scraped.text
                    assert b"tekcify_http_requests_total" in scraped.content
                    print(json.dumps(figures), flush=True)


def _recording(scope: dict[str, Any], batch: int, n: int = 20_000) -> float:
    """µs per request of what metrics add to a token request, timed alone: its counter
    and histogram, the token's grant, and its share of the writing out (a flush every
    ``batch`` requests, as after each slice)."""
    from tekcify_auth.server import metrics

    recorder = metrics._active
    assert recorder is not None
    scope = {**scope, "tekcify.route": scope["path"]}
    started = time.process_time()
    for index in range(1, n + 1):
        recorder.request(scope, 200, 0.0004)
        metrics.token_issued("client_credentials")
        if index % batch == 0:
            recorder.flush()
    recorder.flush()
    return (time.process_time() - started) / n * 1e6


def _start(
    runner: str, n: int, folder: str, only: str | None = None
) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TEKCIFY_", "PROMETHEUS_"))}
    if runner == "multiprocess":
        env["PROMETHEUS_MULTIPROC_DIR"] = folder
    child = subprocess.Popen(
        [sys.executable, __file__, "--child", "--requests", str(n),
         *(["--only", only] if only else [])],
        cwd=Path(__file__).parent, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    line = child.stdout.readline()
    if line.strip() != "ready":
        raise RuntimeError(f"the {runner} runner did not start: {line!r}")
    return child


def _round(child: subprocess.Popen[str]) -> dict[str, float]:
    assert child.stdin is not None
    assert child.stdout is not None
    child.stdin.write("round\n")
    child.stdin.flush()
    figures: dict[str, float] = json.loads(child.stdout.readline())
    return figures


def run(n: int, rounds: int) -> int:
    with tempfile.TemporaryDirectory(prefix="tekcify-metrics-mp-") as folder:
        children = {runner: _start(runner, n, folder) for runner in RUNNERS}
        try:
            results: dict[str, list[dict[str, float]]] = {r: [] for r in RUNNERS}
            for _ in range(rounds):
                for runner in RUNNERS:
                    results[runner].append(_round(children[runner]))
        finally:
            for child in children.values():
                assert child.stdin is not None
                child.stdin.close()
                child.wait(timeout=60)

    def median(runner: str, key: str) -> float:
        return statistics.median(figures[key] for figures in results[runner])

    def ratios(runner: str, name: str, mode: str, clock: str = "") -> list[float]:
        """This mode's slice ÷ the off slice of the same round, round by round."""
        return sorted(f[f"{name}:{mode}{clock}"] / f[f"{name}:off{clock}"]
                      for f in results[runner])

    def middle(values: list[float]) -> str:
        """The middle half of the rounds' ratios (the quartiles)."""
        low, _, high = statistics.quantiles(values, n=4) if len(values) > 1 else values * 3
        return f"{low:.3f} to {high:.3f}"

    rows: list[list[str]] = []
    worst = 0.0
    spread = 0.0
    for runner in RUNNERS:
        for name in ENDPOINTS:
            on = statistics.median(ratios(runner, name, "on"))
            control = statistics.median(ratios(runner, name, "control"))
            worst = max(worst, on)
            spread = max(spread, abs(control - 1))
            rows.append([
                runner, name, f"{median(runner, f'{name}:off'):.1f}",
                f"{median(runner, f'{name}:on'):.1f}", f"**{on:.3f}**", f"{control:.3f}",
                middle(ratios(runner, name, "on")), middle(ratios(runner, name, "control")),
                f"≤ {TARGET:.2f}",
            ])
    print(machine_line("fastapi", "starlette", "sqlalchemy", "prometheus-client"))
    print(f"In-process, SQLite, HS256; {rounds} rounds, each one slice of {n} requests per "
          "endpoint and mode in a random order; CPU µs per request of the serving process, "
          "the rounds' medians; ratios the median of each round's slice ÷ that round's "
          "off slice (the middle half of the rounds beside it). An on slice includes "
          "writing out what it recorded.\n")
    print(markdown_table(
        ["runner", "endpoint", "off µs", "on µs", "on ÷ off", "control ÷ off",
         "on ÷ off, middle half", "control ÷ off, middle half", "target"], rows,
    ))
    wall = max(statistics.median(ratios(r, name, "on", ":wall"))
               for r in RUNNERS for name in ENDPOINTS)
    wall_control = max(abs(statistics.median(ratios(r, name, "control", ":wall")) - 1)
                       for r in RUNNERS for name in ENDPOINTS)
    print(f"\nBy the wall clock instead: worst median on ÷ off {wall:.3f}, the control "
          f"within {wall_control:.1%} of off.")
    fastest = min(median(r, f"{name}:off") for r in RUNNERS for name in ENDPOINTS)
    share = 0.0
    for runner in RUNNERS:
        cost = median(runner, "record_us")
        share = max(share, cost / fastest)
        print(f"\nRecording one token request ({runner}), timed alone: {cost:.2f} CPU µs, "
              f"{cost / fastest:.1%} of the fastest endpoint above.", end="")
    print()
    print("\nOne scrape of /metrics: "
          + ", ".join(f"{median(r, 'scrape_ms'):.1f} ms ({r})" for r in RUNNERS) + ".")
    if spread <= (TARGET - 1) / 2:
        print(f"Worst median on ÷ off {worst:.3f}: {'met' if worst <= TARGET else 'NOT met'} "
              f"(target ≤ {TARGET:.2f}; the control, identical to off, is within "
              f"{spread:.1%} of it).")
    else:
        # Two identical slices differ by more than half the target: the end-to-end ratios
        # cannot resolve it on this machine now; the recording timed alone still can.
        print(f"The control's median differs from off by {spread:.1%}: too busy a machine "
              f"for end-to-end ratios to resolve {TARGET - 1:.0%} (worst median on ÷ off "
              f"{worst:.3f}). Judged by the recording timed alone: {share:.1%} of the "
              f"fastest endpoint, {'met' if share <= TARGET - 1 else 'NOT met'} "
              f"(target ≤ {TARGET - 1:.0%}).")
    return 0


PROFILES = Path(__file__).parent / "profiles"
_METRICS_FRAMES = ("tekcify_auth/server/metrics.py", "prometheus_client/")
_PROFILE_RATE = 100


def _spy(seconds: int, n: int, runner: str, mode: str, out: Path) -> int:
    """Record ``runner`` serving ``mode`` alone with py-spy into ``out`` (speedscope);
    returns the requests it served meanwhile."""
    import shutil

    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        raise RuntimeError("py-spy is not installed: pip install py-spy")
    with tempfile.TemporaryDirectory(prefix="tekcify-metrics-mp-") as folder:
        child = _start(runner, n, folder, only=mode)
        recorder = subprocess.Popen(
            [spy, "record", "--pid", str(child.pid), "--duration", str(seconds),
             "--rate", str(_PROFILE_RATE), "--format", "speedscope", "--output", str(out)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        rounds = 0
        while recorder.poll() is None:
            _round(child)
            rounds += 1
        assert child.stdin is not None
        child.stdin.close()
        child.wait(timeout=60)
        if recorder.returncode != 0 or not out.exists():
            assert recorder.stderr is not None
            raise RuntimeError(f"py-spy failed: {recorder.stderr.read()[-2000:]}")
    _compact(out)
    return rounds * n * len(ENDPOINTS)


def _compact(path: Path) -> None:
    """Merge a speedscope file's identical stacks, one sample each weighing their sum
    (the flame graph and "left heavy" views are the same; the file is a tenth)."""
    data = json.loads(path.read_text())
    for thread in data["profiles"]:
        merged: dict[tuple[int, ...], float] = {}
        for sample, weight in zip(thread["samples"], thread["weights"], strict=True):
            merged[tuple(sample)] = merged.get(tuple(sample), 0.0) + weight
        thread["samples"] = [list(stack) for stack in merged]
        thread["weights"] = [round(weight, 4) for weight in merged.values()]
    path.write_text(json.dumps(data, separators=(",", ":")), encoding="utf-8")


def _stacks(path: Path) -> dict[tuple[str, ...], int]:
    """The samples of a speedscope file by stack (outermost frame first)."""
    from collections import Counter

    data = json.loads(path.read_text())

    def where(file: str) -> str:
        for root, kept in (("site-packages/", ""), ("/src/", ""), ("/benchmarks/", "benchmarks/")):
            if root in file:
                return kept + file.rpartition(root)[2]
        return file.rpartition("/")[2]  # the standard library's

    frames = [f"{frame['name']} ({where(frame.get('file', ''))}:{frame.get('line', 0)})"
              for frame in data["shared"]["frames"]]
    stacks: Counter[tuple[str, ...]] = Counter()
    for thread in data["profiles"]:
        for sample, weight in zip(thread["samples"], thread["weights"], strict=True):
            # Seconds: a sample every 1 / _PROFILE_RATE of them.
            stacks[tuple(frames[index] for index in sample)] += round(weight * _PROFILE_RATE)
    return stacks


def profile(seconds: int, n: int) -> int:
    """Record the multiprocess runner with py-spy, metrics on and then off; keep both
    profiles (speedscope) and write what the metrics code took."""
    PROFILES.mkdir(exist_ok=True)
    lines = [
        "py-spy records (speedscope: open them at https://www.speedscope.app) of "
        "benchmarks/metrics.py's multiprocess runner (PROMETHEUS_MULTIPROC_DIR set) "
        f"serving client_credentials, introspection and userinfo in turn, {n} requests "
        "each, metrics on (each slice writing out what it recorded) and then off.",
        machine_line("fastapi", "starlette", "sqlalchemy", "prometheus-client"),
        f"{seconds} s each at {_PROFILE_RATE} Hz.",
        "",
    ]
    found: dict[str, dict[tuple[str, ...], int]] = {}
    for mode in ("on", "off"):
        out = PROFILES / f"metrics-multiprocess-{mode}.speedscope.json"
        try:
            served = _spy(seconds, n, "multiprocess", mode, out)
        except RuntimeError as exc:
            print(exc, file=sys.stderr)
            return 1
        stacks = found[mode] = _stacks(out)
        total = sum(stacks.values())
        in_metrics = sum(c for s, c in stacks.items()
                         if any(f in frame for frame in s for f in _METRICS_FRAMES))
        lines.append(
            f"Metrics {mode}: {served} requests, {total} samples "
            f"({total / _PROFILE_RATE / served * 1e6:.0f} µs sampled per request, py-spy "
            f"pausing the process included); in server/metrics.py and prometheus-client: "
            f"{in_metrics / max(1, total):.2%} of them "
            f"({out.relative_to(PROFILES.parent.parent)})."
        )
    lines += ["", "With metrics on, the stacks through the metrics code, most sampled first "
              "(samples, innermost frames):"]
    through: dict[tuple[str, ...], int] = {}
    for stack, count in found["on"].items():
        inner = next((i for i, frame in enumerate(stack)
                      if any(f in frame for f in _METRICS_FRAMES)), None)
        if inner is not None:
            key = stack[max(0, inner - 1):][:4]
            through[key] = through.get(key, 0) + count
    for stack, count in sorted(through.items(), key=lambda item: -item[1])[:25]:
        lines.append(f"{count:6d}  " + " <- ".join(reversed(stack)))
    text = PROFILES / "metrics-multiprocess.txt"
    text.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines[:7]))
    print(f"written to {text.relative_to(PROFILES.parent.parent)}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200, help="requests per slice")
    parser.add_argument("--rounds", type=int, default=60, help="rounds of slices")
    parser.add_argument("--profile", type=int, metavar="SECONDS",
                        help="record the multiprocess runner with py-spy instead")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--only", choices=("on", "off"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        asyncio.run(_child(args.requests, args.only))
        return 0
    if args.profile:
        return profile(args.profile, args.requests)
    return run(args.requests, args.rounds)


if __name__ == "__main__":
    sys.exit(main())

