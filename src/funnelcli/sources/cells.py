"""The cells of a column, read vectorised: dates, numbers, text and ids (pyarrow in, numpy out).

Each reader takes a column as pyarrow read it (strings, blanks already null) and returns numpy
arrays with a mask of the cells it could not read, so loading can account for every row.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from funnelcli.definitions.model import (
    AMBIGUOUS_PATTERN,
    CURRENCY_AND_SPACES,
    DECIMAL_COMMA_PATTERN,
    EPOCH_RANGE,
    EPOCH_UNITS,
    EXCEL,
    ISO_NAIVE,
    ISO_NORMALISE,
    ISO_ZONED,
    LARGEST_NUMBER,
    NUMBER_PATTERN,
    THOUSANDS_COMMA_PATTERN,
    THOUSANDS_DOT_PATTERN,
    ZONED,
)


def _trimmed(column: pa.ChunkedArray) -> pa.Array:
    """Return the column as one array with surrounding blanks removed and blank cells null."""
    arr = pc.utf8_trim_whitespace(column.combine_chunks())
    return pc.if_else(pc.equal(arr, ""), pa.scalar(None, pa.string()), arr)


_NULL_TEXT = pa.scalar(None, pa.string())
_NULL_TIME = pa.scalar(None, pa.timestamp("s"))
_FAILED_VALUE = re.compile(r"Failed to parse string: '(.*)' as a scalar")


def _strict(arr: pa.Array) -> pa.Array | None:
    """Return naive ISO values as timestamps in one strict pass, or None if any value fails."""
    try:
        return pc.cast(arr, pa.timestamp("s"))
    except pa.ArrowInvalid:
        return None


def _only(arr: pa.StringArray, keep: np.ndarray) -> pa.StringArray:
    """Return `arr` with the cells not in `keep` made null, sharing its text (no copy)."""
    if arr.offset:
        arr = pa.concat_arrays([arr])
    bits = pa.py_buffer(np.packbits(keep & arr.is_valid().to_numpy(zero_copy_only=False), bitorder="little"))
    _, offsets, data = arr.buffers()
    return pa.StringArray.from_buffers(len(arr), offsets, data, bits)


def _string_buffers(arr: pa.StringArray) -> tuple[np.ndarray, np.ndarray]:
    """Return a string array's value offsets (len + 1, int32) and its text bytes (uint8, possibly
    none), read without a copy: for checks on lengths and characters at fixed places."""
    if arr.offset:
        arr = pa.concat_arrays([arr])
    _, offsets, data = arr.buffers()
    ends = np.frombuffer(offsets, dtype=np.int32, count=len(arr) + 1) if len(arr) else np.zeros(1, dtype=np.int32)
    text = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, dtype=np.uint8)
    return ends, text


def _common_shape(arr: pa.StringArray) -> np.ndarray:
    """Return which cells are shaped like YYYY-MM-DD, or that with HH:MM or HH:MM:SS after it.

    Read straight from the string buffers: only the length and the two dashes are checked, a
    shape that is not a date after all fails the strict parse that follows.
    """
    ends, text = _string_buffers(arr)
    if len(text) < 8:
        return np.zeros(len(arr), dtype=bool)
    length = ends[1:] - ends[:-1]
    ok = (length == 10) | (length == 16) | (length == 19)
    start = np.where(ok, ends[:-1], 0)
    return ok & (text[start + 4] == 45) & (text[start + 7] == 45)


def _same_day(text: pa.Array, parsed: pa.Array) -> pa.Array:
    """Return which parsed values kept the day of month written (strptime rolls 02-30 into March)."""
    # Only parsed cells are looked at; their text matched a format, so these are digits.
    day_text = pc.if_else(parsed.is_valid(), pc.utf8_slice_codeunits(text, 8, 10), _NULL_TEXT)
    # a year of fewer than 4 digits ('4-01-02', which strptime reads as the year 4) leaves no two
    # digits there: no day written, so not the same day
    two_digits = pc.fill_null(pc.match_substring_regex(day_text, r"^[0-9]{2}$"), False)
    written = pc.cast(pc.if_else(two_digits, day_text, _NULL_TEXT), pa.int64())
    return pc.fill_null(pc.equal(written, pc.day(parsed)), False)


def _parse_common(arr: pa.StringArray, slow: bool = True) -> pa.Array | None:
    """Return values of the common naive shapes as timestamps; null for anything else. Without
    `slow`, None when more than a few well-shaped values are not dates (then strptime would
    read every value: the caller reads a part at a time instead)."""
    ok = _common_shape(arr)
    candidates = _only(arr, ok)
    # A well-shaped value that is not a date (2026-13-01) fails the strict pass, which names it:
    # drop that value and try again, a few times, before parsing the slow way.
    for _ in range(4):
        try:
            return pc.cast(candidates, pa.timestamp("s"))
        except pa.ArrowInvalid as exc:
            failed = _FAILED_VALUE.search(str(exc))
            if not failed:
                break
            ok &= ~pc.fill_null(pc.equal(candidates, failed.group(1)), False).to_numpy(zero_copy_only=False)
            candidates = _only(arr, ok)
    if not slow:
        return None
    normal = pc.replace_substring(candidates, "T", " ")
    length = pc.utf8_length(normal)
    parsed = pa.nulls(len(arr), pa.timestamp("s"))
    for size, fmt in ((19, "%Y-%m-%d %H:%M:%S"), (16, "%Y-%m-%d %H:%M"), (10, "%Y-%m-%d")):
        cells = pc.if_else(pc.equal(length, size), normal, _NULL_TEXT)
        parsed = pc.coalesce(parsed, pc.strptime(cells, format=fmt, unit="s", error_is_null=True))
    return pc.if_else(_same_day(normal, parsed), parsed, _NULL_TIME)


def _wall_time(instants: pa.Array, tz: str) -> pa.Array:
    """Return instants (UTC timestamps) as the wall time they are in `tz`, naive."""
    return pc.local_timestamp(instants.cast(pa.timestamp("s", tz)))


def _parse_unusual(arr: pa.Array, tz: str) -> pa.Array:
    """Return the rarer ISO forms (offsets, Z, fractions, blanks around) as naive times in `tz`."""
    norm = arr
    for pattern, replacement in ISO_NORMALISE:  # 2024-3-5 is read as 2024-03-05, and so on
        norm = pc.replace_substring_regex(norm, pattern, replacement)
    zoned = pc.fill_null(pc.match_substring_regex(norm, ZONED), False)
    naive_part = pc.if_else(zoned, _NULL_TEXT, norm)
    zoned_part = pc.if_else(zoned, norm, _NULL_TEXT)
    parsed = pa.nulls(len(arr), pa.timestamp("s"))
    for fmt in ISO_NAIVE:
        parsed = pc.coalesce(parsed, pc.strptime(naive_part, format=fmt, unit="s", error_is_null=True))
    parsed = pc.if_else(_same_day(norm, parsed), parsed, _NULL_TIME)
    if pc.any(zoned).as_py():
        instants = pa.nulls(len(arr), pa.timestamp("s", "UTC"))
        for fmt in ISO_ZONED:
            instants = pc.coalesce(instants, pc.strptime(zoned_part, format=fmt, unit="s", error_is_null=True))
        # The day written must exist; the instant then moves to the definitions' timezone.
        written = pc.strptime(pc.utf8_slice_codeunits(zoned_part, 0, 10), format="%Y-%m-%d", unit="s", error_is_null=True)
        instants = pc.if_else(_same_day(zoned_part, written), instants, pa.scalar(None, pa.timestamp("s", "UTC")))
        parsed = pc.coalesce(parsed, _wall_time(instants, tz))
    return parsed


def _parse_format(arr: pa.Array, fmt: str, tz: str) -> pa.Array:
    """Return values in a strptime format as timestamps (wall time in `tz`); null where the
    format doesn't fit."""
    arr = pc.utf8_trim_whitespace(arr)
    parsed = pc.strptime(arr, format=fmt, unit="s", error_is_null=True)
    if parsed.type.tz is not None:  # %z: an instant, moved to the definitions' timezone
        instants = parsed
        parsed = _wall_time(instants, tz)
        check = pc.strftime(instants, format=fmt)  # printed back in UTC, as strptime read it
    else:
        check = None
    # strptime rolls 02/30 over into March: keep a value only if it prints back the same
    # (compared without leading zeros and case, which formats like %m and %p don't fix).
    def canon(a):
        return pc.replace_substring_regex(pc.utf8_lower(a), r"(^|[^0-9])0+([0-9])", r"\1\2")

    if check is None:
        check = pc.strftime(parsed, format=fmt)
        same = pc.fill_null(pc.equal(canon(check), canon(arr)), False)
    else:  # an offset prints back as UTC: compare the day and month fields only through validity
        same = check.is_valid()
    if "%Y" in fmt:  # four digits (definitions.model, above EARLIEST_DAY): 3/1/25 is no year 25
        same = pc.and_(same, pa.array(_year_written(arr, parsed)))
    return pc.if_else(same, parsed, _NULL_TIME)


