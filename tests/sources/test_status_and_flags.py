"""Export shapes within a row per lead: a status column (`stage_column:`), flags (`flag:`), a first
stage with no rule, `blank_values:` and a list of `date_format`s (docs/metrics.md "Export shapes").

Every test writes real files under tmp_path (the `write` fixture) and reads them with
`api.read_export`, or runs the CLI on them. Fixtures are a few rows each; the expected numbers are
worked out by hand in the comment next to them. Row numbers are spreadsheet rows: the header is
row 1, the first record row 2.

Stage columns in the matrices below are in definition order; 1 = yes, 0 = no.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from tests.conftest import run
from tests.reference_definitions import REFERENCE_STATUS

from funnelcli.engine.leads import LoadedExport

# --------------------------------------------------------------------------------------------
# Helpers (the loader, `load`, is tests/sources/conftest.py's)


@pytest.fixture
def conversion(write):
    """Return a runner: (csv text, definitions text, *args) -> (parsed JSON report, Click result)."""

    def _run(content: str, defs_text: str, *args: str):
        result = run("conversion", write("export.csv", content), "-d", write("defs.yml", defs_text), "-f", "json", *args)
        assert result.exit_code == 0, result.stderr
        return json.loads(result.stdout), result

    return _run


def matrix(m: np.ndarray) -> list[str]:
    """Return a (rows x stages) bool matrix as one string of 0/1 per row: easy to compare with a comment."""
    return ["".join("1" if v else "0" for v in row) for row in m]


def day_list(loaded: LoadedExport, stage: int) -> list[str]:
    return [str(d) for d in loaded.date[:, stage]]


def by_reason(issues) -> dict:
    return {i.reason: (i.count, i.rows) for i in issues}


def stage_rows(report: dict) -> dict[str, dict]:
    return {row["stage"]: row for row in report["tables"]["stages"]}


def assert_partition(report: dict) -> None:
    """docs/metrics.md "The four buckets": reached(S) = converted + exited + stuck + in progress, and
    reached(T) = converted(S), for every stage S with a next stage T."""
    rows = report["tables"]["stages"]
    for this, nxt in zip(rows, rows[1:]):
        assert this["reached"] == this["converted"] + this["exited"] + this["stuck"] + this["in_progress"], this
        assert nxt["reached"] == this["converted"], (this, nxt)


# --------------------------------------------------------------------------------------------
# 1. A status column: the lead's current stage


STATUS_DEFS = """\
version: 1
columns: {id: Id, stage_now: Stage}
stage_column: stage_now
stages:
  - name: Lead                       # no rule: every lead
  - name: Contact Made               # status value: its name, any case, trimmed
  - name: Proposal
    values: [Proposal Made, Proposal sent]
  - name: Won
exits:
  - name: Lost                       # status value 'Lost'
  - name: Disqualified
    when: {stage_now: {in: [Bad Fit]}}
"""
# row id status              named stage / exit  reached (Lead CM Prop Won)  implied       notice?
#  2   1  Lead               Lead                 1000                        0000
#  3   2  contact made       Contact Made         1100                        0000          (any case)
#  4   3  ' Proposal sent '  Proposal             1110                        0100          (trimmed)
#  5   4  PROPOSAL MADE      Proposal             1110                        0100
#  6   5  Won                Won                  1111                        0110
#  7   6  Lost               exit Lost            1000                        0000
#  8   7  Bad Fit            exit Disqualified    1000                        0000          no: the exit's condition lists it
#  9   8  Proposal           nothing              1000                        0000          yes: values: replace the name
# 10   9  Negotiation        nothing              1000                        0000          yes
# 11  10  Negotiation        nothing              1000                        0000          yes
# 12  11  (blank)            nothing              1000                        0000          no: blank names nothing
# Lead has no rule, so every lead reached it on its own (never implied).
# reached: Lead 11, Contact Made 4 (2-5), Proposal 3 (3-5), Won 1 (5)
# entered (own evidence): Lead 11, Contact Made 1 (2), Proposal 2 (3, 4), Won 1 -> skipped 0, 3, 1, 0
# unknown values: 'Negotiation' twice (rows 10, 11), 'Proposal' once (row 9): 3 rows, most frequent first
STATUS_CSV = (
    "Id,Stage\n"
    "1,Lead\n"
    "2,contact made\n"
    '3," Proposal sent "\n'
    "4,PROPOSAL MADE\n"
    "5,Won\n"
    "6,Lost\n"
    "7,Bad Fit\n"
    "8,Proposal\n"
    "9,Negotiation\n"
    "10,Negotiation\n"
    "11,\n"
)


def test_status_reached_every_stage_up_to_the_one_named(load):
    loaded = load(STATUS_CSV, STATUS_DEFS)
    assert matrix(loaded.reached) == [
        "1000", "1100", "1110", "1110", "1111", "1000", "1000", "1000", "1000", "1000", "1000"]
    assert loaded.usable.all() and loaded.excluded == []


def test_status_only_the_current_stage_is_own_evidence(load):
    # Entered (own evidence) = reached & ~implied: the stage the status names (and the rule-less first
    # stage); the stages before it are implied. Reached - entered = skipped: 0, 3, 1, 0.
    loaded = load(STATUS_CSV, STATUS_DEFS)
    assert matrix(loaded.implied) == [
        "0000", "0000", "0100", "0100", "0110", "0000", "0000", "0000", "0000", "0000", "0000"]
    entered = (loaded.reached & ~loaded.implied).sum(axis=0).tolist()
    assert loaded.reached.sum(axis=0).tolist() == [11, 4, 3, 1]
    assert entered == [11, 1, 2, 1]


@pytest.mark.parametrize("value, reached", [
    ("Contact Made", "1100"), ("contact made", "1100"), ("CONTACT MADE", "1100"), ("  Contact Made  ", "1100"),
    ("proposal sent", "1110"), ("Proposal Made", "1110"), ("  proposal made", "1110"),
    ("Proposal", "1000"),  # values: [...] replaces the default (the name): 'Proposal' names nothing
    ("won", "1111"), ("Contact", "1000"), ("Contact Made Later", "1000"),  # whole values only
])
def test_status_values_match_trimmed_and_case_insensitively(load, value, reached):
    # One lead (row 2) with the value; the reached row follows the table above.
    loaded = load(f'Id,Stage\n1,"{value}"\n', STATUS_DEFS)
    assert matrix(loaded.reached) == [reached]


def test_status_value_naming_an_exit_makes_the_lead_exit(load):
    # Lead 6 ('Lost') leaves through Lost by the status column alone (Lost has no other rule);
    # lead 7 ('Bad Fit') through Disqualified by its condition on the same column. No one else exits.
    loaded = load(STATUS_CSV, STATUS_DEFS)
    exits = list(loaded.leads["exit"].astype(object).fillna("-"))
    assert exits == ["-", "-", "-", "-", "-", "Lost", "Disqualified", "-", "-", "-", "-"]
    assert [int(i) for i in np.flatnonzero(loaded.exit_met[0])] == [5]  # Lost: lead 6 only
    assert [int(i) for i in np.flatnonzero(loaded.exit_met[1])] == [6]  # Disqualified: lead 7 only


def test_status_value_naming_no_stage_is_a_notice_with_values_and_counts(load):
    # Rows 9-11 (see the table): 'Negotiation' (2) before 'Proposal' (1); 'Bad Fit' (listed by the
    # Disqualified condition) and the blank are not reported. The leads stay leads (a notice).
    loaded = load(STATUS_CSV, STATUS_DEFS)
    notice = {i.reason: i for i in loaded.notices}["whose 'Stage' names no stage and no exit"]
    assert (notice.count, notice.rows) == (3, [9, 10, 11])
    assert "'Negotiation' (2), 'Proposal' (1)" in notice.detail
    assert "Bad Fit" not in notice.describe()
    assert loaded.excluded == [] and loaded.usable.all()


def test_values_listed_by_a_market_or_stage_condition_are_known_too(load):
    # 'Closed Lost' is listed by the exit's condition, 'Partner' by a market's, 'Demo' by a stage's
    # `when`: none of them is reported. 'Stalled' (row 6) is listed by no condition: reported alone.
    # Lead 3 ('Demo') reaches Demo by its condition (and MQL, implied).
    defs = """\
