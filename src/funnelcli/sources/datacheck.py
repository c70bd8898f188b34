"""`validate --data`: the definitions against an export's values, read as a run reads them.

Three checks, each a Problem at the place in the YAML it is about:
- **drift-value** (warning): a value a stage, exit or market condition lists (`in:`, `eq:`), or a
  stage's or exit's `values:` for the status column or the log's stage column (among the rows
  `history.only` selects), that no row has; compared trimmed and case-insensitively as the run
  compares them (`case_sensitive: true` keeps the case). The message names the values that do
  occur, nearest first. When a CRM admin renames a status value, a rule stops matching silently:
  this says so.
- **blank-column** (warning): a column the definitions use that is blank in every row.
- **unparseable-date**: a date column whose values don't parse with the run's parser and the
  column's formats; an error when none parses (the run refuses the export), else a warning
  (the run excludes those rows). With an example, its row, and the common format that reads most
  of them. The first 10,000 and last 1,000 rows are parsed; all of them before saying none parses.

The export is read by the run's readers (csvfile, parquetfile), only the columns the definitions
use, with `blank_values` applied. Each joined file is read the same way for the blank-column and
date checks, and a joined file with no rows is warned of (no-rows).
"""

from __future__ import annotations

import dataclasses
import difflib

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from funnelcli.definitions import Definitions, walk_leaves
from funnelcli.definitions.yamldoc import Doc, Where
from funnelcli.errors import InputError, Problem, visible

HEAD_ROWS, TAIL_ROWS = 10_000, 1_000  # the rows whose dates are parsed when the export is longer
SHOWN = 5  # values named in a drift warning
COMMON_FORMATS = (
    "%m/%d/%Y %I:%M %p", "%m/%d/%Y %H:%M", "%m/%d/%Y", "%d/%m/%Y %H:%M", "%d/%m/%Y", "%d.%m.%Y %H:%M", "%d.%m.%Y",
    "%Y-%m-%d %H:%M:%S", "%m/%d/%y %I:%M %p", "%m/%d/%y %H:%M", "%m/%d/%y", "%d/%m/%y %H:%M", "%d/%m/%y", "%d-%b-%Y",
    "%b %d, %Y", "%Y/%m/%d", "excel", "epoch_ms", "epoch",
)  # the short years (%y) are Excel's short date, when it saves a report again; the number formats
# read disjoint ranges of numbers (definitions.model.EPOCH_RANGE), so one number fits one of them


def check_export(path: str, defs: Definitions, *, encoding: str | None = None, delimiter: str | None = None,
                 content: bytes | None = None) -> list[Problem]:
    """Return the drift, blank-column and date problems of the definitions against the export at
    `path` ('-' with `content` for stdin). Its header has every column already (check_headers)."""
    from funnelcli.sources.csvfile import read_csv
    from funnelcli.sources.parquetfile import is_parquet, read_parquet

    needed = defs.headers()
    try:
        raw = read_parquet(path, needed) if is_parquet(path) else read_csv(path, needed, encoding, delimiter, content)
    except InputError as exc:
        if "no data rows" not in str(exc) and "has no rows" not in str(exc):
            raise
        first = defs.sources[0] if defs.sources else path
        return [Problem(first, 1, 1, "warning", "no-rows", f"{path}: the export has no rows: its values and dates are not checked")]
    raw, blank, roles, problems = _blank_columns(raw, defs, None, "the export")
    problems += drift(raw, defs, blank)
    problems += unnamed(raw, defs, blank, roles)
    problems += dates(raw, defs, blank, roles)
    return problems


def check_joined(path: str, join, defs: Definitions, *, encoding: str | None = None) -> list[Problem]:
    """Return the blank-column and date problems of a joined file (its header has every column
    already), and a warning when it has no rows: every lead's joined columns are blank then."""
    from funnelcli.sources import read_joined

    what = f"join {join.name!r}"
    raw = read_joined(path, join, defs.headers(join.name), encoding)
    if raw.num_rows == 0:
        return [_where(join.where, "warning", "no-rows", f"{what}: {raw.name} has no rows: the columns it brings "
                       f"({', '.join(join.columns)}) are blank for every lead")]
    raw, blank, roles, problems = _blank_columns(raw, defs, join.name, "the file")
    date_keys = defs.date_headers()
    headers = sorted({h for c, h in join.columns.items() if c in date_keys})
    problems += dates(raw, defs, blank, roles, headers) + flags(raw, defs, blank, roles, join)
    # the values the definitions list, and a status column's, looked up by the names the join gives
    # its columns (the lead table's): drift and unnamed values, as the export's columns are checked
    named = dataclasses.replace(raw, table=pa.table({c: raw.column(h) for c, h in join.columns.items()}))
    named_blank = {c for c, h in join.columns.items() if h in blank}
    named_roles = {c: roles[h] for c, h in join.columns.items() if h in roles}
    return problems + drift(named, defs, named_blank, export=False) + unnamed(named, defs, named_blank, named_roles, export=False)


