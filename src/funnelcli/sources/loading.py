"""Exports -> the canonical lead table, with every row accounted for.

The lead table has one row per row of the export (rows excluded for a reason are flagged in
`usable`, not dropped: copying every column to drop a few rows costs more than the engine's one
selection, which leaves them out) and these columns:
  id                   the lead's id (text)
  _row                 the row number a spreadsheet shows for it (the header is row 1)
  <field>              every mapped field by canonical name, and every unmapped column a condition
                       names, by header: dates (datetime64, a day in the definitions' timezone),
                       numbers (touches, amount: float) or text (categorical)
  exit                 the first exit whose rule holds (as the export stands; replays use exit_met)
  market               the first market whose rule holds, else "out of market" (if markets exist)
and three (leads x stages) matrices aligned with its rows: `reached` (by the stage's own rule, or
implied by a later stage), `date` (the effective entry date; NaT when none is known) and `implied`.
The engine reads nothing else. A new export shape is one more reader that produces this table.
"""

from __future__ import annotations

import csv
import io
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from funnelcli.definitions import NUMBER_FIELDS, OUT_OF_MARKET, Definitions, nearest_header
from funnelcli.engine import conditions
from funnelcli.errors import InputError, option
from funnelcli.sources.cells import categorical, numbers, parse_dates, repeats
from funnelcli.sources.cells import ids as read_ids
from funnelcli.sources.sniff import decode_error_line, encoding_hint, open_export, python_codec, read_head, read_header

SHOW_ROWS = 5  # how many row numbers a notice lists
# CRMs write 9999-12-31, 1900-01-01 or 1970-01-01 (zero dates) for "never" or "unknown": days on
# or before EARLIEST or after LATEST are placeholders, read as no date.
EARLIEST = np.datetime64("1970-01-01", "D")
LATEST = np.datetime64("2199-12-31", "D")


@dataclass
class RowIssue:
    """Rows that share one data-quality issue: how many, and the first few row numbers."""

    reason: str  # short, for the accounting line: "with a blank id"
    count: int
    rows: list[int]
    examples: list[str] = field(default_factory=list)
    detail: str = ""  # what funnelcli did about it, for the notice on stderr

    def describe(self) -> str:
        rows = ", ".join(str(r) for r in self.rows)
        more = ", ..." if self.count > len(self.rows) else ""
        examples = f" such as {', '.join(str(e) for e in self.examples)}" if self.examples else ""
        detail = f"; {self.detail}" if self.detail else ""
        plural = "s" if self.count != 1 else ""
        return f"{self.count:,} row{plural} {self.reason}{examples} (row{plural} {rows}{more}){detail}"


@dataclass
class LoadedExport:
    """The canonical lead table (a frame, and stage matrices aligned with its rows) and accounting."""

    leads: pd.DataFrame  # a row per row of the export
    usable: np.ndarray  # bool: the row is a lead (False: excluded, for a reason in `excluded`)
    reached: np.ndarray  # bool [rows, stages]: reached by its own rule or implied by a later stage
    date: np.ndarray  # datetime64[D] [rows, stages]: effective entry date (NaT: none known)
    implied: np.ndarray  # bool [rows, stages]: reached only because a later stage was ("skipped")
    late: dict  # stage -> (rows, own dates): stages dated by a later stage's earlier date
    exit_met: list  # per exit, bool [rows]: the exit's rule holds
    exit_dates: dict  # exit index -> datetime64[D] [rows]: its date, for exits with a date column
    export: str  # the export's name as given
    rows_read: int
    excluded: list[RowIssue]  # rows that are not leads, each for one reason
    notices: list[RowIssue]  # facts about leads: out-of-order dates, non-numbers
    latest_date: pd.Timestamp | None  # the latest date in the export's date columns

    @property
    def rows_excluded(self) -> int:
        return sum(issue.count for issue in self.excluded)


def _issue(reason: str, mask: np.ndarray, rows: np.ndarray, detail: str = "") -> RowIssue | None:
    """Return the rows where mask is set as one issue (None if there are none)."""
    where = np.flatnonzero(mask)
    if len(where) == 0:
        return None
    return RowIssue(reason, int(len(where)), [int(r) for r in rows[where[:SHOW_ROWS]]], [], detail)


# --------------------------------------------------------------------------------------------
# Reading the CSV


