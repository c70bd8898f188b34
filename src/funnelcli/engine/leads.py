"""The canonical lead table: the definitions' stage, exit and market rules applied to the fields.

Whatever shape the export came in, `sources` gives typed fields per lead; here each stage's rule
(its own date, a condition) says who reached it on their own evidence, the waterfall makes earlier
stages implied by later ones, and each lead gets its exit and market. The result, `LoadedExport`,
is all the engine reads (docs/metrics.md#reaching-a-stage):
  leads                a frame with a row per record of the export: id, _row (the spreadsheet row),
                       every field by its lead-table name, `exit` (the first exit whose rule holds,
                       as the export stands) and `market` (if markets exist)
  reached, date, implied   (records x stages) matrices: reached by the stage's own rule or implied
                       by a later stage; the effective entry date (NaT when none is known); implied
and the accounting of `sources` (rows excluded, with reasons; notices).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from funnelcli.definitions import OUT_OF_MARKET, Definitions
from funnelcli.engine import conditions
from funnelcli.sources.accounting import RowIssue, issue
from funnelcli.sources.fields import Fields


@dataclass
class LoadedExport:
    """The canonical lead table (a frame, and stage matrices aligned with its rows) and accounting."""

    leads: pd.DataFrame  # a row per row of the export
    usable: np.ndarray  # bool: the row is a lead (False: excluded, for a reason in `excluded`)
    reached: np.ndarray  # bool [rows, stages]: reached by its own rule or implied by a later stage
    date: np.ndarray  # datetime64[D] [rows, stages]: effective entry date (NaT: none known)
    implied: np.ndarray  # bool [rows, stages]: reached only because a later stage was ("skipped")
    late: dict  # stage -> (rows, own dates): stages dated by a later stage's earlier date
    exit_met: list  # per exit, bool [rows]: the exit's rule holds
    exit_dates: dict  # exit index -> datetime64[D] [rows]: its date, for exits with a date column
    export: str  # the export's name as given
    rows_read: int
    excluded: list[RowIssue]  # rows that are not leads, each for one reason
    notices: list[RowIssue]  # facts about leads: out-of-order dates, non-numbers
    latest_date: pd.Timestamp | None  # the latest date in the export's date columns

    @property
    def rows_excluded(self) -> int:
        return sum(i.count for i in self.excluded)


def lead_table(fields: Fields, defs: Definitions) -> LoadedExport:
    """Return the canonical lead table of the typed fields under the definitions."""
    frame, dates, usable = fields.frame, fields.dates, fields.usable
    key_of = defs.field_key
    reached, date, implied, out_of_order, late = _stages(frame, defs, dates, key_of)
    notices = list(fields.notices)
    found = issue("with stage dates out of order", out_of_order & usable, fields.rows,
                  detail="an earlier stage dated after a later one takes the later stage's date")
    if found:
        notices.append(found)
    exit_met, exit_dates = _add_exit(frame, defs, dates, key_of)
    if defs.markets:
        _add_market(frame, defs, key_of)
    return LoadedExport(
        leads=frame, usable=usable, reached=reached, date=date, implied=implied, late=late,
        exit_met=exit_met, exit_dates=exit_dates, export=fields.export, rows_read=fields.rows_read,
        excluded=list(fields.excluded), notices=notices, latest_date=fields.latest_date(),
    )


def _reading(defs: Definitions) -> conditions.Reading:
    return conditions.Reading(defs.timezone, defs.date_format)


def _stages(frame: pd.DataFrame, defs: Definitions, dates: dict, key_of):
    """Return the stage matrices (reached, effective date, implied), which leads had dates out of
    order, and for each stage the rows (and own dates) that took a later stage's earlier date.

    The matrices are column-major: the engine works a stage (a column) at a time.
    """
    n = len(frame)
    k = len(defs.stages)
    own = np.empty((n, k), dtype=bool, order="F")
    date = np.empty((n, k), dtype="datetime64[D]", order="F")
    for i, stage in enumerate(defs.stages):
        date[:, i] = dates[stage.date] if stage.date else np.datetime64("NaT")
        if stage.when is not None:
            own[:, i] = conditions.evaluate(stage.when, frame, key_of, _reading(defs))
            # the date says when, only for leads the condition says reached the stage
            date[:, i] = np.where(own[:, i], date[:, i], np.datetime64("NaT"))
        else:
            own[:, i] = ~np.isnat(date[:, i])
    # A lead that reached a later stage passed the earlier ones ("implied" stages). An earlier
    # stage's effective date is never after a later one's: it is the earliest known date of the
    # stage and of every later stage the lead reached.
    reached = np.empty((n, k), dtype=bool, order="F")
    reached[:, k - 1] = own[:, k - 1]
    for i in range(k - 2, -1, -1):
        reached[:, i] = own[:, i] | reached[:, i + 1]
    out_of_order = np.zeros(n, dtype=bool)
    late: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for i in range(k - 2, -1, -1):
        later, mine = date[:, i + 1], date[:, i]
        later_first = later < mine  # False where either is NaT
        if later_first.any():  # kept so that a replay before the own date counts the stage as skipped
            rows = np.flatnonzero(later_first)
            late[i] = (rows, mine[rows].copy())
        out_of_order |= later_first
        date[:, i] = np.where(np.isnat(mine) | later_first, later, mine)
    return reached, date, reached & ~own, out_of_order, late


def _add_exit(frame: pd.DataFrame, defs: Definitions, dates: dict, key_of) -> tuple[list[np.ndarray], dict[int, np.ndarray]]:
    """Add the lead's exit (the first whose rule holds) to the frame; return every exit's rule
    (a mask per exit) and the dates of the exits that have a date column, for replaying an
    earlier as-of date."""
    n = len(frame)
    met: list[np.ndarray] = []
    when: dict[int, np.ndarray] = {}
    codes = np.full(n, -1, dtype=np.int32)
    for j, ex in enumerate(defs.exits):
        holds = np.ones(n, dtype=bool) if ex.when is None else conditions.evaluate(ex.when, frame, key_of, _reading(defs))
        if ex.date:
            when[j] = dates[ex.date]
            if ex.when is None:
                holds &= ~np.isnat(when[j])
        met.append(holds)
        codes[holds & (codes == -1)] = j
    frame["exit"] = pd.Categorical.from_codes(codes, categories=pd.Index([e.name for e in defs.exits], dtype="str"))
    return met, when


def _add_market(frame: pd.DataFrame, defs: Definitions, key_of) -> None:
    n = len(frame)
    codes = np.full(n, len(defs.markets), dtype=np.int32)
    for j in range(len(defs.markets) - 1, -1, -1):  # the first market that matches wins
        codes[conditions.evaluate(defs.markets[j].when, frame, key_of, _reading(defs))] = j
    frame["market"] = pd.Categorical.from_codes(codes, categories=pd.Index([m.name for m in defs.markets] + [OUT_OF_MARKET], dtype="str"))
