"""What both benchmarks share: the machine line, medians and the Markdown table.

Figures are ratios against a peer measured in the same run, because the machine is
shared and noisy; absolute numbers are printed for context only.
"""

from __future__ import annotations

import os
import platform
import statistics
from collections.abc import Sequence
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
