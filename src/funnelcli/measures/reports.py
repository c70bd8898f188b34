"""Engine results -> Reports: the titles, columns, header lines and notes of each command."""

from __future__ import annotations

import numpy as np

from funnelcli import __version__
from funnelcli.engine import funnel
from funnelcli.engine.funnel import Funnel
from funnelcli.measures import keys
from funnelcli.measures.model import Column, Report, Table, cell


def _date(value) -> str | None:
    """Return a date as YYYY-MM-DD, or None."""
    return None if value is None else value.strftime("%Y-%m-%d")


def header(f: Funnel, counting: str = "cohort", by: str | None = None) -> tuple[list[tuple[str, str]], dict]:
    """Return the header lines every report starts with, and the same facts for JSON."""
    defs = f.defs
    acc = f.accounting
    first = defs.stages[f.cohort_stage].name
    sources = ", ".join(defs.sources)
    as_of = _date(f.as_of)
    as_of_source = "given with --as-of" if f.as_of_given else "the latest date in the export"
    as_of_line = f"{as_of} ({as_of_source})" if as_of else "none: the export has no dates (nothing can be stuck; no trends)"
    if f.since or f.until:
        cohorts = f"leads that reached {first} from {_date(f.since) or 'the start'} to {_date(f.until) or as_of}"
    else:
        cohorts = f"every lead that reached {first}" + (" by the as-of date" if as_of else "")
        dates = f.date[:, 0][~np.isnat(f.date[:, 0])]
        if len(dates):
            cohorts += f" (entered {np.datetime_as_string(dates.min(), 'D')} to {np.datetime_as_string(dates.max(), 'D')})"
    meta = [
        ("Export", _export_line(f)),
        ("Definitions", f"{sources} (digest {defs.digest})"),
        ("As of", as_of_line),
        ("Cohorts", cohorts),
    ]
    joined = [a for a in acc.files if a.role.startswith("join")]
    if joined:
        meta.insert(1, ("Joined", ", ".join(f"{a.name} ({a.rows_read:,} row{'s' if a.rows_read != 1 else ''})" for a in joined)))
    if counting == "cohort":
        by_when = f" by {as_of}" if as_of else ""
        meta.append(("Counting", f"by cohort: each stage counts the cohort's leads that reached it{by_when}"))
    else:
        meta.append(("Counting", "by flow: leads entering each stage in each period, whoever they are; no rates"))
    if f.markets:
        meta.append(("Markets", ", ".join(f.markets)))
    if by:
        meta.append(("Breakdown", f"by {by}"))
    data = {
        "title": None,
        "version": __version__,
        "export": f.export,
        "definitions": {"paths": list(defs.sources), "digest": defs.digest},
        "as_of": as_of,
        "as_of_source": "option" if f.as_of_given else "latest date in export",
        "counting": counting,
        "cohorts": {"stage": first, "since": _date(f.since), "until": _date(f.until)},
        "by": by,
        "markets": list(f.markets),
        "accounting": acc.as_dict(),
    }
    return meta, data


def _export_line(f: Funnel) -> str:
    """Return the Export header line: the file and its rows (a log's rows and its leads)."""
    acc = f.accounting
    log = next((a for a in acc.files if a.role == "log"), None)
    if log is not None:
        return (f"{f.export} ({log.rows_read:,} row{'s' if log.rows_read != 1 else ''}: a stage-history log of "
                f"{acc.rows_read:,} lead{'s' if acc.rows_read != 1 else ''})")
    return f"{f.export} ({acc.rows_read:,} row{'s' if acc.rows_read != 1 else ''})"


def closing_notes(f: Funnel) -> list[str]:
    """Return the lines every report ends with: data-quality facts and the accounting lines."""
    notes = []
    skipped = funnel.skipped_summary(f)
    if skipped:
        parts = ", ".join(f"{stage} {n:,}" for stage, n in skipped)
        notes.append(f"Skipped stages (reached through a later stage, without evidence of their own): {parts}.")
    unknown = funnel.unknown_age_summary(f)
    if unknown:
        parts = ", ".join(f"{stage} {n:,}" for stage, n in unknown)
        notes.append(f"Age unknown (no date of their own in the stage, and no stage_since; counted in progress): {parts}.")
    if f.as_of is None:
        notes.append("The export has no dates: nothing can be stuck, and velocity and trends need dates.")
    if f.unplaced:
        notes.append(f"Replay: {f.unplaced:,} lead{'s' if f.unplaced != 1 else ''} reached a stage with no date, which a "
                     "replay can't place in time: counted as the export has them.")
    notes.append(f"Rows: {f.accounting.sentence()}.")
    notes += [f"File: {account.sentence()}." for account in f.accounting.files]
    return notes


