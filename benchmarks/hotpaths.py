"""Where a hot request's time goes, without a socket: the profile behind issue 12.

The server app (``create_app``, SQLite, HS256, the access log below its level) is
called directly as an ASGI application, in this process, for each endpoint resource
servers call all day, and timed per request (the best of several rounds: the least
disturbed by the machine's other work). Beside it:

* ``bare ASGI``: an application that answers at once, the cost of calling at all;
* ``fast lane only``: the same endpoint through ``server/fastlane.py`` alone, without
  the front layer (``server/middleware.py``) and FastAPI's stack around it: the rest is
  what those layers cost.

No socket and no HTTP parsing, so these are the server's own microseconds; what uvicorn
adds per request is measured by ``benchmarks/peers.py`` (the "bare hello" row).

``--profile ENDPOINT`` runs that endpoint under cProfile and prints where the time went
(cumulative, top 40): how each lever of issue 12 was found. py-spy gives the same
picture of a running server (``py-spy record --pid PID --format raw``); cProfile is used
here because it needs nothing outside Python and its counts repeat run to run.

    python benchmarks/hotpaths.py [--requests N] [--profile introspection-user]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import cProfile
import io
import logging
import pstats
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from _common import machine_line, markdown_table

from tekcify_auth.server import create_app
from tekcify_auth.server.fastlane import FastLane
from tekcify_auth.server.services import client_credentials
from tekcify_auth.server.settings import Settings

ASGI = Callable[[dict[str, Any], Any, Any], Awaitable[None]]
HOST = "127.0.0.1:7001"
EMAIL = "bench@example.com"
PASSWORD = "correct horse battery staple"


async def _bare(_scope: dict[str, Any], _receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": b'{"ok":true}'})


def _request(
    method: str, path: str, body: bytes = b"", headers: tuple[tuple[str, str], ...] = ()
) -> tuple[dict[str, Any], bytes]:
    raw = [(b"host", HOST.encode())] + [(k.encode(), v.encode()) for k, v in headers]
    if body:
        raw.append((b"content-length", str(len(body)).encode()))
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "headers": raw, "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 7001),
    }
    return scope, body


async def _call(app: ASGI, scope: dict[str, Any], body: bytes, extra: dict[str, Any]) -> None:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app({**scope, **extra}, receive, send)
    if sent[0]["status"] != 200:
        raise RuntimeError(f"{scope['path']} answered {sent[0]['status']}: {sent[-1]}")


async def _per_request(
    app: ASGI, request: tuple[dict[str, Any], bytes], extra: dict[str, Any], n: int, rounds: int
) -> float:
    scope, body = request
    for _ in range(min(200, n)):
        await _call(app, scope, body, extra)
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(n):
            await _call(app, scope, body, extra)
        best = min(best, (time.perf_counter() - started) / n)
    return best * 1e6


async def _requests(app: Any) -> dict[str, tuple[dict[str, Any], bytes]]:
    """Seed an account, a confidential client allowed client_credentials, and tokens."""
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url=f"http://{HOST}") as http:
        account = {"email": EMAIL, "password": PASSWORD}
        (await http.post("/api/auth/register", json=account)).raise_for_status()
        login = await http.post("/api/auth/login", json=account)
        user_token = login.raise_for_status().json()["accessToken"]
        created = await http.post(
            "/api/applications", headers={"Authorization": f"Bearer {user_token}"},
            json={"name": "bench", "redirectUris": ["https://app.example.com/cb"],
                  "scopes": ["read:profile"]},
        )
        client = created.raise_for_status().json()
        ctx = app.state.ctx
        with ctx.db.write() as db:
            client_credentials.allow_client_credentials(
                db, client["clientId"], ["read:profile"], ctx.clock()
            )
        raw = f"{client['clientId']}:{client['clientSecret']}".encode()
        basic = ("authorization", "Basic " + base64.b64encode(raw).decode())
        form = ("content-type", "application/x-www-form-urlencoded")
        issued = await http.post(
            "/api/oauth/token", data={"grant_type": "client_credentials"},
            headers=dict([basic]),
        )
        client_token = issued.raise_for_status().json()["access_token"]
    return {
        "client_credentials": _request(
            "POST", "/api/oauth/token", b"grant_type=client_credentials", (basic, form)
        ),
        "introspection-client-token": _request(
            "POST", "/api/oauth/token/introspect", f"token={client_token}".encode(),
            (basic, form),
        ),
        "introspection-user": _request(
            "POST", "/api/oauth/token/introspect", f"token={user_token}".encode(),
            (basic, form),
        ),
        "userinfo": _request(
            "GET", "/api/oauth/userinfo", headers=(("authorization", f"Bearer {user_token}"),)
        ),
        "jwks": _request("GET", "/api/.well-known/jwks.json"),
    }


async def run(n: int, rounds: int, profile: str | None) -> int:
    logging.getLogger("tekcify_auth.server.access").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="tekcify-hotpaths-") as data_dir:
        app = create_app(Settings(data_dir=data_dir))
        async with app.router.lifespan_context(app):
            requests = await _requests(app)
            ctx = app.state.ctx
            lane = FastLane(_bare, ctx=ctx, handlers=app.exception_handlers)
            extra = {"app": app}
            if profile is not None:
                if profile not in requests:
                    print(f"--profile takes one of: {', '.join(requests)}", file=sys.stderr)
                    return 2
                scope, body = requests[profile]
                profiler = cProfile.Profile()
                profiler.enable()
                for _ in range(n):
                    await _call(app, scope, body, extra)
                profiler.disable()
                out = io.StringIO()
                pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(40)
                print(out.getvalue())
                return 0
            bare = await _per_request(_bare, next(iter(requests.values())), {}, n, rounds)
            rows = [["bare ASGI", f"{bare:.1f}", "-", "-"]]
            for name, request in requests.items():
                whole = await _per_request(app, request, extra, n, rounds)
                alone = await _per_request(lane, request, extra, n, rounds)
                rows.append([name, f"{whole:.1f}", f"{alone:.1f}", f"{whole - alone:.1f}"])
    print(machine_line("fastapi", "starlette", "sqlalchemy", "joserfc"))
    print(f"In-process, SQLite, HS256; best of {rounds} rounds of {n} requests each.\n")
    print(markdown_table(
        ["endpoint", "whole app µs/request", "fast lane only µs", "front + FastAPI µs"], rows
    ))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests per round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds (the best is kept)")
    parser.add_argument("--profile", help="profile this endpoint with cProfile instead")
    args = parser.parse_args()
    return asyncio.run(run(args.requests, args.rounds, args.profile))


if __name__ == "__main__":
    sys.exit(main())
