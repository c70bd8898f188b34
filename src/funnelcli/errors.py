"""funnelcli's own exceptions, the Problem record that validation reports, and the exit codes.

The library raises these; only cli.py turns them into messages and exit codes. A message that
names a setting the caller gave writes it with `option("as_of")`: it reads `as_of=` from Python
and `--as-of` on the command line (`FunnelError.message(cli=True)`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import IntEnum


class ExitCode(IntEnum):
    """What a run's exit status means, for shells, cron and CI."""

    OK = 0  # ran clean
    PROBLEMS = 1  # ran and found problems: validation errors, missed targets (with --fail-on-miss)
    CANNOT_RUN = 2  # usage, unreadable input, invalid definitions, a failed delivery, internal error
    INTERRUPTED = 130  # Ctrl-C, as shells expect (128 + SIGINT)


_OPTION = re.compile("\ue000([a-z_]+)\ue001(?=(.?)(.?))", re.S)


def option(name: str) -> str:
    """Return a marker for the setting `name` (a keyword of the Python API, e.g. "as_of"), shown as
    `as_of=` by str(error) and as `--as-of` by error.message(cli=True). Write a value right after
    it: f"{option('encoding')}'utf-16'" reads `encoding='utf-16'` or `--encoding 'utf-16'`."""
    return f"\ue000{name}\ue001"


# C0 controls (escape sequences, newlines, tabs, carriage returns), DEL and C1 controls, line and
# paragraph separators, and the bidirectional overrides and isolates that reorder what is shown
# controls, line and paragraph separators, bidirectional controls and marks, and the characters
# that show nothing at all (zero-width space, word joiner, invisible operators, BOM): a value
# that looks like another is told apart (zero-width joiners of emoji and scripts stay), and the
# tag characters and interlinear annotations, which carry text no one sees ("ASCII smuggling")
_INVISIBLE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u180e\u200b\u200e\u200f\u2028\u2029\u202a-\u202e\u2060-\u2064\u2066-\u2069"
                        "\ufeff\ufff9-\ufffb\U000e0000-\U000e007f]")


_FLAG = re.compile("\U0001f3f4[\U000e0020-\U000e007e]+\U000e007f")


def visible(text: str) -> str:
    """Return text with its control and invisible characters written out (ESC as \\x1b, a newline as
    \\x0a, a tag character as \\U000e0041): a value never moves the cursor, colours the terminal,
    starts a line of its own or carries text no one sees."""
    if not _INVISIBLE.search(text):
        return text
    def written(match: re.Match) -> str:
        code = ord(match.group())
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"

    # a subdivision flag (Scotland: a black flag, its tags, a cancel tag) is an emoji, not hidden text
    parts, last = [], 0
    for flag in _FLAG.finditer(text):
        parts += [_INVISIBLE.sub(written, text[last:flag.start()]), flag.group()]
        last = flag.end()
    return "".join(parts) + _INVISIBLE.sub(written, text[last:])


def words(text: str, cli: bool = False, flags: dict[str, str] | None = None) -> str:
    """Return text with its setting markers (see `option`) as Python keywords or, with `cli`, options."""
    def word(m: re.Match) -> str:
        # no value follows: the end of a clause (a full stop, not a value such as './out')
        alone = m.group(2) in ("", " ", ";", ",", ")", ":", "\n") or (m.group(2) == "." and m.group(3) in ("", " ", "\n"))
        if not cli:
            return m.group(1) if alone else m.group(1) + "="
        flag = (flags or {}).get(m.group(1)) or "--" + m.group(1).replace("_", "-")
        return flag if alone else flag + " "

    return _OPTION.sub(word, text)


@dataclass(frozen=True, order=True)
class Problem:
    """One finding about a definitions file (or a definitions file against an export)."""

    path: str
    line: int
    col: int
    level: str  # "error" or "warning"
    rule: str
    message: str

    def text(self, cli: bool = False) -> str:
        """Return the message, naming settings as options when `cli` is true (see `option`)."""
        return words(self.message, cli)

    def format(self, cli: bool = False) -> str:
        """Return the problem as `path:line:col: level: message (rule)`."""
        # one line: a file's name is data, and a line break in it must not start a line of its own
        # (a CI log reads '::error ...' at a line's start as a command)
        return visible(f"{self.path}:{self.line}:{self.col}: {self.level}: {self.text(cli)} ({self.rule})")


class FunnelError(Exception):
    """Something stopped funnelcli from running: bad input, bad definitions, bad options.

    The CLI prints the message and exits with `exit_code` (2: could not run).
    """

    exit_code = ExitCode.CANNOT_RUN

    def message(self, cli: bool = False, flags: dict[str, str] | None = None) -> str:
        """Return the message, naming settings as command-line options when `cli` is true (`flags`
        maps a setting to its option where the two differ: {"markets": "--market"})."""
        return words(super().__str__(), cli, flags)

    def __str__(self) -> str:
        return self.message(cli=False)


class DefinitionError(FunnelError):
    """The definitions have problems; `problems` holds every one found."""

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(problems)
        errors = [p for p in self.problems if p.level == "error"]
        shown = "\n".join(p.format() for p in errors)
        super().__init__(
            f"the definitions have {len(errors)} problem{'s' if len(errors) != 1 else ''}"
            f" (run `funnelcli validate` to check them):\n{shown}"
        )


class InputError(FunnelError):
    """An export could not be read, or lacks what the definitions need."""


class DeliveryError(FunnelError):
    """A report was made but could not be delivered (mail refused, say)."""
