"""Reading a CSV export: only the columns the definitions use, as text, with row numbers.

pyarrow reads the file (fast, in blocks, in threads); nothing is typed here: `fields.py` turns
the text into ids, dates, numbers and categories. Errors become InputErrors that name the file,
the line and what to do.
"""

from __future__ import annotations

import codecs
import csv
import io
import mmap
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from funnelcli.definitions import nearest_header
from funnelcli.errors import InputError, option
from funnelcli.sources.accounting import RowIssue
from funnelcli.sources.sniff import (
    decode_error_line,
    encoding_hint,
    footer_mark,
    open_export,
    python_codec,
    read_head,
    read_header,
)


def row_numbers(name: str, first: int, count: int) -> np.ndarray:
    """Return the row numbers first .. first + count - 1 as int32: 4 bytes a record, kept for every
    record of the export. An export of over two billion rows is refused, not numbered wrong."""
    if first + count > np.iinfo(np.int32).max:
        raise InputError(f"{name}: more than {np.iinfo(np.int32).max - 1:,} rows: split the export and run each part")
    return np.arange(first, first + count, dtype=np.int32)


@dataclass
class RawTable:
    """The columns of an export that a run uses, as text, by their (trimmed) header."""

    name: str  # the export's name as given ('<stdin>' for stdin)
    table: pa.Table
    rows: np.ndarray  # int32 (row_numbers): the row number a spreadsheet shows for each record (the header is row 1)
    footer_rows: list = field(default_factory=list)  # row numbers of a report footer left out
    ragged: dict = field(default_factory=dict)  # reason -> row numbers of records left out: their field count, a NUL byte
    expected_records: int = 0  # a first part's estimate of the records in the whole export (0: this is all)
    notices: list = field(default_factory=list)  # RowIssues about the text: quotes that don't pair
    header: list = field(default_factory=list)  # the whole header, trimmed (the columns a join's names may hide)

    @property
    def left_out(self) -> int:
        """The rows read but not in the table: ragged records and a report footer."""
        return len(self.footer_rows) + sum(len(r) for r in self.ragged.values())

    @staticmethod
    def detail(why: str) -> str:
        """Return what to check about the records left out for `why` (a key of `ragged`)."""
        if why == NUL_REASON:
            return "a NUL byte is no text a CRM writes: is the row damaged, or was a binary file appended?"
        if f", {OVER_LINES} " in why:
            return ("a row needs as many fields as the header: is a quote or a delimiter off in it? It runs over several lines: "
                    "if a quote was left open in it, the lines after it were read into it, and the leads on them are not counted")
        return "a row needs as many fields as the header: is a quote or a delimiter off in it?"

    def left_out_parts(self) -> list[tuple[str, list[int]]]:
        """Return (why, row numbers) for the rows read but not in the table, ragged records first."""
        parts = [(f"excluded {why}", rows) for why, rows in self.ragged.items()]
        return parts + ([(FOOTER, self.footer_rows)] if self.footer_rows else [])

    @property
    def num_rows(self) -> int:
        return self.table.num_rows

    def column(self, header: str) -> pa.ChunkedArray:
        return self.table.column(header)


