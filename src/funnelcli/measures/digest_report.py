"""The digest's report (`funnelcli report`): new leads per stage in the last whole period, the
latest mature rates, stage by stage, the purgatory and its owners, the cohort trend and targets.
"""

from __future__ import annotations

from funnelcli.engine import funnel
from funnelcli.engine.funnel import Funnel
from funnelcli.measures import keys
from funnelcli.measures.model import Column, ColumnNotes, Report, Table
from funnelcli.measures.purgatory_report import risk_columns
from funnelcli.measures.report_parts import add_targets, closing_notes, header, no_days_note, stage_columns
from funnelcli.measures.trends_report import cohort_gap_notes, cumulative_column, rate_columns, rate_measures


def digest(f: Funnel, period: str = "week", compare: str = "previous") -> Report:
    """Return the digest a head of sales and a head of marketing read together."""
    from funnelcli.measures import targets as tm
    from funnelcli.measures import trends as tr

    meta, data = header(f)
    title = f"Funnel report, {period}ly" if f.as_of is not None else "Funnel report"  # no dates: no periods
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
        at = flow.index(latest)
        if compare == "previous" and before is None and at > 0:  # the one before is cut by the data's start (or --since)
            cut = flow[at - 1]
            tables[-1].notes.append(f"Previous: none: {cut['period']} ({cut['period_start']} to {cut['period_end']}) is partial "
                                    f"(the data{' or --since' if f.since else ''} starts within it), and a part of a {period} "
                                    f"is no measure against a whole one.")
        undated = tr.undated_note(f)
        if undated:
            tables[-1].notes.append(undated)
    elif flow:  # the data is shorter than a whole period yet: say so, not leave the headline out
        first, last = flow[0], flow[-1]
        tables.append(Table("headline", "New leads per stage", [Column("stage", "Stage")], [],
                            [f"None yet: the report needs a whole {period}, and by the as-of date {f.as_of:%Y-%m-%d} the "
                             f"data covers only part of {first['period'] if first is last else first['period'] + ' to ' + last['period']}."]))
    data["headline_period"] = latest["period"] if latest else None
    cohorts, _ = tr.cohort_rows(f, period, velocity=False)  # the digest shows rates, not days
    if f.as_of is not None:  # with no dates there are no periods: the stage table says it all
        tables.append(_mature_rates_table(f, cohorts, period, compare))
        tables[-1].notes += cohort_gap_notes(f, None, start=0, scope=", in all cohorts")
    # Stage by stage, all cohorts in the report.
    conv_cols = [c for c in stage_columns(f, None) if c.key in (
        "stage", "reached", "entered", "converted", "step_rate", "cumulative_rate", "exited", "stuck", "in_progress", "median_days")]
    rows = funnel.conversion(f)
    days = no_days_note(f, rows) or "Days: median from a stage to the next."
    tables.append(Table("stages", "Stage-by-stage conversion", conv_cols, rows,
                        [ColumnNotes([(None, "All cohorts in the report, by cohort counting."), ("median_days", days)])]))
    tables += _purgatory_tables(f)
    if f.as_of is not None:
        tables.append(_cohort_trend_table(f, cohorts, period))
    report = Report("report", title, meta, tables, closing_notes(f), data, main="stages")
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
    if f.since is not None or f.until is not None:  # the report's leads are those cohorts': so are the entries counted
        span = " ".join(p for p in (f"from {f.since}" if f.since else "", f"to {f.until}" if f.until else "") if p)
        note = (f"Flow: leads entering each stage in the period, among the report's cohorts (leads that entered "
                f"{f.stages[f.cohort_stage]} {span}); trends --counting flow counts whoever they are.")
    else:
        note = "Flow: leads entering each stage in the period, whoever they are."
    return Table("headline", f"New leads per stage, {latest['period']}", cols, rows, [note])


