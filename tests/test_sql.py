"""`funnelcli sql`: the stage table of simple wide definitions as one DuckDB query, run by DuckDB
and compared with `funnelcli conversion -f json` on the same export: on the bundled sample, on a
small export whose numbers are worked out by hand, and on generated exports (hypothesis) with
blank, padded (Unicode spaces too), repeated and unparseable ids and cells, dates out of order,
the ISO forms the readers take and some they refuse, placeholder dates, offsets, a timezone and
a date_format."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import subprocess
import sys

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.conftest import ROOT, SAMPLE, run

KEYS = ["reached", "entered", "converted", "exited", "stuck", "in_progress", "median_days", "p75_days", "p90_days"]


def query(export, *defs: str) -> str:
    result = run("sql", export, *(a for d in defs for a in ("-d", d)))
    assert result.exit_code == 0, result.stderr
    return result.stdout


def by_sql(export, *defs: str, session_zone: str | None = None) -> list[dict]:
    connection = duckdb.connect()
    if session_zone:  # DuckDB's own timezone, which the query must not depend on
        connection.execute(f"SET TimeZone = '{session_zone}'")
    relation = connection.sql(query(export, *defs))
    return [dict(zip(relation.columns, row)) for row in relation.fetchall()]


def by_funnelcli(export, *defs: str) -> list[dict]:
    result = run("conversion", export, *(a for d in defs for a in ("-d", d)), "-f", "json", "-q")
    assert result.exit_code in (0, 1), result.stderr
    return json.loads(result.stdout)["tables"]["stages"]


def same(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, abs_tol=1e-9)


def assert_same_tables(sql_rows: list[dict], rows: list[dict], exits: list[str]) -> None:
    assert [r["stage"] for r in sql_rows] == [r["stage"] for r in rows]
    for mine, theirs in zip(sql_rows, rows):
        for key in KEYS + [f"exited:{e}" for e in exits]:
            assert same(mine[key], theirs[key]), (theirs["stage"], key, mine[key], theirs[key])


def test_the_sample_gives_the_same_stage_table():
    rows = by_funnelcli(SAMPLE, ROOT / "definitions")
    assert_same_tables(by_sql(SAMPLE, ROOT / "definitions"), rows, ["Disqualified", "Recycled", "Lost"])
    assert rows[0]["reached"] > 3000  # the sample's funnel, not an empty one


SMALL_DEFS = """version: 1
columns: {id: Id, status: Status, created: Created}
stages:
  - {name: MQL, date: MQL date, sla_days: 3}
  - {name: SAL, date: SAL date, sla_days: 10}
  - {name: Won, date: Won date}
exits:
  - {name: Lost, when: {status: {in: [closed lost]}}}
"""

# As of 2024-03-31 (row 8's Created). Kept: L1, L2, L3, L5 (its second row: the first has 'TBD'),
# L6, L7; the blank id (row 9) and L1's second row (row 10) are excluded.
#   L1  MQL 03-01, SAL 03-05, Won 03-20          converted twice, won
#   L2  MQL 03-10, SAL 03-12, status Closed Lost  exited at SAL (Lost)
#   L3  MQL 03-30                                  in MQL 1 day: in progress
#   L5  MQL 03-01 (row 7)                          in MQL 30 days > 3: stuck
#   L6  SAL 03-15 only                             MQL implied (reached, not entered); SAL 16 days > 10: stuck
#   L7  MQL 03-20, SAL 03-18 (out of order)       MQL takes SAL's date 03-18; SAL 13 days: stuck
# MQL: reached 6, entered 5, converted 4 (L1, L2, L6, L7), stuck 1 (L5), in progress 1 (L3);
#      days to SAL between own dates: L1 4, L2 2 (L6's MQL is implied, L7's out of order): median 3.
# SAL: reached 4, entered 4, converted 1 (L1), exited 1 (L2), stuck 2 (L6, L7); days L1 15.
SMALL_CSV = """Id,Status,Created,MQL date,SAL date,Won date
L1,,2024-02-20,2024-03-01,2024-03-05,2024-03-20
L2,Closed Lost,,2024-03-10,2024-03-12,
L3,open,,2024-03-30,,
L5,,,TBD,,
L6,,,,2024-03-15,
L5,,,2024-03-01,,
L7,,2024-03-31,2024-03-20,2024-03-18,
,,,2024-03-02,,
L1,,,2024-03-02,,
"""


def test_a_small_export_worked_out_by_hand(write):
    export, defs = write("small.csv", SMALL_CSV), write("defs.yml", SMALL_DEFS)
    got = {r["stage"]: r for r in by_sql(export, defs)}
    assert [got["MQL"][k] for k in ("reached", "entered", "converted", "exited", "stuck", "in_progress", "median_days")] == [6, 5, 4, 0, 1, 1, 3]
    assert [got["SAL"][k] for k in ("reached", "entered", "converted", "exited", "exited:Lost", "stuck", "in_progress", "median_days")] == [4, 4, 1, 1, 1, 2, 0, 15]
    assert [got["Won"][k] for k in ("reached", "converted", "stuck")] == [1, None, None]
    assert_same_tables(list(got.values()), by_funnelcli(export, defs), ["Lost"])


def test_names_and_values_stay_data(write):
    # quotes and comment markers in names, headers and values can't end a literal
    # or a comment: the query runs and gives the names back as written
    defs = write("defs.yml", '''version: 1
columns: {id: 'Id "x"', status: "it's"}
stages:
  - {name: "M'QL -- x", date: "d'1"}
  - {name: "S\\"AL */ x", date: 'd"2'}
exits:
  - {name: "Lo'st", when: {it's: {in: ["o'k -- no"]}}}
''')
    export = write("e.csv", 'Id "x",it\'s,d\'1,"d""2"\n1,o\'k -- no,2024-01-01,\n2,,2024-01-02,2024-01-03\n')
    rows = by_sql(export, defs)
    assert [(r["stage"], r["reached"], r["exited"], r["exited:Lo'st"]) for r in rows] == [("M'QL -- x", 2, 1, 1), ('S"AL */ x', 1, 0, 0)]


STATUS_DEFS = """version: 1
columns: {id: Id, status: Status}
stage_column: status
stages:
  - {name: MQL, date: MQL date}
  - {name: SQL}
