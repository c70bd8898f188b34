"""Trends' report: the cohort table with its maturity (or the flow table), the median days per
transition, and the latest change of each measure; and the rate columns the digest shares.
"""

from __future__ import annotations

import datetime as dt

from funnelcli.engine.funnel import Funnel
from funnelcli.measures import keys
from funnelcli.measures.model import Column, ColumnNotes, Report, Table, Uncounted
from funnelcli.measures.report_parts import closing_notes, header, no_days_reason, title_case

_PARTIAL_NOTE = "partial: the period is only partly covered by the data, or cut by the range (--since, --until) or the as-of date."


def trends(f: Funnel, period: str = "month", counting: str = "cohort", window_days: float | None = None,
           last: int | None = None, by: str | None = None, since=None, until=None) -> Report:
    """Return the cohort table (with maturity) or the flow table, and the latest change of each measure.

    Cohorts form at the funnel's cohort stage (the first, or trends --from-stage).
    """
    from funnelcli.measures import trends as measures

    meta, data = header(f, counting=counting, by=by)
    tz = f.defs.timezone
    meta.append(("Periods", f"{period}s in {tz}" + (" (ISO weeks, from Monday)" if period == "week" else "")
                 + (f", the last {last}" if last else "")))
    data.update(period=period, last=last, timezone=tz)
    # every table of the report starts with the group (with --by), the period and its note
    group_col = [Column("group", title_case(by), "group")] if by else []
    lead_cols = group_col + [Column("period", "Period"), Column("partial", "Note", "flag", flag="partial")]
    if counting == "flow":
        title = "Trends: leads entering each stage"
        every, rng = measures.flow_rows(f, period, None, by, since, until)
        rows = _last_periods(every, last)
        if since or until:  # the range bounds the stage entries, not the cohorts: replaces the Cohorts line
            meta[3] = ("Range", f"stage entries from {since or 'the start'} to {until or data['as_of']}")
        tables = [_flow_table(f, rows, lead_cols)]
        summary_measures = [(keys.entered_key(s), f"Entered {s}", "count") for s in f.stages]
    else:
        title = "Trends: conversion by cohort"
        every, rng = measures.cohort_rows(f, period, f.cohort_stage, window_days, None, by)
        rows = _last_periods(every, last)
        stages = f.stages[f.cohort_stage:]
        meta += _windows_and_maturity(f, window_days) if f.as_of is not None else []
        data["windows"] = {keys.step(a, b): measures.window(f, f.cohort_stage + j, window_days)
                           for j, (a, b) in enumerate(zip(stages, stages[1:]))}
        data["from_stage"] = stages[0]
        tables = _cohort_tables(stages, rows, lead_cols, no_days_reason(f))
        summary_measures = [(keys.COHORT, f"Entered {stages[0]}", "count")] + rate_measures(stages, " (cumulative)")
    data["title"] = title
    if rng is not None:
        data["range"] = {"first": rows[0]["period"], "last": rows[-1]["period"]} if rows else None
    notes = closing_notes(f)
    if f.as_of is None:  # one line that says why, not empty tables
        return Report("trends", title, meta, [], ["No trends: the export has no dates, and trends count leads by "
                                                  "the period they entered a stage."] + notes, data)
    undated = measures.undated_note(f)
    if undated and counting == "flow":
        tables[0].notes.append(undated)
    if counting != "flow":  # among the periods shown (--last N)
        first_day = dt.date.fromisoformat(rows[0]["period_start"]) if last and rows else None
        tables[0].notes += cohort_gap_notes(f, window_days, first_day=first_day)
    # the latest change looks back over every period, not only the last N shown: --last 2 still
    # has the mature cohort before them; its sparkline covers the periods of the table
    summary = measures.summary(every, summary_measures, by)
    shown = len({r["period"] for r in rows})
    for row in summary:
        row["series"] = row["series"][-shown:] if shown else []
    tables.append(_latest_change_table(summary, group_col, counting))
    return Report("trends", title, meta, tables, notes, data)


def _last_periods(rows: list[dict], last: int | None) -> list[dict]:
    """Return the rows of the last `last` periods (all without `last`), every group's."""
    if not last:
        return rows
    keep = set(list(dict.fromkeys(r["period"] for r in sorted(rows, key=lambda r: r["period_start"])))[-last:])
    return [r for r in rows if r["period"] in keep]


