"""--columns (issue 12, point 1): a compact set by default, 'all' for every column, names for the
ones wanted (the row's label always stays); an unknown name is an error naming the columns."""

from __future__ import annotations

from tests.conftest import FIXTURES, run

EXPORT = (str(FIXTURES / "small.csv"), "-d", str(FIXTURES / "small.yml"))


def header(out: str) -> list[str]:
    return next(line for line in out.splitlines() if line.startswith("Stage ")).split("  ")


def labels(out: str) -> list[str]:
    return [h.strip() for h in header(out) if h.strip()]


def test_default_is_the_compact_set():
    out = run("conversion", *EXPORT, "-f", "text", "-q").stdout
    assert labels(out) == ["Stage", "Reached", "Converted", "Step rate", "Cumulative", "Exited", "Stuck", "In progress", "Median days"]


def test_all_shows_every_column():
    # small.yml has two exits (Disqualified, Recycled): one column each, then skipped and the percentiles
    out = run("conversion", *EXPORT, "-f", "text", "-q", "--columns", "all").stdout
    assert labels(out) == ["Stage", "Reached", "Converted", "Step rate", "Cumulative", "Exited", "Disqualified", "Recycled",
                           "Stuck", "In progress", "Skipped", "Median days", "p75 days", "p90 days"]


def test_names_choose_the_columns_in_the_tables_order():
    # by key or by label, any case; the stage stays (the row's label)
    out = run("conversion", *EXPORT, "-f", "markdown", "-q", "--columns", "P90_DAYS,stuck,Step rate").stdout
    assert "| Stage | Step rate | Stuck | p90 days |" in out


def test_csv_and_json_keep_every_column():
    out = run("conversion", *EXPORT, "-f", "csv", "-q", "--columns", "stuck").stdout
    assert out.splitlines()[0].startswith("stage,reached,converted,step_rate,cumulative_rate,exited,exited:Disqualified")


def test_an_unknown_column_is_an_error_naming_the_columns():
    result = run("conversion", *EXPORT, "-f", "text", "-q", "--columns", "stuk")
    assert result.exit_code == 2
    assert "--columns 'stuk': no such column in the conversion report; its stages table has stage, reached, converted" in result.stderr


def test_to_fit_a_width_a_column_of_zeros_goes_first_and_a_narrow_one_comes_back():
    # Stage 5, Lost 4, Zeros 5, Recycled 8, Note 30 wide: 60 with the four 2-column gaps.
    from funnelcli.measures.model import Column, Table
    from funnelcli.output.render import _layout

    cols = [Column("stage", "Stage"), Column("lost", "Lost", "count"), Column("zeros", "Zeros", "count"),
            Column("recycled", "Recycled", "count"), Column("note", "Note")]
    rows = [{"stage": "SAL", "lost": 12, "zeros": 0, "recycled": 3, "note": "x" * 30},
            {"stage": "SQL", "lost": 7, "zeros": 0, "recycled": 1, "note": "y"}]

    def fit(width: int) -> tuple[list[str], list[str]]:
        layout = _layout(Table("t", None, cols, rows), None, width, ascii_only=True, gap=2)
        return [c.key for c in layout.cols], [c.key for c in layout.left_out]

    # at 55 one column must go: the column of zeros (60 - 7 = 53), not the rightmost, Note
    assert fit(55) == (["stage", "lost", "recycled", "note"], ["zeros"])
    # at 31 Zeros and then Note go (21 wide); Zeros fits again (28): it comes back, Note alone is out
    assert fit(31) == (["stage", "lost", "zeros", "recycled"], ["note"])
