"""Processes the fault tests start and stop: ``tekcify-auth serve`` and a private PostgreSQL.

Every process writes its output to files in the test's folder (shown when a test fails),
lives in its own process group, and is ended in a ``finally`` (SIGTERM, then SIGKILL past
a grace period), so no test leaves an orphan behind, whatever happens to it.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Final

import httpx
from sqlalchemy import create_engine, text

REPO: Final = Path(__file__).resolve().parents[2]
POSTGRES_SCRIPT: Final = REPO / "scripts" / "postgres.sh"

#: How long a server or a cluster may take to start before the test fails.
START_TIMEOUT: Final = 60.0
#: How long a stopped process has to exit after SIGTERM before it gets SIGKILL.
STOP_GRACE: Final = 10.0
_POLL: Final = 0.05

#: Cheap argon2 (the settings' floors): the tests register hundreds of accounts.
FAST_HASHING: Final = {
    "TEKCIFY_ARGON2_TIME_COST": "1",
    "TEKCIFY_ARGON2_MEMORY_COST": "8",
    "TEKCIFY_ARGON2_PARALLELISM": "1",
    # Every test registers from 127.0.0.1: the registration limits (issue 17) must not
    # turn one test's accounts into another's 429.
    "TEKCIFY_REGISTRATION_MAX_PER_ADDRESS": "100000",
    "TEKCIFY_REGISTRATION_MAX_PER_NETWORK": "100000",
    "TEKCIFY_CLIENT_AUTH_MAX_FAILURES": "100000",
    "TEKCIFY_CLIENT_AUTH_MAX_FAILURES_PER_CLIENT": "100000",
}
_LISTENING: Final = re.compile(r"Uvicorn running on (http://127\.0\.0\.1:\d+)")


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on now (for programs that cannot take 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _tail(path: Path, lines: int = 60) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return "(no output)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty)"


def _end_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group, SIGKILL it past :data:`STOP_GRACE`, reap the leader."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(STOP_GRACE)
    # Whatever the leader did, nothing of its group may outlive the test.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _server_command() -> list[str]:
    script = Path(sys.executable).with_name("tekcify-auth")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "tekcify_auth.cli"]


class AuthServer:
    """``tekcify-auth serve`` on 127.0.0.1 (a port the kernel picks), started at once.

    ``env`` holds the server's settings; the caller's ``TEKCIFY_*`` variables are not
    passed on, so only what the test says applies. Output goes to ``<name>.out.log`` and
    ``<name>.err.log`` in ``log_dir``.
    """

    def __init__(self, name: str, log_dir: Path, env: Mapping[str, str]) -> None:
        self.name = name
        self.stdout_path = log_dir / f"{name}.out.log"
        self.stderr_path = log_dir / f"{name}.err.log"
        clean = {
            k: v for k, v in os.environ.items()
            if not k.startswith("TEKCIFY_") and k not in ("JWT_ACCESS_SECRET", "AUTH_SERVER_URL")
        }
        clean.update(FAST_HASHING)
        clean["TEKCIFY_LOG_LEVEL"] = "WARNING"
        clean.update(env)
        log_dir.mkdir(parents=True, exist_ok=True)
        with self.stdout_path.open("ab") as out, self.stderr_path.open("ab") as err:
            self.process = subprocess.Popen(
                [*_server_command(), "serve", "--host", "127.0.0.1", "--port", "0"],
                cwd=log_dir, env=clean, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                start_new_session=True,
            )
        self.pid = self.process.pid
        try:
            self.url = self._wait_until_up()
        except BaseException:
            self.stop()
            raise

    def _wait_until_up(self) -> str:
        deadline = time.monotonic() + START_TIMEOUT
        url = None
        while url is None:
            found = _LISTENING.search(self.stderr_path.read_text(errors="replace"))
            if found:
                url = found.group(1)
            elif self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server {self.name} did not start:\n{self.output()}")
            else:
                time.sleep(_POLL)
        with httpx.Client(base_url=url, timeout=5) as http:
            while time.monotonic() < deadline and self.process.poll() is None:
                try:
                    if http.get("/health").status_code == 200:
                        return url
                except httpx.TransportError:
                    pass
                time.sleep(_POLL)
        raise RuntimeError(f"server {self.name} at {url} never answered /health:\n{self.output()}")

    @property
    def running(self) -> bool:
        """Whether the process has not exited."""
        return self.process.poll() is None

    def kill(self) -> None:
        """``kill -9`` the server and reap it: no clean-up runs in it."""
        os.kill(self.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        """End the server (gently first); safe to call more than once."""
        _end_group(self.process)

    def tracebacks(self) -> list[str]:
        """The first line after each ``Traceback`` in its stderr (an error nobody handled)."""
        lines = self.stderr_path.read_text(errors="replace").splitlines()
        return [lines[i - 1] for i, line in enumerate(lines) if line.startswith("Traceback")]

    def output(self) -> str:
        """The last lines of its stdout and stderr, for a failure message."""
        return (
            f"--- {self.name} (pid {self.pid}) stderr: {self.stderr_path}\n"
            f"{_tail(self.stderr_path)}\n"
            f"--- {self.name} stdout: {self.stdout_path}\n{_tail(self.stdout_path, 20)}"
        )


class PostgresCluster:
    """A throwaway cluster of ``scripts/postgres.sh`` on its own port, for one test module.

    The script makes it (``initdb``, start, ``createdb``) and deletes it; :meth:`halt` and
    :meth:`resume` stop and start the same cluster with ``pg_ctl``, its data kept.
    """

    def __init__(self, bin_dir: Path, log_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.port = free_port()
        self.name = f"postgres-{self.port}"
        self.dir = Path(os.environ.get("TMPDIR") or "/tmp") / f"tekcify-pg-{self.port}"
        self.data = self.dir / "data"
        self.log_path = log_dir / f"postgres-{self.port}.script.log"
        self._env = {**os.environ, "TEKCIFY_PG_PORT": str(self.port), "PG_BIN": str(bin_dir)}
        log_dir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            started = subprocess.run(
                [str(POSTGRES_SCRIPT), "start"], env=self._env, stdout=subprocess.PIPE,
                stderr=log, stdin=subprocess.DEVNULL, timeout=START_TIMEOUT, check=False,
            )
        if started.returncode != 0:
            self.destroy()
            raise RuntimeError(
                f"scripts/postgres.sh start failed on port {self.port}:\n{self.output()}"
            )
        self.url = started.stdout.decode().strip()
        # Exactly how the script started the server, to start it again the same way.
        opts = shlex.split((self.data / "postmaster.opts").read_text())[1:]
        at = opts.index("-D")
        self._options = shlex.join(opts[:at] + opts[at + 2:])
        self.halted = False

    def _pg_ctl(self, *args: str) -> None:
        command = [str(self.bin_dir / "pg_ctl"), "-D", str(self.data), *args]
        if os.geteuid() == 0:  # the script runs the cluster as the postgres user
            runuser = shutil.which("runuser") or "runuser"
            command = [runuser, "-u", "postgres", "--", *command]
        with self.log_path.open("ab") as log:
            subprocess.run(
                command, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                timeout=START_TIMEOUT, check=True,
            )

    def checkpoint(self) -> None:
        """``CHECKPOINT``: what is committed survives even ``pg_ctl stop -m immediate``
        (the script's cluster runs with ``synchronous_commit=off``)."""
        engine = create_engine(self.url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.execute(text("CHECKPOINT"))
        finally:
            engine.dispose()

    def halt(self, mode: str) -> None:
        """``pg_ctl stop -m <mode>``, waiting until the server is down."""
        self.halted = True
        self._pg_ctl("stop", "-m", mode, "-w", "-t", str(int(START_TIMEOUT)))

    def resume(self) -> None:
        """``pg_ctl start`` with the options it had, waiting until it accepts connections."""
        self._pg_ctl(
            "start", "-w", "-t", str(int(START_TIMEOUT)), "-l", str(self.dir / "server.log"),
            "-o", self._options,
        )
        self.halted = False

    def destroy(self) -> None:
        """Stop the cluster and delete its folder (``scripts/postgres.sh stop``)."""
        with self.log_path.open("ab") as log:
            subprocess.run(
                [str(POSTGRES_SCRIPT), "stop"], env=self._env, stdout=log, stderr=log,
                stdin=subprocess.DEVNULL, timeout=START_TIMEOUT, check=False,
            )

    def output(self) -> str:
        """The script's and the server's last lines, for a failure message."""
        return (
            f"--- postgres.sh on port {self.port}: {self.log_path}\n{_tail(self.log_path)}\n"
            f"--- postgres server log\n{_tail(self.dir / 'server.log')}"
        )
