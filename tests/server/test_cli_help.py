"""``tekcify-auth ... --help`` shows the default of every option of every command."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Iterator

from tekcify_auth.cli import _build_parser


def _parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    """``parser`` and every subcommand's parser under it."""
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                yield from _parsers(sub)


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_every_option_of_every_command_shows_its_default_or_that_it_is_required() -> None:
    parsers = list(_parsers(_build_parser()))
    assert len(parsers) >= 10  # the walk found the nested commands
    checked = 0
    for parser in parsers:
        shown = _flat(parser.format_help())
        for action in parser._actions:
            if not action.option_strings or isinstance(action, argparse._HelpAction):
                continue
            assert action.help, f"{parser.prog} {action.option_strings[0]} has no help text"
            help_text = _flat(action.help)
            says_itself = "(default: " in help_text and help_text in shown
            assert (says_itself or f"{help_text} (default: " in shown
                    or f"{help_text} (required)" in shown), (
                f"{parser.prog} --help does not show the default of "
                f"{action.option_strings[0]}:\n{parser.format_help()}"
            )
            checked += 1
    assert checked >= 6


def test_serve_help_in_a_real_process_names_host_port_and_workers_defaults() -> None:
    shown = subprocess.run(
        [sys.executable, "-m", "tekcify_auth.cli", "serve", "--help"],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout
    flat = _flat(shown)
    assert "address to listen on (default: 127.0.0.1)" in flat
    assert "port to listen on (default: 7001)" in flat
    # One worker per CPU this process may use (the test runs under the same affinity).
    workers = len(os.sched_getaffinity(0))
    assert f"worker processes, one per CPU this process may use (default: {workers})" in flat