def _check_columns(defs: Definitions, header: list[str], name: str) -> list[str]:
    """Return the headers to read; raise naming every missing column and what exists."""
    needed = defs.headers()
    missing = [h for h in needed if h not in header]
    if missing:
        lines = []
        for h in missing:
            roles = sorted({r.role for r in defs.refs if r.header == h})
            lines.append(f"  {h!r} (used by {', '.join(roles)}){nearest_header(h, header)}")
        shown = ", ".join(repr(h) for h in header[:40]) + (", ..." if len(header) > 40 else "")
        raise InputError(
            f"{name}: {len(missing)} column{'s' if len(missing) != 1 else ''} the definitions use "
            f"{'are' if len(missing) != 1 else 'is'} not in the export's header:\n" + "\n".join(lines)
            + f"\nThe export's columns are: {shown}\nFix the names under 'columns:' (or the stage dates) in the definitions."
        )
    duplicated = sorted({h for h in needed if header.count(h) > 1})
    if duplicated:
        raise InputError(f"{name}: the header has column {duplicated[0]!r} more than once; rename one in the export")
    return needed


def _locate_ragged(data: bytes | None, path: str, codec: str, delimiter: str, width: int) -> str:
    """Return 'line N: ...' for the first row whose field count differs from the header's."""
    raw = data if data is not None else open(path, "rb").read()
    text = io.StringIO(raw.decode(codec, errors="replace"), newline="")
    reader = csv.reader(text, delimiter=delimiter)
    for record in reader:
        if record and len(record) != width:  # an empty line is a row of blanks, not ragged
            return f"line {reader.line_num}: {len(record)} fields where the header has {width}"
    return ""


def _read_table(data: bytes | None, path: str, name: str, needed: list[str], header: list[str],
                delimiter: str, encoding: str | None) -> pa.Table:
    codec = python_codec(encoding)
    read_options = pacsv.ReadOptions(encoding="utf8" if codec == "utf-8-sig" else codec, block_size=1 << 22)
    convert_options = pacsv.ConvertOptions(
        include_columns=needed,
        column_types={h: pa.string() for h in needed},
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
        null_values=[""],
    )

    def read(newlines_in_values: bool) -> pa.Table:
        source = io.BytesIO(data) if data is not None else path
        # Empty lines are rows too: a spreadsheet numbers them, so skipping them would shift
        # every row number after them.
        parse_options = pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=newlines_in_values,
                                           ignore_empty_lines=False)
        return pacsv.read_csv(source, read_options, parse_options, convert_options)

    try:
        try:
            # Fast: blocks are cut at newlines. A quoted value with a newline at a block's edge
            # makes the parser fail (never misread), and the slower reader that allows them is
            # tried next.
            return read(False)
        except pa.ArrowInvalid:
            return read(True)
    except pa.ArrowInvalid as exc:
        message = str(exc)
        if "UTF8" in message or "UTF-8" in message or "decode" in message.lower():
            line = decode_error_line(data, path, codec)
            raise encoding_hint(name, encoding, f" (line {line} has bytes it cannot decode)" if line else "") from None
        if "Expected" in message and "columns" in message:
            where = _locate_ragged(data, path, codec, delimiter, len(header))
            raise InputError(
                f"{name}: {where or message}; every row needs as many fields as the header "
                f"(is a quote left open, or is the delimiter wrong? try {option('delimiter')})"
            ) from None
        raise InputError(f"{name}: cannot read the CSV: {message}") from None
    except UnicodeDecodeError:
        line = decode_error_line(data, path, codec)
        raise encoding_hint(name, encoding, f" (line {line} has bytes it cannot decode)" if line else "") from None


# --------------------------------------------------------------------------------------------
# The lead table