"""


def test_definitions_it_does_not_write_are_refused_with_the_reason(write):
    result = run("sql", write("e.csv", "Id,Status,MQL date\n"), "-d", write("defs.yml", STATUS_DEFS))
    assert result.exit_code == 2
    assert "a status column names the stages (stage_column:)" in result.stderr
    assert "stage 'SQL' has no date column" in result.stderr
    assert "funnelcli conversion" in result.stderr and "Traceback" not in result.stderr


def test_a_footer_a_short_row_and_a_format_with_an_offset_agree(write):
    # A Salesforce-like export: a row cut short (row 4) and a report footer are left out by both;
    # '%Y-%m-%d %H:%M %z' dates are moved to Tokyo: L1's 2024-03-01 20:00 -0000 is 03-02 there,
    # the same day as its SAL: 0 days. DuckDB's session timezone is set to Los Angeles, where that
    # instant is 03-01: the query must use the definitions' timezone, not the session's
    defs = write("defs.yml", "version: 1\ntimezone: Asia/Tokyo\ndate_format: '%Y-%m-%d %H:%M %z'\n"
                             "columns: {id: Id, status: Status}\nstages:\n  - {name: MQL, date: MQL, sla_days: 2}\n"
                             "  - {name: SAL, date: SAL}\nexits:\n  - {name: Lost, when: {status: {in: [lost]}}}\n")
    export = write("e.csv", "Id,Status,MQL,SAL\nL1,,2024-03-01 20:00 -0000,2024-03-02\nL2,lost,2024-03-01,\n"
                            "L3,,2024-03-01\nL4,,2024-03-03,\n\n\"Generated By:\",\"Ann\"\n\"Total: 4\"\n")
    rows = by_funnelcli(export, defs)
    assert [(r["reached"], r["exited"], r["stuck"], r["in_progress"], r["median_days"]) for r in rows[:1]] == [(3, 1, 0, 1, 0)]
    assert_same_tables(by_sql(export, defs, session_zone="America/Los_Angeles"), rows, ["Lost"])


@pytest.mark.parametrize("delimiter", [";", "\t"])
def test_a_small_export_in_another_delimiter_with_a_footer_agrees(write, delimiter):
    # DuckDB's own sniffer read two rows and a one-field footer line as one column, and the query
    # failed to bind ('Column "id" referenced ... before it is defined'); the query names the
    # delimiter a run reads by
    defs = write("defs.yml", "version: 1\ncolumns: {id: id}\nstages:\n  - {name: MQL, date: mql}\n  - {name: SAL, date: sal}\n")
    export = write("e.csv", f"id{delimiter}mql{delimiter}sal\n1{delimiter}2024-01-01{delimiter}2024-01-02\n"
                            f"2{delimiter}2024-01-03{delimiter}\n\"Generated By: QA\"\n")
    rows = by_funnelcli(export, defs)
    assert [(r["reached"], r["converted"]) for r in rows] == [(2, 1), (1, None)]
    assert_same_tables(by_sql(export, defs), rows, [])


def test_a_year_of_two_digits_under_a_four_digit_format_agrees(write):
    # DuckDB's strptime, as pyarrow's, reads %Y from fewer digits: 3/1/25 as the year 25. Both read
    # it as unparseable (row 2, id 1, excluded; read as the placeholder year 25, id 1 would reach MQL
    # by its SAL); 01/01/0001 is a placeholder (id 3 reaches MQL by its SAL). Left: ids 2, 3 and 4
    # reach MQL; 2 and 3 SAL
    defs = write("defs.yml", "version: 1\ncolumns: {id: Id}\ndate_format: '%m/%d/%Y'\nstages:\n"
                             "  - {name: MQL, date: MQL}\n  - {name: SAL, date: SAL}\n")
    export = write("e.csv", "Id,MQL,SAL\n1,3/1/25,3/4/2025\n2,3/2/2025,3/5/2025\n3,01/01/0001,3/6/2025\n4,3/3/2025,\n")
    rows = by_funnelcli(export, defs)
    assert [(r["reached"], r["entered"]) for r in rows] == [(3, 2), (2, 2)]
    assert_same_tables(by_sql(export, defs), rows, [])


def test_what_the_query_would_read_otherwise_is_refused(write, tmp_path):
    # a number field's text is not the number the run compares ('0.0' is 0); a date column as text;
    # a file name DuckDB reads as a pattern of names (a*.csv read ab.csv too)
    defs = write("defs.yml", "version: 1\ncolumns: {id: Id, touches: T}\nstages:\n  - {name: MQL, date: MQL}\n"
                             "exits:\n  - {name: Cold, when: {touches: {in: ['0']}}}\n  - {name: Old, when: {MQL: {in: ['x']}}}\n")
    export = write("a.csv", "Id,T,MQL\n1,0.0,2024-01-01\n")
    result = run("sql", export, "-d", defs)
    assert result.exit_code == 2
    assert "exit 'Cold' tests 'touches', read as numbers, as text" in result.stderr
    assert "exit 'Old' tests 'MQL', read as dates, as text" in result.stderr
    pattern = write("a*.csv", "Id,T,MQL\n")
    result = run("sql", pattern, "-d", write("ok.yml", "version: 1\ncolumns: {id: Id}\nstages:\n  - {name: MQL, date: MQL}\n"))
    assert result.exit_code == 2 and "as a pattern of names" in result.stderr


def test_dates_read_as_numbers_are_refused(write):
    # Excel serials and Unix times are no strptime format: written into the query as one, every
    # such date would read NULL and the funnel would be another
    for fmt, what in (("excel", "Excel serial numbers"), ("epoch_ms", "Unix times in milliseconds"), ("Epoch", "Unix times in seconds")):
        defs = write("defs.yml", f"version: 1\ncolumns: {{id: Id}}\ndate_formats: {{MQL: [{fmt}]}}\nstages:\n  - {{name: MQL, date: MQL}}\n")
        result = run("sql", write("e.csv", "Id,MQL\n1,1709251200000\n"), "-d", defs)
        assert result.exit_code == 2
        assert f"a date column is read as {what} (date_format: {fmt.lower()})" in result.stderr


def test_a_missing_export_is_a_usage_error(tmp_path):
    result = run("sql", tmp_path / "nope.csv", "-d", ROOT / "definitions")
    assert result.exit_code == 2 and "no such file" in result.stderr


@pytest.mark.slow  # a fresh interpreter: about a second
def test_sql_does_not_import_pandas():
    code = ("import sys; from click.testing import CliRunner; from funnelcli.cli import cli; "
            f"r = CliRunner().invoke(cli, ['sql', {str(SAMPLE)!r}, '-d', {str(ROOT / 'definitions')!r}]); "
            "assert r.exit_code == 0, r.output; print('pandas' in sys.modules, 'numpy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    assert out.stdout.split() == ["False", "False"], out.stderr


# --------------------------------------------------------------------------------------------
# Generated exports: the query and funnelcli agree cell for cell

GEN_DEFS = """version: 1
timezone: {tz}
{date_format}
columns: {{id: Id, status: Status, reason: Reason, created: Created}}
stages:
  - {{name: A, date: A date, sla_days: 2}}
  - {{name: B, date: B date, sla_days: 5}}
  - {{name: C, date: C date}}
