"""Services the suites start for themselves (importable as ``services``: tests/ is on the path)."""

from __future__ import annotations

import contextlib
import copy
import json
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import redis

#: How often a test's HTTP server (``serve_forever``) looks for a ``shutdown()``: with
#: the standard library's half second, each ``stop()`` waited up to that long.
SHUTDOWN_POLL = 0.02


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.contextmanager
def private_redis(binary: str, workdir: Path) -> Iterator[str]:
    """A throwaway ``redis-server`` on 127.0.0.1 (no persistence); yields its URL, then stops it."""
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(workdir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.05)
        yield url
    finally:
        client.close()
        proc.terminate()
        proc.wait(timeout=10)


class KeyServer:
    """A key server on 127.0.0.1 that answers every GET with ``body`` and counts them.

    An attacker's server behind ``jku``/``x5u`` headers (it must count none), or a JWKS
    endpoint. ``stop()`` takes it down.
    """

    def __init__(self, body: bytes) -> None:
        self.requests = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests += 1
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": SHUTDOWN_POLL}, daemon=True
        )
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)


#: The forms ``jwks=`` accepts; "verifier" is a JwksVerifier fetching the document.
JWKS_FORMS = ("dict", "str", "bytes", "keyset", "verifier")


def jwks_in_form(form: str, document: dict[str, Any], server: KeyServer) -> Any:
    """``document`` as ``form`` (one of :data:`JWKS_FORMS`); ``server`` serves it."""
    from joserfc.jwk import KeySet

    from tekcify_auth import JwksVerifier

    if form == "dict":
        return copy.deepcopy(document)
    if form == "str":
        return json.dumps(document)
    if form == "bytes":
        return json.dumps(document).encode()
    if form == "keyset":
        return KeySet.import_key_set(copy.deepcopy(document))  # type: ignore[arg-type]
    assert form == "verifier", form
    return JwksVerifier(server.url + "/jwks.json")
