"""Quotes left open: a record whose quoted value runs over lines that are rows of the export.

A value that opens a quote and never closes it runs on to the next quote, lines later, and every
line between is read into it: the leads on those lines vanish and the record takes values from
the last of them. When the record then has another field count than the header, the reader
leaves it out as ragged (csvfile says how many lines it joined). When the count comes out right
(the quote closes in the same column of a later row), nothing else shows it: this finds it.

A line break inside quotes has an odd number of quotes before it (a quote in a value is written
twice). The lines after such breaks are the continuation lines of quoted values; one that splits
into the header's number of fields with an id the export has no record of is a row of the export
swallowed by an open quote. Notes with line breaks, which real exports hold, are never such lines.
Numpy finds the line breaks and quotes (a pass over the bytes, about 0.3 s for 240 MB, only when
some line break is inside quotes); Python looks only at the continuation lines.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_STEP = 1 << 22  # bytes compared at a time: the temporaries stay small


@dataclass
class Swallowed:
    """A record whose quoted value holds rows of the export."""

    row: int  # its row number (the header is row 1)
    lines: int  # the lines of the file it takes
    ids: list[str]  # the ids of the rows read into it


def _positions(data: np.ndarray, byte: int) -> np.ndarray:
    return np.concatenate([np.flatnonzero(data[i:i + _STEP] == byte) + i for i in range(0, len(data), _STEP)] or
                          [np.zeros(0, dtype=np.int64)])


def _pairs_as_read(data: np.ndarray, breaks: np.ndarray, inside: np.ndarray, has_header: bool, records: int) -> bool:
    """Return whether the breaks outside quotes end as many records as the reader read."""
    if has_header and inside[0]:
        return False
    last_open = bool(len(data)) and data[-1] != 0x0A and not inside[-1]  # a last record with no line break after it
    return int(np.count_nonzero(~inside)) - int(has_header) + int(last_open) == records


def _inside_as_the_reader(data: np.ndarray, breaks: np.ndarray, quotes: np.ndarray, delimiter: int) -> np.ndarray:
    """Return which line breaks are inside quotes as the reader pairs quotes: a quote opens a value
    only at the start of a field (a quote within an unquoted value is a character of it), and
    inside a value closes it unless doubled. Used when counting quotes can't pair them (a quote
    left open closes at a later field's opening quote, whose own closing quote is then a character)."""
    before = np.where(quotes > 0, data[np.maximum(quotes - 1, 0)], 0x0A)  # the byte before each quote (a break at the start)
    bom = len(data) >= 3 and bytes(data[:3]) == b"\xef\xbb\xbf"
    at_start = (before == delimiter) | (before == 0x0A) | (before == 0x0D) | ((quotes == 3) & bom)
    spans = []  # (opening quote, closing quote) of each quoted value
    opened, i, n = -1, 0, len(quotes)
    while i < n:
        if opened < 0:
            if at_start[i]:
                opened = int(quotes[i])
            i += 1
        elif i + 1 < n and quotes[i + 1] == quotes[i] + 1:  # a quote written twice: a quote in the value
            i += 2
        else:
            spans.append((opened, int(quotes[i])))
            opened, i = -1, i + 1
    if opened >= 0:
        spans.append((opened, len(data)))
    if not spans:
        return np.zeros(len(breaks), dtype=bool)
    starts, stops = np.array(spans, dtype=np.int64).T
    k = np.searchsorted(starts, breaks, side="right") - 1  # the last value opened before each break
    return (k >= 0) & (breaks < stops[np.maximum(k, 0)])


def _id_shape(ids: pa.Array):
    """Return a test of whether a text is shaped as the export's ids are (digits only, when they
    all are; no space, when none has one; a length among theirs): a note's line 'Thanks, John'
    in a two-column export splits into two fields, but is no row."""
    sample = [i for i in ids.slice(0, 10_000).to_pylist() if i]
    if not sample:
        return lambda text: False
    digits = all(i.isdigit() for i in sample)
    spaced = any(any(c.isspace() for c in i) for i in sample)
    shortest, longest = min(map(len, sample)), max(map(len, sample))
    return lambda text: ((not digits or text.isdigit()) and (spaced or not any(c.isspace() for c in text))
                         and shortest <= len(text) <= longest)


def swallowed(block, ids: pa.ChunkedArray, records: int, first_row: int, has_header: bool, id_index: int, width: int,
              delimiter: str) -> list[Swallowed]:
    """Return the records of `block` (the bytes of whole records of the file, in an encoding where
    a 0x0A byte is a line break and 0x22 a quote; the header's line first if `has_header`) whose
    quoted value runs over rows of the export. `ids` are the export's ids as read (every record
    of the file, so a row is known wherever it is), `records` the records the reader read from the
    block, `first_row` the row number of its first record. Nothing when the quotes can't be
    trusted to pair (a quote inside an unquoted value, '27" screen', shifts every pairing after it):
    then the count of records the pairing gives differs from the reader's."""
    data = np.frombuffer(block, dtype=np.uint8)
    breaks = _positions(data, 0x0A)
    if not len(breaks):
        return []
    if _pairs_as_read(data, breaks, np.zeros(len(breaks), dtype=bool), has_header, records):
        return []  # as many records as lines: no value holds a line break
    quotes = _positions(data, 0x22)
    inside = (np.searchsorted(quotes, breaks) & 1).astype(bool)  # an odd number of quotes before the break
    if not inside.any():
        return []
    if not _pairs_as_read(data, breaks, inside, has_header, records):
        inside = _inside_as_the_reader(data, breaks, quotes, ord(delimiter))
        if not _pairs_as_read(data, breaks, inside, has_header, records):
            return []
    ends = np.flatnonzero(~inside)  # the breaks that end a record
    found: dict[int, Swallowed] = {}
    header_lines = 1 if has_header else 0
    for k in np.flatnonzero(inside):
        start, stop = int(breaks[k]) + 1, int(breaks[k + 1]) if k + 1 < len(breaks) else len(data)
        line = bytes(data[start:stop]).decode("utf-8", errors="replace").rstrip("\r")
        fields = next(csv.reader([line], delimiter=delimiter), [])
        if len(fields) != width or not fields[id_index].strip().strip('"').strip():
            continue
        record = int(np.searchsorted(ends, k)) - header_lines  # the breaks that end records before this one
        item = found.setdefault(record, Swallowed(first_row + record, 0, []))
        item.ids.append(fields[id_index].strip().strip('"').strip())
    if not found:
        return []
    known = pc.utf8_trim_whitespace(ids.combine_chunks() if isinstance(ids, pa.ChunkedArray) else ids)
    looks_like = _id_shape(known)
    for record, item in list(found.items()):
        there = pc.is_in(pa.array(item.ids, pa.string()), value_set=known).to_numpy(zero_copy_only=False)
        item.ids = [i for i, seen in zip(item.ids, there) if not seen and looks_like(i)]
        if not item.ids:  # rows the export has elsewhere: a note quoting one, not a row swallowed
            del found[record]
            continue
        # the record's lines: from the break after the record before it to its own last break
        before = int(ends[record + header_lines - 1]) if record + header_lines else -1
        own = int(ends[record + header_lines]) if record + header_lines < len(ends) else len(breaks)
        item.lines = own - before
    return sorted(found.values(), key=lambda s: s.row)