exits:
  - {{name: Junk, when: {{status: {{in: [junk, Spam]}}}}}}
  - {{name: Later, when: {{any: [{{status: {{eq: bad timing}}}}, {{reason: {{contains: LATER}}}}]}}}}
  - {{name: Lost, when: {{all: [{{status: {{matches: '^Closed'}}}}, {{reason: {{present: true}}}}]}}}}
  - {{name: Quiet, when: {{not: {{reason: {{not_in: [silent]}}}}}}}}
  - {{name: Dated, when: {{all: [{{status: {{in: [dated]}}}}, {{created: {{present: true}}}}]}}}}
"""

DAY = st.integers(min_value=0, max_value=59)


def _date_text(day: int, shape: int, dmy: bool) -> str:
    """A day written in one of the shapes exports use, some of them the readers refuse: both must agree."""
    y, m, d = 2024, 3 + day // 30, 1 + day % 30
    if dmy and shape == 0:
        return f"{d:02d}/{m:02d}/{y}"
    return [f"{y}-{m:02d}-{d:02d}", f"{y}-{m:02d}-{d:02d} 14:30", f"{y}-{m:02d}-{d:02d}T23:30:00Z",
            f"{y}-{m:02d}-{d:02d}T01:15:00+02:00", f"{y}-{m}-{d}", f"{y}/{m:02d}/{d:02d} 08:00",
            f"{y}-{m:02d}-{d:02d} 14", f"{y}-{m:02d}-{d:02d} 20:00:00 +00:00", f"{y}-{m:02d}-{d:02d} 10:00 Z",
            f"{y}-{m:02d}-{d:02d}T23:30:00.250+0530", f"{y}-{m:02d}-{d:02d}T01:00:00+02",  # refused: a 2-digit offset
            f"{y}-{m:02d}-{d:02d} 24:00:00", f"\u3000{y}-{m:02d}-{d:02d}\u2003"][shape]


dated = st.tuples(DAY, st.integers(0, 12))
# unparseable (the row is excluded), blank, or a placeholder for no date (1900-01-01, 9999-12-31)
bad = st.sampled_from(["TBD", "2024-02-30", "  ", "epoch", "infinity", "12024-03-01", "1900-01-01", "9999-12-31", "1970-01-01"])
cell = st.one_of(st.none(), dated, dated, dated, dated, dated, bad)  # a bad date excludes its row: one in seven cells
row = st.fixed_dictionaries({
    "id": st.sampled_from(["own"] * 6 + ["repeat", "blank", "padded", "upper", "spaced"]),  # see _id
    "status": st.sampled_from(["", "", "", "open", "Junk", "SPAM", "Bad Timing", "Closed Lost", "closed lost", "Closed Won", "Dated", "\u2009dated\u3000"]),
    "reason": st.sampled_from(["", "later please", "silent", "Silent", "budget"]),
    "created": cell, "a": cell, "b": cell, "c": cell,
})


def _id(kind: str, i: int) -> str:
    """Row i's id: its own, an earlier row's (a repeat), blank, padded, or in other case (another id)."""
    return {"own": f"l{i}", "repeat": f"l{i // 2}", "blank": "", "padded": f" l{i // 3} ", "upper": f"L{i // 2}",
            "spaced": f"\u3000l{i // 2}\u2009"}[kind]


@pytest.mark.slow  # about 60 runs of both
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(rows=st.lists(row, min_size=8, max_size=40), tz=st.sampled_from(["UTC", "Asia/Tokyo", "America/New_York"]),
       dmy=st.booleans())
def test_generated_exports_agree(tmp_path_factory, rows, tz, dmy):
    folder = tmp_path_factory.mktemp("gen")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["Id", "Status", "Reason", "Created", "A date", "B date", "C date"])
    for i, r in enumerate(rows):
        dates = [v if v is None or isinstance(v, str) else _date_text(v[0], v[1], dmy) for v in (r["created"], r["a"], r["b"], r["c"])]
        writer.writerow([_id(r["id"], i), r["status"], r["reason"], *("" if v is None else v for v in dates)])
    export = folder / "e.csv"
    export.write_text(out.getvalue(), encoding="utf-8")
    defs = folder / "defs.yml"
    defs.write_text(GEN_DEFS.format(tz=tz, date_format="date_format: '%d/%m/%Y'" if dmy else ""), encoding="utf-8")
    result = run("conversion", export, "-d", defs, "-f", "json", "-q")
    if result.exit_code == 2:
        assert "Traceback" not in result.stderr
        if "rows were excluded" in result.stderr:  # every row excluded: the query counts no lead either
            assert by_sql(export, defs)[0]["reached"] == 0
        else:  # a column no value of which is a date: the run refuses it, the query only excludes the rows
            assert "no value parses as a date" in result.stderr, result.stderr
        return
    rows = json.loads(result.stdout)["tables"]["stages"]
    assert_same_tables(by_sql(export, defs), rows, ["Junk", "Later", "Lost", "Quiet", "Dated"])