def _title_case(name: str) -> str:
    """Return a field name as a column label: 'lead_source' -> 'Lead source'."""
    return name.replace("_", " ").capitalize()


def stage_columns(f: Funnel, by: str | None) -> list[Column]:
    """Return the columns of the stage-by-stage table (the engine's conversion rows)."""
    cols = [Column("group", _title_case(by), "group")] if by else []
    cols += [
        Column("stage", "Stage"),
        Column("reached", "Reached", "count"),
        Column("converted", "Converted", "count"),
        Column("step_rate", "Step rate", "rate"),
        Column("cumulative_rate", "Cumulative", "rate"),
        Column("exited", "Exited", "count"),
    ]
    cols += [Column(keys.exited_key(e.name), e.name, "count") for e in f.defs.exits]
    cols += [
        Column("stuck", "Stuck", "count"),
        Column("in_progress", "In progress", "count"),
        Column("median_days", "Median days", "days"),
        Column("p75_days", "p75 days", "days"),
        Column("p90_days", "p90 days", "days"),
    ]
    return cols


def conversion(f: Funnel, by: str | None = None) -> Report:
    """Return the stage-by-stage conversion report."""
    rows = funnel.conversion(f, by)
    meta, data = header(f, by=by)
    title = "Stage-by-stage conversion"
    data["title"] = title
    notes = [
        "Converted: reached the next stage. Step rate: converted / reached. Cumulative: reached / "
        f"reached {f.defs.stages[0].name}. Stuck: past the stage's SLA with no next stage or exit. "
        "Days: from a stage to the next, among the leads that converted.",
    ]
    cycle = funnel.cycle_time(f)
    if cycle["leads"]:
        first, last = f.defs.stages[0].name, f.defs.stages[-1].name
        days = {k: cell(cycle[k], "days") for k in ("median_days", "p75_days", "p90_days")}
        notes.append(
            f"Cycle time {first} to {last}, per lead ({cycle['leads']:,} lead{'s' if cycle['leads'] != 1 else ''}): "
            f"median {days['median_days']} days, p75 {days['p75_days']}, p90 {days['p90_days']}."
        )
    if f.as_of is not None and not any(r["median_days"] is not None for r in rows) and any(r["converted"] for r in rows):
        notes.append("Days: none: no step has dates of the lead's own at both ends (a stage reached by a status, "
                     "a flag or an undated condition has no date of its own).")
    data["cycle_time"] = cycle
    columns = stage_columns(f, by)
    columns.insert(len(columns) - 3, Column("skipped", "Skipped", "count"))
    if f.defs.stage_column or f.defs.history:  # shapes where entered (own evidence) and reached differ
        at = next(i for i, c in enumerate(columns) if c.key == "reached") + 1
        columns.insert(at, Column("entered", "Entered", "count"))
    table = Table("stages", None, columns, rows, notes)
    report = Report("conversion", title, meta, [table], closing_notes(f), data)
    from funnelcli.measures import targets

    return add_targets(report, targets.evaluate(f))  # on every lead of the report, whatever --by


# --------------------------------------------------------------------------------------------
# purgatory