def _blank_columns(raw, defs: Definitions, file: str | None, holder: str):
    """Return the file's table with the blank values made blank, its columns blank in every row,
    the first use of each column (`_first_refs`), and a blank-column warning per column used."""
    from funnelcli.sources.fields import blank_out

    raw, _ = blank_out(raw, defs.blank_values)
    blank = {h for h in raw.table.column_names if raw.column(h).null_count == raw.num_rows}
    roles = _first_refs(defs, file)
    rows = "the one row" if raw.num_rows == 1 else f"all {raw.num_rows:,} rows"
    problems = [_where(roles[h][1], "warning", "blank-column",
                       f"{roles[h][0]}: column {h!r} is blank in {rows} of {raw.name}; "
                       f"check that {holder} has its values, or that the mapping names the right column")
                for h in sorted(blank) if h in roles]
    return raw, blank, roles, problems


def _first_refs(defs: Definitions, file: str | None = None) -> dict[str, tuple[str, Where]]:
    """Return, per header of the export (or of the joined file `file`) the definitions use, the
    first use: (its role, where)."""
    out: dict[str, tuple[str, Where]] = {}
    for ref in defs.refs:
        if ref.file == file or (file is None and not ref.file):
            out.setdefault(ref.header, (ref.role, ref.where))
    return out


def _where(where: Where, level: str, rule: str, message: str) -> Problem:
    return Problem(where.path, where.line, where.col, level, rule, message)


# --------------------------------------------------------------------------------------------
# drift-value


def _listed(defs: Definitions) -> list[tuple[str, str, bool, Where, str, str]]:
    """Return every value the definitions list, as (header, value, case_sensitive, where the rule
    is, what lists it, 'all' or 'log' for the rows it is looked up in)."""
    out = []
    rules = [(f"stage {s.name!r} when", s.when) for s in defs.stages] + [(f"exit {e.name!r} when", e.when) for e in defs.exits]
    rules += [(f"market {m.name!r}", m.when) for m in defs.markets]
    rules += [("history only", defs.history.only)] if defs.history is not None else []
    for what, cond in rules:
        for leaf in walk_leaves(cond):
            values = leaf.value if isinstance(leaf.value, tuple) else (leaf.value,)
            if leaf.op in ("eq", "in"):
                out += [(defs.header(leaf.field), v, leaf.case_sensitive, leaf.where, what, "all") for v in values if isinstance(v, str)]
    column = defs.history.stage if defs.history is not None else defs.header(defs.stage_column) if defs.stage_column else None
    if column:
        for kind, items in (("stage", defs.stages), ("exit", defs.exits)):
            for item in items:
                where = item.marks.get("values", item.where)
                out += [(column, str(v), False, where, f"{kind} {item.name!r} values", "log" if defs.history else "all")
                        for v in item.values]
    return out


def _counts(column: pa.ChunkedArray, rows: np.ndarray | None) -> dict[str, int]:
    """Return each distinct trimmed value of a column (among `rows`) and how many rows have it."""
    if rows is not None:
        column = column.filter(pa.array(rows))
    counted = pc.value_counts(pc.utf8_trim_whitespace(column.combine_chunks()))
    return {v: c for v, c in zip(counted.field("values").to_pylist(), counted.field("counts").to_pylist())
            if v is not None and v != ""}