def read_csv(path: str, needed: list, encoding: str | None = None, delimiter: str | None = None,
             content: bytes | None = None, what: str = "the definitions", coded: frozenset = frozenset(),
             may_be_empty: bool = False) -> RawTable:
    """Return the columns `needed` of the CSV at `path` ('-' for stdin) as text.

    `needed` holds headers, or (header, roles) pairs so that a missing column's error says what
    uses it. Raises InputError naming every missing column (and the nearest header), or the line
    that cannot be read. `content` is the file's bytes when the caller has read them already.
    The `coded` headers are read as dictionaries (a code per cell), for columns of few values
    that are only coded, never read as text (a log's stage and field columns). A file of a header
    and no rows is an error unless `may_be_empty` (a joined file: no opportunities yet).
    """
    data, name = (content, "<stdin>" if path == "-" else path) if content is not None else open_export(path)
    export = _open(data, path, name, needed, encoding, delimiter, what)
    encoding = export.encoding
    if python_codec(encoding) not in _CUTTABLE:  # UTF-16, say: as UTF-8, so the footer and quotes are checked too
        utf8 = _as_utf8(data, path, python_codec(encoding))
        if utf8 is not None:
            data, encoding = utf8, None
            export = _open(data, path, name, needed, encoding, export.delimiter, what)
    header, delimiter, cut, footer_lines = export.header, export.delimiter, export.cut, export.footer_lines
    nul_somewhere = _has_nul(data, path)
    if cut is not None:  # read the data above the footer only, without copying the file
        data = pa.py_buffer(memoryview(data)[:cut]) if data is not None else _mapped(path).read_buffer(cut)
    table, ragged = _read_table(data, path, name, export.columns, header, delimiter, encoding,
                                {h for h, n in zip(export.columns, export.names) if n in coded})
    table = table.rename_columns([c.strip() for c in table.column_names])
    if table.num_rows == 0 and not ragged and not may_be_empty:
        raise InputError(f"{name}: the export has a header but no data rows")
    total = table.num_rows + len(ragged)  # records, each a row number (the header is row 1)
    rows = row_numbers(name, 2, total)
    by_reason: dict[str, list[int]] = {}
    if ragged:
        rows = np.setdiff1d(rows, [number for number, _, _ in ragged])
        by_reason = _ragged_reasons(ragged, len(header))
    nul = _nul_rows(table) if nul_somewhere else None
    if nul is not None:  # a NUL byte is damage in that row, not a value: left out and counted, as a ragged row
        by_reason[NUL_REASON] = [int(r) for r in rows[nul]]
        table, rows = table.filter(pa.array(~nul)), rows[~nul]
        if table.num_rows == 0:
            raise InputError(f"{name}: every row holds a NUL byte: this looks like a binary file, not a CSV export")
    notices = []
    if python_codec(encoding) in _CUTTABLE:
        block = data if data is not None else _mapped(path).read_buffer()
        notices = _quote_notices(block, table, total, needed, export, encoding)
    return RawTable(name, table, rows, list(range(total + 2, total + 2 + footer_lines)), by_reason, notices=notices,
                    header=[h.strip() for h in header])


def _quote_check(block, table: pa.Table, records: int, has_header: bool, needed: list, export: "_Export") -> tuple[bool, list]:
    """Return quotes.check's answer for `block`: whether its quotes don't pair, and the records
    whose quoted value holds lines shaped like rows the export lacks (by the id column, if mapped)."""
    from funnelcli.sources.quotes import check

    id_header = next((n[0] for n in needed if not isinstance(n, str) and "columns.id" in n[1]), None)
    id_index = export.header.index(export.columns[export.names.index(id_header)]) if id_header else None
    ids = table.column(id_header) if id_header else None
    return check(block, records, has_header, ids, id_index, len(export.header), export.delimiter)


def _quote_notices(block, table: pa.Table, records: int, needed: list, export: "_Export", encoding: str | None) -> list[RowIssue]:
    """Return the notices of quotes in `block` that don't pair as a CSV writer writes them, and of
    quoted values holding lines shaped like rows the export lacks (quotes.py): a quote left open
    reads the lines up to the next quote into one value, and the leads on them are lost."""
    from funnelcli.sources.quotes import first_break

    unpaired, holding = _quote_check(block, table, records, True, needed, export)
    what = ("a quote left open reads the lines up to the next quote into one value, and the leads on them are not counted; "
            "close the quote left open, and run again")
    if unpaired:  # the counts differ: a quote left open, or one inside an unquoted value (27" screen), a character
        found = first_break(block, python_codec(encoding), export.delimiter)
        if found is None:  # read whole by the strict reader too: the quotes inside values only
            return []
        line, row = found
        return [RowIssue(f"where the quotes stop pairing as a CSV writer writes them (line {line} of the file)", 1, [row],
                         detail=what)]
    if not holding:
        return []
    ids_shown = [i for _, _, found_ids in holding for i in found_ids]
    shown = ", ".join(repr(i) for i in ids_shown[:3]) + (", ..." if len(ids_shown) > 3 else "")
    return [RowIssue(f"whose quoted value runs over lines shaped like rows the export lacks (ids {shown})", len(holding),
                     [1 + r for r, _, _ in holding][:5],  # the header is row 1
                     detail="if a quote was left open there, it read the lines up to the next quote into one value, and the "
                            "leads on them are not counted; close it, and run again (a note that pastes rows reads so too)")]


