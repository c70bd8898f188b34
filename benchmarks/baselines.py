"""The benchmark export's funnel computed by DuckDB (one SQL query) and by Polars (a lazy scan), to
time funnelcli against (issue 13). Benchmark-only: `pip install -e '.[bench]'`.

    python benchmarks/baselines.py duckdb PATH     prints the stage table as JSON
    python benchmarks/baselines.py polars PATH

The same funnel as definitions/funnel.yml on the sample's layout, as far as one query goes: the
first row of each id (blank ids left out), dates read as timestamps (unparseable ones blank),
the waterfall (a stage is reached when it or a later stage has a date; its date the earliest of
those), the as-of date the latest date, exits by Lead Status, and per stage reached, converted,
exited, stuck (past the SLA at the as-of date, no later stage, no exit), in progress and the
median days to the next stage between own dates. funnelcli also excludes a row with any
unparseable date, replays and accounts for rows; the reached counts are checked to agree within
the rows it excludes.
"""

from __future__ import annotations

import json
import sys

STAGES = ["Became a Marketing Qualified Lead Date", "Became a Sales Accepted Lead Date",
          "Became a Sales Qualified Lead Date", "Became an Opportunity Date", "Became a Customer Date"]
NAMES = ["MQL", "SAL", "SQL", "Opportunity", "Won"]
SLA = [3, 14, 30, 90, None]
EXITS = {"Unqualified": "Disqualified", "Bad Timing": "Recycled", "Closed Lost": "Lost"}


def duckdb_stages(path: str) -> list[dict]:
    import duckdb

    k = len(STAGES)
    own = ",\n".join(f'TRY_CAST("{c}" AS TIMESTAMP)::DATE AS d{i}' for i, c in enumerate(STAGES))
    eff = ",\n".join(f"LEAST({', '.join(f'd{j}' for j in range(i, k))}) AS e{i}" for i in range(k))
    furthest = "CASE " + " ".join(f"WHEN e{i} IS NOT NULL THEN {i}" for i in reversed(range(k))) + " ELSE -1 END"
    exits = "CASE status " + " ".join(f"WHEN '{v}' THEN '{e}'" for v, e in EXITS.items()) + " ELSE NULL END"
    per_stage = []
    for i in range(k):
        sla = f"(as_of_day - e{i}) > {SLA[i]}" if SLA[i] else "FALSE"
        nxt = f"e{i + 1} IS NOT NULL" if i + 1 < k else "FALSE"
        days = f"median(CASE WHEN d{i} IS NOT NULL AND d{i + 1} IS NOT NULL AND d{i + 1} >= d{i} THEN d{i + 1} - d{i} END)" if i + 1 < k else "NULL"
        per_stage.append(f"""SELECT {i} AS i, count(*) FILTER (WHERE e{i} IS NOT NULL) AS reached,
            count(*) FILTER (WHERE {nxt}) AS converted,
            count(*) FILTER (WHERE furthest = {i} AND exit_name IS NOT NULL) AS exited,
            count(*) FILTER (WHERE furthest = {i} AND exit_name IS NULL AND {sla}) AS stuck,
            count(*) FILTER (WHERE furthest = {i} AND exit_name IS NULL AND NOT ({sla})) AS in_progress,
            {days} AS median_days
            FROM funnel WHERE e0 IS NOT NULL""")
    query = f"""
    WITH raw AS (
        SELECT row_number() OVER () AS rn, trim("Record ID") AS id, trim("Lead Status") AS status, {own}
        FROM read_csv('{path}', all_varchar = true, header = true)
    ), leads AS (
        SELECT * FROM raw WHERE id IS NOT NULL AND id <> ''
        QUALIFY row_number() OVER (PARTITION BY id ORDER BY rn) = 1
    ), waterfall AS (SELECT *, {eff} FROM leads),
    funnel AS (
        SELECT *, {furthest} AS furthest, {exits} AS exit_name,
               (SELECT max(GREATEST({', '.join(f'd{i}' for i in range(k))})) FROM leads) AS as_of_day
        FROM waterfall
    )
    {" UNION ALL ".join(per_stage)} ORDER BY i"""
    rows = duckdb.sql(query).fetchall()
    cols = ["i", "reached", "converted", "exited", "stuck", "in_progress", "median_days"]
    return [dict(zip(cols, r)) | {"stage": NAMES[r[0]]} for r in rows]


def polars_stages(path: str) -> list[dict]:
    import polars as pl

    k = len(STAGES)
    frame = (
        pl.scan_csv(path, infer_schema=False)
        .with_row_index("rn")
        .select([pl.col("rn"), pl.col("Record ID").str.strip_chars().alias("id"), pl.col("Lead Status").str.strip_chars().alias("status")]
                + [pl.col(c).str.to_datetime(strict=False).dt.date().alias(f"d{i}") for i, c in enumerate(STAGES)])
        .filter(pl.col("id").is_not_null() & (pl.col("id") != ""))
        .unique(subset="id", keep="first", maintain_order=True)
        .with_columns([pl.min_horizontal([pl.col(f"d{j}") for j in range(i, k)]).alias(f"e{i}") for i in range(k)])
    )
    asof = pl.max_horizontal([pl.col(f"d{i}") for i in range(k)]).max()
    furthest = pl.lit(-1)
    for i in range(k):
        furthest = pl.when(pl.col(f"e{i}").is_not_null()).then(pl.lit(i)).otherwise(furthest)
    exit_ = pl.col("status").replace_strict(EXITS, default=None)
    frame = frame.with_columns(furthest.alias("furthest"), exit_.alias("exit"), asof.alias("asof")).filter(pl.col("e0").is_not_null())
    aggs = []
    for i in range(k):
        age = (pl.col("asof") - pl.col(f"e{i}")).dt.total_days()
        stuck = (age > SLA[i]) if SLA[i] else pl.lit(False)
        waiting = (pl.col("furthest") == i) & pl.col("exit").is_null()
        aggs += [pl.col(f"e{i}").is_not_null().sum().alias(f"reached{i}"),
                 (pl.col(f"e{i + 1}").is_not_null().sum() if i + 1 < k else pl.lit(0)).alias(f"converted{i}"),
                 ((pl.col("furthest") == i) & pl.col("exit").is_not_null()).sum().alias(f"exited{i}"),
                 (waiting & stuck).sum().alias(f"stuck{i}"), (waiting & ~stuck).sum().alias(f"in_progress{i}")]
        if i + 1 < k:
            span = (pl.col(f"d{i + 1}") - pl.col(f"d{i}")).dt.total_days()
            aggs.append(span.filter(span >= 0).median().alias(f"median_days{i}"))
    row = frame.select(aggs).collect().to_dicts()[0]
    return [{"i": i, "stage": NAMES[i], **{m: row.get(f"{m}{i}") for m in ("reached", "converted", "exited", "stuck", "in_progress", "median_days")}}
            for i in range(k)]


if __name__ == "__main__":
    engine, path = sys.argv[1], sys.argv[2]
    print(json.dumps({"duckdb": duckdb_stages, "polars": polars_stages}[engine](path), default=str))