version: 1
columns: {id: Id, stage_now: Status}
stage_column: stage_now
stages:
  - name: MQL
  - name: Demo
    when: {stage_now: {eq: demo}}
exits:
  - name: Lost
    when: {stage_now: {in: [Closed Lost]}}
markets:
  - name: Partners
    when: {Status: {in: [Partner]}}
"""
    loaded = load("Id,Status\n1,Closed Lost\n2,Partner\n3,Demo\n4,MQL\n5,Stalled\n", defs)
    assert by_reason(loaded.notices) == {"whose 'Status' names no stage and no exit": (1, [6])}
    assert "'Stalled' (1)" in loaded.notices[0].detail
    assert matrix(loaded.reached) == ["10", "10", "11", "10", "10"]
    assert list(loaded.leads["exit"].astype(object).fillna("-")) == ["Lost", "-", "-", "-", "-"]
    assert list(loaded.leads["market"]) == ["out of market", "Partners", "out of market", "out of market", "out of market"]


def test_status_unknown_values_beyond_five_are_summarised(load):
    # Six distinct unknown values, each once (rows 2-7): the five first shown, "and 1 more".
    loaded = load("Id,Stage\n" + "".join(f"{i},Odd{i}\n" for i in range(1, 7)), STATUS_DEFS)
    (notice,) = loaded.notices
    assert (notice.count, notice.rows) == (6, [2, 3, 4, 5, 6])
    assert "and 1 more" in notice.detail and "'Odd6'" not in notice.detail


def test_status_end_to_end_conversion(conversion):
    # The table above through the CLI (no dates: --as-of is given). Nothing has an SLA, so nothing
    # is stuck; exits: lead 6 (Lost) and 7 (Disqualified) at Lead.
    #   Lead:         reached 11 = converted 4 + exited 2 + in progress 5 (1, 8, 9, 10, 11)
    #   Contact Made: reached 4  = converted 3 + in progress 1 (lead 2)
    #   Proposal:     reached 3  = converted 1 + in progress 2 (leads 3, 4)
    #   Won:          reached 1
    # skipped = reached - entered: 0, 3, 1, 0
    report, result = conversion(STATUS_CSV, STATUS_DEFS, "--as-of", "2024-06-30")
    rows = stage_rows(report)
    assert [rows[s]["reached"] for s in rows] == [11, 4, 3, 1]
    assert [rows[s]["skipped"] for s in rows] == [0, 3, 1, 0]
    assert (rows["Lead"]["converted"], rows["Lead"]["exited"], rows["Lead"]["in_progress"]) == (4, 2, 5)
    assert (rows["Lead"]["exited:Lost"], rows["Lead"]["exited:Disqualified"]) == (1, 1)
    assert (rows["Contact Made"]["converted"], rows["Contact Made"]["in_progress"]) == (3, 1)
    assert (rows["Proposal"]["converted"], rows["Proposal"]["in_progress"]) == (1, 2)
    assert_partition(report)
    assert report["accounting"]["rows_read"] == 11 and report["accounting"]["leads_in_report"] == 11
    assert "3 rows whose 'Stage' names no stage and no exit (rows 9, 10, 11)" in result.stderr
    assert "'Negotiation' (2), 'Proposal' (1)" in result.stderr


def test_status_column_by_header_name(load):
    # stage_column may name the export's header directly instead of a canonical name.
    defs = STATUS_DEFS.replace("columns: {id: Id, stage_now: Stage}", "columns: {id: Id}").replace(
        "stage_column: stage_now", "stage_column: Stage").replace("{stage_now: {in: [Bad Fit]}}", "{Stage: {in: [Bad Fit]}}")
    loaded = load(STATUS_CSV, defs)
    assert matrix(loaded.reached)[:5] == ["1000", "1100", "1110", "1110", "1111"]
    assert by_reason(loaded.notices) == {"whose 'Stage' names no stage and no exit": (3, [9, 10, 11])}


# --------------------------------------------------------------------------------------------
# 2. The reference status definitions of docs/metrics.md, verbatim: status + dates + a list of
#    date_formats + blank_values + exits by condition


# row deal stage          state created (2 formats)   won time            lost time            reached QCPW  implied
#  2   1   Qualified      open  03/01 09:00 AM        -                   -                    1000          0000
#  3   2   Contact Made   open  03/02 10:15 AM        -                   -                    1100          0000
#  4   3   Proposal sent  open  03/02                 -                   -                    1110          0100
#  5   4   Proposal Made  won   03/03                 03/09 04:45 PM      -                    1111          0100
#  6   5   Contact Made   lost  03/01                 -                   03/08 11:00 AM       1100 (Lost)   0000
#  7   6   Select -> ''   open  03/07                 -                   -                    1000          0000
#  8   7   Negotiation    open  03/05                 -                   -                    1000          0000
# Row 7 also has 'N/A' (stage_since) and '--None--' (owner): one row with blank values.
# Qualified dates (own, from the created column): 03-01, 03-02, 03-02, 03-03, 03-01, 03-07, 03-05.
# Won is reached by `state in [won]` (lead 4), dated 03-09 (own). Contact Made and Proposal have
# no own date: lead 4's effective date there is Won's, 03-09.
# As-of = the latest date: Won time 03-09 (and lead 4's stage_since 03/09/2024).
# Buckets (no SLAs): Qualified 7 = converted 4 + in progress 3 (1, 6, 7)
#                    Contact Made 4 = converted 2 (3, 4) + exited 1 (5, Lost) + in progress 1 (2)
#                    Proposal 2 = converted 1 (4) + in progress 1 (3)
# Cycle time Qualified -> Won: lead 4 alone has both own dates: 03-03 to 03-09 = 6 days.
REFERENCE_STATUS_CSV = (
    "Deal - ID,Deal - Stage,Deal - Status,Deal - Last stage change,Deal - Owner,Deal - Deal created,Deal - Won time,Deal - Lost time\n"
    "1,Qualified,open,03/01/2024 09:00 AM,Ann,03/01/2024 09:00 AM,,\n"
    "2,Contact Made,open,03/05/2024,Bob,03/02/2024 10:15 AM,,\n"
    "3,Proposal sent,open,03/06/2024 02:30 PM,Ann,03/02/2024,,\n"
    "4,Proposal Made,won,03/09/2024,Bob,03/03/2024,03/09/2024 04:45 PM,\n"
    "5,Contact Made,lost,03/04/2024,Cy,03/01/2024,,03/08/2024 11:00 AM\n"
    "6,Select,open,N/A,--None--,03/07/2024,,\n"
    "7,Negotiation,open,03/05/2024,Ann,03/05/2024,,\n"
)


def test_reference_status_definitions_lead_table(load):
    loaded = load(REFERENCE_STATUS_CSV, REFERENCE_STATUS)
    assert matrix(loaded.reached) == ["1000", "1100", "1110", "1111", "1100", "1000", "1000"]
    assert matrix(loaded.implied) == ["0000", "0000", "0100", "0100", "0000", "0000", "0000"]
    assert day_list(loaded, 0) == ["2024-03-01", "2024-03-02", "2024-03-02", "2024-03-03", "2024-03-01", "2024-03-07", "2024-03-05"]
    assert day_list(loaded, 3) == ["NaT", "NaT", "NaT", "2024-03-09", "NaT", "NaT", "NaT"]
    assert day_list(loaded, 1) == ["NaT", "NaT", "NaT", "2024-03-09", "NaT", "NaT", "NaT"]
    # own dates: Qualified for all, Won for lead 4; Contact Made and Proposal never (status only)
    assert matrix(loaded.dated) == ["1000", "1000", "1000", "1001", "1000", "1000", "1000"]
    assert list(loaded.leads["exit"].astype(object).fillna("-")) == ["-", "-", "-", "-", "Lost", "-", "-"]
    assert str(loaded.exit_dates[0][4]) == "2024-03-08"
    assert [str(d)[:10] for d in loaded.leads["stage_since"]] == [
        "2024-03-01", "2024-03-05", "2024-03-06", "2024-03-09", "2024-03-04", "NaT", "2024-03-05"]
    assert list(loaded.leads["owner"].astype(object).fillna("-")) == ["Ann", "Bob", "Ann", "Bob", "Cy", "-", "Ann"]
    assert by_reason(loaded.notices) == {
        "with a value the definitions read as blank (blank_values)": (1, [7]),
        "whose 'Deal - Stage' names no stage and no exit": (1, [8]),
    }
    assert loaded.excluded == []


def test_reference_status_definitions_conversion(conversion):
    report, _ = conversion(REFERENCE_STATUS_CSV, REFERENCE_STATUS)
    assert report["as_of"] == "2024-03-09"
    rows = stage_rows(report)
    assert [rows[s]["reached"] for s in rows] == [7, 4, 2, 1]
    assert (rows["Qualified"]["converted"], rows["Qualified"]["exited"], rows["Qualified"]["in_progress"]) == (4, 0, 3)
    assert (rows["Contact Made"]["converted"], rows["Contact Made"]["exited:Lost"], rows["Contact Made"]["in_progress"]) == (2, 1, 1)
    assert (rows["Proposal"]["converted"], rows["Proposal"]["in_progress"]) == (1, 1)
    assert [rows[s]["skipped"] for s in rows] == [0, 2, 0, 0]
    assert_partition(report)
    # velocity: Qualified -> Contact Made has no own date at Contact Made: no duration
    assert rows["Qualified"]["median_days"] is None and rows["Contact Made"]["median_days"] is None
    assert report["cycle_time"]["leads"] == 1 and report["cycle_time"]["median_days"] == 6


def test_reference_status_no_velocity_from_a_stage_with_no_own_date(conversion):
    # Lead 4's Proposal is own evidence (its status) with no date; its effective date is Won's
    # (03-09). docs/metrics.md "A stage with no own date": velocity leaves its steps out -> null, not 0.
    report, _ = conversion(REFERENCE_STATUS_CSV, REFERENCE_STATUS)
    assert stage_rows(report)["Proposal"]["median_days"] is None


def test_reference_status_stage_since_dates_the_current_stage_for_its_age(conversion):
    # docs/metrics.md "A stage with no own date": the current stage's age runs from the mapped "stage
    # since" column. With sla_days: 3 on Contact Made: lead 2 waits there since 03-05; at as-of
    # 03-09 its age is 4 > 3: stuck. (Leads 3, 4 converted; 5 exited.) Contact Made: 4 = 2 + 1 + 1 stuck + 0.
    defs = REFERENCE_STATUS.replace("  - name: Contact Made                 # status value", "  - name: Contact Made\n    sla_days: 3  #")
    assert "sla_days: 3" in defs
    report, _ = conversion(REFERENCE_STATUS_CSV, defs)
    rows = stage_rows(report)
    assert (rows["Contact Made"]["stuck"], rows["Contact Made"]["in_progress"]) == (1, 0)


# stage_since dates the stage the status names (the CRM's last stage change), and no other.
# As-of: the latest date, E's stage_since 03-10. Working (sla 5 days, reached by a condition or
# by the status naming it):
#   A  status Lead, touched: Working by the condition; stage_since 03-01 dates Lead, not Working:
#      age unknown, in progress (it was 9 days from 03-01: stuck)
#   B  status Working since 03-02: 8 days > 5: stuck
#   C  status Working since 02-01, but created 03-08: it can't have been in Working before it
#      existed: the age runs from 03-08, 2 days: in progress (it was 38 days: stuck); a notice
#   D  status 'Negotiation' names no stage, touched: Working by the condition; its stage_since
#      dates a stage the definitions don't have: age unknown, in progress
#   E  status Won: Working implied, converted
# Working: 5 reached = 1 converted + 1 stuck + 3 in progress (2 of unknown age).
SINCE_CSV = (
    "Id,Stage,Since,Created,Touched\n"
    "A,Lead,2024-03-01,2024-03-01,yes\n"
    "B,Working,2024-03-02,2024-03-01,\n"
    "C,Working,2024-02-01,2024-03-08,\n"
    "D,Negotiation,2024-03-01,2024-02-28,yes\n"
    "E,Won,2024-03-10,2024-03-05,\n"
)
SINCE_DEFS = """version: 1
columns: {id: Id, stage_now: Stage, stage_since: Since, touched: Touched}
stage_column: stage_now
stages:
  - {name: Lead, date: Created}
  - {name: Working, sla_days: 5, when: {touched: {in: ['yes']}}}
  - {name: Won}
