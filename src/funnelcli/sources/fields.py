"""Text columns -> typed fields: ids, dates, numbers and categories, with rows excluded for a reason.

`typed_fields(raw, defs)` gives a `Fields`: a frame with a row per record of the export (excluded
rows stay in it, flagged in `usable`: copying every column to drop a few rows costs more than the
engine's one selection), the parsed date columns by header, and the accounting (excluded rows and
notices, each with a reason, a count and row numbers; docs/metrics.md#accounting).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from dataclasses import field as dataclass_field
from typing import Iterable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from funnelcli.definitions import NUMBER_FIELDS, Definitions
from funnelcli.definitions.model import EARLIEST_DAY, LATEST_DAY
from funnelcli.errors import InputError, visible
from funnelcli.sources.accounting import SHOW_ROWS, RowIssue, issue
from funnelcli.sources.cells import categorical, id_keys, parse_dates, quantities, repeats
from funnelcli.sources.csvfile import FOOTER, RawTable
from funnelcli.sources.shapes import Evidence, flag_evidence, read_flags, status_evidence

# placeholder dates (definitions.model): on or before EARLIEST, or after LATEST, no date
EARLIEST = np.datetime64(EARLIEST_DAY, "D")
LATEST = np.datetime64(LATEST_DAY, "D")
PLACEHOLDER_DAYS = f"(on or before {EARLIEST}, or after {LATEST})"  # as the notices and reasons name them


BAD_DATE = "with an unparseable date"  # the reason a row is excluded for a date cell no format reads


def without_placeholders(times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return times (datetime64) with the placeholder dates (1900-01-01, 9999-12-31, a zero Unix
    time: on or before EARLIEST or after LATEST) made NaT, and which they were."""
    days = times.astype("datetime64[D]", copy=False)  # days already (a wide export's): no copy
    placeholder = ~np.isnat(times) & ((days <= EARLIEST) | (days > LATEST))
    if placeholder.any():
        times = np.where(placeholder, np.array("NaT", dtype=times.dtype), times)
    return times, placeholder


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

    def excluded(self) -> list[RowIssue]:
        """Return this file's excluded rows as issues, a reason each (a log's rows with a blank id,
        a ragged row of a joined file), named with the file."""
        return [RowIssue(f"of {self.name} {what.removeprefix('excluded ')}", count, self.first_rows.get(what, []))
                for count, what in self.parts if count and what.startswith("excluded ")]

    def sentence(self) -> str:
        def part(count: int, what: str) -> str:
            rows = self.first_rows.get(what)
            if count == 1 and what.startswith(("stage changes", "other changes")):
                what = what.replace("changes", "change", 1)
            elif count == 1 and what.startswith("reopenings"):
                what = what.replace("reopenings", "reopening", 1)
            elif count == 1 and what.startswith("rows "):
                what = "row " + what[len("rows "):]
            if not rows:
                return f"{count:,} {what}"
            more = ", ..." if count > len(rows) else ""
            return f"{count:,} {what} (row{'s' if count != 1 else ''} {', '.join(map(str, rows))}{more})"

        if self.rows_read == 0:
            return f"{visible(self.name)} ({self.role}): 0 rows read (the file has a header only)"
        shown = " + ".join(part(count, what) for count, what in self.parts if count)
        return f"{visible(self.name)} ({self.role}): {self.rows_read:,} row{'s' if self.rows_read != 1 else ''} read = {shown}"

    def as_dict(self) -> dict:
        return {"file": self.name, "role": self.role, "rows_read": self.rows_read,
                "parts": [{"rows": count, "what": what, "first_rows": self.first_rows.get(what, [])} for count, what in self.parts]}


@dataclass
class Fields:
    """The export's records as typed fields, and which of them are leads."""

    frame: pd.DataFrame  # id, _row, and every field by its lead-table name (see field_keys)
    dates: DayColumns  # header -> datetime64[D] per record (NaT: blank, unparseable or a placeholder)
    usable: np.ndarray  # bool per record: a lead (False: excluded, for a reason in `excluded`)
    excluded: list[RowIssue]
    notices: list[RowIssue]
    export: str
    rows_read: int
    evidence: Evidence = dataclass_field(default_factory=Evidence)  # what the shape says about stages and exits
    files: list[FileAccount] = dataclass_field(default_factory=list)  # a log's or joined files' rows
    unit: str = "rows"  # what rows_read counts: "rows" of the export, or "leads" (of a log)
    joined: list = dataclass_field(default_factory=list)  # per join, which row each record took (joins.JoinTrace)

    @property
    def rows(self) -> np.ndarray:
        return self.frame["_row"].to_numpy()


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
    return typed_parts([raw], defs, evidence, files, unit)


