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
from dataclasses import field as dataclass_field

import numpy as np
import pandas as pd

from funnelcli.definitions import OUT_OF_MARKET, Definitions, walk_leaves
from funnelcli.sources import conditions
from funnelcli.sources.accounting import RowIssue, issue
from funnelcli.sources.fields import DayColumns, Fields, code_type
from funnelcli.sources.shapes import Evidence


class StageDays:
    """A (leads x stages) matrix of dates kept as int32 days since 1970 (NONE: no date), column-
    major: half of datetime64[D]. Indexed, it reads as a datetime64[D] matrix would (NaT for no
    date): d[:, i], d[rows, i], d[p, i]; `days` is the int32 matrix, for the engine's own passes."""

    NONE = DayColumns.NONE

    def __init__(self, days: np.ndarray) -> None:
        self.days = days

    @classmethod
    def empty(cls, n: int, k: int) -> "StageDays":
        return cls(np.full((n, k), cls.NONE, dtype=np.int32, order="F"))

    @property
    def shape(self) -> tuple[int, int]:
        return self.days.shape

    def __len__(self) -> int:
        return len(self.days)

    def __getitem__(self, key):
        days = self.days[key]
        if np.ndim(days) == 0:
            return np.datetime64("NaT", "D") if days == self.NONE else np.datetime64(int(days), "D")
        return DayColumns.wide(days)

    def __array__(self, dtype=None, copy=None):  # the whole matrix, datetime64[D]: 8 bytes a lead a stage
        return np.asarray(DayColumns.wide(self.days), dtype=dtype)

    def missing(self) -> np.ndarray:
        """Return bool (leads x stages): no date."""
        return self.days == self.NONE


@dataclass
class LoadedExport:
    """The canonical lead table (a frame, and stage matrices aligned with its rows) and accounting."""

    leads: pd.DataFrame  # a row per row of the export
    usable: np.ndarray  # bool: the row is a lead (False: excluded, for a reason in `excluded`)
    reached: np.ndarray  # bool [rows, stages]: reached by its own rule or implied by a later stage
    date: StageDays  # [rows, stages]: effective entry date (none known: NaT as it reads)
    implied: np.ndarray  # bool [rows, stages]: reached only because a later stage was ("skipped")
    late: dict  # stage -> (rows, own dates): stages dated by a later stage's earlier date
    exit_met: list  # per exit, bool [rows]: the exit's rule holds
    exit_dates: dict  # exit index -> datetime64[D] [rows]: its date, for exits with a date column
    export: str  # the export's name as given
    rows_read: int
    excluded: list[RowIssue]  # rows that are not leads, each for one reason
    notices: list[RowIssue]  # facts about leads: out-of-order dates, non-numbers
    latest_date: pd.Timestamp | None  # the latest date in the export's date columns
    dated: np.ndarray | None = None  # bool [rows, stages]: reached with an own date (velocity uses only these)
    exit_until: dict = dataclass_field(default_factory=dict)  # exit index -> the day the lead came back (a log's reopening)
    exit_spans: dict = dataclass_field(default_factory=dict)  # exit index -> (rows, from, until): a log's earlier times out
    market_gaps: list = dataclass_field(default_factory=list)  # RowIssues: fields a market tests, blank for most leads
    files: list = dataclass_field(default_factory=list)  # FileAccount of a log's or joined files' rows
    unit: str = "rows"  # what rows_read counts: rows of the export, or leads (of a log)
    latest_where: str | None = None  # where the latest date is: "'Last Activity Date', row 17"
    joined: list = dataclass_field(default_factory=list)  # per join, which row of its file each row took (for explain)
    moves: object | None = None  # a log's re-entries and moves back (sources.history.Moves), for explain and replays

    @property
    def rows_excluded(self) -> int:
        return sum(i.count for i in self.excluded)


