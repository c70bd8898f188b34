"""The parts every report shares: the header lines (and their JSON facts), the closing notes,
the stage-by-stage columns and the targets table.

Each report module (reports, purgatory_report, trends_report, digest_report) builds on these.
"""

from __future__ import annotations

import numpy as np

from funnelcli import __version__
from funnelcli.engine import funnel
from funnelcli.engine.funnel import Funnel
from funnelcli.measures import keys
from funnelcli.measures.model import Column, ColumnNotes, Report, Table
from funnelcli.measures.targets import MET, MISSED, NO_DATA


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
        cohorts = f"leads that reached {first} from {_date(f.since) or 'the start'} to {_date(f.until) or as_of or 'the end'}"
        if not as_of:  # no dates: no lead has a date to be in the range
            cohorts += " (the export has no dates: no lead can be placed in the range)"
    else:
        cohorts = f"every lead that reached {first}" + (" by the as-of date" if as_of else "")
        days = f.date.days[:, f.cohort_stage]  # the cohort stage's dates (trends --from-stage), not the first's
        days = days[(days != f.date.NONE) & f.reached[:, f.cohort_stage]]
        if len(days):
            cohorts += f" (entered {np.datetime64(int(days.min()), 'D')} to {np.datetime64(int(days.max()), 'D')})"
    meta = [
        ("Export", export_line(f)),
        ("Definitions", f"{sources} (digest {defs.digest})"),
        ("As of", as_of_line),
        ("Cohorts", cohorts),
    ]
    if defs.overrides:  # what-if: the values --set changed, and what they were
        meta.insert(2, ("Set", "; ".join(defs.overrides)))
    joined = joined_line(acc)
    if joined:
        meta.insert(1, ("Joined", joined))
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
        "definitions": {"paths": list(defs.sources), "digest": defs.digest, "set": list(defs.overrides)},
        "as_of": as_of,
        "as_of_source": "option" if f.as_of_given else "latest date in export" if as_of else "no dates in export",
        "counting": counting,
        "cohorts": {"stage": first, "since": _date(f.since), "until": _date(f.until)},
        "by": by,
        "markets": list(f.markets),
        "accounting": acc.as_dict(),
        # what stderr says about the data (notices: unknown status values, dates out of order...), for -q and pipelines
        "findings": [{"kind": x.kind, "message": x.text(), "count": x.count} for x in f.findings],
    }
    return meta, data


def export_line(f: Funnel) -> str:
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
        why = ("the export has no dates" if f.as_of is None
               else "no date of their own in the stage, and no stage_since by the as-of date")
        notes.append(f"Age unknown ({why}; counted in progress): {parts}.")
    if f.as_of is None:
        notes.append("The export has no dates: nothing can be stuck, and velocity and trends need dates.")
    if f.unplaced:
        moved = " (a status whose stage_since is after the as-of date, at the stage before it)" \
            if f.defs.stage_column and "stage_since" in f.defs.columns else ""
        notes.append(f"Replay: {f.unplaced:,} lead{'s' if f.unplaced != 1 else ''} reached a stage with no date, which a "
                     f"replay can't place in time: counted where the export puts them{moved}.")
    # what stderr says about the data, for a report read without it (a mailed one, -q): excluded
    # rows are in the Rows line and each file's in its File line
    cli = f.option_words is not None
    notes += [f"Data: {x.text(cli, f.option_words)}." for x in f.findings if x.kind in ("notice", "warning")]
    notes.append(f"Rows: {f.accounting.sentence()}.")
    notes += [f"File: {account.sentence()}." for account in f.accounting.files]
    return notes


def joined_line(accounting) -> str:
    """Return the header's Joined line: each joined file and its rows ('' with no join)."""
    return ", ".join(f"{a.name} ({a.rows_read:,} row{'s' if a.rows_read != 1 else ''})"
                     for a in accounting.files if a.role.startswith("join"))


