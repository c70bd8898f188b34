"""The funnel of simple wide definitions as one SQL query, in DuckDB's dialect (`funnelcli sql`).

The query computes the stage table `funnelcli conversion` prints, by the same rules
(docs/metrics.md, docs/scale.md): the rows a run keeps (a blank id, an unparseable date in any
mapped date column or a repeated id excludes a row; the first usable row of an id is kept), the
cells as the readers see them (trimmed of Unicode spaces, blank_values blank, dates in the
readers' ISO forms or the date_format formats, offsets moved to the timezone, placeholder dates
such as 1900-01-01 no date), the waterfall (a stage is reached when it or a later stage has a
date, its effective date the earliest of those), the as-of date (the latest date of the kept
rows), the first exit whose rule holds, and per stage reached, entered, converted, exited (in
all and per exit), stuck, in progress and the days to the next stage between a lead's own dates
(median, p75, p90).

"Simple wide" means: a date column per stage (no status, flag or condition reaches a stage), no
stage-history log, no joined files, exits by text tests (in, eq, contains, matches, present) on
text columns, or present/missing on any. Anything else is refused with the reason, rather than
computed another way. The query does not replay an earlier as-of date.

Every value from the definitions is written as an SQL string literal or a quoted identifier, with
its quotes doubled, and comments hold none of them: a name can't end a comment or a literal.
"""

from __future__ import annotations

from funnelcli.definitions.model import (
    EARLIEST_DAY,
    ISO_NAIVE,
    ISO_NORMALISE,
    ISO_ZONED,
    LATEST_DAY,
    NEGATIVE_OPS,
    NUMBER_FIELDS,
    ZONED,
    AllOf,
    AnyOf,
    Condition,
    Definitions,
    NotOf,
    walk_leaves,
)
from funnelcli.errors import FunnelError

_TEXT_OPS = {"eq", "ne", "in", "not_in", "contains", "not_contains", "matches", "not_matches"}
_BLANK = r"[\s\pZ\x{85}]"  # what the readers trim around a cell: Unicode's white space (RE2)
# what ISO_NAIVE and ISO_ZONED read, no more (DuckDB's strptime takes a 5-digit year, a lone +02)
_ISO_SHAPE = r"^\d{4}-\d{2}-\d{2}( \d{2}(:\d{2}(:\d{2})?)?)?([+-]\d{2}:?\d{2})?$"


class NotSimple(FunnelError):
    """The definitions use something the query does not compute."""


def literal(text: str) -> str:
    """Return text as an SQL string literal."""
    return "'" + str(text).replace("'", "''") + "'"


def identifier(name: str) -> str:
    """Return a name as a quoted SQL identifier."""
    return '"' + str(name).replace('"', '""') + '"'


def refusals(defs: Definitions) -> list[str]:
    """Return why the definitions are not simple wide ones (empty when they are)."""
    why = []
    if defs.history is not None:
        why.append("the export is a stage-history log (history:)")
    if defs.joins:
        why.append("the definitions join other files (joins:)")
    if defs.stage_column:
        why.append("a status column names the stages (stage_column:)")
    for s in defs.stages:
        if s.flag:
            why.append(f"stage {s.name!r} is reached by a flag")
        elif s.when is not None:
            why.append(f"stage {s.name!r} is reached by a condition")
        elif not s.date:
            why.append(f"stage {s.name!r} has no date column")
    dates = defs.date_headers()
    for e in defs.exits:
        if e.date:
            why.append(f"exit {e.name!r} has a date column")
        if e.when is None:
            why.append(f"exit {e.name!r} has no condition")
        for leaf in walk_leaves(e.when):
            values = leaf.value if isinstance(leaf.value, (list, tuple)) else [leaf.value]
            header = defs.header(leaf.field)
            if leaf.op in ("present", "missing"):
                continue
            if leaf.op not in _TEXT_OPS:
                why.append(f"exit {e.name!r} tests {leaf.field!r} with {leaf.op}")
            elif header in dates or defs.field_key(leaf.field) in NUMBER_FIELDS:
                why.append(f"exit {e.name!r} tests {leaf.field!r}, read as {'dates' if header in dates else 'numbers'}, "
                           "as text (only present and missing are written for it)")
            elif not all(isinstance(v, str) for v in values):
                why.append(f"exit {e.name!r} tests {leaf.field!r} against a number, date or true/false (only text tests are written)")
    named = {f.strip().casefold() for fs in [defs.date_format] + [fs for _, fs in defs.column_formats] for f in fs}
    for number, what in (("excel", "Excel serial numbers"), ("epoch", "Unix times in seconds"), ("epoch_ms", "Unix times in milliseconds")):
        if number in named:
            why.append(f"a date column is read as {what} (date_format: {number})")
    return why


