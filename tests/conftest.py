"""Shared test helpers: paths to the fixtures and sample, and a CLI runner at a fixed width."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SAMPLE = ROOT / "samples" / "hubspot-contacts.csv"
SAMPLE_MANIFEST = ROOT / "samples" / "hubspot-contacts.manifest.json"
DEFINITIONS = ROOT / "definitions"
FLAG_SAMPLE = ROOT / "samples" / "flag-leads.csv"  # a flag funnel with no dates, and its definitions
FLAG_DEFINITIONS = DEFINITIONS / "flag"


def run(*args: str, input: str | bytes | None = None, env: dict | None = None):
    """Invoke funnelcli in-process at a fixed width, without colour; return Click's Result.

    result.stdout and result.stderr are separate (Click 8.2+).
    """
    from funnelcli.cli import cli

    environment = {"COLUMNS": "100", "NO_COLOR": "1", "FUNNELCLI_DEFINITIONS": "", "FUNNELCLI_CACHE": ""}
    environment.update(env or {})
    return CliRunner().invoke(cli, [str(a) for a in args], input=input, env=environment, catch_exceptions=False)


@pytest.fixture
def cli_run():
    return run


@pytest.fixture
def write(tmp_path):
    """Write a file under tmp_path (text or bytes) and return its path."""

    def _write(name: str, content: str | bytes) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path

    return _write


def pos(text: str, needle: str, occurrence: int = 1) -> tuple[int, int]:
    """Return the 1-based (line, col) where the n-th `needle` starts in `text`.

    A '^' in the needle marks the spot instead: pos(text, "sla_days: ^0") is where the 0 is.
    """
    before, caret, _ = needle.partition("^")
    index = -1
    for _ in range(occurrence):
        index = text.index(needle.replace("^", ""), index + 1)
    if caret:
        index += len(before)
    return text.count("\n", 0, index) + 1, index - text.rfind("\n", 0, index)