NUL_REASON = "with a NUL byte (binary data) in a cell"
FOOTER = "in the report footer"  # the reason of a report footer's lines: the export's form, not a fault in it
FIELD_COUNT = "where the header has"  # in the reason of records left out for their field count


def left_out_unread(reason: str) -> bool:
    """Return whether an exclusion's reason is one of records left out unread (their field count,
    a NUL byte): their ids are not known, so a lead asked for by id may be on one."""
    return reason == NUL_REASON or FIELD_COUNT in reason
OVER_LINES = "over"  # in the reason of ragged records that run over several lines: "..., over 3 lines of the file"


def _ragged_reasons(ragged: list[tuple[int, int, int]], width: int) -> dict[str, list[int]]:
    """Return reason -> row numbers of the ragged records (row number, field count, lines): by
    field count, and apart, saying how many lines they take, the records that run over several
    (a quote left open reads the lines after it into its record: they are no rows of their own,
    a spreadsheet reads them so too, and the leads on them are lost unless the quote is closed)."""
    by_reason: dict[str, list[int]] = {}
    spans: dict[int, int] = {}  # field count -> the lines its records that span several lines take
    for _, count, lines in ragged:
        if lines > 1:
            spans[count] = spans.get(count, 0) + lines
    for number, count, lines in sorted(ragged):
        why = f"with {count} field{'s' if count != 1 else ''} {FIELD_COUNT} {width}"
        if lines > 1:
            why += f", {OVER_LINES} {spans[count]:,} lines of the file"
        by_reason.setdefault(why, []).append(number)
    return by_reason


@dataclass
class _Export:
    """What reading a CSV export needs to know before its records: its header, checked against the
    columns a run uses, and where its data ends."""

    header: list  # as written, spaces and all
    delimiter: str
    encoding: str | None  # the file's: the one its byte-order mark names, else the one given (None: UTF-8)
    names: list  # the columns used, by their trimmed names
    columns: list  # the same, as the header writes them (what pyarrow is asked for)
    cut: int | None  # the byte offset of a report footer
    footer_lines: int


def _open(data: bytes | None, path: str, name: str, needed: list, encoding: str | None, delimiter: str | None,
          what: str) -> _Export:
    """Return the export's header and footer, raising InputError naming every missing column."""
    header, delimiter, encoding = read_header(read_head(data, path), name, encoding, delimiter)
    _check_columns(needed, [h.strip() for h in header], name, what)
    written = {h.strip(): h for h in header}
    names = [n if isinstance(n, str) else n[0] for n in needed]
    cut, footer_lines = _report_footer(data, path, python_codec(encoding), delimiter, len(header))
    return _Export(header, delimiter, encoding, names, [written[n] for n in names], cut, footer_lines)


def _convert_options(columns: list[str], coded: set[str] = frozenset()) -> pacsv.ConvertOptions:
    """Return pyarrow's options to read `columns` as text (`coded` ones as dictionaries), blank as null."""
    return pacsv.ConvertOptions(
        include_columns=columns,
        column_types={h: pa.dictionary(pa.int32(), pa.string()) if h in coded else pa.string() for h in columns},
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
        null_values=[""],
    )


# An export larger than PARTS_ABOVE (256 MB, about a million leads) is read in parts of about
# PART_BYTES (16 MB): its text is never in memory whole. A smaller one is read whole, which is a
# little faster (one pass of pyarrow's reader, typing a column at a time).
def _bytes_setting(name: str, default: int) -> int:
    """Return the environment's byte count `name` (a whole number of at least 1), else `default`."""
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        value = 0
    if value < 1:
        raise InputError(f"${name} is {text!r}: give a number of bytes, a whole number of at least 1 (default {default}), "
                         "or unset it")
    return value


