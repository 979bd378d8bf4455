"""What the Node suite shares: ``@tekcify/auth-backend`` 2.2.12 installed once per machine,
driver.cjs run against our server, and accounts and applications made over plain HTTP.

The package is installed with npm into ``$XDG_CACHE_HOME/tekcify-auth-node/auth-backend-
2.2.12/`` (default ``~/.cache/...``), outside the repository, once per machine: later runs
find it there. It is the exact version Node services have installed. Its package.json
names ``@tekcify/auth-core-client@^2.0.0`` as a dependency, which the npm registry does not
serve (404), and which nothing in its ``dist/`` requires; npm's ``overrides`` stand an empty
local package in for it, so the install is otherwise npm's own resolution of 2.2.12.
"""

from __future__ import annotations

import base64
import contextlib
import email
import email.policy
import fcntl
import io
import json
import os
import re
import secrets
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import IO, Any

import httpx
from sqlalchemy import text

from e2e.support import PASSWORD, Browser, ServerProcess, new_email
from tekcify_auth.server.db.engine import Database

PACKAGE = "@tekcify/auth-backend"
VERSION = "2.2.12"
#: Unpublished, never required by the package's code (see the module docstring).
MISSING_DEPENDENCY = "@tekcify/auth-core-client"
HERE = Path(__file__).resolve().parent
DRIVER = HERE / "driver.cjs"
REWRITE = HERE / "rewrite-origin.cjs"
REDIRECT_URI = "http://127.0.0.1:8765/callback"
SCOPES = ["openid", "profile", "email"]
#: The ``node`` fixture: ``node(scenario, server, **context)`` -> the scenario's value.
Node = Callable[..., Any]


def cache_dir() -> Path:
    """Where npm installs the package: outside the repository, one folder per version."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
    return Path(base) / "tekcify-auth-node" / f"auth-backend-{VERSION}"


def installed(folder: Path) -> bool:
    """Whether ``folder`` holds the exact version."""
    with contextlib.suppress(OSError, ValueError):
        meta = json.loads((folder / "node_modules" / PACKAGE / "package.json").read_text("utf-8"))
        return bool(meta.get("version") == VERSION)
    return False


def install(folder: Path, progress: IO[str]) -> None:
    """``npm install`` the exact version into ``folder`` unless it is there (one at a time);
    npm's progress (one line per download) goes to ``progress``."""

    def stand_in(folder: Path) -> dict[str, Any]:
        made = folder / "stand-in-auth-core-client"
        made.mkdir(exist_ok=True)
        (made / "package.json").write_text(json.dumps({
            "name": MISSING_DEPENDENCY, "version": "2.0.0",
            "description": f"stand-in: not published, and never required by {PACKAGE} "
                           f"{VERSION}'s dist/",
        }, indent=2) + "\n", "utf-8")
        return {"overrides": {MISSING_DEPENDENCY: f"file:./{made.name}"}}

    npm_install(folder, {PACKAGE: VERSION}, lambda: installed(folder), progress,
                prepare=stand_in)


def npm_install(
    folder: Path,
    dependencies: dict[str, str],
    ready: Callable[[], bool],
    progress: IO[str],
    prepare: Callable[[Path], dict[str, Any]] | None = None,
) -> None:
    """``npm install`` ``dependencies`` (name -> version range) into ``folder`` unless
    ``ready()`` says they are there, one session at a time (a lock file in ``folder``);
    ``prepare(folder)`` may add fields to the package.json written there (``overrides``).
    npm's progress (one line per download) goes to ``progress``."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another test session may be installing it now
        if ready():
            return
        extra = prepare(folder) if prepare is not None else {}
        (folder / "package.json").write_text(json.dumps({
            "name": "tekcify-auth-node-suite", "private": True,
            "dependencies": dependencies, **extra,
        }, indent=2) + "\n", "utf-8")
        names = " ".join(f"{name}@{version}" for name, version in dependencies.items())
        print(f"\ninstalling {names} with npm into {folder} (once per machine) ...",
              file=progress, flush=True)
        done = subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--ignore-scripts",
             "--loglevel", "http"],
            cwd=folder, stdout=progress, stderr=progress, stdin=subprocess.DEVNULL,
            timeout=600, check=False,
        )
        if done.returncode != 0 or not ready():
            raise RuntimeError(f"npm install {names} failed ({done.returncode})")


@dataclass(frozen=True)
class NodePackage:
    """The installed package: its ``node_modules`` and the https origin its modules call."""

    node_modules: Path
    remote_origin: str

    @property
    def dist(self) -> Path:
        """The package's ``dist/`` (its .d.ts are the authority for shapes)."""
        return self.node_modules / PACKAGE / "dist"


