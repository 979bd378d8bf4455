"""TEKCIFY_LOG_FORMAT and the request id (issue 17, item 6).

With ``json`` every line the real ``tekcify-auth serve`` writes, on standard output and
standard error, is one JSON object; the request id comes from ``X-Request-Id`` only when
a trusted proxy sent it and it is plain, and is echoed in every answer.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tekcify_auth.server.logs import JsonFormatter, request_id

from .conftest import PASSWORD, FakeClock, asgi_client, make_settings, running

ACCESS = "tekcify_auth.server.access"
PROXY = "10.0.0.5"
STRANGER = "198.51.100.23"
FAST_HASHING_ENV = {
    "TEKCIFY_ARGON2_TIME_COST": "1", "TEKCIFY_ARGON2_MEMORY_COST": "8",
    "TEKCIFY_ARGON2_PARALLELISM": "1",
}


def _clean_env() -> dict[str, str]:
    return {
        k: v for k, v in os.environ.items()
        if not k.startswith("TEKCIFY_") and k != "JWT_ACCESS_SECRET"
    }


def _json_lines(text: str, stream: str) -> list[dict[str, Any]]:
    """Every line of ``text`` as a JSON object with the four fields every record has."""
    entries = []
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            pytest.fail(f"not a JSON line on {stream}: {line!r}")
        assert isinstance(entry, dict), line
        assert {"time", "level", "logger", "message"} <= entry.keys(), line
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", entry["time"]), line
        entries.append(entry)
    return entries


def _access_ids(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [json.loads(r.getMessage())["request_id"]
            for r in caplog.records if r.name == ACCESS]


# -- the format ---------------------------------------------------------------------------


def test_the_default_format_is_text_as_before() -> None:
    assert make_settings().log_format == "text"
    assert make_settings(log_format="JSON").log_format == "json"


def test_a_json_record_is_one_line_with_the_request_id_and_the_traceback() -> None:
    try:
        raise ValueError("line one\nline two")
    except ValueError:
        record = logging.LogRecord(
            "tekcify_auth.server", logging.ERROR, __file__, 1, 'a "quoted"\nmessage', (),
            sys.exc_info(),
        )
    token = request_id.set("abc-123")
    try:
        line = JsonFormatter().format(record)
    finally:
        request_id.reset(token)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == 'a "quoted"\nmessage'
    assert entry["level"] == "ERROR"
    assert entry["logger"] == "tekcify_auth.server"
    assert entry["request_id"] == "abc-123"
    assert "Traceback" in entry["exception"]
    assert "line two" in entry["exception"]
    assert "request_id" not in json.loads(JsonFormatter().format(record))


def test_a_record_whose_arguments_do_not_fit_is_still_one_json_line() -> None:
    record = logging.LogRecord("x", logging.INFO, "p", 1, "%d items", ("secret-arg",), None)
    entry = json.loads(JsonFormatter().format(record))
    assert entry["message"] == "%d items (its arguments did not fit the format)"
    assert "secret-arg" not in json.dumps(entry)


def test_json_captures_warnings_and_uncaught_exceptions(tmp_path: Path) -> None:
    # The machinery serve installs, in a process of its own: nothing reaches stderr raw.
    script = textwrap.dedent("""
        import logging, logging.config, threading, warnings
        from tekcify_auth.server.logs import capture_stray_output, log_config
        logging.config.dictConfig(log_config("INFO", "json"))
        capture_stray_output("json")
        warnings.warn("a deprecated thing", DeprecationWarning, stacklevel=1)
        logging.getLogger("somelibrary").warning("a library's own warning")
        thread = threading.Thread(target=lambda: 1 / 0, name="worker-1")
        thread.start(); thread.join()
        raise RuntimeError("the end")
    """)
    done = subprocess.run(
        [sys.executable, "-W", "always", "-c", script], env=_clean_env(), cwd=tmp_path,
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 1
    assert done.stdout == ""
    entries = _json_lines(done.stderr, "stderr")
    assert [e["logger"] for e in entries] == [
        "py.warnings", "somelibrary", "tekcify_auth.server", "tekcify_auth.server"
    ]
    assert "a deprecated thing" in entries[0]["message"]
    assert "ZeroDivisionError" in entries[2]["exception"]
    assert "worker-1" in entries[2]["message"]
    assert "RuntimeError: the end" in entries[3]["exception"]


@pytest.mark.slow
def test_serve_with_json_writes_one_json_object_per_line(tmp_path: Path) -> None:
    env = {
        **_clean_env(), **FAST_HASHING_ENV, "TEKCIFY_DATA_DIR": str(tmp_path / "data"),
        "TEKCIFY_LOG_FORMAT": "json", "TEKCIFY_LOG_LEVEL": "DEBUG",
        "TEKCIFY_TRUSTED_PROXIES": "127.0.0.1",
    }
    # One worker: uvicorn's supervisor restarts workers slower than 5 s to start, which a
    # loaded test machine can be; the workers get the same logging config (app_factory).
    proc = subprocess.Popen(
        [sys.executable, "-m", "tekcify_auth.cli", "serve", "--port", "0", "--workers", "1"],
        env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        first = json.loads(proc.stdout.readline())
        found = re.search(r"listening on (http://localhost:\d+)$", first["message"])
        assert found, first
        base = found.group(1)
        deadline = time.monotonic() + 30
        with httpx.Client(base_url=base, timeout=10) as api:
            while True:
                try:
                    api.get("/health")
                    break
                except httpx.TransportError:
                    assert proc.poll() is None
                    assert time.monotonic() < deadline, "the server did not come up"
                    time.sleep(0.1)
            health = api.get("/health", headers={"X-Request-Id": "from-the-proxy-1"})
            assert health.headers["x-request-id"] == "from-the-proxy-1"
            account = {"email": "ada@example.com", "password": PASSWORD}
            assert api.post("/api/auth/register", json=account).status_code == 201
            wrong = {"email": "ada@example.com", "password": "not the password"}
            refused = api.post("/api/auth/login", json=wrong)
            assert refused.status_code == 401
            assert api.get("/api/auth/sessions").status_code == 401
            assert api.get("/no/such/page").status_code == 404
    finally:
        proc.send_signal(signal.SIGTERM)
        rest, err = proc.communicate(timeout=30)
    out_entries = _json_lines(rest, "stdout")
    err_entries = _json_lines(err, "stderr")
    assert any(e["message"] == "Application shutdown complete." for e in err_entries)
    assert any(e["logger"].startswith("uvicorn") for e in err_entries)
    requests = [e for e in out_entries if e["logger"] == ACCESS]
    assert [(e["method"], e["path"], e["status"]) for e in requests][-5:] == [
        ("GET", "/health", 200), ("POST", "/api/auth/register", 201),
        ("POST", "/api/auth/login", 401), ("GET", "/api/auth/sessions", 401),
        ("GET", "/no/such/page", 404),
    ]
    assert requests[-5]["request_id"] == "from-the-proxy-1"
    assert requests[-5]["message"] == "GET /health 200"
    assert all(re.fullmatch(r"[0-9a-f]{32}", e["request_id"]) for e in requests[-4:])
    # The server's own records written during a request carry its id.
    inside = [e for e in err_entries if e["logger"].startswith("tekcify_auth")
              and "request_id" in e]
    assert inside, err_entries
    ids = {e["request_id"] for e in requests}
    assert all(e["request_id"] in ids for e in inside)
    assert PASSWORD not in rest + err
    assert "not the password" not in rest + err


# -- the request id ------------------------------------------------------------------------


@pytest.fixture
async def behind_proxy(
    clean_db: str, tmp_path: Path, clock: FakeClock
) -> AsyncIterator[FastAPI]:
    """The server trusting the proxy 10.0.0.5 only."""
    settings = make_settings(
        database_url=clean_db, data_dir=tmp_path / "data", trusted_proxies=PROXY,
    )
    async with running(settings, clock) as (application, _client):
        yield application


async def test_a_trusted_proxys_request_id_is_kept_and_echoed(
    behind_proxy: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=ACCESS)
    async with asgi_client(behind_proxy, PROXY) as proxy:
        answer = await proxy.get(
            "/health", headers={"X-Request-Id": "edge-7f3a.01_x", "X-Forwarded-For": STRANGER}
        )
    assert answer.headers["x-request-id"] == "edge-7f3a.01_x"
    assert _access_ids(caplog) == ["edge-7f3a.01_x"]


async def test_an_untrusted_clients_request_id_is_ignored(
    behind_proxy: FastAPI, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=ACCESS)
    # No proxy trusted at all (the default), then a stranger next to a trusted proxy.
    plain = await client.get("/health", headers={"X-Request-Id": "forged-by-the-client"})
    async with asgi_client(behind_proxy, STRANGER) as stranger:
        direct = await stranger.get(
            "/health", headers={"X-Request-Id": "forged-by-the-client",
                                "X-Forwarded-For": PROXY}
        )
    for answer in (plain, direct):
        assert answer.headers["x-request-id"] != "forged-by-the-client"
        assert re.fullmatch(r"[0-9a-f]{32}", answer.headers["x-request-id"])
    assert _access_ids(caplog) == [plain.headers["x-request-id"],
                                   direct.headers["x-request-id"]]
    assert "forged-by-the-client" not in caplog.text


@pytest.mark.parametrize("hostile", [
    'id"\n{"level":"CRITICAL","message":"forged"}',
    "id\r\nX-Admin: yes",
    'quoted"id',
    "a b",
    "x" * 10_240,
    "x" * 129,
    "",
])
async def test_a_log_injection_request_id_is_refused_even_from_a_trusted_proxy(
    behind_proxy: FastAPI, caplog: pytest.LogCaptureFixture, hostile: str
) -> None:
    caplog.set_level(logging.DEBUG, logger="tekcify_auth")
    async with asgi_client(behind_proxy, PROXY) as proxy:
        # httpx refuses CR and LF in a header; an ASGI server hands them over raw.
        answer = await proxy.get("/health", headers={"X-Request-Id": hostile.replace(
            "\r", "%0D").replace("\n", "%0A")})
        raw = await _raw_request(behind_proxy, PROXY, [(b"x-request-id", hostile.encode())])
    for echoed in (answer.headers["x-request-id"], raw):
        assert re.fullmatch(r"[0-9a-f]{32}", echoed), echoed
    assert _access_ids(caplog) == [answer.headers["x-request-id"], raw]
    assert "forged" not in caplog.text
    assert "X-Admin" not in caplog.text
    if len(hostile) > 128:
        assert hostile not in caplog.text


async def _raw_request(app: FastAPI, peer: str, headers: list[tuple[bytes, bytes]]) -> str:
    """GET /health through the ASGI interface with ``headers`` as given, byte for byte;
    the answer's X-Request-ID."""
    sent: list[dict[str, Any]] = []
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": "/health", "raw_path": b"/health", "query_string": b"",
        "root_path": "", "headers": [(b"host", b"tekcify.test"), *headers],
        "client": (peer, 50000), "server": ("tekcify.test", 80),
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    assert start["status"] == 200
    values = [v.decode() for k, v in start["headers"] if k.lower() == b"x-request-id"]
    assert len(values) == 1
    return values[0]


def test_serve_refusing_to_start_says_why_in_json(tmp_path: Path) -> None:
    env = {**_clean_env(), "TEKCIFY_DATA_DIR": str(tmp_path / "data"),
           "TEKCIFY_LOG_FORMAT": "json", "TEKCIFY_LOG_LEVEL": "LOUD"}
    done = subprocess.run(
        [sys.executable, "-m", "tekcify_auth.cli", "serve", "--port", "0"], env=env,
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 1
    assert done.stdout == ""
    (entry,) = _json_lines(done.stderr, "stderr")
    assert entry["level"] == "ERROR"
    assert "TEKCIFY_LOG_LEVEL" in entry["message"]
