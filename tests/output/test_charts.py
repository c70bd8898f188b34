"""Charts in the HTML output (issue 12, point 9): inline SVG, self-contained, drawn from the
report's own tables: a chart never shows a number the tables don't."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import FIXTURES, run

PURGATORY = (str(FIXTURES / "purgatory.csv"), "-d", str(FIXTURES / "purgatory.yml"))
TRENDS = (str(FIXTURES / "trends.csv"), "-d", str(FIXTURES / "trends.yml"))


def svgs(page: str) -> list[str]:
    return re.findall(r"<svg .*?</svg>", page, re.S)


def test_conversion_draws_the_funnel_from_its_reached_column():
    # purgatory.csv: MQL 15, SAL 9, SQL 3, Won 1 reached (tests/test_purgatory.py derives them)
    page = run("conversion", *PURGATORY, "-f", "html", "-q").stdout
    (funnel,) = svgs(page)
    labels = re.findall(r'text-anchor="end">([^<]*)</text>', funnel)
    values = re.findall(r"<text x=\"[\d.]+\" y=\"\d+\" [^>]*>([\d,]+)</text>", funnel)
    assert labels == ["MQL", "SAL", "SQL", "Won"] and values == ["15", "9", "3", "1"]
    widths = [float(w) for w in re.findall(r'<rect x="\d+" y="[\d.]+" width="([\d.]+)"', funnel)]
    assert widths[0] > widths[1] > widths[2] > widths[3] > 0  # bars scale with the counts


def test_purgatory_draws_stuck_by_stage():
    # stuck: MQL 3, SAL 2, SQL 1 (Won has no SLA: no bar)
    page = run("purgatory", *PURGATORY, "-f", "html", "-q").stdout
    stuck = next(s for s in svgs(page) if "Stuck leads by stage" in s)
    assert re.findall(r'text-anchor="end">([^<]*)</text>', stuck) == ["MQL", "SAL", "SQL"]


def test_trends_draws_a_line_per_rate_with_immature_points_hollow():
    # trends.csv: the 2024-04 cohort's MQL->SQL (50%) and SQL->Won (0%) are immature (the table
    # marks them, and the cumulative rate, which the chart doesn't draw): two hollow points
    page = run("trends", *TRENDS, "-f", "html", "-q").stdout
    (chart,) = [s for s in svgs(page) if "Conversion rate by cohort" in s]
    assert chart.count('fill="#ffffff"') == 2
    assert chart.count("<polyline") >= 2 and "MQL-&gt;SQL" in chart and "SQL-&gt;Won" in chart


def test_labels_cut_alike_keep_their_ends():
    # two stages named alike in their first 21 characters both read 'Marketing Qualified L…': cut
    # in the middle, each keeps its end, and its tooltip the whole name
    from funnelcli.output.charts import _labels

    alike = _labels(["Marketing Qualified Lead - Inbound", "Marketing Qualified Lead - Accepted", "SQL"], 22)
    assert alike == ["<title>Marketing Qualified Lead - Inbound</title>Marketing …d - Inbound",
                     "<title>Marketing Qualified Lead - Accepted</title>Marketing … - Accepted", "SQL"]
    assert _labels(["Marketing Qualified Lead - Inbound", "SQL"], 22)[0].endswith("Marketing Qualified L…")


def test_cohorts_with_no_rate_draw_no_chart():
    # the last weeks held no cohort: the report drew axes and a legend with no line
    from funnelcli.measures.model import Column, Table
    from funnelcli.output.charts import charts_for

    cols = [Column("period", "Period"), Column("rate:A->B", "A->B", "rate")]
    empty = Table("cohorts", None, cols, [{"period": "2026-W40", "rate:A->B": None}, {"period": "2026-W41", "rate:A->B": None}])
    assert charts_for(empty) == []
    some = Table("cohorts", None, cols, [{"period": "2026-W40", "rate:A->B": 0.5}, {"period": "2026-W41", "rate:A->B": None}])
    assert len(charts_for(some)) == 1


def test_a_line_into_immature_points_is_dashed():
    # a solid line from 41% to an immature 0% read as conversion collapsing: every segment that
    # touches an immature point (into, between, out of) is dashed and faint; a missing point still
    # breaks the line
    from funnelcli.output.charts import DASHED, _polylines

    def y(rate):
        return 100 * rate

    drawn = _polylines([(0, 0.4, False), (1, 0.5, False), (2, 0.1, True), (3, 0.0, True), (4, None, False), (5, 0.2, True),
                        (6, 0.3, False)], y, "c")
    assert [(re.search(r'points="([^"]*)"', line).group(1), DASHED in line) for line in drawn] == [
        ("0.0,40.0 1.0,50.0", False), ("1.0,50.0 2.0,10.0 3.0,0.0", True), ("5.0,20.0 6.0,30.0", True)]


def test_charts_are_self_contained_and_values_are_escaped(tmp_path):
    yml = Path(PURGATORY[2]).read_text(encoding="utf-8").replace("name: SAL", "name: '<script>alert(1)</script>'")
    defs = tmp_path / "defs.yml"
    defs.write_text(yml, encoding="utf-8")
    page = run("conversion", PURGATORY[0], "-d", defs, "-f", "html", "-q").stdout
    assert "<script" not in page.lower() and "&lt;script&gt;alert(1)&lt;/script&gt;" in svgs(page)[0]
    assert "href=" not in page and "xlink" not in page  # no external asset


def test_a_breakdown_has_no_chart():
    assert svgs(run("conversion", *PURGATORY, "--by", "owner", "-f", "html", "-q").stdout) == []


def test_a_long_stage_name_is_cut_with_an_ellipsis_and_whole_in_its_tooltip(tmp_path):
    # the bars' labels have 200 px, right-aligned: a 40-character name ran off the chart's left edge
    long = "Sales Accepted Lead (by the SDR team, EMEA)"
    yml = Path(PURGATORY[2]).read_text(encoding="utf-8").replace("name: SAL", f"name: '{long}'")
    defs = tmp_path / "defs.yml"
    defs.write_text(yml, encoding="utf-8")
    funnel = svgs(run("conversion", PURGATORY[0], "-d", defs, "-f", "html", "-q").stdout)[0]
    (label,) = re.findall(r'text-anchor="end"><title>([^<]*)</title>([^<]*)</text>', funnel)
    assert label[0] == long
    assert label[1].endswith("\u2026") and long.startswith(label[1][:-1]) and len(label[1]) * 7 <= 200 - 8
    assert re.findall(r'text-anchor="end">([^<]*)</text>', funnel) == ["MQL", "SQL", "Won"]  # short ones whole


def test_axis_labels_never_run_into_each_other_and_the_ends_are_labelled():
    # 105 weekly periods on 560 px: the second and the last two labels once overlapped ('2026-W4047')
    from funnelcli.output.charts import _axis_labels

    for n in (1, 2, 3, 7, 20, 105):
        periods = [f"2026-W{i:02d}" for i in range(n)]
        step = 560 / max(1, n - 1)
        x = [40 + i * step for i in range(n)]
        chosen = _axis_labels(periods, x)
        assert chosen[0] == (0, "start") and (n == 1 or chosen[-1] == (n - 1, "end"))
        spans = []
        for i, anchor in chosen:
            w = 7 * len(periods[i])
            left = x[i] if anchor == "start" else x[i] - w if anchor == "end" else x[i] - w / 2
            spans.append((left, left + w))
        assert all(a[1] + 8 <= b[0] for a, b in zip(spans, spans[1:])), (n, chosen)


def test_long_step_names_get_fewer_legend_entries_a_row(tmp_path):
    yml = Path(TRENDS[2]).read_text(encoding="utf-8").replace("name: SQL", "name: 'Sales Qualified Lead (by the AE)'")
    defs = tmp_path / "defs.yml"
    defs.write_text(yml, encoding="utf-8")
    page = run("trends", TRENDS[0], "-d", defs, "-f", "html", "-q").stdout
    (chart,) = [s for s in svgs(page) if "Conversion rate by cohort" in s]
    # two steps of 37 characters: two entries a row, 300 px each (three of 200 px cut them at 26)
    swatches = re.findall(r'<rect x="(\d+)" y="[\d.]+" width="10" height="10"', chart)
    assert swatches == ["40", "340"]
    assert "MQL-&gt;Sales Qualified Lead (by the AE)</text>" in chart and "\u2026" not in chart  # each name whole


def test_a_legend_name_as_long_as_a_third_of_a_row_holds_is_whole(tmp_path):
    # 'Opportunity->Contract Sent' is 26 characters: three to a row it was cut at 25 ('...Se…');
    # the threshold and the room now agree: it takes two a row, whole
    yml = Path(TRENDS[2]).read_text(encoding="utf-8").replace("name: SQL", "name: Contract Sent").replace("name: MQL", "name: Opportunity")
    assert len("Opportunity->Contract Sent") == 26
    defs = tmp_path / "defs.yml"
    defs.write_text(yml, encoding="utf-8")
    page = run("trends", TRENDS[0], "-d", defs, "-f", "html", "-q").stdout
    (chart,) = [s for s in svgs(page) if "Conversion rate by cohort" in s]
    assert "\u2026" not in chart and "Opportunity-&gt;Contract Sent</text>" in chart