def node_package(folder: Path) -> NodePackage:
    """The package installed in ``folder``, and the origin its modules' constant names."""
    node_modules = folder / "node_modules"
    source = (node_modules / PACKAGE / "dist" / "userinfo.js").read_text("utf-8")
    origin = re.search(r"const AUTH_SERVER_URL = '(https://[^']+)'", source)
    assert origin, "the package's userinfo.js no longer names its server's origin"
    return NodePackage(node_modules, origin.group(1))


def loopback(server: ServerProcess) -> str:
    """The server as http://127.0.0.1:PORT (it names itself http://localhost:PORT)."""
    return server.url.replace("//localhost:", "//127.0.0.1:")


def run_driver(
    package: NodePackage, server: ServerProcess | None, scenario: str, context: dict[str, Any]
) -> dict[str, Any]:
    """driver.cjs's report for ``scenario`` against ``server`` (``--exports``: the names the
    package exports). The package's https origin is rewritten to ``server`` by
    rewrite-origin.cjs; no other origin is reachable."""
    env = {
        **os.environ,
        "NODE_PATH": str(package.node_modules),
        "TEKCIFY_NODE_REMOTE_ORIGIN": package.remote_origin,
        "TEKCIFY_NODE_SERVER": loopback(server) if server else "http://127.0.0.1:9",
    }
    for name in ("AUTH_SERVER_URL", "TEKCIFY_AUTH_SERVER_URL"):
        env.pop(name, None)  # the package's own defaults, rewritten by rewrite-origin.cjs
    done = subprocess.run(
        ["node", "--require", str(REWRITE), str(DRIVER), scenario],
        input=json.dumps(context), capture_output=True, text=True, env=env, cwd=HERE,
        timeout=120, check=False,
    )
    assert done.returncode == 0, f"node exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


# -- accounts, applications and mail, over plain HTTP and the server's database -------------


@dataclass
class User:
    """A registered user and one live session of theirs."""

    email: str
    password: str
    user_id: str
    access_token: str
    refresh_token: str


def sign_up(server: ServerProcess, password: str = PASSWORD) -> User:
    """Register a new user and log them in."""
    email = new_email("node")
    with httpx.Client(base_url=server.url, timeout=10) as http:
        made = http.post("/api/auth/register", json={"email": email, "password": password})
        assert made.status_code == 201, made.text
        return User(email, password, made.json()["userId"], *log_in(server, email, password))


def log_in(server: ServerProcess, email: str, password: str) -> tuple[str, str]:
    """(access token, refresh token) of a new session."""
    with httpx.Client(base_url=server.url, timeout=10) as http:
        answer = http.post("/api/auth/login", json={"email": email, "password": password})
        assert answer.status_code == 200, answer.text
        return answer.json()["accessToken"], answer.json()["refreshToken"]


def login_status(server: ServerProcess, email: str, password: str) -> int:
    """The status of a login attempt."""
    with httpx.Client(base_url=server.url, timeout=10) as http:
        return http.post("/api/auth/login", json={"email": email, "password": password}).status_code


def refresh_status(server: ServerProcess, refresh_token: str) -> int:
    """The status of a refresh with ``refresh_token``."""
    with httpx.Client(base_url=server.url, timeout=10) as http:
        return http.post("/api/auth/refresh", json={"refreshToken": refresh_token}).status_code


