"""Reading a CSV export: only the columns the definitions use, as text, with row numbers.

pyarrow reads the file (fast, in blocks, in threads); nothing is typed here: `fields.py` turns
the text into ids, dates, numbers and categories. Errors become InputErrors that name the file,
the line and what to do.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from funnelcli.definitions import nearest_header
from funnelcli.errors import InputError, option
from funnelcli.sources.sniff import decode_error_line, encoding_hint, open_export, python_codec, read_head, read_header


@dataclass
class RawTable:
    """The columns of an export that a run uses, as text, by their (trimmed) header."""

    name: str  # the export's name as given ('<stdin>' for stdin)
    table: pa.Table
    rows: np.ndarray  # int64: the row number a spreadsheet shows for each record (the header is row 1)

    @property
    def num_rows(self) -> int:
        return self.table.num_rows

    def column(self, header: str) -> pa.ChunkedArray:
        return self.table.column(header)


def read_csv(path: str, needed: list, encoding: str | None = None, delimiter: str | None = None,
             content: bytes | None = None, what: str = "the definitions") -> RawTable:
    """Return the columns `needed` of the CSV at `path` ('-' for stdin) as text.

    `needed` holds headers, or (header, roles) pairs so that a missing column's error says what
    uses it. Raises InputError naming every missing column (and the nearest header), or the line
    that cannot be read. `content` is the file's bytes when the caller has read them already.
    """
    data, name = (content, "<stdin>" if path == "-" else path) if content is not None else open_export(path)
    header, delimiter = read_header(read_head(data, path), name, encoding, delimiter)
    _check_columns(needed, [h.strip() for h in header], name, what)
    raw = {h.strip(): h for h in header}  # the export's names, spaces and all, for the reader
    headers = [n if isinstance(n, str) else n[0] for n in needed]
    table = _read_table(data, path, name, [raw[h] for h in headers], header, delimiter, encoding)
    table = table.rename_columns([c.strip() for c in table.column_names])
    if table.num_rows == 0:
        raise InputError(f"{name}: the export has a header but no data rows")
    return RawTable(name, table, np.arange(2, table.num_rows + 2, dtype=np.int64))


def _check_columns(needed: list, header: list[str], name: str, what: str) -> None:
    """Raise naming every missing column (with the roles that use it) and the columns that exist.

    `needed` holds headers, or (header, roles) pairs to say what uses each.
    """
    needed = [(n, ()) if isinstance(n, str) else n for n in needed]
    missing = [(h, roles) for h, roles in needed if h not in header]
    if missing:
        lines = []
        for h, roles in missing:
            used = f" (used by {', '.join(roles)})" if roles else ""
            lines.append(f"  {h!r}{used}{nearest_header(h, header)}")
        shown = ", ".join(repr(h) for h in header[:40]) + (", ..." if len(header) > 40 else "")
        raise InputError(
            f"{name}: {len(missing)} column{'s' if len(missing) != 1 else ''} {what} use "
            f"{'are' if len(missing) != 1 else 'is'} not in the export's header:\n" + "\n".join(lines)
            + f"\nThe export's columns are: {shown}\nFix the names under 'columns:' (or the stage dates) in the definitions."
        )
    duplicated = sorted({h for h, _ in needed if header.count(h) > 1})
    if duplicated:
        raise InputError(f"{name}: the header has column {duplicated[0]!r} more than once; rename one in the export")


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