def load_export(path: str, defs: Definitions, encoding: str | None = None, delimiter: str | None = None,
                content: bytes | None = None) -> LoadedExport:
    """Read an export (a path, or '-' for stdin) into the canonical lead table.

    `content` is the export's bytes when the caller has read them already (stdin can't be read
    twice).
    """
    data, name = (content, "<stdin>" if path == "-" else path) if content is not None else open_export(path)
    header, delimiter = read_header(read_head(data, path), name, encoding, delimiter)
    needed = _check_columns(defs, [h.strip() for h in header], name)
    raw = {h.strip(): h for h in header}  # the export's names, spaces and all, for the reader
    table = _read_table(data, path, name, [raw[h] for h in needed], header, delimiter, encoding)
    table = table.rename_columns([c.strip() for c in table.column_names])
    n = table.num_rows
    if n == 0:
        raise InputError(f"{name}: the export has a header but no data rows")
    rows = np.arange(2, n + 2, dtype=np.int64)

    # The fields: every mapped column by canonical name, and every other column a condition tests.
    keys: dict[str, str] = {c: h for c, h in defs.columns.items() if c != "id"}
    for fld in sorted(defs.condition_fields()):
        keys.setdefault(defs.field_key(fld), defs.header(fld))
    date_columns = defs.date_headers()
    date_headers = [h for h in needed if h in date_columns]

    # Column by column work runs in threads: pyarrow's kernels release the GIL.
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        id_job = pool.submit(read_ids, table.column(defs.columns["id"]))
        date_jobs = {h: pool.submit(parse_dates, table.column(h), defs.date_format, defs.timezone) for h in date_headers}
        text_jobs = {
            key: pool.submit(numbers if key in NUMBER_FIELDS else categorical, table.column(h))
            for key, h in keys.items() if h not in date_jobs
        }
        ids, blank, id_keys = id_job.result()
        parsed = {h: job.result() for h, job in date_jobs.items()}
        text = {key: job.result() for key, job in text_jobs.items()}

    empty = np.ones(n, dtype=bool)  # an empty line, or a row blank in every column read
    for h in needed:
        empty &= table.column(h).is_null().to_numpy()
    if empty.all():
        raise InputError(f"{name}: the export has a header but no data rows")
    excluded: list[RowIssue | None] = [
        _issue("with no values", empty, rows),
        _issue("with a blank id", blank & ~empty, rows),
    ]
    unusable = blank | empty
    bad_date = np.zeros(n, dtype=bool)
    bad_examples: list[str] = []
    placeholder = np.zeros(n, dtype=bool)
    placeholder_examples: list[str] = []
    for h, (days, bad, raw) in parsed.items():
        far = ~np.isnat(days) & ((days <= EARLIEST) | (days > LATEST))
        if far.any():
            for i in np.flatnonzero(far & ~placeholder)[:1]:
                if len(placeholder_examples) < 3:
                    placeholder_examples.append(f"{raw[int(i)].as_py()!r} in {h!r}")
            days[far] = np.datetime64("NaT")
            placeholder |= far
        if bad.sum() >= 5 and np.isnat(days).all():  # a column of another format, not a few typos
            example = raw[int(np.flatnonzero(bad)[0])].as_py()
            hint = ("set date_format in the definitions (e.g. date_format: '%m/%d/%Y %I:%M %p')" if not defs.date_format
                    else f"they don't fit date_format {defs.date_format!r}")
            raise InputError(f"{name}: column {h!r}: no value parses as a date (such as {example!r}); {hint}")
        new_bad = bad & ~unusable & ~bad_date
        for i in np.flatnonzero(new_bad)[:2]:
            if len(bad_examples) < 3:
                bad_examples.append(f"{raw[int(i)].as_py()!r} in {h!r}")
        bad_date |= new_bad
    issue = _issue("with an unparseable date", bad_date, rows,
                   detail="dates are ISO (2026-03-31, 2026-03-31T14:05:00Z) unless the definitions set date_format")
    if issue:
        issue.examples = bad_examples
        excluded.append(issue)
    unusable |= bad_date
    # An id's lead is its first row that is otherwise usable: a later row repeating it is left out.
    duplicate = repeats(id_keys, ~unusable)
    excluded.append(_issue("with a duplicate id", duplicate, rows, detail="the first usable row of each id is kept"))
    usable = ~(unusable | duplicate)

    # Excluded rows stay in the table, flagged: copying every column to drop a few rows costs
    # more than the engine's one selection, which leaves them out with everything else.
    columns: dict[str, object] = {"id": ids.to_pandas(), "_row": rows}
    notices: list[RowIssue | None] = []
    issue = _issue(f"with a placeholder date (on or before {EARLIEST}, or after {LATEST})", placeholder & usable, rows,
                   detail="read as no date")
    if issue:
        issue.examples = placeholder_examples
        notices.append(issue)
    dates = {h: days for h, (days, _, _) in parsed.items()}
    for key, h in keys.items():
        if h in dates:
            columns[key] = dates[h].astype("datetime64[s]")
        elif key in NUMBER_FIELDS:
            values, bad = text[key]
            notices.append(_issue(f"whose {key} is not a number", bad & usable, rows, "read as blank"))
            columns[key] = values
        else:
            codes, categories = text[key]
            columns[key] = pd.Categorical.from_codes(codes, categories=categories)
    frame = pd.DataFrame(columns, copy=False)

    key_of = defs.field_key
    reached, date, implied, out_of_order, late = _stages(frame, defs, dates, key_of)
    notices.append(_issue("with stage dates out of order", out_of_order & usable, rows,
                          detail="an earlier stage dated after a later one takes the later stage's date"))
    exit_met, exit_dates = _add_exit(frame, defs, dates, key_of)
    if defs.markets:
        _add_market(frame, defs, key_of)

    # NaT would win a plain max: look at the known dates only.
    known = [d.max(where=usable & ~np.isnat(d), initial=np.datetime64(EARLIEST, "D")) for d in dates.values()]
    latest = max((d for d in known if d > EARLIEST), default=None)
    return LoadedExport(
        leads=frame,
        usable=usable,
        reached=reached,
        date=date,
        implied=implied,
        late=late,
        exit_met=exit_met,
        exit_dates=exit_dates,
        export=name,
        rows_read=n,
        excluded=[i for i in excluded if i is not None],
        notices=[i for i in notices if i is not None],
        latest_date=None if latest is None else pd.Timestamp(latest),
    )