def lead_table(fields: Fields, defs: Definitions) -> LoadedExport:
    """Return the canonical lead table of the typed fields under the definitions. The fields are
    taken over: their frame becomes the lead table's, and their date columns are let go."""
    frame, dates, usable = fields.frame, fields.dates, fields.usable
    key_of = defs.field_key
    # Each date column is let go once read (the fields are taken over): a column is 8 bytes a lead,
    # and the stage matrix that takes the stages' dates would otherwise sit beside them all.
    event_columns = {s.date for s in defs.stages if s.date} | {e.date for e in defs.exits if e.date}
    other_latest = []  # created, last activity, stage since: they count only toward the latest date
    for h in [h for h in dates if h not in event_columns]:
        other_latest += _latest(dates.days(h, pop=True), usable, repr(h), fields.rows)
    ahead: list = []  # (stage, leads its date reaches while their status names an earlier stage or an exit, which)
    own, own_date = _own_evidence(frame, defs, dates, fields.evidence, key_of, ahead)
    own_latest = _latest_of(own_date, usable, defs, fields.rows)  # before the waterfall turns own dates into effective ones, in place
    reached, date, dated, out_of_order, late = _waterfall(own, own_date)
    # reached only by a later stage: reached and not own (own is within reached), in own's place
    implied = np.logical_xor(reached, own, out=own)
    del own
    notices = list(fields.notices) + [_dated_ahead_of_status(defs, i, mask & usable, fields.rows, named) for i, mask, named in ahead]
    # In a log whose changes date every stage, a stage first entered after a later one was entered
    # is a move back, which the log's own notice counts at the row that moved (history.py)
    log_only = defs.history is not None and not any(s.date for s in defs.stages)
    found = None if log_only else issue("with stage dates out of order", out_of_order & usable, fields.rows,
                                        detail="an earlier stage dated after a later one takes the later stage's date")
    if found:
        notices.append(found)
    exit_met, exit_dates = _add_exit(frame, defs, dates, fields.evidence, key_of)
    gaps: list[RowIssue] = []
    if defs.markets:
        _add_market(frame, defs, key_of)
        gaps = _blank_market_fields(frame, defs, key_of, usable, fields.rows)
    notices += _unreadable_numbers(frame, defs, key_of, usable, fields.rows)
    latest, where = _latest_date(fields, defs, own_latest + other_latest, exit_met, exit_dates)
    return LoadedExport(
        leads=frame, usable=usable, reached=reached, date=date, implied=implied, late=late,
        exit_met=exit_met, exit_dates=exit_dates, export=fields.export, rows_read=fields.rows_read,
        excluded=list(fields.excluded), notices=notices, latest_date=latest, latest_where=where,
        dated=dated, files=list(fields.files), unit=fields.unit, joined=list(fields.joined), moves=fields.evidence.moves,
        exit_until=dict(fields.evidence.exit_until), exit_spans=dict(fields.evidence.exit_spans), market_gaps=gaps,
    )


def _latest(days: np.ndarray, where: np.ndarray, what: str, rows: np.ndarray) -> list:
    """Return [(the latest known day of `days` (datetime64[D], or int32 days) where `where` holds,
    as datetime64[D]; where it is: `what` and the row)], or [] when there is none."""
    known = where & ((days != DayColumns.NONE) if days.dtype == np.int32 else ~np.isnat(days))
    at = np.flatnonzero(known)
    if not len(at):
        return []
    p = at[np.argmax(days[at])]
    day = np.datetime64(int(days[p]), "D") if days.dtype == np.int32 else days[p]
    return [(day, f"{what}, row {int(rows[p])}")]


def _latest_of(days: StageDays, where: np.ndarray, defs: Definitions, rows: np.ndarray) -> list:
    """Return the latest known day of each stage of `days` where `where` holds, and where it is."""
    return [d for i, stage in enumerate(defs.stages)
            for d in _latest(days.days[:, i], where, repr(stage.date) if stage.date else f"{stage.name}'s date", rows)]