"""


def test_stage_since_dates_only_the_stage_the_status_names(conversion, write):
    report, result = conversion(SINCE_CSV, SINCE_DEFS)
    assert report["as_of"] == "2024-03-10"
    working = stage_rows(report)["Working"]
    assert (working["reached"], working["converted"], working["stuck"], working["in_progress"]) == (5, 1, 1, 3)
    assert working["age_unknown"] == 2
    assert_partition(report)
    # C (row 4): in Working since 02-01, created 03-08: the notice names its row, as every notice does
    assert "1 row whose stage_since date is before the date of an earlier stage (row 4)" in result.stderr
    stuck = run("purgatory", write("export.csv", SINCE_CSV), "-d", write("defs.yml", SINCE_DEFS), "--list", "-f", "json", "-q")
    # B's age runs from its stage since (Working has no date of its own): the list says so, not '-'
    assert [(r["id"], r["entered"], r["days_in_stage"]) for r in json.loads(stuck.stdout)["tables"]["stuck_leads"]] == [
        ("B", "2024-03-02", 8)]


# REFERENCE_STATUS_CSV replayed as of 03-05 (docs/metrics.md "As-of date": events after it are
# ignored). Lead 6 was created 03-07: not yet in the funnel. The others:
#   1  Qualified (dated 03-01)                        at Qualified
#   2  Contact Made since 03-05 (has come)            at Contact Made (the same with no stage since)
#   3  Proposal sent since 03-06: not at Proposal on 03-05; Contact Made (implied, undated) is
#      judged on the export as it stands               at Contact Made
#   4  Proposal Made since 03-09, won 03-09: neither has come; Contact Made's effective date is
#      Won's (the earliest own date at or after it, 03-09): not yet   at Qualified
#   5  Contact Made since 03-04, lost 03-08 (not yet)  at Contact Made
#   7  'Negotiation' names no stage                    at Qualified
# Qualified 6 = converted 3 (2, 3, 5) + in progress 3 (1, 4, 7); Contact Made 3 in progress;
# Proposal and Won 0. (funnelcli once counted 3 and 4 at Proposal: the status as of the export's date.)
@pytest.mark.parametrize("since_of_2", ["03/05/2024", ""])
def test_status_replay_before_stage_since_is_before_the_stage(conversion, since_of_2):
    export = REFERENCE_STATUS_CSV.replace("2,Contact Made,open,03/05/2024,", f"2,Contact Made,open,{since_of_2},")
    assert f"2,Contact Made,open,{since_of_2},Bob" in export
    report, _ = conversion(export, REFERENCE_STATUS, "--as-of", "2024-03-05")
    rows = stage_rows(report)
    assert [rows[s]["reached"] for s in rows] == [6, 3, 0, 0]
    assert (rows["Qualified"]["converted"], rows["Qualified"]["in_progress"]) == (3, 3)
    assert (rows["Contact Made"]["converted"], rows["Contact Made"]["exited"], rows["Contact Made"]["in_progress"]) == (0, 0, 3)
    assert report["accounting"]["leads_in_report"] == 6
    assert_partition(report)


# A deal won on 02-25 from Proposal, where it was since 01-20 (its stage since): replayed as of
# 02-10 it was at Proposal, though Proposal and Contact Made borrow Won's date (02-25, after the
# as-of date). D2 sits at Contact Made since 01-25. Both are placed by their stage since: no
# "can't place" note. Qualified 2 = converted 2; Contact Made 2 = converted 1 (W1) + in progress
# 1 (D2); Proposal 1 in progress (W1, since 01-20); Won 0. (funnelcli once left W1 at Qualified.)
WON_LATER_CSV = (
    "Deal - ID,Deal - Stage,Deal - Status,Deal - Last stage change,Deal - Owner,Deal - Deal created,Deal - Won time,Deal - Lost time\n"
    "W1,Proposal Made,won,01/20/2026,Ann,01/05/2026,02/25/2026,\n"
    "D2,Contact Made,open,01/25/2026,Bob,01/10/2026,,\n"
)


def test_status_replay_places_a_stage_by_its_stage_since(conversion, write):
    report, result = conversion(WON_LATER_CSV, REFERENCE_STATUS, "--as-of", "2026-02-10")
    rows = stage_rows(report)
    assert [rows[s]["reached"] for s in rows] == [2, 2, 1, 0]
    assert (rows["Contact Made"]["converted"], rows["Contact Made"]["in_progress"]) == (1, 1)
    assert (rows["Proposal"]["converted"], rows["Proposal"]["in_progress"]) == (0, 1)
    assert_partition(report)
    text = run("conversion", write("export.csv", WON_LATER_CSV), "-d", write("defs.yml", REFERENCE_STATUS),
               "--as-of", "2026-02-10", "-q").stdout
    assert "Replay:" not in text
    explained = run("explain", write("export.csv", WON_LATER_CSV), "W1", "-d", write("defs.yml", REFERENCE_STATUS),
                    "--as-of", "2026-02-10", "-f", "json", "-q").stdout
    proposal = json.loads(explained)["leads"][0]["stages"][2]
    assert proposal["bucket"] == "in progress" and proposal["why"].startswith("in Proposal since 2026-01-20 (the stage-since column), 21 days")


@pytest.mark.parametrize("fmt", ["text", "markdown", "html"])
def test_a_quiet_report_says_which_status_values_name_no_stage(write, fmt):
    # -q silences stderr: a report mailed or written so still says that row 8's 'Negotiation'
    # names no stage (the lead counts at Qualified only), and that row 7 has blank values
    result = run("conversion", write("export.csv", REFERENCE_STATUS_CSV), "-d", write("defs.yml", REFERENCE_STATUS),
                 "-f", fmt, "-q")
    assert result.exit_code == 0 and result.stderr == ""
    data = [line for line in re.sub(r"<[^>]+>", "", result.stdout).splitlines() if line.startswith("Data: ")]
    assert len(data) == 2
    assert "1 row whose" in data[1] and "names no stage and no exit (row 8)" in data[1]
    assert ("Negotiation" if fmt != "html" else "&#x27;Negotiation&#x27;") in data[1]
    assert "(row 7)" in data[0] and "blank" in data[0]


def test_a_reports_data_lines_name_options_as_stderr_does(write):
    # replayed before every deal: no leads; stderr and the report both say to check --as-of (the
    # report said 'as_of', the Python keyword)
    result = run("conversion", write("export.csv", REFERENCE_STATUS_CSV), "-d", write("defs.yml", REFERENCE_STATUS),
                 "--as-of", "2023-12-01", "-f", "text")
    said = "no leads in the report (check --since, --until, --market and --as-of)"
    assert said in result.stderr and f"Data: {said}." in result.stdout


def test_explain_says_a_replay_comes_before_the_stage_change(write):
    result = run("explain", write("export.csv", REFERENCE_STATUS_CSV), "3", "-d", write("defs.yml", REFERENCE_STATUS),
                 "--as-of", "2024-03-05", "-f", "json", "-q")
    stages = {s["stage"]: s for s in json.loads(result.stdout)["leads"][0]["stages"]}
    assert stages["Proposal"]["reached"] is False
    assert stages["Proposal"]["why"] == ("not reached by the as-of date: the lead moved to Proposal on 2024-03-06 "
                                         "(the stage-since column), after it")
    assert stages["Contact Made"]["bucket"] == "in progress"


def test_explain_says_an_early_stage_since_gives_way_to_the_earlier_stage(write):
    result = run("explain", write("export.csv", SINCE_CSV), "C", "-d", write("defs.yml", SINCE_DEFS), "-q")
    assert "in Working since 2024-03-08, an earlier stage's date (the stage-since column's 2024-02-01 is before it), 2 days" in result.stdout


def test_status_strict_fails_on_unknown_values(write):
    # A value naming nothing is a notice: --strict turns it into exit 2; without it the run goes on.
    export, defs = write("export.csv", STATUS_CSV), write("defs.yml", STATUS_DEFS)
    assert run("conversion", export, "-d", defs, "--as-of", "2024-06-30", "-q").exit_code == 0
    result = run("conversion", export, "-d", defs, "--as-of", "2024-06-30", "--strict")
    assert result.exit_code == 2 and result.stdout == ""
    assert "names no stage and no exit" in result.stderr and "--strict" in result.stderr


def test_validate_data_reports_a_missing_status_column(write):
    # The export says 'Status' where stage_column's header is 'Stage': missing-column, at the
    # status column's mapping and at stage_column, the nearest header named.
    export = write("export.csv", "Id,Status\n1,Lead\n")
    result = run("validate", write("defs.yml", STATUS_DEFS), "--data", export, "-f", "json")
    assert result.exit_code == 1
    problems = json.loads(result.stdout)
    assert {p["rule"] for p in problems} == {"missing-column"}
    assert any("stage_column: column 'Stage' is not in" in p["message"] and "(nearest: 'Status')" in p["message"]
               and (p["line"], p["col"]) == (3, 15) for p in problems)


# --------------------------------------------------------------------------------------------
# 3. Flags


FLAG_DEFS = """\
version: 1
columns: {id: Id}
stages:
  - name: Lead                         # every lead
  - name: Converted
    flag: Converted
