"""Text columns -> typed fields: ids, dates, numbers and categories, with rows excluded for a reason.

`typed_fields(raw, defs)` gives a `Fields`: a frame with a row per record of the export (excluded
rows stay in it, flagged in `usable`: copying every column to drop a few rows costs more than the
engine's one selection), the parsed date columns by header, and the accounting (excluded rows and
notices, each with a reason, a count and row numbers; docs/metrics.md#accounting).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from dataclasses import field as dataclass_field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from funnelcli.definitions import NUMBER_FIELDS, Definitions
from funnelcli.errors import InputError
from funnelcli.sources.accounting import SHOW_ROWS, RowIssue, issue
from funnelcli.sources.cells import categorical, parse_dates, quantities, repeats
from funnelcli.sources.cells import ids as read_ids
from funnelcli.sources.csvfile import RawTable
from funnelcli.sources.shapes import Evidence, flag_evidence, read_flags, status_evidence

# CRMs write 9999-12-31, 1900-01-01 or 1970-01-01 (zero dates) for "never" or "unknown": days on
# or before EARLIEST or after LATEST are placeholders, read as no date.
EARLIEST = np.datetime64("1970-01-01", "D")
LATEST = np.datetime64("2199-12-31", "D")


@dataclass
class FileAccount:
    """Where the rows of one file went besides the lead table's own rows: a log, a joined file.

    `parts` are (count, what) pairs that add up to rows_read."""

    name: str  # the file as given
    role: str  # "log" or "join NAME"
    rows_read: int
    parts: list[tuple[int, str]]
    first_rows: dict = dataclass_field(default_factory=dict)  # what -> the first row numbers, where worth naming

    def balanced(self) -> bool:
        return self.rows_read == sum(count for count, _ in self.parts)

    def sentence(self) -> str:
        def part(count: int, what: str) -> str:
            rows = self.first_rows.get(what)
            if not rows:
                return f"{count:,} {what}"
            more = ", ..." if count > len(rows) else ""
            return f"{count:,} {what} (row{'s' if count != 1 else ''} {', '.join(map(str, rows))}{more})"

        shown = " + ".join(part(count, what) for count, what in self.parts if count) or "0"
        return f"{self.name} ({self.role}): {self.rows_read:,} row{'s' if self.rows_read != 1 else ''} read = {shown}"

    def as_dict(self) -> dict:
        return {"file": self.name, "role": self.role, "rows_read": self.rows_read,
                "parts": [{"rows": count, "what": what, "first_rows": self.first_rows.get(what, [])} for count, what in self.parts]}


@dataclass
class Fields:
    """The export's records as typed fields, and which of them are leads."""

    frame: pd.DataFrame  # id, _row, and every field by its lead-table name (see field_keys)
    dates: dict  # header -> datetime64[D] per record (NaT: blank, unparseable or a placeholder)
    usable: np.ndarray  # bool per record: a lead (False: excluded, for a reason in `excluded`)
    excluded: list[RowIssue]
    notices: list[RowIssue]
    export: str
    rows_read: int
    evidence: Evidence = dataclass_field(default_factory=Evidence)  # what the shape says about stages and exits
    files: list[FileAccount] = dataclass_field(default_factory=list)  # a log's or joined files' rows
    unit: str = "rows"  # what rows_read counts: "rows" of the export, or "leads" (of a log)

    @property
    def rows(self) -> np.ndarray:
        return self.frame["_row"].to_numpy()

    def latest_date(self) -> pd.Timestamp | None:
        """Return the latest date among the leads' date columns (the export's effective date)."""
        # NaT would win a plain max: look at the known dates only.
        known = [d.max(where=self.usable & ~np.isnat(d), initial=EARLIEST) for d in self.dates.values()]
        latest = max((d for d in known if d > EARLIEST), default=None)
        return None if latest is None else pd.Timestamp(latest)


def field_keys(defs: Definitions) -> dict[str, str]:
    """Return lead-table name -> export header for every mapped field (but the id) and every other
    column a condition names (by its header)."""
    keys: dict[str, str] = {c: h for c, h in defs.columns.items() if c != "id"}
    keys.update({c: c for c in defs.joined_fields()})  # a join brings its fields in by canonical name
    for fld in sorted(defs.condition_fields() | ({defs.stage_column} if defs.stage_column else set())):
        keys.setdefault(defs.field_key(fld), defs.header(fld))
    return keys