def no_days_note(f: Funnel, rows: list[dict]) -> str | None:
    """Return 'Days: none: why' when a stage table's leads converted and no step has days, else None."""
    if f.as_of is None or any(r["median_days"] is not None for r in rows) or not any(r["converted"] for r in rows):
        return None
    return f"Days: none: {no_days_reason(f)}."


def no_days_reason(f: Funnel) -> str:
    """Say why no step has days: no step has dates of the leads' own at both ends, and what has none."""
    why = ("a stage the lead skipped, reached through a later one, has no date of its own" if f.defs.history
           else "a stage skipped, or reached by a status, a flag or an undated condition, has no date of its own")
    return f"no step has dates of the lead's own at both ends ({why})"


def title_case(name: str) -> str:
    """Return a field name as a column label: 'lead_source' -> 'Lead source'."""
    return name.replace("_", " ").capitalize()


def stage_columns(f: Funnel, by: str | None) -> list[Column]:
    """Return the columns of the stage-by-stage table (the engine's conversion rows)."""
    cols = [Column("group", title_case(by), "group")] if by else []
    cols += [Column("stage", "Stage"), Column("reached", "Reached", "count")]
    if f.defs.stage_column or f.defs.history:  # shapes where entered (own evidence) and reached differ
        cols.append(Column("entered", "Entered", "count", priority=2))
    cols += [
        Column("converted", "Converted", "count", whole=True),
        Column("step_rate", "Step rate", "rate"),
        Column("cumulative_rate", "Cumulative", "rate", priority=2),
        Column("exited", "Exited", "count", whole=True),  # the four buckets add up to reached: shown together
    ]
    # the compact set fits 100 columns; per exit and the upper percentiles on request (--columns),
    # and left out before the median and the cumulative rate to fit a width
    cols += [Column(keys.exited_key(e.name), e.name, "count", extra=True, priority=3, together="exits") for e in f.defs.exits]
    cols += [
        Column("stuck", "Stuck", "count", whole=True),
        Column("in_progress", "In progress", "count", whole=True),
        Column("median_days", "Median days", "days", priority=2),
        Column("p75_days", "p75 days", "days", extra=True, priority=3),
        Column("p90_days", "p90 days", "days", extra=True, priority=3),
    ]
    return cols


def _targets_count(rows: list[dict]) -> str:
    """Return the sentence that counts the targets missed, met and without data (none missed can
    be none met: a replay before any cohort is mature has no data)."""
    missed, no_data = (sum(r["status"] == status for r in rows) for status in (MISSED, NO_DATA))
    met = len(rows) - missed - no_data
    if len(rows) == 1:
        return {MISSED: "The target is missed.", MET: "The target is met."}.get(rows[0]["status"], "The target has no data.")
    if missed:
        return f"{missed} of {len(rows)} targets missed." + (f" {no_data} without data." if no_data else "")
    if not met:
        return f"None of the {len(rows)} targets has data yet."
    return f"None missed: {met} met, {no_data} without data." if no_data else f"All {len(rows)} targets met."


def targets_table(rows: list[dict]) -> Table:
    """Return the targets table, its note counting the missed ones."""
    cols = [Column("target", "Target"), Column("goal", "Goal"), Column("actual", "Actual", "rate"),
            Column("numerator", "Leads", "count", priority=2), Column("denominator", "Of", "count", priority=2),
            Column("basis", "Basis", priority=3), Column("status", "Status")]
    notes = [_targets_count(rows)]
    if any(r["basis"].startswith("entered ") for r in rows):
        notes.append(ColumnNotes([("basis", "Basis: a rate counts the leads that entered by that date, whose conversion windows have all "
                     "passed (a mature rate); report and trends count the latest mature cohort of their period instead.")]))
    return Table("targets", "Targets", cols, rows, notes)


def add_targets(report: Report, rows: list[dict]) -> Report:
    """Add the targets table and the list of missed ones (JSON: `missed_targets`)."""
    if rows:
        report.tables.append(targets_table(rows))
    report.data["missed_targets"] = [r["target"] for r in rows if r["status"] == MISSED]
    return report