def _reading(defs: Definitions) -> conditions.Reading:
    return conditions.Reading(defs.timezone, defs.date_format)


def _stages(frame: pd.DataFrame, defs: Definitions, dates: dict, key_of):
    """Return the stage matrices (reached, effective date, implied), which leads had dates out of
    order, and for each stage the rows (and own dates) that took a later stage's earlier date.

    The matrices are column-major: the engine works a stage (a column) at a time.
    """
    n = len(frame)
    k = len(defs.stages)
    own = np.empty((n, k), dtype=bool, order="F")
    date = np.empty((n, k), dtype="datetime64[D]", order="F")
    for i, stage in enumerate(defs.stages):
        date[:, i] = dates[stage.date] if stage.date else np.datetime64("NaT")
        if stage.when is not None:
            own[:, i] = conditions.evaluate(stage.when, frame, key_of, _reading(defs))
            # the date says when, only for leads the condition says reached the stage
            date[:, i] = np.where(own[:, i], date[:, i], np.datetime64("NaT"))
        else:
            own[:, i] = ~np.isnat(date[:, i])
    # A lead that reached a later stage passed the earlier ones ("implied" stages). An earlier
    # stage's effective date is never after a later one's: it is the earliest known date of the
    # stage and of every later stage the lead reached.
    reached = np.empty((n, k), dtype=bool, order="F")
    reached[:, k - 1] = own[:, k - 1]
    for i in range(k - 2, -1, -1):
        reached[:, i] = own[:, i] | reached[:, i + 1]
    out_of_order = np.zeros(n, dtype=bool)
    late: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for i in range(k - 2, -1, -1):
        later, mine = date[:, i + 1], date[:, i]
        later_first = later < mine  # False where either is NaT
        if later_first.any():  # kept so that a replay before the own date counts the stage as skipped
            rows = np.flatnonzero(later_first)
            late[i] = (rows, mine[rows].copy())
        out_of_order |= later_first
        date[:, i] = np.where(np.isnat(mine) | later_first, later, mine)
    return reached, date, reached & ~own, out_of_order, late


def _add_exit(frame: pd.DataFrame, defs: Definitions, dates: dict, key_of) -> tuple[list[np.ndarray], dict[int, np.ndarray]]:
    """Add the lead's exit (the first whose rule holds) to the frame; return every exit's rule
    (a mask per exit) and the dates of the exits that have a date column, for replaying an
    earlier as-of date."""
    n = len(frame)
    met: list[np.ndarray] = []
    when: dict[int, np.ndarray] = {}
    codes = np.full(n, -1, dtype=np.int32)
    for j, ex in enumerate(defs.exits):
        holds = np.ones(n, dtype=bool) if ex.when is None else conditions.evaluate(ex.when, frame, key_of, _reading(defs))
        if ex.date:
            when[j] = dates[ex.date]
            if ex.when is None:
                holds &= ~np.isnat(when[j])
        met.append(holds)
        codes[holds & (codes == -1)] = j
    frame["exit"] = pd.Categorical.from_codes(codes, categories=pd.Index([e.name for e in defs.exits], dtype="str"))
    return met, when


def _add_market(frame: pd.DataFrame, defs: Definitions, key_of) -> None:
    n = len(frame)
    codes = np.full(n, len(defs.markets), dtype=np.int32)
    for j in range(len(defs.markets) - 1, -1, -1):  # the first market that matches wins
        codes[conditions.evaluate(defs.markets[j].when, frame, key_of, _reading(defs))] = j
    frame["market"] = pd.Categorical.from_codes(codes, categories=pd.Index([m.name for m in defs.markets] + [OUT_OF_MARKET], dtype="str"))