def _latest_date(fields: Fields, defs: Definitions, latest: list, exit_met: list, exit_dates: dict) -> tuple[pd.Timestamp | None, str | None]:
    """Return the export's effective date: the latest date of something that happened to a lead.

    `latest` holds the latest own date of each stage (where the lead reached it by its own
    evidence) and of every other date column (created, last activity, stage since: wherever it is
    filled). An exit's date counts where the lead left through it (an open deal's expected close
    date is not an event), and a log's every change.
    """
    usable = fields.usable
    candidates = list(latest)
    candidates += [d for j, day in exit_dates.items() for d in _latest(day, usable & exit_met[j], repr(defs.exits[j].date), fields.rows)]
    if fields.evidence.latest is not None:
        candidates.append((np.datetime64(fields.evidence.latest, "D"), "a change of the log"))
    if not candidates:
        return None, None
    day, where = max(candidates, key=lambda c: c[0])
    return pd.Timestamp(day), where


def _reading(defs: Definitions) -> conditions.Reading:
    return conditions.reading(defs)


def _dated_ahead_of_status(defs: Definitions, i: int, mask: np.ndarray, rows: np.ndarray, named: str) -> RowIssue | None:
    """Return the notice of the leads that reached stage i by its date column while their status
    names `named`: an earlier stage (an open deal's expected close date, as Salesforce writes it,
    say), or, at the last stage, an exit (a lost deal's close date counted as won). (An exit is no
    sign before the last stage: a recycled lead did reach SQL.)"""
    stage = defs.stages[i]
    status = defs.stage_column
    return issue(f"whose {stage.name} date in {stage.date!r} reaches {stage.name} while its status names {named}",
                 mask, rows, detail=f"a date there counts whatever the status (an open deal's expected close date too); to date "
                                    f"{stage.name} only where the status names it, write when: {{{status}: {{in: [...]}}}} with the date")


def _own_evidence(frame: pd.DataFrame, defs: Definitions, dates: DayColumns, evidence: Evidence, key_of,
                  ahead: list | None = None) -> tuple[np.ndarray, StageDays]:
    """Return (leads x stages) matrices: reached by the lead's own evidence, and the own entry date
    (NaT where the evidence has no date).

    A stage's evidence is any of: its condition holds, its flag is true, the status column or the
    log names it, or (with no condition and no flag) its date column has a date. `ahead` collects,
    per stage, the leads its date column reaches while their status names an earlier stage. A first stage with
    no rule at all is reached by every lead. The date column dates a stage only for leads whose
    evidence says they reached it; a log's first entry into the stage comes first.
    """
    n, k = len(frame), len(defs.stages)
    own = np.zeros((n, k), dtype=bool, order="F")
    own_date = StageDays.empty(n, k)
    none = StageDays.NONE
    # a stage's date column is let go after its last stage (an exit's date column stays for the exit)
    last_use = {stage.date: i for i, stage in enumerate(defs.stages) if stage.date}
    last_use.update({e.date: k for e in defs.exits if e.date})
    for i, stage in enumerate(defs.stages):
        column = None
        if stage.date:
            column = dates.days(stage.date, pop=last_use[stage.date] == i)
        if stage.when is not None:
            own[:, i] |= conditions.evaluate(stage.when, frame, key_of, _reading(defs))
        if i in evidence.stage_reached:
            own[:, i] |= evidence.stage_reached[i]
        if column is not None and stage.when is None and stage.flag is None:
            if ahead is not None and defs.stage_column and i > 0:  # the status says the lead is not there yet
                before = [evidence.stage_reached[k] for k in range(i) if evidence.how.get(k) == "status" and k in evidence.stage_reached]
                if before:
                    earlier = np.logical_or.reduce(before) & (column != none)
                    if earlier.any():
                        ahead.append((i, earlier, "an earlier stage"))
                if i == k - 1 and evidence.exit_met:  # won by its date while the status says lost: a close date, say
                    left = np.logical_or.reduce(list(evidence.exit_met.values())) & (column != none)
                    if left.any():
                        ahead.append((i, left, "an exit"))
            own[:, i] |= column != none
        if i == 0 and not stage.has_rule:
            own[:, i] = True if evidence.entering is None else evidence.entering  # the funnel's entry: every lead (of a log, with a row that counts)
        day = evidence.stage_dates.get(i)
        if day is not None:
            day = DayColumns.compact(day)
        if column is not None:
            day = column if day is None else np.where(day == none, column, day)
        if day is not None:
            own_date.days[:, i] = day
            own_date.days[~own[:, i], i] = none
        del column, day
    if evidence.entering_dates is not None and not defs.stages[0].has_rule:
        # a log's lead enters a first stage with no rule when it first appears in the log (a
        # Salesforce opportunity's 'created' row, an owner change): that day dates the stage, so
        # its cohort is its creation's. Where that first row is a later stage's entry itself (the
        # same day), the later stage dates the entry as effective date and velocity borrows nothing.
        entering = DayColumns.compact(evidence.entering_dates)
        first_later = np.where(own_date.days[:, 1:] == none, np.iinfo(np.int32).max, own_date.days[:, 1:]).min(axis=1) \
            if k > 1 else np.full(n, np.iinfo(np.int32).max)
        fill = own[:, 0] & (own_date.days[:, 0] == none) & (entering != none) & (entering < first_later)
        own_date.days[fill, 0] = entering[fill]
    return own, own_date


