"""The definitions model: the agreed funnel as frozen dataclasses, and helpers over it.

Nothing here reads files: schema.py builds these from one YAML file, merge.py from several.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Any, Union

from funnelcli.definitions.yamldoc import Where
from funnelcli.errors import FunnelError, Problem, option, visible

# --------------------------------------------------------------------------------------------
# The model


OPERATORS = (
    "eq", "ne", "gt", "gte", "lt", "lte", "between", "in", "not_in",
    "matches", "not_matches", "contains", "not_contains", "present", "missing",
)
NEGATIVE_OPS = frozenset({"ne", "not_in", "not_matches", "not_contains", "missing"})  # true of a blank cell
ZONED = r"(Z|[+-]\d{2}:?\d{2})$"  # a date's UTC offset (or Z) at its end, as the readers read one
# The rarer ISO forms the readers take (sources/cells.py, and funnelcli sql's query), made plain
# first, a pattern at a time (RE2, as pyarrow and DuckDB run it): 2024-3-5 and 2024/03/05 are
# 2024-03-05, a T is a space, a fraction of a second goes, Z is +00:00, no blank before an offset
ISO_NORMALISE = (
    (r"^(\d{4})[-/](\d)[-/]", r"\1-0\2-"),
    (r"^(\d{4})/(\d{2})/", r"\1-\2-"),
    (r"^(\d{4}-\d{2})-(\d)(\D|$)", r"\1-0\2\3"),
    (r"^(\d{4}-\d{2}-\d{2})T", r"\1 "),
    (r"(\d{2}:\d{2}:\d{2})[.,]\d+", r"\1"),
    (r"\s*Z$", "+00:00"),
    (r"\s+([+-]\d{2}:?\d{2})$", r"\1"),
)
ISO_NAIVE = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d", "%Y-%m-%d %H")  # then read by these, in order
ISO_ZONED = ("%Y-%m-%d %H:%M:%S%z", "%Y-%m-%d %H:%M%z", "%Y-%m-%d %H%z")  # and those with an offset by these
# CRMs write 9999-12-31, 1900-01-01 or 1970-01-01 (zero dates) for "never" or "unknown": days on
# or before EARLIEST_DAY or after LATEST_DAY are placeholders, read as no date.
EARLIEST_DAY, LATEST_DAY = "1970-01-01", "2199-12-31"
# Date formats that are no strptime format: Excel's serial day numbers, and Unix time (instants in
# UTC) in seconds or milliseconds, as HubSpot's API-based exports write it (1709251200000).
EXCEL = "excel"
EPOCH_UNITS = {"epoch": 1, "epoch_ms": 1000}  # the format -> its units in a second
# Unix time from 1971-01-01 to 2200-01-01 (seconds): a number outside it is no date. Seconds read
# as milliseconds fall in 1970, milliseconds read as seconds after 2200: the two never both read a
# value. 0, the zero date, reads as 1970-01-01 (a placeholder, as EARLIEST_DAY says).
EPOCH_RANGE = (31_536_000, 7_258_118_400)
NUMBER_FORMATS = (EXCEL, *EPOCH_UNITS)
# A date format's %Y is a year of four digits, as Python's strptime reads it; pyarrow's and DuckDB's
# take fewer (3/1/25, Excel's short date, as the year 25). A value that reads as a year before 1000
# by such a format is a date only when it holds that year written in four digits: 0001 (a
# placeholder; 00010101 under %Y%m%d too), not 3/1/25 0905 (0905 is no 0025).


@dataclass(frozen=True)
class Leaf:
    """One test of one field: `field op value`."""

    field: str
    op: str
    value: Any
    case_sensitive: bool = False
    where: Where = field(default=Where(""), compare=False, repr=False)


@dataclass(frozen=True)
class AllOf:
    items: tuple


@dataclass(frozen=True)
class AnyOf:
    items: tuple


@dataclass(frozen=True)
class NotOf:
    item: Any


Condition = Union[Leaf, AllOf, AnyOf, NotOf]


@dataclass(frozen=True)
class PurgatoryRule:
    """A stage's activity purgatory: at most N touches and no activity for D days."""

    touches_at_most: int
    idle_days: float


