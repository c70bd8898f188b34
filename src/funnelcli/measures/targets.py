"""Targets: the agreed goals, met or missed.

A rate target `A->B: 0.8` asks that at least 80% of the leads that reached A reach B (for next
stages the step rate, otherwise the rate across the stages between). A stuck target
`A stuck: {max: 0.1}` asks that at most 10% of the leads that reached A be stuck there.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from funnelcli.definitions import Target
from funnelcli.engine.funnel import Funnel
from funnelcli.engine.groups import rate
from funnelcli.measures import keys
from funnelcli.measures.model import half_up

MET, MISSED, NO_DATA = "met", "missed", "no data"


def _status(target: Target, actual: float | None) -> str:
    if actual is None:
        return NO_DATA
    if target.minimum is not None and actual < target.minimum:
        return MISSED
    if target.maximum is not None and actual > target.maximum:
        return MISSED
    return MET


def _goal(target: Target) -> str:
    """Return the goal as the definitions give it, in percent (0.515 -> '>= 51.5%', 0.8 -> '>= 80%';
    '57.1%' in the definitions, 0.5710000000000001 as a float, -> '>= 57.1%')."""
    value = target.minimum if target.minimum is not None else target.maximum
    shown = f"{half_up(value, 4, scale=2).normalize():f}"
    return f"{'>=' if target.minimum is not None else '<='} {shown}%"


def _row(target: Target, actual: float | None, basis: str, numerator: int | None, denominator: int | None) -> dict:
    return {
        "target": target.key,
        "kind": target.kind,
        "goal": _goal(target),
        "minimum": target.minimum,
        "maximum": target.maximum,
        "actual": actual,
        "numerator": numerator,
        "denominator": denominator,
        "basis": basis,
        "status": _status(target, actual),
    }


def _unknown_row(f: Funnel, target: Target, undated: int) -> dict:
    """Return a rate target that can't be checked: some leads reached its first stage with no date
    to tell their age (trends.unknown_rates), and only those that moved on have one."""
    leads = f"{undated:,} lead{'s' if undated != 1 else ''}"
    return _row(target, None, f"unknown: {leads} reached {target.stage} with no date to tell their age", None, None)


def stuck_row(f: Funnel, target: Target) -> dict:
    """Return a stuck target checked on the leads in the report at the as-of date."""
    i = f.defs.stage_index(target.stage)
    stuck = int(f.buckets.stuck[:, i].sum())
    reached = int(f.reached[:, i].sum())
    basis = f"stuck at {f.as_of:%Y-%m-%d}" if f.as_of is not None else "stuck (no dates: none can be)"
    return _row(target, rate(stuck, reached), basis, stuck, reached)


def evaluate(f: Funnel) -> list[dict]:
    """Return every target checked on the report's leads old enough for each rate to be final.

    A rate into stage B is final for leads that entered the first stage at least the maturity
    of the steps up to B before the as-of date (trends.path_maturity): younger leads are still
    converting, and counting them would miss a target that is being met. A step with a
    conversion window counts only the conversions within it, as trends and report count them.
    """
    from funnelcli.measures.trends import counted_chain, path_maturity, unknown_rates

    rows = []
    first = f.date[:, 0]
    counted = counted_chain(f, 0, None)  # per stage, the leads that count as reaching it: within each step's window
    unknown = unknown_rates(f, 0)
    for target in f.defs.targets:
        if target.kind == "stuck":
            rows.append(stuck_row(f, target))
            continue
        a, b = f.defs.stage_index(target.stage), f.defs.stage_index(target.to_stage)
        if unknown[a]:
            rows.append(_unknown_row(f, target, unknown[a]))
            continue
        if f.as_of is None:  # no dates: no maturity to wait for, every lead counts
            reached_a, reached_b = int(f.reached[:, a].sum()), int(f.reached[:, b].sum())
            rows.append(_row(target, rate(reached_b, reached_a), "every lead (the export has no dates)", reached_b, reached_a))
            continue
        cutoff = (f.as_of - dt.timedelta(days=path_maturity(f, 0, b, None))).date()
        old_enough = first <= np.datetime64(cutoff, "D")
        reached_a, reached_b = int((counted[a] & old_enough).sum()), int((counted[b] & old_enough).sum())
        basis = f"entered {f.stages[0]} by {cutoff:%Y-%m-%d}"  # the leads old enough: the note says why
        rows.append(_row(target, rate(reached_b, reached_a), basis, reached_b, reached_a))
    return rows


def evaluate_latest_mature(f: Funnel, cohort_rows: list[dict]) -> list[dict]:
    """Return every target checked on the latest cohort mature for its rate (stuck targets: now).

    `cohort_rows` is trends.cohort_rows(f, period) (no grouping).
    """
    from funnelcli.measures.trends import path_maturity, unknown_rates

    if f.as_of is None:
        return evaluate(f)
    rows = []
    as_of = f.as_of.date()
    unknown = unknown_rates(f, 0)
    for target in f.defs.targets:
        if target.kind == "stuck":
            rows.append(stuck_row(f, target))
            continue
        a, b = f.defs.stage_index(target.stage), f.defs.stage_index(target.to_stage)
        if unknown[a]:
            rows.append(_unknown_row(f, target, unknown[a]))
            continue
        needed = path_maturity(f, 0, b, None)  # the cohorts are formed at the first stage
        first, last = f.stages[a], f.stages[b]
        key_a = keys.COHORT if a == 0 else keys.reached_key(first)
        chosen = None
        for row in reversed(cohort_rows):
            mature = (as_of - dt.date.fromisoformat(row["period_end"])).days >= needed
            if mature and row[key_a]:
                chosen = row
                break
        if chosen is None:
            rows.append(_row(target, None, "no mature cohort yet", None, None))
            continue
        n_a, n_b = chosen[key_a], chosen[keys.reached_key(last)]
        rows.append(_row(target, rate(n_b, n_a), f"cohort {chosen['period']} (latest mature)", n_b, n_a))
    return rows
