"""Start an example under waitress on 127.0.0.1 in a subprocess, for the example tests."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SECRET = "example-test-secret"


@contextmanager
def serve(app: str) -> Iterator[str]:
    """Serve ``app`` (``module:object``) on a free port; yield its base URL, then stop it."""
    env = {**os.environ, "JWT_ACCESS_SECRET": SECRET, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        # Port 0: the OS picks a free port and waitress logs which one it got.
        [sys.executable, "-m", "waitress", "--host", "127.0.0.1", "--port", "0", app],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        seen = []
        for line in process.stderr:
            seen.append(line)
            match = re.search(r"Serving on (http://127\.0\.0\.1:\d+)", line)
            if match:
                break
        else:
            raise RuntimeError(f"{app} did not start:\n{''.join(seen)}")
        yield match.group(1)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()