def _waterfall(own: np.ndarray, own_date: StageDays):
    """Return reached, effective dates and dated (leads x stages, column-major), which leads had
    dates out of order, and for each stage the rows (and own dates) that took a later stage's
    earlier date. `own_date` becomes the effective dates, in place (a copy is 4 bytes a lead a stage).

    A lead that reached a later stage passed the earlier ones ("implied" stages). An earlier
    stage's effective date is never after a later one's: it is the earliest known date of the
    stage and of every later stage the lead reached (docs/metrics.md#stages-with-no-own-date).
    Velocity takes a step only between dates of the lead's own ("dated"): not a borrowed date, nor
    an own date out of order (which the waterfall replaced by a later stage's earlier one).
    """
    n, k = own.shape
    date, none = own_date.days, StageDays.NONE
    reached = np.empty((n, k), dtype=bool, order="F")
    dated = np.empty((n, k), dtype=bool, order="F")
    reached[:, k - 1] = own[:, k - 1]
    dated[:, k - 1] = own[:, k - 1] & (date[:, k - 1] != none)
    for i in range(k - 2, -1, -1):
        reached[:, i] = own[:, i] | reached[:, i + 1]
    out_of_order = np.zeros(n, dtype=bool)
    late: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for i in range(k - 2, -1, -1):
        later, mine = date[:, i + 1], date[:, i]
        later_first = (later < mine) & (later != none)  # none is below every day: mine is known
        if later_first.any():  # kept so that a replay before the own date counts the stage as skipped
            rows = np.flatnonzero(later_first)
            late[i] = (rows, DayColumns.wide(mine[rows]))
        out_of_order |= later_first
        unknown = mine == none
        dated[:, i] = own[:, i] & ~unknown & ~later_first
        date[:, i] = np.where(unknown | later_first, later, mine)
    return reached, own_date, dated, out_of_order, late


def _add_exit(frame: pd.DataFrame, defs: Definitions, dates: DayColumns, evidence: Evidence, key_of) -> tuple[list[np.ndarray], dict[int, np.ndarray]]:
    """Add the lead's exit (the first whose rule holds) to the frame; return every exit's rule
    (a mask per exit) and the dates of the exits that have one, for replaying an earlier as-of date.

    An exit holds where its condition holds or the status column or log names it; an exit with
    only a date column holds where the date is present."""
    n = len(frame)
    met: list[np.ndarray] = []
    when: dict[int, np.ndarray] = {}
    codes = np.full(n, -1, dtype=code_type(len(defs.exits)))
    columns: dict[str, np.ndarray] = {}  # exits dated by the same column share its days
    for j, ex in enumerate(defs.exits):
        holds = np.zeros(n, dtype=bool)
        if ex.when is not None:
            holds |= conditions.evaluate(ex.when, frame, key_of, _reading(defs))
        if j in evidence.exit_met:
            holds |= evidence.exit_met[j]
        if ex.date:
            if ex.date not in columns:
                columns[ex.date] = dates[ex.date]
            when[j] = columns[ex.date]
            if ex.when is None and j not in evidence.exit_met:
                holds |= ~np.isnat(when[j])
        if j in evidence.exit_dates:
            when[j] = evidence.exit_dates[j] if j not in when else np.where(np.isnat(when[j]), evidence.exit_dates[j], when[j])
        met.append(holds)
        back = evidence.exit_until.get(j)  # a log's lead that came back is not out as the export stands
        now = holds & np.isnat(back) if back is not None else holds
        codes[now & (codes == -1)] = j
    frame["exit"] = pd.Categorical.from_codes(codes, categories=pd.Index([e.name for e in defs.exits], dtype="str"))
    return met, when