@dataclass(frozen=True)
class Stage:
    name: str
    date: str | None = None  # the lead-table column of its date (an export header, or a joined field)
    when: Condition | None = None
    values: tuple[str, ...] = ()  # the status column's or the log's values for it (default: its name)
    flag: str | None = None  # the lead-table column of a true/false flag that says it was reached
    sla_days: float | None = None
    window_days: float | None = None
    purgatory: PurgatoryRule | None = None
    where: Where = field(default=Where(""), compare=False, repr=False)
    marks: dict = field(default_factory=dict, compare=False, repr=False)  # where its 'date', 'purgatory' were written

    @property
    def has_rule(self) -> bool:
        """Whether anything says who reached it: a date, a condition, a flag or values (only the
        first stage may have none: every lead reaches it)."""
        return bool(self.date or self.when is not None or self.flag or self.values)


@dataclass(frozen=True)
class Exit:
    name: str
    when: Condition | None = None
    date: str | None = None  # the lead-table column of its date
    values: tuple[str, ...] = ()  # the status column's or the log's values for it (default: its name)
    where: Where = field(default=Where(""), compare=False, repr=False)
    marks: dict = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class Market:
    name: str
    when: Condition
    where: Where = field(default=Where(""), compare=False, repr=False)


@dataclass(frozen=True)
class Target:
    """An agreed goal: a rate at least `minimum`, or a stuck share at most `maximum`."""

    key: str  # as written: "MQL->SAL", "MQL stuck"
    kind: str  # "rate" or "stuck"
    stage: str
    to_stage: str | None
    minimum: float | None = None
    maximum: float | None = None
    where: Where = field(default=Where(""), compare=False, repr=False)


@dataclass(frozen=True)
class ColumnRef:
    """A column of the export (or of a joined file) that the definitions name, and where."""

    header: str
    role: str  # "columns.owner", "stage MQL date", "market Enterprise NA condition", ...
    where: Where
    file: str = ""  # "" for the export given on the command line; else the join's name


@dataclass(frozen=True)
class Join:
    """A related file joined to the leads by a key, bringing columns in under canonical names."""

    name: str
    lead_key: str  # the lead-table column of the key: an export header, or a field an earlier join brought
    file_key: str  # this file's header of the key
    columns: dict  # canonical name -> this file's header
    path: str | None = None  # the default file, relative to the definitions file's folder (absolute here)
    many: str = "error"  # several rows for one lead: first | last (by order_by, else file order) | error
    order_by: str | None = None  # this file's header that orders rows for many: first | last
    where: Where = field(default=Where(""), compare=False, repr=False)
    encoding: str | None = None  # this file's text encoding, where it differs from the export's (--encoding)


@dataclass(frozen=True)
class History:
    """The export is a stage-history log: a row per change, the stage entered and when."""

    stage: str  # the log's header of the stage entered
    at: str  # the log's header of when
    only: Condition | None = None  # the rows that are stage changes (default: every row)
    reopen: tuple[str, ...] = ()  # values of `stage` that reopen a lead after an exit (a deal's status back to open)
    where: Where = field(default=Where(""), compare=False, repr=False)
    marks: dict = field(default_factory=dict, compare=False, repr=False)  # where its 'stage' and 'at' were written


