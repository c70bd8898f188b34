"""The reverse waterfall (`funnelcli plan`): how many leads each stage needs to reach N at a stage.

From the step rates of the latest mature cohorts (by the period they entered the first stage,
counted as `trends` counts them, windows included), each stage before the target needs
N / (the product of the step rates from it to the target) leads, rounded up. The range comes from
a Wilson score interval on each step rate, carried through the chain: the high need takes every
step at its low bound, the low need every step at its high bound. The lead time is the median days
from the stage to the target among the cohorts' leads that reached the target, both dates the
lead's own (as velocity counts). See docs/metrics.md#plan.
"""

from __future__ import annotations

import datetime as dt
import math
from statistics import NormalDist

import numpy as np

from funnelcli.engine.funnel import DAY, Funnel
from funnelcli.errors import FunnelError, option
from funnelcli.measures import keys, trends
from funnelcli.measures.model import Column, Report, Table
from funnelcli.measures.periods import PLAN_PERIODS
from funnelcli.measures.report_parts import closing_notes, header

DEFAULT_PERIOD = "quarter"
DEFAULT_COHORTS = 3
DEFAULT_CONFIDENCE = 0.80  # per step rate; the chained range is wider than this (docs/metrics.md#plan)
_EPSILON = 1e-9  # 120 / 0.4 is 300.00000000000006 in floating point: still 300 leads


def z_score(confidence: float) -> float:
    """Return the two-sided normal quantile of a confidence level (0.8 -> 1.2816)."""
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def wilson(converted: int, reached: int, confidence: float) -> tuple[float, float]:
    """Return the Wilson score interval (low, high) of the rate converted / reached.

    With p = k/n and z the two-sided normal quantile: (p + z²/2n ± z·sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n).
    It contains p, stays within [0, 1], and is 0 (or 1) at that end when k = 0 (or k = n).
    """
    if reached <= 0:
        raise ValueError("a rate needs at least one lead")
    z = z_score(confidence)
    n, p = reached, converted / reached
    scale = 1 + z * z / n
    center = (p + z * z / (2 * n)) / scale
    half = z / scale * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    low = 0.0 if converted == 0 else max(0.0, min(p, center - half))
    high = 1.0 if converted == reached else min(1.0, max(p, center + half))
    return low, high


def leads_needed(target: int, rates: list[float]) -> list[int]:
    """Return the leads each stage needs for `target` at the last: for rates r_0..r_{t-1} of the
    steps from stage 0 to the target stage t, need_i = ceil(target / (r_i · ... · r_{t-1})), and
    need_t = target. Rates must be above 0."""
    needs = [target]
    product = 1.0
    for r in reversed(rates):
        product *= r
        needs.append(math.ceil(target / product - _EPSILON))
    return needs[::-1]


def _check(leads: int, period: str, cohorts: int, confidence: float) -> None:
    if not isinstance(leads, int) or leads < 1:
        raise FunnelError(f"{option('leads')}{leads!r}: give the leads wanted at the target stage, a whole number of at least 1")
    if period not in PLAN_PERIODS:
        raise FunnelError(f"{option('period')}{period!r}: a plan is for a {' or a '.join(PLAN_PERIODS)}")
    if not isinstance(cohorts, int) or cohorts < 1:
        raise FunnelError(f"{option('cohorts')}{cohorts!r}: give how many cohorts the rates come from, at least 1")
    if not 0.5 <= confidence < 1:
        raise FunnelError(f"{option('confidence')}{confidence!r}: give a level from 50% up to, not including, 100% (e.g. 0.8)")


