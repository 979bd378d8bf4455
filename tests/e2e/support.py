"""What the end-to-end tests share: the real server in a subprocess, accounts, and the
four ways of calling the server behind one awaitable face.

The server is ``tekcify-auth serve`` (``python -m tekcify_auth.cli serve``) on
127.0.0.1, port 0 (the kernel picks a free one; the banner names it, under the URL the
server uses, ``http://localhost:PORT``), with SQLite in a
private data folder, a known ``JWT_ACCESS_SECRET`` and cheap argon2. Nothing here mocks
the server: every call crosses a real socket.
"""

from __future__ import annotations

import collections
import contextlib
import io
import os
import re
import secrets
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import pytest

from tekcify_auth import TokenSet, UserProfile, cli

PASSWORD = "correct horse battery staple"
#: How long the server may take to start before the session fails.
START_TIMEOUT = 60.0
#: Cheap password hashing: the suite registers hundreds of accounts.
FAST_HASHING = {
    "TEKCIFY_ARGON2_TIME_COST": "1",
    "TEKCIFY_ARGON2_MEMORY_COST": "8",
    "TEKCIFY_ARGON2_PARALLELISM": "1",
    # Every test registers from 127.0.0.1: the registration limits (issue 17) must not
    # turn one test's accounts into another's 429.
    "TEKCIFY_REGISTRATION_MAX_PER_ADDRESS": "100000",
    "TEKCIFY_REGISTRATION_MAX_PER_NETWORK": "100000",
}
# Every test logs in from 127.0.0.1, some with wrong passwords on purpose: the
# per-address limit must not turn one test's failures into another's 429.
LENIENT_LOGIN_LIMITS = {
    "TEKCIFY_LOGIN_MAX_FAILURES_PER_ADDRESS": "100000",
    # Likewise for wrong client secrets (issue 17's client authentication limits).
    "TEKCIFY_CLIENT_AUTH_MAX_FAILURES": "100000",
    "TEKCIFY_CLIENT_AUTH_MAX_FAILURES_PER_CLIENT": "100000",
}
# The URL the server names (``http://localhost:PORT``, as the library's default says):
# its banner resolves port 0 to the port it listens on.
_LISTENING = re.compile(r"Tekcify Auth listening on (http://localhost:\d+)")


class ServerProcess:
    """``tekcify-auth serve`` in a subprocess; :meth:`stop` ends it.

    ``log`` holds the last lines it wrote (stdout: one access-log line per request;
    stderr: uvicorn and the server's own log), for failure messages.
    """

    def __init__(self, data_dir: Path, env: Mapping[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.secret = "e2e-" + secrets.token_urlsafe(32)
        self.log: collections.deque[str] = collections.deque(maxlen=500)
        clean = {
            k: v for k, v in os.environ.items()
            if not k.startswith("TEKCIFY_") and k not in ("JWT_ACCESS_SECRET", "AUTH_SERVER_URL")
        }
        clean.update(FAST_HASHING)
        clean.update(LENIENT_LOGIN_LIMITS)
        clean.update(
            TEKCIFY_DATA_DIR=str(data_dir), JWT_ACCESS_SECRET=self.secret,
            TEKCIFY_LOG_LEVEL="WARNING",
        )
        clean.update(env or {})
        self.env = clean
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tekcify_auth.cli", "serve", "--host", "127.0.0.1",
             "--port", "0"],
            cwd=data_dir, env=clean, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, encoding="utf-8", errors="replace",
        )
        self._found: list[str] = []
        self._started = threading.Event()
        assert self.process.stdout is not None
        assert self.process.stderr is not None
        # Both pipes are drained for the server's whole life, so it never blocks on one.
        self._readers = [
            threading.Thread(target=self._drain, args=(stream,), daemon=True)
            for stream in (self.process.stdout, self.process.stderr)
        ]
        for reader in self._readers:
            reader.start()
        try:
            self.url = self._wait_until_up()
        except BaseException:
            self.stop()
            raise

    def _drain(self, stream: Any) -> None:
        for line in stream:
            self.log.append(line.rstrip("\n"))
            match = _LISTENING.search(line)
            if match and not self._found:
                self._found.append(match.group(1))
                self._started.set()
        self._started.set()  # the pipe closed: the process is gone

    def _wait_until_up(self) -> str:
        deadline = time.monotonic() + START_TIMEOUT
        if not self._started.wait(START_TIMEOUT) or not self._found:
            raise RuntimeError(f"the auth server did not start:\n{self.output()}")
        url = self._found[0]
        with httpx.Client(base_url=url, timeout=5) as http:
            while time.monotonic() < deadline:
                try:
                    if http.get("/health").status_code == 200:
                        return url
                except httpx.TransportError:
                    pass
                if self.process.poll() is not None:
                    break
                time.sleep(0.05)
        raise RuntimeError(f"the auth server at {url} never answered /health:\n{self.output()}")

    def admin(self, *args: str) -> str:
        """Run ``tekcify-auth ARGS`` against this server's storage, as its operator would;
        returns what it printed (asserts it succeeded).

        The command line's own ``main`` runs in this process, in the server's folder and
        with its environment only, as ``python -m tekcify_auth.cli ARGS`` there would: a
        new interpreter importing the server cost a second or more per call (the README
        suite makes one call per example).
        """
        out, err = io.StringIO(), io.StringIO()
        with pytest.MonkeyPatch.context() as patch:
            for name in os.environ:
                if name not in self.env:
                    patch.delenv(name)
            for name, value in self.env.items():
                patch.setenv(name, value)
            patch.chdir(self.data_dir)
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                status = cli.main(list(args))
        assert status == 0, err.getvalue()
        return out.getvalue()

    def allow_client_credentials(self, client_id: str, scopes: Iterable[str]) -> None:
        """Let ``client_id`` use ``client_credentials`` for ``scopes`` (an admin's leave)."""
        self.admin("apps", "allow-client-credentials", client_id, "--scopes", " ".join(scopes))

    def output(self) -> str:
        """What the server wrote lately, for a failure message."""
        return "\n".join(self.log)

    def stop(self) -> None:
        """Terminate the server; kill it if it has not stopped within 15 seconds."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for reader in self._readers:
            reader.join(timeout=5)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


def new_email(prefix: str = "user") -> str:
    """An address no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}@example.com"