"""

TRUE_VALUES = ["1", "true", "TRUE", "True", "yes", "YES", "y", "Y", "x", "X", "checked", "Checked", " yes ", "  X"]
FALSE_VALUES = ["0", "false", "FALSE", "no", "No", "n", "N", "", "   ", " 0 "]


@pytest.mark.parametrize("value", TRUE_VALUES)
def test_flag_true_values(load, value):
    # Row 2 holds the value; row 3 a plain 0 beside it (so a column of one value is no special case).
    loaded = load(f'Id,Converted\n1,"{value}"\n2,0\n', FLAG_DEFS)
    assert matrix(loaded.reached) == ["11", "10"]
    assert loaded.excluded == []


@pytest.mark.parametrize("value", FALSE_VALUES)
def test_flag_false_values(load, value):
    loaded = load(f'Id,Converted\n1,"{value}"\n2,1\n', FLAG_DEFS)
    assert matrix(loaded.reached) == ["10", "11"]
    assert loaded.excluded == []


def test_flag_other_values_exclude_the_row_with_its_number(load):
    # rows 2 '1' (true), 3 'maybe', 4 '2', 5 'yes please', 6 'no' (false), 7 '-' : rows 3, 4, 5, 7
    # are neither true nor false: excluded (like an unparseable date), examples quote the first 3.
    loaded = load("Id,Converted\n1,1\n2,maybe\n3,2\n4,yes please\n5,no\n6,-\n", FLAG_DEFS)
    issue = {i.reason: i for i in loaded.excluded}["with an unparseable flag"]
    assert (issue.count, issue.rows) == (4, [3, 4, 5, 7])
    assert issue.examples == ["'maybe' in 'Converted'", "'2' in 'Converted'", "'yes please' in 'Converted'"]
    assert [bool(u) for u in loaded.usable] == [True, False, False, False, True, False]


def test_flag_unparseable_row_does_not_claim_its_id(load):
    # Row 2 (lead 1) has a bad flag; row 3 repeats lead 1 with a good one: it is the lead, not a
    # duplicate (an excluded row does not claim the id; docs/metrics.md#accounting).
    loaded = load("Id,Converted\n1,perhaps\n1,yes\n", FLAG_DEFS)
    assert by_reason(loaded.excluded) == {"with an unparseable flag": (1, [2])}
    assert [bool(u) for u in loaded.usable] == [False, True]


FLAG_DATE_DEFS = FLAG_DEFS + "    date: Converted Date\n"
# row id flag   date         Converted?  own date  why
#  2   1  1      2024-01-02   yes         01-02
#  3   2  yes    -            yes         -         reached by the flag, undated
#  4   3  0      2024-01-04   no          -         the date alone doesn't count: the flag is false
#  5   4  -      2024-01-05   no          -         blank flag is false
#  6   5  x      2024-01-03   yes         01-03
FLAG_DATE_CSV = "Id,Converted,Converted Date\n1,1,2024-01-02\n2,yes,\n3,0,2024-01-04\n4,,2024-01-05\n5,x,2024-01-03\n"


def test_flag_and_date_the_date_counts_only_where_the_flag_is_true(load):
    loaded = load(FLAG_DATE_CSV, FLAG_DATE_DEFS)
    assert matrix(loaded.reached) == ["11", "11", "10", "10", "11"]
    assert day_list(loaded, 1) == ["2024-01-02", "NaT", "NaT", "NaT", "2024-01-03"]
    assert [row[1] for row in matrix(loaded.dated)] == ["1", "0", "0", "0", "1"]  # own dates: leads 1 and 5


def test_flag_and_date_end_to_end(conversion):
    # Lead: 5 reached (no rule), converted 3 (1, 2, 5), in progress 2 (3, 4). The as-of date is
    # the latest date of something that happened: 2024-01-03 (lead 5's conversion). Leads 3 and 4
    # have a date in the column but their flag is false: no conversion happened then (an open
    # deal's expected close date is not an event; docs/metrics.md#as-of-date).
    report, _ = conversion(FLAG_DATE_CSV, FLAG_DATE_DEFS)
    rows = stage_rows(report)
    assert report["as_of"] == "2024-01-03"
    assert (rows["Lead"]["reached"], rows["Lead"]["converted"], rows["Lead"]["in_progress"]) == (5, 3, 2)
    assert rows["Converted"]["reached"] == 3
    assert_partition(report)


def test_flag_first_stage_has_no_own_date_so_no_velocity(conversion):
    # docs/metrics.md "A stage with no own date": Lead (no rule) is never dated by the lead's own
    # evidence, so Lead -> Converted has no duration for anyone: median null, cycle time 0 leads.
    report, _ = conversion(FLAG_DATE_CSV, FLAG_DATE_DEFS)
    assert stage_rows(report)["Lead"]["median_days"] is None
    assert report["cycle_time"]["leads"] == 0


def test_flag_funnel_with_no_dates_runs_without_as_of(write):
    # docs/metrics.md "Exports with no dates at all": conversion works without an as-of date.
    # Leads 1 and 3 converted (yes, 1); lead 2 did not: Lead 3, Converted 2.
    result = run("conversion", write("export.csv", "Id,Converted\n1,yes\n2,no\n3,1\n"),
                 "-d", write("defs.yml", FLAG_DEFS), "-f", "json")
    assert result.exit_code == 0, result.stderr
    rows = stage_rows(json.loads(result.stdout))
    assert (rows["Lead"]["reached"], rows["Converted"]["reached"]) == (3, 2)


@pytest.mark.parametrize("command", ["conversion", "trends"])
def test_an_as_of_date_for_an_export_with_no_dates_is_set_aside_and_said(write, command):
    # --as-of 2025-01-01 on a flag funnel with no dates: there is no earlier state to replay. The
    # header claimed a replay ("As of 2025-01-01 (given with --as-of)") and trends printed an empty
    # table; now the run is as of none, as without it, and a notice says the date was set aside.
    export, defs = write("export.csv", "Id,Converted\n1,yes\n2,no\n3,1\n"), write("defs.yml", FLAG_DEFS)
    result = run(command, export, "-d", defs, "--as-of", "2025-01-01", "-f", "json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["as_of"], report["as_of_source"]) == (None, "no dates in export")
    assert "--as-of 2025-01-01 set aside: the export has no dates" in result.stderr
    plain = json.loads(run(command, export, "-d", defs, "-f", "json").stdout)
    assert report["tables"] == plain["tables"]
    if command == "conversion":
        rows = stage_rows(report)
        assert (rows["Lead"]["reached"], rows["Converted"]["reached"]) == (3, 2)


NO_DATES_SLA_DEFS = """version: 1
columns: {id: Id, status: Status}
stages:
  - {name: MQL, sla_days: 3, when: {status: {in: [MQL, SAL, Won]}}}
  - {name: SAL, sla_days: 5, when: {status: {in: [SAL, Won]}}}
  - {name: Won, when: {status: {in: [Won]}}}