def plan(f: Funnel, target: str, leads: int, period: str = DEFAULT_PERIOD, cohorts: int = DEFAULT_COHORTS,
         confidence: float = DEFAULT_CONFIDENCE) -> Report:
    """Return the reverse waterfall: the leads each stage up to `target` needs in a period for
    `leads` to reach it, with a range and the lead time to the target."""
    t = f.defs.require_stage(target, "target")
    _check(leads, period, cohorts, confidence)
    if f.as_of is None:
        raise FunnelError("a plan needs dates (for cohorts and lead times), and the export has none")
    goal = _goal(f, t, leads, period)
    if t == 0:
        return _report(f, goal, [], [], None, confidence)
    undated = trends.unknown_rates(f, 0)[0]
    if undated:  # the rates from the first stage would count only the leads that moved on (100%)
        first = f.stages[0]
        raise FunnelError(
            f"{option('target')}{target}={leads}: can't be planned from data: {undated:,} lead{'s' if undated != 1 else ''} "
            f"reached {first} with no date, there or at a later stage, so a cohort by entry into {first} holds only the "
            f"leads a later stage dates, those that moved on, and {keys.step(first, f.stages[1])} would read 100%; "
            f"give {first} a date column in the definitions")
    chosen, maturity = _mature_cohorts(f, t, period, cohorts)
    reached = _pooled(f.stages[: t + 1], chosen)
    steps = _step_rows(f.stages, reached, chosen, confidence, goal)
    used = {"period": period, "periods": [r["period"] for r in chosen], "requested": cohorts,
            "maturity_days": maturity, "leads": reached[0]}
    return _report(f, goal, steps, chosen, used, confidence)


def _goal(f: Funnel, t: int, leads: int, period: str) -> dict:
    """Return the target: the stage, the leads, and the period it is for (the one after the as-of date's)."""
    as_of = np.array([f.as_of.date()], dtype="datetime64[D]")
    number = int(trends.period_of(as_of, period)[0]) + 1
    first, last = trends.period_bounds(number, period)
    return {"stage": f.stages[t], "index": t, "leads": leads, "period": period,
            "label": trends.period_label(number, period), "start": first, "end": last}


def _mature_cohorts(f: Funnel, t: int, period: str, cohorts: int) -> tuple[list[dict], float]:
    """Return the last `cohorts` cohort rows with leads that are mature for the path from the first
    stage to stage t, oldest first, and that path's maturity in days; raise when there are none."""
    rows, _ = trends.cohort_rows(f, period, 0, None, None, None, velocity=False)
    flag = keys.immature_key(keys.rate_key(f.stages[t - 1], f.stages[t]))
    maturity = trends.path_maturity(f, 0, t, None)
    mature = [r for r in rows if not r[flag] and r[keys.COHORT] > 0]
    if not mature:
        first = f.stages[0]
        latest = f"{f.as_of - dt.timedelta(days=maturity):%Y-%m-%d}"
        shorter = f", a shorter {option('period')}'month'" if period != "month" else ""
        found = f"the {period}s with leads are {rows[0]['period']} to {rows[-1]['period']}" if rows else f"no lead had reached {first} by then"
        raise FunnelError(
            f"no {period}'s cohort is mature for {keys.step(first, f.stages[t])} yet: a {period} must have ended "
            f"{maturity:g} days before the as-of date {f.as_of:%Y-%m-%d} (by {latest}), and {found}; "
            f"give a later {option('as_of')}{shorter}, or a target stage nearer {first}")
    return mature[-cohorts:], maturity


def _pooled(stages: tuple[str, ...], chosen: list[dict]) -> list[int]:
    """Return the leads of the chosen cohorts that reached each stage (the first: the cohorts' size)."""
    columns = [keys.COHORT] + [keys.reached_key(s) for s in stages[1:]]
    return [sum(int(r[c]) for r in chosen) for c in columns]


def _step_rows(stages: tuple[str, ...], reached: list[int], chosen: list[dict], confidence: float, goal: dict) -> list[dict]:
    """Return a row per step up to the target: its counts, rate and interval; raise for a rate of 0."""
    rows = []
    for j in range(len(reached) - 1):
        k, n = reached[j + 1], reached[j]
        a, b = stages[j], stages[j + 1]
        if k == 0:
            periods = f"cohort {chosen[0]['period']}" if len(chosen) == 1 else f"cohorts {chosen[0]['period']} to {chosen[-1]['period']}"
            raise FunnelError(
                f"{option('target')}{goal['stage']}={goal['leads']}: can't be planned from data: none of the {n:,} "
                f"lead{'s' if n != 1 else ''} of the {periods} that reached {a} reached {b} (a rate of 0 needs "
                f"infinitely many); take more "
                f"cohorts ({option('cohorts')}N), or a target stage before {b}")
        low, high = wilson(k, n, confidence)
        rows.append({"step": keys.step(a, b), "from": a, "to": b, "converted": k, "reached": n,
                     "rate": k / n, "rate_low": low, "rate_high": high})
    return rows


