"""axe-core in headless Chromium: the accessibility check of every page, and screenshots.

axe-core (Deque's engine, the one browser devtools use) comes from the npm registry,
installed once per machine beside the Node suite's packages (``tests/node/support.py``),
and is evaluated in the page through the DevTools protocol, so the pages' CSP (no inline
script) stays on while it runs. :func:`violations` keeps what axe rates serious or
critical; :func:`screenshot` saves the page under ``docs/screenshots/`` (README shows the
main ones).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from node.support import npm_install

if TYPE_CHECKING:
    from playwright.sync_api import Page

AXE_VERSION = "4.14.1"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
#: The widths every page is checked and photographed at: a small phone, a desktop.
WIDTHS = {"phone": (375, 812), "desktop": (1280, 900)}
SERIOUS = {"serious", "critical"}


def _folder() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
    return Path(base) / "tekcify-auth-node" / f"axe-core-{AXE_VERSION}"


def _installed(folder: Path) -> bool:
    with contextlib.suppress(OSError, ValueError):
        meta = json.loads((folder / "node_modules/axe-core/package.json").read_text("utf-8"))
        return bool(meta.get("version") == AXE_VERSION)
    return False


def axe_source(config: pytest.Config) -> str:
    """axe.min.js, installed now (npm's progress on the terminal) when new."""
    folder = _folder()
    if not _installed(folder):
        capture = config.pluginmanager.getplugin("capturemanager")
        with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
            npm_install(folder, {"axe-core": AXE_VERSION}, lambda: _installed(folder), sys.stderr)
    return (folder / "node_modules/axe-core/axe.min.js").read_text("utf-8")


def violations(page: Page, source: str) -> list[dict[str, Any]]:
    """axe's serious and critical violations of the page as it is now (WCAG 2.x A/AA and
    best practices), each with the nodes that fail."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(source + "\n;true")
    found: list[dict[str, Any]] = page.evaluate(
        """async () => {
            const result = await axe.run(document, {
                runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa',
                                                'wcag22aa', 'best-practice']},
                resultTypes: ['violations'],
            });
            return result.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.map(n => n.target.join(' ') + ': ' + n.failureSummary),
            }));
        }"""
    )
    return [v for v in found if v["impact"] in SERIOUS]


def describe(found: list[dict[str, Any]]) -> str:
    return "\n".join(
        f"- {v['impact']} {v['id']}: {v['help']}\n    " + "\n    ".join(v["nodes"][:5])
        for v in found
    )


def screenshot(page: Page, name: str, width: str) -> Path:
    """The whole page saved as ``docs/screenshots/<name>-<width>.png``."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}-{width}.png"
    page.screenshot(path=str(path), full_page=True, animations="disabled")
    return path