"""


def test_no_dates_with_an_sla_counts_the_age_unknown_in_conversion_as_purgatory_does(conversion, tmp_path):
    # No dates at all: nothing can be stuck, and every lead waiting in a stage with an SLA is of
    # unknown age (docs/metrics.md). Leads 1, 2 wait in MQL, lead 3 in SAL, lead 4 won: MQL 2,
    # SAL 1. Conversion left them out (0) while purgatory's backlog counted them.
    report, _ = conversion("Id,Status\n1,MQL\n2,MQL\n3,SAL\n4,Won\n", NO_DATES_SLA_DEFS)
    rows = stage_rows(report)
    assert [(rows[s]["in_progress"], rows[s]["stuck"], rows[s]["age_unknown"]) for s in ("MQL", "SAL")] == [(2, 0, 2), (1, 0, 1)]
    assert "Age unknown (the export has no dates; counted in progress): MQL 2, SAL 1." in report["notes"]
    purgatory = run("purgatory", tmp_path / "export.csv", "-d", tmp_path / "defs.yml", "-f", "json")  # the files conversion wrote
    assert purgatory.exit_code == 0, purgatory.stderr
    backlog = json.loads(purgatory.stdout)["tables"]["age_bands"]
    assert [(r["stage"], r["age_unknown"]) for r in backlog] == [("MQL", 2), ("SAL", 1)]


def test_flag_funnel_with_as_of(conversion):
    # The same file with --as-of: Lead 3 = converted 2 + in progress 1; nothing stuck (no SLA).
    report, result = conversion("Id,Converted\n1,yes\n2,no\n3,1\n", FLAG_DEFS, "--as-of", "2024-01-31")
    rows = stage_rows(report)
    assert (rows["Lead"]["reached"], rows["Lead"]["converted"], rows["Lead"]["in_progress"]) == (3, 2, 1)
    assert rows["Converted"]["reached"] == 2
    assert_partition(report)


def test_flag_unparseable_is_in_the_cli_accounting(conversion):
    # 4 rows: lead 3's 'sometimes' is excluded; 3 leads in the report.
    report, result = conversion("Id,Converted\n1,yes\n2,no\n3,sometimes\n4,Y\n", FLAG_DEFS, "--as-of", "2024-01-31")
    acc = report["accounting"]
    assert acc["rows_read"] == 4 and acc["leads_in_report"] == 3
    assert acc["excluded"] == [{"reason": "with an unparseable flag", "count": 1, "first_rows": [4]}]
    assert "1 row with an unparseable flag such as 'sometimes' in 'Converted' (row 4)" in result.stderr


# --------------------------------------------------------------------------------------------
# 4. A first stage with no rule


def test_first_stage_with_no_rule_every_lead_reaches_it(load):
    # Rows 2-4; only lead 2 has an MQL date. All three reached Lead, on their own (not implied).
    defs = "version: 1\ncolumns: {id: Id}\nstages:\n  - name: Lead\n  - {name: MQL, date: MQL}\n"
    loaded = load("Id,MQL\n1,\n2,2024-01-02\n3,\n", defs)
    assert matrix(loaded.reached) == ["10", "11", "10"]
    assert matrix(loaded.implied) == ["00", "00", "00"]
    # Lead's effective date is the earliest own date at or after it: lead 2's MQL date
    assert day_list(loaded, 0) == ["NaT", "2024-01-02", "NaT"]


def test_first_stage_with_no_rule_keeps_every_lead_in_the_funnel(conversion):
    # The same file: nobody "never reached the first stage"; Lead 3 = converted 1 + in progress 2.
    defs = "version: 1\ncolumns: {id: Id}\nstages:\n  - name: Lead\n  - {name: MQL, date: MQL}\n"
    report, _ = conversion("Id,MQL\n1,\n2,2024-01-02\n3,\n", defs)
    assert report["accounting"]["never_reached_first_stage"] == 0
    assert report["accounting"]["leads_in_report"] == 3
    rows = stage_rows(report)
    assert (rows["Lead"]["reached"], rows["Lead"]["converted"], rows["Lead"]["in_progress"]) == (3, 1, 2)


# --------------------------------------------------------------------------------------------
# 5. blank_values


BLANK_DEFS = """\
version: 1
columns: {id: Id, owner: Owner, status: Status}
blank_values: [Select, --None--, ' n/a ']
stages:
  - {name: MQL, date: MQL}
  - {name: Won, flag: Won}
