"""Inline SVG charts for the HTML output (and the mail's HTML part): the funnel as bars, stuck leads
by stage, cohort rates over time as lines with immature points hollow. Self-contained: no script,
no external asset, no CSS class; every label escaped. Each chart is drawn from a table the report
already has, so a chart never shows a number the tables don't.
"""

from __future__ import annotations

import html
import math

from funnelcli.measures.model import Column, Table
from funnelcli.output.text import visible

WIDTH = 640
BAR = 22  # px per bar
COLORS = ("#2f6fb3", "#d9822b", "#3a9a5b", "#b34a4a", "#7b5aa6", "#5f8f9c")
LABEL_MAX = 200  # px for the bars' labels, at about 7 px a character
LABEL_CHARS = (LABEL_MAX - 8) // 7 - 1  # the characters that fit in it, with room for the ellipsis
FONT = 'font-family="-apple-system,Segoe UI,Helvetica,Arial,sans-serif" font-size="12"'


def charts_for(table: Table) -> list[str]:
    """Return the SVG charts a table gives: bars of reached per stage (a conversion table), of
    stuck per stage (a purgatory table), lines of its rates per period (a cohort table); none for
    a table broken down by a group."""
    keys = {c.key: c for c in table.columns}
    if not table.rows or "group" in keys:
        return []
    first = table.columns[0].key
    out = []
    if first == "stage" and "reached" in keys and "step_rate" in keys:  # a stage-by-stage conversion table
        out.append(bars("Leads reaching each stage", _pairs(table, "reached")))
    if first == "stage" and "stuck" in keys and "stuck_share" in keys:  # a table of stuck leads per stage
        stuck = [(label, value) for label, value in _pairs(table, "stuck") if value is not None]
        if any(value for _, value in stuck):
            out.append(bars("Stuck leads by stage", stuck, color=COLORS[1]))
    rates = [c for c in table.columns if c.kind == "rate" and c.key.startswith("rate:") and not c.hidden]
    if "period" in keys and any(_number(row.get(c.key)) is not None for c in rates for row in table.rows):  # no empty axes
        out.append(lines("Conversion rate by cohort (hollow, dashed: immature, still rising)", table, rates))
    return out


def _escaped(text: str) -> str:
    return html.escape(visible(text))


def _label(text: str, chars: int, middle: bool = False) -> str:
    """Return a label's escaped text cut to `chars` characters with an ellipsis (the SVG would cut
    it at its edge, or run it into the next), at the end or (`middle`) between its start and its
    end, the whole of it in a tooltip."""
    shown = visible(text)
    if len(shown) <= chars:
        return html.escape(shown)
    head = chars - 1 if not middle else (chars - 1) // 2
    cut = shown[:head] + "…" + (shown[len(shown) - (chars - 1 - head):] if middle else "")
    return f"<title>{html.escape(shown)}</title>{html.escape(cut)}"


def _labels(texts: list[str], chars: int) -> list[str]:
    """Return the labels cut to `chars` (see _label): at the end, unless two would then read the
    same ('Marketing Qualified Lea…' twice), when each keeps its start and its end."""
    cut = [visible(t)[:chars - 1] if len(visible(t)) > chars else visible(t) for t in texts]
    middle = len(set(cut)) < len(set(map(visible, texts)))
    return [_label(t, chars, middle) for t in texts]


def _pairs(table: Table, key: str) -> list[tuple[str, float | None]]:
    return [(str(row.get(table.columns[0].key, "")), _number(row.get(key))) for row in table.rows]