# How numbers are written in exports, read the same way in cells and in conditions: '1,200',
# '$ 35', '1.200,50', '1.234.567' and '12,5' are numbers. A comma is the decimal mark when it is
# followed by other than exactly three digits, or after dots that group thousands; commas that
# group thousands group threes ('1,2,3' is no number). One dot before exactly three digits
# ('1.200', '€1.200') is ambiguous: 1.2 written with three decimals, or 1200 with a dot between
# thousands. It is not read, and the rows are reported.
NUMBER_PATTERN = r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$"
DECIMAL_COMMA_PATTERN = r"^[-+]?(\d{1,3}(\.\d{3})+,\d+|\d+,(\d{1,2}|\d{4,}))$"
THOUSANDS_COMMA_PATTERN = r"^[-+]?\d{1,3}(,\d{3})+(\.\d+)?$"
THOUSANDS_DOT_PATTERN = r"^[-+]?\d{1,3}(\.\d{3}){2,}$"
AMBIGUOUS_PATTERN = r"^[-+]?[1-9]\d{0,2}\.\d{3}$"
# Spaces (a no-break or thin one groups thousands in French and Swiss exports), currency signs,
# and an ISO currency code before or after the number ('USD 1,200.00', a Salesforce multi-currency
# report): the characters themselves, so that Python's re and pyarrow's RE2 read them alike
_CODES = "USD|EUR|GBP|JPY|CHF|CAD|AUD|NZD|SEK|NOK|DKK|PLN|CZK|HUF|INR|CNY|BRL|MXN|ZAR|SGD|HKD"
CURRENCY_AND_SPACES = f"[\\s\u00a0\u202f\u2009$€£¥]|^(?:{_CODES})|(?:{_CODES})$"
LARGEST_NUMBER = 1e15  # a count or an amount of a quadrillion or more is not one: not read, reported


def read_number(text: str) -> float | None:
    """Return the number written in `text` by the rules above, or None."""
    text = re.sub(CURRENCY_AND_SPACES, "", text)
    if re.match(AMBIGUOUS_PATTERN, text):
        return None
    if re.match(DECIMAL_COMMA_PATTERN, text):
        text = text.replace(".", "").replace(",", ".")
    elif re.match(THOUSANDS_COMMA_PATTERN, text):
        text = text.replace(",", "")
    elif re.match(THOUSANDS_DOT_PATTERN, text):
        text = text.replace(".", "")
    if not re.match(NUMBER_PATTERN, text):
        return None
    value = float(text)
    return value if abs(value) < LARGEST_NUMBER else None


OUT_OF_MARKET = "out of market"
RESERVED_FIELDS = ("market", "exit")
# Canonical names whose values are dates (besides stage and exit date columns); stage_since is
# the export's last-stage-change date, which dates a lead's current stage for its age.
DATE_FIELDS = ("created", "last_activity", "stage_since")
TRUE_WORDS = ("1", "true", "yes", "y", "x", "checked")  # a flag's true values, case-insensitive
FALSE_WORDS = ("0", "false", "no", "n")  # and its false values; blank is false too
# Canonical names whose values are numbers.
NUMBER_FIELDS = ("touches", "amount")