def application_body(name: str = "Node App") -> dict[str, Any]:
    """A CreateApplicationDto of 2.2.12, primaryColor included."""
    return {
        "name": name, "description": f"{name}, made by the Node suite",
        "redirectUris": [REDIRECT_URI], "authorizedOrigins": ["http://127.0.0.1:8765"],
        "scopes": SCOPES, "primaryColor": "#1a2b3c",
    }


def create_application(server: ServerProcess, user: User, name: str = "Node App") -> dict[str, Any]:
    """A new application of ``user``, made by Python without primaryColor (as 2.0.4 did)."""
    body = application_body(name)
    del body["primaryColor"]
    with httpx.Client(base_url=server.url, timeout=10) as http:
        made = http.post("/api/applications", json=body,
                         headers={"Authorization": f"Bearer {user.access_token}"})
        assert made.status_code == 201, made.text
        created: dict[str, Any] = made.json()
        return created


def consent(server: ServerProcess, user: User, app: dict[str, Any]) -> None:
    """``user`` signs in to ``app`` through the login and consent pages; ``app`` gets tokens."""
    from tekcify_auth.oauth import OAuthClient, generate_code_challenge, generate_code_verifier

    verifier = generate_code_verifier()
    with OAuthClient(app["clientId"], app["clientSecret"], redirect_uri=REDIRECT_URI,
                     scopes=SCOPES, auth_server_url=server.url) as oauth:
        pages = Browser(server.url)
        try:
            url = oauth.build_authorize_url(secrets.token_urlsafe(16),
                                            generate_code_challenge(verifier))
            callback = pages.authorize(url, user.email, user.password)
        finally:
            pages.close()
        oauth.exchange_code(callback["code"], verifier)


def png() -> str:
    """A small PNG, as base64."""
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (8, 8), (26, 43, 60)).save(out, "PNG")
    return base64.b64encode(out.getvalue()).decode()


def database_url(server: ServerProcess) -> str:
    """The server's database: ``TEKCIFY_DATABASE_URL``, else SQLite in its data folder."""
    return server.env.get("TEKCIFY_DATABASE_URL") or \
        f"sqlite:///{server.data_dir / 'tekcify.sqlite3'}"


@contextlib.contextmanager
def postgres_schema() -> Iterator[str]:
    """A new, empty schema in the test cluster (the server migrates it), dropped after."""
    from server.conftest import _with_search_path, postgres_root_url

    root = Database(postgres_root_url())
    schema = f"n_{uuid.uuid4().hex[:12]}"
    with root.write_connection() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield _with_search_path(postgres_root_url(), schema)
    finally:
        with root.write_connection() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        root.dispose()


def mail_to(server: ServerProcess, address: str) -> list[str]:
    """The plain-text bodies of the messages queued for ``address``, oldest first: from the
    server's ``mail_queue`` table while a message waits there, else from its ``.eml`` file
    in ``<data dir>/outbox/`` (the sender writes the file, then wipes the queued body)."""
    db = Database(database_url(server))
    try:
        with db.read() as session:
            rows = session.execute(text(
                "SELECT id, text_body FROM mail_queue WHERE lower(to_address) = lower(:to) "
                "ORDER BY created_at"), {"to": address}).all()
    finally:
        db.dispose()
    return [body or _outbox_text(server, message_id) for message_id, body in rows]


def _outbox_text(server: ServerProcess, message_id: str) -> str:
    files = sorted((server.data_dir / "outbox").glob(f"*-{message_id}.eml"))
    assert files, f"message {message_id} is neither in mail_queue nor in the outbox"
    message = email.message_from_bytes(files[0].read_bytes(), policy=email.policy.default)
    plain = message.get_body(preferencelist=("plain",))
    assert isinstance(plain, EmailMessage), f"no text part in {files[0]}"
    return str(plain.get_content())


def six_digit_code(text: str) -> str:
    """The one 6-digit code in a message."""
    # Six digits standing alone: not a run inside a link's token or a URL.
    codes = set(re.findall(r"(?<![\w-])\d{6}(?![\w-])", text))
    assert len(codes) == 1, f"expected one 6-digit code in:\n{text}"
    return codes.pop()
