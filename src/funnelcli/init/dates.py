"""Finding the date columns of a sample and the formats that read them.

ISO dates need no format (the run always reads them). Other values are tried against FORMATS, the
strptime formats CRMs and spreadsheets write; values of one shape (digits and letters masked) share
the formats that read every one of them, so a day above 12 settles day-first or month-first.
"""

from __future__ import annotations

import datetime as dt
import re
import statistics
from collections import Counter
from dataclasses import dataclass, field

from funnelcli.definitions.model import EPOCH_UNITS, EXCEL

# (format, order of day and month): "md" month first, "dm" day first, "" neither
FORMATS = (
    ("%m/%d/%Y %I:%M %p", "md"), ("%m/%d/%Y %I:%M:%S %p", "md"), ("%m/%d/%Y %H:%M", "md"),
    ("%m/%d/%Y %H:%M:%S", "md"), ("%m/%d/%Y", "md"), ("%m/%d/%y %I:%M %p", "md"), ("%m/%d/%y", "md"),
    ("%d/%m/%Y %H:%M", "dm"), ("%d/%m/%Y %H:%M:%S", "dm"), ("%d/%m/%Y", "dm"), ("%d/%m/%y", "dm"),
    ("%d.%m.%Y %H:%M", "dm"), ("%d.%m.%Y %H:%M:%S", "dm"), ("%d.%m.%Y", "dm"), ("%d.%m.%y", "dm"),
    ("%d-%m-%Y %H:%M", "dm"), ("%d-%m-%Y", "dm"), ("%m-%d-%Y", "md"),
    ("%d %b %Y", ""), ("%d %b %Y %H:%M", ""), ("%b %d, %Y", ""), ("%b %d, %Y %I:%M %p", ""),
    ("%d-%b-%Y", ""), ("%d-%b-%y", ""), ("%B %d, %Y", ""), ("%d %B %Y", ""),
)
_DATEISH = re.compile(r"^(\d{1,4}[-/.]\d{1,2}[-/.]\d{2,4}|\d{1,2}[ -][A-Za-z]{3,9}[ -]\d{2,4}|[A-Za-z]{3,9} \d{1,2}, \d{4})")
_ISO = re.compile(r"^(\d{4})[-/](\d{1,2})[-/](\d{1,2})(?:[T ](\d{1,2})(?::(\d{2})(?::(\d{2})(?:[.,]\d+)?)?)?)?"
                  r"\s*(?:Z|[+-]\d{2}:?\d{2})?$")
_SERIAL = re.compile(r"^\d{5}(\.\d+)?$")
_UNIX = re.compile(r"^\d{8,13}(\.\d+)?$")  # Unix time: 1709251200 (seconds) or 1709251200000 (ms)
_DATE_NAME = re.compile(r"date|time|(^|[_ ])(at|on|day)$|created|closed|won|lost", re.IGNORECASE)
# a length of time, not a moment: HubSpot's 'Time in Lead (ms)', 'Days to close'
_DURATION = re.compile(r"time in|duration|elapsed|\(ms\)|millis|seconds|minutes|hours|days|\bage\b", re.IGNORECASE)
_GUESS_SECONDS = (946_684_800, 4_102_444_800)  # init takes numbers for Unix times from 2000 to 2100 only


@dataclass
class DateColumn:
    """How a column's values read as dates."""

    formats: tuple[str, ...]  # the formats the values need, most used first; () when all are ISO
    days: list[dt.date | None]  # the day of each row (None: blank or unreadable)
    failed: int = 0  # filled rows no format reads
    example_failed: str | None = None
    ambiguous: bool = False  # no day above 12 in the sample: day-first or month-first is a guess
    orders: set = field(default_factory=set)  # "md" / "dm": the orders the values settle

    @property
    def read(self) -> int:
        return sum(d is not None for d in self.days)


def iso_day(value: str) -> dt.date | None:
    """Return the day an ISO value names (as the run reads it), or None."""
    m = _ISO.match(value)
    if not m:
        return None
    try:
        return dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        return None


def _parse(value: str, fmt: str) -> dt.date | None:
    try:
        return dt.datetime.strptime(value, fmt).date()
    except ValueError:
        return None


def _shape(value: str) -> str:
    return re.sub(r"[A-Za-z]+", "a", re.sub(r"\d", "9", value))