def drift(raw, defs: Definitions, blank: set[str], export: bool = True) -> list[Problem]:
    """Return a drift-value warning for each listed value that no row has (see the module); `export`
    False for a joined file (its columns by the join's names), which holds none of a log's stage changes."""
    listed = [x for x in _listed(defs) if x[0] in raw.table.column_names and x[0] not in blank and (export or x[5] != "log")]
    if not listed:
        return []
    log_rows = None
    if defs.history is not None and any(x[5] == "log" for x in listed):
        from funnelcli.sources.history import stage_changes  # the rows the run reads as stage changes

        log_rows = np.asarray(stage_changes(raw, defs), dtype=bool)
    counts: dict[tuple, dict[str, int]] = {}
    positions = _Positions()
    problems = []
    for header, value, case_sensitive, where, what, rows in listed:
        found = counts.setdefault((header, rows), _counts(raw.column(header), log_rows if rows == "log" else None))
        wanted = value.strip() if case_sensitive else value.strip().casefold()
        if any((v if case_sensitive else v.casefold()) == wanted for v in found):
            continue
        among = " among the rows history only selects" if rows == "log" else ""
        problems.append(_where(positions.of(where, value), "warning", "drift-value",
                               f"{what}: {value!r} is in no row of {raw.name}'s {header!r}{among}; {_occurring(value, found)}"))
    return problems


def unnamed(raw, defs: Definitions, blank: set[str], roles: dict, export: bool = True) -> list[Problem]:
    """Return a warning for each status or log column with values that name no stage and no exit,
    and each flag column with values neither true nor false: what the run reports (a status it
    counts at no stage, a log row it excludes, a row it excludes for its flag). `export` False for
    a joined file's columns by the join's names: no log's rows, and its flags are check_joined's."""
    from funnelcli.sources.shapes import listed_values

    known = set(defs.stage_values())
    checks = []  # (header, rows counted or None for all, what the run does)
    if defs.stage_column and defs.history is None:
        header = defs.header(defs.stage_column)
        listed = listed_values(defs, defs.field_key(defs.stage_column))
        checks.append((header, None, "the run counts those leads by their dates and rules only", known | listed))
    if defs.history is not None and export:
        from funnelcli.sources.history import stage_changes

        checks.append((defs.history.stage, np.asarray(stage_changes(raw, defs), dtype=bool),
                       "the run excludes those rows of the log", known | {v.strip().casefold() for v in defs.history.reopen}))
    problems = []
    for header, rows, then, names in checks:
        if header in blank or header not in roles or header not in raw.table.column_names:
            continue
        found = _counts(raw.column(header), rows)
        odd = {repr(v): n for v, n in found.items() if v.strip() and v.strip().casefold() not in names}
        if rows is not None:  # a log's stage change with a blank stage: the run excludes it, for that reason
            blanks = int(np.count_nonzero(rows)) - sum(found.values())  # the selected rows with no value
            if blanks:
                role, where = roles[header]
                problems.append(_where(where, "warning", "unnamed-value",
                                       f"{role}: {_rows_of(blanks, raw.name)} a blank {header!r} in a stage change: "
                                       "the run excludes those rows of the log (a change that names no stage)"))
        if odd:
            shown = ", ".join(f"{v} ({n:,})" for v, n in sorted(odd.items(), key=lambda x: (-x[1], x[0]))[:SHOWN])
            more = f" and {len(odd) - SHOWN} more" if len(odd) > SHOWN else ""
            role, where = roles[header]
            n = sum(odd.values())
            rows_hold = f"1 row of {raw.name} holds a value" if n == 1 else f"{n:,} rows of {raw.name} hold values"
            problems.append(_where(where, "warning", "unnamed-value",
                                   f"{role}: {rows_hold} of {header!r} that name{'s' if n == 1 else ''} no stage and no exit: "
                                   f"{shown}{more}; {then}; add them to a stage's or an exit's values: to count them"
                                   + (", or to history: reopen: when they reopen a lead after an exit" if defs.history else "")))
    return problems + (flags(raw, defs, blank, roles) if export else [])


def _rows_of(n: int, name: str) -> str:
    return f"1 row of {name} has" if n == 1 else f"{n:,} rows of {name} have"


