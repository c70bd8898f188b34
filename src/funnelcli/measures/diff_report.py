"""The impact of a change of the definitions (`funnelcli diff`): one export, two funnels, compared.

Stage by stage (stages matched by name): reached, converted, exited, stuck, in progress and the
rates under the old and the new definitions; lead by lead (leads matched by id): who changed
furthest stage, bucket, exit or market, counted per kind of change with a few example ids.
Both funnels should stand at the same as-of date (`api.run_both` sees to it); the report says
which date, and says so when they differ.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from funnelcli import __version__
from funnelcli.definitions import OUT_OF_MARKET
from funnelcli.engine import funnel
from funnelcli.engine.funnel import Funnel
from funnelcli.measures import keys
from funnelcli.measures.model import Column, Report, Table, cell, rate_change
from funnelcli.measures.report_parts import export_line

NOT_IN_REPORT = "(not in the report)"  # a lead's furthest stage when it is not in that side's report
NO_EXIT = "(none)"
NO_MARKETS = "(no markets)"
CONVERTED = "converted"  # the bucket of a lead at the last stage that neither exited nor is stuck
KINDS = ("stage", "bucket", "exit", "market")

# (row key of the engine's conversion rows, label, kind)
MEASURES = [
    ("reached", "Reached", "count"),
    ("converted", "Converted", "count"),
    ("exited", "Exited", "count"),
    ("stuck", "Stuck", "count"),
    ("in_progress", "In progress", "count"),
    ("step_rate", "Step rate", "rate"),
    ("cumulative_rate", "Cumulative", "rate"),
]


def diff(old: Funnel, new: Funnel, examples: int = 3) -> Report:
    """Return the report comparing the funnel under the old definitions with the one under the new."""
    stages = matched_stages(old.stages, new.stages)
    stage_rows = stage_comparison(old, new, stages)
    leads = lead_changes(old, new)
    change_rows = change_table_rows(leads, examples)
    counts = changed_counts(leads)
    numbers = sum(r["changed"] for r in stage_rows)
    goals = target_rows(old, new)
    moved_targets = [r for r in goals if r["changed"]]
    changed = bool(numbers or counts["any"] or old.stages != new.stages or moved_targets)
    title = "Impact of the definitions change"
    only_old = [s for s in old.stages if s not in new.stages]
    only_new = [s for s in new.stages if s not in old.stages]
    markets = market_rows(old, new, leads) if old.defs.markets or new.defs.markets else []
    meta = [("Summary", headline(counts, len(leads), stage_rows, numbers, only_old, only_new, markets, moved_targets))]
    meta += _meta(old, new)
    data = {
        "title": title,
        "version": __version__,
        "export": new.export,
        "definitions": {side: {"paths": list(f.defs.sources), "digest": f.defs.digest} for side, f in (("old", old), ("new", new))},
        "as_of": {"old": _date(old.as_of), "new": _date(new.as_of)} if old.as_of != new.as_of else _date(old.as_of),
        "as_of_source": "option" if old.as_of_given and new.as_of_given else "latest date in export (old definitions)",
        "counting": "cohort",
        "stages": {"old": list(old.stages), "new": list(new.stages),
                   "only_old": only_old, "only_new": only_new},
        "changed": changed,
        "changed_numbers": numbers,
        "changed_leads": counts,
        "changed_targets": len(moved_targets),
        "examples": examples,
        "accounting": {"old": old.accounting.as_dict(), "new": new.accounting.as_dict()},
    }
    tables = [_stages_table(stage_rows)]
    if markets:
        tables.append(_markets_table(markets))
    if goals:
        tables.append(_targets_table(goals))
    tables.append(_changes_table(change_rows, examples))
    return Report("diff", title, meta, tables, _notes(old, new), data)


# --------------------------------------------------------------------------------------------
# Stage by stage


def matched_stages(old: tuple[str, ...], new: tuple[str, ...]) -> list[str]:
    """Return the stages of both sides in one order: the old order, each new-only stage placed
    after the stage that precedes it in the new definitions (and after old-only stages there)."""
    order = list(old)
    for i, stage in enumerate(new):
        if stage in order:
            continue
        at = order.index(new[i - 1]) + 1 if i else 0
        while at < len(order) and order[at] not in new:
            at += 1
        order.insert(at, stage)
    return order


def stage_comparison(old: Funnel, new: Funnel, stages: list[str]) -> list[dict]:
    """Return a row per (stage, measure): the value under the old and the new definitions and the
    change (None where the stage, or the measure, does not exist on a side).

    After Exited, a row per exit (by name, from either side) where either side counts a lead."""
    before = {r["stage"]: r for r in funnel.conversion(old)}
    after = {r["stage"]: r for r in funnel.conversion(new)}
    exits = list(dict.fromkeys([e.name for e in old.defs.exits] + [e.name for e in new.defs.exits]))
    measures = []
    for key, label, kind in MEASURES:
        measures.append((key, label, kind))
        if key == "exited":
            measures += [(keys.exited_key(e), f"Exited: {e}", "count") for e in exits]
    rows = []
    for stage in stages:
        for key, label, kind in measures:
            a = before.get(stage, {}).get(key)
            b = after.get(stage, {}).get(key)
            if a is None and b is None:  # a measure neither side has (the last stage converts nowhere)
                continue
            if key.startswith("exited:") and not a and not b:  # an exit that takes no lead here, on either side
                continue
            row = {"stage": stage, "measure": key, "label": label, "kind": kind, "old": a, "new": b,
                   "change": rate_change(b, a) if kind == "rate" else None if a is None or b is None else b - a}
            row["changed"] = _changed(row)
            rows.append(row)
    return rows


def _changed(row: dict) -> bool:
    return (row["old"] is None) != (row["new"] is None) or (row["change"] is not None and row["change"] != 0)


def _stages_table(rows: list[dict]) -> Table:
    cols = [Column("stage", "Stage", "group"), Column("measure", "Measure key", hidden=True), Column("label", "Measure"),
            Column("old", "Old", "count", kind_of={"rate": "rate"}, priority=2), Column("new", "New", "count", kind_of={"rate": "rate"}),
            # a diff is its changes: to fit a width, the yes marks go first, then Old (New and Change give it)
            Column("change", "Change", "delta", kind_of={"rate": "pp"}), Column("changed", "Changed", "flag", flag="yes", priority=3)]
    return Table("stages", "Stage by stage", cols, rows, [
        "Old: under the old definitions; New: under the new; Change: new minus old (rates in percentage points). "
        "Step rate: to the stage's next stage on that side. '-': the stage or the measure does not exist on that side; a measure neither side has is left out, and so is "
        "an exit that takes no lead at the stage on either side."])


def market_rows(old: Funnel, new: Funnel, leads: pd.DataFrame) -> list[dict]:
    """Return a row per market (by name, from either side; out of market last): the leads of the
    report in it under the old and the new definitions."""
    names = [m.name for m in old.defs.markets] + [m.name for m in new.defs.markets]
    counts = {side: leads[f"market_{side}"].value_counts() for side in ("old", "new")}
    rows = []
    for name in dict.fromkeys(names + [OUT_OF_MARKET]):
        a, b = (int(counts[side].get(name, 0)) if f.defs.markets else None for side, f in (("old", old), ("new", new)))
        rows.append({"market": name, "old": a, "new": b, "change": None if a is None or b is None else b - a})
    return rows


def _markets_table(rows: list[dict]) -> Table:
    cols = [Column("market", "Market"), Column("old", "Old", "count"), Column("new", "New", "count"), Column("change", "Change", "delta")]
    return Table("markets", "Leads by market", cols, rows, [
        "Leads of the report in each market: the first market whose rule a lead meets, else out of market."])


def target_rows(old: Funnel, new: Funnel) -> list[dict]:
    """Return a row per target (by key, from either side): its goal, actual and status under the
    old and the new definitions, checked as `conversion` checks them; changed when a side lacks
    it or its goal, status or actual as shown (0.1 of a percent) differs (a new goal alone can
    turn a met target missed)."""
    from funnelcli.measures.targets import evaluate

    before, after = ({r["target"]: r for r in evaluate(f)} for f in (old, new))
    rows = []
    for key in dict.fromkeys([*before, *after]):
        a, b = before.get(key, {}), after.get(key, {})
        row = {"target": key}
        for field in ("goal", "actual", "status"):
            row[f"{field}_old"], row[f"{field}_new"] = a.get(field), b.get(field)
        moved = rate_change(b["actual"], a["actual"]) if a and b else None
        row["changed"] = not a or not b or a["goal"] != b["goal"] or a["status"] != b["status"] or bool(moved) or (
            (a["actual"] is None) != (b["actual"] is None))
        rows.append(row)
    return rows


def _targets_table(rows: list[dict]) -> Table:
    cols = [Column("target", "Target"), Column("goal_old", "Goal (old)", priority=2), Column("goal_new", "Goal (new)"),
            Column("actual_old", "Actual (old)", "rate", priority=2), Column("actual_new", "Actual (new)", "rate"),
            Column("status_old", "Status (old)"), Column("status_new", "Status (new)"),
            Column("changed", "Changed", "flag", flag="yes", priority=3)]
    return Table("targets", "Targets", cols, rows, [
        "Each target checked as conversion checks it, under the old and the new definitions; '-': that side has no such target."])


# --------------------------------------------------------------------------------------------
# Lead by lead


def lead_states(f: Funnel) -> pd.DataFrame:
    """Return a row per lead of the report: its id, export row, furthest stage, bucket at that
    stage, exit and market at the as-of date."""
    k = len(f.stages)
    furthest = k - 1 - np.argmax(f.reached[:, ::-1], axis=1) if f.n else np.zeros(0, dtype=np.int64)
    at = (np.arange(f.n), furthest)
    b = f.buckets
    bucket = np.select([b.exited[at], b.stuck[at], b.in_progress[at] & (furthest < k - 1)],
                       ["exited", "stuck", "in progress"], default=CONVERTED)
    exits = np.array([e.name for e in f.defs.exits] + [NO_EXIT], dtype=object)[f.exit_codes]  # -1: the last, none
    market = f.column("market").astype(str).to_numpy(dtype=object) if "market" in f.frame.columns else NO_MARKETS
    return pd.DataFrame({
        "id": f.column("id").astype(str).to_numpy(dtype=object),
        "row": f.column("_row").to_numpy(),
        "stage": np.array(f.stages, dtype=object)[furthest],
        "bucket": bucket.astype(object),
        "exit": exits,
        "market": market,
    })


def lead_changes(old: Funnel, new: Funnel) -> pd.DataFrame:
    """Return every lead in either report (matched by id, in export order) with its state on both
    sides (`stage_old`, `stage_new`, ...; a lead missing from one report has NOT_IN_REPORT there)
    and a column per kind of change."""
    leads = lead_states(old).merge(lead_states(new), on="id", how="outer", suffixes=("_old", "_new"), sort=False)
    leads["row"] = leads["row_old"].fillna(leads["row_new"])
    leads = leads.sort_values("row", kind="stable").reset_index(drop=True)
    both = leads["row_old"].notna() & leads["row_new"].notna()
    for side in ("old", "new"):
        leads[f"stage_{side}"] = leads[f"stage_{side}"].fillna(NOT_IN_REPORT)
        leads[f"at_{side}"] = leads[f"stage_{side}"] + ": " + leads[f"bucket_{side}"].fillna("")
    leads["stage"] = leads["stage_old"] != leads["stage_new"]
    leads["bucket"] = both & ~leads["stage"] & (leads["bucket_old"] != leads["bucket_new"])
    leads["exit"] = both & (leads["exit_old"] != leads["exit_new"])
    leads["market"] = both & (leads["market_old"] != leads["market_new"])
    return leads


def changed_counts(leads: pd.DataFrame) -> dict[str, int]:
    """Return how many leads changed, per kind of change and in any way."""
    counts = {kind: int(leads[kind].sum()) for kind in KINDS}
    counts["any"] = int(leads[list(KINDS)].any(axis=1).sum())
    return counts


def change_table_rows(leads: pd.DataFrame, examples: int) -> list[dict]:
    """Return a row per (kind, old value, new value) with the leads that moved so and the first
    `examples` of their ids in export order; the most common moves first within each kind."""
    columns = {"stage": ("stage_old", "stage_new"), "bucket": ("at_old", "at_new"),
               "exit": ("exit_old", "exit_new"), "market": ("market_old", "market_new")}
    rows = []
    for kind, (before, after) in columns.items():
        moved = leads.loc[leads[kind], ["id", before, after]]
        if moved.empty:
            continue
        groups = moved.groupby([before, after], sort=False)
        ids = moved.groupby([before, after], sort=False).head(examples).groupby([before, after], sort=False)["id"].agg(", ".join)
        found = [{"change": kind, "old": a, "new": b, "leads": int(n), "example_ids": ids.get((a, b), "")}
                 for (a, b), n in groups.size().items()]
        rows += sorted(found, key=lambda r: -r["leads"])  # stable: ties keep export order
    return rows


def _changes_table(rows: list[dict], examples: int) -> Table:
    cols = [Column("change", "Change"), Column("old", "Old"), Column("new", "New"), Column("leads", "Leads", "count"),
            Column("example_ids", "Example ids")]
    if not rows:  # nothing listed: nothing to define
        return Table("lead_changes", "Leads that changed", cols, rows, ["No lead changed furthest stage, bucket, exit or market."])
    notes = [
        f"Stage: the furthest stage a lead reached, or {NOT_IN_REPORT} when it had not reached the first stage by "
        "the as-of date or its row was excluded. Bucket: exited, stuck or in progress at that stage (at the last stage, "
        f"{CONVERTED} unless exited or stuck), for leads whose furthest stage is the same. Exit and market: for "
        f"leads in both reports. Example ids: the first {examples} in export order."]
    return Table("lead_changes", "Leads that changed", cols, rows, notes)


# --------------------------------------------------------------------------------------------
# Header, headline and notes


def headline(counts: dict[str, int], leads: int, stage_rows: list[dict], numbers: int,
             only_old: list[str], only_new: list[str], markets: list[dict] = (), targets: list[dict] = ()) -> str:
    """Return what changed in one or two sentences: the leads that moved, the stages only one side
    has, the biggest moves of the counts (a stage's, an exit's, a market's), and the targets whose
    status changed."""
    moved = "; ".join(_target_move(r) for r in targets)
    flips = f" Target{'s' if len(targets) != 1 else ''}: {moved}." if targets else ""
    if not counts["any"] and not numbers:
        if targets:
            return f"No lead or number changed; {len(targets)} target{'s' if len(targets) != 1 else ''} did: {moved}."
        return "No change: no lead changes furthest stage, bucket, exit or market, and every number is the same."
    kinds = [k for k in KINDS if counts[k]]
    parts = ", ".join(f"{counts[k]:,} {'furthest stage' if k == 'stage' else k}" for k in kinds)
    if sum(counts[k] for k in kinds) > counts["any"]:
        parts += "; a lead can change in more than one way"
    text = f"{counts['any']:,} of {leads:,} lead{'s' if leads != 1 else ''} change" + (f" ({parts})." if parts else ".")
    sides = [f"{', '.join(names)} only in the {side} definitions" for names, side in ((only_old, "old"), (only_new, "new")) if names]
    if sides:
        text += f" Stages: {'; '.join(sides)}."
    # an exit's own row says more than its stage's Exited when exits trade leads (Lost to
    # Disqualified), and repeats it when it is the only exit that moved
    exited = {r["stage"]: r["change"] for r in stage_rows if r["measure"] == "exited"}
    moves = [(abs(r["change"]), f"{r['stage']} {r['label'][0].lower() + r['label'][1:]} {cell(r['old'], 'count')} -> "
                                f"{cell(r['new'], 'count')} ({cell(r['change'], 'delta')})")
             for r in stage_rows if r["kind"] == "count" and r["change"]
             and not (r["measure"].startswith("exited:") and r["change"] == exited.get(r["stage"]))]
    moves += [(abs(r["change"]), f"market {r['market']} {cell(r['old'], 'count')} -> {cell(r['new'], 'count')} "
                                 f"({cell(r['change'], 'delta')})") for r in markets if r["change"]]
    shown = [words for _, words in sorted(moves, key=lambda m: -m[0])[:3]]
    return text + (f" Biggest moves: {'; '.join(shown)}." if shown else "") + flips


def _target_move(row: dict) -> str:
    """Return how a target changed: its goal, its status and its actual, each where it moved."""
    parts = [f"goal {row['goal_old'] or 'none'} -> {row['goal_new'] or 'none'}"] if row["goal_old"] != row["goal_new"] else []
    if row["status_old"] != row["status_new"]:
        parts.append(f"{row['status_old'] or 'none'} -> {row['status_new'] or 'none'}")
    if rate_change(row["actual_new"], row["actual_old"]):
        parts.append(f"actual {cell(row['actual_old'], 'rate')} -> {cell(row['actual_new'], 'rate')}")
    return f"{row['target']} " + ", ".join(parts)


def _date(value) -> str | None:
    return None if value is None else value.strftime("%Y-%m-%d")


def _meta(old: Funnel, new: Funnel) -> list[tuple[str, str]]:
    meta = [
        ("Export", export_line(new)),
        ("Old definitions", f"{', '.join(old.defs.sources)} (digest {old.defs.digest})"),
        ("New definitions", f"{', '.join(new.defs.sources)} (digest {new.defs.digest})"),
        ("As of", _as_of_line(old, new)),
    ]
    first_old, first_new = old.stages[0], new.stages[0]
    first = first_old if first_old == first_new else f"{first_old} (old) or {first_new} (new)"
    by = " by the as-of date" if old.as_of is not None or new.as_of is not None else ""
    meta.append(("Cohorts", f"every lead that reached {first}{by}; counting by cohort"))
    only_old = [s for s in old.stages if s not in new.stages]
    only_new = [s for s in new.stages if s not in old.stages]
    if only_old or only_new:
        text = "matched by name; " + "; ".join(
            part for part in (f"only in the old definitions: {', '.join(only_old)}" if only_old else "",
                              f"only in the new: {', '.join(only_new)}" if only_new else "") if part)
        meta.append(("Stages", text + " ('-' on the side that lacks them)"))
    elif old.stages != new.stages:
        meta.append(("Stages", f"the same names in a new order: {', '.join(new.stages)}"))
    else:
        meta.append(("Stages", f"the same on both sides: {', '.join(new.stages)}"))
    return meta


def _as_of_line(old: Funnel, new: Funnel) -> str:
    if old.as_of != new.as_of:
        return (f"{_date(old.as_of) or 'none'} (old), {_date(new.as_of) or 'none'} (new): the runs stand at different "
                "dates, so some changes are the passing of time")
    if old.as_of is None:
        return "none: the export has no dates (nothing can be stuck)"
    source = "given with --as-of" if old.as_of_given and new.as_of_given else "the latest date in the export, by the old definitions"
    return f"{_date(old.as_of)} ({source}), for both"


def _notes(old: Funnel, new: Funnel) -> list[str]:
    def lines(f: Funnel, who: str) -> list[str]:
        return [f"Rows ({who}): {f.accounting.sentence()}.", *(f"File ({who}): {a.sentence()}." for a in f.accounting.files)]

    if lines(old, "") == lines(new, ""):
        return _data_lines(old, new) + lines(old, "old and new")
    return _data_lines(old, new) + lines(old, "old") + lines(new, "new")


def _data_lines(old: Funnel, new: Funnel) -> list[str]:
    """Return what stderr says about the data (notices, warnings) as Data lines, once when both
    runs have it, else naming the definitions: a diff read without stderr (mailed, -q) says them too."""
    def texts(f: Funnel) -> list[str]:
        return [x.text(f.option_words is not None, f.option_words) for x in f.findings if x.kind in ("notice", "warning")]

    before, after = texts(old), texts(new)
    return ([f"Data: {t}." for t in before if t in after] + [f"Data (old): {t}." for t in before if t not in after]
            + [f"Data (new): {t}." for t in after if t not in before])
