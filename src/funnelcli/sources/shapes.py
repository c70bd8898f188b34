"""Export shapes within one row per lead: a status column naming where each lead is now, and flags.

Both give *evidence*: which leads reached a stage (or left through an exit) by their own record,
apart from the date columns and conditions the engine applies. The engine combines evidence and
rules into the lead table without knowing which shape it came from (docs/metrics.md#export-shapes).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from funnelcli.definitions import FALSE_WORDS, TRUE_WORDS, Definitions, walk_leaves
from funnelcli.sources.accounting import RowIssue, issue


@dataclass
class Evidence:
    """What the export's shape says per lead about stages and exits, besides dates and conditions."""

    stage_reached: dict[int, np.ndarray] = field(default_factory=dict)  # stage -> bool: reached, by own record
    stage_dates: dict[int, np.ndarray] = field(default_factory=dict)  # stage -> datetime64[D]: own entry date
    exit_met: dict[int, np.ndarray] = field(default_factory=dict)  # exit -> bool: the lead left through it
    exit_dates: dict[int, np.ndarray] = field(default_factory=dict)  # exit -> datetime64[D]: when
    exit_until: dict[int, np.ndarray] = field(default_factory=dict)  # exit -> datetime64[D]: reopened then (NaT: still out)
    # exit -> (leads, from, until): a log's earlier times out through the exit, before the last one
    exit_spans: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=dict)
    how: dict[int, str] = field(default_factory=dict)  # stage -> "status", "flag", "log": for explanations
    latest: np.datetime64 | None = None  # the latest date the shape read (a log's last change)
    # the leads a first stage with no rule takes in (None: every lead): a log's leads with a row
    # that counts (a change, or another change such as the owner's); not those whose rows are all excluded
    entering: np.ndarray | None = None
    entering_dates: np.ndarray | None = None  # datetime64[D]: when each of them entered (a log's first row that counts)
    moves: object | None = None  # a log's re-entries and moves back (history.Moves), for explain and replays

    def add_stage(self, i: int, reached: np.ndarray, how: str) -> None:
        self.stage_reached[i] = reached if i not in self.stage_reached else self.stage_reached[i] | reached
        self.how.setdefault(i, how)

    def add_exit(self, j: int, met: np.ndarray) -> None:
        self.exit_met[j] = met if j not in self.exit_met else self.exit_met[j] | met


def read_flags(column: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """Return (true per cell, which cells are neither true nor false): 1, true, yes, y, x, checked
    are true; 0, false, no, n and blank are false (any case, trimmed)."""
    text = pc.utf8_lower(pc.utf8_trim_whitespace(column.combine_chunks()))
    true = pc.fill_null(pc.is_in(text, value_set=pa.array(TRUE_WORDS)), False).to_numpy(zero_copy_only=False)
    false = pc.or_kleene(pc.is_null(text), pc.is_in(text, value_set=pa.array(FALSE_WORDS + ("",))))
    false = pc.fill_null(false, True).to_numpy(zero_copy_only=False)  # blank is false
    return true, ~(true | false)


def flag_evidence(evidence: Evidence, defs: Definitions, flags: dict[str, np.ndarray]) -> None:
    """Add the stages that a flag column says were reached."""
    for i, stage in enumerate(defs.stages):
        if stage.flag:
            evidence.add_stage(i, flags[stage.flag], "flag")


def listed_values(defs: Definitions, key: str) -> set[str]:
    """Return the values (casefolded) that conditions over the status column list: those are known
    values too (an exit `when: {status: {in: [Closed Lost]}}` names one)."""
    conds = [s.when for s in defs.stages] + [e.when for e in defs.exits] + [m.when for m in defs.markets]
    out = set()
    for leaf in (leaf for cond in conds for leaf in walk_leaves(cond)):
        if defs.field_key(leaf.field) == key and leaf.op in ("eq", "in", "ne", "not_in"):
            values = leaf.value if isinstance(leaf.value, tuple) else (leaf.value,)
            out |= {str(v).strip().casefold() for v in values}
    return out


def value_codes(categories: pd.Index, defs: Definitions) -> tuple[np.ndarray, np.ndarray]:
    """Return, per category of a status (or log) column, the stage it names and the exit it names
    (-1 for none), matching `values:` (default: the name) trimmed and case-insensitively."""
    named = defs.stage_values()
    stage_of = np.full(len(categories), -1, dtype=np.int64)
    exit_of = np.full(len(categories), -1, dtype=np.int64)
    for c, value in enumerate(categories):
        kind, index = named.get(str(value).strip().casefold(), (None, -1))
        if kind == "stage":
            stage_of[c] = index
        elif kind == "exit":
            exit_of[c] = index
    return stage_of, exit_of


def status_evidence(evidence: Evidence, defs: Definitions, frame: pd.DataFrame, usable: np.ndarray,
                    rows: np.ndarray) -> RowIssue | None:
    """Add the stage (or exit) each lead's status names; return the leads whose status names no
    stage and no exit, with the values and their counts, as a notice."""
    key = defs.field_key(defs.stage_column)
    column = frame[key]
    categories = column.cat.categories
    codes = column.cat.codes.to_numpy()
    stage_of, exit_of = value_codes(categories, defs)
    stage = np.append(stage_of, -1)[codes]  # code -1 (blank) names nothing
    exit_ = np.append(exit_of, -1)[codes]
    for i in range(len(defs.stages)):
        evidence.add_stage(i, stage == i, "status")
    for j in range(len(defs.exits)):
        evidence.add_exit(j, exit_ == j)
    listed = listed_values(defs, key)
    unknown_category = np.array([stage_of[c] < 0 and exit_of[c] < 0 and str(v).strip().casefold() not in listed
                                 for c, v in enumerate(categories)] + [False], dtype=bool)
    unknown = unknown_category[codes] & usable
    if not unknown.any():
        return None
    counts = np.bincount(codes[unknown], minlength=len(categories))
    top = np.argsort(-counts, kind="stable")[: (counts > 0).sum()]
    shown = [f"{categories[c]!r} ({counts[c]:,})" for c in top[:5]]
    more = f" and {len(top) - 5} more" if len(top) > 5 else ""
    found = issue(f"whose {defs.header(defs.stage_column)!r} names no stage and no exit", unknown, rows,
                  detail=f"the values: {', '.join(shown)}{more}; add them to a stage's or an exit's values: to count them")
    return found
