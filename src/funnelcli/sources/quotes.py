"""Quotes that don't pair: a value whose quote is left open reads the lines after it into itself.

A value that opens a quote and never closes it runs on to the next quote, lines later, and every
line between is read into it: the leads on those lines vanish, and the record takes the values
that follow the closing quote. When the record then has another field count than the header, the
reader leaves it out as ragged (csvfile says how many lines it took). When the count comes out
right, or the quote is open to the end of the file, nothing else shows it: this does.

A CSV writer writes a quote in a value twice, so the line breaks inside quoted values are the
ones with an odd number of quotes before them, and every other line break ends a record. When
the records those breaks give are the records the reader read, the quotes pair as a writer
writes them (notes over several lines, which real exports hold, are such values) and nothing is
said. When they differ, or a quote is open at the end, a quote was left open (or a quote sits
inside an unquoted value, '27" screen'), and Python's strict CSV reader finds the first line
where the quoting breaks. Numpy counts the line breaks and quotes a block at a time (a pass over
the bytes; the quotes only where some line break is inside quotes); nothing is excluded here: a
notice says where to look.
"""

from __future__ import annotations

import codecs
import csv
import io

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_STEP = 1 << 22  # bytes compared at a time: the temporaries stay small


def check(block, records: int, has_header: bool, ids, id_index: int | None, width: int, delimiter: str) -> tuple[bool, list]:
    """Return whether the quotes of `block` (the bytes of whole records of the file, in an encoding
    where 0x0A is a line break and 0x22 a quote; the header's line first if `has_header`) don't
    pair as a CSV writer writes them, given the `records` the reader read; and, when they pair, the
    records whose quoted value holds lines shaped like rows of the export that it lacks (see
    rows_inside; none without `ids`)."""
    data = np.frombuffer(block, dtype=np.uint8)
    breaks, inside, open_at_end = _inside(data)
    tail = int(bool(len(data)) and data[-1] != 0x0A)  # a last line with no line break after it
    if not inside.any() and not open_at_end:
        return False, []  # no value holds a line break (a ragged record is the reader's to count)
    if open_at_end or int(np.count_nonzero(~inside)) + tail - int(has_header) != records:
        return True, []
    if ids is None or id_index is None:
        return False, []
    return False, rows_inside(data, breaks, inside, ids, has_header, id_index, width, delimiter)


def first_break(block, codec: str, delimiter: str) -> tuple[int, int] | None:
    """Return where the quoting of `block` (the file from its header) first breaks, as Python's
    strict CSV reader reads it (a quote closing a value followed by more of it, a quote open at the
    end): the line of the file, and the row (the header is row 1) that holds it; None when it
    reads the whole."""
    text = io.TextIOWrapper(io.BytesIO(block), encoding=codecs.lookup(codec).name, errors="replace", newline="")
    reader = csv.reader(text, delimiter=delimiter, strict=True)
    rows = 0
    try:
        for _ in reader:
            rows += 1
    except csv.Error:
        return reader.line_num, rows + 1
    return None


def _inside(data: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    """Return the positions of the line breaks, which have an odd number of quotes before them, and
    whether a quote is open at the end; a block at a time (the quotes' positions of one block only)."""
    positions, inside, quotes = [], [], 0
    for i in range(0, len(data), _STEP):
        chunk = data[i:i + _STEP]
        at, marks = np.flatnonzero(chunk == 0x0A), np.flatnonzero(chunk == 0x22)
        positions.append(at + i)
        inside.append(((np.searchsorted(marks, at) + quotes) & 1).astype(bool))
        quotes += len(marks)
    return (np.concatenate(positions or [np.zeros(0, np.int64)]), np.concatenate(inside or [np.zeros(0, bool)]),
            bool(quotes & 1))


def rows_inside(data: np.ndarray, breaks: np.ndarray, inside: np.ndarray, ids, has_header: bool, id_index: int, width: int,
                delimiter: str) -> list[tuple[int, int, list[str]]]:
    """Return the records whose quoted value holds lines shaped like rows of the export (the
    header's field count, an id shaped as its ids are) with ids it has no record of: (the record's
    row, counted from 1 at the block's first record, its lines, those ids). With quotes that pair,
    this is what a quote left open and closed at a later row looks like; a note that pastes a row
    of another system looks so too: a notice, never an exclusion."""
    candidates: dict[int, list[str]] = {}
    ends = np.flatnonzero(~inside)  # the breaks that end a record
    for k in np.flatnonzero(inside):
        start, stop = int(breaks[k]) + 1, int(breaks[k + 1]) if k + 1 < len(breaks) else len(data)
        fields = next(csv.reader([bytes(data[start:stop]).decode("utf-8", errors="replace").rstrip("\r")], delimiter=delimiter), [])
        candidate = fields[id_index].strip().strip('"').strip() if len(fields) == width else ""
        if candidate:
            candidates.setdefault(int(np.searchsorted(ends, k)) - int(has_header), []).append(candidate)
    if not candidates:
        return []
    looks_like, known = _id_shape(ids)
    texts = [t for found_ids in candidates.values() for t in found_ids if looks_like(t)]
    lacking = {t for t, there in zip(texts, known(texts)) if not there}  # one lookup of them all
    found = {record: kept for record, found_ids in candidates.items() if (kept := [t for t in found_ids if t in lacking])}
    out = []
    for record, found_ids in sorted(found.items()):
        before = int(ends[record + int(has_header) - 1]) if record + int(has_header) else -1
        own = int(ends[record + int(has_header)]) if record + int(has_header) < len(ends) else len(breaks)
        out.append((record + 1, own - before, found_ids))
    return out


def _id_shape(ids) -> tuple:
    """Return a test of whether a text is shaped as the export's ids (digits only, when they all
    are; no space, when none has one; a length among theirs), and one of which texts the export
    has: a note's line 'Thanks, John, bye' splits into fields as a row does, but holds no id."""
    known = pc.drop_null(pc.utf8_trim_whitespace(ids.combine_chunks() if isinstance(ids, pa.ChunkedArray) else ids))
    known = known.filter(pc.not_equal(known, ""))
    if not len(known):
        return (lambda text: False), (lambda texts: [False] * len(texts))
    digits = pc.all(pc.utf8_is_digit(known)).as_py()
    spaced = pc.any(pc.match_substring(known, " ")).as_py()
    lengths = pc.min_max(pc.utf8_length(known)).as_py()
    shortest, longest = lengths["min"], lengths["max"]

    def shaped(text: str) -> bool:
        return (not digits or text.isdigit()) and (spaced or " " not in text) and shortest <= len(text) <= longest

    return shaped, (lambda texts: pc.is_in(pa.array(texts, pa.string()), value_set=known).to_pylist())