exits:
  - name: Unknown status
    when: {status: {missing: true}}
"""
# row id    owner      status   MQL         Won     blank values in the row      result
#  2  1     Ann        Open     2024-01-02  yes     -                            Won
#  3  2     SELECT     --none-- 2024-01-03  no      owner, status (any case)     owner blank, exit 'Unknown status'
#  4  3     Bob        Open     N/A         no      MQL (trimmed list entry)     MQL blank, not unparseable: never reached MQL
#  5  4     Cy         Open     2024-01-04  n/a     Won                          Won blank -> false
#  6  N/A   Dee        Open     2024-01-05  yes     Id                           blank id: excluded
#  7  5     ' Select ' Open     2024-01-06  no      owner (value trimmed)        owner blank
# Rows with a blank value: 3, 4, 5, 6, 7 -> a notice of 5 rows (rows, not cells: row 3 has two).
BLANK_CSV = (
    "Id,Owner,Status,MQL,Won\n"
    "1,Ann,Open,2024-01-02,yes\n"
    "2,SELECT,--none--,2024-01-03,no\n"
    "3,Bob,Open,N/A,no\n"
    "4,Cy,Open,2024-01-04,n/a\n"
    "N/A,Dee,Open,2024-01-05,yes\n"
    '5," Select ",Open,2024-01-06,no\n'
)


def test_blank_values_read_as_blank_in_every_column(load):
    loaded = load(BLANK_CSV, BLANK_DEFS)
    owners = list(loaded.leads["owner"].astype(object).fillna("-"))
    assert owners[:4] + owners[5:] == ["Ann", "-", "Bob", "Cy", "-"]
    assert list(loaded.leads["status"].astype(object).fillna("-"))[:2] == ["Open", "-"]
    assert day_list(loaded, 0)[:4] == ["2024-01-02", "2024-01-03", "NaT", "2024-01-04"]
    assert matrix(loaded.reached) == ["11", "10", "00", "10", "11", "10"]
    assert list(loaded.leads["exit"].astype(object).fillna("-"))[:4] == ["-", "Unknown status", "-", "-"]
    # N/A in the id column is a blank id; N/A in a date column is no date, not an unparseable one
    assert by_reason(loaded.excluded) == {"with a blank id": (1, [6])}


def test_blank_values_counted_in_a_notice(load):
    loaded = load(BLANK_CSV, BLANK_DEFS)
    notice = {i.reason: i for i in loaded.notices}["with a value the definitions read as blank (blank_values)"]
    assert (notice.count, notice.rows) == (5, [3, 4, 5, 6, 7])
    assert notice.detail == "read as blank"


def test_without_blank_values_the_same_cells_are_values(load):
    # The control: without blank_values, 'N/A' in MQL is an unparseable date (row 4), 'n/a' in Won
    # an unparseable flag (row 5), and 'N/A' a real id.
    loaded = load(BLANK_CSV, BLANK_DEFS.replace("blank_values: [Select, --None--, ' n/a ']\n", ""))
    assert by_reason(loaded.excluded) == {"with an unparseable date": (1, [4]), "with an unparseable flag": (1, [5])}
    assert list(loaded.leads["owner"])[1] == "SELECT"


def test_blank_values_notice_on_stderr(conversion):
    report, result = conversion(BLANK_CSV, BLANK_DEFS)
    assert "5 rows with a value the definitions read as blank (blank_values)" in result.stderr
    assert "(rows 3, 4, 5, 6, 7); read as blank" in result.stderr
    # 6 rows = 4 leads (1, 2, 4, 5) + 1 never reached MQL (3) + 1 excluded (blank id)
    acc = report["accounting"]
    assert (acc["rows_read"], acc["leads_in_report"], acc["never_reached_first_stage"], acc["rows_excluded"]) == (6, 4, 1, 1)


# --------------------------------------------------------------------------------------------
# 6. date_format as a list, tried in order per value


def test_date_format_list_mixing_with_and_without_time(load):
    # Salesforce writes '3/5/2024 1:07 PM' in one column and '3/6/2024' in another row of it.
    defs = "version: 1\ncolumns: {id: Id}\ndate_format: ['%m/%d/%Y %I:%M %p', '%m/%d/%Y']\nstages:\n  - {name: MQL, date: MQL}\n"
    loaded = load('Id,MQL\n1,3/5/2024 1:07 PM\n2,3/6/2024\n3,12/31/2023 11:59 PM\n4,2024-03-07\n5,31/12/2023\n', defs)
    # rows 2-4 parse by one format or the other; row 5 ('2024-03-07') is ISO, still read;
    # row 6 ('31/12/2023': no month 31) fits neither: excluded
    assert day_list(loaded, 0)[:4] == ["2024-03-05", "2024-03-06", "2023-12-31", "2024-03-07"]
    assert by_reason(loaded.excluded) == {"with an unparseable date": (1, [6])}


def test_date_format_list_first_format_that_fits_wins(load):
    # Day-first is tried before month-first: '03/05/2024' fits both and is 3 May; '05/13/2024'
    # fits only month-first (no month 13): 13 May. Swapping the list swaps the ambiguous one.
    text = "Id,MQL\n1,03/05/2024\n2,05/13/2024\n"
    day_first = "version: 1\ncolumns: {id: Id}\ndate_format: ['%d/%m/%Y', '%m/%d/%Y']\nstages:\n  - {name: MQL, date: MQL}\n"
    assert day_list(load(text, day_first), 0) == ["2024-05-03", "2024-05-13"]
    month_first = day_first.replace("['%d/%m/%Y', '%m/%d/%Y']", "['%m/%d/%Y', '%d/%m/%Y']")
    assert day_list(load(text, month_first), 0) == ["2024-03-05", "2024-05-13"]


def test_date_format_list_applies_to_every_date_column(load):
    # Both stage columns and an exit's date column use the list.
    defs = """\
