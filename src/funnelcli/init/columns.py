"""What each column of a sample holds: ids, dates, flags, few-valued statuses, numbers, placeholders.

`profile` looks at the values; the name helpers (`named`) guess a column's role from its header.
Both are guesses that init writes down with a comment for the user to check.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from funnelcli.definitions import FALSE_WORDS, TRUE_WORDS
from funnelcli.init.dates import DateColumn, guess_dates
from funnelcli.init.sample import Sample

# Values CRMs and forms write for "no value"; read as blank with `blank_values:` (any case)
PLACEHOLDERS = ("select", "--none--", "-none-", "n/a", "#n/a", "null", "(none)", "(blank)", "-", "--")
FEW_VALUES = 15  # a status column has at most this many distinct values
_NUMBER = re.compile(r"^[-+]?[$€£]?\s?\d[\d,. ]*%?$")

ROLE_NAMES = {  # a role's name patterns, the likeliest first
    "id": (r"^(record |lead |contact |deal |opportunity |prospect |account )?id$", r"^(lead|deal|contact|record|prospect)[ _-]?id$"),
    "created": (r"creat(e|ed|ion)[ _:.-]*(date|time|at|on)?$|^(date|time)[ _-]?created$|deal created",),
    "owner": (r"owner", r"assigned[ _]to|sales ?rep|^rep$", r"user"),
    "source": (r"source", r"origin|channel|utm"),
    "status": (r"status|stage|state|lifecycle|phase",),
    "industry": (r"industry|sector|vertical",),
    "country": (r"country|region",),
    "employees": (r"employees|company size|headcount",),
    "amount": (r"amount|value|revenue|deal size",),
    "touches": (r"(number|#|count) of (sales )?(activities|touches|calls)|touches",),
    "last_activity": (r"last activity|last contacted|last touch",),
    "stage_since": (r"last stage change|stage (since|changed|entered)|stage change (date|time)",),
}
NOT_A_STAGE_DATE = re.compile(
    # an email's tracking dates ('Email sent', 'Last email opened') are no stages; a proposal sent is one
    r"creat|modif|update|last|birth|expected|next|due|renewal|contract|e-?mail|opened|clicked|visit|import|sync", re.IGNORECASE)


@dataclass
class Column:
    """One column of the sample: its header, values and what they look like."""

    index: int
    header: str
    cells: list[str]  # trimmed, placeholders blanked
    counts: Counter  # filled value -> rows
    dates: DateColumn | None = None
    flag: bool = False  # every filled value is a true/false word
    numeric: bool = False

    @property
    def filled(self) -> int:
        return sum(self.counts.values())

    @property
    def unique(self) -> bool:
        """Every row filled and no value twice."""
        return self.filled == len(self.cells) and len(self.counts) == len(self.cells)

    @property
    def few(self) -> bool:
        return 2 <= len(self.counts) <= FEW_VALUES and not self.dates and not self.numeric and self.filled >= 3

    def named(self, role: str, rank: int | None = None) -> bool:
        """Return whether the header names `role` (by its `rank`-th pattern only, when given)."""
        patterns = ROLE_NAMES[role] if rank is None else ROLE_NAMES[role][rank:rank + 1]
        spaced = self.header.replace("_", " ")  # last_stage_change reads as "last stage change"
        return any(re.search(p, self.header, re.IGNORECASE) or re.search(p, spaced, re.IGNORECASE) for p in patterns)


def placeholders(sample: Sample) -> list[str]:
    """Return the placeholder values the sample holds, as written (most rows first)."""
    seen: Counter = Counter()
    for row in sample.rows:
        for cell in row:
            text = cell.strip()
            if text.casefold() in PLACEHOLDERS:
                seen[text] += 1
    kept: dict[str, str] = {}
    for text, _ in seen.most_common():
        kept.setdefault(text.casefold(), text)
    return list(kept.values())


def _a_flag(counts: Counter) -> bool:
    """Return whether a column's values are a flag's: true and false words, in any spellings (Yes,
    Y, No), and at most two other values in at most 1% of its filled rows, or one row (a stray
    'Maybe' the run then reports as unparseable, as validate --data does). A stray number makes
    a count (touches of 0, 1 and one 2), not a flag."""
    words = set(TRUE_WORDS + FALSE_WORDS)
    odd = {v: n for v, n in counts.items() if v.casefold() not in words}
    if any(_NUMBER.match(v) for v in odd):
        return False
    usual = {v.casefold() for v in counts if v not in odd}
    if not usual:
        return False
    return not odd or (len(usual) >= 2 and len(odd) <= 2 and sum(odd.values()) <= max(1, sum(counts.values()) // 100))


def profile(sample: Sample) -> list[Column]:
    """Return a profile of every named column of the sample (the first of a repeated name only)."""
    seen = set()
    columns = []
    for i, header in enumerate(sample.header):
        if not header or header in seen:
            continue
        seen.add(header)
        cells = ["" if c.casefold() in PLACEHOLDERS else c for c in sample.column(i)]
        counts = Counter(c for c in cells if c)
        column = Column(i, header, cells, counts)
        column.flag = _a_flag(counts)
        column.numeric = bool(counts) and not column.flag and all(_NUMBER.match(v) for v in list(counts)[:200])
        if not column.flag:
            column.dates = guess_dates(header, cells)
            if column.dates is not None:
                column.numeric = False
        columns.append(column)
    _settle_day_order(columns)
    return columns


def _settle_day_order(columns: list[Column]) -> None:
    """Read the columns whose days and months could go either way as the other columns do."""
    orders = set().union(*(c.dates.orders for c in columns if c.dates)) if any(c.dates for c in columns) else set()
    if orders == {"dm"}:
        for c in columns:
            if c.dates and c.dates.ambiguous:
                c.dates = guess_dates(c.header, c.cells, day_first=True)


def find(columns: list[Column], role: str, taken: set[str] = frozenset(), test=None) -> Column | None:
    """Return the column best named for `role` (and passing `test`) that is not taken."""
    for rank in range(len(ROLE_NAMES[role])):
        for c in columns:
            if c.header not in taken and c.named(role, rank) and (test is None or test(c)):
                return c
    return None


def id_column(columns: list[Column]) -> tuple[Column, str]:
    """Return the column most like a lead's id, and why it was chosen (for a comment)."""
    for c in columns:
        if c.named("id") and (c.unique or len(c.counts) >= 0.95 * len(c.cells)):
            return c, id_note(c)
    for c in columns:
        if c.unique and not c.dates and re.search(r"\bid\b|_id$|number|email", c.header, re.IGNORECASE):
            return c, f"unique in {_rows_read(len(c.cells))}"
    for c in columns:
        if c.unique and not c.dates:
            return c, f"the first column unique in {_rows_read(len(c.cells))}; check it identifies a lead"
    named = find(columns, "id")
    if named is not None:
        return named, id_note(named)
    return columns[0], "check: no column is unique in the rows read; funnelcli needs one id per lead"


def id_note(column: Column) -> str:
    """Return a comment on an id column: unique, or how many of the rows read repeat an id or have none."""
    if column.unique:
        return f"unique in {_rows_read(len(column.cells))}"
    blank = len(column.cells) - column.filled
    repeated = column.filled - len(column.counts)
    return (f"check: in the {len(column.cells):,} rows read, {repeated:,} repeat{'s' if repeated == 1 else ''} an id "
            f"and {blank:,} {'has' if blank == 1 else 'have'} none; "
            "the run leaves such rows out")


def by_rows(column: Column) -> list[str]:
    """Return the column's values, most rows first."""
    return [v for v, _ in column.counts.most_common()]


def _rows_read(n: int) -> str:
    return "the one row read" if n == 1 else f"the {n:,} rows read"
