#!/usr/bin/env python3
"""Generate ONE synthetic funnel written in three export shapes that carry the same information.

    python benchmarks/make_shapes.py --leads 1000000 --out benchmarks/data/shapes-1000000

The funnel: stages Lead -> MQL -> SQL -> Won, an exit Lost (only from SQL: it is the opportunity
that is lost), an owner per lead. Every lead is a Lead when it is created; MQL, SQL and the close
(won, lost, or still open) follow after random delays; events after the export's end are dropped,
so recent leads are still in progress. No stage is ever skipped and no lead re-enters a stage, so
the three shapes must give the same numbers. Written to --out:

  wide.csv           id, owner, created, mql_date, sql_date, won_date, lost_date (blank: not reached)
  log.csv            deal_id, field, new_value, change_time: a row per stage entry (field=stage,
                     new_value = the stage's label: Lead, Marketing Qualified, Sales Qualified,
                     Closed Won, Closed Lost), plus rows that are not stage changes (field=owner:
                     the first owner at creation and reassignments, the last one is the lead's owner
                     in wide.csv; field=value and field=label), about --rows-per-lead rows per lead in
                     all. Rows are in time order overall (by change_time; ties keep the order Lead,
                     MQL, SQL, close, other), or shuffled with --log-order shuffled.
  leads.csv          id, owner, created, mql_date, sql_date, opportunity_id (blank unless the lead
                     reached SQL: one opportunity per converted lead)
  opportunities.csv  opportunity_id, closed_at, is_won, is_lost (1/0; closed_at blank while open),
                     in a shuffled order
  expected.json      the ground truth: leads per stage, Lost, the export's last day, row counts

Times are "YYYY-MM-DD HH:MM" everywhere, the same instant in every shape. The "other" rows of the
log are dated between the lead's creation and the last stage event of the whole export, so every
shape has the same effective (as-of) date. Seeded: the same arguments give the same files.
numpy-vectorised; 1,000,000 leads take a few seconds.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

START = np.datetime64("2022-01-01T00:00", "m").astype(np.int64)  # minutes since 1970
END = np.datetime64("2025-01-01T00:00", "m").astype(np.int64)  # the export is taken at the end of 2024
DAY = 1440
OWNERS = ["Dana Whitfield", "Marcus Oyelaran", "Priya Raman", "Tom Becker", "Sofia Lindqvist",
          "Kenji Watanabe", "Luis Ortega", "Hannah Cole"]
OWNER_WEIGHTS = np.array([16, 15, 14, 13, 12, 11, 10, 9], dtype=float)
# the log's label for each stage and the exit: the definitions map them with values:
STAGE_LABELS = {"Lead": "Lead", "MQL": "Marketing Qualified", "SQL": "Sales Qualified", "Won": "Closed Won"}
LOST_LABEL = "Closed Lost"
LABELS = ["Hot", "Warm", "Cold"]
AMOUNTS = [str(a) for a in range(500, 50_001, 250)]
FORMAT = "%Y-%m-%d %H:%M"


def simulate(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Return per lead: created, mql, sql, won, lost as minutes since 1970 (-1: not reached), owner code."""
    created = np.sort(rng.integers(START, END, n))  # ids follow creation order
    owner = rng.choice(len(OWNERS), size=n, p=OWNER_WEIGHTS / OWNER_WEIGHTS.sum())

    def after(previous: np.ndarray, reached: np.ndarray, shape: float, mean_days: float) -> np.ndarray:
        # at least an hour later; dropped (-1) when it would come after the export's end
        delay = 60 + (rng.gamma(shape, mean_days / shape, n) * DAY).astype(np.int64)
        at = previous + delay
        return np.where(reached & (previous >= 0) & (at < END), at, -1)

    mql = after(created, rng.random(n) < 0.45, 1.5, 6)
    sql = after(mql, rng.random(n) < 0.50, 2.0, 12)
    outcome = rng.choice(3, size=n, p=[0.30, 0.45, 0.25])  # won, lost, still open
    close = after(sql, outcome < 2, 2.0, 35)
    won = np.where(outcome == 0, close, -1)
    lost = np.where(outcome == 1, close, -1)
    return {"created": created, "mql": mql, "sql": sql, "won": won, "lost": lost, "owner": owner}


