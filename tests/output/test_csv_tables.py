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