@dataclass(frozen=True)
class Definitions:
    columns: dict  # canonical name -> the export's header
    stages: tuple[Stage, ...]
    exits: tuple[Exit, ...] = ()
    markets: tuple[Market, ...] = ()
    targets: tuple[Target, ...] = ()
    timezone: str = "UTC"
    date_format: tuple[str, ...] = ()  # strptime formats tried in order, per value, before ISO
    sources: tuple[str, ...] = ()
    digest: str = ""
    refs: tuple[ColumnRef, ...] = ()
    stage_column: str | None = None  # the lead-table column naming each lead's current stage
    history: History | None = None  # the export is a stage-history log
    joins: tuple[Join, ...] = ()
    blank_values: tuple[str, ...] = ()  # values read as blank in every column (trimmed, any case)
    column_formats: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (header, formats): date_formats, per column
    overrides: tuple[str, ...] = ()  # the --set assignments applied, "key=value (was X)", for the report's header

    def formats(self, header: str) -> tuple[str, ...]:
        """Return the date formats to try, in order, for a column: its own (`date_formats:`), else
        `date_format`. A format is a strptime format, 'excel' (serial day numbers), or 'epoch' or
        'epoch_ms' (Unix time in seconds or milliseconds)."""
        for name, formats in self.column_formats:
            if name == header:
                return formats
        return self.date_format

    def field_key(self, name: str) -> str:
        """Return the lead-table name of a field: its canonical name if mapped (in the export's
        columns or a join's), else the header."""
        if name in self.columns or any(name in j.columns for j in self.joins):
            return name
        for canonical, header in self.columns.items():
            if header == name:
                return canonical
        return name

    def header(self, name: str) -> str:
        """Return the raw column of a field given by canonical name or header: the export's header,
        or for a joined field its canonical name (the join brings it in under that name)."""
        return self.columns.get(name, name)

    def require_stage(self, name: str, param: str = "stage") -> int:
        """Return the position of a stage given by name; raise naming the stages (and `param`, the
        argument or option that gave the name)."""
        i = self.stage_index(name)
        if i < 0:
            raise FunnelError(f"{option(param)} {name!r}: no such stage{did_you_mean(name, self.stage_names)}; "
                              f"stages are {', '.join(self.stage_names)}")
        return i

    def stage_index(self, name: str) -> int:
        """Return the position of a stage, matching names case-insensitively; -1 if none."""
        for i, stage in enumerate(self.stages):
            if stage.name.casefold() == name.casefold():
                return i
        return -1

    @property
    def stage_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.stages)

    def headers(self, file: str = "") -> list[str]:
        """Return every header of the export (or of the join named `file`) the definitions use,
        each once, in a stable order."""
        seen: dict[str, None] = {}
        for ref in self.refs:
            if ref.file == file:
                seen.setdefault(ref.header, None)
        return list(seen)

    def joined_fields(self) -> dict[str, str]:
        """Return canonical name -> join name for every field a join brings in."""
        return {c: j.name for j in self.joins for c in j.columns}

    def date_headers(self) -> set[str]:
        """Return the lead-table columns whose values are dates."""
        out = {s.date for s in self.stages if s.date} | {e.date for e in self.exits if e.date}
        mapped = dict(self.columns)
        for j in self.joins:
            mapped.update({c: c for c in j.columns})  # a joined field is in the lead table by its canonical name
        out |= {mapped[f] for f in DATE_FIELDS if f in mapped}
        out |= {h for c, h in mapped.items() if c.endswith(("_date", "_at"))}
        return out

    def condition_fields(self) -> set[str]:
        """Return every field name a stage, exit or market condition tests."""
        conds = [s.when for s in self.stages] + [e.when for e in self.exits] + [m.when for m in self.markets]
        return {leaf.field for cond in conds for leaf in walk_leaves(cond)}

    def flag_fields(self) -> set[str]:
        """Return the lead-table columns stages read as true/false flags."""
        return {s.flag for s in self.stages if s.flag}

    def fields(self) -> list[str]:
        """Return the fields a user can break a report down by (`--by`)."""
        names = [c for c in self.columns if c != "id"] + [c for j in self.joins for c in j.columns if c not in self.columns]
        if self.markets:
            names.append("market")
        if self.exits:
            names.append("exit")
        return names

    def stage_values(self) -> dict[str, tuple[str, int]]:
        """Return each status or log value (casefolded) -> ("stage" or "exit", its index).

        A stage's or exit's values default to its own name."""
        out: dict[str, tuple[str, int]] = {}
        for kind, items in (("stage", self.stages), ("exit", self.exits)):
            for i, item in enumerate(items):
                for value in item.values or (item.name,):
                    out.setdefault(str(value).strip().casefold(), (kind, i))
        return out


def did_you_mean(word: str, choices) -> str:
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


_OP_WORDS = {
    "eq": "is", "ne": "is not", "gt": ">", "gte": ">=", "lt": "<", "lte": "<=", "in": "in", "not_in": "not in",
    "matches": "matches", "not_matches": "does not match", "contains": "contains", "not_contains": "does not contain",
}


