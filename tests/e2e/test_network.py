"""Network failures and retries over real sockets.

Retries are proven against :class:`ScriptedServer`, a tiny ``http.server`` on 127.0.0.1
that answers from a script (503 twice, then 200): a real HTTP peer, not a stand-in for
the client's transport. The client's ``sleep`` is injected, so the waits it asks for are
recorded instead of slept. A stopped Tekcify server, a closed port and a peer that never
answers give :class:`~tekcify_auth.AuthServerUnavailable`.
"""

from __future__ import annotations

import contextlib
import email.utils
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tekcify_auth import (
    AsyncAuthClient,
    AuthClient,
    AuthServerError,
    AuthServerInvalidResponse,
    AuthServerUnavailable,
    RetryPolicy,
)

from .support import PASSWORD, ServerProcess, new_email

pytestmark = pytest.mark.slow

APPLICATION = {
    "clientId": "c1", "name": "Flaky App", "description": None, "logoUrl": None,
    "redirectUris": ["https://app.example.com/cb"], "authorizedOrigins": None,
    "scopes": ["openid"],
}
UNAVAILABLE = {"statusCode": 503, "error": "Service Unavailable", "message": "Down for a moment"}


@dataclass
class Reply:
    """One scripted answer."""

    status: int
    body: dict[str, Any] | bytes
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"


def unavailable(**headers: str) -> Reply:
    """A 503 in the Tekcify error shape."""
    return Reply(503, UNAVAILABLE, headers)