PARTS_ABOVE = _bytes_setting("FUNNELCLI_PARTS_ABOVE", 1 << 28)
PART_BYTES = _bytes_setting("FUNNELCLI_PART_BYTES", 1 << 24)
# Codecs in which a 0x0A byte is always a line break: a file in them can be cut at any one.
_CUTTABLE = ("utf-8-sig", "ascii", "latin-1", "iso8859-1", "iso8859-15", "cp1252", "cp1250", "cp1251", "mac-roman")


def _arrow_source(path: str):
    """Return the file for pyarrow to read: its path, or, when the name is not UTF-8 (a POSIX name
    is bytes; Python keeps the odd ones as surrogates, which pyarrow can't encode), the file
    opened by Python."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return pa.PythonFile(open(path, "rb"), mode="r")
    return path


def _mapped(path: str):
    """Return the file mapped in memory (or, with a name that is not UTF-8, opened by Python)."""
    source = _arrow_source(path)
    return pa.memory_map(source) if isinstance(source, str) else source


class NotInParts(Exception):
    """The export can't be read in parts (a ragged record, a quoted line break, an encoding error):
    read it whole, which handles (or names) these."""


def in_parts(path: str, content: bytes | None, encoding: str | None) -> bool:
    """Return whether the export is worth reading in parts and can be: a regular file larger than
    PARTS_ABOVE, in an encoding where every 0x0A byte ends a line."""
    return (content is None and path != "-" and python_codec(encoding) in _CUTTABLE and os.path.isfile(path)
            and os.path.getsize(path) > PARTS_ABOVE)  # a byte-order mark naming another encoding: read_parts says NotInParts


def read_parts(path: str, needed: list, encoding: str | None = None, delimiter: str | None = None,
               what: str = "the definitions") -> Iterator[RawTable]:
    """Yield the columns `needed` of the CSV file at `path` as consecutive RawTables of about
    PART_BYTES of the file each, with the row numbers, NUL rows and report footer `read_csv` gives.

    Each part is a run of whole records, read with pyarrow's fast reader (in threads); the first
    also carries an estimate of the records in the file (to size the arrays they go into). Raises
    NotInParts where the file needs the whole-file reader (a ragged record, a part that ends inside
    a quoted value, an encoding error), before or after yielding parts: start again with read_csv.
    """
    data, name = open_export(path)
    if data is not None:
        raise NotInParts(name)
    export = _open(None, path, name, needed, encoding, delimiter, what)
    header, delimiter, footer_lines, encoding = export.header, export.delimiter, export.footer_lines, export.encoding
    if python_codec(encoding) not in _CUTTABLE:  # a byte-order mark names an encoding that can't be cut at any 0x0A
        raise NotInParts(name)
    end = export.cut if export.cut is not None else os.path.getsize(path)
    parse = pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=False, ignore_empty_lines=False)
    convert = _convert_options(export.columns)
    codec = python_codec(encoding)
    arrow_codec = "utf8" if codec == "utf-8-sig" else codec
    # A line break may sit inside a quoted value, and a part read alone takes its end as the end of
    # the value (pyarrow reads an open quote at the end of a file as closed). A line of markers after
    # each part tells: it is read as a record of its own only where the part ends outside quotes.
    sentinel = (delimiter.join([SENTINEL] * len(header)) + "\n").encode("ascii")
    first, records, kept, nul_rows, estimated = True, 0, 0, 0, False
    for block in _line_blocks(path, end, sentinel):
        options = (pacsv.ReadOptions(encoding=arrow_codec, block_size=BLOCK_SIZE) if first else
                   pacsv.ReadOptions(encoding=arrow_codec, block_size=BLOCK_SIZE, column_names=header))
        try:
            table = _read_part(block, options, parse, convert)
        except (pa.ArrowInvalid, UnicodeError):
            raise NotInParts(name) from None
        if table.num_rows == 0 or table.column(0)[-1].as_py() != SENTINEL:
            raise NotInParts(name)  # the part ended inside a quoted value
        has_header, first = first, False
        table = table.slice(0, table.num_rows - 1).rename_columns([c.strip() for c in table.column_names])
        rows = row_numbers(name, records + 2, table.num_rows)
        ragged = {}
        if any(_quote_check(memoryview(block)[:len(block) - len(sentinel)], table, table.num_rows, has_header, needed, export)):
            raise NotInParts(name)  # the whole-file reader says where, with every id of the export known
        records += table.num_rows
        nul = _nul_rows(table) if block.find(b"\x00") >= 0 else None  # the part is in memory: no pass over the file
        if nul is not None:
            ragged[NUL_REASON] = [int(r) for r in rows[nul]]
            nul_rows += int(nul.sum())
            table, rows = table.filter(pa.array(~nul)), rows[~nul]
        kept += table.num_rows
        if table.num_rows or ragged:
            expected = 0 if estimated else int(records * end / max(len(block) - len(sentinel), 1) * 1.02) + 1
            estimated = True
            yield RawTable(name, table, rows, [], ragged, expected)
    if records == 0:
        raise InputError(f"{name}: the export has a header but no data rows")
    if kept == 0 and nul_rows:
        raise InputError(f"{name}: every row holds a NUL byte: this looks like a binary file, not a CSV export")
    if footer_lines:
        yield RawTable(name, pa.table({}), row_numbers(name, 2, 0), list(range(records + 2, records + 2 + footer_lines)))


def read_ahead(parts: Iterator[RawTable]) -> Iterator[RawTable]:
    """Return the parts as an iterator that reads the next in a thread while the caller types this
    one (pyarrow's reader and kernels release the GIL): two parts' text in memory at most. The
    first part is being read from the moment this returns (say, while pandas is imported)."""
    pool = ThreadPoolExecutor(max_workers=1)
    coming = pool.submit(next, parts, None)

    def ahead() -> Iterator[RawTable]:
        nonlocal coming
        try:
            while (part := coming.result()) is not None:
                coming = pool.submit(next, parts, None)
                yield part
        finally:
            pool.shutdown(wait=True)

    return ahead()


def _read_part(block: bytearray, options, parse, convert) -> pa.Table:
    """Read a part with pyarrow's fast reader; where a quoted line break straddles one of its
    blocks, with the reader that allows line breaks in values."""
    try:
        return pacsv.read_csv(pa.py_buffer(block), options, parse, convert)
    except pa.ArrowInvalid as exc:
        if "out of sync" not in str(exc):
            raise
    parse = pacsv.ParseOptions(delimiter=parse.delimiter, newlines_in_values=True, ignore_empty_lines=False)
    return pacsv.read_csv(pa.py_buffer(block), options, parse, convert)


def _record_end(block: bytearray) -> int:
    """Return the offset just after the block's last line break outside a quoted value (the block
    starts a record, so an even number of quotes comes before such a break), else after its last
    line break (a stray quote in an unquoted value, which the sentinel line then checks); 0 for none."""
    total, tail, end = block.count(b'"'), 0, len(block)
    while (at := block.rfind(b"\n", 0, end)) >= 0:
        tail += block.count(b'"', at, end)
        if (total - tail) % 2 == 0:
            return at + 1
        end = at
    return block.rfind(b"\n") + 1


SENTINEL = "\x02"  # an ASCII control character no CRM writes


def _line_blocks(path: str, end: int, sentinel: bytes) -> Iterator[bytearray]:
    """Yield the first `end` bytes of the file in blocks of about PART_BYTES that end at a line
    break (a line longer than that makes its block longer), each followed by the sentinel line.
    No byte of the file is copied twice."""
    rest = b""
    with open(path, "rb") as handle:
        left = end
        while left > 0:
            block = bytearray(len(rest) + min(PART_BYTES, left))
            block[:len(rest)] = rest
            got = handle.readinto(memoryview(block)[len(rest):])
            del block[len(rest) + got:]  # a short read (a file cut while read) leaves no zeros behind
            left -= got
            if left <= 0 or got == 0:
                block += sentinel if block.endswith((b"\n", b"\r")) else b"\n" + sentinel
                yield block
                return
            cut = _record_end(block)
            if cut == 0:  # no line break yet: read on
                rest = block
                continue
            rest = bytes(memoryview(block)[cut:])
            del block[cut:]  # in place: the sentinel takes the room the rest of the block had
            block += sentinel
            yield block


def _as_utf8(data: bytes | None, path: str, codec: str) -> bytearray | None:
    """Return the file (`data`, else read from `path` a block at a time) in UTF-8, or None when a
    byte doesn't decode (the reader then names its line). A bytearray, as it was built: a copy to
    bytes would hold a large export twice."""
    decoder = codecs.getincrementaldecoder(codec)()
    out = bytearray()
    handle = io.BytesIO(data) if data is not None else open(path, "rb")
    try:
        with handle:
            while block := handle.read(NUL_BLOCK):
                out += decoder.decode(block).encode("utf-8")
            out += decoder.decode(b"", final=True).encode("utf-8")
    except UnicodeError:
        return None
    return out


def _has_nul(data: bytes | None, path: str) -> bool:
    """Return whether the file holds a NUL byte anywhere: one memchr over the file mapped in memory
    (a quarter of the time of reading it into a buffer; the mapping is let go at once, before the
    reader's tables exist, so its pages don't add to the run's peak memory)."""
    if data is not None:
        return data.find(b"\x00") >= 0
    with open(path, "rb") as handle:
        try:
            with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
                return mapped.find(b"\x00") >= 0
        except (ValueError, OSError):  # an empty file, or one that can't be mapped: read a block at a time
            block = bytearray(NUL_BLOCK)
            while got := handle.readinto(block):
                if block.find(b"\x00", 0, got) >= 0:
                    return True
    return False


NUL_BLOCK = 1 << 24


def _nul_rows(table: pa.Table) -> np.ndarray | None:
    """Return which rows hold a NUL byte in a column read, or None when none does."""
    found = np.zeros(table.num_rows, dtype=bool)
    for column in table.columns:
        if pa.types.is_dictionary(column.type):  # test each distinct value once
            hits = [pc.take(pc.match_substring(c.dictionary, "\x00"), c.indices) for c in column.chunks]
            hits = pa.chunked_array(hits, pa.bool_())
        else:
            hits = pc.match_substring(column, "\x00")
        found |= hits.fill_null(False).to_numpy(zero_copy_only=False)
    return found if found.any() else None


FOOTER_BYTES = 1 << 16  # a report footer is a few short lines: look at the file's last 64 KiB


def _report_footer(data, path: str, codec: str, delimiter: str, width: int) -> tuple[int | None, int]:
    """Return (the byte offset where a report footer starts, its number of lines), or (None, 0).

    A report footer is a trailing block of one-field lines after the data, after a blank line or
    not: Salesforce's "Generated By:", copyright and "Confidential" lines, "Grand Totals". Blank
    lines inside and before the block are part of it. Saved again by Excel, each line is padded
    to the header's width ("Generated By: ...,,,,") and the totals line may carry totals in other
    columns: such lines are footer too when the block holds one of Salesforce's footer lines (a
    lead row with only its id filled looks the same otherwise).
    """
    if width < 2 or codec.startswith(("utf-16", "utf-32")):  # a one-field line is a row of a one-column file
        return None, 0
    size = len(data) if data is not None else os.path.getsize(path)
    start = max(0, size - FOOTER_BYTES)
    if data is not None:
        tail = bytes(data[start:])
    else:
        with open(path, "rb") as handle:
            handle.seek(start)
            tail = handle.read()
    text = tail.decode(codec if codec != "utf-8-sig" else "utf-8", errors="replace")
    lines = text.splitlines(keepends=True)
    if start and lines:
        lines = lines[1:]  # the first may be cut in the middle
    footer, words, marked = 0, 0, False
    strict = None  # the footer by one-field lines alone, where a padded line ends it
    for line in reversed(lines):
        stripped = line.strip()
        if stripped.count('"') % 2:  # the end of a quoted value that spans lines: data, not a footer
            break
        if stripped:
            fields = next(csv.reader([stripped], delimiter=delimiter), [])
            filled = [f for f in fields if f.strip()]
            if len(fields) > 1 and filled:  # padded by Excel, or a row of data
                if len(filled) > 1 and not footer_mark(filled):
                    break
                if strict is None:
                    strict = (footer, words)
            if filled:
                words += 1
                marked |= footer_mark(filled)
        footer += 1
    if strict is not None and not marked:
        footer, words = strict
    if words == 0 or footer >= len(lines):
        return None, 0
    footer_text = "".join(lines[len(lines) - footer:])
    cut = size - len(footer_text.encode(codec if codec != "utf-8-sig" else "utf-8", errors="replace"))
    return cut, footer


def _check_columns(needed: list, header: list[str], name: str, what: str) -> None:
    """Raise naming every missing column (with the roles that use it) and the columns that exist.

    `needed` holds headers, or (header, roles) pairs to say what uses each.
    """
    needed = [(n, ()) if isinstance(n, str) else n for n in needed]
    missing = [(h, roles) for h, roles in needed if h not in header]
    if missing and not any(h.strip() for h in header):  # a blank first line (or blank names) as the header
        raise InputError(f"{name}: line 1 holds no column names: the header must be the file's first line; "
                         "remove any blank lines above it")
    if missing and len(header) == 1:  # the whole line read as one column: another delimiter splits it
        other = next((d for d in (",", ";", "\t", "|") if d in header[0] and any(h in header[0].split(d) for h, _ in missing)), None)
        if other is not None:
            shown = "tab" if other == "\t" else repr(other)  # as --delimiter takes it
            raise InputError(f"{name}: the header reads as one column ({header[0][:80]!r}{'...' if len(header[0]) > 80 else ''}), "
                             f"and the columns the definitions use are in it split at {shown}: the delimiter is likely "
                             f"{shown}: give --delimiter {shown}")
    if missing:
        lines = []
        for h, roles in missing:
            used = f" (used by {', '.join(roles)})" if roles else ""
            lines.append(f"  {h!r}{used}{nearest_header(h, header)}")
        shown = ", ".join(repr(h) for h in header[:40]) + (", ..." if len(header) > 40 else "")
        main = what == "the definitions"  # else a joined file, read for one join
        raise InputError(
            f"{name}: {len(missing)} column{'s' if len(missing) != 1 else ''} {what} {'use' if main else 'uses'} "
            f"{'are' if len(missing) != 1 else 'is'} not in {'the export' if main else 'the file'}'s header:\n" + "\n".join(lines)
            + f"\n{'The export' if main else 'The file'}'s columns are: {shown}\nFix the names under {_sections(missing)} in the definitions."
        )
    duplicated = sorted({h for h, _ in needed if header.count(h) > 1})
    if duplicated:
        raise InputError(f"{name}: the header has column {duplicated[0]!r} more than once; rename one in the export")


_SECTIONS = {"columns.": "columns:", "stage_column": "stage_column:", "stage ": "stages:", "exit ": "exits:",
             "market ": "markets:", "history": "history:", "join ": "joins:"}


def _sections(missing: list) -> str:
    """Return where in the definitions the missing columns are named: 'columns:', 'history:'..."""
    found = []
    for _, roles in missing:
        for role in roles:
            section = next((s for prefix, s in _SECTIONS.items() if role.startswith(prefix)), None)
            if section and section not in found:
                found.append(section)
    found = found or ["columns:"]
    head = ", ".join(repr(s) for s in found[:-1])
    return f"{head} and {found[-1]!r}" if head else repr(found[-1])


def _refuse_mostly_ragged(ragged: list, kept: int, data, path: str, name: str, codec: str, delimiter: str, width: int) -> None:
    """Raise when most records have another field count than the header: then the delimiter (or
    a quote) is wrong, not a few rows."""
    if len(ragged) * 2 <= len(ragged) + kept:
        return
    data = data.to_pybytes() if isinstance(data, pa.Buffer) else data
    where = _locate_ragged(data, path, codec, delimiter, width)
    shown = {",": "comma", ";": "semicolon", "\t": "tab"}.get(delimiter, repr(delimiter))
    raise InputError(
        f"{name}: {len(ragged):,} of {len(ragged) + kept:,} rows have another number of fields than the header"
        f"{' (' + where + ')' if where else ''}; the delimiter ({shown}) is likely wrong: try {option('delimiter')} "
        "(or is a quote left open?)"
    )


def _locate_ragged(data: bytes | None, path: str, codec: str, delimiter: str, width: int) -> str:
    """Return 'line N: ...' for the first row whose field count differs from the header's."""
    raw = data if data is not None else open(path, "rb").read()
    text = io.StringIO(raw.decode(codec, errors="replace"), newline="")
    reader = csv.reader(text, delimiter=delimiter)
    for record in reader:
        if record and len(record) != width:  # an empty line is a row of blanks, not ragged
            return f"line {reader.line_num}: {len(record)} fields where the header has {width}"
    return ""


BLOCK_SIZE = 1 << 22  # the reader's block: a record longer than a block is read again with larger ones


def _read_table(data: bytes | None, path: str, name: str, needed: list[str], header: list[str],
                delimiter: str, encoding: str | None, coded: set[str]) -> tuple[pa.Table, list]:
    codec = python_codec(encoding)
    size = len(data) if data is not None else os.path.getsize(path)
    block = BLOCK_SIZE
    while True:
        try:
            return _parse(data, path, name, needed, header, delimiter, codec, coded, block)
        except pa.ArrowInvalid as exc:
            # A record (a 10 MB note, say) longer than a block "straddles" it: read with blocks
            # large enough for it (at most the whole file, which nothing can straddle).
            if "straddl" in str(exc) and block <= size:
                block = min(block * 8, size + 1)
                continue
            message = str(exc)
            data = data.to_pybytes() if isinstance(data, pa.Buffer) else data
            if "UTF8" in message or "UTF-8" in message or "decode" in message.lower():
                line = decode_error_line(data, path, codec)
                raise encoding_hint(name, encoding, f" (line {line} has bytes it cannot decode)" if line else "") from None
            raise InputError(f"{name}: cannot read the CSV: {message}") from None
        except UnicodeError as exc:  # from the codec pyarrow calls to transcode the file
            data = data.to_pybytes() if isinstance(data, pa.Buffer) else data
            line = decode_error_line(data, path, codec) if isinstance(exc, UnicodeDecodeError) else None
            raise encoding_hint(name, encoding, f" (line {line} has bytes it cannot decode)" if line else f" ({exc})") from None


def _parse(data, path: str, name: str, needed: list[str], header: list[str], delimiter: str, codec: str,
           coded: set[str], block: int) -> tuple[pa.Table, list]:
    """Return the table and its ragged records (row number, field count), read with `block`-byte blocks."""
    read_options = pacsv.ReadOptions(encoding="utf8" if codec == "utf-8-sig" else codec, block_size=block)
    convert_options = _convert_options(needed, coded)

    def read(newlines_in_values: bool, careful: bool = False) -> tuple[pa.Table, list]:
        source = _arrow_source(path) if data is None else pa.BufferReader(data) if isinstance(data, pa.Buffer) else io.BytesIO(data)
        ragged: list[tuple[int | None, int, int]] = []

        def skip(row) -> str:  # a record with more or fewer fields than the header: left out, counted
            # and the lines it spans: a quote left open joins the lines up to the next quote into it
            ragged.append((row.number, row.actual_columns, (row.text or "").rstrip("\r\n").count("\n") + 1))
            return "skip"

        # Empty lines are rows too: a spreadsheet numbers them, so skipping them would shift
        # every row number after them.
        parse_options = pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=newlines_in_values,
                                           ignore_empty_lines=False, invalid_row_handler=skip if newlines_in_values else None)
        # Only a single-threaded reader knows each record's number: it reads again when rows are ragged.
        options = pacsv.ReadOptions(encoding=read_options.encoding, block_size=read_options.block_size, use_threads=False) if careful else read_options
        return pacsv.read_csv(source, options, parse_options, convert_options), ragged

    try:
        # Fast: blocks are cut at newlines, and a ragged row or a quoted value with a newline
        # at a block's edge makes the parser fail (never misread). The slower reader that
        # allows newlines in values is tried next, leaving ragged rows out.
        return read(False)
    except pa.ArrowInvalid as exc:
        if "straddl" in str(exc):
            raise
        table, ragged = read(True)
        if ragged:
            table, ragged = read(True, careful=True)
            _refuse_mostly_ragged(ragged, table.num_rows, data, path, name, codec, delimiter, len(header))
        return table, ragged