def times(minutes: np.ndarray) -> pa.Array:
    """Return minutes since 1970 as "YYYY-MM-DD HH:MM" text, null where -1."""
    stamps = pa.array(minutes * 60, type=pa.timestamp("s"), mask=minutes < 0)
    return pc.strftime(stamps, format=FORMAT)


def flags(mask: np.ndarray) -> pa.Array:
    return pc.take(pa.array(["0", "1"]), pa.array(mask.astype(np.int8)))


def write(table: pa.Table, path: Path) -> None:
    # no value here holds a comma, a quote or a line break: written unquoted, as most CRMs do
    with open(path, "wb") as out:
        out.write((",".join(table.column_names) + "\n").encode())
        pacsv.write_csv(table, out, pacsv.WriteOptions(include_header=False, quoting_style="none"))


def write_wide(f: dict, ids: np.ndarray, out: Path) -> None:
    owner = pc.take(pa.array(OWNERS), pa.array(f["owner"]))
    write(pa.table({"id": ids, "owner": owner, "created": times(f["created"]), "mql_date": times(f["mql"]),
                    "sql_date": times(f["sql"]), "won_date": times(f["won"]), "lost_date": times(f["lost"])}),
          out / "wide.csv")


def write_join(f: dict, ids: np.ndarray, out: Path, rng: np.random.Generator) -> int:
    converted = f["sql"] >= 0
    k = int(converted.sum())
    opp_ids = np.full(len(ids), -1, dtype=np.int64)
    opp_ids[converted] = 7_000_000_000 + np.arange(k)
    owner = pc.take(pa.array(OWNERS), pa.array(f["owner"]))
    write(pa.table({"id": ids, "owner": owner, "created": times(f["created"]), "mql_date": times(f["mql"]),
                    "sql_date": times(f["sql"]), "opportunity_id": pa.array(opp_ids, mask=opp_ids < 0)}),
          out / "leads.csv")
    won, lost = f["won"][converted], f["lost"][converted]
    order = rng.permutation(k)  # an opportunities export is in no particular lead order
    write(pa.table({"opportunity_id": opp_ids[converted][order],
                    "closed_at": times(np.maximum(won, lost)[order]),
                    "is_won": flags((won >= 0)[order]), "is_lost": flags((lost >= 0)[order])}),
          out / "opportunities.csv")
    return k