def _year_written(text: pa.Array, parsed: pa.Array) -> np.ndarray:
    """Return, per value, whether a year before 1000 that %Y read is written in four digits in it
    (0001 in 01/01/0001 or 00010101): a test per distinct early year, of the few values that have one."""
    years = pc.fill_null(pc.year(parsed), 9999).to_numpy(zero_copy_only=False)
    ok = np.ones(len(years), dtype=bool)
    early = np.flatnonzero(years < 1000)
    for year in np.unique(years[early]):
        at = early[years[early] == year]
        ok[at] = pc.fill_null(pc.match_substring(text.take(pa.array(at)), f"{int(year):04d}"), False).to_numpy(zero_copy_only=False)
    return ok


EXCEL_EPOCH = 25569  # Excel's serial day number of 1970-01-01 (serials count from 1899-12-30)
EXCEL_RANGE = (61, 2958466)  # 1900-03-01 (before it, Excel counts a 29 February 1900) to 9999-12-31


def _parse_excel(arr: pa.Array) -> pa.Array:
    """Return Excel serial day numbers (45292 is 2024-01-01, 45292.75 its 18:00) as wall-clock
    timestamps; null where a value is not one."""
    text = pc.utf8_trim_whitespace(arr)
    serial = pc.fill_null(pc.match_substring_regex(text, r"^[0-9]{1,7}([.][0-9]+)?$"), False)
    days = pc.cast(pc.if_else(serial, text, _NULL_TEXT), pa.float64())
    low, high = EXCEL_RANGE
    days = pc.if_else(pc.and_(pc.greater_equal(days, low), pc.less(days, high)), days, pa.scalar(None, pa.float64()))
    seconds = pc.round(pc.multiply(pc.subtract(days, EXCEL_EPOCH), 86400.0))
    return pc.cast(pc.cast(seconds, pa.int64()), pa.timestamp("s"))