version: 1
columns: {id: Id}
date_format: ['%m/%d/%Y %I:%M %p', '%m/%d/%Y']
stages:
  - {name: MQL, date: MQL}
  - {name: SAL, date: SAL}
exits:
  - {name: Lost, date: Lost}
"""
    loaded = load("Id,MQL,SAL,Lost\n1,1/2/2024,1/3/2024 9:00 AM,\n2,1/4/2024 10:30 PM,,2/1/2024\n", defs)
    assert day_list(loaded, 0) == ["2024-01-02", "2024-01-04"]
    assert day_list(loaded, 1) == ["2024-01-03", "NaT"]
    assert [str(d) for d in loaded.exit_dates[0]] == ["NaT", "2024-02-01"]
    assert loaded.excluded == []


# --------------------------------------------------------------------------------------------
# 7. Shapes mix in one funnel: stages by date, a later one by flag, exits from a status column


MIXED_DEFS = """\
version: 1
columns: {id: Id, status: Status}
stage_column: status
stages:
  - {name: MQL, date: MQL Date}
  - {name: SQL, date: SQL Date}
  - {name: Won, flag: Closed Won}
exits:
  - name: Lost
  - name: Recycled
    values: [Nurture]
"""
# row id MQL    SQL    flag status   reached (MQL SQL Won)  implied  exit
#  2   1 01-02  -      no   MQL      100                    000      -
#  3   2 01-02  01-05  yes  SQL      111                    000      -        (Won by the flag, undated)
#  4   3 01-03  -      no   Lost     100                    000      Lost
#  5   4 01-04  01-06  no   nurture  110                    000      Recycled
#  6   5 -      -      x    Won      111                    110      -        (Won by flag and status)
# As-of 01-06. MQL 5 = converted 3 (2, 4, 5) + exited 1 (3) + in progress 1 (1);
# SQL 3 = converted 2 (2, 5) + exited 1 (4). Velocity MQL -> SQL, own dates both ends: lead 2
# 3 days, lead 4 2 days -> median 2.5; SQL -> Won: Won has no date for anyone -> null.
MIXED_CSV = ("Id,MQL Date,SQL Date,Closed Won,Status\n1,2024-01-02,,no,MQL\n2,2024-01-02,2024-01-05,yes,SQL\n"
             "3,2024-01-03,,no,Lost\n4,2024-01-04,2024-01-06,no,nurture\n5,,,x,Won\n")


def test_mixed_shapes_lead_table(load):
    loaded = load(MIXED_CSV, MIXED_DEFS)
    assert matrix(loaded.reached) == ["100", "111", "100", "110", "111"]
    assert matrix(loaded.implied) == ["000", "000", "000", "000", "110"]
    assert list(loaded.leads["exit"].astype(object).fillna("-")) == ["-", "-", "Lost", "Recycled", "-"]
    assert loaded.notices == [] and loaded.excluded == []


def test_mixed_shapes_conversion(conversion):
    report, _ = conversion(MIXED_CSV, MIXED_DEFS)
    assert report["as_of"] == "2024-01-06"
    rows = stage_rows(report)
    assert [rows[s]["reached"] for s in rows] == [5, 3, 2]
    assert (rows["MQL"]["converted"], rows["MQL"]["exited:Lost"], rows["MQL"]["in_progress"]) == (3, 1, 1)
    assert (rows["SQL"]["converted"], rows["SQL"]["exited:Recycled"], rows["SQL"]["in_progress"]) == (2, 1, 0)
    assert_partition(report)
    assert rows["MQL"]["median_days"] == 2.5
    assert rows["SQL"]["median_days"] is None


def test_unknown_status_values_are_in_the_json_even_when_quiet(conversion):
    # -q silences stderr; the values that name no stage still reach a pipeline reading the JSON
    report, result = conversion(STATUS_CSV, STATUS_DEFS, "--as-of", "2024-06-30", "-q")
    assert result.stderr == ""
    (unknown,) = [x for x in report["findings"] if "names no stage and no exit" in x["message"]]
    assert (unknown["kind"], unknown["count"]) == ("notice", 3)
    assert "'Negotiation' (2), 'Proposal' (1)" in unknown["message"]


def test_a_stage_since_after_the_as_of_date_is_an_event_ignored(conversion):
    # as of 06-26: deal 1 changed stage on 06-28 and deal 2 was created on 06-30, both after it
    export = ("Deal - ID,Deal - Stage,Deal - Status,Deal - Deal created,Deal - Last stage change\n"
              "1,Contact Made,open,2024-05-01,2024-06-28\n2,Qualified,open,2024-06-30,\n3,Qualified,open,2024-05-02,\n")
    defs = """version: 1