def query(defs: Definitions, export: str, encoding: str | None = None, delimiter: str | None = None) -> str:
    """Return the query of the stage table of `export` under simple wide definitions; raise
    NotSimple naming every reason they are not."""
    why = refusals(defs)
    if why:
        raise NotSimple("funnelcli sql writes the funnel of simple wide definitions (a date column per stage, exits by "
                        "text tests) as one query; these are not: " + "; ".join(why)
                        + ". Run funnelcli conversion for them")
    k = len(defs.stages)
    dates = _date_headers(defs)
    tested = {defs.header(leaf.field) for e in defs.exits for leaf in walk_leaves(e.when)}
    fields = sorted(tested - set(dates))
    cells = [f"{_cell(defs.columns['id'], defs)} AS id"]
    cells += [f"{_cell(h, defs)} AS t{n}" for n, h in enumerate(fields)]
    cells += [f"{_cell(h, defs)} AS s{n}" for n, h in enumerate(dates)]
    column = {h: f"t{n}" for n, h in enumerate(fields)} | {h: f"c{n}" for n, h in enumerate(dates)}
    parsed = [f"{_day(f's{n}', defs.formats(h), defs.timezone)} AS p{n}" for n, h in enumerate(dates)]
    days = [f"CASE WHEN p{n} <= DATE '{EARLIEST_DAY}' OR p{n} > DATE '{LATEST_DAY}' THEN NULL ELSE p{n} END AS c{n}"
            for n in range(len(dates))]  # a placeholder is no date, and no fault
    bad = " OR ".join(f"(s{n} IS NOT NULL AND p{n} IS NULL)" for n in range(len(dates)))
    own = [f"c{dates.index(s.date)}" for s in defs.stages]
    latest = f"max(greatest({', '.join(f'c{n}' for n in range(len(dates)))}))"
    effective = [f"least({', '.join(own[i:])}) AS e{i}" for i in range(k)]
    exits = " ".join(f"WHEN {_condition(e.when, column, defs)} THEN {literal(e.name)}" for e in defs.exits)
    furthest = "CASE " + " ".join(f"WHEN e{i} IS NOT NULL THEN {i}" for i in reversed(range(k))) + " END"
    per_stage = "\n    UNION ALL\n".join(_stage(defs, i, own) for i in range(k))
    sep = ",\n           "
    return f"""-- The stage table of `funnelcli conversion`, as one DuckDB query (funnelcli sql).
-- Definitions digest {defs.digest}. Rows: a blank id, an unparseable date in a mapped date
-- column or a repeated id excludes a row (the first usable row of an id is kept). As of: the
-- latest date of the kept rows. Cohort: every lead that reached the first stage.
WITH raw AS (
    SELECT row_number() OVER () AS row_no, *
    FROM {_source(export, encoding, delimiter)}
), cells AS (
    SELECT row_no, {sep.join(cells)}
    FROM raw
), parsed AS (
    SELECT *, {sep.join(parsed)}
    FROM cells
), typed AS (
    SELECT *, {sep.join(days)}
    FROM parsed
), leads AS (
    SELECT * FROM typed
    WHERE id IS NOT NULL AND NOT ({bad})
    QUALIFY row_number() OVER (PARTITION BY id ORDER BY row_no) = 1
), as_of AS (
    SELECT {latest} AS day FROM leads
), waterfall AS (
    SELECT *, {', '.join(effective)},
           {f'CASE {exits} END' if exits else 'NULL'} AS exit_name
    FROM leads
), funnel AS (
    SELECT *, {furthest} AS furthest, (SELECT day FROM as_of) AS as_of_day
    FROM waterfall WHERE e0 IS NOT NULL
)
SELECT * EXCLUDE (i) FROM (
{per_stage}
)
ORDER BY i;
"""