def _flow_table(f: Funnel, rows: list[dict], lead_cols: list[Column]) -> Table:
    """Return the flow table: the leads entering each stage per period, with hidden changes."""
    cols = lead_cols + [Column(keys.entered_key(s), s, "count") for s in f.stages]
    cols += [Column(keys.change_key(s), f"{s} change", "delta", hidden=True) for s in f.stages]
    return Table("flow", None, cols, rows, [
        "Flow: leads entering each stage in each period, whoever they are (by the stage's date); "
        "flow numbers are not rates.", _PARTIAL_NOTE])


def _windows_and_maturity(f: Funnel, window_days: float | None) -> list[tuple[str, str]]:
    """Return the header lines of a cohort table: each step's window, and its maturity."""
    from funnelcli.measures import trends as measures

    start = f.cohort_stage
    steps = list(enumerate(zip(f.stages[start:], f.stages[start + 1:])))
    windows = []
    for j, (a, b) in steps:
        w = measures.window(f, start + j, window_days)
        windows.append(f"{keys.step(a, b)} " + (f"{w:g} day{'' if w == 1 else 's'}" if w is not None else "none"))
    maturity = [f"{keys.step(a, b)} {measures.path_maturity(f, start, start + j + 1, window_days):g}" for j, (a, b) in steps]
    return [
        ("Windows", "; ".join(windows) + (" (--window)" if window_days is not None else "")
         + ". A conversion after its window does not count."),
        ("Maturity", "days a cohort needs after its last day, for each rate to be final: " + "; ".join(maturity)
         + " (each step's window, else its SLA, else 90 days, added up from the cohort's stage)"),
    ]


def cohort_gap_notes(f: Funnel, window_days: float | None, start: int | None = None, first_day: dt.date | None = None,
                     scope: str = "") -> list[str]:
    """Return the notes that say which leads a cohort table can't count (docs/metrics.md#conversion-windows):
    the windows' among the cohorts from `first_day` on, `scope` saying which they are."""
    from funnelcli.measures import trends as measures

    start = f.cohort_stage if start is None else start
    no_cohort, unchecked = measures.cohort_gaps(f, start, window_days, first_day)
    stage = f.stages[start]
    notes = []
    if no_cohort:
        notes.append(Uncounted(f"In no cohort: {no_cohort:,} lead{'s' if no_cohort != 1 else ''} reached {stage} with no date, "
                               "there or at a later stage."))
    unknown = unknown_rates_note(f, start)
    if unknown:
        notes.append(unknown)
    if unchecked:
        parts = ", ".join(f"{step} {n:,}" for step, n in unchecked)
        notes.append(Uncounted(f"Not counted under the window (a date of the step is unknown or not the lead's own){scope}: {parts}."))
    return notes


def unknown_rates_note(f: Funnel, start: int) -> str | None:
    """Return the note of the cohort rates not shown (None when all are): those from a stage some
    leads reached with no date to place them in a cohort (trends.unknown_rates), and the trends
    command whose cohorts have them."""
    from funnelcli.measures import trends as measures

    unknown = [s for s, n in zip(f.stages[start:-1], measures.unknown_rates(f, start)) if n]  # the last stage has no rate
    if not unknown:
        return None
    named = ", ".join(unknown[:-1]) + (" and " if len(unknown) > 1 else "") + unknown[-1]
    later = [i for i in reversed(range(start)) if f.defs.stages[i].date] + [i for i in range(start + 1, len(f.stages) - 1)]
    dated = next((i for i in later if not measures.unknown_rates(f, i)[0]), None)
    advice = "" if dated is None else f"; trends counts cohorts by {f.stages[dated]}, a stage with dates, " + (
        "without --from-stage." if dated == 0 else f"with --from-stage {f.stages[dated]!r}.")
    return Uncounted(f"Rates from {named} are not shown (-): a lead that reached {'them' if len(unknown) > 1 else 'it'} "
                     "is in a cohort only when a later stage dates it, that is when it moved on, so the rate would count "
                     "the leads that moved on only" + (advice or "."))