def _parse_epoch(arr: pa.Array, per_second: int, tz: str) -> pa.Array:
    """Return Unix times (1709251200 seconds, or 1709251200000 milliseconds, since 1970-01-01 UTC)
    as wall-clock timestamps in `tz`; null where a value is not one (definitions.model.EPOCH_RANGE)."""
    text = pc.utf8_trim_whitespace(arr)
    number = pc.fill_null(pc.match_substring_regex(text, r"^[0-9]{1,16}([.][0-9]+)?$"), False)
    value = pc.cast(pc.if_else(number, text, _NULL_TEXT), pa.float64())
    # whole seconds, as an ISO time's fraction is dropped: 1709251200999 is 1709251200
    seconds = pc.floor(pc.divide(value, float(per_second)))
    low, high = EPOCH_RANGE
    plausible = pc.or_(pc.and_(pc.greater_equal(seconds, low), pc.less(seconds, high)), pc.equal(value, 0.0))
    seconds = pc.if_else(plausible, seconds, pa.scalar(None, pa.float64()))
    instants = pc.cast(pc.cast(seconds, pa.int64()), pa.timestamp("s", "UTC"))
    return _wall_time(instants, tz)  # an instant, moved to the definitions' timezone


def _parse_with(arr: pa.Array, fmt: str, tz: str) -> pa.Array:
    """Return the values one date format reads as timestamps (wall time in `tz`), null elsewhere."""
    name = fmt.strip().casefold()
    if name == EXCEL:
        return _parse_excel(arr)
    if name in EPOCH_UNITS:
        return _parse_epoch(arr, EPOCH_UNITS[name], tz)
    return _parse_format(arr, fmt, tz)


