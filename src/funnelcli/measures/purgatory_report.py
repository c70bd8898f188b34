"""Purgatory's report: the stuck leads per stage, the two named purgatories, the backlog's age,
the leakage through each exit and the stuck per group; or with --list the stuck leads themselves.
"""

from __future__ import annotations

from funnelcli.engine.funnel import Funnel
from funnelcli.engine.groups import by_key
from funnelcli.measures import keys
from funnelcli.measures.model import Column, ColumnNotes, Report, Table
from funnelcli.measures.report_parts import closing_notes, header, title_case


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
        return _stuck_list_report(f, stages, min_days, meta, data, by)

    title = "Leakage and purgatory"
    data["title"] = title
    has_amount = "amount" in f.frame.columns  # mapped, or brought by a join
    exits = [e.name for e in f.defs.exits]
    tables = [_stuck_by_stage_table(f, stages, exits, has_amount)]
    named = measures.named_purgatories(f, stages)
    if named:
        tables.append(_purgatories_table(f, named, has_amount))
    bands = measures.age_bands(f, stages)
    if bands:
        tables.append(_age_bands_table(bands))
    if exits:
        tables.append(_leakage_table(f, stages, exits))
    if by:
        tables.append(_stuck_by_group_table(f, by, stages, has_amount))
    return Report("purgatory", title, meta, tables, closing_notes(f), data)


def _stuck_list_report(f: Funnel, stages: list[int], min_days: float | None, meta: list, data: dict,
                       by: str | None = None) -> Report:
    """Return the purgatory report's --list form: the stuck leads themselves, oldest first (with
    `by`, in a block per group)."""
    from funnelcli.measures import purgatory as measures

    rows, fields, later = measures.stuck_list(f, stages, min_days, by)
    title = "Stuck leads"
    if min_days is not None:
        meta.append(("Filter", f"{min_days:g}+ days in the stage"))
    data.update(title=title, min_days=min_days)
    columns = [
        Column("id", "Id"), Column("stage", "Stage"), Column("entered", "Entered", priority=2),
        Column("days_in_stage", "Days in stage", "number"), Column("days_over_sla", "Over SLA by", "number", priority=2),
        Column("why", "Why", priority=2),
    ] + [Column(k, title_case(k), "number" if k in ("touches", "amount") else "text", priority=1 if k == "owner" else 3) for k in fields]
    if by is not None:  # the group first, and the field not again
        columns = [Column("group", title_case(by), "group")] + [c for c in columns if c.key != by_key(f.defs, by)]
    past = sum(1 for r in rows if str(r["why"]).startswith("past SLA"))
    dropped = len(rows) - past  # by the activity rule only: in progress in the stage table
    count = f"{len(rows):,} stuck lead{'s' if len(rows) != 1 else ''}, oldest first" + (
        f" within each {by}, in the order of Stuck by {by}" if by is not None else "")
    if dropped:
        count += (f": {past:,} past the SLA (Stuck in the stage table), {dropped:,} touched and dropped only "
                  "(In progress there: within the SLA, or of unknown age)")
    ruled = any(f.defs.stages[i].purgatory is not None for i in stages)  # the activity rule's words only where a listed stage has one
    notes = [ColumnNotes([(None, f"{count}."), ("why", "Past SLA: older in the stage than its SLA with no next stage or exit."
                                                         + (" Touched and dropped: the stage's activity rule." if ruled else ""))])]
    for key, n in later.items():  # a replay: what happened after the as-of date was not known then
        notes.append(f"{title_case(key)}: left out where after the as-of date {f.as_of:%Y-%m-%d} ({n:,} lead"
                     f"{'s' if n != 1 else ''}): not known then.")
    return Report("purgatory", title, meta, [Table("stuck_leads", None, columns, rows, notes)], closing_notes(f), data)