def app_data(name: str = "Test App", **fields: Any) -> dict[str, Any]:
    """The body of an application to create, loopback redirect URI included (RFC 8252)."""
    data: dict[str, Any] = {
        "name": name,
        "description": f"{name}, made by a test",
        "redirect_uris": ["http://127.0.0.1:8765/callback"],
        "authorized_origins": ["http://127.0.0.1:8765"],
        "scopes": ["openid", "profile", "email"],
    }
    data.update(fields)
    return data


@dataclass
class Account:
    """A registered user and a live session of theirs."""

    email: str
    password: str
    profile: UserProfile
    tokens: TokenSet

    @property
    def user_id(self) -> str:
        """The user's id (the tokens' ``sub``)."""
        return self.profile.user_id

    @property
    def access_token(self) -> str:
        """The session's access token."""
        return self.tokens.access_token


MakeAccount = Callable[..., Account]


class Api:
    """One way of calling the server, every call awaited the same way.

    ``kind`` is ``client`` (:class:`AuthClient`), ``async_client``
    (:class:`AsyncAuthClient`), ``shortcuts`` (``tekcify_auth.*``) or ``aio``
    (``tekcify_auth.aio.*``).
    """

    def __init__(self, kind: str, target: Any, is_async: bool) -> None:
        self.kind = kind
        self._target = target
        self._is_async = is_async

    def __repr__(self) -> str:
        return f"Api({self.kind})"

    @property
    def raw(self) -> Any:
        """The wrapped client or module itself, for its sync methods."""
        return self._target

    def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
        method = getattr(self._target, name)
        if self._is_async:
            return method  # type: ignore[no-any-return]

        async def call(*args: Any, **kwargs: Any) -> Any:
            return method(*args, **kwargs)

        return call


API_KINDS = ("client", "async_client", "shortcuts", "aio")




# -- the authorization pages, driven over HTTP ------------------------------------------


@dataclass
class Form:
    """An HTML form: where it posts, its hidden fields and its submit buttons."""

    action: str
    fields: dict[str, str] = field(default_factory=dict)
    buttons: dict[str, list[str]] = field(default_factory=dict)


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = {key: value or "" for key, value in attrs}
        if tag == "form":
            self.forms.append(Form(named.get("action", "")))
        elif self.forms and tag == "input" and named.get("type") == "hidden":
            self.forms[-1].fields[named.get("name", "")] = named.get("value", "")
        elif self.forms and tag == "button" and "name" in named:
            self.forms[-1].buttons.setdefault(named["name"], []).append(named.get("value", ""))


def forms_of(html: str) -> list[Form]:
    """The forms of a page."""
    parser = _FormParser()
    parser.feed(html)
    return parser.forms


class Browser:
    """What a user's browser does on the login and consent pages, over plain HTTP.

    It keeps the server's cookies, reads the CSRF token from each form and posts the
    form back, and stops at the first redirect that leaves the server (to the client's
    ``redirect_uri``), which it returns instead of following. ``pages`` lists the
    forms it went through (``login``, ``consent``).
    """

    def __init__(self, server_url: str) -> None:
        self.server_url = server_url
        self.http = httpx.Client(base_url=server_url, timeout=10, follow_redirects=False)
        self.pages: list[str] = []

    def close(self) -> None:
        """Forget the cookies and close the connections."""
        self.http.close()

    def authorize(
        self, url: str, email: str, password: str, decision: str = "allow"
    ) -> dict[str, str]:
        """Follow ``url`` through the pages; the query the client's callback receives."""
        self.pages.clear()
        answer = self.http.get(url)
        for _step in range(10):
            if answer.is_redirect:
                location = urljoin(str(answer.url), answer.headers["location"])
                if not location.startswith(self.server_url + "/"):
                    query = parse_qs(urlsplit(location).query)
                    return {name: values[0] for name, values in query.items()}
                answer = self.http.get(location)
                continue
            assert answer.status_code == 200, f"{answer.status_code}: {answer.text[:500]}"
            form = forms_of(answer.text)[0]
            if form.action.endswith("/login"):
                self.pages.append("login")
                data = {**form.fields, "email": email, "password": password}
            elif form.action.endswith("/consent"):
                self.pages.append("consent")
                assert decision in form.buttons["decision"]
                data = {**form.fields, "decision": decision}
            else:
                raise AssertionError(f"an unexpected form posting to {form.action}")
            answer = self.http.post(form.action, data=data)
        raise AssertionError("the pages never sent the browser back to the client")