def _lead_times(f: Funnel, t: int, period: str, chosen: list[dict]) -> list[tuple[float | None, int]]:
    """Return per stage up to t: (median days from it to stage t, leads measured), among the chosen
    cohorts' leads counted at t, both dates their own; (0, leads at t) for t itself."""
    counted = trends.counted_chain(f, 0, None)[t]  # the leads the cohort rows count at t (windows applied)
    days0 = f.date[:, 0]
    numbers = [trends.period_of(np.array([r["period_start"]], dtype="datetime64[D]"), period)[0] for r in chosen]
    inside = counted & ~np.isnat(days0) & np.isin(trends.period_of(days0, period), numbers)
    out = []
    for i in range(t):
        own = inside & f.own_dated(i) & f.own_dated(t)
        days = (f.date[own, t] - f.date[own, i]) / DAY
        out.append((float(np.median(days)) if len(days) else None, int(len(days))))
    out.append((0.0, int(inside.sum())))
    return out


def _need_rows(f: Funnel, goal: dict, steps: list[dict], chosen: list[dict]) -> list[dict]:
    """Return a row per stage up to the target: the leads needed (and the range), the lead time,
    and when the leads must arrive for the target period."""
    t = goal["index"]
    need = leads_needed(goal["leads"], [s["rate"] for s in steps])
    low = leads_needed(goal["leads"], [s["rate_high"] for s in steps])  # the best rates need the fewest leads
    high = leads_needed(goal["leads"], [s["rate_low"] for s in steps])
    times = _lead_times(f, t, goal["period"], chosen) if t else [(0.0, 0)]
    rows = []
    for i in range(t + 1):
        median, timed = times[i]
        shift = None if median is None else dt.timedelta(days=math.floor(median + 0.5))  # whole days, half up
        rows.append({
            "stage": f.stages[i], "need": need[i], "need_low": low[i], "need_high": high[i],
            "cumulative_rate": math.prod(s["rate"] for s in steps[i:]),
            "median_days_to_target": median, "leads_timed": timed,
            "arrive_from": None if shift is None else (goal["start"] - shift).isoformat(),
            "arrive_by": None if shift is None else (goal["end"] - shift).isoformat(),
        })
    return rows


def _summary(goal: dict, first: dict, as_of: dt.date) -> str:
    """Return the plan in one sentence, from the first stage's row."""
    when = f"in {goal['label']} (the {goal['period']} after the as-of date)"
    if goal["index"] == 0:
        return (f"To reach {goal['leads']:,} {goal['stage']} {when}, {goal['leads']:,} leads must enter {goal['stage']}, "
                "the first stage: there is no rate to plan with.")
    text = f"To reach {goal['leads']:,} {goal['stage']} {when}: about {first['need']:,} {first['stage']}"
    text += f" ({first['need_low']:,} to {first['need_high']:,})"
    if first["median_days_to_target"] is None:
        return text + (f"; the lead time is unknown: no lead of the cohorts has dates of its own at both "
                       f"{first['stage']} and {goal['stage']}.")
    days = first["median_days_to_target"]
    text += (f", arriving from about {first['arrive_from']} to {first['arrive_by']} "
             f"({days:g} days ahead: the median from {first['stage']} to {goal['stage']})")
    if dt.date.fromisoformat(first["arrive_from"]) <= as_of:
        text += f"; under way already at the as-of date {as_of}"
    return text + "."


def _percent(confidence: float) -> str:
    return f"{confidence * 100:g}%"


def _report(f: Funnel, goal: dict, steps: list[dict], chosen: list[dict], used: dict | None, confidence: float) -> Report:
    need_rows = _need_rows(f, goal, steps, chosen)
    meta, data = header(f)
    title = f"Plan: {goal['leads']:,} {goal['stage']} in a {goal['period']}"
    meta = [(label, _cohorts_line(f, goal, used) if label == "Cohorts" else text) for label, text in meta]
    meta.insert(0, ("Summary", _summary(goal, need_rows[0], f.as_of.date())))
    meta.append(("Target", f"{goal['leads']:,} {goal['stage']} in {goal['label']} ({goal['start']} to {goal['end']})"))
    z = z_score(confidence)
    if steps:
        meta.append(("Range", f"each step rate's Wilson score interval at {_percent(confidence)} (z = {z:.4f}); "
                              "Low needs take every rate at its high bound, High needs every rate at its low bound"))
    data.update(title=title, target={"stage": goal["stage"], "leads": goal["leads"], "period": goal["period"],
                                     "period_label": goal["label"], "period_start": goal["start"].isoformat(),
                                     "period_end": goal["end"].isoformat()},
                interval={"method": "wilson", "confidence": confidence, "z": z}, cohorts_used=used)
    tables = [_needs_table(goal, need_rows, confidence)]
    if steps:
        tables += [_rates_table(steps, confidence), _cohorts_table(f, goal, chosen)]
    return Report("plan", title, meta, tables, closing_notes(f), data, main="needs")


