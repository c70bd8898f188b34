"""Monthly (weekly, quarterly) trends: cohort tables with maturity, flow tables, change.

Cohort counting groups leads by the period they entered the first stage (or --from-stage) and
counts their conversions up to the as-of date; a cohort's rate is immature while the cohort is
younger than the transition's window: its rate is still rising (docs/metrics.md#maturity). Flow
counting counts the leads entering each stage in each period, whoever they are: no rates.
Periods are calendar periods of the definitions' timezone (dates are already local days);
weeks start on Monday (ISO weeks).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from funnelcli.engine.funnel import DAY, Funnel
from funnelcli.engine.groups import group_by, group_order, number, rate
from funnelcli.measures import keys
from funnelcli.measures.model import rate_change
from funnelcli.measures.periods import PERIODS  # noqa: F401  (trends.PERIODS: the periods trends count in)

DEFAULT_MATURITY_DAYS = 90
EPOCH = dt.date(1970, 1, 1)  # a Thursday: ISO weeks start 3 days before it


# --------------------------------------------------------------------------------------------
# Periods as integers (months, weeks or quarters since 1970)


def period_of(days: np.ndarray, period: str) -> np.ndarray:
    """Return the period number of each day (datetime64[D]); NaT gives a meaningless number."""
    if period == "month":
        return days.astype("datetime64[M]").astype(np.int64)
    if period == "quarter":
        return days.astype("datetime64[M]").astype(np.int64) // 3
    return (days.astype(np.int64) + 3) // 7  # Monday-based weeks


def period_bounds(number_: int, period: str) -> tuple[dt.date, dt.date]:
    """Return the first and last day of a period number."""
    if period == "week":
        first = EPOCH + dt.timedelta(days=number_ * 7 - 3)
        return first, first + dt.timedelta(days=6)
    months = number_ * 3 if period == "quarter" else number_
    span = 3 if period == "quarter" else 1
    first = dt.date(1970 + months // 12, months % 12 + 1, 1)
    after = months + span
    last = dt.date(1970 + after // 12, after % 12 + 1, 1) - dt.timedelta(days=1)
    return first, last


def period_label(number_: int, period: str) -> str:
    first, _ = period_bounds(number_, period)
    if period == "month":
        return f"{first:%Y-%m}"
    if period == "quarter":
        return f"{first.year}-Q{(first.month - 1) // 3 + 1}"
    year, week, _ = first.isocalendar()
    return f"{year}-W{week:02d}"


@dataclass
class Range:
    """The periods a table covers, and where the data starts and ends within them."""

    period: str
    first: int
    last: int
    covered_from: dt.date
    covered_to: dt.date

    @property
    def numbers(self) -> range:
        return range(self.first, self.last + 1)

    def row_start(self, number_: int) -> dict:
        first, last = period_bounds(number_, self.period)
        partial = first < self.covered_from or last > self.covered_to
        return {"period": period_label(number_, self.period), "period_start": first.isoformat(),
                "period_end": last.isoformat(), "partial": partial}


def make_range(period: str, dates: np.ndarray, as_of: dt.date, since: dt.date | None, until: dt.date | None,
               last: int | None) -> Range | None:
    """Return the periods from the first date (or --since) to the as-of date (or --until).

    With `last`, only the last N periods. None when there is nothing to show.
    """
    known = dates[~np.isnat(dates)]
    start = since or (known.min().astype(dt.date) if len(known) else None)
    end = min(until, as_of) if until else as_of
    if start is None or start > end:
        return None
    first = int(period_of(np.array([start], dtype="datetime64[D]"), period)[0])
    final = int(period_of(np.array([end], dtype="datetime64[D]"), period)[0])
    if last:
        first = max(first, final - last + 1)
    return Range(period, first, final, start, end)


# --------------------------------------------------------------------------------------------
# Windows and maturity


def window(f: Funnel, i: int, override: float | None) -> float | None:
    """Return the conversion window of stage i to the next (None: any time counts)."""
    return override if override is not None else f.defs.stages[i].window_days


def maturity_days(f: Funnel, i: int, override: float | None) -> float:
    """Return the maturity of the step from stage i to the next: its window, else stage i's SLA,
    else 90 days (docs/metrics.md#maturity)."""
    explicit = window(f, i, override)
    if explicit is not None:
        return explicit
    sla = f.defs.stages[i].sla_days
    return sla if sla is not None else DEFAULT_MATURITY_DAYS


def path_maturity(f: Funnel, start: int, to: int, override: float | None) -> float:
    """Return how old a cohort formed at stage `start` must be for its rate into stage `to` to
    be final: the steps' maturities added up. A cohort formed at stage S only reaches S+1 over
    the first step's window, and each later step starts from there."""
    return sum(maturity_days(f, i, override) for i in range(start, to))


def counted_chain(f: Funnel, start: int, override: float | None) -> list[np.ndarray]:
    """Return, for each stage from `start`, which leads count as having reached it.

    A conversion counts when the next stage came within the window of the stage before (if
    there is a window), both stages dated by the lead's own evidence: a window is a duration,
    and a borrowed date (a skipped stage's, or a status stage's) would make it 0 days or stretch
    it (docs/metrics.md#velocity); such a conversion can't be checked and doesn't count. Each
    stage counts only leads counted at the previous one, so a cohort's counts never increase
    down the stages.
    """
    counted = [f.reached[:, start] & ~np.isnat(f.date[:, start])]
    for i in range(start, len(f.stages) - 1):
        nxt = counted[-1] & f.reached[:, i + 1]
        limit = window(f, i, override)
        if limit is not None:
            nxt &= _checkable(f, i)
            with np.errstate(invalid="ignore"):
                nxt &= (f.date[:, i + 1] - f.date[:, i]) / DAY <= limit
        counted.append(nxt)
    return counted


def _checkable(f: Funnel, i: int) -> np.ndarray:
    """Return which leads have the step from stage i to the next dated at both ends by their own
    evidence: a window can be checked for them only."""
    return f.own_dated(i) & f.own_dated(i + 1)


# --------------------------------------------------------------------------------------------
# Tables


def _codes(days: np.ndarray, mask: np.ndarray, rng: Range) -> tuple[np.ndarray, np.ndarray]:
    """Return (which masked leads fall inside the range, their period index within it): in one of
    its periods, and between the days it covers (a quarter cut by --since counts from that day)."""
    codes = period_of(days, rng.period) - rng.first
    inside = mask & ~np.isnat(days) & (codes >= 0) & (codes <= rng.last - rng.first)
    inside &= (days >= np.datetime64(rng.covered_from, "D")) & (days <= np.datetime64(rng.covered_to, "D"))
    return inside, codes


def cohort_rows(f: Funnel, period: str, start: int = 0, window_override: float | None = None,
                last: int | None = None, by: str | None = None, velocity: bool = True) -> tuple[list[dict], Range | None]:
    """Return the cohort table: per period (and group), cohort size, reached, rates, and (with
    `velocity`) the median days of each transition."""
    if f.as_of is None:  # no dates: no periods (docs/metrics.md#exports-with-no-dates)
        return [], None
    stages = f.stages[start:]
    cohort_days = f.date[:, start]
    rng = make_range(period, cohort_days[f.reached[:, start]], f.as_of.date(), f.since, f.until, last)
    if rng is None:
        return [], None
    counted = counted_chain(f, start, window_override)
    unknown = unknown_rates(f, start)
    inside, codes = _codes(cohort_days, counted[0], rng)
    groups = group_by(f, by)
    size = rng.last - rng.first + 1
    key = groups.codes.astype(np.int64) * size + codes
    total = groups.size * size

    def tally(mask: np.ndarray) -> np.ndarray:
        return np.bincount(key[mask & inside], minlength=total).reshape(groups.size, size)

    reached = [tally(m) for m in counted]
    medians = []
    for j in range(len(stages) - 1 if velocity else 0):
        days = f.days_to_next(start + j)  # between the lead's own dates only
        ok = counted[j + 1] & inside & ~np.isnan(days)
        medians.append(_group_medians(key[ok], days[ok], total).reshape(groups.size, size))
    as_of = f.as_of.date()
    # the maturity of each step's rate, for cohorts formed at `start`
    maturity = [path_maturity(f, start, start + j + 1, window_override) for j in range(len(stages) - 1)]
    rows = []
    for g in group_order(groups, reached[0].sum(axis=1)):
        for p, number_ in enumerate(rng.numbers):
            row = {"group": groups.labels[g]} if by else {}
            row.update(rng.row_start(number_))
            age = (as_of - period_bounds(number_, period)[1]).days
            row.update(_cohort_counts(stages, [int(r[g, p]) for r in reached], age, maturity, unknown))
            for j, median in enumerate(medians):
                row[keys.median_days_key(stages[j], stages[j + 1])] = number(median[g, p])
            rows.append(row)
    steps = list(zip(stages, stages[1:]))
    _add_changes(rows, [keys.rate_key(a, b) for a, b in steps] + ([keys.CUMULATIVE_RATE] if steps else []))
    return rows, rng


def _cohort_counts(stages: tuple[str, ...], reached: list[int], age: int, maturity: list[float],
                   unknown: list[int]) -> dict:
    """Return one cohort's size, reached, rates and immature flags, in the table's column order.

    `reached` counts the cohort's leads at each stage, `age` is the cohort's days since its last
    day and `maturity` the days each step's rate needs to be final. A rate from a stage some
    leads reached with no date to place them (`unknown`, per stage) is unknown: None.
    """
    row = {keys.COHORT: reached[0]}
    for stage, n in zip(stages[1:], reached[1:]):
        row[keys.reached_key(stage)] = n
    for j, (a, b) in enumerate(zip(stages, stages[1:])):
        key = keys.rate_key(a, b)
        row[key] = None if unknown[j] else rate(reached[j + 1], reached[j])
        row[keys.immature_key(key)] = age < maturity[j]
    if len(stages) > 1:
        row[keys.CUMULATIVE_RATE] = None if unknown[0] else rate(reached[-1], reached[0])
        row[keys.IMMATURE_CUMULATIVE] = age < maturity[-1]
    return row


def unknown_rates(f: Funnel, start: int) -> list[int]:
    """Return, per stage from `start`, the leads that reached it with no date to place them in a
    cohort formed at `start` (none there nor at a later stage; a cohort range has left them out
    of the report already, so they are counted from `f.undated_out_of_range`): where there are some, the
    stage's cohort rates are unknown. Those a later stage dates are in a cohort, those it doesn't
    in none, so its cohorts would hold only leads that moved on: a rate of 100% by construction
    (a first stage with no rule, a status stage as the cohort stage)."""
    if f.as_of is None:
        return [0] * (len(f.stages) - start)
    placed = ~np.isnat(f.date[:, start])
    left_out = f.undated_out_of_range if start == f.cohort_stage and f.undated_out_of_range is not None else None
    return [int(np.count_nonzero(f.reached[:, i] & ~placed)) + (int(left_out[i]) if left_out is not None else 0)
            for i in range(start, len(f.stages))]


def _group_medians(codes: np.ndarray, values: np.ndarray, total: int) -> np.ndarray:
    """Return the median of the values of each code 0..total-1 (NaN for codes without values)."""
    out = np.full(total, np.nan)
    if len(codes):
        medians = pd.Series(values, dtype="float64").groupby(codes).median()
        out[medians.index.to_numpy()] = medians.to_numpy()
    return out


def _add_changes(rows: list[dict], rates: list[str]) -> None:
    """Add each mature rate's change from the previous period's mature rate (None otherwise)."""
    previous: dict = {}
    for row in rows:
        group = row.get("group")
        for key in rates:
            value = row[key]
            # an immature rate is still rising: comparing it would show a fall that isn't one
            mature = value is not None and not row[keys.immature_key(key)]
            before = previous.get((group, key))
            row[keys.change_key(key)] = rate_change(value, before) if mature else None
            previous[(group, key)] = value if mature else None


def flow_rows(f: Funnel, period: str, last: int | None = None, by: str | None = None,
              since: dt.date | None = None, until: dt.date | None = None) -> tuple[list[dict], Range | None]:
    """Return the flow table: per period (and group), the leads entering each stage on a date the
    lead has there (leads reached with no date are not counted: see undated_entries)."""
    if f.as_of is None:
        return [], None
    earliest = [f.date[:, i][f.reached[:, i]] for i in range(len(f.stages))]
    earliest = np.array([d[~np.isnat(d)].min() for d in earliest if (~np.isnat(d)).any()], dtype="datetime64[D]")
    rng = make_range(period, earliest, f.as_of.date(), since, until, last)
    if rng is None:
        return [], None
    groups = group_by(f, by)
    size = rng.last - rng.first + 1
    counts = []
    for i in range(len(f.stages)):
        inside, codes = _codes(f.date[:, i], f.reached[:, i], rng)
        key = groups.codes.astype(np.int64) * size + codes
        counts.append(np.bincount(key[inside], minlength=groups.size * size).reshape(groups.size, size))
    rows = []
    previous: dict = {}
    for g in group_order(groups, counts[0].sum(axis=1)):
        for p, number_ in enumerate(rng.numbers):
            row = {"group": groups.labels[g]} if by else {}
            row.update(rng.row_start(number_))
            for i, stage in enumerate(f.stages):
                n = int(counts[i][g, p])
                row[keys.entered_key(stage)] = n
                # a partial period's count is not comparable with a whole one's
                before = previous.get((g, i))
                row[keys.change_key(stage)] = n - before if before is not None and not row["partial"] else None
                previous[(g, i)] = None if row["partial"] else n
            rows.append(row)
    return rows, rng


# --------------------------------------------------------------------------------------------
# The latest change of each measure, and its series (render.py draws it as a sparkline)


def summary(rows: list[dict], measures: list[tuple[str, str, str]], by: str | None) -> list[dict]:
    """Return per measure (and group): the latest usable value, the previous, the change, and
    the series for a sparkline. A measure is (key, label, kind: "rate" or "count"); a rate is
    usable when mature, a count when its period is whole."""
    out = []
    groups = list(dict.fromkeys(r.get("group") for r in rows))
    for group in groups:
        mine = [r for r in rows if r.get("group") == group]
        for key, label, kind in measures:
            series = []
            for r in mine:
                usable = not r["partial"] if kind == "count" else not r.get(keys.immature_key(key), False)
                series.append(r[key] if usable else None)
            points = [(r["period"], v) for r, v in zip(mine, series) if v is not None]
            latest = points[-1] if points else (None, None)
            before = points[-2] if len(points) > 1 else (None, None)
            row = {"group": group} if by else {}
            row.update({
                "measure": label,
                "kind": kind,
                "latest_period": latest[0],
                "latest": latest[1],
                "previous_period": before[0],
                "previous": before[1],
                "change": (rate_change(latest[1], before[1]) if kind == "rate"
                           else latest[1] - before[1] if latest[1] is not None and before[1] is not None else None),
                "series": series,
            })
            out.append(row)
    return out


def cohort_gaps(f: Funnel, start: int, override: float | None, first_day: dt.date | None = None) -> tuple[int, list[tuple[str, int]]]:
    """Return what cohort tables can't count, for their notes: the leads that reached the cohort
    stage with no date there (nor at a later stage: no cohort holds them), and per step with a
    window, the conversions it can't check because a date is unknown or not the lead's own
    (`_checkable`; they don't count), among
    the cohorts from `first_day` on (the periods a table shows)."""
    days, none = f.date.days, f.date.NONE  # a column at a time: no matrix beside the funnel's
    no_cohort = int(np.count_nonzero(f.reached[:, start] & (days[:, start] == none)))
    steps = [i for i in range(start, len(f.stages) - 1) if window(f, i, override) is not None]
    if not steps:  # no window: every conversion counts, with a date or not
        return no_cohort, []
    counted, unchecked = counted_chain(f, start, override), []
    shown = days[:, start] >= (first_day - EPOCH).days if first_day is not None else True
    for i in steps:
        unknown = ~_checkable(f, i)
        n = int(np.count_nonzero(counted[i - start] & shown & f.reached[:, i + 1] & unknown))
        if n:
            unchecked.append((keys.step(f.stages[i], f.stages[i + 1]), n))
    return no_cohort, unchecked


def undated_entries(f: Funnel) -> list[tuple[str, int]]:
    """Return (stage, leads that reached it with no date at all), which no period can count."""
    counts = (f.reached & f.date.missing()).sum(axis=0)
    return [(s, int(c)) for s, c in zip(f.stages, counts) if c]


def undated_note(f: Funnel) -> str | None:
    """Return the flow tables' note of the leads they can't count (undated_entries), or None."""
    undated = undated_entries(f)
    if not undated:
        return None
    return f"Not counted (reached with no date, here or at a later stage): {', '.join(f'{s} {n:,}' for s, n in undated)}."