def _cohort_tables(stages: tuple[str, ...], rows: list[dict], lead_cols: list[Column], no_days: str) -> list[Table]:
    """Return the cohort table (rates marked when immature, changes and days hidden) and the
    people's view of its median days per transition; instead of a table of blanks, a note that
    says why (`no_days`, when leads converted)."""
    steps = list(zip(stages, stages[1:]))
    cols = lead_cols + [Column(keys.COHORT, f"Entered {stages[0]}", "count")]
    cols += [Column(keys.reached_key(s), s, "count", priority=2) for s in stages[1:]]  # the rates stay longest
    cols += rate_columns(stages)
    if steps:
        cumulative = cumulative_column(stages)
        cumulative.hidden = len(steps) == 1  # with two stages it is the step rate: csv and json only
        cols.append(cumulative)
    cols += [Column(keys.change_key(keys.rate_key(a, b)), f"{keys.step(a, b)} change", "pp", hidden=True) for a, b in steps]
    if steps:
        cols.append(Column(keys.change_key(keys.CUMULATIVE_RATE), "Cumulative change", "pp", hidden=True))
    cols += [Column(keys.median_days_key(a, b), f"{keys.step(a, b)} days", "days", hidden=True) for a, b in steps]
    cohorts = Table("cohorts", None, cols, rows, [
        "Cohort: the leads entering " + stages[0] + " in the period; each later column counts those of them that "
        "reached the stage by the as-of date (within the window, if any).",
        "* immature: the cohort is younger than the transition's maturity; its rate is still rising and is left out "
        "of the change.", _PARTIAL_NOTE])
    days = [keys.median_days_key(a, b) for a, b in steps]
    if rows and steps and all(row.get(key) is None for row in rows for key in days):
        converted = any(row.get(keys.reached_key(s)) for row in rows for s in stages[1:])
        cohorts.notes.append(f"Median days: none: {no_days if converted else 'no lead of these cohorts converted'}.")
        return [cohorts]
    velocity_cols = lead_cols + [Column(key, keys.step(a, b), "days") for key, (a, b) in zip(days, steps)]
    velocity = Table("velocity", "Median days per transition, by cohort", velocity_cols, rows,
                     ["Among the cohort's leads that converted."], machine=False)
    return [cohorts, velocity]


def rate_columns(stages: tuple[str, ...]) -> list[Column]:
    """Return a column per step rate, marked where the cohort is immature."""
    return [Column(keys.rate_key(a, b), keys.step(a, b), "rate", mark=keys.immature_key(keys.rate_key(a, b)))
            for a, b in zip(stages, stages[1:])]


def cumulative_column(stages: tuple[str, ...]) -> Column:
    """Return the column of the cumulative rate, marked where the cohort is immature."""
    return Column(keys.CUMULATIVE_RATE, keys.step(stages[0], stages[-1]), "rate", mark=keys.IMMATURE_CUMULATIVE)


def rate_measures(stages: tuple[str, ...], cumulative_suffix: str = "") -> list[tuple[str, str, str]]:
    """Return the rates trends.summary follows: each step's, then the
    cumulative rate (with three stages or more), its label the first and last stages plus `cumulative_suffix`."""
    found = [(keys.rate_key(a, b), keys.step(a, b), "rate") for a, b in zip(stages, stages[1:])]
    if len(stages) > 2:  # with two stages the cumulative rate is the step rate
        found.append((keys.CUMULATIVE_RATE, keys.step(stages[0], stages[-1]) + cumulative_suffix, "rate"))
    return found


def _latest_change_table(latest: list[dict], group_col: list[Column], counting: str) -> Table:
    """Return the table of each measure's latest usable value, the one before and the series."""
    cols = group_col + [
        Column("measure", "Measure"),
        Column("latest_period", "Latest"),
        Column("latest", "Value", "count", kind_of={"rate": "rate"}),
        Column("previous_period", "Previous"),
        Column("previous", "Value", "count", kind_of={"rate": "rate"}),
        Column("change", "Change", "delta", kind_of={"rate": "pp"}),
        Column("series", "Trend", "spark"),
    ]
    return Table("latest", "Latest change", cols, latest, [ColumnNotes([
        (None, "Latest: the last " + ("mature cohort" if counting == "cohort" else "whole period") + " of each measure, "
               "against the one before it."),
        ("series", "Trend: every period in the table, gaps where a value isn't usable yet.")])])