def typed_parts(raws: Iterable[RawTable], defs: Definitions, evidence: Evidence | None = None,
                files: list[FileAccount] | None = None, unit: str = "rows") -> Fields:
    """Return the records of an export read in parts (consecutive `RawTable`s, as `csvfile.read_parts`
    gives them) as typed fields, every row accounted for; the same Fields as one table of them all.

    Each part is reduced to typed arrays (dates, codes, numbers, masks and the text of a few bad
    cells for examples) as it comes, and its text dropped: memory grows with the records, not the
    file. What needs every record (duplicate ids, a column that never parses, the categories) is
    settled once the parts are in.
    """
    keys, parts, name, left_out, store = field_keys(defs), [], "", 0, _Store()
    footer_rows: list[int] = []
    ragged: dict[str, list[int]] = {}
    read_notices: list[RowIssue] = []  # what reading the text found (quotes that don't pair)
    for raw in raws:
        name, left_out = raw.name, left_out + raw.left_out
        footer_rows += raw.footer_rows
        read_notices += raw.notices
        for why, left in raw.ragged.items():
            ragged.setdefault(why, []).extend(left)
        if raw.num_rows:  # a part may hold only rows left out (NUL bytes, the footer)
            parts.append(store.add(_reduce(raw, defs, keys, store.n), raw.expected_records))
    fields = _finish(parts, store, defs, keys, name, left_out, ragged, footer_rows, evidence, files, unit)
    fields.notices = read_notices + fields.notices
    if len(parts) > 1:
        release_memory()  # and the joining's temporaries, before the lead table's arrays
    return fields


class _Store:
    """The typed arrays of every part, each written at its records' place in one array per field
    as the part comes (sized from the export's estimated records, grown if need be): no part's
    arrays wait to be joined, and nothing is copied to join them."""

    def __init__(self) -> None:
        self.n = 0
        self.capacity = 0
        self.arrays: dict = {}  # name -> array of `capacity` records
        self.categories: dict = {}  # key -> the distinct values so far, in order of first appearance

    def add(self, part: _Part, expected: int = 0) -> _Part:
        """Write the part's arrays into the store and drop them from the part; return the part."""
        start, end = self.n, self.n + part.n
        if self.capacity == 0 and expected <= part.n:  # the whole export in one part: its arrays as they are
            self.arrays, self.capacity, self.n = dict(self._arrays_of(part)), end, end
            return part
        if end > self.capacity:
            self._grow(max(end, expected, int(self.capacity * 1.25)))
        for name, array in self._arrays_of(part):
            if name not in self.arrays:
                self.arrays[name] = np.zeros(self.capacity, dtype=array.dtype)
            elif array.dtype != self.arrays[name].dtype:  # category codes outgrew their integer type
                self.arrays[name] = self.arrays[name].astype(np.result_type(self.arrays[name], array))
            self.arrays[name][start:end] = array
        self.n = end
        return part

    def _arrays_of(self, part: _Part):
        """Yield (name, array) for every per-record array of the part, taking it from the part."""
        for name in ("rows", "blank", "id_keys", "empty", "placeholder", "bad_date", "bad_flag", "blanked"):
            array = getattr(part, name)
            setattr(part, name, None)
            if array is not None:  # blanked: None where no blank values are set (zeros, as allocated)
                yield name, array
        for h in list(part.dates):
            yield ("dates", h), DayColumns.compact(part.dates.pop(h))
        for h in list(part.flags):
            yield ("flags", h), part.flags.pop(h)
        for key in list(part.values):
            value = part.values.pop(key)
            if isinstance(value, tuple):
                yield ("codes", key), self._codes(key, *value)
            else:
                yield ("values", key), value
        for key, problems in part.problems.items():
            for why in problems:  # the reasons stay: the notices go by them
                yield ("problems", key, why), problems[why]
                problems[why] = None

    def _codes(self, key: str, codes: np.ndarray, categories: pd.Index) -> np.ndarray:
        """Return a part's category codes as codes of the categories of every part so far."""
        known = self.categories.get(key)
        if known is None:
            self.categories[key] = categories
            return codes.astype(code_type(len(categories)))
        remap = known.get_indexer(categories)
        new = remap < 0
        if new.any():
            remap[new] = np.arange(len(known), len(known) + int(new.sum()))
            self.categories[key] = known.append(categories[new])
        return np.append(remap, -1).astype(code_type(len(self.categories[key])))[codes]  # code -1 picks the appended -1

    def _grow(self, capacity: int) -> None:
        for name, array in self.arrays.items():
            grown = np.zeros(capacity, dtype=array.dtype)
            grown[:self.n] = array[:self.n]
            self.arrays[name] = grown
        self.capacity = capacity

    def take_dates(self, headers) -> DayColumns:
        return DayColumns({h: self.take(("dates", h)) for h in headers})

    def take(self, name) -> np.ndarray | None:
        """Return the records' array of `name` (None if no part had one), and let go of it."""
        array = self.arrays.pop(name, None)
        return None if array is None else array[:self.n]

    def categorical(self, key: str) -> pd.Categorical:
        return pd.Categorical.from_codes(self.take(("codes", key)), categories=pd.Index(self.categories[key], dtype="str"))