def write_log(f: dict, ids: np.ndarray, out: Path, rng: np.random.Generator, per_lead: float, order: str) -> tuple[int, int]:
    """Write log.csv; return its row count and how many of them are stage changes."""
    n = len(ids)
    vocab = list(STAGE_LABELS.values()) + [LOST_LABEL] + OWNERS + LABELS + AMOUNTS
    code = {v: i for i, v in enumerate(vocab)}
    fields = ["stage", "owner", "value", "label"]
    last_event = max(int(f[s].max()) for s in ("created", "mql", "sql", "won", "lost"))
    lead_parts, field_parts, value_parts, time_parts = [], [], [], []

    def add(lead: np.ndarray, field: int, value: np.ndarray, at: np.ndarray) -> None:
        lead_parts.append(lead)
        field_parts.append(np.full(len(lead), field, dtype=np.int8))
        value_parts.append(value.astype(np.int32))
        time_parts.append(at)

    every = np.arange(n)
    # stage entries, in stage order (ties in time keep this order)
    for key, stage in (("created", "Lead"), ("mql", "MQL"), ("sql", "SQL"), ("won", "Won")):
        who = every[f[key] >= 0]
        add(who, 0, np.full(len(who), code[STAGE_LABELS[stage]]), f[key][who])
    who = every[f["lost"] >= 0]
    add(who, 0, np.full(len(who), code[LOST_LABEL]), f["lost"][who])
    stage_rows = sum(len(p) for p in lead_parts)

    def later(lead: np.ndarray) -> np.ndarray:
        """A time between the lead's creation and the export's last stage event."""
        start = f["created"][lead]
        return start + (rng.random(len(lead)) * (last_event - start + 1)).astype(np.int64)

    # owners: the first at creation; reassignments later; the latest one is the lead's owner in wide.csv
    extra_owners = rng.poisson(0.5, n)
    first_owner = np.where(extra_owners > 0, rng.integers(0, len(OWNERS), n), f["owner"])
    add(every, 1, code[OWNERS[0]] + first_owner, f["created"])
    moved = np.repeat(every, extra_owners)
    moved_at = later(moved)
    # the last reassignment (by time) of each lead names its owner; the earlier ones any owner
    sort = np.lexsort((moved_at, moved))
    moved, moved_at = moved[sort], moved_at[sort]
    is_last = np.r_[moved[1:] != moved[:-1], True] if len(moved) else np.zeros(0, dtype=bool)
    moved_owner = np.where(is_last, f["owner"][moved], rng.integers(0, len(OWNERS), len(moved)))
    add(moved, 1, code[OWNERS[0]] + moved_owner, moved_at)
    # value and label changes: as many as it takes to reach about per_lead rows per lead
    rest = max(per_lead * n - sum(len(p) for p in lead_parts), 0) / n
    count = rng.poisson(rest, n)
    other = np.repeat(every, count)
    is_value = rng.random(len(other)) < 0.6
    value = np.where(is_value, code[AMOUNTS[0]] + rng.integers(0, len(AMOUNTS), len(other)),
                     code[LABELS[0]] + rng.integers(0, len(LABELS), len(other)))
    lead_parts.append(other)
    field_parts.append(np.where(is_value, 2, 3).astype(np.int8))
    value_parts.append(value.astype(np.int32))
    time_parts.append(later(other))

    lead = np.concatenate(lead_parts)
    at = np.concatenate(time_parts)
    rows = np.argsort(at, kind="stable") if order == "time" else rng.permutation(len(lead))
    table = pa.table({
        "deal_id": ids[lead[rows]],
        "field": pc.take(pa.array(fields), pa.array(np.concatenate(field_parts)[rows])),
        "new_value": pc.take(pa.array(vocab), pa.array(np.concatenate(value_parts)[rows])),
        "change_time": times(at[rows]),
    })
    write(table, out / "log.csv")
    return len(lead), stage_rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--rows-per-lead", type=float, default=5.0, help="the log's average rows per lead (default 5)")
    parser.add_argument("--log-order", choices=("time", "shuffled"), default="time",
                        help="log.csv rows in time order (default) or shuffled")
    args = parser.parse_args()
    began = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    f = simulate(args.leads, rng)
    ids = 10_000_001 + np.arange(args.leads, dtype=np.int64)
    write_wide(f, ids, args.out)
    opportunities = write_join(f, ids, args.out, rng)
    log_rows, stage_rows = write_log(f, ids, args.out, rng, args.rows_per_lead, args.log_order)
    last = max(int(f[s].max()) for s in ("created", "mql", "sql", "won", "lost"))
    expected = {
        "leads": args.leads, "seed": args.seed, "log_order": args.log_order,
        "reached": {"Lead": args.leads, "MQL": int((f["mql"] >= 0).sum()), "SQL": int((f["sql"] >= 0).sum()),
                    "Won": int((f["won"] >= 0).sum())},
        "exited": {"Lost": int((f["lost"] >= 0).sum())},
        "as_of": str(np.datetime64(last, "m").astype("datetime64[D]")),
        "rows": {"wide.csv": args.leads, "leads.csv": args.leads, "opportunities.csv": opportunities,
                 "log.csv": log_rows, "log.csv stage changes": stage_rows},
    }
    (args.out / "expected.json").write_text(json.dumps(expected, indent=2) + "\n")
    print(f"{args.out}: {args.leads:,} leads, log {log_rows:,} rows ({log_rows / args.leads:.2f} per lead, "
          f"{stage_rows:,} stage changes), {opportunities:,} opportunities, {time.perf_counter() - began:.1f} s")


if __name__ == "__main__":
    main()
