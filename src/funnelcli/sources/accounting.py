"""Accounting for rows: the reasons rows are excluded or noticed, with counts and row numbers.

Every row of an export is accounted for (docs/metrics.md#accounting): a row is a lead, or it is
excluded for a reason that the report states with a count and the first few row numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

SHOW_ROWS = 5  # how many row numbers a notice lists


@dataclass
class RowIssue:
    """Rows that share one data-quality issue: how many, and the first few row numbers."""

    reason: str  # short, for the accounting line: "with a blank id"
    count: int
    rows: list[int]
    examples: list[str] = field(default_factory=list)
    detail: str = ""  # what funnelcli did about it, for the notice on stderr
    unit: str = "row"  # what is counted: a log's leads are ("2 leads whose every row ... (rows 2, 3)")

    def describe(self) -> str:
        rows = ", ".join(str(r) for r in self.rows)
        more = ", ..." if self.count > len(self.rows) else ""
        examples = f" such as {', '.join(str(e) for e in self.examples)}" if self.examples else ""
        detail = f"; {self.detail}" if self.detail else ""
        plural = "s" if self.count != 1 else ""
        where = f" (row{plural} {rows}{more})" if self.rows else ""  # no rows to name: a column of the header, say
        return f"{self.count:,} {self.unit}{plural} {self.reason}{examples}{where}{detail}"


def issue(reason: str, mask: np.ndarray, rows: np.ndarray, detail: str = "", examples: list[str] | None = None,
          unit: str = "row") -> RowIssue | None:
    """Return the rows where mask is set as one issue (None if there are none)."""
    where = np.flatnonzero(mask)
    if len(where) == 0:
        return None
    chosen = rows[where]
    if len(chosen) > 1 and (np.diff(chosen) < 0).any():  # a log's rows come in lead order: name the first in the file
        chosen = np.sort(np.partition(chosen, min(SHOW_ROWS, len(chosen)) - 1)[:SHOW_ROWS])
    return RowIssue(reason, int(len(where)), [int(r) for r in chosen[:SHOW_ROWS]], list(examples or []), detail, unit)