def code_type(categories: int) -> type:
    """Return the smallest integer type for the codes of so many categories (and -1 for blank)."""
    return np.int8 if categories <= 127 else np.int16 if categories <= 32767 else np.int32


class DayColumns(Mapping):
    """Date columns by header, each kept as int32 days since 1970 (4 bytes a record, half of a
    datetime64) while the export is read, and given as datetime64[D] (NaT: no date) when asked
    for: one column at a time is ever wide. `pop` lets a column go as it is given."""

    NONE = np.iinfo(np.int32).min  # no date

    def __init__(self, columns: dict) -> None:
        self._columns = columns

    @classmethod
    def compact(cls, days: np.ndarray) -> np.ndarray:
        """Return datetime64[D] days as int32 (dates are 1970-2199 by now: placeholders are NaT)."""
        out = days.view(np.int64).astype(np.int32)
        out[np.isnat(days)] = cls.NONE
        return out

    @classmethod
    def wide(cls, days: np.ndarray, unit: str = "D") -> np.ndarray:
        """Return int32 days as datetime64 in `unit` (D, or s as a pandas column holds them)."""
        out = days.astype(np.int64)
        if unit == "s":
            out *= 86400
        out[days == cls.NONE] = np.iinfo(np.int64).min  # NaT
        return out.view(f"datetime64[{unit}]")

    def seconds(self, header: str) -> np.ndarray:
        return self.wide(self._columns[header], "s")

    def none_known(self, header: str) -> bool:
        return bool((self._columns[header] == self.NONE).all())

    def __getitem__(self, header: str) -> np.ndarray:
        return self.wide(self._columns[header])

    def __iter__(self):
        return iter(self._columns)

    def __contains__(self, header) -> bool:  # Mapping's own would make the column to find it
        return header in self._columns

    def __len__(self) -> int:
        return len(self._columns)

    def pop(self, header: str) -> np.ndarray:
        return self.wide(self._columns.pop(header))

    def days(self, header: str, pop: bool = False) -> np.ndarray:
        """Return a column as it is kept: int32 days, NONE for no date (`pop`: and let it go)."""
        return self._columns.pop(header) if pop else self._columns[header]


EXAMPLE_CELLS = 50  # the bad cells of a column looked at for its examples, as an analyst scans the first few


@dataclass
class _Part:
    """Consecutive records of an export reduced to typed arrays, their text dropped."""

    n: int
    headers: list  # the columns read, in the export's order
    rows: np.ndarray
    ids: pa.ChunkedArray
    blank: np.ndarray
    id_keys: np.ndarray
    numeric_ids: bool
    empty: np.ndarray
    blanked: np.ndarray | None  # records with a blank value (None: the definitions set no blank_values)
    blanked_examples: dict  # header -> the first such value of the part, as the notice shows it
    dates: dict  # header -> datetime64[D]
    placeholder: np.ndarray
    placeholder_examples: dict  # header -> the first placeholder of the header on a record with no earlier one
    bad_counts: dict  # header -> (unparseable cells, the first of them)
    bad_date: np.ndarray
    bad_date_texts: dict  # header -> the first unparseable cells of usable records, new to this header
    flags: dict  # header -> bool per record
    bad_flag: np.ndarray
    bad_flag_texts: dict  # header -> the first bad cells new to this header
    values: dict  # key -> numbers, or (codes, categories)
    problems: dict  # key -> {why: mask}
    problem_cells: dict  # (key, why) -> (record indexes, texts) of its first bad cells