def purgatory(f: Funnel, by: str | None = None, stage: str | None = None, show_list: bool = False,
              min_days: float | None = None) -> Report:
    """Return the leakage and purgatory report, or with show_list the stuck leads themselves."""
    from funnelcli.measures import purgatory as measures

    stages = measures.stage_indexes(f, stage)
    meta, data = header(f, by=by)
    if stage:
        meta.append(("Stage", f.stages[stages[0]]))
    data["stage"] = f.stages[stages[0]] if stage else None
    if show_list:
        return _stuck_list_report(f, stages, min_days, meta, data)

    title = "Leakage and purgatory"
    data["title"] = title
    has_amount = "amount" in f.frame.columns  # mapped, or brought by a join
    exits = [e.name for e in f.defs.exits]
    tables = [_stuck_by_stage_table(f, stages, exits, has_amount)]
    named = measures.named_purgatories(f, stages)
    if named:
        tables.append(_purgatories_table(named, has_amount))
    bands = measures.age_bands(f, stages)
    if bands:
        tables.append(_age_bands_table(bands))
    if exits:
        tables.append(_leakage_table(f, stages, exits))
    if by:
        tables.append(_stuck_by_group_table(f, by, stages, has_amount))
    return Report("purgatory", title, meta, tables, closing_notes(f), data)


def _stuck_list_report(f: Funnel, stages: list[int], min_days: float | None, meta: list, data: dict) -> Report:
    """Return the purgatory report's --list form: the stuck leads themselves, oldest first."""
    from funnelcli.measures import purgatory as measures

    rows, fields = measures.stuck_list(f, stages, min_days)
    title = "Stuck leads"
    if min_days is not None:
        meta.append(("Filter", f"{min_days:g}+ days in the stage"))
    data.update(title=title, min_days=min_days)
    columns = [
        Column("id", "Id"), Column("stage", "Stage"), Column("entered", "Entered"),
        Column("days_in_stage", "Days in stage", "number"), Column("days_over_sla", "Over SLA by", "number"),
        Column("why", "Why"),
    ] + [Column(k, _title_case(k), "number" if k in ("touches", "amount") else "text") for k in fields]
    notes = [f"{len(rows):,} stuck lead{'s' if len(rows) != 1 else ''}, oldest first. Past SLA: older in the stage "
             "than its SLA with no next stage or exit. Touched and dropped: the stage's activity rule."]
    return Report("purgatory", title, meta, [Table("stuck_leads", None, columns, rows, notes)], closing_notes(f), data)


def _stuck_by_stage_table(f: Funnel, stages: list[int], exits: list[str], has_amount: bool) -> Table:
    """Return the table of stuck leads per stage, with the exits and the value at risk."""
    from funnelcli.measures import purgatory as measures

    cols = [Column("stage", "Stage"), Column("sla_days", "SLA days", "number"), Column("reached", "Reached", "count"),
            Column("converted", "Converted", "count"), Column("exited", "Exited", "count")]
    cols += [Column(keys.exited_key(e), e, "count") for e in exits]
    cols += [Column("stuck", "Stuck", "count"), Column("in_progress", "In progress", "count"),
             Column("stuck_share", "Stuck share", "rate"), Column("median_days_stuck", "Median days stuck", "days"),
             Column("max_days_stuck", "Max days stuck", "days")]
    if has_amount:
        cols.append(Column("value_at_risk", "Value at risk", "money"))
    return Table("stages", "Stuck by stage", cols, measures.stage_rows(f, stages), [
        "Stuck: reached the stage, neither moved on nor exited, and older in it than its SLA. "
        "Days stuck: days in the stage at the as-of date." + (" Value at risk: the amount of the stuck leads." if has_amount else ""),
    ])


def _purgatories_table(named: list[dict], has_amount: bool) -> Table:
    """Return the table of the two named purgatories, each rule in a note."""
    cols = [Column("purgatory", "Purgatory"), Column("stage", "Stage"), Column("leads", "Leads", "count"),
            Column("share_of_reached", "Share of stage", "rate"), Column("median_days_in_stage", "Median days", "days"),
            Column("max_days_in_stage", "Max days", "days")]
    if has_amount:
        cols.append(Column("value_at_risk", "Value at risk", "money"))
    return Table("purgatories", "The two purgatories", cols, named, [f"{r['purgatory']}: {r['rule']}." for r in named])


