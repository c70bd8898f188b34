"""The engine: the funnel at an as-of date, its four buckets, rates and velocity, per segment.

Everything is computed on (leads x stages) numpy matrices; no Python loop runs over leads.
For stage S with next stage T, at the as-of date, each lead that reached S is in exactly one of
converted (reached T), exited (left through an exit without reaching T), stuck (neither, older in
S than S's SLA) or in progress (neither, within the SLA or S has none). See docs/metrics.md#the-four-buckets.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from funnelcli.definitions import OUT_OF_MARKET, Definitions, did_you_mean
from funnelcli.engine.groups import QUANTILES, group_by, group_order, number, per_exit, per_stage, quantiles, rate
from funnelcli.engine.leads import LoadedExport, StageDays
from funnelcli.errors import FunnelError, option
from funnelcli.sources.accounting import RowIssue

DAY = np.timedelta64(1, "D")


@dataclass
class Accounting:
    """Where every row of the export went: rows_read == sum of the rest."""

    rows_read: int
    excluded: list[RowIssue]
    not_reached: int  # never reached the first stage (trends --from-stage: the cohort stage) by the as-of date
    first_stage: str  # that stage's name
    outside_range: int = 0  # --since/--until: entered the cohort stage outside the range
    undated_range: int = 0  # with a range: reached the cohort stage with no date to place it in the range
    other_markets: int = 0  # not in the --market markets
    in_report: int = 0
    unit: str = "rows"  # what rows_read counts: the export's rows, or the leads of a log
    files: list = dataclasses.field(default_factory=list)  # FileAccount: a log's or joined files' rows
    replayed_to: str | None = None  # a replay's as-of date: leads not reached by then may reach it later

    @property
    def rows_excluded(self) -> int:
        return sum(issue.count for issue in self.excluded)

    def balanced(self) -> bool:
        return self.rows_read == (self.rows_excluded + self.not_reached + self.outside_range + self.undated_range
                                  + self.other_markets + self.in_report)

    def as_dict(self) -> dict:
        return {
            "rows_read": self.rows_read,
            "rows_excluded": self.rows_excluded,
            "excluded": [
                {"reason": i.reason, "count": i.count, "first_rows": i.rows} for i in self.excluded
            ],
            "never_reached_first_stage": self.not_reached,
            "first_stage": self.first_stage,  # which: the funnel's first, or trends --from-stage's
            "outside_cohort_range": self.outside_range,
            "no_date_for_cohort_range": self.undated_range,
            "other_markets": self.other_markets,
            "leads_in_report": self.in_report,
            "read_as": self.unit,
            "files": [account.as_dict() for account in self.files],
        }

    def sentence(self) -> str:
        parts = [f"{_count(self.in_report, 'lead')} in the report"]
        if self.not_reached:
            parts.append(f"{self.not_reached:,} had not reached {self.first_stage} by {self.replayed_to}" if self.replayed_to
                         else f"{self.not_reached:,} never reached {self.first_stage}")
        if self.outside_range:
            parts.append(f"{self.outside_range:,} outside the cohort range")
        if self.undated_range:
            parts.append(f"{self.undated_range:,} with no date to place in the cohort range")
        if self.other_markets:
            parts.append(f"{self.other_markets:,} in other markets")
        if self.excluded:
            reasons = "; ".join(f"{i.count:,} {i.reason}" for i in self.excluded)
            parts.append(f"{self.rows_excluded:,} excluded ({reasons})")
        else:
            parts.append("0 excluded")
        read = "read" if self.unit == "rows" else "read from the log"
        return f"{_count(self.rows_read, self.unit.removesuffix('s'))} {read} = " + " + ".join(parts)


def _count(n: int, noun: str) -> str:
    """Return '1 lead', '2 leads', '1,000 leads'."""
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"


@dataclass
class Funnel:
    """The selected leads at the as-of date, as matrices over (lead, stage)."""

    defs: Definitions
    as_of: pd.Timestamp | None  # None: the export has no dates and none was given
    as_of_given: bool
    frame: pd.DataFrame  # the export's lead table: every row, or (`selected_only`) the selected leads'
    rows: np.ndarray  # the positions in `frame` of the selected leads
    reached: np.ndarray  # bool [n, k]
    date: StageDays  # [n, k]; NaT (as it reads) when not reached, or reached with no date
    implied: np.ndarray  # bool [n, k]
    exit_codes: np.ndarray  # int [n]: the lead's exit (index into defs.exits), -1 for none
    exited: np.ndarray  # bool [n]: an exit holds at the as-of date
    accounting: Accounting
    since: dt.date | None = None
    until: dt.date | None = None
    markets: tuple[str, ...] = ()
    export: str = ""
    after_as_of: int = 0  # leads of the export with a stage, exit or stage_since date after the as-of date
    cohort_stage: int = 0  # the stage whose entry date --since/--until select on
    dated: np.ndarray | None = None  # bool [n, k]: reached with an own date, at the as-of date
    unplaced: int = 0  # leads a replay before the export's date can't place: reached a stage with no date
    findings: list = dataclasses.field(default_factory=list)  # data-quality facts, as funnelcli.Finding
    option_words: dict | None = None  # set by the command line: findings name its options (--as-of), not keywords
    memo: dict = dataclasses.field(default_factory=dict, repr=False, compare=False)  # results reused by reports
    selected_only: bool = False  # `frame` holds only the selected leads, in order: `rows` is 0..n-1
    as_of_set_aside: dt.date | None = None  # an as-of date given for an export with no dates: nothing to replay
    # per stage, the leads a cohort range left out for want of a date at the cohort stage that reached
    # the stage: no cohort can hold them, so the cohort rates from it are unknown (trends.unknown_rates)
    undated_out_of_range: np.ndarray | None = None

    def remember(self, key, make):
        """Return make(), computed once per funnel (several tables use the same columns)."""
        if key not in self.memo:
            self.memo[key] = make()
        return self.memo[key]

    def remember_days(self, key, make) -> np.ndarray:
        """Return make(), a float32 array of whole days (or NaN), computed once per funnel and
        shared read-only. float32 holds every whole number of days up to 2^24 exactly, in half the
        memory of float64. Quantiles take the values they use as float64, and a threshold is
        compared as np.float64(x): against float32, a Python float is rounded to float32."""
        if key not in self.memo:
            days = make()
            days.flags.writeable = False  # shared by every table that asks
            self.memo[key] = days
        return self.memo[key]

    def column(self, key: str) -> pd.Series:
        """Return one field of the selected leads (the exit as it stood at the as-of date)."""
        if key == "exit":
            names = pd.Index([e.name for e in self.defs.exits], dtype="str")
            return self.remember(("column", key), lambda: pd.Series(pd.Categorical.from_codes(self.exit_codes, categories=names)))
        if self.selected_only:
            return self.frame[key]
        return self.remember(("column", key), lambda: self.frame[key].take(self.rows).reset_index(drop=True))

    @property
    def n(self) -> int:
        return len(self.rows)

    @property
    def stages(self) -> tuple[str, ...]:
        return self.defs.stage_names

    def own_dated(self, i: int) -> np.ndarray:
        """Return which leads reached stage i with a date of their own (not borrowed from a later
        stage, not replaced for being out of order)."""
        return self.dated[:, i] & ~self.implied[:, i]

    def days_to_next(self, i: int) -> np.ndarray:
        """Return days from stage i to the next, for converted leads with both dates their own.

        A stage with no own date (skipped, or reached by a status, flag or undated condition)
        would borrow the next stage's date, making one step 0 days and stretching another:
        velocity counts only steps between a lead's own dates, NaN otherwise
        (docs/metrics.md#velocity). Made on each call, not kept: a report asks once or twice a
        stage, and kept they would be 4 bytes a lead a stage.
        """
        own = self.reached[:, i + 1] & self.own_dated(i) & self.own_dated(i + 1)
        return _days_between(self.date.days[:, i], self.date.days[:, i + 1], own)

    def age(self, i: int) -> np.ndarray:
        """Return days in stage i at the as-of date: from its entry date, else (for the stage a
        lead is in now) from the export's stage_since column; NaN when unknown.

        stage_since dates the stage the status column names (the CRM's last stage change): it
        dates stage i only for the leads whose status names stage i, not for a stage reached by
        a condition or a flag past it, nor for a status naming no stage. A stage_since before
        an earlier stage's date can't be when the lead entered stage i: the age runs from that
        earlier date (a notice counts such leads: stage_since_before)."""
        def make():
            if self.as_of is None:
                return np.full(self.n, np.nan, dtype=np.float32)
            as_of = _day_number(self.as_of.date())
            entered = self.date.days[:, i]
            days = _days_between(entered, as_of, entered != StageDays.NONE)
            dated = self._stage_since(i)
            if dated is not None:
                uses, since = dated
                days[uses] = _days_between(np.maximum(since[uses], self.latest_before(i)[uses]), as_of)
            return days

        return self.remember_days(("age", i), make)

    def _stage_since(self, i: int) -> tuple[np.ndarray, np.ndarray] | None:
        """Return (which leads' age in stage i runs from stage_since, stage_since as int days), or
        None without the column: the leads in stage i now (reached, not the next), with no date
        there, whose status names stage i (any, without a status column), and a stage_since by
        the as-of date."""
        if "stage_since" not in self.frame.columns or self.as_of is None:
            return None
        since = self.column("stage_since").to_numpy().astype("datetime64[D]")
        uses = self.reached[:, i] & (self.date.days[:, i] == StageDays.NONE)
        if i + 1 < self.reached.shape[1]:
            uses &= ~self.reached[:, i + 1]
        uses &= since <= np.datetime64(self.as_of.date(), "D")  # NaT compares False
        status = self.status_stage()
        if status is not None:
            uses &= status == i
        return uses, since.view(np.int64)

    def status_stage(self) -> np.ndarray | None:
        """Return the stage each lead's status column names (-1: none), or None with no status column."""
        if not self.defs.stage_column:
            return None

        return self.remember(("status_stage",), lambda: _named_stages(self.column(self.defs.field_key(self.defs.stage_column)), self.defs))

    def latest_before(self, i: int) -> np.ndarray:
        """Return the latest date (int days; NONE, below every day, when none) among stages before i."""
        if i == 0:
            return np.full(self.n, StageDays.NONE, dtype=np.int64)
        return self.date.days[:, :i].max(axis=1).astype(np.int64)

    def stage_since_before(self) -> np.ndarray:
        """Return which leads' stage_since, used for their current stage's age, is before an
        earlier stage's date (so their age runs from that date instead)."""
        early = np.zeros(self.reached.shape[0], dtype=bool)
        for i in range(self.reached.shape[1]):
            dated = self._stage_since(i)
            if dated is not None:
                uses, since = dated
                early |= uses & (since < self.latest_before(i))
        return early

    @functools.cached_property
    def buckets(self) -> "Buckets":
        return _buckets(self)


CONVERTED, EXITED, STUCK, IN_PROGRESS = 1, 2, 3, 4  # a lead's bucket code at a stage; 0: not reached


class _Bucket:
    """One bucket of `Buckets`, read as a bool (lead x stage) matrix or a part of one:
    b.stuck[:, i], b.exited[rows], b.converted[p, i]."""

    def __init__(self, codes: np.ndarray, code: int) -> None:
        self._codes, self._code = codes, code

    @property
    def shape(self) -> tuple[int, ...]:
        return self._codes.shape

    def __getitem__(self, key):
        return self._codes[key] == self._code

    def __array__(self, dtype=None, copy=None):
        return np.asarray(self._codes == self._code, dtype=dtype)


@dataclass
class Buckets:
    """Per (lead, stage): the bucket the lead is in for that stage, as one int8 code (a byte a lead
    a stage, where four bool matrices took four); each bucket reads as a bool matrix."""

    codes: np.ndarray  # int8 [n, k], column-major: CONVERTED, EXITED, STUCK, IN_PROGRESS, 0 (not reached)

    @property
    def converted(self) -> _Bucket:
        return _Bucket(self.codes, CONVERTED)

    @property
    def exited(self) -> _Bucket:
        return _Bucket(self.codes, EXITED)

    @property
    def stuck(self) -> _Bucket:
        return _Bucket(self.codes, STUCK)

    @property
    def in_progress(self) -> _Bucket:
        return _Bucket(self.codes, IN_PROGRESS)


def at_as_of(loaded: LoadedExport, defs: Definitions, as_of: dt.date | None = None,
             since: dt.date | None = None, until: dt.date | None = None,
             markets: tuple[str, ...] = (), cohort_stage: int = 0, take_over: bool = False) -> Funnel:
    """Return the funnel as it stood at `as_of` (default: the export's latest date), selected.

    `since` and `until` select cohorts by the date they entered `cohort_stage` (the first stage unless
    trends asks for another), whose leads by the as-of date are the report's (the others never reached it).
    With `take_over`, the lead table is the funnel's and can't be used again: its frame and stage
    matrices are cut to the selected leads, each column let go once taken, so that the leads
    outside the report hold no memory while it is made.
    """
    set_aside = as_of if loaded.latest_date is None else None  # no dates: nothing to replay (--since/--until say no lead can be placed)
    as_of = None if set_aside is not None else as_of
    as_of_ts = _as_of_date(loaded, as_of)
    # with no dates at all nothing happens after the as-of date: compare with the last day there is
    limit = np.datetime64(as_of_ts.date(), "D") if as_of_ts is not None else np.datetime64("2199-12-31", "D")
    moved, settled = _status_moves(loaded, defs, limit)
    in_funnel, after, later = _in_funnel(loaded, limit, moved)
    replay = as_of_ts is not None and loaded.latest_date is not None and as_of_ts < loaded.latest_date.normalize()
    accounting = Accounting(loaded.rows_read, list(loaded.excluded), 0, defs.stages[cohort_stage].name,
                            replayed_to=f"{as_of_ts:%Y-%m-%d}" if replay else None)
    if cohort_stage:  # trends --from-stage: the leads that had reached that stage by then
        in_funnel = _reached_then(loaded, loaded.usable & in_funnel, cohort_stage, limit, later, moved, settled)
    keep = loaded.usable & in_funnel
    accounting.not_reached = int((loaded.usable & ~in_funnel).sum())
    undated_out = None
    if since is not None or until is not None:
        inside, undated_out = _in_range_counted(loaded, cohort_stage, limit, since, until, keep, accounting)
        keep &= inside
    if markets:
        markets = _chosen_markets(loaded, defs, markets)
        in_market = loaded.leads["market"].isin(markets).to_numpy()
        accounting.other_markets = int((keep & ~in_market).sum())
        keep &= in_market
    accounting.in_report = int(keep.sum())
    # Select first, then replay the as-of date on the selected leads only.
    idx = _positions(keep)
    frame, rows = loaded.leads, idx
    if take_over:  # the frame first: the most bytes a lead, freed before the matrices are copied
        frame, rows = _selected(loaded.leads, idx), np.arange(len(idx), dtype=np.int32)
        loaded.leads = frame
    # the bool matrices first, the dates (4 bytes a lead a stage) last: less sits beside each copy
    dated = _taken(loaded, "dated", idx, take_over) if loaded.dated is not None else None
    at_implied = _taken(loaded, "implied", idx, take_over)
    at_reached, at_date = _taken(loaded, "reached", idx, take_over), _taken(loaded, "date", idx, take_over)
    settled = None if settled is None else _gather(settled, idx)
    at_date = _replay_stages(at_reached, at_date, limit, later, None if moved is None else _gather(moved, idx), settled, dated)
    exit_codes = _exits_at(loaded, defs, idx, limit)
    accounting.unit, accounting.files = loaded.unit, list(loaded.files)
    dated = ~at_date.missing() if dated is None else np.logical_and(dated, ~at_date.missing(), out=dated)  # in place: no copy
    unplaced = 0
    if replay:  # a stage with no date is placed when its lead was at a later one (or at it) by a stage since
        undated = at_reached & at_date.missing()
        if settled is not None:
            undated &= np.arange(undated.shape[1]) > settled[:, None]
        unplaced = int(undated.any(axis=1).sum())
    return Funnel(
        defs, as_of_ts, as_of is not None, frame, rows, at_reached, at_date,
        _implied_at(loaded, idx, limit, at_reached, at_implied), exit_codes, exit_codes >= 0, accounting,
        since, until, tuple(markets), loaded.export, int((after & loaded.usable).sum()),
        cohort_stage=cohort_stage, dated=dated, unplaced=unplaced, selected_only=take_over, as_of_set_aside=set_aside,
        undated_out_of_range=undated_out,
    )


def _as_of_date(loaded: LoadedExport, as_of: dt.date | None) -> pd.Timestamp | None:
    """Return the as-of date: the one given, else the export's latest date; None when the export
    has no dates (docs/metrics.md#exports-with-no-dates)."""
    if as_of is not None:
        return pd.Timestamp(as_of)
    if loaded.latest_date is None:
        return None
    return loaded.latest_date.normalize()


def _named_stages(column: pd.Series, defs: Definitions) -> np.ndarray:
    """Return the stage a status column names per row (int16; -1: none, or blank)."""
    from funnelcli.sources.shapes import value_codes

    stage_of, _ = value_codes(column.cat.categories, defs)
    return np.append(stage_of, -1).astype(np.int16)[column.cat.codes.to_numpy()]  # code -1 (blank) names nothing


def _status_moves(loaded: LoadedExport, defs: Definitions, limit: np.datetime64) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Return, per row, the stage its status names when the lead moved there after the as-of date
    (its stage_since is later), and when it had moved there by then (-1 otherwise, in each); None,
    None without a status column and a stage_since column.

    A deal at Contact Made since 01-20 was not there on 01-15: replayed as of 01-15, that stage
    (when it has no date of its own) has not been reached yet. A deal won on 02-25 from Proposal,
    where it was since 01-20, was at Proposal on 02-10, though the date Proposal borrows is Won's
    (docs/metrics.md "As-of date").
    """
    if not defs.stage_column or "stage_since" not in loaded.leads.columns:
        return None, None
    status = _named_stages(loaded.leads[defs.field_key(defs.stage_column)], defs)
    since = loaded.leads["stage_since"].to_numpy()
    later = since >= np.datetime64(limit, "D") + DAY
    by_then = since < np.datetime64(limit, "D") + DAY  # NaT compares False in both
    return np.where(later, status, -1).astype(np.int16), np.where(by_then, status, -1).astype(np.int16)


def _in_funnel(loaded: LoadedExport, limit: np.datetime64, moved: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, list[bool]]:
    """Return who is in the funnel at the as-of date, who has an event after it, and which stages
    have a date after it.

    In the funnel: a lead that reached some stage by then (dated at or before it, or undated).
    Effective dates never decrease along the stages, so the first stage's date tells, but for
    leads whose stages reached have no date at all. An undated stage after one dated later than
    the as-of date had not been reached then either (a deal can't be at Contact Made before it was
    created), nor an undated stage the lead's status names from a stage_since after it (`moved`:
    _status_moves), nor any undated stage after that one.
    """
    reached, date, none, last = loaded.reached, loaded.date.days, StageDays.NONE, _day_number(limit)
    in_funnel = reached[:, 0] & (date[:, 0] <= last) & (date[:, 0] != none)
    after = np.zeros(len(loaded.leads), dtype=bool)
    for j, day in loaded.exit_dates.items():
        after |= loaded.exit_met[j] & (day > limit)
    for rows, own in loaded.late.values():  # an own date after as-of that a later stage's earlier date hides
        after[rows[own > limit]] = True
    if "stage_since" in loaded.leads.columns:  # a stage change after as-of: its age is unknown then
        # a day after as-of or later, in the column's own unit: no copy of the column
        after |= loaded.leads["stage_since"].to_numpy() >= np.datetime64(limit, "D") + DAY
    later = []
    future = np.zeros(len(loaded.leads), dtype=bool)  # a stage up to this one is dated after as-of (not an exit)
    for i in range(reached.shape[1]):
        beyond = date[:, i] > last  # none is below every day
        after |= beyond
        future |= beyond
        undated = date[:, i] == none
        moving = moved == i if moved is not None else None
        if moving is not None:
            future |= moving & undated
        in_funnel |= reached[:, i] & undated & ~future
        later.append(bool(beyond.any()) or (moving is not None and bool(moving.any())))
    return in_funnel, after, later


def _reached_then(loaded: LoadedExport, keep: np.ndarray, stage: int, limit: np.datetime64, later: list[bool],
                  moved: np.ndarray | None, settled: np.ndarray | None) -> np.ndarray:
    """Return which leads of `keep` had reached `stage` by the as-of date: the replay of their
    stages (_replay_stages, on copies) says, so that the report's leads are those its tables count there."""
    idx = _positions(keep)
    reached, dated = _taken(loaded, "reached", idx, False), _taken(loaded, "dated", idx, False) if loaded.dated is not None else None
    _replay_stages(reached, _taken(loaded, "date", idx, False), limit, later, None if moved is None else _gather(moved, idx),
                   None if settled is None else _gather(settled, idx), dated)
    out = np.zeros(len(keep), dtype=bool)
    out[idx] = reached[:, stage]
    return out


def _in_range_counted(loaded: LoadedExport, stage: int, limit: np.datetime64, since: dt.date | None, until: dt.date | None,
                      keep: np.ndarray, accounting: Accounting) -> tuple[np.ndarray, np.ndarray]:
    """Return _in_range and, per stage, how many of the leads of `keep` left out for want of a
    date at `stage` reached it; count in `accounting` the leads outside the range, and apart those
    with no date to place in it."""
    inside = _in_range(loaded, stage, limit, since, until)
    undated = keep & ~inside & loaded.reached[:, stage] & (loaded.date.days[:, stage] == StageDays.NONE)
    accounting.outside_range = int((keep & ~inside & ~undated).sum())
    accounting.undated_range = int(undated.sum())
    return inside, loaded.reached[undated].sum(axis=0)


def _in_range(loaded: LoadedExport, stage: int, limit: np.datetime64, since: dt.date | None, until: dt.date | None) -> np.ndarray:
    """Return the leads that entered `stage` by the as-of date, within since..until."""
    entry = loaded.date.days[:, stage]
    inside = loaded.reached[:, stage] & (entry <= _day_number(limit)) & (entry != StageDays.NONE)
    if since is not None:
        inside &= entry >= _day_number(since)
    if until is not None:
        inside &= entry <= _day_number(until)
    return inside


def _chosen_markets(loaded: LoadedExport, defs: Definitions, markets: tuple[str, ...]) -> tuple[str, ...]:
    """Return the markets asked for, by their names in the definitions (any case); raise for others."""
    if "market" not in loaded.leads:
        raise FunnelError(f"{option('markets')}: the definitions have no markets to choose from")
    known = [m.name for m in defs.markets] + [OUT_OF_MARKET]
    folded = {m.casefold(): m for m in known}
    for name in markets:
        if name.casefold() not in folded:
            raise FunnelError(f"{option('markets')}{name!r}: no such market{did_you_mean(name, known)}; "
                              f"markets are {', '.join(known)}")
    return tuple(folded[name.casefold()] for name in markets)


def _replay_stages(at_reached: np.ndarray, at_date: np.ndarray, limit: np.datetime64, later: list[bool],
                   moved: np.ndarray | None = None, settled: np.ndarray | None = None,
                   own: np.ndarray | None = None) -> StageDays:
    """Make the selected leads' reached and dates (int32 days) those at the as-of date, in place;
    return the dates.

    Events after it have not happened yet; stages reached with no date are judged on the export
    as it is (their time is unknown) unless an earlier stage is dated after the as-of date, and
    the waterfall is made monotone again. `moved` and `settled` (_status_moves, of the selected
    leads): the stage a lead's status names from a stage_since after the as-of date, which it had
    not reached yet when the stage has no date of its own (nor the undated stages after it), and
    from a stage_since by then, which it had reached though the date it borrows from a later
    stage (`own`: which dates are the lead's own) is after it; its date is then unknown, so its
    age runs from the stage since.
    """
    none, last = StageDays.NONE, _day_number(limit)
    future = np.zeros(len(at_reached), dtype=bool)  # a stage up to this one is dated after the as-of date
    for i in range(at_reached.shape[1]):
        if later[i] or future.any():
            day = at_date[:, i]
            known = day != none
            happened = known & (day <= last)
            there = np.zeros(len(day), dtype=bool)  # at the stage by its stage since, whatever it borrows
            if settled is not None and own is not None:
                there = (settled == i) & known & ~happened & ~own[:, i]
            future |= (day > last) & ~there
            if moved is not None:
                future |= (moved == i) & ~known
            at_reached[:, i] &= happened | there | (~known & ~future)
            day[~happened] = none
    for i in range(at_reached.shape[1] - 2, -1, -1):
        at_reached[:, i] |= at_reached[:, i + 1]
    return StageDays(at_date)


def _day_number(day) -> int:
    """Return a date (datetime.date or datetime64) as days since 1970, as StageDays keeps it."""
    return int(np.datetime64(day, "D").astype(np.int64))


def _exits_at(loaded: LoadedExport, defs: Definitions, idx: np.ndarray, limit: np.datetime64) -> np.ndarray:
    """Return each selected lead's exit at the as-of date (-1: none): the first whose rule holds
    and whose date (if it has one) has come; an exit dated later doesn't hide one that had
    already happened."""
    exit_codes = np.full(len(idx), -1, dtype=np.int32)
    for j in range(len(defs.exits)):
        happened = loaded.exit_met[j][idx]
        if j in loaded.exit_dates:
            day = loaded.exit_dates[j][idx]
            happened &= np.isnat(day) | (day <= limit)
        if j in loaded.exit_until:  # a log's lead that came back after the exit is out only until then
            back = loaded.exit_until[j][idx]
            happened &= np.isnat(back) | (back > limit)
        if j in loaded.exit_spans:  # and out through an earlier exit (lost, reopened, lost again) in between
            rows, start, end = loaded.exit_spans[j]
            pos = np.searchsorted(idx, rows)
            inside = pos < len(idx)
            inside[inside] &= idx[pos[inside]] == rows[inside]
            out = inside & (start <= limit) & (end > limit)
            happened[pos[out]] = True
        exit_codes[(exit_codes == -1) & happened] = j
    return exit_codes


def _implied_at(loaded: LoadedExport, idx: np.ndarray, limit: np.datetime64, at_reached: np.ndarray,
                at_implied: np.ndarray) -> np.ndarray:
    """Return which stages of the selected leads are implied at the as-of date (`at_implied`, the
    lead table's, made so in place): reached but skipped, or with an own date that hasn't come
    though a later stage's earlier date has."""
    m = len(idx)
    for i, (rows, own) in loaded.late.items():
        pos = np.searchsorted(idx, rows)
        inside = pos < m
        inside[inside] &= idx[pos[inside]] == rows[inside]
        pending = own[inside] > limit
        at_implied[pos[inside][pending], i] |= at_reached[pos[inside][pending], i]
    return at_implied


def _positions(keep: np.ndarray, step: int = 1 << 22) -> np.ndarray:
    """Return where `keep` holds, as int32 (an export has fewer than 2^31 rows: csvfile), found a
    few million rows at a time: no int64 array of them all is made on the way."""
    out = np.empty(int(np.count_nonzero(keep)), dtype=np.int32)
    at = 0
    for start in range(0, len(keep), step):
        found = np.flatnonzero(keep[start:start + step]) + start
        out[at:at + len(found)] = found
        at += len(found)
    return out


def _taken(loaded: LoadedExport, name: str, idx: np.ndarray, take_over: bool) -> np.ndarray:
    """Return the rows `idx` (ascending) of one of the lead table's (leads x stages) matrices as a
    column-major copy (int32 days for `date`); with `take_over` the lead table lets it go."""
    matrix = getattr(loaded, name)
    if take_over:
        setattr(loaded, name, None)
    if isinstance(matrix, StageDays):
        matrix = matrix.days
    out = np.empty((len(idx), matrix.shape[1]), dtype=matrix.dtype, order="F")
    for i in range(matrix.shape[1]):
        _gather(matrix[:, i], idx, out[:, i])
    return out


def _gather(values: np.ndarray, idx: np.ndarray, out: np.ndarray | None = None, step: int = 1 << 22) -> np.ndarray:
    """Return values[idx] (into `out`), a few million positions at a time: numpy widens int32
    positions to int64 to index, and so holds 8 bytes a position only for those few."""
    out = np.empty(len(idx), dtype=values.dtype) if out is None else out
    for start in range(0, len(idx), step):
        out[start:start + step] = values[idx[start:start + step]]
    return out


def _selected(frame: pd.DataFrame, idx: np.ndarray) -> pd.DataFrame:
    """Return the rows `idx` (ascending) of the frame as a new frame, taking the frame's columns
    one at a time (each is let go once taken: a copy of the whole frame never sits beside it)."""
    import pyarrow as pa

    from funnelcli.sources.fields import release_memory

    columns, order = {}, list(frame.columns)
    # the narrowest first, text last: each copy is made once the columns before it have let their
    # leads outside the report go (a column of 8 bytes a lead first would sit beside everything)
    for name in sorted(frame.columns, key=lambda name: _width(frame[name])):
        column = frame[name]
        text = isinstance(column.dtype, pd.StringDtype)  # the ids: text in pyarrow
        if text:
            columns[name] = _take_text(column, idx)
        elif isinstance(column.dtype, pd.CategoricalDtype):
            columns[name] = pd.Categorical.from_codes(_gather(column.cat.codes.to_numpy(), idx), dtype=column.dtype)
        elif isinstance(column.dtype, np.dtype) and column.dtype != object:  # dates, numbers, row numbers
            columns[name] = _gather(column.to_numpy(), idx)
        else:
            columns[name] = column.array.take(idx)
        del frame[name], column
        if text:
            pa.default_memory_pool().release_unused()  # pyarrow's pool keeps what is freed
    release_memory()  # and glibc the category codes (a few MB each, too small to be given back when freed)
    return pd.DataFrame({name: columns[name] for name in order}, copy=False)


def _width(column: pd.Series) -> tuple[bool, int]:
    """Return (is text, bytes a lead) of a column, to order the columns taken."""
    dtype = column.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return False, column.cat.codes.dtype.itemsize
    return isinstance(dtype, pd.StringDtype), dtype.itemsize if isinstance(dtype, np.dtype) else 8


def _take_text(column: pd.Series, idx: np.ndarray):
    """Return the rows `idx` (ascending) of a text column, a part at a time, in the parts it was
    read in: pyarrow's take over many parts holds 16 bytes of index per row taken."""
    import pyarrow as pa

    data = pa.array(column.array)
    data = data if isinstance(data, pa.ChunkedArray) else pa.chunked_array([data])
    lengths = np.array([len(c) for c in data.chunks], dtype=np.int64)
    ends = np.cumsum(lengths)
    bounds = np.searchsorted(idx, ends)  # part i's rows are idx[bounds[i - 1]:bounds[i]]
    parts = [part.take(idx[a:b] - start)
             for part, a, b, start in zip(data.chunks, np.r_[0, bounds[:-1]], bounds, ends - lengths)]
    return pa.chunked_array(parts, data.type).to_pandas(types_mapper={data.type: column.dtype}.get).array


def _buckets(f: Funnel) -> Buckets:
    n, k = f.reached.shape
    codes = np.zeros((n, k), dtype=np.int8, order="F")
    for i, stage in enumerate(f.defs.stages):  # a column at a time: the matrix is column-major
        column = codes[:, i]
        unresolved = f.reached[:, i].copy()
        if i + 1 < k:  # reaching the next stage implies reaching this one (the waterfall)
            converted = f.reached[:, i + 1]
            column[converted] = CONVERTED
            unresolved &= ~converted
        column[unresolved & f.exited] = EXITED
        unresolved &= ~f.exited
        if stage.sla_days is not None:
            with np.errstate(invalid="ignore"):
                stuck = unresolved & (f.age(i) > np.float64(stage.sla_days))  # compared in float64, as given
            column[stuck] = STUCK
            unresolved &= ~stuck
        column[unresolved] = IN_PROGRESS
    return Buckets(codes)


# --------------------------------------------------------------------------------------------
# Stage-by-stage conversion


def conversion(f: Funnel, by: str | None = None) -> list[dict]:
    """Return the stage-by-stage table: one row per (group, stage), plain values."""
    b = f.buckets
    groups = group_by(f, by)
    k = len(f.stages)
    reached = per_stage(f.reached, groups)
    converted = per_stage(b.converted, groups)
    exited = per_stage(b.exited, groups)
    by_exit = per_exit(f, groups)
    stuck = per_stage(b.stuck, groups)
    in_progress = per_stage(b.in_progress, groups)
    skipped = per_stage(f.implied & f.reached, groups)
    age_unknown = per_stage(unknown_age(f), groups)
    velocity = [quantiles(f.days_to_next(i), groups) for i in range(k - 1)] + [np.full((groups.size, 3), np.nan)]
    rows = []
    for g in group_order(groups, reached[:, 0]):
        for i, stage in enumerate(f.defs.stages):
            last = i == k - 1
            # The last stage has no next stage: nothing converts, and without an SLA nothing is
            # stuck or in progress there either (docs/metrics.md).
            has_flow = not last or stage.sla_days is not None
            row = {"group": groups.labels[g]} if by else {}
            row.update({
                "stage": stage.name,
                "reached": int(reached[g, i]),
                "entered": int(reached[g, i] - skipped[g, i]),  # by own evidence (docs/metrics.md#reached-and-entered)
                "converted": None if last else int(converted[g, i]),
                "step_rate": None if last else rate(int(converted[g, i]), int(reached[g, i])),
                "cumulative_rate": rate(int(reached[g, i]), int(reached[g, 0])),
                "exited": int(exited[g, i]),
            })
            for j, ex in enumerate(f.defs.exits):  # the key is measures.keys.exited_key (a later layer)
                row[f"exited:{ex.name}"] = int(by_exit[j][g, i])
            row.update({
                "stuck": int(stuck[g, i]) if has_flow else None,
                "in_progress": int(in_progress[g, i]) if has_flow else None,
                "skipped": int(skipped[g, i]),
                "age_unknown": int(age_unknown[g, i]) if has_flow else None,
                "median_days": number(velocity[i][g, 0]),
                "p75_days": number(velocity[i][g, 1]),
                "p90_days": number(velocity[i][g, 2]),
            })
            rows.append(row)
    return rows


def _days_between(start: np.ndarray, end, where: np.ndarray | None = None) -> np.ndarray:
    """Return whole days from `start` to `end` (days since 1970, int) as float32, NaN outside
    `where`, which holds only where both are known; only those leads are computed (a column at 4
    bytes a lead). Dates are 1970-2199: a difference is exact in float32."""
    if where is None:
        return (end - start).astype(np.float32)
    out = np.full(len(start), np.nan, dtype=np.float32)
    out[where] = _days_between(start[where], end if np.ndim(end) == 0 else end[where])
    return out


def cycle_time(f: Funnel) -> dict:
    """Return days from the first to the last stage, per lead that reached the last stage with
    both of those dates its own."""
    if f.reached.shape[1] < 2:  # one stage: no way from a first to a last
        return {"leads": 0, "median_days": None, "p75_days": None, "p90_days": None}
    both = f.reached[:, -1] & f.own_dated(0) & f.own_dated(f.reached.shape[1] - 1)
    days = (f.date[both, -1] - f.date[both, 0]) / DAY
    days = days[~np.isnan(days)]
    if len(days) == 0:
        return {"leads": 0, "median_days": None, "p75_days": None, "p90_days": None}
    q = np.quantile(days, QUANTILES)
    return {"leads": int(len(days)), "median_days": float(q[0]), "p75_days": float(q[1]), "p90_days": float(q[2])}


def skipped_summary(f: Funnel) -> list[tuple[str, int]]:
    """Return (stage, leads that reached it only through a later stage), for stages with any."""
    counts = (f.implied & f.reached).sum(axis=0)
    return [(s, int(c)) for s, c in zip(f.stages, counts) if c]


def unknown_age(f: Funnel) -> np.ndarray:
    """Return [n, k]: in progress in a stage with an SLA, with no way to tell how long (no date
    of their own there, no stage_since, or no dates at all): they can't be stuck, so they count
    as in progress."""
    out = np.zeros(f.reached.shape, dtype=bool, order="F")
    for i, stage in enumerate(f.defs.stages):
        if stage.sla_days is not None:
            out[:, i] = f.buckets.in_progress[:, i] & np.isnan(f.age(i))
    return out


def unknown_age_summary(f: Funnel) -> list[tuple[str, int]]:
    """Return (stage, leads in progress there of unknown age), for stages with any."""
    counts = unknown_age(f).sum(axis=0)
    return [(s, int(c)) for s, c in zip(f.stages, counts) if c]