def guess_dates(header: str, cells: list[str], day_first: bool | None = None) -> DateColumn | None:
    """Return how the column's cells read as dates, or None when it is not a date column.

    A date column has most of its filled cells readable (at least 80%). `day_first` settles values
    that read both ways (3/4/2024): True day first, else month first.
    """
    filled = [c for c in cells if c]
    if not filled:
        return None
    probe = list(dict.fromkeys(filled))[:50]
    named = bool(_DATE_NAME.search(header))  # numbers are dates only in a column named as one
    if named and all(_SERIAL.match(v) for v in probe):
        return _excel(cells)
    if named and not _DURATION.search(header) and all(_UNIX.match(v) or v == "0" for v in probe):
        return _epoch(cells)
    # Excel serials among dates written out (a column Excel saved in part as numbers)
    if sum(bool(_DATEISH.match(v) or named and _serial_day(v)) for v in probe) < 0.8 * len(probe):
        return None
    chosen: dict[str, str | None] = {}  # shape -> format (None: ISO)
    result = DateColumn((), [])
    groups = _by_shape(filled)
    excel = {shape for shape, values in groups.items() if named and all(_serial_day(v) for v in values)}
    for shape, values in groups.items():
        chosen[shape] = EXCEL if shape in excel else _shape_format(values, day_first, result)
    if result.ambiguous and result.orders:  # 12/4/2024 reads as the column's 3/25/2024 does
        for shape, values in groups.items():
            chosen[shape] = EXCEL if shape in excel else _shape_format(values, result.orders == {"dm"}, result)
        result.ambiguous = False
    days = []
    used: Counter = Counter()
    for cell in cells:
        fmt = chosen.get(_shape(cell), None) if cell else None
        day = None if not cell else iso_day(cell) if fmt is None else _serial_day(cell) if fmt == EXCEL else _parse(cell, fmt)
        if cell and day is None:
            result.failed += 1
            result.example_failed = result.example_failed or cell
        elif fmt:
            used[fmt] += 1
        days.append(day)
    result.days = days
    if result.read < 0.8 * len(filled):
        return None
    result.formats = tuple(f for f, _ in used.most_common())
    return result


def _by_shape(values: list[str]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for v in dict.fromkeys(values):
        groups.setdefault(_shape(v), []).append(v)
    return groups


def _shape_format(values: list[str], day_first: bool | None, result: DateColumn) -> str | None:
    """Return the format that reads the shape's values (None: they are ISO, or nothing reads them)."""
    if iso_day(values[0]) is not None:
        return None
    candidates = [(f, o) for f, o in FORMATS if _parse(values[0], f)]
    for v in values[1:]:
        if len(candidates) <= 1:
            break
        fitting = [(f, o) for f, o in candidates if _parse(v, f)]
        candidates = fitting or candidates  # a value nothing reads is counted as failed later
    if not candidates:
        return None
    orders = {o for _, o in candidates if o}
    if len(orders) > 1:
        result.ambiguous = True
        wanted = "dm" if day_first else "md"
        return next(f for f, o in candidates if o == wanted)
    result.orders |= orders
    return candidates[0][0]


def _serial_day(value: str) -> dt.date | None:
    """Return the day an Excel serial day number names (45292 is 2024-01-01), or None: 20,000 to
    80,000 (1954 to 2119), other numbers are not dates."""
    if not _SERIAL.match(value) or not 20_000 <= float(value) <= 80_000:
        return None
    return dt.date(1899, 12, 30) + dt.timedelta(days=int(float(value)))


def _excel(cells: list[str]) -> DateColumn | None:
    """Return a column of Excel serial day numbers as dates, or None."""
    days = [_serial_day(cell) if cell else None for cell in cells]
    if any(cell and day is None for cell, day in zip(cells, days)):
        return None
    return DateColumn((EXCEL,), days)


def _epoch(cells: list[str]) -> DateColumn | None:
    """Return a column of Unix times as dates (UTC days), or None unless one unit, seconds or
    milliseconds, reads every filled cell within the range the run reads (0, the zero date, is a
    placeholder: no day), and a guess only from 2000 to 2100 (a compact 202403011200 read as
    milliseconds is 1976). Ids and phone numbers are numbers too: the header must name a date."""
    low, high = _GUESS_SECONDS
    numbers = [float(c) if _UNIX.match(c) else None for c in cells]  # only the first 50 values were looked at
    filled = [v for v in numbers if v]
    odd = [c for c, v in zip(cells, numbers) if c and c != "0" and v is None]
    epoch = dt.datetime(1970, 1, 1)
    for fmt, per_second in EPOCH_UNITS.items():  # the two units' ranges don't overlap: one at most reads them all
        if filled and all(low <= v // per_second < high for v in filled):
            days = [(epoch + dt.timedelta(seconds=v // per_second)).date() if v else None for v in numbers]
            return DateColumn((fmt,), days, failed=len(odd), example_failed=odd[0] if odd else None)
    return None


def typical(days: list[dt.date | None]) -> dt.date | None:
    """Return the median day of a column (None when it has none)."""
    known = sorted(d.toordinal() for d in days if d is not None)
    return dt.date.fromordinal(int(statistics.median_low(known))) if known else None