def _stuck_by_stage_table(f: Funnel, stages: list[int], exits: list[str], has_amount: bool) -> Table:
    """Return the table of stuck leads per stage, with the exits and the value at risk."""
    from funnelcli.measures import purgatory as measures

    cols = [Column("stage", "Stage"), Column("sla_days", "SLA days", "number"), Column("reached", "Reached", "count"),
            Column("converted", "Converted", "count"), Column("exited", "Exited", "count")]
    alone = len(exits) == 1  # the one exit's column repeats Exited: csv and json have it, tables on request
    cols += [Column(keys.exited_key(e), e, "count", priority=3, extra=alone) for e in exits]
    cols += [Column("stuck", "Stuck", "count"), Column("in_progress", "In progress", "count"),
             Column("stuck_share", "Stuck share", "rate", priority=2), Column("median_days_stuck", "Median days stuck", "days", priority=2),
             Column("max_days_stuck", "Max days stuck", "days", priority=3)]
    risk = risk_columns(f) if has_amount else []
    cols += risk
    several = len(risk) > 1 or bool(risk) and risk[0].key != "value_at_risk"
    notes = [ColumnNotes([("stuck", "Stuck: reached the stage, neither moved on nor exited, and older in it than its SLA.")]
                         + ([(("median_days_stuck", "max_days_stuck"), "Days stuck: days in the stage at the as-of date.")]
                            if f.as_of is not None else [])  # no dates: no days
                         + ([(tuple(c.key for c in risk), "Value at risk: the amount of the stuck leads"
                              + (", a total per currency." if several else "."))] if risk else []))]
    last = len(f.stages) - 1
    open_ended = [f.stages[i] for i in stages if i != last and f.defs.stages[i].sla_days is None]
    if open_ended and f.as_of is not None:  # with no dates nothing can be stuck anywhere, and the report says so
        notes.append(f"No SLA: {', '.join(open_ended)}: no lead can be stuck there (Stuck 0); give "
                     f"{'it' if len(open_ended) == 1 else 'each'} sla_days in the definitions to measure its purgatory.")
    return Table("stages", "Stuck by stage", cols, measures.stage_rows(f, stages), notes)


def risk_columns(f: Funnel) -> list[Column]:
    """Return the value at risk's column, or with amounts in several currencies one per currency."""
    from funnelcli.measures import purgatory as measures

    shown = measures.currencies(f)
    if shown is None:
        return [Column("value_at_risk", "Value at risk", "money")]
    return [Column(keys.risk_key(c), f"Value at risk {c}", "money", together="value_at_risk") for c in shown[0]]


def _purgatories_table(f: Funnel, named: list[dict], has_amount: bool) -> Table:
    """Return the table of the two named purgatories, each rule in a note."""
    cols = [Column("purgatory", "Purgatory"), Column("stage", "Stage"), Column("leads", "Leads", "count"),
            Column("share_of_reached", "Share of stage", "rate"), Column("median_days_in_stage", "Median days", "days"),
            Column("max_days_in_stage", "Max days", "days")]
    if has_amount:
        cols += risk_columns(f)
    kinds = {r["purgatory"] for r in named}  # never accepted, and touched and dropped where a stage has an activity rule
    title = "The two purgatories" if len(kinds) > 1 else "Purgatory"
    return Table("purgatories", title, cols, named, [f"{r['purgatory']}: {r['rule']}." for r in named])


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
    alone = len(exits) == 1  # the one exit's columns repeat Exited and its share: csv and json have them
    for e in exits:
        cols += [Column(keys.exited_key(e), e, "count", extra=alone), Column(keys.share_key(e), f"{e} share", "rate", extra=alone)]
    return Table("leakage", "Leakage", cols, measures.leakage(f, stages), [
        "Exited: left through an exit at this stage, without reaching the next; shares of the stage's leads."])


def _stuck_by_group_table(f: Funnel, by: str, stages: list[int], has_amount: bool) -> Table:
    """Return the table of stuck leads per group of --by, most stuck first."""
    from funnelcli.measures import purgatory as measures

    cols = [Column("group", title_case(by)), Column("stuck", "Stuck", "count")]
    if len(stages) > 1:  # a stage without an SLA has nobody stuck: no column for it
        cols += [Column(keys.stuck_key(f.stages[i]), f"Stuck {f.stages[i]}", "count") for i in stages
                 if f.defs.stages[i].sla_days is not None]
    if any(f.defs.stages[i].purgatory for i in stages):
        cols.append(Column("touched_and_dropped", "Touched and dropped", "count"))
    cols += [Column("reached", "Reached", "count"), Column("stuck_share", "Stuck share", "rate"),
             Column("median_days_stuck", "Median days stuck", "days"), Column("max_days_stuck", "Max days stuck", "days")]
    if has_amount:
        cols += risk_columns(f)
    return Table("groups", f"Stuck by {by}", cols, measures.by_group(f, by, stages), [
        "Ranked by stuck leads. A lead stuck at several stages counts once; its days are those of its latest stage."])