columns: {id: Deal - ID, stage_now: Deal - Stage, state: Deal - Status, stage_since: Deal - Last stage change}
stage_column: stage_now
stages:
  - {name: Qualified, date: Deal - Deal created, sla_days: 10}
  - {name: Contact Made, sla_days: 10}
"""
    report, result = conversion(export, defs, "--as-of", "2024-06-26")
    assert "2 leads have dates after the as-of date 2024-06-26; those events are ignored" in result.stderr
    _, single = conversion(export.replace("2024-06-28", "2024-06-20"), defs, "--as-of", "2024-06-26")
    assert "1 lead has dates after the as-of date 2024-06-26; those events are ignored" in single.stderr


CLOSE_DATE_DEFS = """version: 1
columns: {id: Id, stage_now: Stage}
stage_column: stage_now
stages:
  - {name: Prospecting, date: Created}
  - {name: Proposal, values: [Proposal]}
  - {name: Won, values: [Closed Won], date: Close Date}
exits:
  - {name: Lost, values: [Closed Lost], date: Close Date}
"""
CLOSE_DATE_CSV = ("Id,Stage,Created,Close Date\n"
                  "1,Prospecting,2024-03-01,2024-05-30\n"   # open: Close Date is the expected close
                  "2,Closed Won,2024-03-02,2024-04-10\n"
                  "3,Closed Lost,2024-03-03,2024-04-12\n"   # an exit's value: not an earlier stage
                  "4,Proposal,2024-03-04,\n")


def test_a_stage_date_ahead_of_the_status_is_a_notice(conversion):
    # Won's date column reaches Won for deals 1 and 3 (the definitions say so: values: are evidence
    # beside the date). Deal 1's status names Prospecting, an earlier stage: the notice names it
    # (row 2) and says how to write it. Deal 3's names an exit: before the last stage that says
    # nothing of how far a lead got (a recycled lead did reach SQL), but a lost deal counted won
    # is the close date's mistake too: a notice of its own (row 4). Deal 4 has no Close Date.
    report, result = conversion(CLOSE_DATE_CSV, CLOSE_DATE_DEFS)
    assert stage_rows(report)["Won"]["reached"] == 3  # deals 1, 2 and 3 (the lost deal's Close Date too)
    assert ("1 row whose Won date in 'Close Date' reaches Won while its status names an earlier stage "
            "(row 2); a date there counts whatever the status") in result.stderr
    assert "1 row whose Won date in 'Close Date' reaches Won while its status names an exit (row 4)" in result.stderr
    assert "write when: {stage_now: {in: [...]}} with the date" in result.stderr
    # written with when:, the date counts only where the status is Closed Won: no notice
    fixed = CLOSE_DATE_DEFS.replace("{name: Won, values: [Closed Won], date: Close Date}",
                                    "{name: Won, when: {stage_now: {in: [Closed Won]}}, date: Close Date}")
    report, result = conversion(CLOSE_DATE_CSV, fixed)
    assert stage_rows(report)["Won"]["reached"] == 1
    assert "reaches Won while its status" not in result.stderr


def test_explain_gives_no_age_from_a_borrowed_date(write):
    # Lead 4 reached Contact Made and Proposal by its status, with no date of their own: their
    # dates are Won's (03-09), borrowed. An age from them (0 days) would be a number made up: null.
    result = run("explain", write("export.csv", REFERENCE_STATUS_CSV), "4", "-d", write("defs.yml", REFERENCE_STATUS), "-f", "json", "-q")
    rows = {r["item"]: r for r in json.loads(result.stdout)["tables"]["explain"] if r["kind"] == "stage"}
    assert rows["Contact Made"]["date"] == "2024-03-09" and rows["Contact Made"]["own_date"] is None
    assert rows["Contact Made"]["age_days"] is None and rows["Proposal"]["age_days"] is None
    assert rows["Qualified"]["age_days"] == 6  # its own date, 03-03, to the as-of date 03-09