def _mature_rates_table(f: Funnel, cohorts: list[dict], period: str, compare: str) -> Table:
    """Return each rate of the latest cohort mature for it (and of the one before, with compare
    "previous")."""
    from funnelcli.measures import trends as tr

    rates = tr.summary(cohorts, rate_measures(f.stages), None)
    _add_counts(f, cohorts, rates)
    cols = [Column("measure", "Rate"), Column("latest_period", "Cohort"), Column("latest", "Latest rate", "rate"),
            Column("latest_leads", "Leads", "count", priority=2), Column("latest_of", "Of", "count", priority=2)]
    if compare == "previous":
        cols += [Column("previous_period", "Previous cohort"), Column("previous", "Previous rate", "rate"),
                 Column("previous_of", "Of", "count", priority=3), Column("change", "Change", "pp")]
    return Table("rates", "Conversion of the latest mature cohorts", cols, rates, [
        f"Cohorts by the {period} they entered {f.stages[0]}; a cohort counts once it is old enough for the rate to be final."])


def _add_counts(f: Funnel, cohorts: list[dict], rates: list[dict]) -> None:
    """Add to each rate the leads it counts in its latest cohort (and of how many), and the leads of
    the previous cohort's: a 100% of 2 leads is no 100% of 200."""
    by_period = {r["period"]: r for r in cohorts}
    ends = {keys.step(a, b): (a, b) for a, b in zip(f.stages, f.stages[1:])} | {keys.step(f.stages[0], f.stages[-1]): (f.stages[0], f.stages[-1])}

    def count(row: dict | None, stage: str) -> int | None:
        if row is None:
            return None
        return row["cohort"] if stage == f.stages[0] else row.get(keys.reached_key(stage))

    for rate in rates:
        a, b = ends[rate["measure"]]
        latest, previous = by_period.get(rate["latest_period"]), by_period.get(rate["previous_period"])
        rate["latest_leads"], rate["latest_of"], rate["previous_of"] = count(latest, b), count(latest, a), count(previous, a)


def _purgatory_tables(f: Funnel) -> list[Table]:
    """Return the digest's purgatory summary per stage and, with an owner field, the top five
    owners by stuck leads: whose desk the purgatory is on."""
    from funnelcli.measures import purgatory as pm

    stages = list(range(len(f.stages)))
    stuck_cols = [Column("stage", "Stage"), Column("reached", "Reached", "count"), Column("stuck", "Stuck", "count"),
                  Column("stuck_share", "Stuck share", "rate"), Column("median_days_stuck", "Median days stuck", "days")]
    if "amount" in f.frame.columns:
        stuck_cols += risk_columns(f)
    # the last stage without an SLA has no stuck count at all: no row for it
    stuck_rows = [r for r in pm.stage_rows(f, stages) if r["stuck"] is not None]
    notes = [f"{r['purgatory']}: {r['leads']:,} lead{'s' if r['leads'] != 1 else ''} ({r['rule']})." for r in pm.named_purgatories(f, stages)]
    open_ended = [r["stage"] for r in stuck_rows if r["sla_days"] is None]
    if open_ended:  # Stuck 0 beside a share of '-': no share of a stuck count that can't be other than 0
        notes.append(f"No SLA: {', '.join(open_ended)}: no lead can be stuck there, so no stuck share.")
    tables = [Table("purgatory", "Purgatory", stuck_cols, stuck_rows, notes)]
    if "owner" in f.defs.columns:
        owners = [r for r in pm.by_group(f, "owner", stages) if r["stuck"]][:5]  # an owner with none stuck is no top owner
        cols = [Column("group", "Owner"), Column("stuck", "Stuck", "count"), Column("reached", "Reached", "count"),
                Column("stuck_share", "Stuck share", "rate"), Column("max_days_stuck", "Max days stuck", "days")]
        tables.append(Table("top_owners", "Top owners by stuck leads", cols, owners, [] if owners else ["No owner has a stuck lead."]))
    return tables


def _cohort_trend_table(f: Funnel, cohorts: list[dict], period: str) -> Table:
    """Return the rates of the last six cohorts, marked where a cohort is immature."""
    recent = cohorts[-6:]
    cols = [Column("period", "Cohort"), Column("partial", "Note", "flag", flag="partial"),
            Column(keys.COHORT, f"Entered {f.stages[0]}", "count")]
    cols += rate_columns(f.stages)
    if len(f.stages) > 2:  # with two stages the cumulative rate is the step rate
        cols.append(cumulative_column(f.stages))
    return Table("trend", f"Cohort trend, the last {len(recent)} {period}s", cols, recent,
                 ["* immature: the cohort is too young for the rate to be final."])
