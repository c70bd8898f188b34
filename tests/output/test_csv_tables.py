"""CSV that loads (issue 12, point 3): `-f csv` writes one table, the command's main one or the one
`--table NAME` names; `--table list` lists them. Every command's CSV loads in pandas with its real
columns, nothing else in the file.
"""

from __future__ import annotations

import csv
import io
import json

import pandas as pd
import pytest
from tests.conftest import FIXTURES, run

EXPORT = (str(FIXTURES / "purgatory.csv"), "-d", str(FIXTURES / "purgatory.yml"))

# command, extra arguments -> (main table, its first columns, the other tables of -f json)
COMMANDS = {
    ("conversion",): ("stages", ["stage", "reached", "converted"], set()),  # targets only when defined
    ("purgatory",): ("stages", ["stage", "sla_days", "reached"], {"purgatories", "age_bands", "leakage"}),
    ("purgatory", "--list"): ("stuck_leads", ["id", "stage", "entered"], set()),
    ("markets",): ("markets", ["market"], {"market_fit"}),
    ("trends",): ("cohorts", ["period"], {"latest"}),
    ("report",): ("stages", ["stage"], {"headline", "rates", "purgatory", "top_owners", "trend"}),
}


@pytest.mark.parametrize("command", list(COMMANDS), ids=" ".join)
def test_csv_is_one_table_that_pandas_loads(command):
    main, first, _ = COMMANDS[command]
    out = run(*command, *EXPORT, "-f", "csv", "-q").stdout
    header = next(csv.reader(io.StringIO(out)))
    assert header[:len(first)] == first
    frame = pd.read_csv(io.StringIO(out))
    assert list(frame.columns) == header and len(frame) == out.count("\n") - 1 - _quoted_newlines(out)
    assert not any(line.startswith("#") for line in out.splitlines())


@pytest.mark.parametrize("command", list(COMMANDS), ids=" ".join)
def test_csv_has_every_field_json_has(command):
    # "CSV and JSON always have every column": each plain field of the main table's JSON rows is
    # a column of the CSV (the conversion table's entered and age_unknown were left out), with the
    # JSON's value in each row
    main = COMMANDS[command][0]
    rows = json.loads(run(*command, *EXPORT, "-f", "json", "-q").stdout)["tables"][main]
    out = list(csv.DictReader(io.StringIO(run(*command, *EXPORT, "-f", "csv", "-q").stdout)))
    plain = {k for r in rows for k, v in r.items() if not isinstance(v, (list, dict))}
    assert plain <= set(out[0]), sorted(plain - set(out[0]))
    for got, want in zip(out, rows):
        for key in plain & set(want):
            value = want[key]
            # as JSON writes it: true/false, not Python's True/False
            shown = "" if value is None else json.dumps(value) if isinstance(value, bool) else str(value)
            assert got[key].lstrip("'") == shown, (key, got[key], value)


def _quoted_newlines(text: str) -> int:
    return sum(cell.count("\n") for row in csv.reader(io.StringIO(text)) for cell in row)


@pytest.mark.parametrize("command", list(COMMANDS), ids=" ".join)
def test_table_list_names_the_main_table_first(command):
    main, _, others = COMMANDS[command]
    result = run(*command, *EXPORT, "-f", "csv", "-q", "--table", "list")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == f"{main}  (main: -f csv writes it by default)"
    assert set(lines[1:]) == others


def test_table_names_another_table():
    # purgatory's leakage table: one row per stage, its own columns
    out = run("purgatory", *EXPORT, "-f", "csv", "-q", "--table", "leakage").stdout
    frame = pd.read_csv(io.StringIO(out))
    assert frame.columns[0] == "stage" and list(frame["stage"]) == ["MQL", "SAL", "SQL", "Won"]


def test_unknown_table_lists_the_tables():
    result = run("conversion", *EXPORT, "-f", "csv", "-q", "--table", "stagse")
    assert result.exit_code == 2
    assert "Error: no table 'stagse' in the conversion report; its tables are stages\n" in result.stderr


def test_table_goes_with_csv():
    result = run("conversion", *EXPORT, "-f", "json", "-q", "--table", "stages")
    assert result.exit_code == 2 and "--table goes with -f csv" in result.stderr


# --------------------------------------------------------------------------------------------
# One cell, written alike by every command (a QA pass: 729 in purgatory's CSV, 729.0 in the
# report's, which reuses purgatory's rows under fewer columns)


def _csv_rows(*args: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(run(*args, "-f", "csv", "-q").stdout)))


def test_days_and_money_cells_are_written_alike_by_every_command():
    from tests.conftest import SAMPLE

    report_stages = {r["stage"]: r for r in _csv_rows("report", str(SAMPLE), "--table", "stages")}
    conversion = {r["stage"]: r for r in _csv_rows("conversion", str(SAMPLE), "--columns", "p75_days,p90_days")}
    report_purgatory = {r["stage"]: r for r in _csv_rows("report", str(SAMPLE), "--table", "purgatory")}
    purgatory = {r["stage"]: r for r in _csv_rows("purgatory", str(SAMPLE))}
    owners = {r["group"]: r for r in _csv_rows("report", str(SAMPLE), "--table", "top_owners")}
    by_owner = {r["group"]: r for r in _csv_rows("purgatory", str(SAMPLE), "--by", "owner", "--table", "groups")}
    pairs = [(report_stages[s][k], conversion[s][k]) for s in conversion for k in ("p75_days", "p90_days")]
    pairs += [(report_purgatory[s]["max_days_stuck"], purgatory[s]["max_days_stuck"]) for s in report_purgatory]
    pairs += [(owners[g][k], by_owner[g][k]) for g in owners for k in ("median_days_stuck", "value_at_risk")]
    assert pairs and all(a == b for a, b in pairs), [p for p in pairs if p[0] != p[1]]
    whole = [a for a, _ in pairs if a and float(a).is_integer()]
    assert whole and not [a for a in whole if "." in a]  # 729, not 729.0


def test_explain_and_trends_write_whole_days_as_integers():
    from tests.conftest import SAMPLE

    lead = next(r["id"] for r in _csv_rows("purgatory", str(SAMPLE), "--list") if int(r["days_in_stage"]) > 30)
    report = json.loads(run("explain", str(SAMPLE), lead, "-f", "json", "-q").stdout)
    ages = [s["age_days"] for s in report["leads"][0]["stages"] if s["age_days"] is not None]
    assert ages and all(isinstance(a, int) for a in ages)
    trends = json.loads(run("trends", str(SAMPLE), "--window", "10", "-f", "json", "-q").stdout)
    assert trends["windows"] and all(w == 10 and isinstance(w, int) for w in trends["windows"].values())


def test_a_tables_own_notes_are_in_json_too():
    # what a cohort table can't count under --window is a note under the table in text; JSON,
    # whose tables are rows, carries it in its notes (it had been dropped)
    from tests.conftest import SAMPLE

    text = run("trends", str(SAMPLE), "--window", "10", "-q").stdout
    (note,) = [line for line in text.splitlines() if line.startswith("Not counted under the window")]
    report = json.loads(run("trends", str(SAMPLE), "--window", "10", "-f", "json", "-q").stdout)
    plain = json.loads(run("trends", str(SAMPLE), "-f", "json", "-q").stdout)
    assert report["notes"] == [note] + plain["notes"]  # that note alone: the tables' legends stay the text's
    assert not [n for n in plain["notes"] if n.startswith(("* immature", "partial:", "Latest:"))]