def _source(export: str, encoding: str | None, delimiter: str | None) -> str:
    """Return the table function that reads the export, every column as text."""
    if export.casefold().endswith((".parquet", ".pq")):
        return f"read_parquet({literal(export)})"
    # a row of another field count (a report footer, a row cut short) is left out, as a run excludes it
    options = ["all_varchar = true", "header = true", "ignore_errors = true"]
    if delimiter:
        options.append(f"delim = {literal(delimiter)}")
    if encoding:
        options.append(f"encoding = {literal(encoding)}")
    return f"read_csv({literal(export)}, {', '.join(options)})"


def _date_headers(defs: Definitions) -> list[str]:
    """Return every mapped date column, the stages' first: an unparseable date in any excludes
    the row, and each counts toward the as-of date."""
    stages = [s.date for s in defs.stages]
    return list(dict.fromkeys(stages + sorted(defs.date_headers() - set(stages))))


def _cell(header: str, defs: Definitions) -> str:
    """Return a cell as the readers see it: text, trimmed, blank (or one of blank_values) as NULL."""
    text = f"nullif(regexp_replace(CAST({identifier(header)} AS VARCHAR), {literal(f'^{_BLANK}+|{_BLANK}+$')}, '', 'g'), '')"
    if defs.blank_values:
        listed = ", ".join(literal(v.strip().casefold()) for v in defs.blank_values)
        text = f"CASE WHEN lower({text}) IN ({listed}) THEN NULL ELSE {text} END"
    return text


def _day(cell: str, formats: tuple[str, ...], tz: str) -> str:
    """Return the day of a cell: by the formats given, in order, then the readers' ISO forms; a
    value with an offset or Z is moved to the timezone, a naive one is wall-clock time there."""
    norm = cell
    for pattern, replacement in ISO_NORMALISE:  # the readers' own rules (definitions.model)
        norm = f"regexp_replace({norm}, {literal(pattern)}, {literal(replacement)})"
    naive = f"CAST(try_strptime({norm}, [{', '.join(literal(f) for f in ISO_NAIVE)}]) AS DATE)"
    zoned = f"CAST(timezone({literal(tz)}, try_strptime({norm}, [{', '.join(literal(f) for f in ISO_ZONED)}])) AS DATE)"
    iso = (f"CASE WHEN NOT regexp_matches({norm}, {literal(_ISO_SHAPE)}) THEN NULL "
           f"WHEN regexp_matches({norm}, {literal(ZONED)}) THEN {zoned} ELSE {naive} END")
    by_format = [f"CAST(timezone({literal(tz)}, try_strptime({cell}, {literal(f)})) AS DATE)" if "%z" in f
                 else f"CAST(try_strptime({cell}, {literal(f)}) AS DATE)" for f in formats]
    by_format = [f"CASE WHEN year({d}) < 1000 AND NOT contains({cell}, lpad(CAST(year({d}) AS VARCHAR), 4, '0')) THEN NULL "
                 f"ELSE {d} END" if "%Y" in f else d for d, f in zip(by_format, formats)]  # %Y is four digits (model.EARLIEST_DAY)
    day = f"coalesce({', '.join(by_format + [iso])})" if by_format else iso
    # DuckDB reads 'epoch' and 'infinity' as dates whatever the format: a date has a digit
    return f"CASE WHEN regexp_matches({cell}, '[0-9]') THEN {day} END"