def typed_fields(raw: RawTable, defs: Definitions, evidence: Evidence | None = None,
                 files: list[FileAccount] | None = None, unit: str = "rows") -> Fields:
    """Return the records of `raw` as typed fields, every row accounted for.

    `evidence` and `files` come from a shape that made `raw` (a log); status and flag evidence
    is added here.
    """
    name, n, rows = raw.name, raw.num_rows, raw.rows
    raw, blanked = blank_out(raw, defs.blank_values)
    keys = field_keys(defs)
    date_headers = [h for h in raw.table.column_names if h in defs.date_headers()]
    ids, blank, id_keys, parsed, text = _convert(raw, defs, keys, date_headers)

    empty = np.ones(n, dtype=bool)  # an empty line, or a row blank in every column read
    for h in raw.table.column_names:
        empty &= raw.column(h).is_null().to_numpy()
    if empty.all():
        raise InputError(f"{name}: the export has a header but no data rows")
    excluded = [issue("with no values", empty, rows), issue("with a blank id", blank & ~empty, rows)]
    for why, left_out in raw.ragged.items():  # counted among the rows read, as a spreadsheet shows them
        excluded.append(RowIssue(why, len(left_out), left_out[:SHOW_ROWS], detail=raw.detail(why)))
    if raw.footer_rows:
        excluded.append(RowIssue("in the report footer", len(raw.footer_rows), raw.footer_rows[:SHOW_ROWS],
                                 detail="the lines after the data (Generated By, copyright, totals) are not leads"))
    unusable = blank | empty
    placeholder, placeholder_examples = _placeholders(parsed, n)
    bad_date, bad_examples = _bad_dates(parsed, unusable, name, defs)
    excluded.append(issue("with an unparseable date", bad_date, rows, examples=bad_examples,
                          detail="dates are ISO (2026-03-31, 2026-03-31T14:05:00Z) unless the definitions set date_format"))
    unusable |= bad_date
    flags, bad_flag, flag_examples = _flags(raw, defs, unusable)
    excluded.append(issue("with an unparseable flag", bad_flag, rows, examples=flag_examples,
                          detail="a flag is true (1, true, yes, y, x, checked) or false (0, false, no, n, blank)"))
    unusable |= bad_flag
    # An id's lead is its first row that is otherwise usable: a later row repeating it is left out.
    duplicate = repeats(id_keys, ~unusable)
    _refuse_a_log(duplicate, unusable, name, defs)
    excluded.append(issue("with a duplicate id", duplicate, rows, detail="the first usable row of each id is kept"))
    usable = ~(unusable | duplicate)

    notices = [blanked, issue(f"with a placeholder date (on or before {EARLIEST}, or after {LATEST})", placeholder & usable, rows,
                              detail="read as no date", examples=placeholder_examples)]
    dates = {h: days for h, (days, _, _) in parsed.items()}
    columns: dict[str, object] = {"id": ids.to_pandas(), "_row": rows}
    for key, h in keys.items():
        if h in dates:
            columns[key] = dates[h].astype("datetime64[s]")
        elif key in NUMBER_FIELDS:
            values, problems = text[key]
            notices += [issue(f"whose {key} {why}", bad & usable, rows, "read as blank", examples=_examples(raw.column(h), bad & usable))
                        for why, bad in problems.items()]
            columns[key] = values
        else:
            codes, categories = text[key]
            columns[key] = pd.Categorical.from_codes(codes, categories=categories)
    frame = pd.DataFrame(columns, copy=False)
    evidence = evidence or Evidence()
    flag_evidence(evidence, defs, flags)
    if defs.stage_column:
        notices.append(status_evidence(evidence, defs, frame, usable, rows))
    return Fields(frame, dates, usable, [i for i in excluded if i], [i for i in notices if i], name, n + raw.left_out,
                  evidence, list(files or []), unit)


def blank_out(raw: RawTable, blank_values: tuple[str, ...], of: str = "") -> tuple[RawTable, RowIssue | None]:
    """Return the table with the definitions' blank values (trimmed, any case) made blank, and the
    rows that had any, as a notice."""
    if not blank_values:
        return raw, None
    wanted = pa.array(sorted({v.strip().casefold() for v in blank_values}))
    hit = np.zeros(raw.num_rows, dtype=bool)
    columns = []
    examples: list[str] = []
    for h in raw.table.column_names:
        column = raw.column(h)
        if pa.types.is_dictionary(column.type):  # a log's coded column: as text, to blank values
            column = column.cast(pa.string())
        match = pc.fill_null(pc.is_in(pc.utf8_lower(pc.utf8_trim_whitespace(column)), value_set=wanted), False)
        mask = match.to_numpy()
        if mask.any():
            if len(examples) < 3:
                examples.append(f"{column[int(np.flatnonzero(mask)[0])].as_py()!r} in {h!r}")
            hit |= mask
            column = pc.if_else(match, pa.scalar(None, pa.string()), column)
        columns.append(column)
    table = pa.Table.from_arrays(columns, names=raw.table.column_names)
    found = issue(f"{of + ' ' if of else ''}with a value the definitions read as blank (blank_values)", hit, raw.rows,
                  examples=examples, detail="read as blank")
    return RawTable(raw.name, table, raw.rows), found