def flags(raw, defs: Definitions, blank: set[str], roles: dict, join=None) -> list[Problem]:
    """Return a warning for each flag column of `raw` (the export's, or the file of `join`) with
    values neither true nor false: the run excludes those rows."""
    from funnelcli.sources.shapes import read_flags

    problems = []
    joined = defs.joined_fields()
    if join is None:
        headers = {defs.header(s.flag) for s in defs.stages if s.flag and s.flag not in joined}
    else:
        headers = {join.columns[s.flag] for s in defs.stages if s.flag in join.columns}
    for header in sorted(headers):
        if header in blank or header not in roles or header not in raw.table.column_names:
            continue
        _, bad = read_flags(raw.column(header))
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            role, where = roles[header]
            problems.append(_where(where, "warning", "unreadable-flag",
                                   f"{role}: {int(bad.sum()):,} value{'s' if bad.sum() != 1 else ''} of column {header!r}"
                                   f"{f' of {raw.name}' if join else ''} {'is' if bad.sum() == 1 else 'are'} neither true nor "
                                   f"false (such as {raw.column(header)[first].as_py()!r} in row {int(raw.rows[first])}): the run "
                                   f"excludes {'the leads they join to' if join else 'those rows'}; true is 1, true, yes, y, x or "
                                   "checked, false 0, false, no, n or blank"))
    return problems


def _occurring(value: str, found: dict[str, int]) -> str:
    """Return the values that do occur, nearest to `value` first, with their counts."""
    if not found:
        return "no row has a value there"
    def nearness(v: str) -> float:
        return difflib.SequenceMatcher(None, value.casefold(), v.casefold()).ratio()

    ordered = sorted(found, key=lambda v: (-nearness(v), -found[v], v))
    shown = ", ".join(f"{v!r} ({found[v]:,})" for v in ordered[:SHOWN])
    more = f" and {len(ordered) - SHOWN} more" if len(ordered) > SHOWN else ""
    return f"its values, nearest first: {shown}{more}"


class _Positions:
    """Where a value listed under a rule was written: the definitions file read again, with the
    position of each item (the model keeps the rule's position only)."""

    def __init__(self):
        self.docs: dict[str, Doc | None] = {}

    def _doc(self, path: str) -> Doc | None:
        if path not in self.docs:
            try:
                with open(path, encoding="utf-8-sig") as handle:
                    self.docs[path] = Doc(path, handle.read(), [])
            except (OSError, UnicodeDecodeError):
                self.docs[path] = None
        return self.docs[path]

    def of(self, where: Where, value: str) -> Where:
        """Return where `value` is written under the key or value at `where` (else `where`)."""
        doc = self._doc(where.path)
        if doc is None:
            return where
        spot = (where.line, where.col)
        roots = [kp for kp, at in doc.key_marks.items() if at == spot] + [kp for kp, at in doc.marks.items() if at == spot]
        for root in roots:
            for kp, (line, col) in sorted(doc.marks.items(), key=lambda item: item[1]):
                if kp[: len(root)] == root and _value_at(doc.data, kp) == value:
                    return Where(where.path, line, col)
        return where


def _value_at(data, keypath: tuple):
    for key in keypath:
        try:
            data = data[key]
        except (KeyError, IndexError, TypeError):
            return None
    return str(data).strip() if isinstance(data, (str, int, float)) and not isinstance(data, bool) else None


# --------------------------------------------------------------------------------------------
# unparseable-date


def _sample(n: int) -> np.ndarray:
    """Return the positions of the rows whose dates are parsed: all, or the first and last ones."""
    if n <= HEAD_ROWS + TAIL_ROWS:
        return np.arange(n)
    return np.concatenate([np.arange(HEAD_ROWS), np.arange(n - TAIL_ROWS, n)])


