"""The README's sessions are real: each `$ funnelcli ...` block holds what the command prints.

Regenerate on purpose (FUNNELCLI_REGENERATE_GOLDEN=1) after a change to the output, and read the
diff. A block shows stderr (the notices a terminal shows first) and then stdout.
"""

from __future__ import annotations

import os
import re
import shlex

import pytest
from tests.conftest import ROOT, run

from funnelcli.cli import cli

README = ROOT / "README.md"
BLOCK = re.compile(r"```console\n\$ funnelcli (?P<command>[^\n]*)\n(?P<output>.*?)```", re.DOTALL)


def sessions() -> list[str]:
    return [m.group("command") for m in BLOCK.finditer(README.read_text(encoding="utf-8"))]


def test_quick_start_has_two_commands():
    text = README.read_text(encoding="utf-8")
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = section.split("```", 2)[1]
    commands = [line for line in block.strip().splitlines() if line.strip()]
    assert len(commands) == 2
    assert "funnelcli conversion samples/hubspot-contacts.csv" in commands[0]
    assert commands[1].endswith("pytest")
    ci = (ROOT / ".ci" / "run").read_text()
    assert commands[1] in ci  # CI runs the README's test command


def test_every_command_is_documented():
    text = README.read_text(encoding="utf-8")
    for name in cli.commands:
        assert f"funnelcli {name}" in text


@pytest.mark.parametrize("command", sessions())
def test_session(command, monkeypatch):
    monkeypatch.chdir(ROOT)
    result = run(*shlex.split(command))
    shown = result.stderr + result.stdout
    text = README.read_text(encoding="utf-8")
    pattern = re.compile(r"(```console\n\$ funnelcli " + re.escape(command) + r"\n)(.*?)(```)", re.DOTALL)
    match = pattern.search(text)
    if os.environ.get("FUNNELCLI_REGENERATE_GOLDEN"):
        README.write_text(text[: match.start(2)] + shown + text[match.end(2):], encoding="utf-8")
        return
    assert match.group(2) == shown
