"""What the benchmarks share: the machine line, medians, the Markdown table, free ports,
CPU pinning and stopping server processes.

Figures are ratios against a peer measured in the same run, because the machine is
shared and noisy; absolute numbers are printed for context only.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
from collections.abc import Callable, Sequence
from importlib import metadata


def cpu_model() -> str:
    """The CPU model named in /proc/cpuinfo, or the platform's guess elsewhere."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def version_of(distribution: str) -> str:
    """The installed version of ``distribution``, or ``-`` when it is absent."""
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "-"


def machine_line(*distributions: str) -> str:
    """One line naming the machine, the Python and the packages a table depends on."""
    cores = os.cpu_count() or 0
    packages = ", ".join(f"{d} {version_of(d)}" for d in distributions)
    line = (
        f"Machine: {cores} cores ({cpu_model()}), {platform.python_implementation()} "
        f"{platform.python_version()} on {platform.system()}"
    )
    return f"{line}; {packages}" if packages else line


def median(values: Sequence[float]) -> float:
    """The median of ``values`` (NaN when there are none)."""
    return statistics.median(values) if values else float("nan")


def markdown_table(
    header: Sequence[str], rows: Sequence[Sequence[str]], *, left: int = 1
) -> str:
    """A GitHub Markdown table: the first ``left`` columns (text) left-aligned, the rest
    (figures) right-aligned."""
    align = [":---"] * left + ["---:"] * (len(header) - left)
    lines = [header, align, *rows]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)


def verdict(ok: bool) -> str:
    """The word printed beside a target."""
    return "PASS" if ok else "FAIL"


def installed(module: str) -> bool:
    """Whether ``module`` can be imported here."""
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:  # the parent package is missing
        return False


UVICORN_LOOP = "uvloop" if installed("uvloop") else "asyncio"
UVICORN_HTTP = "httptools" if installed("httptools") else "h11"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _cpus() -> tuple[set[int] | None, set[int] | None]:
    """The CPUs for the servers and for the load generator, or ``None`` for no pinning.

    Every server of a comparison runs on the same CPU, so that they meet the same
    neighbours: left to the scheduler, two servers settle on different cores, one of
    them shared with the generator or another job, and the comparison is biased by
    several percent however the slices alternate. The generator gets the other CPUs.
    """
    try:
        allowed = sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return None, None
    if len(allowed) < 2:
        return None, None
    return {allowed[-1]}, set(allowed[:-1])


SERVER_CPUS, LOAD_CPUS = _cpus()


def die_with_parent() -> None:
    """In a child process: get SIGTERM when the benchmark dies, whatever ends it."""
    if sys.platform == "linux":
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def in_server() -> None:
    """In a server's process: take the servers' CPU, and stop with the benchmark."""
    if SERVER_CPUS is not None:
        os.sched_setaffinity(0, SERVER_CPUS)
    die_with_parent()


def in_generator() -> None:
    """In the load generator's process: take the other CPUs."""
    if LOAD_CPUS is not None:
        os.sched_setaffinity(0, LOAD_CPUS)


def stop_group(proc: subprocess.Popen[bytes], grace: float) -> None:
    """Stop ``proc``'s process group: SIGTERM, then SIGKILL after ``grace`` seconds."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def close_generator(proc: subprocess.Popen[str], grace: float) -> None:
    """Stop a load generator that serves jobs on its stdin: close the pipe (it exits when
    idle), then kill it after ``grace`` seconds (an interrupted job)."""
    if proc.stdin is not None:
        with contextlib.suppress(OSError):
            proc.stdin.close()
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def run_main(main: Callable[[], int]) -> None:
    """Exit with ``main()``'s status; Ctrl-C exits 130 (the servers stop on the way out)."""
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