def _number(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not (isinstance(value, float) and math.isnan(value)) else None


def bars(title: str, pairs: list[tuple[str, float | None]], color: str = COLORS[0]) -> str:
    """Return horizontal bars, one per label, the value written at the bar's end."""
    e = _escaped
    label_width = min(LABEL_MAX, 8 + 7 * max((len(label) for label, _ in pairs), default=4))
    top = max((v for _, v in pairs if v is not None), default=0) or 1
    span = WIDTH - label_width - 70
    height = 28 + BAR * len(pairs)
    parts = [_open(title, height), f'<text x="0" y="14" {FONT} font-weight="bold">{e(title)}</text>']
    shown = _labels([label for label, _ in pairs], LABEL_CHARS)
    for i, (_, value) in enumerate(pairs):
        y = 24 + i * BAR
        parts.append(f'<text x="{label_width - 6}" y="{y + 14}" {FONT} text-anchor="end">{shown[i]}</text>')
        if value is None:
            parts.append(f'<text x="{label_width + 4}" y="{y + 14}" {FONT} fill="#777">-</text>')
            continue
        w = max(1.0, span * value / top) if value else 0.0
        parts.append(f'<rect x="{label_width}" y="{y + 3}" width="{w:.1f}" height="{BAR - 6}" fill="{color}"/>')
        parts.append(f'<text x="{label_width + w + 4:.1f}" y="{y + 14}" {FONT}>{e(f"{value:,.0f}")}</text>')
    return "".join(parts) + "</svg>"


def lines(title: str, table: Table, rates: list[Column]) -> str:
    """Return a line per rate over the table's periods, 0-100%; an immature point is hollow, a
    missing one breaks the line."""
    e = _escaped
    periods = [str(row.get("period", "")) for row in table.rows]
    left, right, top, plot_h = 40, 40, 28, 180
    longest = max((len(visible(c.label)) for c in rates), default=0)

    def room(per_row: int) -> int:  # the characters of a legend entry, per_row to a row: its swatch and gap 20 px
        return ((WIDTH - left) // per_row - 20) // 7

    per_row = next((n for n in (3, 2) if longest <= room(n)), 1)  # long names: fewer entries a row
    entry = (WIDTH - left) // per_row
    legend_h = 18 * ((len(rates) + per_row - 1) // per_row)
    height = top + plot_h + 34 + legend_h
    step = (WIDTH - left - right) / max(1, len(periods) - 1)
    x = [left + i * step for i in range(len(periods))]

    def y(rate: float) -> float:
        return top + plot_h * (1 - max(0.0, min(1.0, rate)))

    parts = [_open(title, height), f'<text x="0" y="14" {FONT} font-weight="bold">{e(title)}</text>']
    for pct in (0, 25, 50, 75, 100):
        parts.append(f'<line x1="{left}" y1="{y(pct / 100):.1f}" x2="{WIDTH - right}" y2="{y(pct / 100):.1f}" stroke="#e5e5e5"/>')
        parts.append(f'<text x="{left - 4}" y="{y(pct / 100) + 4:.1f}" {FONT} text-anchor="end" fill="#777">{pct}%</text>')
    for i, anchor in _axis_labels(periods, x):
        parts.append(f'<text x="{x[i]:.1f}" y="{top + plot_h + 16}" {FONT} text-anchor="{anchor}" fill="#555">{e(periods[i])}</text>')
    legend = _labels([c.label for c in rates], room(per_row))
    for n, col in enumerate(rates):
        color = COLORS[n % len(COLORS)]
        points = [(x[i], _number(row.get(col.key)), bool(col.mark and row.get(col.mark))) for i, row in enumerate(table.rows)]
        parts += _polylines(points, y, color)
        for px, rate, immature in points:
            if rate is not None:
                fill = "#ffffff" if immature else color
                parts.append(f'<circle cx="{px:.1f}" cy="{y(rate):.1f}" r="3" fill="{fill}" stroke="{color}" stroke-width="1.5"/>')
        lx, ly = left + (n % per_row) * entry, top + plot_h + 34 + 18 * (n // per_row)
        parts.append(f'<rect x="{lx}" y="{ly - 9}" width="10" height="10" fill="{color}"/>')
        parts.append(f'<text x="{lx + 14}" y="{ly}" {FONT}>{legend[n]}</text>')
    return "".join(parts) + "</svg>"


def _axis_labels(periods: list[str], x: list[float]) -> list[tuple[int, str]]:
    """Return the periods to label on the axis (the first, the last, and between them as many as
    fit, about 7 px a character and a gap), with their anchors: no label runs into the next."""
    n = len(periods)
    if n == 0:
        return []
    if n == 1:
        return [(0, "start")]

    def extent(i: int) -> tuple[float, float, str]:
        w = 7 * len(periods[i])
        if i == 0:
            return x[i], x[i] + w, "start"
        if i == n - 1:
            return x[i] - w, x[i], "end"
        return x[i] - w / 2, x[i] + w / 2, "middle"

    gap = 8
    last_left = extent(n - 1)[0]
    chosen, right = [(0, "start")], extent(0)[1]
    for i in range(1, n - 1):
        lo, hi, anchor = extent(i)
        if lo >= right + gap and hi + gap <= last_left:
            chosen.append((i, anchor))
            right = hi
    if last_left >= extent(0)[1] + gap:
        chosen.append((n - 1, "end"))
    return chosen


DASHED = 'stroke-dasharray="4 3" stroke-opacity="0.6"'  # a segment to an immature point: not a trend yet


def _polylines(points: list[tuple[float, float | None, bool]], y, color: str) -> list[str]:
    """Return the line through the known points, broken where a value is missing, and dashed
    (faint) into and between immature points: a rate still rising is no fall."""
    out: list[str] = []
    run: list[str] = []
    dashed = None  # the style of the run being drawn
    previous = None
    for px, rate, immature in points + [(0.0, None, False)]:
        here = None if rate is None else (f"{px:.1f},{y(rate):.1f}", immature)
        style = None if here is None or previous is None else (previous[1] or here[1])
        if style != dashed or here is None:  # the run ends: a gap, or the style changes
            if len(run) > 1:
                out.append(f'<polyline points="{" ".join(run)}" fill="none" stroke="{color}" stroke-width="2"'
                           f'{" " + DASHED if dashed else ""}/>')
            run = [previous[0]] if style is not None else []
            dashed = style
        if here is not None:
            run.append(here[0])
        previous = here
    return out


def _open(title: str, height: int) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" '
            f'role="img" aria-label="{html.escape(visible(title))}" style="display:block;margin:8px 0 4px 0;">')