def _cohorts_line(f: Funnel, goal: dict, used: dict | None) -> str:
    first = f.stages[0]
    if used is None:
        return f"none: {goal['stage']} is the first stage, so its leads are the target itself"
    n, period = len(used["periods"]), used["period"]
    span = used["periods"][0] if n == 1 else f"{used['periods'][0]} to {used['periods'][-1]}"
    text = (f"the last {n} {period}{'s' if n != 1 else ''} by entry into {first} mature for "
            f"{keys.step(first, goal['stage'])} ({used['maturity_days']:g} days after the {period}'s last day): "
            f"{span}, {used['leads']:,} leads")
    if n < used["requested"]:
        text += f" (asked for {used['requested']}: only {n} {'is' if n == 1 else 'are'} mature)"
    if f.since or f.until:
        text += f"; among the leads that reached {first} from {f.since or 'the start'} to {f.until or f'{f.as_of:%Y-%m-%d}'}"
    return text


def _needs_table(goal: dict, rows: list[dict], confidence: float) -> Table:
    target = goal["stage"]
    cols = [Column("stage", "Stage"), Column("need", "Needed", "count"), Column("need_low", "Low", "count"),
            Column("need_high", "High", "count"), Column("cumulative_rate", f"Rate to {target}", "rate", extra=True),
            Column("median_days_to_target", f"Days to {target}", "days"),
            Column("leads_timed", "Leads timed", "count", extra=True),
            Column("arrive_from", "Arrive from", priority=2), Column("arrive_by", "Arrive by", priority=2)]
    if not goal["index"]:
        return Table("needs", f"Leads needed for {goal['leads']:,} {target} in {goal['label']}", cols, rows,
                     [f"{target} is the first stage: the leads it needs are the target itself."])
    notes = [f"Needed: leads entering the stage for {goal['leads']:,} {target}: the target divided by the step rates "
             f"from the stage to {target}, rounded up. Low and High: the same with every rate at the high, or the low, end "
             f"of its {_percent(confidence)} interval at once (a range wider than any one step's)."]
    notes.append(f"Days to {target}: the median days from the stage to {target} among the cohorts' leads that "
                 f"reached {target}, both dates the lead's own. Arrive from/by: {goal['label']}'s first and last "
                 f"days moved back by that median: at the median pace, leads entering then reach {target} in "
                 f"{goal['label']}.")
    return Table("needs", f"Leads needed for {goal['leads']:,} {target} in {goal['label']}", cols, rows, notes)


def _rates_table(steps: list[dict], confidence: float) -> Table:
    cols = [Column("step", "Step"), Column("from", "From", hidden=True), Column("to", "To", hidden=True),
            Column("converted", "Converted", "count"), Column("reached", "Of", "count"), Column("rate", "Rate", "rate"),
            Column("rate_low", "Low", "rate"), Column("rate_high", "High", "rate")]
    return Table("rates", "Step rates of the cohorts", cols, steps, [
        f"Rate: converted / reached, pooled over the cohorts used. Low and High: the {_percent(confidence)} Wilson "
        "score interval."])


def _cohorts_table(f: Funnel, goal: dict, chosen: list[dict]) -> Table:
    stages = f.stages[: goal["index"] + 1]
    partial = any(r["partial"] for r in chosen)
    cols = [Column("period", "Period")] + ([Column("partial", "Note", "flag", flag="partial")] if partial else [])
    cols.append(Column(keys.COHORT, f"Entered {stages[0]}", "count"))
    cols += [Column(keys.reached_key(s), s, "count") for s in stages[1:]]
    rows = [{c.key: r[c.key] for c in cols} for r in chosen]
    notes = [f"Cohort: the leads entering {stages[0]} in the period; each later column counts those of them that "
             f"reached the stage by {f.as_of:%Y-%m-%d} (within the window, if any), as trends counts them."]
    if partial:
        notes.append("partial: the period is only partly covered by the data.")
    return Table("cohorts", "Cohorts used", cols, rows, notes)