def _age_bands_table(bands: list[dict]) -> Table:
    """Return the table of the backlog's age per stage, in multiples of the stage's SLA."""
    from funnelcli.measures import purgatory as measures

    cols = [Column("stage", "Stage"), Column("sla_days", "SLA days", "number")]
    cols += [Column(key, label, "count") for key, label, _, _ in measures.BANDS]
    if any(r["age_unknown"] for r in bands):  # a column of zeros would only be noise
        cols.append(Column("age_unknown", "Age unknown", "count"))
    return Table("age_bands", "Age of the backlog", cols, bands, [
        "Leads waiting in each stage (stuck or in progress) by days in the stage, in multiples of its SLA."])


def _leakage_table(f: Funnel, stages: list[int], exits: list[str]) -> Table:
    """Return the table of the leads leaving each stage, per exit and as shares."""
    from funnelcli.measures import purgatory as measures

    cols = [Column("stage", "Stage"), Column("reached", "Reached", "count"), Column("exited", "Exited", "count"),
            Column("exited_share", "Exited share", "rate")]
    for e in exits:
        cols += [Column(keys.exited_key(e), e, "count"), Column(keys.share_key(e), f"{e} share", "rate")]
    return Table("leakage", "Leakage", cols, measures.leakage(f, stages), [
        "Exited: left through an exit at this stage, without reaching the next; shares of the stage's leads."])


def _stuck_by_group_table(f: Funnel, by: str, stages: list[int], has_amount: bool) -> Table:
    """Return the table of stuck leads per group of --by, most stuck first."""
    from funnelcli.measures import purgatory as measures

    cols = [Column("group", _title_case(by)), Column("stuck", "Stuck", "count")]
    if len(stages) > 1:  # a stage without an SLA has nobody stuck: no column for it
        cols += [Column(keys.stuck_key(f.stages[i]), f"Stuck {f.stages[i]}", "count") for i in stages
                 if f.defs.stages[i].sla_days is not None]
    if any(f.defs.stages[i].purgatory for i in stages):
        cols.append(Column("touched_and_dropped", "Touched and dropped", "count"))
    cols += [Column("reached", "Reached", "count"), Column("stuck_share", "Stuck share", "rate"),
             Column("median_days_stuck", "Median days stuck", "days"), Column("max_days_stuck", "Max days stuck", "days")]
    if has_amount:
        cols.append(Column("value_at_risk", "Value at risk", "money"))
    return Table("groups", f"Stuck by {by}", cols, measures.by_group(f, by, stages), [
        "Ranked by stuck leads. A lead stuck at several stages counts once; its days are those of its latest stage."])


# --------------------------------------------------------------------------------------------
# markets


def markets(f: Funnel) -> Report:
    """Return conversion per market and the market fit of each stage."""
    from funnelcli.definitions import describe
    from funnelcli.measures import markets as measures

    meta, data = header(f)
    title = "Markets"
    data["title"] = title
    stages = f.stages
    cols = [Column("market", "Market")]
    cols += [Column(keys.reached_key(s), s, "count") for s in stages]
    cols += [Column(keys.rate_key(a, b), keys.step(a, b), "rate") for a, b in zip(stages, stages[1:])]
    if len(stages) > 2:  # with two stages the cumulative rate is the step rate
        cols.append(Column(keys.CUMULATIVE_RATE, keys.step(stages[0], stages[-1]), "rate"))
    rules = [f"{m.name}: {describe(m.when)}." for m in f.defs.markets]
    by_market = Table("markets", "Conversion by market", cols, measures.by_market(f), [
        "A lead is in the first market whose rule it meets, else out of market. " + " ".join(rules)])
    fit_cols = [Column("stage", "Stage"), Column("reached", "Reached", "count"), Column("in_market", "In a target market", "count"),
                Column("market_fit", "Market fit", "rate"), Column("out_of_market", "Out of market", "count")]
    fit = Table("market_fit", "Market fit by stage", fit_cols, measures.market_fit(f), [
        "Market fit: the share of a stage's leads that are in any target market."])
    return Report("markets", title, meta, [by_market, fit], closing_notes(f), data)


# --------------------------------------------------------------------------------------------
# trends