def describe(cond: Condition | None) -> str:
    """Return a condition in words, e.g. "employees >= 1000 and country in [US, CA]"."""
    if cond is None:
        return ""
    if isinstance(cond, Leaf):
        value = cond.value
        if cond.op in ("present", "missing"):
            return f"{cond.field} is {'present' if (cond.op == 'present') == value else 'missing'}"
        if cond.op == "between":
            return f"{cond.field} between {value[0]} and {value[1]}"
        if isinstance(value, tuple):
            value = "[" + ", ".join(str(v) for v in value) + "]"
        return f"{cond.field} {_OP_WORDS[cond.op]} {value}"
    if isinstance(cond, NotOf):
        return f"not ({describe(cond.item)})"
    joiner = " and " if isinstance(cond, AllOf) else " or "
    parts = [describe(c) if isinstance(c, Leaf) else f"({describe(c)})" for c in cond.items]
    return joiner.join(parts)


def walk_leaves(cond: Condition | None):
    if cond is None:
        return
    if isinstance(cond, Leaf):
        yield cond
    elif isinstance(cond, (AllOf, AnyOf)):
        for item in cond.items:
            yield from walk_leaves(item)
    elif isinstance(cond, NotOf):
        yield from walk_leaves(cond.item)


def hidden_by_joins(defs: Definitions, headers: list[str]) -> list[tuple[str, Join]]:
    """Return (name, join) for each name a join brings in that is also a column of the export:
    every use of the name reads the joined file's column, and the export's is never read."""
    present = set(headers)
    return [(name, j) for j in defs.joins for name in j.columns if name in present and name not in defs.columns]


def hidden_message(name: str, join: Join, export: str) -> str:
    """Return validate's warning of a name `join` brings in that hides a column of `export`."""
    return (f"join {join.name!r} brings in {name!r} (its file's column {join.columns[name]!r}), and {export} has a column "
            f"{name!r} too: {hidden_advice(name, join)}")


def hidden_advice(name: str, join: Join) -> str:
    """Return what a hidden column means and what to do (validate's warning and the run's notice)."""
    return (f"every use of {name!r} reads the joined file's column {join.columns[name]!r}, never the export's; if the "
            f"export's is meant, give the joined column another name in the join's columns: (say {visible(join.name)}_"
            f"{visible(name)}: {visible(join.columns[name])})")


def check_headers(defs: Definitions, headers: list[str], export: str, file: str = "") -> list[Problem]:
    """Return a problem for every column the definitions use that the export's header lacks (or,
    with `file`, the header of the joined file of that name), and, for the export, every name a
    join brings in that hides one of its columns."""
    present = set(headers)
    problems = [] if file else [Problem(j.where.path, j.where.line, j.where.col, "warning", "hidden-column",
                                        hidden_message(n, j, export)) for n, j in hidden_by_joins(defs, headers)]
    reported: set[tuple] = set()
    for ref in defs.refs:
        if ref.file != file or ref.header in present:
            continue
        marker = (ref.header, ref.where)
        if marker in reported:
            continue
        reported.add(marker)
        problems.append(
            Problem(
                ref.where.path, ref.where.line, ref.where.col, "error", "missing-column",
                f"{ref.role}: column {ref.header!r} is not in {export}{nearest_header(ref.header, headers)}",
            )
        )
    return problems


def nearest_header(name: str, headers: list[str]) -> str:
    """Return ' (nearest: 'X')' for the header most like `name`, or ''."""
    lowered = {h.casefold(): h for h in headers}
    if name.casefold() in lowered:
        return f" (nearest: {lowered[name.casefold()]!r}; headers are case-sensitive)"
    close = difflib.get_close_matches(name, headers, n=1, cutoff=0.5)
    return f" (nearest: {close[0]!r})" if close else ""
