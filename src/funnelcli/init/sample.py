"""The head of an export for init: its header and the first rows, read with the csv module.

The encoding and delimiter are sniffed as the run sniffs them (`sources.sniff`). Only a sample is
read (SAMPLE_ROWS rows): init guesses, the user checks, and `validate --data` reads the rest.
"""

from __future__ import annotations

import csv
import io
import sys
from dataclasses import dataclass

from funnelcli.errors import InputError, option
from funnelcli.sources.sniff import (
    VALUE_LIKE,
    encoding_hint,
    footer_mark,
    open_export,
    python_codec,
    read_head,
    read_header,
)

SAMPLE_ROWS = 2000


@dataclass
class Sample:
    """The header (trimmed names) and the first rows of an export, each row as long as the header."""

    name: str  # the export's name as given
    header: list[str]
    delimiter: str
    rows: list[list[str]]
    other_rows: int  # rows of another length (a report footer, a ragged line), left out of the sample
    truncated: bool  # the export has more rows than the sample

    def column(self, i: int) -> list[str]:
        """Return the trimmed cells of column `i`, row by row."""
        return [row[i].strip() for row in self.rows]


def read_sample(path: str, encoding: str | None = None, delimiter: str | None = None,
                limit: int = SAMPLE_ROWS) -> Sample:
    """Return the header and up to `limit` rows of the export at `path` ('-' for stdin).

    Raises InputError, naming the file and what to do, for an export init cannot make sense of:
    empty, binary or a workbook, undecodable, one column, no header, no data rows.
    """
    data, name = open_export(path)
    header, delimiter, encoding = read_header(read_head(data, path), name, encoding, delimiter)  # a byte-order mark names the file's own
    codec = python_codec(encoding)
    records, other, footer, truncated = _records(data, path, name, codec, encoding, delimiter, len(header), limit)
    header = [h.strip() for h in header]
    _check_shape(name, header, records, other, delimiter)
    return Sample(name, header, delimiter, records, other + footer, truncated)


def _records(data: bytes | None, path: str, name: str, codec: str, encoding: str | None, delimiter: str,
             width: int, limit: int) -> tuple[list[list[str]], int, int, bool]:
    """Return (the first `limit` rows as long as the header, the other rows of another length, the
    lines of a report footer, more rows follow)."""
    handle = io.TextIOWrapper(io.BytesIO(data), codec, newline="") if data is not None \
        else open(path, encoding=codec, newline="")
    rows: list[list[str]] = []
    other, footer, blanks, lines = 0, False, 0, 0  # blank lines before a report footer, and in it, are the footer's (as the run counts them)
    old_limit = csv.field_size_limit()
    csv.field_size_limit(min(sys.maxsize, 1 << 30))
    try:
        with handle:
            reader = csv.reader(handle, delimiter=delimiter)
            next(reader, None)  # the header, read already
            for record in reader:
                if len(rows) >= limit:
                    return rows, other, lines, True
                filled = next((cell for cell in record if cell.strip()), None)
                if filled is None:  # a blank line, or one of delimiters only (Excel pads blank lines)
                    lines, blanks = (lines + 1, 0) if footer else (lines, blanks + 1)
                    continue
                footer = footer or footer_mark([c for c in record if c.strip()])  # a report footer, padded or not: the end
                if footer:
                    lines += 1 + blanks
                elif len(record) == width:
                    rows.append(record)
                else:
                    other += 1
                blanks = 0
    except UnicodeDecodeError:
        raise encoding_hint(name, encoding, " (within the first rows)") from None
    except csv.Error as exc:
        raise InputError(f"{name}: cannot read the rows: {exc}") from None
    finally:
        csv.field_size_limit(old_limit)
    return rows, other, lines, False


def _check_shape(name: str, header: list[str], rows: list[list[str]], other: int, delimiter: str) -> None:
    shown = {",": "a comma", ";": "a semicolon", "\t": "a tab"}.get(delimiter, repr(delimiter))
    if len(header) < 2:
        raise InputError(
            f"{name}: the header has one column ({header[0][:60]!r}) when read with {shown} as the delimiter; "
            f"init needs an id column and at least one more. If the export uses another delimiter, pass it "
            f"with {option('delimiter')}CHAR")
    named = [h for h in header if h]
    if len(named) < 2 or sum(bool(VALUE_LIKE.match(h)) for h in named) * 2 >= len(named):
        raise InputError(
            f"{name}: the first line looks like data, not a header ({', '.join(repr(h[:30]) for h in header[:4])}...); "
            "init reads column names from the first line: export the file with its header row")
    if not rows and other:
        raise InputError(
            f"{name}: no row has as many fields as the header ({len(header)}); is the delimiter right? "
            f"Try {option('delimiter')}CHAR")
    if not rows:
        raise InputError(f"{name}: the export has a header but no data rows; init guesses from the values, "
                         "so export some rows too")
    if other > len(rows):
        raise InputError(
            f"{name}: most rows have another number of fields than the header's {len(header)}; is the delimiter "
            f"right (read with {shown})? Try {option('delimiter')}CHAR")