_PARTIAL_NOTE = "partial: the period is only partly covered by the data or cut by the as-of date."


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
    group_col = [Column("group", _title_case(by), "group")] if by else []
    lead_cols = group_col + [Column("period", "Period"), Column("partial", "Note", "flag", flag="partial")]
    if counting == "flow":
        title = "Trends: leads entering each stage"
        rows, rng = measures.flow_rows(f, period, last, by, since, until)
        if since or until:  # the range bounds the stage entries, not the cohorts: replaces the Cohorts line
            meta[3] = ("Range", f"stage entries from {since or 'the start'} to {until or data['as_of']}")
        tables = [_flow_table(f, rows, lead_cols)]
        summary_measures = [(keys.entered_key(s), f"Entered {s}", "count") for s in f.stages]
    else:
        title = "Trends: conversion by cohort"
        rows, rng = measures.cohort_rows(f, period, f.cohort_stage, window_days, last, by)
        stages = f.stages[f.cohort_stage:]
        meta += _windows_and_maturity(f, window_days) if f.as_of is not None else []
        data["windows"] = {keys.step(a, b): measures.window(f, f.cohort_stage + j, window_days)
                           for j, (a, b) in enumerate(zip(stages, stages[1:]))}
        data["from_stage"] = stages[0]
        tables = _cohort_tables(stages, rows, lead_cols)
        summary_measures = [(keys.COHORT, f"Entered {stages[0]}", "count")] + _rate_measures(stages, " (cumulative)")
    data["title"] = title
    if rng is not None:
        data["range"] = {"first": rows[0]["period"], "last": rows[-1]["period"]} if rows else None
    notes = closing_notes(f)
    if f.as_of is None:  # one line that says why, not empty tables
        return Report("trends", title, meta, [], ["No trends: the export has no dates, and trends count leads by "
                                                  "the period they entered a stage."] + notes, data)
    undated = measures.undated_entries(f)
    if undated and counting == "flow":
        parts = ", ".join(f"{stage} {n:,}" for stage, n in undated)
        tables[0].notes.append(f"Not counted (reached with no date, here or at a later stage): {parts}.")
    tables.append(_latest_change_table(measures.summary(rows, summary_measures, by), group_col, counting))
    return Report("trends", title, meta, tables, notes, data)


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
        windows.append(f"{keys.step(a, b)} " + (f"{w:g} days" if w is not None else "none"))
    maturity = [f"{keys.step(a, b)} {measures.path_maturity(f, start, start + j + 1, window_days):g}" for j, (a, b) in steps]
    return [
        ("Windows", "; ".join(windows) + ("  (--window)" if window_days is not None else "")
         + ". A conversion after its window does not count."),
        ("Maturity", "days a cohort needs after its last day, for each rate to be final: " + "; ".join(maturity)
         + " (each step's window, else its SLA, else 90 days, added up from the cohort's stage)"),
    ]


def _cohort_tables(stages: tuple[str, ...], rows: list[dict], lead_cols: list[Column]) -> list[Table]:
    """Return the cohort table (rates marked when immature, changes and days hidden) and the
    people's view of its median days per transition."""
    steps = list(zip(stages, stages[1:]))
    cols = lead_cols + [Column(keys.COHORT, f"Entered {stages[0]}", "count")]
    cols += [Column(keys.reached_key(s), s, "count") for s in stages[1:]]
    cols += _rate_columns(stages)
    if steps:
        cols.append(_cumulative_column(stages))
    cols += [Column(keys.change_key(keys.rate_key(a, b)), f"{keys.step(a, b)} change", "pp", hidden=True) for a, b in steps]
    if steps:
        cols.append(Column(keys.change_key(keys.CUMULATIVE_RATE), "Cumulative change", "pp", hidden=True))
    cols += [Column(keys.median_days_key(a, b), f"{keys.step(a, b)} days", "days", hidden=True) for a, b in steps]
    cohorts = Table("cohorts", None, cols, rows, [
        "Cohort: the leads entering " + stages[0] + " in the period; each later column counts those of them that "
        "reached the stage by the as-of date (within the window, if any).",
        "* immature: the cohort is younger than the transition's maturity; its rate is still rising and is left out "
        "of the change.", _PARTIAL_NOTE])
    velocity_cols = lead_cols + [Column(keys.median_days_key(a, b), keys.step(a, b), "days") for a, b in steps]
    velocity = Table("velocity", "Median days per transition, by cohort", velocity_cols, rows,
                     ["Among the cohort's leads that converted."], machine=False)
    return [cohorts, velocity]


