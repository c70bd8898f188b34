"""Engine results -> Reports: the titles, columns, header lines and notes of each command.

The conversion and markets reports are built here; purgatory's, trends' and the digest's in their
own modules, and every report's shared parts in report_parts. Each report builder is importable
from here: `reports.conversion`, `reports.purgatory`, `reports.markets`, `reports.trends`,
`reports.digest`.
"""

from __future__ import annotations

from funnelcli.engine import funnel
from funnelcli.engine.funnel import Funnel
from funnelcli.measures import keys
from funnelcli.measures.digest_report import digest
from funnelcli.measures.model import Column, ColumnNotes, Report, Table, cell
from funnelcli.measures.purgatory_report import purgatory
from funnelcli.measures.report_parts import add_targets, closing_notes, header, no_days_note, stage_columns, targets_table
from funnelcli.measures.trends_report import trends

__all__ = ["add_targets", "closing_notes", "conversion", "digest", "header", "markets", "purgatory", "stage_columns",
           "targets_table", "trends"]


def conversion(f: Funnel, by: str | None = None) -> Report:
    """Return the stage-by-stage conversion report."""
    rows = funnel.conversion(f, by)
    meta, data = header(f, by=by)
    title = "Stage-by-stage conversion"
    data["title"] = title
    notes = [ColumnNotes([
        ("converted", "Converted: reached the next stage."), ("step_rate", "Step rate: converted / reached."),
        ("cumulative_rate", f"Cumulative: reached / reached {f.defs.stages[0].name}."),
        ("stuck", "Stuck: past the stage's SLA with no next stage or exit."),
        (("median_days", "p75_days", "p90_days"), "Days: from a stage to the next, among the leads that converted."),
    ])]
    cycle = funnel.cycle_time(f)
    first, last = f.defs.stages[0].name, f.defs.stages[-1].name
    if cycle["leads"]:
        days = {k: cell(cycle[k], "days") for k in ("median_days", "p75_days", "p90_days")}
        notes.append(
            f"Cycle time {first} to {last}, per lead ({cycle['leads']:,} lead{'s' if cycle['leads'] != 1 else ''}): "
            f"median {days['median_days']} day{'' if days['median_days'] == '1' else 's'}, p75 {days['p75_days']}, p90 {days['p90_days']}."
        )
    elif f.as_of is not None and len(f.stages) > 1 and f.reached[:, -1].any():  # said, not left out without a word
        notes.append(f"Cycle time {first} to {last}: none: no lead that reached {last} has dates of its own at both "
                     f"{first} and {last}.")
    none = no_days_note(f, rows)
    if none:
        notes.append(ColumnNotes([(("median_days", "p75_days", "p90_days"), none)]))
    data["cycle_time"] = cycle
    columns = stage_columns(f, by)
    columns.insert(len(columns) - 3, Column("skipped", "Skipped", "count", extra=True, priority=3))
    table = Table("stages", None, columns, rows, notes)
    report = Report("conversion", title, meta, [table], closing_notes(f), data)
    from funnelcli.measures import targets

    return add_targets(report, targets.evaluate(f))  # on every lead of the report, whatever --by



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