def _first_cells(column: pa.ChunkedArray, mask: np.ndarray, most: int = EXAMPLE_CELLS, offset: int = 0) -> tuple[np.ndarray, list]:
    """Return (record indexes from `offset`, values) of the first `most` cells where mask is set."""
    where = np.flatnonzero(mask)[:most]
    values = column.take(pa.array(where)).to_pylist() if len(where) else []
    return where + offset, values


def _distinct(values: Iterable, most: int) -> list[str]:
    """Return the first `most` distinct values, as written (repr)."""
    out: list[str] = []
    for value in values:
        shown = repr(value)
        if shown not in out:
            out.append(shown)
        if len(out) >= most:
            break
    return out


def _reduce(raw: RawTable, defs: Definitions, keys: dict[str, str], offset: int) -> _Part:
    """Return one part of an export as typed arrays, with what its examples need of its text.

    Every mask here is a fact about the record alone (a duplicate id is not: `_finish` finds them)."""
    n = raw.num_rows
    raw, blanked, blanked_examples = _blank(raw, defs.blank_values)
    date_headers = [h for h in raw.table.column_names if h in defs.date_headers()]
    (ids, blank, id_keys, numeric), parsed, text = _convert(raw, defs, keys, date_headers)
    empty = np.ones(n, dtype=bool)  # an empty line, or a row blank in every column read
    for h in raw.table.column_names:
        empty &= raw.column(h).is_null().to_numpy()
    unusable = blank | empty
    placeholder = np.zeros(n, dtype=bool)
    placeholder_examples: dict[str, str] = {}
    for h, (days, bad, column) in list(parsed.items()):
        days, far = without_placeholders(days)
        if far.any():
            first = np.flatnonzero(far & ~placeholder)[:1]
            if len(first):
                placeholder_examples[h] = repr(column[int(first[0])].as_py())
            parsed[h] = (days, bad, column)
            placeholder |= far
    bad_date = np.zeros(n, dtype=bool)
    bad_counts, bad_date_texts = {}, {}
    for h, (_, bad, column) in parsed.items():
        count = int(bad.sum())
        bad_counts[h] = (count, column[int(np.flatnonzero(bad)[0])].as_py() if count else None)
        new_bad = bad & ~unusable & ~bad_date
        bad_date_texts[h] = _first_cells(column, new_bad)[1]
        bad_date |= new_bad
    unusable = unusable | bad_date
    flags: dict[str, np.ndarray] = {}
    bad_flag = np.zeros(n, dtype=bool)
    bad_flag_texts = {}
    for h in sorted(defs.flag_fields()):
        flags[h], bad = read_flags(raw.column(h))
        new = bad & ~unusable & ~bad_flag
        bad_flag_texts[h] = _first_cells(raw.column(h), new)[1]
        bad_flag |= new
    values, problems, problem_cells = {}, {}, {}
    for key, h in keys.items():
        if h in parsed:
            continue
        if key in NUMBER_FIELDS:
            values[key], problems[key] = text[key]
            for why, bad in problems[key].items():
                # examples are of usable records, known only once duplicate ids are: keep more
                problem_cells[key, why] = _first_cells(raw.column(h), bad & ~unusable & ~bad_flag, 4 * EXAMPLE_CELLS, offset)
        else:
            values[key] = text[key]  # (codes, categories)
    ids = (pa.chunked_array([ids]) if isinstance(ids, pa.Array) else ids).cast(pa.large_string())  # pandas' own: no copy later
    return _Part(n, raw.table.column_names, raw.rows, ids, blank, id_keys, numeric, empty,
                 blanked, blanked_examples, {h: days for h, (days, _, _) in parsed.items()}, placeholder, placeholder_examples,
                 bad_counts, bad_date, bad_date_texts, flags, bad_flag, bad_flag_texts, values, problems, problem_cells)