_NUMBER_OPS = ("eq", "ne", "gt", "gte", "lt", "lte", "between", "in", "not_in")


def _unreadable_numbers(frame: pd.DataFrame, defs: Definitions, key_of, usable: np.ndarray, rows: np.ndarray) -> list[RowIssue]:
    """Return a notice per field a rule compares with a number whose filled values don't read as
    numbers ('1,001-5,000', the ambiguous '1.200'): the rule doesn't hold for those leads, and
    the notice says so rather than leaving them out of a market silently."""
    uses: dict[str, list[str]] = {}
    rules = [(f"stage {s.name}", s.when) for s in defs.stages] + [(f"exit {e.name}", e.when) for e in defs.exits]
    rules += [(f"market {m.name}", m.when) for m in defs.markets]
    for label, cond in rules:
        for leaf in walk_leaves(cond):
            args = leaf.value if isinstance(leaf.value, tuple) else (leaf.value,)
            if leaf.op in _NUMBER_OPS and any(isinstance(a, (int, float)) and not isinstance(a, bool) for a in args):
                labels = uses.setdefault(key_of(leaf.field), [])
                if label not in labels:
                    labels.append(label)
    out = []
    for key, labels in uses.items():
        bad = conditions.unreadable_numbers(frame[key]) if key in frame.columns else None
        if bad is None:  # every value reads (a numeric column, or categories that all do): nothing a lead
            continue
        examples = [repr(v) for v in dict.fromkeys(frame[key][bad & usable].astype(str))][:2]
        shown = ", ".join(labels[:3]) + (f" and {len(labels) - 3} more" if len(labels) > 3 else "")
        found = issue(f"whose {defs.header(key)!r} is not a number", bad & usable, rows, examples=examples,
                      detail=f"{shown} compare{'s' if len(labels) == 1 else ''} it with a number: the rule does not hold for "
                             "these leads (write 1200, 1,200 or 1.2; a range like '1,001-5,000' is text: test it with in:)")
        if found:
            out.append(found)
    return out


def _blank_market_fields(frame: pd.DataFrame, defs: Definitions, key_of, usable: np.ndarray, rows: np.ndarray) -> list[RowIssue]:
    """Return a notice for each field a market rule tests that is blank for most leads: those
    leads can't meet the rule and land out of market, which would otherwise go unsaid."""
    from funnelcli.definitions import walk_leaves

    found = []
    tested = {key_of(leaf.field): [m.name for m in defs.markets if any(key_of(x.field) == key_of(leaf.field) for x in walk_leaves(m.when))]
              for m in defs.markets for leaf in walk_leaves(m.when) if leaf.op not in ("present", "missing")}
    for key, markets in tested.items():
        if key not in frame:
            continue
        blank = frame[key].isna().to_numpy() & usable
        if usable.any() and blank.sum() * 2 > usable.sum():
            names = ", ".join(repr(m) for m in dict.fromkeys(markets))
            found.append(issue(f"blank in {key!r}, which the rule of market {names} tests", blank, rows,
                               detail=f"{blank.sum() / usable.sum():.0%} of the leads: they can't meet that rule and count "
                                      "out of market unless another market takes them"))
    return [f for f in found if f]


def _add_market(frame: pd.DataFrame, defs: Definitions, key_of) -> None:
    n = len(frame)
    codes = np.full(n, len(defs.markets), dtype=code_type(len(defs.markets) + 1))
    for j in range(len(defs.markets) - 1, -1, -1):  # the first market that matches wins
        codes[conditions.evaluate(defs.markets[j].when, frame, key_of, _reading(defs))] = j
    frame["market"] = pd.Categorical.from_codes(codes, categories=pd.Index([m.name for m in defs.markets] + [OUT_OF_MARKET], dtype="str"))