def _flags(raw: RawTable, defs: Definitions, unusable: np.ndarray) -> tuple[dict, np.ndarray, list[str]]:
    """Return each flag column read as true/false, which usable rows hold a value that is neither,
    and a few examples."""
    flags: dict[str, np.ndarray] = {}
    bad_any = np.zeros(raw.num_rows, dtype=bool)
    examples: list[str] = []
    for h in sorted(defs.flag_fields()):
        values, bad = read_flags(raw.column(h))
        flags[h] = values
        new = bad & ~unusable & ~bad_any
        examples += [f"{v} in {h!r}" for v in _examples(raw.column(h), new, 3 - len(examples))] if len(examples) < 3 else []
        bad_any |= new
    return flags, bad_any, examples


def _refuse_a_log(duplicate: np.ndarray, unusable: np.ndarray, name: str, defs: Definitions) -> None:
    """Raise when most rows repeat an id under definitions for a row per lead: the export is
    likely a stage-history log, and reading it as leads would keep a fraction of them."""
    usable_rows = int((~unusable).sum())
    if defs.history is None and usable_rows >= 20 and duplicate.sum() > usable_rows / 2:
        raise InputError(
            f"{name}: {int(duplicate.sum()):,} of {usable_rows:,} rows repeat an id of an earlier row: this looks like a "
            "stage-history log (a row per change), not a row per lead. Describe it with 'history:' in the definitions "
            "(history: {stage: <column of the stage entered>, at: <column of when>}), or check that columns: id "
            f"({defs.columns.get('id')!r}) is the lead's id"
        )


def _convert(raw: RawTable, defs: Definitions, keys: dict[str, str], date_headers: list[str]):
    """Return the ids (and which are blank, and their keys), the parsed date columns and the other
    fields as numbers or category codes. Columns are converted in threads: pyarrow's kernels
    release the GIL."""
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        id_job = pool.submit(read_ids, raw.column(defs.columns["id"]))
        date_jobs = {h: pool.submit(parse_dates, raw.column(h), defs.formats(h), defs.timezone) for h in date_headers}
        text_jobs = {
            key: pool.submit(quantities if key in NUMBER_FIELDS else categorical, raw.column(h))
            for key, h in keys.items() if h not in date_jobs
        }
        ids, blank, id_keys = id_job.result()
        parsed = {h: job.result() for h, job in date_jobs.items()}
        text = {key: job.result() for key, job in text_jobs.items()}
    return ids, blank, id_keys, parsed, text


def _placeholders(parsed: dict, n: int) -> tuple[np.ndarray, list[str]]:
    """Blank out placeholder dates in place; return which records had one, and a few examples."""
    placeholder = np.zeros(n, dtype=bool)
    examples: list[str] = []
    for h, (days, _, raw) in parsed.items():
        far = ~np.isnat(days) & ((days <= EARLIEST) | (days > LATEST))
        if far.any():
            for i in np.flatnonzero(far & ~placeholder)[:1]:
                if len(examples) < 3:
                    examples.append(f"{raw[int(i)].as_py()!r} in {h!r}")
            days[far] = np.datetime64("NaT")
            placeholder |= far
    return placeholder, examples


def _examples(column: pa.ChunkedArray, mask: np.ndarray, most: int = 3) -> list[str]:
    """Return the first few distinct values where mask is set, as written (repr)."""
    out: list[str] = []
    for i in np.flatnonzero(mask)[:50]:
        value = repr(column[int(i)].as_py())
        if value not in out:
            out.append(value)
        if len(out) == most:
            break
    return out


def _bad_dates(parsed: dict, unusable: np.ndarray, name: str, defs: Definitions) -> tuple[np.ndarray, list[str]]:
    """Return which usable records have an unparseable date, and a few examples; raise when a
    whole column is in another format (a few typos are rows; a column of them is a setting)."""
    bad_date = np.zeros(len(unusable), dtype=bool)
    examples: list[str] = []
    for h, (days, bad, raw) in parsed.items():
        if bad.sum() >= 5 and np.isnat(days).all():
            example = raw[int(np.flatnonzero(bad)[0])].as_py()
            formats = defs.formats(h)
            hint = (f"set date_format in the definitions (e.g. date_format: '%m/%d/%Y %I:%M %p'), or date_formats: {{{h}: ...}} "
                    "for this column alone" if not formats
                    else f"they don't fit {'its date_formats' if formats != defs.date_format else 'date_format'} {list(formats)!r}")
            raise InputError(f"{name}: column {h!r}: no value parses as a date (such as {example!r}); {hint}")
        new_bad = bad & ~unusable & ~bad_date
        if len(examples) < 3:  # distinct values: 'n/a' twice says less than 'n/a' and 'TBD'
            examples += [f"{v} in {h!r}" for v in _examples(raw, new_bad, 2) if f"{v} in {h!r}" not in examples]
            del examples[3:]
        bad_date |= new_bad
    return bad_date, examples
