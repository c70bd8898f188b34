"""What-if without editing files (issue 12, point 7): `--set KEY=VALUE` on every report command.

On tests/fixtures/purgatory.csv as of 2024-06-30, the MQLs with no SAL and no exit are L1 (MQL on
06-29: 1 day), L2 (06-27: 3 days), L3 (06-26: 4), L4 (06-20: 10) and L5 (05-01: 60). With the
file's SLA of 3 days L3, L4 and L5 are stuck and L1, L2 in progress; with 5 days only L4 and L5
are stuck (L3 in progress); with no SLA none is stuck.
"""

from __future__ import annotations

import json

import pytest
from tests.conftest import FIXTURES, run

EXPORT = (str(FIXTURES / "purgatory.csv"), "-d", str(FIXTURES / "purgatory.yml"))


def mql(*sets: str) -> dict:
    args = [a for s in sets for a in ("--set", s)]
    doc = json.loads(run("conversion", *EXPORT, "-f", "json", "-q", *args).stdout)
    return next(r for r in doc["tables"]["stages"] if r["stage"] == "MQL") | {"_doc": doc}


def test_without_set_the_files_values():
    row = mql()
    assert (row["stuck"], row["in_progress"]) == (3, 2)
    assert row["_doc"]["definitions"]["set"] == []


def test_a_longer_sla_moves_leads_from_stuck_to_in_progress():
    row = mql("stages.MQL.sla_days=5")
    assert (row["stuck"], row["in_progress"]) == (2, 3)
    assert row["_doc"]["definitions"]["set"] == ["stages.MQL.sla_days=5 (was 3)"]
    assert row["_doc"]["definitions"]["digest"] != mql()["_doc"]["definitions"]["digest"]


def test_no_sla_means_nothing_is_stuck():
    row = mql("stages.mql.sla_days=none")  # stage names any case
    assert (row["stuck"], row["in_progress"]) == (0, 5)


def test_the_header_says_what_was_set():
    out = run("purgatory", *EXPORT, "-f", "text", "-q", "--set", "stages.MQL.sla_days=5").stdout
    assert "\nSet          stages.MQL.sla_days=5 (was 3)\n" in out


def test_a_target_set_on_the_command_line():
    # MQL stuck is 3 of 15 = 20%: missed at most 10%, met at most 25%
    missed = run("conversion", *EXPORT, "-q", "--set", "targets.MQL stuck=0.1", "--fail-on-miss")
    met = run("conversion", *EXPORT, "-q", "--set", "targets.MQL stuck=0.25", "--fail-on-miss")
    assert missed.exit_code == 1 and "missed target: MQL stuck" in missed.stderr
    assert met.exit_code == 0


@pytest.mark.parametrize("assignment, message", [
    ("stages.MQQ.sla_days=5", "no stage 'MQQ' (did you mean 'MQL'?); stages are MQL, SAL, SQL, Won"),
    ("stages.MQL.sla_days=-1", "days must be a number above 0 and at most 36500 (or none), got -1"),
    ("stages.MQL.sla_days=soon", "days must be a number above 0 and at most 36500 (or none), got 'soon'"),
    ("stages.MQL.colour=red", "a stage's 'colour' can't be set"),
    ("stages.MQL.purgatory.idle_days=3", "stage 'MQL' has no purgatory: rule to change"),
    # MQL has no purgatory: rule: what it suggests can be set (it had suggested purgatory.idle_days)
    ("stages.MQL.purgatory={idle_days: 3}", "a stage's 'purgatory' can't be set; these can: sla_days, window_days; "
                                            "a purgatory: rule is written in the definitions"),
    ("targets.MQL->XYZ=0.5", "names unknown stage 'XYZ'"),
    ("timezone=Mars/Olympus", "unknown timezone 'Mars/Olympus'"),
    ("timezone=", "give a timezone: an IANA name"),  # was "unknown timezone None"
    ("timezone=America", "unknown timezone 'America'"),  # a folder of zones
    ("stagez.MQL.sla_days=5", "no such setting"),
    ("stages.MQL.sla_days", "write KEY=VALUE"),
])
def test_a_bad_assignment_is_refused_naming_it(assignment, message):
    result = run("conversion", *EXPORT, "-q", "--set", assignment)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert f"--set '{assignment}': " in result.stderr and message in result.stderr


def test_purgatory_rule_values_can_be_set():
    # SAL's purgatory takes leads touched at most 2 times: at most 0 takes no more of them, at most
    # 100 no fewer (a lead touched 0 times is touched at most 2 and at most 100 times)
    def sal(*sets: str) -> tuple[int, list]:
        doc = json.loads(run("purgatory", *EXPORT, "-f", "json", "-q", *sets).stdout)
        rows = [r for r in doc["tables"]["purgatories"] if r["stage"] == "SAL"]
        return sum(r["leads"] for r in rows), doc["definitions"]["set"]

    before, _ = sal()
    fewer, said = sal("--set", "stages.SAL.purgatory.touches_at_most=0")
    more, _ = sal("--set", "stages.SAL.purgatory.touches_at_most=100")
    assert fewer <= before <= more and fewer < more
    assert said == ["stages.SAL.purgatory.touches_at_most=0 (was 2)"]
