"""The report model: a title, header lines, tables of plain rows and notes, renderer-free.

Every measure builds a `Report`; every renderer in `funnelcli.output` reads one. Rows hold plain
values (ints, floats, strings, None; lists for sparklines), never pandas objects, so a report can
go to JSON as it is. `Table.to_frame()` gives a DataFrame to a notebook user who wants one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Context, Decimal
from typing import Any

EMPTY = "-"  # a value that does not exist (a rate with no denominator, say)
NUMERIC = ("count", "number", "rate", "days", "delta", "pp", "money")


@dataclass
class Column:
    key: str
    label: str
    kind: str = "text"  # text, group, count, number, rate, days, pp (rate change), delta (count change), money, spark, flag
    mark: str | None = None  # a row key whose true value marks this cell (e.g. an immature rate)
    hidden: bool = False  # csv and json only (a change per period, say); the tables show a summary
    flag: str = ""  # kind "flag": the text shown for a true value
    kind_of: dict | None = None  # the kind by the row's "kind" value, when rows mix rates and counts
    extra: bool = False  # the human formats show it only when asked (--columns all, or by name); csv and json always
    priority: int = 1  # to fit a narrow terminal, the columns of the highest priority go first (rightmost first)
    prose: bool = False  # sentences of funnelcli's own (explain's why): wrapped, never cut to a length
    whole: bool = False  # one of columns that add up (the four buckets): never left out alone to fit a width
    together: str = ""  # columns of one name are left out together to fit a width (one currency alone reads as the whole)

    def kind_for(self, row: dict) -> str:
        return self.kind_of.get(row.get("kind"), self.kind) if self.kind_of else self.kind


class Uncounted(str):
    """A table's note of the leads it can't count (no date of the step, in no cohort): JSON, whose
    tables are rows, carries it in its notes; a table's legends stay the text's."""


class ColumnNotes(str):
    """A note of definitions, a sentence per column ("Stuck: past the stage's SLA ..."): as text,
    all of them; under a table shown without some columns, only those of the columns shown."""

    parts: tuple[tuple[str | tuple[str, ...] | None, str], ...]  # (the column's key, or the keys of columns it defines, its sentence)

    def __new__(cls, parts: list[tuple[str | tuple[str, ...] | None, str]]) -> "ColumnNotes":
        note = super().__new__(cls, " ".join(text for _, text in parts))
        note.parts = tuple(parts)
        return note

    def of(self, keys: set[str]) -> str:
        """Return the sentences of the columns `keys` (and those of no column)."""
        return " ".join(text for key, text in self.parts
                        if key is None or (key in keys if isinstance(key, str) else any(k in keys for k in key)))


@dataclass
class Table:
    name: str  # the table's key in JSON
    title: str | None
    columns: list[Column]
    rows: list[dict]
    notes: list[str] = field(default_factory=list)  # footnotes shown under the table
    machine: bool = True  # False: a view for people only, its data is in another table for csv and json

    def notes_for(self, shown: list[Column]) -> list[str]:
        """Return the notes as shown under the table with the columns `shown`: a ColumnNotes note
        without the sentences of columns left out, and none left empty."""
        keys = {c.key for c in shown}
        notes = [n.of(keys) if isinstance(n, ColumnNotes) else n for n in self.notes]
        return [n for n in notes if n]

    def to_frame(self):
        """Return the rows as a pandas DataFrame, one column per row key (hidden ones too)."""
        import pandas as pd

        keys = [c.key for c in self.columns]
        keys += [k for row in self.rows for k in row if k not in keys]
        return pd.DataFrame(self.rows, columns=list(dict.fromkeys(keys)))


@dataclass
class Report:
    kind: str
    title: str
    meta: list[tuple[str, str]]  # header lines: (label, text)
    tables: list[Table]
    notes: list[str] = field(default_factory=list)  # closing lines: accounting, data quality
    data: dict = field(default_factory=dict)  # the JSON document's fields besides "tables"
    main: str | None = None  # the table -f csv writes by default (None: the first for csv and json)

    @property
    def called(self) -> str:
        """Return how a message names the report: 'the conversion report', 'the report' (report's own)."""
        return "the report" if self.kind == "report" else f"the {self.kind} report"

    def csv_table(self, name: str | None = None) -> Table:
        """Return the table `-f csv` writes: the one named, else the main one (the first for csv
        and json unless the report names another); raise KeyError naming the tables there are."""
        tables = [t for t in self.tables if t.machine]
        if name is None:
            name = self.main or (tables[0].name if tables else None)
        for table in tables:
            if table.name == name:
                return table
        raise KeyError(f"no table {name!r} in {self.called}; its tables are {', '.join(t.name for t in tables)}")

    def table(self, name: str) -> Table:
        """Return the table called `name` (its key in JSON); raise KeyError listing the names."""
        for table in self.tables:
            if table.name == name:
                return table
        raise KeyError(f"no table {name!r} in {self.called}; its tables are {', '.join(t.name for t in self.tables)}")


MARK = "*"


_WIDE = Context(prec=400)  # enough digits for any float: 1e28 needs 29 at 0 decimals, the default context 28


def half_up(value: float, places: int = 1, scale: int = 0) -> Decimal:
    """Return value times 10^scale rounded half up at `places` decimals, as people round (5.25 ->
    5.3). Scaled as a decimal: 0.5125 * 100 in floats is 51.24999999999999, which rounds down."""
    return Decimal(repr(value)).scaleb(scale).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP, context=_WIDE)


def rate_change(new: float | None, old: float | None) -> float | None:
    """Return the change of a rate as the table shows both: the difference of the rates rounded as
    they are shown (0.1 of a percent), so that 68.4% against 56.8% reads +11.6 pp, never +11.7."""
    if new is None or old is None:
        return None
    return float((half_up(new, scale=2) - half_up(old, scale=2)) / 100)  # divided as decimals: 0.011, not 0.011000000000000001


def cell(value: Any, kind: str) -> str:
    """Return a value as people read it in a table."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return EMPTY
    if kind == "count":
        return f"{value:,}"
    if kind == "rate":
        return f"{half_up(value, scale=2)}%"
    if kind == "days":
        return f"{half_up(value).normalize():,f}"
    if kind == "number":  # an amount or a count from the export, whole: 1,234,567 (never 1.23457e+06), 12,345.67
        return f"{half_up(value, 2).normalize():,f}"
    if kind == "money":
        return f"{half_up(value, 0):,f}"
    if kind == "pp":
        return f"{half_up(value, scale=2):+} pp"
    if kind == "delta":
        return f"{value:+,}"
    return str(value)