def _finish(parts: list[_Part], store: _Store, defs: Definitions, keys: dict[str, str], name: str, left_out: int,
            ragged: dict[str, list[int]], footer_rows: list[int], evidence: Evidence | None,
            files: list[FileAccount] | None, unit: str) -> Fields:
    """Return the parts as one Fields: the checks over every record, duplicate ids, the accounting."""
    if not parts:
        raise InputError(f"{name}: the export has a header but no data rows")
    if len(parts) > 1:
        release_memory()  # the parts' text: freed, but kept by the allocator
    rows, empty = store.take("rows"), store.take("empty")
    if empty.all():
        raise InputError(f"{name}: the export has a header but no data rows")
    ids, blank, id_keys = _joined_ids(parts, store)
    excluded = [issue("blank in every column the definitions use", empty, rows), issue("with a blank id", blank & ~empty, rows)]
    for why, left in ragged.items():  # counted among the rows read, as a spreadsheet shows them
        excluded.append(RowIssue(why, len(left), left[:SHOW_ROWS], detail=RawTable.detail(why)))
    if footer_rows:
        excluded.append(RowIssue(FOOTER, len(footer_rows), footer_rows[:SHOW_ROWS],
                                 detail="the lines after the data (Generated By, copyright, totals) are not leads"))
    unusable = blank | empty
    dates = store.take_dates(parts[0].bad_counts)  # the date columns, in the export's order
    examples = _date_examples(parts, dates, name, defs)
    bad_date = store.take("bad_date")
    excluded.append(issue(BAD_DATE, bad_date, rows, examples=examples,
                          detail="dates are ISO (2026-03-31, 2026-03-31T14:05:00Z) or in the formats the definitions give "
                                 "(date_format, date_formats)" if defs.date_format or defs.column_formats else
                                 "dates are ISO (2026-03-31, 2026-03-31T14:05:00Z) unless the definitions set date_format"))
    unusable |= bad_date
    bad_flag = store.take("bad_flag")
    examples = []
    flag_headers = sorted(defs.flag_fields())
    for h in flag_headers:
        if len(examples) < 3:
            texts = [t for p in parts for t in p.bad_flag_texts[h]][:EXAMPLE_CELLS]
            examples += [f"{v} in {_column_name(h, defs)}" for v in _distinct(texts, 3 - len(examples))]
    excluded.append(issue("with an unparseable flag", bad_flag, rows, examples=examples,
                          detail="a flag is true (1, true, yes, y, x, checked) or false (0, false, no, n, blank)"))
    unusable |= bad_flag
    if evidence is not None and evidence.entering is not None:
        excluded.append(_bare_leads(evidence.entering, unusable, rows))
        unusable |= ~evidence.entering
    # An id's lead is its first row that is otherwise usable: a later row repeating it is left out.
    duplicate = repeats(id_keys, ~unusable)
    del id_keys  # 8 bytes a record, needed no more
    _refuse_a_log(duplicate, unusable, name, defs)
    excluded.append(issue("with a duplicate id", duplicate, rows, detail="the first usable row of each id is kept"))
    usable = ~(unusable | duplicate)

    notices = _part_notices(parts, store, dates, rows, usable)
    columns: dict[str, object] = {"id": ids.to_pandas(), "_row": rows}
    for key, h in keys.items():
        if h in dates:
            columns[key] = dates.seconds(h)
        elif key in NUMBER_FIELDS:
            columns[key] = store.take(("values", key))
            notices += _number_notices(parts, store, key, rows, usable)
        else:
            columns[key] = store.categorical(key)
    frame = pd.DataFrame(columns, copy=False)
    evidence = evidence or Evidence()
    flag_evidence(evidence, defs, {h: store.take(("flags", h)) for h in flag_headers})
    if defs.stage_column:
        notices.append(status_evidence(evidence, defs, frame, usable, rows))
    return Fields(frame, dates, usable, [i for i in excluded if i], [i for i in notices if i], name, store.n + left_out,
                  evidence, list(files or []), unit)


def _bare_leads(entering: np.ndarray, unusable: np.ndarray, rows: np.ndarray) -> RowIssue | None:
    """Return the exclusion of a log's leads with no row that counts: every row of theirs was
    excluded (no date, a stage named nowhere), so nothing is known of them, not even that they
    never reached the first stage (a row naming it may have had no date)."""
    return issue("whose every row of the log is excluded", ~entering & ~unusable, rows,
                 detail="see the log's account: a row with no date, or naming no stage", unit="lead")


