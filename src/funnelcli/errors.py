"""funnelcli's own exceptions and the Problem record that validation reports.

The library raises these; only cli.py turns them into messages and exit codes.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Problem:
    """One finding about a definitions file (or a definitions file against an export)."""

    path: str
    line: int
    col: int
    level: str  # "error" or "warning"
    rule: str
    message: str

    def format(self) -> str:
        """Return the problem as `path:line:col: level: message (rule)`."""
        return f"{self.path}:{self.line}:{self.col}: {self.level}: {self.message} ({self.rule})"


class FunnelError(Exception):
    """Something stopped funnelcli from running: bad input, bad definitions, bad options.

    The CLI prints the message and exits with `exit_code` (2: could not run).
    """

    exit_code = 2


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
