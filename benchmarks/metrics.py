"""What Prometheus metrics cost the hot paths (issue 17: at most 3%).

Three copies of the server app, each in a process of its own (prometheus-client chooses
its multiprocess mode at import), called in-process as ``benchmarks/hotpaths.py`` does
(SQLite, HS256, no socket): metrics **off**; **on** (one process, as ``serve --workers
1`` runs); and **on, multiprocess** (``PROMETHEUS_MULTIPROC_DIR`` set, as every worker of
``serve --workers N`` runs: values written to shared memory-mapped files). Rounds
alternate the three, in a new order each round, so the machine's other work falls on all
of them alike; each figure is the median of the rounds, and the ratio on ÷ off is the
judged one (target ≤ 1.03). The last column is one scrape of ``/metrics`` (the metrics
of every endpoint plus the database's counts), which a scraper asks for every 15 s or so.

    python benchmarks/metrics.py [--requests N] [--rounds N]
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
VARIANTS = ("off", "on", "on, multiprocess")
TOKEN = "bench-scraper-token-0123456789"
TARGET = 1.03


async def _child(variant: str, n: int) -> None:
    """Serve rounds on request: each line on stdin runs one round, and one JSON line of
    µs per request (and the scrape's ms) is printed."""
    import httpx
    from hotpaths import _call, _requests

    from tekcify_auth.server import create_app
    from tekcify_auth.server.settings import Settings

    logging.getLogger("tekcify_auth.server.access").setLevel(logging.WARNING)
    on = variant != "off"
    with tempfile.TemporaryDirectory(prefix="tekcify-metrics-bench-") as data_dir:
        settings = Settings(data_dir=data_dir, metrics=on, metrics_token=TOKEN if on else None)
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            requests = {name: request for name, request in (await _requests(app)).items()
                        if name in ENDPOINTS}
            extra = {"app": app}
            transport = httpx.ASGITransport(app=app)
            base = "http://127.0.0.1:7001"
            async with httpx.AsyncClient(transport=transport, base_url=base) as c:
                for scope, body in requests.values():  # warm up
                    for _ in range(min(200, n)):
                        await _call(app, scope, body, extra)
                print("ready", flush=True)
                for _line in sys.stdin:
                    figures: dict[str, float] = {}
                    for name, (scope, body) in requests.items():
                        started = time.perf_counter()
                        for _ in range(n):
                            await _call(app, scope, body, extra)
                        figures[name] = (time.perf_counter() - started) / n * 1e6
                    if on:
                        figures["record_us"] = _recording(requests["userinfo"][0])
                        started = time.perf_counter()
                        scraped = await c.get(
                            "/metrics", headers={"Authorization": f"Bearer {TOKEN}"}
                        )
                        figures["scrape_ms"] = (time.perf_counter() - started) * 1e3
                        assert scraped.status_code == 200, scraped.text
                        assert b"tekcify_http_requests_total" in scraped.content
                    print(json.dumps(figures), flush=True)


def _recording(scope: dict[str, Any], n: int = 20_000) -> float:
    """µs per request of what the front adds with metrics on, timed alone: the request's
    counter and histogram (the hot paths record nothing else but a token's grant)."""
    from tekcify_auth.server import metrics

    recorder = metrics._active
    assert recorder is not None
    scope = {**scope, "tekcify.route": scope["path"]}
    started = time.perf_counter()
    for _ in range(n):
        recorder.request(scope, 200, 0.0004)
    return (time.perf_counter() - started) / n * 1e6


def _start(variant: str, n: int, folder: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TEKCIFY_", "PROMETHEUS_"))}
    if variant == "on, multiprocess":
        env["PROMETHEUS_MULTIPROC_DIR"] = folder
    child = subprocess.Popen(
        [sys.executable, __file__, "--child", variant, "--requests", str(n)],
        cwd=Path(__file__).parent, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    line = child.stdout.readline()
    if line.strip() != "ready":
        raise RuntimeError(f"the {variant} runner did not start: {line!r}")
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
        children = {variant: _start(variant, n, folder) for variant in VARIANTS}
        try:
            results: dict[str, list[dict[str, float]]] = {v: [] for v in VARIANTS}
            for _ in range(rounds):
                order = list(VARIANTS)
                random.shuffle(order)
                for variant in order:
                    results[variant].append(_round(children[variant]))
        finally:
            for child in children.values():
                assert child.stdin is not None
                child.stdin.close()
                child.wait(timeout=60)

    def median(variant: str, key: str) -> float:
        return statistics.median(figures[key] for figures in results[variant])

    def ratio(variant: str, name: str) -> float:
        # Per round, the variant against the off run of the same round; then the median.
        return statistics.median(
            on[name] / off[name] for on, off in zip(results[variant], results["off"], strict=True)
        )

    rows: list[list[str]] = []
    worst = 0.0
    for name in ENDPOINTS:
        single, multi = ratio("on", name), ratio("on, multiprocess", name)
        worst = max(worst, single, multi)
        rows.append([
            name, f"{median('off', name):.1f}", f"{median('on', name):.1f}", f"**{single:.3f}**",
            f"{median('on, multiprocess', name):.1f}", f"**{multi:.3f}**", f"≤ {TARGET:.2f}",
        ])
    print(machine_line("fastapi", "starlette", "sqlalchemy", "prometheus-client"))
    print(f"In-process, SQLite, HS256; median of {rounds} alternating rounds of {n} requests "
          "per endpoint.\n")
    print(markdown_table(
        ["endpoint", "off µs", "on µs", "on ÷ off", "multiprocess µs", "multiprocess ÷ off",
         "target"], rows,
    ))
    for variant in ("on", "on, multiprocess"):
        cost = median(variant, "record_us")
        share = cost / min(median("off", name) for name in ENDPOINTS)
        print(f"\nRecording one request ({variant}), timed alone: {cost:.2f} µs, "
              f"{share:.1%} of the fastest endpoint above.", end="")
    print()
    print(f"\nOne scrape of /metrics: {median('on', 'scrape_ms'):.2f} ms in one process, "
          f"{median('on, multiprocess', 'scrape_ms'):.2f} ms reading the multiprocess files.")
    print(f"Worst ratio {worst:.3f}: {'met' if worst <= TARGET else 'NOT met'} "
          f"(target ≤ {TARGET:.2f}).")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests per round")
    parser.add_argument("--rounds", type=int, default=15, help="rounds of each variant")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        asyncio.run(_child(args.child, args.requests))
        return 0
    return run(args.requests, args.rounds)


if __name__ == "__main__":
    sys.exit(main())