def dates(raw, defs: Definitions, blank: set[str], roles: dict, headers: list[str] | None = None) -> list[Problem]:
    """Return an unparseable-date problem for each date column whose values don't all parse
    (`headers`: the date columns of a joined file, by its own headers: always a warning, since
    the run judges the leads its rows join to, which this can't count)."""
    from funnelcli.sources.cells import parse_times

    joined = headers is not None
    if headers is None:
        headers = sorted(h for h in defs.date_headers() if h in raw.table.column_names)
        if defs.history is not None and defs.history.at not in headers:
            headers.append(defs.history.at)
    problems = []
    for header in (h for h in headers if h not in blank and h in roles):
        picked = _sample(raw.num_rows)
        sample = raw.column(header).take(pa.array(picked))
        formats = defs.formats(header)
        times, bad, _ = parse_times(sample, formats, defs.timezone)
        if not bad.any():
            continue
        none_parse = bool(np.isnat(times).all())
        if none_parse and len(picked) < raw.num_rows:  # said only of the whole column
            whole, whole_bad, _ = parse_times(raw.column(header), formats, defs.timezone)
            none_parse, total_bad = bool(np.isnat(whole).all()), int(whole_bad.sum())
        else:
            total_bad = int(bad.sum())
        first = int(np.flatnonzero(bad)[0])
        example = f"such as {sample[first].as_py()!r} in row {int(raw.rows[picked[first]])}"
        hint = format_advice(sample.filter(pa.array(bad)), header, formats, defs, typo=not none_parse)
        role, where = roles[header]
        if none_parse and total_bad >= 5 and not joined:  # the run refuses the export (fields._bad_dates)
            message = f"{role}: no value of column {header!r} parses as a date ({example}); the run refuses the export; {hint}"
            problems.append(_where(where, "error", "unparseable-date", message))
            continue
        # a joined file's rows are judged by the leads they join to, which this doesn't count
        read = f" of {raw.name}" if joined else "" if len(picked) == raw.num_rows else \
            f" (of the first {HEAD_ROWS:,} and last {TAIL_ROWS:,} rows)"
        then = ("the run excludes the leads they join to, and refuses the export when no lead's date there reads"
                if joined else "the run excludes those rows")
        values, count = int(sample.length() - sample.null_count), int(bad.sum())
        message = (f"{role}: {count:,} of {values:,} values of column {header!r}{read} {'does' if count == 1 else 'do'}n't parse "
                   f"as dates ({example}): {then}; {hint}")
        problems.append(_where(where, "warning", "unparseable-date", message))
    return problems


def common_format(values: pa.ChunkedArray, defs: Definitions) -> tuple[str | None, int]:
    """Return the common date format that reads most of `values` and how many it reads (None, 0
    when none reads any)."""
    from funnelcli.sources.cells import parse_times

    best, most = None, 0
    for fmt in COMMON_FORMATS:
        read = int((~np.isnat(parse_times(values, (fmt,), defs.timezone)[0])).sum())
        if read > most:
            best, most = fmt, read
    return best, most


def _covering(values: pa.ChunkedArray, defs: Definitions, best: str, read: int, most: int = 3) -> tuple[list[str], int]:
    """Return the common formats that together read the most of `values`, `best` (which reads
    `read`) first, then the one that reads most of what is left, up to `most` formats: a column
    of US dates and Excel serials needs both, and one of them alone leaves the rest unparseable."""
    from funnelcli.sources.cells import parse_times

    chosen = [best]
    left = values.filter(pa.array(np.isnat(parse_times(values, (best,), defs.timezone)[0])))
    while len(left) and len(chosen) < most:
        fmt, n = common_format(left, defs)
        if fmt is None:
            break
        chosen.append(fmt)
        read += n
        left = left.filter(pa.array(np.isnat(parse_times(left, (fmt,), defs.timezone)[0])))
    return chosen, read


def format_advice(failing: pa.ChunkedArray, header: str, formats: tuple, defs: Definitions, typo: bool = False,
                  only_a_format: bool = False, found: tuple[str | None, int] | None = None) -> str | None:
    """Return advice naming the common format that reads most of the failing values (`typo`: the
    other values of the column parse, so a value no format reads is likely a typo); with
    `only_a_format`, None when no common format reads them. `found` is common_format's answer
    for them, when the caller has it."""
    failing = failing.slice(0, 1000)
    best, most = found if found is not None else common_format(failing, defs)
    if best is None and only_a_format:
        return None
    if best is None and typo:
        return "no common format reads them either: correct them in the CRM, or leave them out knowingly"
    if best is None:
        given = f"its formats {list(formats)!r}" if formats else "ISO dates"
        return f"they fit neither {given} nor a common format: give the column its format with date_formats: {{{visible(header)}: '...'}}"
    chosen, most = _covering(failing, defs, best, most)
    fitted = f"{most:,} of {len(failing):,}" if most < len(failing) else "all of them"
    listed = ", ".join(repr(f) for f in (*formats, *chosen))
    named = f"the format {best!r} reads" if len(chosen) == 1 else \
        f"the formats {', '.join(repr(f) for f in chosen[:-1])} and {chosen[-1]!r} read"
    return f"{named} {fitted}: date_formats: {{{visible(header)}: [{listed}]}}"
