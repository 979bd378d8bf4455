"""What the example tests share (``conftest.py`` makes fixtures of it): the real auth
server (``tekcify-auth serve`` in a subprocess, as the e2e suite runs it), tokens it
issued, and each example started by the one command its README section documents
(``python -m examples.<name>``, ``PORT`` set to a free port) with ``JWT_ACCESS_SECRET``
and ``AUTH_SERVER_URL`` pointing at that server. Nothing is minted or mocked: the
examples see what a reader's would.
"""

from __future__ import annotations

import collections
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from e2e.support import PASSWORD, Browser, ServerProcess, app_data, new_email
from tekcify_auth import AuthClient
from tekcify_auth.oauth import OAuthClient, generate_code_challenge, generate_code_verifier

ROOT = Path(__file__).resolve().parents[2]
#: ``/orders`` needs ``read:orders``: the operator adds it, an application asks for it.
EXTRA_SCOPES = "read:orders=Read your orders"
APP_SCOPES = ["openid", "email", "read:orders"]
START_TIMEOUT = 60.0


@dataclass(frozen=True)
class Tokens:
    """Access tokens the real server issued, and whose they are."""

    user_id: str
    email: str
    first_party: str  # the user's login: the default scopes, not read:orders
    app: str  # issued to an application the user allowed, with read:orders
    deleted: str  # a login of an account deleted since: it still verifies locally


@pytest.fixture(scope="session")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """The real server, with ``read:orders`` among its scopes."""
    server = ServerProcess(
        tmp_path_factory.mktemp("examples-auth"), {"TEKCIFY_EXTRA_SCOPES": EXTRA_SCOPES}
    )
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def tokens(auth_server: ServerProcess) -> Tokens:
    """A user's login, an application's token for them, and a deleted account's login."""
    with AuthClient(auth_server.url, timeout=10) as client:
        email = new_email("example")
        profile = client.register(email, PASSWORD)
        login = client.login(email, PASSWORD)
        app = client.create_application(
            login.access_token, app_data("Example client", scopes=APP_SCOPES)
        )
        redirect_uri = app_data()["redirect_uris"][0]
        with OAuthClient(app.client_id, app.client_secret, redirect_uri, APP_SCOPES,
                         auth_server.url) as oauth:
            verifier = generate_code_verifier()
            browser = Browser(auth_server.url)
            try:
                callback = browser.authorize(
                    oauth.build_authorize_url("s", generate_code_challenge(verifier)),
                    email, PASSWORD,
                )
            finally:
                browser.close()
            app_token = oauth.exchange_code(callback["code"], verifier).access_token
        gone = new_email("gone")
        client.register(gone, PASSWORD)
        deleted = client.login(gone, PASSWORD).access_token
        client.delete_account(deleted, PASSWORD)
    return Tokens(profile.user_id, email, login.access_token, app_token, deleted)


def bearer(token: str) -> dict[str, str]:
    """The ``Authorization`` header for ``token``."""
    return {"Authorization": f"Bearer {token}"}


def free_port() -> int:
    """A port nothing listens on now (the kernel's pick)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Example:
    """A running example: its base URL, and what it wrote (stdout and stderr)."""

    url: str
    log: collections.deque[str]


@contextmanager
def run_example(
    module: str, auth_server: ServerProcess, public_path: str, *, secret: str | None = None
) -> Iterator[Example]:
    """``python -m module`` on a free ``PORT``, until it answers ``public_path``."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("TEKCIFY_") and k not in ("PYTHONPATH", "DJANGO_SETTINGS_MODULE")}
    env.update(JWT_ACCESS_SECRET=secret or auth_server.secret, AUTH_SERVER_URL=auth_server.url,
               PORT=str(free_port()))
    process = subprocess.Popen(
        [sys.executable, "-m", module], cwd=ROOT, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    log: collections.deque[str] = collections.deque(maxlen=500)

    def drain() -> None:  # the example never blocks on a full pipe
        assert process.stdout is not None
        for line in process.stdout:
            log.append(line.rstrip("\n"))

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    example = Example(f"http://127.0.0.1:{env['PORT']}", log)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                if httpx.get(example.url + public_path, timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{module} did not start:\n" + "\n".join(log))
            time.sleep(0.1)
        yield example
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        reader.join(timeout=10)
        if process.stdout is not None:
            process.stdout.close()
