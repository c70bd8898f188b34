"""Definition problems as text lines (`path:line:col: level: message (rule)`), GitHub annotations or JSON.

A GitHub annotation is a workflow command, `::error file=F,line=L,col=C,title=T::message`: the
rule goes in its title (the bold line the pull request shows), and GitHub's escaping applies:
`%`, CR and LF in the message; those and `:` and `,` in a property. Other control characters
are written out first (ESC as \\x1b), as the text lines write them: a value never resets or
retitles the terminal a CI log is shown in.
"""

from __future__ import annotations

import json
import re

from funnelcli.errors import Problem, visible

PROBLEM_FORMATS = ("text", "github", "json")


def _shown(value: str) -> str:
    """Return value with its control characters written out, line breaks aside (GitHub's %0A)."""
    return re.sub(r"[^\r\n]+", lambda part: visible(part.group()), value)


def _property(value: str) -> str:
    return _shown(str(value)).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A").replace(":", "%3A").replace(",", "%2C")


def _message(value: str) -> str:
    return _shown(value).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


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