def no_date_parses(name: str, header: str, example: str, defs: Definitions, failing: list[str] | None = None) -> InputError:
    """Return the error for a date column where no value parses (a few typos are rows to exclude;
    a column of them is a setting to fix), naming the common format that reads the failing values
    (`failing`: a few of them) when one does."""
    from funnelcli.sources.datacheck import format_advice

    formats = defs.formats(header)
    # a common format that reads them: named, with the line to write
    advice = format_advice(pa.chunked_array([pa.array(list(dict.fromkeys([example, *(failing or [])])), pa.string())]),
                           header, formats, defs, only_a_format=True)
    if not formats:
        hint = (f"set date_format in the definitions; {advice} (or date_format: for every column)" if advice else
                f"set date_format in the definitions (e.g. date_format: '%m/%d/%Y %I:%M %p'), or date_formats: {{{visible(header)}: ...}} "
                "for this column alone")
    else:
        hint = f"they don't fit {'its date_formats' if formats != defs.date_format else 'date_format'} {list(formats)!r}"
        hint += f"; {advice}" if advice else ""
    return InputError(f"{name}: column {_column_name(header, defs)}: no value parses as a date (such as {example!r}); {hint}")


def _column_name(key: str, defs: Definitions) -> str:
    """Return a lead-table column as a message names it: a joined column with its join and header,
    since its bad values are in that file, not the export."""
    join = next((j for j in defs.joins if key in j.columns), None)
    return repr(key) if join is None else f"{key!r} (column {join.columns[key]!r} of join {join.name})"


def _date_examples(parts: list[_Part], dates: DayColumns, name: str, defs: Definitions) -> list[str]:
    """Return a few unparseable dates of usable records, as examples; raise when a whole column is
    in another format (a few typos are rows; a column of them is a setting)."""
    for h in dates:
        count = sum(p.bad_counts[h][0] for p in parts)
        if count >= 5 and dates.none_known(h):
            raise no_date_parses(name, h, next(p.bad_counts[h][1] for p in parts if p.bad_counts[h][0]), defs,
                                 [t for p in parts for t in p.bad_date_texts[h]][:EXAMPLE_CELLS])
    examples: list[str] = []
    for h in dates:
        if len(examples) < 3:  # distinct values: 'n/a' twice says less than 'n/a' and 'TBD'
            texts = [t for p in parts for t in p.bad_date_texts[h]][:EXAMPLE_CELLS]
            named = [f"{v} in {_column_name(h, defs)}" for v in _distinct(texts, 2)]
            examples += [e for e in named if e not in examples]
            del examples[3:]
    return examples


def _part_notices(parts: list[_Part], store: _Store, dates: dict, rows: np.ndarray, usable: np.ndarray) -> list[RowIssue | None]:
    """Return the notices of blank values and placeholder dates, with their first examples."""
    placeholder_examples: list[str] = []
    for h in dates:
        first = next((p.placeholder_examples[h] for p in parts if h in p.placeholder_examples), None)
        if first is not None and len(placeholder_examples) < 3:
            placeholder_examples.append(f"{first} in {h!r}")
    blanked = None
    hit = store.take("blanked")
    if hit is not None:
        shown = [next(p.blanked_examples[h] for p in parts if h in p.blanked_examples)
                 for h in parts[0].headers if any(h in p.blanked_examples for p in parts)][:3]
        blanked = issue("with a value the definitions read as blank (blank_values)", hit, rows, examples=shown, detail="read as blank")
    placeholder = store.take("placeholder")
    return [blanked, issue(f"with a placeholder date {PLACEHOLDER_DAYS}", placeholder & usable, rows,
                           detail="read as no date", examples=placeholder_examples)]


