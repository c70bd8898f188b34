"""One renderer per output format, over the report model of `funnelcli.measures.model`.

Each renderer turns a `Report` into text. Nothing here knows pandas. Every value is data: control
characters are shown, never sent (`visible`); rich never reads markup in a value; Markdown and
HTML escape theirs; CSV guards cells a spreadsheet would run as formulas.
"""

from __future__ import annotations

import csv
import html
import io
import json
import math
import re
import textwrap
from dataclasses import dataclass, field
from typing import Any

from funnelcli.errors import FunnelError, option
from funnelcli.measures.model import EMPTY, MARK, NUMERIC, Column, Report, Table, Uncounted, cell
from funnelcli.output.text import _BEYOND_C0, visible

FORMATS = ("table", "text", "markdown", "csv", "json", "html")

BLOCKS = "▁▂▃▄▅▆▇█"
ASCII_BLOCKS = "_.-~=+*#"


def sparkline(values: list, ascii_only: bool = False) -> str:
    """Return a sparkline of the values (None leaves a gap)."""
    blocks = ASCII_BLOCKS if ascii_only else BLOCKS
    known = [v for v in values if v is not None]
    if not known:
        return ""
    low, high = min(known), max(known)
    span = high - low
    out = []
    for v in values:
        if v is None:
            out.append(" ")
        else:
            out.append(blocks[int(round((v - low) / span * (len(blocks) - 1))) if span else len(blocks) // 2])
    return "".join(out).rstrip()


def _shown(table: Table, choice: tuple[str, ...] | None = None) -> list[Column]:
    """Return the columns a human format shows: not hidden; without a choice not `extra` either;
    ('all',): every one; names (a key or a label, any case): the row's label and those named."""
    shown = [c for c in table.columns if not c.hidden]
    if choice is None:
        return [c for c in shown if not c.extra]
    if tuple(n.strip().casefold() for n in choice) == ("all",):
        return shown
    wanted = {n.strip().casefold() for n in choice}
    return [c for c in shown if _is_key(c, shown) or c.key.casefold() in wanted or c.label.casefold() in wanted]


def _is_key(col: Column, cols: list[Column]) -> bool:
    """Return whether a column labels its row: a group, or the first column that is not one."""
    return col.kind == "group" or col is next((c for c in cols if c.kind != "group"), None)


SHORT_CELL = 24  # characters of a text value that HTML keeps on one line (an id, a date, a stage, an owner)


def _cells(table: Table, ascii_only: bool = False, cols: list[Column] | None = None) -> list[list[str]]:
    """Return the table's cells as shown: every value whole (style rule 7: nothing is cut; a
    table too wide for the terminal leaves columns out, or lists its rows, and says so)."""
    cols = _shown(table) if cols is None else cols
    out = []
    previous_group = None
    for row in table.rows:
        line = []
        for col in cols:
            if col.kind == "group":
                whole = visible(str(row.get(col.key, "")))
                line.append(whole if whole != previous_group else "")  # a group's label once, on its first row
                previous_group = whole
                continue
            if col.kind == "spark":
                line.append(sparkline(row.get(col.key) or [], ascii_only))
                continue
            if col.kind == "flag":
                line.append(col.flag if row.get(col.key) else "")
                continue
            text = visible(cell(row.get(col.key), col.kind_for(row)))
            if col.mark and row.get(col.mark) and text != EMPTY:
                text += MARK
            line.append(text)
        out.append(line)
    return out


# --------------------------------------------------------------------------------------------
# Fitting a width: a number is shown whole, or its column is left out and a note says so; when
# even the columns that matter most don't fit, the rows are shown as a list (stacked)


@dataclass
class Layout:
    """A table as a human format shows it at a width: its columns, their cells, how."""

    cols: list[Column]
    body: list[list[str]]
    left_out: list[Column]
    stacked: bool = False
    heads: dict[int, list[str]] = field(default_factory=dict)  # id(column) -> its label's lines, where wrapped to fit

    def head(self, col: Column) -> list[str]:
        return self.heads.get(id(col)) or [visible(col.label)]

    def widths(self) -> list[int]:
        """Return each column's width: its label's lines and its cells."""
        return [max([_span(x) for x in self.head(c)] + [_cells_span(c, [r[i] for r in self.body])]) for i, c in enumerate(self.cols)]

    def marked(self) -> list[bool]:
        """Return which columns hold marked numbers (12.5%*): their mark hangs past the digits."""
        return [_is_marked(c, [r[i] for r in self.body]) for i, c in enumerate(self.cols)]


def _is_marked(col: Column, values: list[str]) -> bool:
    return col.kind in NUMERIC and col.mark is not None and any(v.endswith(MARK) for v in values)


def _cells_span(col: Column, values: list[str]) -> int:
    """Return the columns a column's cells take: in a column of marked numbers the mark (or a
    space) hangs past the digits, so it is one more than its widest number (12.5% is 12.5%_)."""
    if _is_marked(col, values):
        return _column_span([v.removesuffix(MARK) for v in values]) + 1
    return _column_span(values)


def _hang(value: str, width: int) -> str:
    """Return a number of a marked column right-aligned in `width`, its mark (or a space) past the digits."""
    return _rjust(value.removesuffix(MARK), width - 1) + (MARK if value.endswith(MARK) else " ")


HEAD_LINES = 3  # lines a column's label may take when a table is too wide for its labels on one line


def _wrap_label(label: str, width: int) -> list[str]:
    """Return the label in lines of at most `width` columns, broken at spaces and after '->'
    (a longer word stays whole)."""
    words = re.findall(r"\S+?->|\S+", label)
    lines: list[str] = []
    for word in words:
        joined = (lines[-1] + ("" if lines[-1].endswith("->") else " ") + word) if lines else word
        if lines and _span(joined) <= width:
            lines[-1] = joined
        else:
            lines.append(word)
    return lines or [label]


def _narrow_label(label: str, cells: int) -> list[str]:
    """Return the label wrapped as narrow as it goes in HEAD_LINES lines, but never narrower than
    the column's cells."""
    for w in range(max(cells, 1), _span(label) + 1):
        lines = _wrap_label(label, w)
        if len(lines) <= HEAD_LINES and max(_span(x) for x in lines) <= max(w, cells):
            return lines
    return [label]


def _layout(table: Table, choice: tuple[str, ...] | None, width: int | None, ascii_only: bool, gap: int) -> Layout:
    """Return the columns that fit `width` (None: any width), leaving out first the columns of the
    highest priority number (the rightmost first), never a row's label; when only two more would
    remain, the rows are listed instead (stacked). `gap` is the space between columns."""
    cols = _shown(table, choice)
    every = _cells(table, ascii_only, cols)
    cells = [_cells_span(c, [r[i] for r in every]) for i, c in enumerate(cols)]  # the widest cell of each column
    widths = {id(c): max(_span(visible(c.label)), cells[i]) for i, c in enumerate(cols)}

    def needed(chosen: list[Column]) -> int:
        return sum(widths[id(c)] for c in chosen) + gap * (len(chosen) - 1)

    heads: dict[int, list[str]] = {}
    if width is not None and table.rows and needed(cols) > width:  # labels on a few lines before leaving columns out
        for i, c in enumerate(cols):
            lines = _narrow_label(visible(c.label), cells[i])
            if len(lines) > 1:
                heads[id(c)] = lines
                widths[id(c)] = max([cells[i]] + [_span(x) for x in lines])
    if width is None or not table.rows or needed(cols) <= width:
        return Layout(cols, every, [], heads=heads)
    empty = {id(c) for i, c in enumerate(cols) if all(r[i] in ("", "0", EMPTY) for r in every)}  # says nothing
    kept, left_out = list(cols), []
    while needed(kept) > width:
        values = [c for c in kept if not _is_key(c, kept)]
        if len(values) <= 2:  # a table of its label and one or two numbers is no table: list the rows
            return Layout(cols, every, [], stacked=True)  # a list shows each label whole
        # the highest priority number first; among those, a column of zeros, then the rightmost
        victim = max(values, key=lambda c: (c.priority, id(c) in empty, kept.index(c)))
        if victim.whole:  # columns that add up (the four buckets) go together or not at all: list the rows
            return Layout(cols, every, [], stacked=True)
        going = [c for c in kept if c is victim or (victim.together and c.together == victim.together)]
        kept = [c for c in kept if not any(c is g for g in going)]
        left_out[:0] = going
    for c in sorted(left_out, key=lambda c: (c.priority, id(c) in empty, cols.index(c))):  # a narrow one may fit again
        if not any(x is c for x in left_out):  # came back with its fellows
            continue
        back = [x for x in left_out if x is c or (c.together and x.together == c.together)]
        trial = [x for x in cols if any(x is k for k in kept) or any(x is b for b in back)]
        if needed(trial) <= width:
            kept = trial
            left_out = [x for x in left_out if not any(x is b for b in back)]
    shown = [i for i, c in enumerate(cols) if any(c is k for k in kept)]  # once, not per row
    body = [[r[i] for i in shown] for r in every]
    left_out.sort(key=lambda c: next(i for i, x in enumerate(cols) if x is c))  # named in the table's order
    return Layout(kept, body, left_out, heads=heads)


def _notes_around(table: Table, layout: Layout, width: int | None) -> tuple[list[str], list[str]]:
    """Return the lines before a table as shown and those after it: the fit note goes first when
    the rows are a list (which may run for pages), else last, after the notes of the columns shown."""
    note = _fit_note(layout, width)
    after = [visible(n) for n in table.notes_for(layout.cols)]
    if note and layout.stacked:
        return [note], after
    return [], after + ([note] if note else [])


def _fit_note(layout: Layout, width: int | None) -> str | None:
    """Return the line that says which columns were left out, or that the rows are a list, and how
    to get the rest."""
    if layout.stacked:
        return (f"Shown as a list: the table is wider than {width} columns. Choose fewer columns with --columns "
                "(the names are -f csv's header), or widen the terminal.")
    if layout.left_out:
        names = ", ".join(visible(c.label) for c in layout.left_out)
        return (f"Left out to fit {width} columns: {names}. Choose the columns with --columns (the names are "
                "-f csv's header), or widen the terminal.")
    return None


def _stacked(table: Table, layout: Layout, columns: int | None = None) -> list[str]:
    """Return the rows as a list: the row's label, then a line per column, for a narrow terminal
    (a long text value wraps at spaces to `columns`; a number is never split)."""
    keys = [i for i, c in enumerate(layout.cols) if _is_key(c, layout.cols)]
    values = [i for i in range(len(layout.cols)) if i not in keys]
    width = max((len(visible(layout.cols[i].label)) for i in values), default=0)
    room = (columns - width - 4) if columns else None
    out: list[str] = []
    group = None
    for row in layout.body:
        label = [row[i] for i in keys if row[i]]
        if len(keys) > 1 and row[keys[0]]:
            group = row[keys[0]]
        heading = " / ".join(([group] if len(keys) > 1 and group and not row[keys[0]] else []) + label)
        out += ([""] if out else []) + ((textwrap.wrap(heading, columns, break_long_words=False, break_on_hyphens=False) or [heading])
                                        if columns else [heading])
        for i in values:
            label_text = visible(layout.cols[i].label)
            if room is None or len(row[i]) <= room:
                out.append(f"  {label_text.ljust(width)}  {row[i]}")
            elif room > 20:  # wrap beside the label
                lines = textwrap.wrap(row[i], room, break_long_words=False, break_on_hyphens=False) or [""]
                out += [f"  {label_text.ljust(width)}  {lines[0]}"] + [" " * (width + 4) + more for more in lines[1:]]
            else:  # labels too wide to wrap beside: the value under its label
                out += textwrap.wrap(label_text, max(columns, 20), initial_indent="  ", subsequent_indent="  ",
                                     break_long_words=False, break_on_hyphens=False) + ["    " + more for more in textwrap.wrap(row[i], max(columns - 4, 20), break_long_words=False,
                                                                                       break_on_hyphens=False)]
    return out


def _group_starts(table: Table) -> set[int]:
    """Return the row indexes where a new group begins (after the first)."""
    keys = [c.key for c in table.columns if c.kind == "group"]
    if not keys:
        return set()
    starts = set()
    for i in range(1, len(table.rows)):
        if table.rows[i].get(keys[0]) != table.rows[i - 1].get(keys[0]):
            starts.add(i)
    return starts


# --------------------------------------------------------------------------------------------
# text: plain, fixed width, no escape codes; reads well in a mail client with a monospace font


def render_text(report: Report, ascii_only: bool = False, width: int | None = None, columns: tuple[str, ...] | None = None) -> str:
    v = visible
    title = v(report.title)
    out = [title, "=" * len(title)]
    label_width = max((len(v(label)) for label, _ in report.meta), default=0)
    out += [f"{v(label).ljust(label_width)}  {v(text)}" for label, text in report.meta]
    for table in report.tables:
        out.append("")
        if table.title:
            out += [v(table.title), "-" * len(v(table.title))]
        layout = _layout(table, columns, width, ascii_only, gap=2)
        before, after = _notes_around(table, layout, width)
        out += before
        out += _stacked(table, layout, width) if layout.stacked else _text_table(table, ascii_only, layout)
        out += after
    if report.notes:
        out.append("")
        out += [v(n) for n in report.notes]
    return "\n".join(out) + "\n"


def _column_span(values: list[str]) -> int:
    """Return the columns the widest of `values` takes (one pass in C for a column of ASCII)."""
    if not values:
        return 0
    if "".join(values).isascii():
        return max(map(len, values))
    return max(map(_span, values))


def _span(text: str) -> int:
    """Return the columns `text` takes on a terminal: 2 for a wide character (李), 0 for a combining one."""
    from rich.cells import cell_len

    return cell_len(text) if not text.isascii() else len(text)


def _ljust(text: str, width: int) -> str:
    return text + " " * (width - (len(text) if text.isascii() else _span(text)))


def _rjust(text: str, width: int) -> str:
    return " " * (width - (len(text) if text.isascii() else _span(text))) + text


def _text_table(table: Table, ascii_only: bool = False, layout: Layout | None = None) -> list[str]:
    if not table.rows:
        return ["(no rows)"]
    layout = layout or _layout(table, None, None, ascii_only, gap=2)
    cols, body = layout.cols, layout.body
    heads, widths, marked = [layout.head(c) for c in cols], layout.widths(), layout.marked()

    def fmt(values: list[str], heading: bool = False) -> str:
        parts = []
        for i, (col, value) in enumerate(zip(cols, values)):
            if marked[i] and not heading:  # the mark hangs after the number, so the numbers stay aligned
                parts.append(_hang(value, widths[i]))
            elif col.kind in NUMERIC:
                parts.append(_rjust(value, widths[i]))
            else:
                parts.append(_ljust(value, widths[i]))
        return "  ".join(parts).rstrip()

    depth = max(len(h) for h in heads)  # a wrapped label's lines end on the rule, under one another
    lines = [fmt([(h[j - depth + len(h)] if j - depth + len(h) >= 0 else "") for h in heads], heading=True) for j in range(depth)]
    lines.append(fmt(["-" * w for w in widths], heading=True))
    starts = _group_starts(table)
    for i, row in enumerate(body):
        if i in starts:
            lines.append("")
        lines.append(fmt(row))
    return lines


# --------------------------------------------------------------------------------------------
# table: rich, for a terminal


LONG_TABLE = 500  # rows: a longer table is drawn as plain text (rich takes seconds for thousands of rows)


def render_table(report: Report, color: bool = False, width: int | None = None, ascii_only: bool = False,
                 columns: tuple[str, ...] | None = None) -> str:
    from rich.text import Text

    v = visible  # and every string goes in as Text: rich reads no markup in a value or a name
    segments: list = [Text(v(report.title), style="bold")]  # rich renderables, and plain lines (str)
    for label, text in report.meta:
        segments.append(Text.assemble((f"{v(label)}: ", "dim"), v(text)))
    for table in report.tables:
        long = len(table.rows) > LONG_TABLE  # drawn as the text layout, past rich (seconds for thousands of rows)
        layout = _layout(table, columns, width, ascii_only, gap=2)
        before, after = _notes_around(table, layout, width)
        segments.append(Text(""))
        if layout.stacked or long or not table.rows:  # no rows: a line that says so, no header of empty columns
            if table.title:
                segments.append(Text(v(table.title), style="bold"))
            segments += [Text(line, style="dim") for line in before]
            segments.append("\n".join(_stacked(table, layout, width) if layout.stacked else _text_table(table, ascii_only, layout)))
        else:
            segments.append(_rich_grid(table, layout, ascii_only))
        segments += [Text(line, style="dim") for line in after]
    if report.notes:
        segments.append(Text(""))
        for note in report.notes:
            segments.append(Text(v(note)))
    return _print_segments(segments, color, width)


def _print_segments(segments: list, color: bool, width: int | None) -> str:
    """Return rich renderables printed at `width` (off a terminal: the widest one's natural width,
    as rich would otherwise squeeze to 80), with the plain lines (str) between them as they are."""
    from rich.console import Console, Group

    probe = Console(file=io.StringIO(), width=1 << 20, color_system=None)  # wide enough for any value whole
    natural = max((probe.measure(p).maximum for p in segments if not isinstance(p, str)), default=1)
    out: list[str] = []
    run: list = []

    def flush() -> None:
        if not run:
            return
        buffer = io.StringIO()
        console = Console(file=buffer, width=width or natural, color_system="standard" if color else None,
                          force_terminal=color, no_color=not color, highlight=False, emoji=False, soft_wrap=False)
        console.print(Group(*run))
        out.extend(line.rstrip() for line in buffer.getvalue().splitlines())
        run.clear()

    for segment in segments:
        if isinstance(segment, str):
            flush()
            out.extend(segment.splitlines())
        else:
            run.append(segment)
    flush()
    return "\n".join(out) + "\n"


def _rich_grid(table: Table, layout: Layout, ascii_only: bool):
    """Return a rich table of the layout's columns: two spaces between columns (a cell's right
    padding and the box's blank divider), no edges, so that it is as wide as the layout measured."""
    from rich import box
    from rich.table import Table as RichTable
    from rich.text import Text

    grid = RichTable(title=Text(visible(table.title), style="bold") if table.title else None, title_justify="left",
                     pad_edge=False, show_edge=False, collapse_padding=True, padding=(0, 1, 0, 0),
                     box=box.ASCII2 if ascii_only else box.SIMPLE_HEAD)
    depth = max((len(layout.head(c)) for c in layout.cols), default=1)
    # a column with marked numbers (12.5%*) hangs the mark past the digits, as -f text does: its
    # cells and label are laid out here, left-justified (rich drops a cell's trailing space)
    marked, widths = layout.marked(), layout.widths()
    for j, col in enumerate(layout.cols):
        head = [""] * (depth - len(layout.head(col))) + layout.head(col)
        if marked[j]:
            head = [_rjust(x, widths[j]) for x in head]
        grid.add_column(Text("\n".join(head)), justify="right" if col.kind in NUMERIC and not marked[j] else "left",
                        no_wrap=True, style="bold" if col.kind == "group" else None)
    starts = _group_starts(table)
    for i, row in enumerate(layout.body):
        cells = [_hang(text, widths[j]) if marked[j] else text for j, text in enumerate(row)]
        grid.add_row(*(Text(text) for text in cells), end_section=(i + 1) in starts)
    return grid


# --------------------------------------------------------------------------------------------
# markdown: GitHub-flavoured, for chat and $GITHUB_STEP_SUMMARY


_MD_ACTIVE = re.compile(r"([\\`*_\[\]<|~&@$])")  # emphasis, code, links, raw HTML, cells, strikethrough, entities, mentions, math


_MD_AUTOLINK = re.compile(r"(?i)(?<=www)\.|:(?=//)")  # GitHub links 'www.x.com' and 'http://x' in plain text


def _md_escape(text: str) -> str:
    """Return text that Markdown shows as it is: no emphasis, link, HTML or cell break of its own
    (a URL stays text: the '.' after www and the ':' before // are escaped, which shows them as
    they are and keeps GitHub from linking them)."""
    return _MD_AUTOLINK.sub(lambda m: "\\" + m.group(), _MD_ACTIVE.sub(r"\\\1", visible(text)))


def render_markdown(report: Report, ascii_only: bool = False, columns: tuple[str, ...] | None = None) -> str:
    out = [f"## {_md_escape(report.title)}", ""]
    out += [f"- **{_md_escape(label)}:** {_md_escape(text)}" for label, text in report.meta]
    for table in report.tables:
        out.append("")
        if table.title:
            out += [f"### {_md_escape(table.title)}", ""]
        if not table.rows:
            out.append("_No rows._")
        else:
            cols = _shown(table, columns)
            out.append("| " + " | ".join(_md_escape(c.label) for c in cols) + " |")
            out.append("|" + "|".join("---:" if c.kind in NUMERIC else ":---" for c in cols) + "|")
            out += ["| " + " | ".join(_md_escape(v) for v in row) + " |" for row in _cells(table, ascii_only, cols)]
        notes = table.notes_for(_shown(table, columns))
        if notes:
            out.append("")
            out += [f"{_md_escape(n)}  " for n in notes]
    if report.notes:
        out.append("")
        out += [f"{_md_escape(n)}  " for n in report.notes]
    return "\n".join(out).rstrip() + "\n"


# --------------------------------------------------------------------------------------------
# csv: the tables with their JSON field names; rates as fractions


WHOLE = ("count", "number", "days", "money")  # kinds whose whole values print without ".0"


def _raw(value: Any, kind: str = "text") -> Any:
    """Return a value for csv and json: NaN as None, 81.0 as 81 where the column is a count or days."""
    if not isinstance(value, (str, bytes, int, float)) and hasattr(value, "item"):
        value = value.item()  # a numpy scalar (days kept as float32 are no Python float): as Python's
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if kind in WHOLE and value.is_integer():
            return int(value)
        if kind == "days":  # an interpolated percentile: 5.2, not 5.200000000000001
            return round(value, 6)
    return value


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # a spreadsheet runs a cell that starts so (OWASP)


def _guarded(value: Any) -> Any:
    """Return a text cell a spreadsheet shows as text: one that would start a formula gets a
    leading apostrophe, and control characters are written out. Numbers stay numbers."""
    if not isinstance(value, str):
        return value
    return ("'" if value.startswith(FORMULA_STARTS) else "") + visible(value)


def render_csv(report: Report, guard: bool = True, table: str | None = None) -> str:
    """Return one of the report's tables as CSV, a header and rows that load as they are: the
    report's main table, or the one named by `table`. With `guard` (the default), text cells that
    would start a formula get a leading apostrophe and control characters are written out;
    without, cells are written as they are (for pipelines that read CSV as data, not spreadsheets)."""
    chosen = report.csv_table(table)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    keys = _csv_keys(chosen)
    kinds = _kinds(chosen)
    writer.writerow(keys)
    for row in chosen.rows:
        values = (_raw(row.get(k), kinds.get(k) or _field_kind(k)) for k in keys)
        # true/false as JSON writes them (the header is JSON's field names), not Python's True/False
        writer.writerow(["" if v is None else ("true" if v else "false") if isinstance(v, bool) else _guarded(v) if guard else v
                         for v in values])
    return buffer.getvalue()


def _kinds(table: Table) -> dict[str, str]:
    return {c.key: c.kind for c in table.columns}


def _field_kind(key: str) -> str:
    """Return the kind of a field a table's rows carry without a column of it (the report's tables
    reuse rows of fuller ones): days and money by their names, as the fuller tables declare them,
    so that a cell is written alike by every command (729, not 729.0)."""
    if key.endswith("_days") or "_days_" in key or key.startswith("days_"):
        return "days"
    if key == "amount" or key.startswith("value_at_risk"):  # value_at_risk:USD too
        return "money"
    return "text"


def _csv_keys(table: Table) -> list[str]:
    """Return the CSV header: the table's columns (hidden and extra ones too), then every other
    field its rows have a plain value for, as JSON has them (entered, age_unknown, ...)."""
    keys = []
    for col in table.columns:
        if col.kind == "spark":
            continue
        keys.append(col.key)
        if col.mark and col.mark not in keys:
            keys.append(col.mark)
    sparks = {c.key for c in table.columns if c.kind == "spark"}
    known = set(keys) | sparks
    for row in table.rows:
        for key, value in row.items():
            if key not in known and (value is None or isinstance(value, (str, int, float, bool))):
                keys.append(key)
                known.add(key)
    return keys


# --------------------------------------------------------------------------------------------
# json: one object; tables as lists of objects with named fields


def _plain(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def render_json(report: Report) -> str:
    document = {"kind": report.kind, **report.data}
    tables = {}
    for table in (t for t in report.tables if t.machine):
        keys = _csv_keys(table)
        kinds = _kinds(table)
        extra = [k for row in table.rows[:1] for k in row if k not in keys]
        tables[table.name] = [{k: _plain(_raw(row.get(k), kinds.get(k) or _field_kind(k))) for k in keys + extra} for row in table.rows]
    document["tables"] = tables
    # a table's notes of the leads it can't count (the leads no window checks, say) too; its
    # legends are the text's: the fields have names
    table_notes = [str(n) for t in report.tables if t.machine for n in t.notes if isinstance(n, Uncounted)]
    document["notes"] = list(dict.fromkeys(table_notes + list(report.notes)))
    text = json.dumps(_plain(document), indent=2, allow_nan=False, ensure_ascii=False)
    # json escapes C0 controls; escape C1 ones (a terminal may read \x9b as an escape) and the rest
    return _BEYOND_C0.sub(lambda m: f"\\u{ord(m.group()):04x}", text) + "\n"


# --------------------------------------------------------------------------------------------
# html: one self-contained document, inline styles only, no scripts; every value escaped

_FONT = "font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;"
_CELL = "padding:4px 10px;border-bottom:1px solid #e5e5e5;"


def render_html(report: Report, ascii_only: bool = False, columns: tuple[str, ...] | None = None) -> str:
    from funnelcli.output.charts import charts_for

    def e(text: str) -> str:
        return html.escape(visible(text))

    out = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        '<head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{e(report.title)}</title></head>",
        f'<body style="{_FONT}color:#1a1a1a;margin:16px;">',
        f'<h1 style="font-size:20px;margin:0 0 8px 0;">{e(report.title)}</h1>',
        '<table role="presentation" style="border-collapse:collapse;margin-bottom:12px;font-size:13px;color:#555;">',
    ]
    for label, text in report.meta:
        out.append(f'<tr><td style="padding:1px 12px 1px 0;font-weight:bold;">{e(label)}</td><td style="padding:1px 0;">{e(text)}</td></tr>')
    out.append("</table>")
    for table in report.tables:
        if table.title:
            out.append(f'<h2 style="font-size:16px;margin:18px 0 6px 0;">{e(table.title)}</h2>')
        if not table.rows:
            out.append('<p style="font-size:13px;color:#555;">No rows.</p>')
        else:
            # a table wider than the page scrolls in its own box instead of running off the page
            out.append('<div style="overflow-x:auto;max-width:100%;">')
            out.append('<table style="border-collapse:collapse;font-size:13px;">')
            out.append("<thead><tr>")
            cols = _shown(table, columns)
            for col in cols:
                align = "right" if col.kind in NUMERIC else "left"
                out.append(f'<th style="{_CELL}text-align:{align};background:#f4f4f4;">{e(col.label)}</th>')
            out.append("</tr></thead><tbody>")
            for row in _cells(table, ascii_only, cols):
                out.append("<tr>")
                for col, value in zip(cols, row):
                    # a number, a date, a name never breaks; a long text wraps at its spaces (a word
                    # longer than the page, within it)
                    style = ("text-align:right;white-space:nowrap;" if col.kind in NUMERIC else "text-align:left;white-space:nowrap;"
                             if col.kind in ("spark", "flag") or len(value) <= SHORT_CELL else "text-align:left;overflow-wrap:anywhere;word-break:break-word;min-width:16em;")
                    out.append(f'<td style="{_CELL}{style}">{e(value)}</td>')
                out.append("</tr>")
            out.append("</tbody></table></div>")
        for note in table.notes_for(_shown(table, columns)):
            out.append(f'<p style="font-size:12px;color:#555;margin:4px 0;">{e(note)}</p>')
        out += charts_for(table)  # inline SVG, drawn from this table's own numbers
    if report.notes:
        out.append('<div style="margin-top:14px;font-size:12px;color:#555;">')
        out += [f'<p style="margin:2px 0;">{e(n)}</p>' for n in report.notes]
        out.append("</div>")
    out += ["</body>", "</html>"]
    return "\n".join(out) + "\n"


def _check_columns(report: Report, names: tuple[str, ...]) -> None:
    """Raise naming a column that no table of the report has (by key or label), with the columns."""
    known = {n.casefold() for t in report.tables for c in t.columns for n in (c.key, c.label)}
    unknown = [n for n in names if n.strip().casefold() not in known]
    if unknown:
        main = report.csv_table() if any(t.machine for t in report.tables) else report.tables[0]
        raise FunnelError(f"{option('columns')}{unknown[0]!r}: no such column in {report.called}; "
                          f"its {main.name} table has {', '.join(c.key for c in main.columns if not c.hidden)} (or 'all')")


def render(report: Report, fmt: str, color: bool = False, width: int | None = None, ascii_only: bool = False,
           csv_guard: bool = True, table: str | None = None, columns: tuple[str, ...] | None = None) -> str:
    """Return the report in a format of FORMATS (ascii_only: sparklines without Unicode blocks;
    csv_guard False: CSV cells as they are, no formula guard; table: the table CSV writes, else
    the main one; columns: the columns the human formats show, ('all',) or names, else the
    compact set; width: table and text leave out columns, or list the rows, to fit it)."""
    if columns and tuple(n.strip().casefold() for n in columns) != ("all",):
        _check_columns(report, columns)
    if fmt == "table":
        return render_table(report, color=color, width=width, ascii_only=ascii_only, columns=columns)
    if fmt == "csv":
        return render_csv(report, guard=csv_guard, table=table)
    if fmt == "json":
        return render_json(report)
    if fmt == "text":
        return render_text(report, ascii_only, width=width, columns=columns)
    return {"markdown": render_markdown, "html": render_html}[fmt](report, ascii_only, columns=columns)
