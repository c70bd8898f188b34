"""Definition problems as text lines (`path:line:col: level: message (rule)`), GitHub annotations or JSON.

A GitHub annotation is a workflow command, `::error file=F,line=L,col=C,title=T::message`: the
rule goes in its title (the bold line the pull request shows), and GitHub's escaping applies:
`%`, CR and LF in the message; those and `:` and `,` in a property.
"""

from __future__ import annotations

import json

from funnelcli.errors import Problem

PROBLEM_FORMATS = ("text", "github", "json")


def _property(value: str) -> str:
    return str(value).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A").replace(":", "%3A").replace(",", "%2C")


def _message(value: str) -> str:
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def format_problems(problems: list[Problem], fmt: str, cli: bool = True) -> str:
    """Return problems in one of PROBLEM_FORMATS (settings named as command-line options when `cli`)."""
    if fmt == "json":
        return json.dumps([{**p.__dict__, "message": p.text(cli)} for p in problems], indent=2) + "\n"
    if fmt == "github":
        return "".join(
            f"::{p.level} file={_property(p.path)},line={p.line},col={p.col},title={_property('funnelcli ' + p.rule)}::{_message(p.text(cli))}\n"
            for p in problems
        )
    return "".join(p.format(cli) + "\n" for p in problems)