def _number_notices(parts: list[_Part], store: _Store, key: str, rows: np.ndarray, usable: np.ndarray) -> list[RowIssue | None]:
    """Return a notice per reason a number field's cells of usable records are read as blank."""
    notices = []
    for why in parts[0].problems[key]:
        bad = store.take(("problems", key, why)) & usable
        at = np.concatenate([p.problem_cells[key, why][0] for p in parts])
        texts = [t for p in parts for t in p.problem_cells[key, why][1]]
        kept = usable[at] if len(at) else np.zeros(0, dtype=bool)
        shown = _distinct([t for t, k in zip(texts, kept) if k][:EXAMPLE_CELLS], 3)
        notices.append(issue(f"whose {key} {why}", bad, rows, "read as blank", examples=shown))
    return notices


def _joined_ids(parts: list[_Part], store: _Store) -> tuple[pa.ChunkedArray, np.ndarray, np.ndarray]:
    """Return the ids of every part, which are blank, and a key per id that is the same for equal
    ids in any part (as one table's would be)."""
    ids = pa.chunked_array([c for p in parts for c in p.ids.chunks], pa.large_string())
    blank, keys = store.take("blank"), store.take("id_keys")
    if len(parts) == 1 or all(p.numeric_ids for p in parts):
        return ids, blank, keys
    trimmed = pc.utf8_trim_whitespace(ids)  # a part of plain-digit ids kept them as written
    keys = np.concatenate([pc.fill_null(c.indices, -1).to_numpy(zero_copy_only=False)
                           for c in pc.dictionary_encode(trimmed).unify_dictionaries().chunks])
    return trimmed, blank, keys


def blank_out(raw: RawTable, blank_values: tuple[str, ...], of: str = "") -> tuple[RawTable, RowIssue | None]:
    """Return the table with the definitions' blank values (trimmed, any case) made blank, and the
    rows that had any, as a notice."""
    raw, hit, firsts = _blank(raw, blank_values)
    if hit is None:
        return raw, None
    found = issue(f"{of + ' ' if of else ''}with a value the definitions read as blank (blank_values)", hit, raw.rows,
                  examples=list(firsts.values())[:3], detail="read as blank")
    return raw, found


def blank_match(column, blank_values: tuple[str, ...]):
    """Return which cells of a text column hold one of the definitions' blank values (trimmed, any case)."""
    wanted = pa.array(sorted({v.strip().casefold() for v in blank_values}))
    return pc.fill_null(pc.is_in(pc.utf8_lower(pc.utf8_trim_whitespace(column)), value_set=wanted), False)


def _blank(raw: RawTable, blank_values: tuple[str, ...]) -> tuple[RawTable, np.ndarray | None, dict[str, str]]:
    """Return the table with the blank values made blank, which rows had any (None: no blank
    values are set), and per column with any, the first as the notice shows it."""
    if not blank_values:
        return raw, None, {}
    hit = np.zeros(raw.num_rows, dtype=bool)
    columns = []
    firsts: dict[str, str] = {}
    for h in raw.table.column_names:
        column = raw.column(h)
        if pa.types.is_dictionary(column.type):  # a log's coded column: as text, to blank values
            column = column.cast(pa.string())
        match = blank_match(column, blank_values)
        mask = match.to_numpy()
        if mask.any():
            firsts[h] = f"{column[int(np.flatnonzero(mask)[0])].as_py()!r} in {h!r}"
            hit |= mask
            column = pc.if_else(match, pa.scalar(None, pa.string()), column)
        columns.append(column)
    table = pa.Table.from_arrays(columns, names=raw.table.column_names)
    return replace(raw, table=table), hit, firsts  # its rows left out (ragged, a footer) and notices go on with it


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
        id_job = pool.submit(id_keys, raw.column(defs.columns["id"]))
        date_jobs = {h: pool.submit(parse_dates, raw.column(h), defs.formats(h), defs.timezone) for h in date_headers}
        text_jobs = {
            key: pool.submit(quantities if key in NUMBER_FIELDS else categorical, raw.column(h))
            for key, h in keys.items() if h not in date_jobs
        }
        parsed = {h: job.result() for h, job in date_jobs.items()}
        text = {key: job.result() for key, job in text_jobs.items()}
        return id_job.result(), parsed, text


def release_memory() -> None:
    """Hand freed memory back to the system: glibc and pyarrow's own allocator keep freed blocks
    of a few MB (a part's text, its temporaries) for reuse, and the larger arrays that follow
    never reuse them (at 5,000,000 leads pyarrow's pool alone kept 35 MB)."""
    import ctypes

    pa.default_memory_pool().release_unused()

    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: its allocator returns memory its own way
        pass