class ScriptedServer:
    """An HTTP server on 127.0.0.1 answering from ``script`` in order (the last repeats).

    ``seen`` records each request's method and path.
    """

    def __init__(self) -> None:
        self.script: list[Reply] = []
        self.seen: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                with outer._lock:
                    outer.seen.append((self.command, self.path))
                    reply = outer.script.pop(0) if len(outer.script) > 1 else outer.script[0]
                body = reply.body if isinstance(reply.body, bytes) else json.dumps(
                    reply.body
                ).encode()
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                self.send_header("Content-Length", str(len(body)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = _answer

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    def answer(self, *replies: Reply) -> None:
        """Answer the next requests with ``replies``."""
        self.script = list(replies)
        self.seen.clear()

    def close(self) -> None:
        """Stop serving and free the port."""
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=5)


@pytest.fixture
def scripted() -> Iterator[ScriptedServer]:
    """A :class:`ScriptedServer`, closed afterwards."""
    server = ScriptedServer()
    try:
        yield server
    finally:
        server.close()


class Sleeps:
    """Records the waits a client asks for, sync or async, without waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)

    async def asleep(self, seconds: float) -> None:
        self.waits.append(seconds)


def flaky_twice(scripted: ScriptedServer, **headers: str) -> None:
    scripted.answer(unavailable(**headers), unavailable(**headers), Reply(200, APPLICATION))


# -- retries -----------------------------------------------------------------------------


def test_a_get_is_tried_again_after_two_503s(scripted: ScriptedServer) -> None:
    flaky_twice(scripted)
    sleeps = Sleeps()
    with AuthClient(scripted.url, sleep=sleeps) as client:
        app = client.get_application_by_client_id("c1")
    assert app.name == "Flaky App"
    assert scripted.seen == [("GET", "/api/applications/public/c1")] * 3
    # Full jitter: each wait is between 0 and the doubling backoff (0.25 s, then 0.5 s).
    assert len(sleeps.waits) == 2
    assert 0 <= sleeps.waits[0] <= 0.25
    assert 0 <= sleeps.waits[1] <= 0.5


async def test_the_async_client_tries_a_get_again_after_two_503s(
    scripted: ScriptedServer,
) -> None:
    flaky_twice(scripted)
    sleeps = Sleeps()
    async with AsyncAuthClient(scripted.url, sleep=sleeps.asleep) as client:
        app = await client.get_application_by_client_id("c1")
    assert app.client_id == "c1"
    assert len(scripted.seen) == 3
    assert len(sleeps.waits) == 2


@pytest.mark.parametrize("status", [429, 502, 504])
def test_the_other_transient_statuses_are_tried_again(
    scripted: ScriptedServer, status: int
) -> None:
    scripted.answer(Reply(status, {"message": "busy"}), Reply(200, APPLICATION))
    with AuthClient(scripted.url, sleep=Sleeps()) as client:
        assert client.get_application_by_client_id("c1").name == "Flaky App"
    assert len(scripted.seen) == 2


def test_a_post_is_not_tried_again(scripted: ScriptedServer) -> None:
    flaky_twice(scripted)
    sleeps = Sleeps()
    with AuthClient(scripted.url, sleep=sleeps) as client, pytest.raises(AuthServerError) as caught:
        client.login("ada@example.com", PASSWORD)
    assert (caught.value.status_code, caught.value.message) == (503, "Down for a moment")
    assert scripted.seen == [("POST", "/api/auth/login")]
    assert sleeps.waits == []


async def test_an_async_post_is_not_tried_again(scripted: ScriptedServer) -> None:
    flaky_twice(scripted)
    async with AsyncAuthClient(scripted.url, sleep=Sleeps().asleep) as client:
        with pytest.raises(AuthServerError) as caught:
            await client.create_application("token", {
                "name": "n", "redirect_uris": ["https://a.example/cb"], "scopes": ["openid"],
            })
    assert caught.value.status_code == 503
    assert scripted.seen == [("POST", "/api/applications")]


def test_introspection_is_a_post_that_is_tried_again(scripted: ScriptedServer) -> None:
    # RFC 7662 introspection only reads, so the client treats it as idempotent.
    scripted.answer(unavailable(), Reply(200, {"active": False}))
    with AuthClient(scripted.url, sleep=Sleeps()) as client:
        assert client.introspect_token("some-token").active is False
    assert scripted.seen == [("POST", "/api/oauth/token/introspect")] * 2


def test_retries_give_up_with_the_last_answer(scripted: ScriptedServer) -> None:
    scripted.answer(unavailable())
    sleeps = Sleeps()
    with (
        AuthClient(scripted.url, retries=3, sleep=sleeps) as client,
        pytest.raises(AuthServerError) as caught,
    ):
        client.get_application_by_client_id("c1")
    assert (caught.value.status_code, caught.value.message) == (503, "Down for a moment")
    assert len(scripted.seen) == 4
    assert len(sleeps.waits) == 3


def test_retries_zero_tries_once(scripted: ScriptedServer) -> None:
    flaky_twice(scripted)
    with (
        AuthClient(scripted.url, retries=0, sleep=Sleeps()) as client,
        pytest.raises(AuthServerError),
    ):
        client.get_application_by_client_id("c1")
    assert len(scripted.seen) == 1


def test_retry_after_in_seconds_is_honoured(scripted: ScriptedServer) -> None:
    flaky_twice(scripted, **{"Retry-After": "3"})
    sleeps = Sleeps()
    with AuthClient(scripted.url, sleep=sleeps) as client:
        assert client.get_application_by_client_id("c1").name == "Flaky App"
    assert sleeps.waits == [3.0, 3.0]


async def test_retry_after_as_an_http_date_is_honoured_by_the_async_client(
    scripted: ScriptedServer,
) -> None:
    now = 1_900_000_000.0
    when = email.utils.formatdate(now + 7, usegmt=True)
    flaky_twice(scripted, **{"Retry-After": when})
    sleeps = Sleeps()
    async with AsyncAuthClient(scripted.url, sleep=sleeps.asleep, clock=lambda: now) as client:
        assert (await client.get_application_by_client_id("c1")).name == "Flaky App"
    assert sleeps.waits == [7.0, 7.0]


def test_a_retry_after_too_long_to_wait_raises_at_once(scripted: ScriptedServer) -> None:
    scripted.answer(Reply(429, {"message": "Slow down"}, {"Retry-After": "3600"}))
    sleeps = Sleeps()
    policy = RetryPolicy(retries=2, max_retry_after=30)
    with (
        AuthClient(scripted.url, retries=policy, sleep=sleeps) as client,
        pytest.raises(AuthServerError) as caught,
    ):
        client.get_application_by_client_id("c1")
    assert (caught.value.status_code, caught.value.message) == (429, "Slow down")
    assert len(scripted.seen) == 1
    assert sleeps.waits == []


# -- the server gone -----------------------------------------------------------------------


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_a_closed_port_is_auth_server_unavailable() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    sleeps = Sleeps()
    with (
        AuthClient(url, sleep=sleeps) as client,
        pytest.raises(AuthServerUnavailable) as caught,
    ):
        client.get_application_by_client_id("c1")
    assert url in str(caught.value)
    assert "failed" in str(caught.value)
    assert len(sleeps.waits) == 2  # a connection error on a GET is tried again


async def test_a_closed_port_is_auth_server_unavailable_for_the_async_client() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    sleeps = Sleeps()
    async with AsyncAuthClient(url, sleep=sleeps.asleep) as client:
        with pytest.raises(AuthServerUnavailable):
            await client.login("ada@example.com", PASSWORD)
    assert sleeps.waits == []  # nor is a POST after a connection error


async def test_a_stopped_server_is_auth_server_unavailable(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path)
    try:
        sync_client = AuthClient(server.url, timeout=2, sleep=Sleeps())
        async_client = AsyncAuthClient(server.url, timeout=2, sleep=Sleeps().asleep)
        email = new_email("gone")
        sync_client.register(email, PASSWORD)
        tokens = await async_client.login(email, PASSWORD)
        # Both hold a pooled keep-alive connection to the server when it goes away.
        assert sync_client.get_user_profile(tokens.access_token).email == email
        assert (await async_client.get_user_profile(tokens.access_token)).email == email
    finally:
        server.stop()
    try:
        with pytest.raises(AuthServerUnavailable) as caught:
            sync_client.get_user_profile(tokens.access_token)
        assert server.url in str(caught.value)
        with pytest.raises(AuthServerUnavailable):
            await async_client.get_user_profile(tokens.access_token)
        with pytest.raises(AuthServerUnavailable):
            await async_client.logout(tokens.access_token)
    finally:
        sync_client.close()
        await async_client.aclose()


class SilentPeer:
    """Accepts connections on 127.0.0.1 and never answers; counts the connections."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.connections: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections.append(conn)

    def close(self) -> None:
        """Stop listening and drop every connection."""
        # shutdown() wakes the blocked accept(); close() alone does not on Linux.
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self._thread.join(timeout=5)
        for conn in self.connections:
            conn.close()


@pytest.fixture
def silent_peer() -> Iterator[SilentPeer]:
    peer = SilentPeer()
    try:
        yield peer
    finally:
        peer.close()


def test_a_server_that_never_answers_times_out(silent_peer: SilentPeer) -> None:
    sleeps = Sleeps()
    started = time.monotonic()
    with (
        AuthClient(silent_peer.url, timeout=0.5, sleep=sleeps) as client,
        pytest.raises(AuthServerUnavailable) as caught,
    ):
        client.get_application_by_client_id("c1")
    elapsed = time.monotonic() - started
    assert "timed out" in str(caught.value)
    # A read timeout is not tried again (the server may be slow, not gone): one wait
    # of the timeout, not three.
    assert sleeps.waits == []
    assert len(silent_peer.connections) == 1
    assert 0.5 <= elapsed < 5


async def test_the_async_client_times_out_too(silent_peer: SilentPeer) -> None:
    async with AsyncAuthClient(silent_peer.url, timeout=0.5) as client:
        with pytest.raises(AuthServerUnavailable) as caught:
            await client.fetch_user_info("token")
    assert "timed out" in str(caught.value)


# -- answers the client cannot use, over a real socket ----------------------------------

PROXY_PAGE = (
    b"<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway"
    b"</h1></center><hr><center>nginx</center></body></html>"
)


def test_an_html_page_from_a_proxy_gives_its_title(scripted: ScriptedServer) -> None:
    scripted.answer(Reply(502, PROXY_PAGE, content_type="text/html"))
    with AuthClient(scripted.url, retries=0) as client, pytest.raises(AuthServerError) as caught:
        client.get_user_profile("token")
    assert (caught.value.status_code, caught.value.message) == (502, "Bad Gateway: 502 Bad Gateway")


def test_an_empty_error_body_gives_the_reason_phrase(scripted: ScriptedServer) -> None:
    scripted.answer(Reply(500, b"", content_type="text/plain"))
    with AuthClient(scripted.url) as client, pytest.raises(AuthServerError) as caught:
        client.get_user_profile("token")
    assert (caught.value.status_code, caught.value.message) == (500, "Internal Server Error")


def test_a_200_of_another_shape_is_an_invalid_response(scripted: ScriptedServer) -> None:
    scripted.answer(Reply(200, {"id": 7, "mail": "a@b.c"}))
    with AuthClient(scripted.url) as client, pytest.raises(AuthServerInvalidResponse) as caught:
        client.get_user_profile("token")
    assert caught.value.status_code == 200
    assert "UserProfile" in caught.value.message


def test_a_200_that_is_not_json_is_an_invalid_response(scripted: ScriptedServer) -> None:
    scripted.answer(Reply(200, b"<html>Sign in to the Wi-Fi</html>", content_type="text/html"))
    with AuthClient(scripted.url) as client, pytest.raises(AuthServerInvalidResponse) as caught:
        client.get_user_profile("token")
    assert "not JSON (text/html)" in caught.value.message


async def test_a_huge_body_is_refused(scripted: ScriptedServer) -> None:
    scripted.answer(Reply(200, b"[" + b"0," * 600_000 + b"0]"))
    async with AsyncAuthClient(scripted.url, max_response_bytes=1024 * 1024) as client:
        with pytest.raises(AuthServerInvalidResponse) as caught:
            await client.list_sessions("token")
    assert caught.value.message == "the answer is larger than the client's limit"