def _rate_columns(stages: tuple[str, ...]) -> list[Column]:
    """Return a column per step rate, marked where the cohort is immature."""
    return [Column(keys.rate_key(a, b), keys.step(a, b), "rate", mark=keys.immature_key(keys.rate_key(a, b)))
            for a, b in zip(stages, stages[1:])]


def _cumulative_column(stages: tuple[str, ...]) -> Column:
    """Return the column of the cumulative rate, marked where the cohort is immature."""
    return Column(keys.CUMULATIVE_RATE, keys.step(stages[0], stages[-1]), "rate", mark=keys.IMMATURE_CUMULATIVE)


def _rate_measures(stages: tuple[str, ...], cumulative_suffix: str = "") -> list[tuple[str, str, str]]:
    """Return the rates trends.summary follows: each step's, then (with two stages or more) the
    cumulative rate, its label the first and last stages plus `cumulative_suffix`."""
    found = [(keys.rate_key(a, b), keys.step(a, b), "rate") for a, b in zip(stages, stages[1:])]
    if len(stages) > 1:
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
    return Table("latest", "Latest change", cols, latest, [
        "Latest: the last " + ("mature cohort" if counting == "cohort" else "whole period") + " of each measure, "
        "against the one before it. Trend: every period in the table, gaps where a value isn't usable yet."])


# --------------------------------------------------------------------------------------------
# targets, and the weekly digest


def targets_table(rows: list[dict]) -> Table:
    """Return the targets table, its note counting the missed ones."""
    cols = [Column("target", "Target"), Column("goal", "Goal"), Column("actual", "Actual", "rate"),
            Column("numerator", "Leads", "count"), Column("denominator", "Of", "count"),
            Column("basis", "Basis"), Column("status", "Status")]
    missed = sum(r["status"] == "missed" for r in rows)
    note = f"{missed} of {len(rows)} target{'s' if len(rows) != 1 else ''} missed." if missed else f"All {len(rows)} targets met or without data."
    return Table("targets", "Targets", cols, rows, [note])


def add_targets(report: Report, rows: list[dict]) -> Report:
    """Add the targets table and the list of missed ones (JSON: `missed_targets`)."""
    if rows:
        report.tables.append(targets_table(rows))
    report.data["missed_targets"] = [r["target"] for r in rows if r["status"] == "missed"]
    return report


def digest(f: Funnel, period: str = "week", compare: str = "previous") -> Report:
    """Return the digest a head of sales and a head of marketing read together."""
    from funnelcli.measures import targets as tm
    from funnelcli.measures import trends as tr

    meta, data = header(f)
    title = f"Funnel report, {period}ly"
    data.update(title=title, period=period, compare=compare)
    tables = []
    # Headline: new leads per stage in the last whole period (flow), against the one before; a
    # partial period would compare a few days with a whole period.
    flow, _ = tr.flow_rows(f, period)
    whole = [r for r in flow if not r["partial"]]
    latest = whole[-1] if whole else None
    if latest:
        before = whole[-2] if len(whole) > 1 and compare == "previous" else None
        meta.append(("Period", f"{latest['period']} ({latest['period_start']} to {latest['period_end']}), the last whole {period}"))
        tables.append(_headline_table(f, latest, before, compare))
    data["headline_period"] = latest["period"] if latest else None
    cohorts, _ = tr.cohort_rows(f, period, velocity=False)  # the digest shows rates, not days
    if f.as_of is not None:  # with no dates there are no periods: the stage table says it all
        tables.append(_mature_rates_table(f, cohorts, period, compare))
    # Stage by stage, all cohorts in the report.
    conv_cols = [c for c in stage_columns(f, None) if c.key in (
        "stage", "reached", "converted", "step_rate", "cumulative_rate", "exited", "stuck", "in_progress", "median_days")]
    tables.append(Table("stages", "Stage-by-stage conversion", conv_cols, funnel.conversion(f),
                        ["All cohorts in the report, by cohort counting. Days: median from a stage to the next."]))
    tables += _purgatory_tables(f)
    if f.as_of is not None:
        tables.append(_cohort_trend_table(f, cohorts, period))
    report = Report("report", title, meta, tables, closing_notes(f), data)
    return add_targets(report, tm.evaluate_latest_mature(f, cohorts))


