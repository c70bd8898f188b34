"""A bounded fuzz run (issue 11): hypothesis mutates a valid export and valid definitions (bytes
flipped, quotes, delimiters, line breaks, NUL bytes, BOMs, long fields, lines cut, repeated or
dropped; YAML keys, values and indentation broken) and runs funnelcli on each.

Whatever the input: no internal error and no traceback; the exit code is one that means something
(0 ran, 1 problems found by validate, 2 could not run, with a message); and when a report is
made, every row is accounted for (docs/metrics.md#accounting). About a minute in all (override
the number of examples with FUNNELCLI_FUZZ_EXAMPLES).
"""

from __future__ import annotations

import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.conftest import run

pytestmark = pytest.mark.slow

FUZZ = settings(
    max_examples=int(os.environ.get("FUNNELCLI_FUZZ_EXAMPLES", "1000")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
    derandomize=True,  # the same cases on every run: CI is reproducible, and a failure repeats
)

EXPORT = (
    "Record ID,Owner,Source,Create Date,MQL Date,SAL Date,Won Date,Lost,Touches,Amount\n"
    "1,Ann,Web,2024-01-01,2024-01-02,2024-01-05,,,3,1200\n"
    "2,Bob,Ads,2024-01-03,2024-01-04,,,yes,1,\n"
    '3,"Cy, Jr.",Web,2024-01-05,2024-01-09,2024-01-10,2024-02-01,,7,"1,500"\n'
    "4,Di,,2024-02-01,,,,,0,0\n"
    "5,Ann,Events,2024-02-02,2024-02-03,,,,2,300\n"
)

DEFINITIONS = """\
version: 1
columns: {id: Record ID, owner: Owner, source: Source, created: Create Date, touches: Touches, amount: Amount}
stages:
  - {name: MQL, date: MQL Date, sla_days: 3}
  - {name: SAL, date: SAL Date, sla_days: 10}
  - {name: Won, date: Won Date}
exits:
  - name: Lost
    when: {Lost: {in: ["yes"]}}
markets:
  - name: Web
    when: {source: {matches: '^(Web|Ads)$'}}
"""

CSV_PIECES = [b",", b";", b'"', b'""', b"\n", b"\r\n", b"\r", b"\x00", b"\xef\xbb\xbf", b"\xff\xfe", b"\t",
              b"=cmd|' /C calc'!A0", b"\x1b[2J", b"[/bold]", "é€漢".encode(), b"x" * 5000, b"2024-13-45",
              b"9999-12-31", b"1e308", b"-5", b"NaN"]
YAML_PIECES = [":", "- ", "{", "}", "[", "]", "&a", "*a", "!!python/object:os.system", "\n", "  ", "\t", "'", '"',
               "sla_days: -1", "when: {x: {matches: '(a)\\1'}}", "version: 2", "~", "1e999", "9" * 400, "\x00", "\x1b"]


@st.composite
def mutated(draw, text: bytes, pieces: list[bytes]) -> bytes:
    """Return `text` with a few random edits: a piece inserted, a span deleted or repeated, a byte
    flipped, the end cut."""
    data = bytearray(text)
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        kind = draw(st.sampled_from(["insert", "delete", "repeat", "flip", "cut"]))
        if kind == "insert":
            data[at:at] = draw(st.sampled_from(pieces))
        elif kind == "delete":
            del data[at:at + draw(st.integers(1, 20))]
        elif kind == "repeat":
            data[at:at] = data[max(0, at - 40):at]
        elif kind == "flip" and at < len(data):
            data[at] = draw(st.integers(0, 255))
        elif kind == "cut":
            del data[at:]
    return bytes(data)


def no_crash(result) -> None:
    out = result.output
    assert "internal error" not in out and "Traceback" not in out, out[-2000:]


def balanced(report: dict) -> None:
    a = report["accounting"]
    parts = (a["rows_excluded"] + a["never_reached_first_stage"] + a["outside_cohort_range"]
             + a["no_date_for_cohort_range"] + a["other_markets"] + a["leads_in_report"])
    assert a["rows_read"] == parts, a


@FUZZ
@given(export=mutated(EXPORT.encode(), CSV_PIECES))
def test_fuzzed_exports(tmp_path_factory, export):
    folder = tmp_path_factory.mktemp("fuzz")
    (folder / "export.csv").write_bytes(export)
    (folder / "defs.yml").write_text(DEFINITIONS, encoding="utf-8")
    for command in ("conversion", "purgatory", "trends"):
        result = run(command, folder / "export.csv", "-d", folder / "defs.yml", "-f", "json", "-q")
        no_crash(result)
        assert result.exit_code in (0, 2), (command, result.exit_code, result.output[-2000:])
        if result.exit_code == 0:
            balanced(json.loads(result.stdout))
        else:
            assert result.stderr.startswith("funnelcli: error: ") and result.stdout == ""


@FUZZ
@given(definitions=mutated(DEFINITIONS.encode(), [p.encode() for p in YAML_PIECES]))
def test_fuzzed_definitions(tmp_path_factory, definitions):
    folder = tmp_path_factory.mktemp("fuzz")
    (folder / "export.csv").write_text(EXPORT, encoding="utf-8")
    (folder / "defs.yml").write_bytes(definitions)
    checked = run("validate", folder / "defs.yml", "--data", folder / "export.csv")
    no_crash(checked)
    assert checked.exit_code in (0, 1, 2), checked.output[-2000:]
    result = run("conversion", folder / "export.csv", "-d", folder / "defs.yml", "-f", "json", "-q")
    no_crash(result)
    assert result.exit_code in (0, 2), result.output[-2000:]
    if result.exit_code == 0:
        balanced(json.loads(result.stdout))
        # validate never passes what the run refuses, and never refuses what runs
        assert checked.exit_code == 0, checked.output
