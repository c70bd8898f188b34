"""Engine results -> Reports: the titles, columns, header lines and notes of each command."""

from __future__ import annotations

import numpy as np

from funnelcli import __version__, funnel
from funnelcli.funnel import Funnel
from funnelcli.render import Column, Report, Table


def _date(value) -> str | None:
    return None if value is None else value.strftime("%Y-%m-%d")


def header(f: Funnel, kind: str, counting: str = "cohort", by: str | None = None) -> tuple[list[tuple[str, str]], dict]:
    """Return the header lines every report starts with, and the same facts for JSON."""
    defs = f.defs
    acc = f.accounting
    first = defs.stages[0].name
    sources = ", ".join(defs.sources)
    as_of = _date(f.as_of)
    as_of_source = "given with --as-of" if f.as_of_given else "the latest date in the export"
    if f.since or f.until:
        cohorts = f"leads that reached {first} from {_date(f.since) or 'the start'} to {_date(f.until) or as_of}"
    else:
        cohorts = f"every lead that reached {first} by the as-of date"
        dates = f.date[:, 0][~np.isnat(f.date[:, 0])]
        if len(dates):
            cohorts += f" (entered {np.datetime_as_string(dates.min(), 'D')} to {np.datetime_as_string(dates.max(), 'D')})"
    meta = [
        ("Export", f"{f.export} ({acc.rows_read:,} rows)"),
        ("Definitions", f"{sources} (digest {defs.digest})"),
        ("As of", f"{as_of} ({as_of_source})"),
        ("Cohorts", cohorts),
    ]
    if counting == "cohort":
        meta.append(("Counting", f"by cohort: each stage counts the cohort's leads that reached it by {as_of}"))
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


def closing_notes(f: Funnel) -> list[str]:
    """Return the lines every report ends with: data-quality facts and the accounting line."""
    notes = []
    skipped = funnel.skipped_summary(f)
    if skipped:
        parts = ", ".join(f"{stage} {n:,}" for stage, n in skipped)
        notes.append(f"Skipped stages (reached a later stage with no date of their own; dated by the later stage): {parts}.")
    undated = funnel.undated_summary(f)
    if undated:
        parts = ", ".join(f"{stage} {n:,}" for stage, n in undated)
        notes.append(f"Reached with no date (age unknown, counted in progress): {parts}.")
    notes.append(f"Rows: {f.accounting.sentence()}.")
    return notes


def _title_case(name: str) -> str:
    return name.replace("_", " ").capitalize()


def stage_columns(f: Funnel, by: str | None) -> list[Column]:
    cols = [Column("group", _title_case(by), "group")] if by else []
    cols += [
        Column("stage", "Stage"),
        Column("reached", "Reached", "count"),
        Column("converted", "Converted", "count"),
        Column("step_rate", "Step rate", "rate"),
        Column("cumulative_rate", "Cumulative", "rate"),
        Column("exited", "Exited", "count"),
    ]
    cols += [Column(f"exited:{e.name}", e.name, "count") for e in f.defs.exits]
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
    meta, data = header(f, "conversion", by=by)
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
        notes.append(
            f"Cycle time {first} to {last}, per lead ({cycle['leads']:,} lead{'s' if cycle['leads'] != 1 else ''}): median {cycle['median_days']:.1f} days, "
            f"p75 {cycle['p75_days']:.1f}, p90 {cycle['p90_days']:.1f}."
        )
    data["cycle_time"] = cycle
    columns = stage_columns(f, by)
    columns.insert(len(columns) - 3, Column("skipped", "Skipped", "count"))
    table = Table("stages", None, columns, rows, notes)
    return Report("conversion", title, meta, [table], closing_notes(f), data)