def _seconds(arr: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Return timestamps as datetime64[s] (NaT for nulls), writable."""
    out = arr.to_numpy() if isinstance(arr, pa.ChunkedArray) else arr.to_numpy(zero_copy_only=False)
    return np.array(out, dtype="datetime64[s]")


def parse_dates(column: pa.ChunkedArray, date_format: str | tuple[str, ...] | None, tz: str) -> tuple[np.ndarray, np.ndarray, pa.ChunkedArray]:
    """Return (the day of each cell as datetime64[D] in `tz`, which cells failed to parse, the text).

    See parse_times, which keeps the time of day.
    """
    times, bad, text = parse_times(column, date_format, tz)
    return times.astype("datetime64[D]"), bad, text


def _parse_iso(column: pa.ChunkedArray) -> list[pa.Array]:
    """Return the naive ISO values of a column as timestamps (null for any other value), in one
    pass over the whole column; a part at a time, where values of a common shape are not dates
    in more than a few places (a whole column's text over 2 GB too)."""
    try:
        whole = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    except (pa.ArrowInvalid, pa.ArrowCapacityError):
        whole = None
    if whole is not None:
        parsed = _strict(whole)
        if parsed is None:
            parsed = _parse_common(whole, slow=False)
        if parsed is not None:
            return [parsed]
    return [_strict(chunk) or _parse_common(chunk) for chunk in column.chunks]


def parse_times(column: pa.ChunkedArray, date_format: str | tuple[str, ...] | None, tz: str) -> tuple[np.ndarray, np.ndarray, pa.ChunkedArray]:
    """Return (each cell as datetime64[s], wall time in `tz`; which cells failed to parse; the text).

    ISO dates and datetimes always parse; naive ones are wall-clock times in `tz`, ones with an
    offset or Z are moved to `tz`. The `date_format` formats (strptime, excel, epoch, epoch_ms)
    are tried first, in order, per value. Each pass handles only what the previous one left, so a few odd cells
    don't slow a whole column.
    """
    formats = (date_format,) if isinstance(date_format, str) else tuple(date_format or ())
    known, left = [], []
    for chunk in column.chunks:
        found = None
        for fmt in formats:
            got = _parse_with(chunk, fmt, tz)
            found = got if found is None else pc.coalesce(found, got)
            chunk = _only(chunk, got.is_null().to_numpy(zero_copy_only=False))
        known.append(found)
        left.append(chunk)
    times = _seconds(pa.chunked_array(_parse_iso(pa.chunked_array(left, type=column.type)), type=pa.timestamp("s")))
    if formats:  # a value a format read keeps that reading
        by_format = _seconds(pa.chunked_array(known, type=pa.timestamp("s")))
        times = np.where(np.isnat(by_format), times, by_format)
    valid = column.is_valid().to_numpy()
    rest = np.flatnonzero(valid & np.isnat(times))
    if len(rest):  # the few cells no fast pass could read
        odd = pc.utf8_trim_whitespace(column.take(pa.array(rest)).combine_chunks())
        times[rest] = _seconds(_parse_unusual(odd, tz))
        valid[rest[pc.equal(odd, "").to_numpy(zero_copy_only=False)]] = False  # blank after all
    return times, valid & np.isnat(times), column


def numbers(column: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """Return (floats, which non-blank cells are not numbers): '1,200', '$ 35', '1.200,50' are
    numbers; 'nan', 'inf', words, '1,2,3', the ambiguous '1.200' and numbers of 10^15 or more
    are not (they read as blank). See definitions.model.read_number."""
    values, filled, ambiguous = _read_numbers(column)
    usable = np.isfinite(values) & ~ambiguous & (np.abs(values) < LARGEST_NUMBER)
    return np.where(usable, values, np.nan), filled & ~usable


def quantities(column: pa.ChunkedArray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Return a count or an amount column (touches, amount) as floats, and the non-blank cells
    that are not read, by reason: not a number, ambiguous, too large, negative."""
    values, filled, ambiguous = _read_numbers(column)
    finite = np.isfinite(values)
    huge = finite & (np.abs(values) >= LARGEST_NUMBER)
    negative = finite & ~huge & ~ambiguous & (values < 0)
    usable = finite & ~ambiguous & ~huge & ~negative
    problems = {
        "is not a number": filled & ~finite & ~ambiguous,
        "is ambiguous ('1.200' is 1.2 or 1200: write 1200, 1,200 or 1.2)": filled & ambiguous,
        "is 10^15 or more": filled & huge,
        "is negative": filled & negative,
    }
    return np.where(usable, values, np.nan), problems


def _read_numbers(column: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (each cell read by the number rules, NaN if it is none; which cells are not blank;
    which are ambiguous)."""
    filled = column.is_valid().to_numpy()  # blank cells are null already; only spaces remain
    try:
        values = pc.cast(column, pa.float64()).to_numpy()
    except pa.ArrowInvalid:
        values = None
    if values is not None:  # plain numbers throughout: only one below 1000 with a fraction can be '1.200'
        values = np.asarray(values, dtype=np.float64)
        maybe = np.flatnonzero(_dot_before_three(column) & (np.abs(values) < 1000))
        ambiguous = np.zeros(len(values), dtype=bool)
        if len(maybe):
            picked = column.take(pa.array(maybe))
            ambiguous[maybe] = pc.fill_null(pc.match_substring_regex(picked, AMBIGUOUS_PATTERN), False).to_numpy(zero_copy_only=False)
        return values, filled, ambiguous
    text = pc.replace_substring_regex(column, CURRENCY_AND_SPACES, "")
    ambiguous = pc.fill_null(pc.match_substring_regex(text, AMBIGUOUS_PATTERN), False).to_numpy()
    filled &= pc.fill_null(pc.not_equal(pc.utf8_trim_whitespace(column), ""), False).to_numpy()

    def matches(pattern: str) -> pa.ChunkedArray:
        return pc.fill_null(pc.match_substring_regex(text, pattern), False)

    comma, grouped, dotted = matches(DECIMAL_COMMA_PATTERN), matches(THOUSANDS_COMMA_PATTERN), matches(THOUSANDS_DOT_PATTERN)
    european = pc.replace_substring(pc.replace_substring(text, ".", ""), ",", ".")
    normal = pc.if_else(comma, european, pc.if_else(grouped, pc.replace_substring(text, ",", ""),
                                                     pc.if_else(dotted, pc.replace_substring(text, ".", ""), text)))
    ok = pc.fill_null(pc.match_substring_regex(normal, NUMBER_PATTERN), False)
    values = pc.cast(pc.if_else(ok, normal, _NULL_TEXT), pa.float64()).to_numpy()
    return np.asarray(values, dtype=np.float64), filled, ambiguous


def _dot_before_three(column: pa.ChunkedArray) -> np.ndarray:
    """Return which cells have a '.' fourth from their end (as '1.200' has), read from the string
    buffers: the few that may be ambiguous, for the pattern to look at."""
    out = []
    for chunk in column.chunks:
        ends, text = _string_buffers(chunk)
        if len(text) == 0:  # no text at all (a chunk of blanks): no dot anywhere
            out.append(np.zeros(len(chunk), dtype=bool))
            continue
        at = ends[1:] - 4
        long_enough = (ends[1:] - ends[:-1]) >= 5
        out.append(long_enough & (text[np.where(long_enough, at, 0)] == ord(".")))
    return np.concatenate(out) if out else np.zeros(0, dtype=bool)


def categorical(column: pa.ChunkedArray) -> tuple[np.ndarray, pd.Index]:
    """Return text as (a code per cell, the distinct values); trimmed, blank ones code -1.

    Trimming works on the distinct values, not on every cell.
    """
    encoded = pc.dictionary_encode(column).unify_dictionaries()
    if encoded.num_chunks == 0:
        return np.zeros(0, dtype=np.int32), pd.Index([], dtype="str")
    codes = np.concatenate([pc.fill_null(c.indices, -1).to_numpy(zero_copy_only=False) for c in encoded.chunks])
    values = encoded.chunk(0).dictionary
    trimmed = pc.utf8_trim_whitespace(values)
    if not pc.all(pc.equal(trimmed, values)).as_py() or pc.any(pc.equal(values, "")).as_py():
        blank = pc.equal(trimmed, "")
        renamed = pc.dictionary_encode(pc.if_else(blank, _NULL_TEXT, trimmed))
        remap = np.append(pc.fill_null(renamed.indices, -1).to_numpy(zero_copy_only=False), -1)
        codes = remap[codes]  # code -1 picks the appended -1
        values = renamed.dictionary
    return codes, pd.Index(values.to_pandas(), dtype="str")


def repeats(keys: np.ndarray, among: np.ndarray) -> np.ndarray:
    """Return which rows of `among` hold a key seen on an earlier row of `among`.

    A sorted copy of the chosen rows' keys (int32 where they fit) tells which keys are held more
    than once; only the chosen rows holding one of those are then put in order, stably, and every
    one of a key's rows but the first repeats it. Most exports repeat few ids, so beside the keys
    this holds a copy of 4 bytes a record, where an int64 order and the keys in it took 16 more."""
    ordered = _narrowed(keys, among)
    ordered.sort()
    twice = np.unique(ordered[1:][ordered[1:] == ordered[:-1]])
    del ordered
    held = np.flatnonzero(_held(keys, twice.astype(keys.dtype)) & among)
    some = keys[held]
    order = np.argsort(some, kind="stable")
    some = some[order]
    repeat = np.zeros(len(keys), dtype=bool)
    repeat[held[order[1:][some[1:] == some[:-1]]]] = True
    return repeat


def _narrowed(keys: np.ndarray, among: np.ndarray) -> np.ndarray:
    """Return a copy of the integer keys of the rows `among`, as int32 when every key fits."""
    small, every = np.iinfo(np.int32), among.all()
    if keys.dtype.itemsize > 4 and len(keys) and small.min <= keys.min() and keys.max() <= small.max:
        narrow = keys.astype(np.int32)  # a copy already
        return narrow if every else narrow[among]
    return keys.copy() if every else keys[among]


def _held(values: np.ndarray, keys: np.ndarray, step: int = 1 << 20) -> np.ndarray:
    """Return which values are among `keys` (sorted, distinct), a million values at a time."""
    out = np.zeros(len(values), dtype=bool)
    if len(keys) == 0:
        return out
    for start in range(0, len(values), step):
        chunk = values[start:start + step]
        at = np.minimum(np.searchsorted(keys, chunk), len(keys) - 1)
        out[start:start + step] = keys[at] == chunk
    return out


def numeric_keys(column: pa.ChunkedArray) -> np.ndarray | None:
    """Return the column as int64 (-1 for blank) if every value reads as an integer, else None.
    Whether those are ids is for `plain_digits` to say: '007' and '+7' read as 7 too."""
    try:
        numbers = pc.cast(column, pa.int64())
    except pa.ArrowInvalid:
        return None
    return pc.fill_null(numbers, -1).to_numpy()


def plain_digits(column: pa.ChunkedArray) -> bool:
    """Return whether every value is plain digits without a leading zero (or blank): such ids may
    be keyed as integers, as '007', '+7' and ' 7' may not."""
    for chunk in column.chunks:
        ends, text = _string_buffers(chunk)
        if len(text) == 0:  # blanks only
            continue
        length = ends[1:] - ends[:-1]
        first = text[np.where(length > 0, ends[:-1], 0)]
        if (((first < 49) | (first > 57)) & (length > 1) | ((length == 1) & ((first < 48) | (first > 57)))).any():
            return False
    return True


def _numeric_ids(column: pa.ChunkedArray) -> np.ndarray | None:
    """Return ids as int64 (-1 for blank) when each is plain digits without a leading zero, else None."""
    numbers = numeric_keys(column)
    return numbers if numbers is not None and plain_digits(column) else None


def ids(column: pa.ChunkedArray) -> tuple[pa.ChunkedArray, np.ndarray, np.ndarray]:
    """Return (the ids, which are blank, an integer key per id for finding repeats)."""
    found, blank, keys, _ = id_keys(column)
    return found, blank, keys


def id_keys(column: pa.ChunkedArray) -> tuple[pa.ChunkedArray | pa.Array, np.ndarray, np.ndarray, bool]:
    """Return ids as `ids` does, and whether the keys are the ids' own numbers (plain digits),
    which are the same keys in any other part of the export (dictionary codes are not)."""
    numeric = _numeric_ids(column)
    if numeric is not None:
        return column, numeric < 0, numeric, True
    trimmed = _trimmed(column)
    blank = trimmed.is_null().to_numpy(zero_copy_only=False)
    codes = pc.fill_null(pc.dictionary_encode(trimmed).indices, -1).to_numpy(zero_copy_only=False)
    return trimmed, blank, codes, False