def _headline_table(f: Funnel, latest: dict, before: dict | None, compare: str) -> Table:
    """Return the leads entering each stage in the `latest` flow row, against `before` (with
    compare "previous")."""
    rows = []
    for s in f.stages:
        now = latest[keys.entered_key(s)]
        row = {"stage": s, "entered": now}
        if compare == "previous":
            row["previous"] = before[keys.entered_key(s)] if before else None
            row["change"] = now - before[keys.entered_key(s)] if before else None
        rows.append(row)
    cols = [Column("stage", "Stage"), Column("entered", latest["period"], "count")]
    if compare == "previous":
        cols += [Column("previous", before["period"] if before else "Previous", "count"), Column("change", "Change", "delta")]
    return Table("headline", f"New leads per stage, {latest['period']}", cols, rows,
                 ["Flow: leads entering each stage in the period, whoever they are."])


def _mature_rates_table(f: Funnel, cohorts: list[dict], period: str, compare: str) -> Table:
    """Return each rate of the latest cohort mature for it (and of the one before, with compare
    "previous")."""
    from funnelcli.measures import trends as tr

    rates = tr.summary(cohorts, _rate_measures(f.stages), None)
    cols = [Column("measure", "Rate"), Column("latest_period", "Cohort"), Column("latest", "Rate", "rate")]
    if compare == "previous":
        cols += [Column("previous_period", "Previous cohort"), Column("previous", "Rate", "rate"), Column("change", "Change", "pp")]
    return Table("rates", "Conversion of the latest mature cohorts", cols, rates, [
        f"Cohorts by the {period} they entered {f.stages[0]}; a cohort counts once it is old enough for the rate to be final."])


def _purgatory_tables(f: Funnel) -> list[Table]:
    """Return the digest's purgatory summary per stage and, with an owner field, the top five
    owners by stuck leads: whose desk the purgatory is on."""
    from funnelcli.measures import purgatory as pm

    stages = list(range(len(f.stages)))
    stuck_cols = [Column("stage", "Stage"), Column("reached", "Reached", "count"), Column("stuck", "Stuck", "count"),
                  Column("stuck_share", "Stuck share", "rate"), Column("median_days_stuck", "Median days stuck", "days")]
    if "amount" in f.frame.columns:
        stuck_cols.append(Column("value_at_risk", "Value at risk", "money"))
    # the last stage without an SLA has no stuck count at all: no row for it
    stuck_rows = [r for r in pm.stage_rows(f, stages) if r["stuck"] is not None]
    notes = [f"{r['purgatory']}: {r['leads']:,} leads ({r['rule']})." for r in pm.named_purgatories(f, stages)]
    tables = [Table("purgatory", "Purgatory", stuck_cols, stuck_rows, notes)]
    if "owner" in f.defs.columns:
        owners = pm.by_group(f, "owner", stages)[:5]
        cols = [Column("group", "Owner"), Column("stuck", "Stuck", "count"), Column("reached", "Reached", "count"),
                Column("stuck_share", "Stuck share", "rate"), Column("max_days_stuck", "Max days stuck", "days")]
        tables.append(Table("top_owners", "Top owners by stuck leads", cols, owners, []))
    return tables


def _cohort_trend_table(f: Funnel, cohorts: list[dict], period: str) -> Table:
    """Return the rates of the last six cohorts, marked where a cohort is immature."""
    recent = cohorts[-6:]
    cols = [Column("period", "Cohort"), Column("partial", "Note", "flag", flag="partial"),
            Column(keys.COHORT, f"Entered {f.stages[0]}", "count")]
    cols += _rate_columns(f.stages)
    if len(f.stages) > 2:  # with two stages the cumulative rate is the step rate
        cols.append(_cumulative_column(f.stages))
    return Table("trend", f"Cohort trend, the last {len(recent)} {period}s", cols, recent,
                 ["* immature: the cohort is too young for the rate to be final."])