def _condition(cond: Condition, column: dict[str, str], defs: Definitions) -> str:
    if isinstance(cond, AllOf):
        return "(" + " AND ".join(_condition(c, column, defs) for c in cond.items) + ")"
    if isinstance(cond, AnyOf):
        return "(" + " OR ".join(_condition(c, column, defs) for c in cond.items) + ")"
    if isinstance(cond, NotOf):
        return f"(NOT {_condition(cond.item, column, defs)})"
    cell = column[defs.header(cond.field)]
    if cond.op in ("present", "missing"):
        present = (cond.op == "present") == cond.value
        return f"({cell} IS {'NOT ' if present else ''}NULL)"
    values = list(cond.value) if isinstance(cond.value, (list, tuple)) else [cond.value]
    text, fold = (cell, str) if cond.case_sensitive else (f"lower({cell})", str.lower)
    if cond.op in ("in", "not_in"):
        test = f"{text} IN ({', '.join(literal(fold(v)) for v in values)})"
    elif cond.op in ("eq", "ne"):
        test = f"{text} = {literal(fold(values[0]))}"
    elif cond.op in ("contains", "not_contains"):
        test = f"contains({text}, {literal(fold(values[0]))})"
    else:  # matches: RE2 finds the pattern anywhere, as funnelcli's reader does
        test = f"regexp_matches({cell}, {literal(values[0])})"
    if cond.op in NEGATIVE_OPS:
        return f"coalesce(NOT ({test}), TRUE)"
    return f"coalesce({test}, FALSE)"


def _stage(defs: Definitions, i: int, own: list[str]) -> str:
    """Return the SELECT of stage i's row of the table."""
    k = len(defs.stages)
    stage = defs.stages[i]
    last = i == k - 1
    waiting = f"furthest = {i} AND exit_name IS NULL"
    has_flow = not last or stage.sla_days is not None
    stuck = f"(as_of_day - e{i}) > {float(stage.sla_days)!r}" if stage.sla_days is not None else "FALSE"
    if last:
        converted, days = "NULL::BIGINT", ["NULL::DOUBLE"] * 3
    else:
        converted = f"count(*) FILTER (WHERE e{i + 1} IS NOT NULL)"
        step = f"e{i + 1} - e{i}"
        both_own = f"{own[i]} = e{i} AND {own[i + 1]} = e{i + 1}"  # own dates, not borrowed nor out of order
        days = [f"quantile_cont({step}, {q}) FILTER (WHERE {both_own})" for q in (0.5, 0.75, 0.9)]
    per_exit = [f"count(*) FILTER (WHERE furthest = {i} AND exit_name = {literal(e.name)}) AS {identifier('exited:' + e.name)}"
                for e in defs.exits]
    columns = [
        f"{i} AS i", f"{literal(stage.name)} AS stage",
        f"count(*) FILTER (WHERE e{i} IS NOT NULL) AS reached",
        f"count(*) FILTER (WHERE {own[i]} IS NOT NULL) AS entered",
        f"{converted} AS converted",
        f"count(*) FILTER (WHERE furthest = {i} AND exit_name IS NOT NULL) AS exited",
        *per_exit,
        (f"count(*) FILTER (WHERE {waiting} AND {stuck})" if has_flow else "NULL::BIGINT") + " AS stuck",
        (f"count(*) FILTER (WHERE {waiting} AND NOT ({stuck}))" if has_flow else "NULL::BIGINT") + " AS in_progress",
        f"{days[0]} AS median_days", f"{days[1]} AS p75_days", f"{days[2]} AS p90_days",
    ]
    return "    SELECT " + ",\n           ".join(columns) + "\n    FROM funnel"
