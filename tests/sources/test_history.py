"""A stage-history log (`history:` with stage, at, only) pivoted to a row per lead (docs/metrics.md
"Export shapes", 4): a stage's own date is the lead's first entry into it, re-entries and
backward moves are counted and reported, rows that are not stage changes are selected away, the
exit is the one the latest change names, and every row of the log is accounted for.

Every test writes a real log under tmp_path and reads it with `api.read_export` or the CLI. Row
numbers are the log's spreadsheet rows (header = row 1). Stage columns in matrices: definition order.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
from pathlib import Path

import numpy as np
import pytest
from tests.conftest import pos, run

from funnelcli import api, definitions

# --------------------------------------------------------------------------------------------
# Helpers


@pytest.fixture
def load(load):
    """Return the source tests' loader, the export written as log.csv (messages name it)."""
    return functools.partial(load, name="log.csv")


@pytest.fixture
def cli(write):
    """Return a runner: (log text, definitions text, *args) -> Click result of `conversion`."""

    def _run(content: str, defs_text: str, *args: str):
        return run("conversion", write("log.csv", content), "-d", write("defs.yml", defs_text), *args)

    return _run


def matrix(m: np.ndarray) -> list[str]:
    return ["".join("1" if v else "0" for v in row) for row in m]


def day_list(values) -> list[str]:
    return [str(d) for d in values]


def by_reason(issues) -> dict:
    return {i.reason: (i.count, i.rows) for i in issues}


def stage_rows(report: dict) -> dict[str, dict]:
    return {row["stage"]: row for row in report["tables"]["stages"]}


# --------------------------------------------------------------------------------------------
# The log of the metrics contract's reference definitions (Pipedrive deal changes)


LOG_DEFS = """\
version: 1
columns: {id: deal_id, owner: owner}
history:
  stage: new_value                     # the column holding the stage entered
  at: change_time                      # when
  only: {changed_field_key: {in: [stage_id]}}   # the rows that are stage changes
stages:
  - name: Lead Generation
    values: ["1"]
  - name: Qualified
    values: ["2"]
  - name: Proposal
    values: ["3"]
exits:
  - name: Lost
    values: [lost]
"""
# row deal field     value date        owner  what
#  2  10   stage_id  1     2024-01-01  Ann    LG, first entry
#  3  10   stage_id  2     2024-01-05  Ann    Q, first entry
#  4  10   owner_id  Bob   2024-01-06  Bob    other change (not selected by only)
#  5  10   stage_id  1     2024-01-07  Bob    LG again: a re-entry, and a move back (Q -> LG)
#  6  10   stage_id  2     2024-01-09  Bob    Q again: a re-entry (forward)
#  7  11   stage_id  2     2024-01-02  Cy     Q (LG implied)
#  8  11   stage_id  lost  2024-01-10  Cy     exit Lost: 11's latest change
#  9  12   stage_id  3     2024-01-03  Dee    P (LG, Q implied)
# 10  12   stage_id  lost  2024-01-04  Dee    Lost ...
# 11  12   stage_id  3     2024-01-08  Dee    ... then P again (re-entry): the latest change names no exit
# 12  -    stage_id  1     2024-01-01  X      excluded: blank id
# 13  13   stage_id  1     -           X      excluded: no date
# 14  13   stage_id  9     2024-01-02  X      excluded: '9' names no stage and no exit
# 15  14   stage_id  1     2024-01-03  Eve    LG
# 16  14   stage_id  3     2024-01-04  Eve    P (Q skipped: implied)
# 17  14   stage_id  2     soon        Eve    excluded: unparseable date
#
# Rows: 16 = 11 stage changes (2, 3, 5, 6, 7, 8, 9, 10, 11, 15, 16) + 1 other (4) + 1 blank id (12)
#       + 2 undated (13, 17) + 1 naming nothing (14).
# Leads, in order of first appearance, at their first row: 10 (row 2), 11 (7), 12 (9), 13 (13), 14 (15).
# Lead 13 has no usable stage change (one row has no date, the other names no stage): excluded,
# as nothing is known of it (its undated row says it entered stage 1, when is unknown).
#         reached  implied  own dates LG / Q / P            effective LG / Q / P          exit
#   10    110      000      01-01 / 01-05 / -               01-01 / 01-05 / -             - (latest: Q)
#   11    110      100      -     / 01-02 / -               01-02 / 01-02 / -             Lost, 01-10
#   12    111      110      -     / -     / 01-03           01-03 / 01-03 / 01-03         - (latest: P, 01-08)
#   13    000      000      -                               -                             -
#   14    111      010      01-03 / -     / 01-04           01-03 / 01-04 / 01-04         -
# Owner: each lead's latest row by date (other changes too): Bob, Cy, Dee, X (row 14), Eve (row 16).
LOG_CSV = (
    "deal_id,changed_field_key,new_value,change_time,owner\n"
    "10,stage_id,1,2024-01-01,Ann\n"
    "10,stage_id,2,2024-01-05,Ann\n"
    "10,owner_id,Bob,2024-01-06,Bob\n"
    "10,stage_id,1,2024-01-07,Bob\n"
    "10,stage_id,2,2024-01-09,Bob\n"
    "11,stage_id,2,2024-01-02,Cy\n"
    "11,stage_id,lost,2024-01-10,Cy\n"
    "12,stage_id,3,2024-01-03,Dee\n"
    "12,stage_id,lost,2024-01-04,Dee\n"
    "12,stage_id,3,2024-01-08,Dee\n"
    ",stage_id,1,2024-01-01,X\n"
    "13,stage_id,1,,X\n"
    "13,stage_id,9,2024-01-02,X\n"
    "14,stage_id,1,2024-01-03,Eve\n"
    "14,stage_id,3,2024-01-04,Eve\n"
    "14,stage_id,2,soon,Eve\n"
)


def test_log_is_pivoted_to_a_lead_per_id(load):
    loaded = load(LOG_CSV, LOG_DEFS)
    assert list(loaded.leads["id"]) == ["10", "11", "12", "13", "14"]
    assert list(loaded.leads["_row"]) == [2, 7, 9, 13, 15]
    assert list(loaded.leads["owner"]) == ["Bob", "Cy", "Dee", "X", "Eve"]
    assert loaded.rows_read == 5 and loaded.unit == "leads"
    assert loaded.usable.tolist() == [True, True, True, False, True]
    (gone,) = loaded.excluded
    assert (gone.reason, gone.count, gone.rows, gone.unit) == ("whose every row of the log is excluded", 1, [13], "lead")


def test_log_reached_and_implied(load):
    loaded = load(LOG_CSV, LOG_DEFS)
    assert matrix(loaded.reached) == ["110", "110", "111", "000", "111"]
    assert matrix(loaded.implied) == ["000", "100", "110", "000", "010"]
    # entered (own evidence) per stage: LG 10, 14; Q 10, 11; P 12, 14
    assert (loaded.reached & ~loaded.implied).sum(axis=0).tolist() == [2, 2, 2]


def test_log_stage_date_is_the_first_entry(load):
    # Lead 10 entered LG on 01-01 and again 01-07, Q on 01-05 and again 01-09: the first ones count.
    loaded = load(LOG_CSV, LOG_DEFS)
    assert day_list(loaded.date[:, 0]) == ["2024-01-01", "2024-01-02", "2024-01-03", "NaT", "2024-01-03"]
    assert day_list(loaded.date[:, 1]) == ["2024-01-05", "2024-01-02", "2024-01-03", "NaT", "2024-01-04"]
    assert day_list(loaded.date[:, 2]) == ["NaT", "NaT", "2024-01-03", "NaT", "2024-01-04"]
    # own dates (velocity's): only where the log has the lead's own entry
    assert matrix(loaded.dated) == ["110", "010", "001", "000", "101"]


def test_log_reentries_and_backward_moves_are_reported_with_rows(load):
    loaded = load(LOG_CSV, LOG_DEFS)
    notices = {i.reason: i for i in loaded.notices}
    again = notices["of the log entering a stage the lead had entered before (re-entries)"]
    assert (again.count, again.rows) == (3, [5, 6, 11])
    back = notices["of the log moving a lead back to an earlier stage"]
    assert (back.count, back.rows) == (1, [5])
    assert "1 lead moved back" in back.detail


def test_log_value_naming_no_stage_is_excluded_and_reported(load):
    loaded = load(LOG_CSV, LOG_DEFS)
    notice = {i.reason: i for i in loaded.notices}["of the log whose 'new_value' names no stage and no exit"]
    assert (notice.count, notice.rows) == (1, [14])
    assert "'9' (1)" in notice.detail


def test_log_exit_is_the_one_the_latest_change_names(load):
    # 11's latest change is 'lost' (01-10): out. 12 was lost on 01-04 but its latest change (01-08)
    # re-entered Proposal: not out; it was out from 01-04 until 01-08 (a replay in between finds it out).
    loaded = load(LOG_CSV, LOG_DEFS)
    assert list(loaded.leads["exit"].astype(object).fillna("-")) == ["-", "Lost", "-", "-", "-"]
    assert matrix(np.array(loaded.exit_met).T) == ["0", "1", "1", "0", "0"]
    assert day_list(loaded.exit_dates[0]) == ["NaT", "2024-01-10", "2024-01-04", "NaT", "NaT"]
    assert day_list(loaded.exit_until[0]) == ["NaT", "NaT", "2024-01-08", "NaT", "NaT"]


def test_log_file_account_balances_and_matches_the_hand_count(load):
    loaded = load(LOG_CSV, LOG_DEFS)
    (account,) = loaded.files
    assert (account.role, account.rows_read) == ("log", 16)
    assert account.balanced()
    assert account.parts == [
        (11, "stage changes (of 4 leads of the 5 in the log)"),  # lead 13 has none kept (no date; a value naming nothing)
        (1, "other changes (not selected by history.only)"),
        (0, "rows naming the stage the lead is in already (not a change)"),
        (0, "excluded blank in every column the definitions use"),
        (1, "excluded with a blank id"),
        (2, "excluded with no date or an unparseable date in 'change_time'"),
        (0, "excluded with a placeholder date in 'change_time' (on or before 1970-01-01, or after 2199-12-31)"),
        (0, "excluded whose 'new_value' is blank"),
        (1, "excluded whose stage names no stage and no exit"),
    ]
    assert account.first_rows == {
        "excluded with a blank id": [12],
        "excluded with no date or an unparseable date in 'change_time'": [13, 17],
        "excluded whose stage names no stage and no exit": [14],
    }


def test_log_end_to_end_conversion(cli):
    # As-of: the latest date among the leads' stage and exit dates, 01-10 (11's exit).
    #   LG: reached 4 (10, 11, 12, 14) = converted 4
    #   Q:  reached 4 = converted 2 (12, 14) + exited 1 (11, Lost) + in progress 1 (10)
    #   P:  reached 2
    # skipped = reached - entered: LG 4 - 2, Q 4 - 2, P 2 - 2.
    # velocity LG -> Q: own dates at both ends for lead 10 only: 01-01 -> 01-05 = 4 days.
    # Q -> P: nobody has an own Q date and an own P date (12 and 14 skipped Q): null.
    # cycle time LG -> P: lead 14 (own 01-03 -> 01-04) = 1 day; lead 12's LG is implied.
    result = cli(LOG_CSV, LOG_DEFS, "-f", "json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["as_of"] == "2024-01-10"
    rows = stage_rows(report)
    assert [rows[s]["reached"] for s in rows] == [4, 4, 2]
    assert [rows[s]["skipped"] for s in rows] == [2, 2, 0]
    assert (rows["Lead Generation"]["converted"], rows["Lead Generation"]["exited"], rows["Lead Generation"]["in_progress"]) == (4, 0, 0)
    assert (rows["Qualified"]["converted"], rows["Qualified"]["exited:Lost"], rows["Qualified"]["in_progress"]) == (2, 1, 1)
    for this, nxt in zip(report["tables"]["stages"], report["tables"]["stages"][1:]):
        assert this["reached"] == this["converted"] + this["exited"] + this["stuck"] + this["in_progress"]
        assert nxt["reached"] == this["converted"]
    assert rows["Lead Generation"]["median_days"] == 4
    assert rows["Qualified"]["median_days"] is None
    assert (report["cycle_time"]["leads"], report["cycle_time"]["median_days"]) == (1, 1)
    # the lead table: 5 leads = 4 in the report + 1 (lead 13) excluded, every row of its excluded
    acc = report["accounting"]
    assert (acc["rows_read"], acc["leads_in_report"], acc["never_reached_first_stage"]) == (5, 4, 0)
    assert acc["excluded"] == [{"reason": "whose every row of the log is excluded", "count": 1, "first_rows": [13]}]


def test_the_report_shows_entered_beside_reached_for_a_log(write):
    # domain.md: both are shown where the shape can differ (logs, statuses); report's stage table
    # had Reached only. By hand (above): entered = reached - skipped: LG 4 - 2, Q 4 - 2, P 2 - 0
    result = run("report", write("log.csv", LOG_CSV), "-d", write("defs.yml", LOG_DEFS), "-q", "-f", "json")
    rows = {r["stage"]: (r["reached"], r["entered"]) for r in json.loads(result.stdout)["tables"]["stages"]}
    assert rows == {"Lead Generation": (4, 2), "Qualified": (4, 2), "Proposal": (2, 2)}
    text = run("report", write("log.csv", LOG_CSV), "-d", write("defs.yml", LOG_DEFS), "-q", "-f", "text").stdout
    table = text.split("Stage-by-stage conversion\n")[1]
    assert table.splitlines()[1].split()[:3] == ["Stage", "Reached", "Entered"]
    assert re.search(r"^Lead Generation +4 +2 +4 ", table, re.M)


def test_log_cli_states_the_log_account_on_stderr(cli):
    result = cli(LOG_CSV, LOG_DEFS, "-f", "json")
    assert result.exit_code == 0, result.stderr
    assert ("log.csv (log): 16 rows read = 11 stage changes (of 4 leads of the 5 in the log) + 1 other change (not selected by history.only)"
            " + 1 excluded with a blank id (row 12) + 2 excluded with no date or an unparseable date in 'change_time' (rows 13, 17)"
            " + 1 excluded whose stage names no stage and no exit (row 14)") in result.stderr
    assert "3 rows of the log entering a stage the lead had entered before (re-entries) (rows 5, 6, 11)" in result.stderr
    assert "1 row of the log moving a lead back to an earlier stage (row 5)" in result.stderr


def test_a_move_back_in_a_log_is_reported_once_at_the_row_that_moved(cli):
    # Deal 20: Lead Generation 01-01 (row 2), Proposal 01-02 (row 3), Qualified 01-03 (row 4).
    # Qualified's first entry is after Proposal's: the move back at row 4. It was also reported
    # as "1 row with stage dates out of order (row 2)", the deal's first row, which is in order.
    log = ("deal_id,changed_field_key,new_value,change_time,owner\n"
           "20,stage_id,1,2024-01-01,Ann\n20,stage_id,3,2024-01-02,Ann\n20,stage_id,2,2024-01-03,Ann\n")
    result = cli(log, LOG_DEFS, "-f", "json")
    assert result.exit_code == 0, result.stderr
    assert "1 row of the log moving a lead back to an earlier stage (row 4)" in result.stderr
    assert "out of order" not in result.stderr


def test_log_by_owner_uses_each_leads_latest_row(cli):
    # --by owner: Bob (10), Cy (11), Dee (12), Eve (14) reached LG; X (13) never did.
    result = cli(LOG_CSV, LOG_DEFS, "-f", "json", "--by", "owner")
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)["tables"]["stages"]
    first = {r["group"]: r["reached"] for r in rows if r["stage"] == "Lead Generation"}
    assert first == {"Bob": 1, "Cy": 1, "Dee": 1, "Eve": 1}
    proposal = {r["group"]: r["reached"] for r in rows if r["stage"] == "Proposal"}
    assert proposal == {"Bob": 0, "Cy": 0, "Dee": 1, "Eve": 1}


def test_log_report_does_not_call_leads_rows(cli):
    # docs/metrics.md "Accounting: nothing lost": a user can always reconcile the report with the file.
    # The log has 16 rows; the report may count 5 leads, but must not state "5 rows read".
    result = cli(LOG_CSV, LOG_DEFS, "-f", "text", "-q")
    assert result.exit_code == 0, result.stderr
    assert "5 rows read" not in result.stdout
    assert "16 rows read" in result.stdout


# --------------------------------------------------------------------------------------------
# Smaller logs


# No `only:` (every row is a stage change); values default to the stage's name, any case, trimmed.
PLAIN_DEFS = """\
version: 1
columns: {id: id, owner: owner}
history: {stage: stage, at: at}
stages:
  - name: Lead
  - name: Qualified
  - name: Proposal
exits:
  - name: Lost
"""


def test_log_rows_need_not_be_in_date_order(load):
    # Lead 1's rows are written out of date order: Q 01-09 (row 2), Lead 01-01 (row 3),
    # ' qualified ' 01-05 (row 4). By date: Lead, Q (01-05), Q again (01-09 = row 2): the lead is
    # in Q already, so row 2 is no change and no re-entry. Nothing moves back.
    # Owner: the latest row by date is row 2 (Bob), not the last row of the file (Cy).
    loaded = load("id,stage,at,owner\n1,Qualified,2024-01-09,Bob\n1,Lead,2024-01-01,Ann\n1, qualified ,2024-01-05,Cy\n",
                  PLAIN_DEFS)
    assert day_list(loaded.date[0]) == ["2024-01-01", "2024-01-05", "NaT"]
    assert by_reason(loaded.notices) == {}
    assert {what: count for count, what in loaded.files[0].parts}["rows naming the stage the lead is in already (not a change)"] == 1
    assert list(loaded.leads["owner"]) == ["Bob"]
    assert list(loaded.leads["_row"]) == [2]


def test_log_reopened_after_an_exit_is_not_out(load):
    # Lead 1: Proposal 01-03, Lost 01-04, Qualified 01-06 (a move back: row 4). Latest: Qualified,
    # so no exit; the waterfall keeps the furthest stage (Proposal).
    # Lead 2: Lead 01-01, Lost 01-02: out, dated 01-02.
    # Lead 3: Lost only (01-02): out at Lead, the first stage, which has no rule (no values:, date,
    # when or flag): every lead of the log reaches it, as in every other shape (a deal created
    # straight into Lost is a lead lost at the entry).
    text = ("id,stage,at,owner\n1,Proposal,2024-01-03,A\n1,Lost,2024-01-04,A\n1,Qualified,2024-01-06,A\n"
            "2,Lead,2024-01-01,B\n2,Lost,2024-01-02,B\n3,lost,2024-01-02,C\n")
    loaded = load(text, PLAIN_DEFS)
    assert matrix(loaded.reached) == ["111", "100", "100"]
    assert list(loaded.leads["exit"].astype(object).fillna("-")) == ["-", "Lost", "Lost"]
    assert day_list(loaded.exit_dates[0]) == ["2024-01-04", "2024-01-02", "2024-01-02"]
    assert day_list(loaded.exit_until[0]) == ["2024-01-06", "NaT", "NaT"]  # lead 1 came back on 01-06
    notices = by_reason(loaded.notices)
    assert notices["of the log moving a lead back to an earlier stage"] == (1, [4])


def test_a_first_stage_with_no_rule_is_every_lead_of_the_log(load, write):
    # Lead has no values:, date, condition or flag: every lead with a row that counts reaches it,
    # as in a wide or status export. Deal 1: Qualified (1) then Proposal (2). Deal 2: only an
    # owner change (not selected by only:): at Lead, in progress. Deal 3: straight into Lost (9):
    # out at Lead. Deal 4: Qualified then Won (3), Proposal skipped. Deal 5: its one change is
    # undated, excluded: no row counts, so it reaches nothing. It had counted only deals 1 and 4,
    # and said Lead was skipped by both.
    defs = """\
version: 1
columns: {id: deal_id}
history: {stage: new_value, at: change_time, only: {changed_field_key: {in: [stage_id]}}}
stages:
  - name: Lead
  - {name: Qualified, values: [1], sla_days: 10}
  - {name: Proposal, values: [2], sla_days: 10}
  - {name: Won, values: [3]}
exits:
  - {name: Lost, values: [9]}
"""
    log = ("deal_id,changed_field_key,new_value,change_time\n1,stage_id,1,2025-01-01 09:00\n1,stage_id,2,2025-01-05 09:00\n"
           "2,user_id,7,2025-01-02 09:00\n3,stage_id,9,2025-01-03 09:00\n4,stage_id,1,2025-01-04 09:00\n"
           "4,stage_id,3,2025-01-20 09:00\n5,stage_id,1,someday\n")
    loaded = load(log, defs)
    assert list(loaded.leads["id"]) == ["1", "2", "3", "4", "5"]
    assert matrix(loaded.reached) == ["1110", "1000", "1000", "1111", "0000"]
    assert matrix(loaded.implied) == ["0000", "0000", "0000", "0010", "0000"]  # only deal 4's Proposal
    assert list(loaded.leads["exit"].astype(object).fillna("-")) == ["-", "-", "Lost", "-", "-"]
    # Lead's own date: the lead's first row that counts (no row names Lead): deal 2's owner change
    # (01-02) and deal 3's loss (01-03) date their entry, so that a replay places them
    assert day_list(loaded.date[:, 0]) == ["2025-01-01", "2025-01-02", "2025-01-03", "2025-01-04", "NaT"]
    # as of 01-02: deals 1 and 2 had entered (deal 1 in Qualified), 3 and 4 not yet
    replay = api.funnel(loaded, definitions.load([str(write("defs.yml", defs))]), as_of=dt.date(2025, 1, 2))
    assert [int(n) for n in replay.reached.sum(axis=0)] == [2, 1, 0, 0]
    # deals 1 and 4 have no date of their own at Lead (their first row is Qualified's): no days from
    # Lead to Qualified (0 days, borrowed, before), and no cycle time from Lead
    report = json.loads(run("conversion", write("log.csv", log), "-d", write("defs.yml", defs), "-f", "json", "-q").stdout)
    assert report["tables"]["stages"][0]["median_days"] is None and report["cycle_time"]["leads"] == 0


@pytest.mark.parametrize("newest_first", [False, True])
def test_changes_at_one_time_in_a_log_written_newest_first_are_named(load, newest_first):
    # A Salesforce history report of dates only. Opportunity 0061: Prospecting 03-01, Proposal and
    # Closed Lost both on 03-10, the loss last. Written newest first (as CRMs often write history),
    # the loss is above the Proposal row, and read top-down the deal was lost and then reopened.
    # Changes at one time keep file order (a guess at the file's direction would make a replay
    # differ from the log cut at its date), and a notice names the two rows, with what to do.
    rows = [("0061", "Prospecting", "3/1/2025"), ("0061", "Proposal", "3/10/2025"), ("0061", "Closed Lost", "3/10/2025"),
            ("0062", "Prospecting", "3/2/2025"), ("0062", "Proposal", "3/5/2025"), ("0062", "Closed Won", "3/12/2025")]
    if newest_first:
        rows = rows[2::-1] + rows[:2:-1]  # rows 2-4: 0061's Lost, Proposal, Prospecting; 5-7: 0062's
    defs = ("version: 1\ndate_format: ['%m/%d/%Y']\ncolumns: {id: Opportunity ID}\nhistory: {stage: To Stage, at: Last Modified}\n"
            "stages: [{name: Prospecting, sla_days: 7}, {name: Proposal, sla_days: 7}, {name: Closed Won}]\n"
            "exits: [{name: Closed Lost}]\n")
    loaded = load("Opportunity ID,To Stage,Last Modified\n" + "".join(f"{a},{b},{c}\n" for a, b, c in rows), defs)
    found = by_reason(loaded.notices)
    reason = "of the log at the same time as another change of their lead, in a log that runs newest first"
    if newest_first:
        assert found[reason] == (2, [2, 3])
        (notice,) = [n for n in loaded.notices if n.reason == reason]
        assert "sort the log oldest first" in notice.describe()
        assert list(loaded.leads["exit"].astype(object).fillna("-")) == ["-", "-"]  # as the file reads: reopened
    else:
        assert reason not in found
        assert list(loaded.leads["exit"].astype(object).fillna("-")) == ["Closed Lost", "-"]


def test_a_newest_first_log_of_one_day_a_lead_is_named_by_its_rows_order(load):
    # each deal's two changes share a day: their own rows give no direction, the file's order does
    # (03-12, 03-10, 03-08: newest first); all six rows are named
    defs = ("version: 1\ndate_format: ['%m/%d/%Y']\ncolumns: {id: Opportunity ID}\nhistory: {stage: To Stage, at: Last Modified}\n"
            "stages: [{name: Prospecting}, {name: Proposal}]\nexits: [{name: Closed Lost}]\n")
    log = "Opportunity ID,To Stage,Last Modified\n" + "".join(
        f"{d},Closed Lost,3/{day}/2025\n{d},Proposal,3/{day}/2025\n" for d, day in (("0063", 12), ("0062", 10), ("0061", 8)))
    found = by_reason(load(log, defs).notices)
    assert found["of the log at the same time as another change of their lead, in a log that runs newest first"][0] == 6


def test_log_exit_on_the_same_day_as_a_stage_follows_file_order(load):
    # Both of lead 1's changes are on 01-05: file order decides the latest. Lost then Qualified:
    # not out; Qualified then Lost: out.
    reopened = load("id,stage,at,owner\n1,Lost,2024-01-05,A\n1,Qualified,2024-01-05,A\n", PLAIN_DEFS)
    closed = load("id,stage,at,owner\n1,Qualified,2024-01-05,A\n1,Lost,2024-01-05,A\n", PLAIN_DEFS)
    assert list(reopened.leads["exit"].astype(object).fillna("-")) == ["-"]
    assert list(closed.leads["exit"].astype(object).fillna("-")) == ["Lost"]


ONLY_LOG = "id,Field,Value,When\n1,STAGE,A,2024-01-01\n1,owner,B,2024-01-02\n1,stage,B,2024-01-03\n"
# Text `in` is case-insensitive: rows 2 ('STAGE') and 4 ('stage') are stage changes (A 01-01,
# B 01-03); row 3 ('owner') is another change, so its 'B' on 01-02 is not an entry into B.
ONLY_DEFS = """\
version: 1
columns: {id: id}
history:
  stage: Value
  at: When
  only: {Field: {in: [stage]}}
stages:
  - name: A
  - name: B
"""


def test_log_only_selects_stage_changes_case_insensitively(load):
    loaded = load(ONLY_LOG, ONLY_DEFS)
    assert matrix(loaded.reached) == ["11"]
    assert day_list(loaded.date[0]) == ["2024-01-01", "2024-01-03"]
    (account,) = loaded.files
    assert [count for count, _ in account.parts[:2]] == [2, 1]  # stage changes, other changes
    assert account.balanced() and account.rows_read == 3


def test_log_only_by_a_canonical_name(load):
    # docs/metrics.md "Declarative conditions": fields are canonical names from columns:, or raw headers.
    # The same log and rule as above with `Field` mapped as `field`: the same result.
    defs = ONLY_DEFS.replace("columns: {id: id}", "columns: {id: id, field: Field}").replace("{Field: {in", "{field: {in")
    loaded = load(ONLY_LOG, defs)
    assert matrix(loaded.reached) == ["11"]
    assert day_list(loaded.date[0]) == ["2024-01-01", "2024-01-03"]


def test_log_at_column_also_mapped_as_created(load):
    # Lead 1 entered A on 01-01 and B on 01-03 (rows 2, 4 of ONLY_LOG, every row a stage change
    # here: row 3's 'B' on 01-02 is then the first entry into B). created = the latest row's When.
    defs = "version: 1\ncolumns: {id: id, created: When}\nhistory: {stage: Value, at: When}\nstages:\n  - name: A\n  - name: B\n"
    loaded = load(ONLY_LOG, defs)
    assert day_list(loaded.date[0]) == ["2024-01-01", "2024-01-02"]


def test_log_blank_values_and_undated_other_changes(load):
    # blank_values apply to the log: row 4's owner '--None--' is blank (the lead's owner, from its
    # latest dated row, row 3, is 'Ann'); row 5's 'N/A' date is blank, but row 5 is not a stage
    # change (field 'owner'): an other change, not an undated exclusion.
    defs = """\
version: 1
columns: {id: id, owner: owner}
blank_values: [N/A, --None--]
history:
  stage: value
  at: at
  only: {field: stage}
stages:
  - name: A
  - name: B
"""
    text = ("id,field,value,at,owner\n1,stage,A,2024-01-01,Ann\n1,stage,B,2024-01-03,Ann\n"
            "1,stage,B,2024-01-02,--None--\n1,owner,x,N/A,Bob\n")
    loaded = load(text, defs)
    (account,) = loaded.files
    assert account.balanced() and account.rows_read == 4
    parts = {what: count for count, what in account.parts}
    assert account.parts[0][0] == 2  # stage changes: rows 2 (A 01-01) and 4 (B 01-02)
    assert parts["rows naming the stage the lead is in already (not a change)"] == 1  # row 3: B again on 01-03
    assert parts["other changes (not selected by history.only)"] == 1
    assert parts["excluded with no date or an unparseable date in 'at'"] == 0
    assert day_list(loaded.date[0]) == ["2024-01-01", "2024-01-02"]  # B first entered 01-02 (row 4)
    assert list(loaded.leads["owner"]) == ["Ann"]
    assert by_reason(loaded.notices)["of the log with a value the definitions read as blank (blank_values)"] == (2, [4, 5])


def test_a_logs_footer_and_short_rows_are_accounted_for_with_blank_values(load):
    # blank_values remade the log's table and dropped what the reader had left out: the short row 4
    # and the report footer went unsaid. 6 rows read = 3 stage changes (rows 2, 3, 5) + 1 short
    # (row 4) + 2 lines of footer: the blank line (row 6) and the totals (row 7).
    defs = "version: 1\ncolumns: {id: id}\nblank_values: [--None--]\nhistory: {stage: value, at: at}\nstages:\n  - name: A\n  - name: B\n"
    text = 'id,value,at\n1,A,2024-01-01\n1,B,2024-01-03\n2,A\n3,A,2024-01-02\n\n"Grand Totals (4 records)"\n'
    loaded = load(text, defs)
    (account,) = loaded.files
    assert account.balanced() and account.rows_read == 6
    parts = {what: count for count, what in account.parts}
    assert parts["excluded with 2 fields where the header has 3"] == 1
    assert parts["in the report footer"] == 2
    assert account.first_rows["in the report footer"] == [6, 7]


@pytest.mark.parametrize("value, blank_values", [("", ""), ("N/A", "blank_values: [N/A]\n")], ids=["empty", "blank-value"])
def test_log_stage_change_with_a_blank_stage_is_excluded_and_reported(load, value, blank_values):
    # Row 3 is a stage change (every row is, without only:) whose stage is blank: it names no stage.
    # Excluded from the log's account for its own reason (a blank is no value to add to values:, as
    # the notice of values naming nothing told), the lead kept with its other rows (Lead 01-01,
    # Qualified 01-03).
    text = f"id,stage,at,owner\n1,Lead,2024-01-01,A\n1,{value},2024-01-02,A\n1,Qualified,2024-01-03,A\n"
    loaded = load(text, PLAIN_DEFS.replace("history:", blank_values + "history:"))
    assert matrix(loaded.reached) == ["110"]
    assert day_list(loaded.date[0]) == ["2024-01-01", "2024-01-03", "NaT"]
    (account,) = loaded.files
    assert account.balanced()
    parts = {what: count for count, what in account.parts}
    assert (parts["excluded whose 'stage' is blank"], parts["excluded whose stage names no stage and no exit"]) == (1, 0)
    assert account.first_rows["excluded whose 'stage' is blank"] == [3]
    assert not [n for n in loaded.notices if "names no stage" in n.reason]


def test_log_with_no_id_at_all_is_an_error(cli):
    result = cli("id,stage,at,owner\n,Lead,2024-01-01,A\n,Qualified,2024-01-02,A\n", PLAIN_DEFS)
    assert result.exit_code == 2 and result.stdout == ""
    assert "no row of the log has an id in 'id'" in result.stderr
    assert "Traceback" not in result.stderr


def test_log_with_a_missing_history_column_names_it(cli):
    # The log has no 'at' column (it is 'when'): the error names the missing column and its role.
    result = cli("id,stage,when,owner\n1,Lead,2024-01-01,A\n", PLAIN_DEFS)
    assert result.exit_code == 2 and result.stdout == ""
    assert "'at'" in result.stderr and "history at" in result.stderr
    assert "Traceback" not in result.stderr


def test_validate_data_reports_missing_log_columns(write):
    # The log's header says 'change_time_utc' for history.at (change_time): missing-column
    # "history at", at at:'s value (line 5, col 7: "  at: change_time"), the nearest header named.
    log = write("log.csv", "deal_id,changed_field_key,new_value,change_time_utc,owner\n10,stage_id,1,2024-01-01,Ann\n")
    result = run("validate", write("defs.yml", LOG_DEFS), "--data", log, "-f", "json")
    assert result.exit_code == 1
    (problem,) = json.loads(result.stdout)
    assert problem["rule"] == "missing-column" and (problem["line"], problem["col"]) == pos(LOG_DEFS, "  at: ^change_time")
    assert "history at: column 'change_time' is not in" in problem["message"]
    assert "(nearest: 'change_time_utc')" in problem["message"]


def test_log_as_of_is_the_latest_date_in_the_log(cli):
    # docs/metrics.md "As-of date": by default the latest date found in the export's date columns. The
    # log's `at` column runs to 01-09 (lead 1 re-entering Qualified), so as-of is 2024-01-09.
    text = "id,stage,at,owner\n1,Lead,2024-01-01,A\n1,Qualified,2024-01-05,A\n1,Lead,2024-01-07,A\n1,Qualified,2024-01-09,A\n"
    result = cli(text, PLAIN_DEFS, "-f", "json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["as_of"] == "2024-01-09"


# --------------------------------------------------------------------------------------------
# A log read with wide definitions


def test_wide_definitions_on_a_log_exit_2_suggesting_history(write):
    # 5 deals x 5 changes = 25 rows; with `columns: {id: deal_id}` and no history:, 20 rows repeat
    # an earlier id (more than half of 25): refused with a hint, not read as 5 leads.
    rows = "".join(f"{d},{s},2024-01-{s:02d}\n" for d in range(1, 6) for s in range(1, 6))
    log = write("log.csv", "deal_id,new_value,change_time\n" + rows)
    wide = write("wide.yml", "version: 1\ncolumns: {id: deal_id}\nstages:\n  - {name: A, date: change_time}\n")
    result = run("conversion", log, "-d", wide)
    assert result.exit_code == 2 and result.stdout == ""
    assert "20 of 25 rows repeat an id" in result.stderr
    assert "history:" in result.stderr and "stage-history log" in result.stderr
    assert "Traceback" not in result.stderr
    # The control: the same file described as a log reads 5 leads, each with stages 1..5 entered.
    as_log = write("log.yml", "version: 1\ncolumns: {id: deal_id}\nhistory: {stage: new_value, at: change_time}\n"
                   "stages:\n" + "".join(f"  - {{name: S{s}, values: ['{s}']}}\n" for s in range(1, 6)))
    result = run("conversion", log, "-d", as_log, "-f", "json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert [r["reached"] for r in report["tables"]["stages"]] == [5, 5, 5, 5, 5]
    assert [r["median_days"] for r in report["tables"]["stages"][:4]] == [1, 1, 1, 1]


def test_a_few_duplicate_ids_are_still_duplicates_not_a_log(write):
    # The control for the refusal: 21 rows, 1 duplicate: excluded as a duplicate id, not refused.
    rows = "".join(f"{i},2024-01-02\n" for i in range(1, 21)) + "7,2024-01-03\n"
    result = run("conversion", write("export.csv", "Id,MQL\n" + rows),
                 "-d", write("defs.yml", "version: 1\ncolumns: {id: Id}\nstages:\n  - {name: MQL, date: MQL}\n"), "-f", "json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["accounting"]["excluded"] == [{"reason": "with a duplicate id", "count": 1, "first_rows": [22]}]


# Changes of one day are ordered by their time, not by their place in the file. Lead 1 entered SQL
# at 16:00 after MQL at 10:00 (the file lists SQL first): no backward move. Lead 2 was lost at
# 15:00 after entering SQL at 09:00: its latest change is the exit, so it exited at SQL.
TIMED_DEFS = """\
columns: {id: deal_id}
history: {stage: new_value, at: change_time}
stages:
  - name: Lead
  - name: MQL
    values: [Marketing Qualified]
  - name: SQL
    values: [Sales Qualified]
exits:
  - name: Lost
    values: [Closed Lost]
"""
TIMED_LOG = """\
deal_id,new_value,change_time
1,Lead,2024-01-01 09:00
1,Sales Qualified,2024-01-05 16:00
1,Marketing Qualified,2024-01-05 10:00
2,Lead,2024-01-01 09:00
2,Closed Lost,2024-01-10 15:00
2,Sales Qualified,2024-01-10 09:00
"""


def test_log_orders_a_days_changes_by_their_time(load):
    loaded = load(TIMED_LOG, TIMED_DEFS)
    assert not any("back to an earlier stage" in i.reason for i in loaded.notices)
    assert list(loaded.exit_met[0]) == [False, True]  # lead 2's latest change (15:00) is Closed Lost
    assert matrix(loaded.reached) == ["111", "111"]  # lead 2 reached SQL (MQL implied)


# Three leads' changes interleaved in time order, as CRMs write a log (rows 2-12):
#   lead 1: Lead 01-01 (2), Qualified 01-02 (4), Lost 01-04 (6), Qualified again 01-06 (8: a
#           re-entry that reopens it), Proposal 01-09 (11), Lead again 01-10 (12: a re-entry and a
#           move back);
#   lead 2: Lead 01-01 (3), Proposal 01-03 (5), Qualified 01-05 (7: a move back), Lost 01-08 (10);
#   lead 3: Lead 01-07 (9).
TIME_ORDERED_LOG = (
    "id,stage,at,owner\n"
    "1,Lead,2024-01-01,A\n2,Lead,2024-01-01,B\n1,Qualified,2024-01-02,A\n2,Proposal,2024-01-03,B\n"
    "1,Lost,2024-01-04,A\n2,Qualified,2024-01-05,B\n1,Qualified,2024-01-06,A\n3,Lead,2024-01-07,C\n"
    "2,Lost,2024-01-08,B\n1,Proposal,2024-01-09,A\n1,Lead,2024-01-10,A\n"
)


def test_log_in_time_order_with_leads_interleaved(load):
    loaded = load(TIME_ORDERED_LOG, PLAIN_DEFS)
    assert day_list(loaded.date[0]) == ["2024-01-01", "2024-01-02", "2024-01-09"]
    # lead 2 reached Qualified by the day it reached Proposal (01-03); its own entry was 01-05
    assert day_list(loaded.date[1]) == ["2024-01-01", "2024-01-03", "2024-01-03"]
    assert day_list(loaded.date[2]) == ["2024-01-07", "NaT", "NaT"]
    assert list(loaded.leads["exit"].astype(object).fillna("-")) == ["-", "Lost", "-"]
    assert day_list(loaded.exit_dates[0]) == ["2024-01-04", "2024-01-08", "NaT"]
    assert day_list(loaded.exit_until[0]) == ["2024-01-06", "NaT", "NaT"]  # lead 1 reopened on 01-06
    notices = by_reason(loaded.notices)
    assert notices["of the log entering a stage the lead had entered before (re-entries)"] == (2, [8, 12])
    assert notices["of the log moving a lead back to an earlier stage"] == (2, [7, 12])


def test_log_in_lead_order_gives_what_time_order_gives(load):
    # The same changes written lead by lead (a file not in time order is sorted per lead first).
    lines = TIME_ORDERED_LOG.splitlines()
    by_lead = "\n".join([lines[0]] + sorted(lines[1:], key=lambda line: line.split(",")[0])) + "\n"
    timed, grouped = load(TIME_ORDERED_LOG, PLAIN_DEFS), load(by_lead, PLAIN_DEFS)
    assert day_list(np.asarray(grouped.date).ravel()) == day_list(np.asarray(timed.date).ravel())
    assert matrix(grouped.dated) == matrix(timed.dated)
    assert day_list(grouped.exit_until[0]) == day_list(timed.exit_until[0])
    assert {k: c for k, (c, _) in by_reason(grouped.notices).items()} == {k: c for k, (c, _) in by_reason(timed.notices).items()}
    # rows 2-7 hold lead 1 in order (re-entries rows 5 and 7, a move back row 7), rows 8-11 lead 2
    # (a move back row 10)
    assert by_reason(grouped.notices)["of the log entering a stage the lead had entered before (re-entries)"] == (2, [5, 7])
    assert by_reason(grouped.notices)["of the log moving a lead back to an earlier stage"] == (2, [7, 10])


def test_log_ragged_row_is_accounted_for(load):
    # Row 3 has two fields where the header has four: left out of the log, in its account; row 4
    # (lead 1's Qualified) keeps its number.
    loaded = load("id,stage,at,owner\n1,Lead,2024-01-01,A\n1,Qualified\n1,Qualified,2024-01-03,A\n", PLAIN_DEFS)
    (account,) = loaded.files
    assert account.rows_read == 3 and account.balanced()
    assert (1, "excluded with 2 fields where the header has 4") in account.parts
    assert account.first_rows["excluded with 2 fields where the header has 4"] == [3]
    assert [str(d) for d in loaded.date[0]] == ["2024-01-01", "2024-01-03", "NaT"]


def test_log_lead_lost_twice_is_out_in_both_times_out(write):
    # Lead 1: Lead 01-01, Lost 01-04, Qualified 01-06 (reopened), Lost again 01-09. Lead 2 (interleaved,
    # in time order): Lead 01-02, Lost 01-03, Lost again 01-08 (never reopened). Replayed:
    #   01-03: lead 1 in, lead 2 out (its first loss);  01-05: both out (lead 1's first time out);
    #   01-07: lead 1 back in (reopened 01-06), lead 2 still out;  01-10: both out.
    log = ("id,stage,at,owner\n1,Lead,2024-01-01,A\n2,Lead,2024-01-02,B\n2,Lost,2024-01-03,B\n1,Lost,2024-01-04,A\n"
           "1,Qualified,2024-01-06,A\n2,Lost,2024-01-08,B\n1,Lost,2024-01-09,A\n")
    defs = definitions.load([str(write("defs.yml", PLAIN_DEFS))])
    loaded = api.read_export(str(write("log.csv", log)), defs)
    out = {day: list(api.funnel(loaded, defs, as_of=dt.date(2024, 1, day)).exit_codes) for day in (3, 5, 7, 10)}
    assert out == {3: [-1, 0], 5: [0, 0], 7: [-1, 0], 10: [0, 0]}


# --------------------------------------------------------------------------------------------
# Found by trying logs as users write them (a QA pass)

QA_DEFS = """version: 1
columns: {id: deal_id, owner: user_id}
history: {stage: new_value, at: change_time, only: {changed_field_key: {in: [stage_id]}}}
stages:
  - {name: Qualified, values: ["1"], sla_days: 5}
  - {name: Contact Made, values: ["2"], sla_days: 5}
"""


def test_log_whose_times_never_parse_is_refused_with_the_date_format_hint(cli):
    # US dates with no date_format: five rows, none readable. A column of them is a setting, not
    # five rows to exclude (the wide shape refuses such a column the same way).
    log = "deal_id,changed_field_key,new_value,change_time,user_id\n" + "".join(
        f"{i},stage_id,1,03/0{i}/2025 10:00,11\n" for i in range(1, 6))
    result = cli(log, QA_DEFS)
    assert result.exit_code == 2
    assert "column 'change_time': no value parses as a date (such as '03/01/2025 10:00'); set date_format" in result.stderr
    # four such rows are rows: excluded and counted, the run goes on
    few = cli("\n".join(log.splitlines()[:5]) + "\n2,stage_id,1,2025-03-09,11\n", QA_DEFS)
    assert few.exit_code == 0, few.stderr
    assert "4 excluded with no date or an unparseable date in 'change_time' (rows 2, 3, 4, 5)" in few.stderr


def test_strict_fails_on_the_logs_excluded_rows(cli):
    log = ("deal_id,changed_field_key,new_value,change_time,user_id\n"
           "1,stage_id,1,2025-01-01 10:00:00,11\n"
           ",stage_id,1,2025-01-01 11:00:00,11\n"
           "2,stage_id,1,2025-01-0x 10:00,11\n")
    assert cli(log, QA_DEFS).exit_code == 0
    result = cli(log, QA_DEFS, "--strict")
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert any(line.startswith("  excluded 1 row of ") and line.endswith("log.csv with a blank id (row 3)") for line in lines)
    assert any(line.startswith("  excluded 1 row of ")
               and line.endswith("log.csv with no date or an unparseable date in 'change_time' (row 4)") for line in lines)
    clean = "deal_id,changed_field_key,new_value,change_time,user_id\n1,stage_id,1,2025-01-01 10:00:00,11\n"
    assert cli(clean, QA_DEFS, "--strict").exit_code == 0


def test_strict_passes_a_logs_moves_back_and_re_entries_and_still_tells_them(cli):
    # a deal moved back to Qualified and on again is how it went, not a fault in the export: every
    # Pipedrive log has some, and --strict failed on them, so a cron job could never use it on a log
    log = ("deal_id,changed_field_key,new_value,change_time,user_id\n"
           "1,stage_id,1,2025-01-01 10:00:00,11\n"
           "1,stage_id,2,2025-01-03 10:00:00,11\n"
           "1,stage_id,1,2025-01-05 10:00:00,11\n"
           "1,stage_id,2,2025-01-07 10:00:00,11\n")
    result = cli(log, QA_DEFS, "--strict")
    assert result.exit_code == 0, result.stderr
    assert "1 row of the log moving a lead back to an earlier stage (row 4); 1 lead moved back" in result.stderr
    assert "2 rows of the log entering a stage the lead had entered before (re-entries) (rows 4, 5)" in result.stderr
    # a fault beside them still fails it
    assert cli(log + ",stage_id,1,2025-01-08 10:00:00,11\n", QA_DEFS, "--strict").exit_code == 2


def test_an_excluded_row_of_the_log_does_not_set_the_as_of_date(cli):
    # row 3 names no stage: excluded, so its date (03-01) is no event; as of 01-01 the lead
    # entered Qualified that day (in progress, not stuck for 59 days)
    log = ("deal_id,changed_field_key,new_value,change_time,user_id\n"
           "1,stage_id,1,2025-01-01 10:00:00,11\n"
           "1,stage_id,99,2025-03-01 10:00:00,11\n")
    report = json.loads(cli(log, QA_DEFS, "-f", "json").stdout)
    assert report["as_of"] == "2025-01-01"
    assert (stage_rows(report)["Qualified"]["stuck"], stage_rows(report)["Qualified"]["in_progress"]) == (0, 1)
    # an owner change is a change of the log: it does set the as-of date
    owner = log.replace("1,stage_id,99,2025-03-01", "1,user_id,12,2025-01-20")
    assert json.loads(cli(owner, QA_DEFS, "-f", "json").stdout)["as_of"] == "2025-01-20"


PLACEHOLDER_DEFS = """\
version: 1
columns: {id: id}
history: {stage: value, at: at, only: {field: stage}}
stages:
  - {name: A, values: [A], sla_days: 5}
  - {name: B, values: [B]}
"""


@pytest.mark.parametrize("far", ["9999-12-31", "1900-01-01", "1970-01-01"])
def test_a_placeholder_date_in_the_log_is_no_date_as_in_a_wide_export(cli, far):
    # P3's A change and P4's B change carry a placeholder: excluded (a change with no date), never
    # the as-of date (9999-12-31 was) nor a cohort's start (1900-01-01 was). By hand: P1 A 01-02
    # B 01-04; P2 A 01-03; P3 B 01-05 (A implied); P4 A 01-04; as of 01-05. A reached 4, entered 3
    # (P3 skipped it), converted 2 (P1 P3), in progress 2 (P2 2 days, P4 1 day: SLA 5); B 2;
    # A->B 2 days (P1 only: P3 has no own A date). P4's owner change at the placeholder: a notice
    log = ("id,field,value,at\nP1,stage,A,2024-01-02\nP1,stage,B,2024-01-04\nP2,stage,A,2024-01-03\n"
           f"P3,stage,A,{far}\nP3,stage,B,2024-01-05\nP4,stage,A,2024-01-04\nP4,stage,B,{far}\nP4,owner,x,{far}\n")
    result = cli(log, PLACEHOLDER_DEFS, "-f", "json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["as_of"] == "2024-01-05"
    a, b = stage_rows(report)["A"], stage_rows(report)["B"]
    assert (a["reached"], a["entered"], a["converted"], a["stuck"], a["in_progress"]) == (4, 3, 2, 0, 2)
    assert (b["reached"], b["entered"]) == (2, 2)
    assert a["median_days"] == 2
    assert ("2 excluded with a placeholder date in 'at' (on or before 1970-01-01, or after 2199-12-31) (rows 5, 8)"
            in result.stderr)
    assert "1 row with a placeholder date in 'at' (on or before 1970-01-01, or after 2199-12-31) where no stage changes" in result.stderr


SF_HISTORY_DEFS = """\
version: 1
columns: {id: OpportunityId}
history: {stage: NewValue, at: CreatedDate, only: {Field: {in: [StageName]}}}
stages:
  - name: Prospecting
  - name: Qualification
  - name: Won
    values: [Closed Won]
"""


def test_a_first_stage_with_no_rule_is_dated_by_the_leads_first_row_whatever_follows(write):
    # Salesforce OpportunityFieldHistory: a 'created' row (not a stage change: another change)
    # opens each opportunity. 006B has only it: Prospecting 01-02. 006A's Prospecting was dated by
    # its Qualification (01-10), not its creation (01-01), and 006C's (created 02-20, won 03-05) by
    # the win, in the March cohort. By hand now: Prospecting 01-01, 01-02, 02-20 (cohorts Jan 2,
    # Feb 1, Mar 0); Prospecting->Qualification 9 days (006A; 006C's Qualification is implied)
    log = write("log.csv", "Id,OpportunityId,Field,OldValue,NewValue,CreatedDate\n"
                           "1,006A,created,,,2024-01-01T09:00:00.000Z\n2,006A,StageName,Prospecting,Qualification,2024-01-10T09:00:00.000Z\n"
                           "3,006B,created,,,2024-01-02T09:00:00.000Z\n4,006C,created,,,2024-02-20T09:00:00.000Z\n"
                           "5,006C,StageName,Prospecting,Closed Won,2024-03-05T09:00:00.000Z\n")
    defs = write("defs.yml", SF_HISTORY_DEFS)
    rows = stage_rows(json.loads(run("conversion", log, "-d", defs, "-f", "json", "-q").stdout))
    assert [rows[s]["reached"] for s in rows] == [3, 2, 1]
    assert rows["Prospecting"]["median_days"] == 9
    cohorts = json.loads(run("trends", log, "-d", defs, "-f", "json", "-q").stdout)["tables"]["cohorts"]
    assert [(r["period"], r["cohort"]) for r in cohorts] == [("2024-01", 2), ("2024-02", 1), ("2024-03", 0)]
    # a lead whose first row is its later stage's entry (the same day) borrows that date: no days counted
    same = write("same.csv", "Id,OpportunityId,Field,OldValue,NewValue,CreatedDate\n"
                             "1,006D,StageName,Prospecting,Qualification,2024-01-10T09:00:00.000Z\n")
    rows = stage_rows(json.loads(run("conversion", same, "-d", defs, "-f", "json", "-q").stdout))
    assert (rows["Prospecting"]["reached"], rows["Prospecting"]["median_days"]) == (1, None)


def test_a_missing_history_column_points_to_history(cli):
    log = "deal_id,changed_field_key,new_value,changed_at,user_id\n1,stage_id,1,2025-01-01,11\n"
    result = cli(log, QA_DEFS)
    assert result.exit_code == 2
    assert "'change_time' (used by history at) (nearest: 'changed_at')" in result.stderr
    assert "Fix the names under 'history:' in the definitions." in result.stderr


def test_log_counts_read_in_the_singular(cli):
    log = ("deal_id,changed_field_key,new_value,change_time,user_id\n"
           "1,stage_id,2,2025-01-01 10:00:00,11\n"
           "1,stage_id,1,2025-01-02 10:00:00,11\n"
           "1,user_id,12,2025-01-03 10:00:00,11\n")
    result = cli(log, QA_DEFS)
    assert "3 rows read = 2 stage changes (of 1 lead) + 1 other change (not selected by history.only)" in result.stderr
    assert "1 row of the log moving a lead back to an earlier stage (row 3)" in result.stderr


def test_explain_says_a_reopened_lead_came_back(write):
    defs = write("defs.yml", QA_DEFS + "exits:\n  - {name: Lost, values: [Closed Lost]}\n")
    log = write("log.csv", "deal_id,changed_field_key,new_value,change_time,user_id\n"
                           "8,stage_id,1,2025-01-01 10:00:00,11\n"
                           "8,stage_id,Closed Lost,2025-01-03 10:00:00,11\n"
                           "8,stage_id,1,2025-01-06 10:00:00,11\n")
    result = run("explain", log, "8", "-d", defs)
    assert result.exit_code == 0, result.stderr
    assert "Lost's rule holds, but the lead came back on 2025-01-06 (a later change of the log reopened it)" in result.stdout
    assert "after the as-of date" not in result.stdout
    # replayed between the loss and the reopening, the lead is out
    replay = run("explain", log, "8", "-d", defs, "--as-of", "2025-01-04")
    assert "Lost" in replay.stdout and "the first exit whose rule holds" in replay.stdout


def test_a_snapshot_log_names_the_stage_again_without_a_change(cli):
    # Salesforce OpportunityHistory: a row per snapshot; rows 3 and 5 change only the amount.
    # Stage changes: rows 2 (Prospecting 01-05) and 4 (Qualification 01-10); no re-entry.
    # A lost deal reopened (B: Prospecting, Closed Lost, Prospecting) does re-enter Prospecting.
    defs = """version: 1
columns: {id: OpportunityId}
history: {stage: StageName, at: CreatedDate}
stages:
  - {name: Prospecting, sla_days: 14}
  - {name: Qualification, sla_days: 14}
exits:
  - {name: Closed Lost, values: [Closed Lost]}
"""
    log = ("OpportunityId,StageName,CreatedDate,Amount\n"
           "A,Prospecting,2026-01-05,100\nA,Prospecting,2026-01-07,150\n"
           "A,Qualification,2026-01-10,150\nA,Qualification,2026-01-12,200\n"
           "B,Prospecting,2026-01-05,10\nB,Closed Lost,2026-01-06,10\nB,Prospecting,2026-01-08,10\n")
    result = cli(log, defs, "--as-of", "2026-01-31")
    assert result.exit_code == 0, result.stderr
    assert ("7 rows read = 5 stage changes (of 2 leads) + 2 rows naming the stage the lead is in already "
            "(not a change)") in result.stderr
    assert "1 row of the log entering a stage the lead had entered before (re-entries) (row 8)" in result.stderr


def test_explain_replays_the_exit_the_lead_was_out_through(write):
    # X: lost 02-10, reopened 02-20, lost again 03-01. As of 02-15 it is out through the first
    # loss (02-10), not the last; its age in Prospecting (since 02-01) is 14 whole days.
    defs = write("defs.yml", """version: 1
columns: {id: OpportunityId}
history: {stage: StageName, at: CreatedDate}
stages:
  - {name: Prospecting, sla_days: 14}
  - {name: Won}
exits:
  - {name: Closed Lost, values: [Closed Lost]}
""")
    log = write("log.csv", "OpportunityId,StageName,CreatedDate\nX,Prospecting,2026-02-01\nX,Closed Lost,2026-02-10\n"
                           "X,Prospecting,2026-02-20\nX,Closed Lost,2026-03-01\n")
    report = json.loads(run("explain", log, "X", "-d", defs, "--as-of", "2026-02-15", "-f", "json").stdout)
    (lead,) = report["leads"]
    assert (lead["exit"]["name"], lead["exit"]["date"]) == ("Closed Lost", "2026-02-10")
    assert lead["stages"][0]["age_days"] == 14 and isinstance(lead["stages"][0]["age_days"], int)
    now = json.loads(run("explain", log, "X", "-d", defs, "-f", "json").stdout)
    assert now["leads"][0]["exit"]["date"] == "2026-03-01"


@pytest.mark.parametrize("seed", range(5))
def test_repeats_match_a_row_by_row_reading(seed):
    # history._repeats against the rule read row by row, each lead's dated stage-change rows by
    # time, then file order: a stage row repeats when the lead's latest stage row named it and no
    # exit is in force (an exit row puts one in force; a stage row or a reopening, history.reopen,
    # ends it); an exit row repeats when that exit is in force; a reopening repeats when no exit
    # is by the kept rows (nothing to reopen; a row naming nothing is no evidence, so an exit before
    # it is still in force); a row naming nothing forgets both for the stage and exit rows.
    # Logs in time order (its shortcut) and shuffled ones.
    from funnelcli.sources.history import _repeats

    rng = np.random.default_rng(seed)
    n = 400
    lead = rng.integers(0, 40, n)
    stage = rng.integers(-1, 3, n).astype(np.int8)
    pick = rng.random(n)
    exit_ = np.where((stage == -1) & (pick < 0.4), rng.integers(0, 2, n), -1).astype(np.int8)
    reopening = (stage == -1) & (exit_ == -1) & (pick > 0.7)
    kept = (stage >= 0) | (exit_ >= 0) | reopening
    changes = kept | (rng.random(n) < 0.5)
    for ordered in (True, False):
        days = np.sort(rng.integers(0, 60, n)) if ordered else rng.integers(0, 60, n)
        times = days.astype("datetime64[D]").astype("datetime64[s]")
        got = _repeats(lead, kept, changes, stage, exit_, times)
        want = np.zeros(n, dtype=bool)
        stage_now: dict = {}
        exit_now: dict = {}
        kept_exit: dict = {}  # the exit in force by the kept rows alone, as the evidence sees them
        for r in sorted(np.flatnonzero(changes), key=lambda r: (times[r], r)):
            who = int(lead[r])
            if not kept[r]:  # names nothing
                stage_now[who], exit_now[who] = None, None
            elif stage[r] >= 0:
                want[r] = stage_now.get(who) == int(stage[r]) and exit_now.get(who) is None
                stage_now[who], exit_now[who], kept_exit[who] = int(stage[r]), None, None
            elif exit_[r] >= 0:
                want[r] = exit_now.get(who) == int(exit_[r])
                exit_now[who] = kept_exit[who] = int(exit_[r])
            else:  # a reopening: a repeat with no exit in force by the kept rows (nothing to reopen)
                want[r] = kept_exit.get(who) is None
                exit_now[who] = kept_exit[who] = None
        assert (got == want).all(), (seed, ordered)
        if not reopening.any():
            continue
        # with no reopening rows it is the rule of old: the lead's previous row named the same
        no_reopen = kept & ~reopening
        old = _repeats(lead, no_reopen, changes & ~reopening, stage, exit_, times)
        want_old = np.zeros(n, dtype=bool)
        previous: dict = {}
        for r in sorted(np.flatnonzero(changes & ~reopening), key=lambda r: (times[r], r)):
            named = (int(stage[r]), int(exit_[r])) if no_reopen[r] else None
            want_old[r] = named is not None and previous.get(int(lead[r])) == named
            previous[int(lead[r])] = named
        assert (old == want_old).all(), (seed, ordered)


# The one lead that converted skipped a stage: lead 1 Lead 01-01 -> Proposal 01-20 (Qualified
# implied); lead 2 stays at Lead. Lead -> Qualified has no Qualified date of lead 1's own, nor has
# Qualified -> Proposal: no step has days. The note names the log's cause (a skipped stage), not statuses or flags.
def test_log_with_no_days_says_a_skipped_stage_has_no_date(cli):
    log = "id,owner,stage,at\n1,Ann,Lead,2026-01-01\n2,Bob,Lead,2026-01-03\n1,Ann,Proposal,2026-01-20\n"
    report = json.loads(cli(log, PLAIN_DEFS, "-f", "json", "-q").stdout)
    assert [r["converted"] for r in report["tables"]["stages"]] == [1, 1, None]
    assert [r["median_days"] for r in report["tables"]["stages"]] == [None, None, None]
    text = cli(log, PLAIN_DEFS, "-f", "text", "-q").stdout
    assert ("Days: none: no step has dates of the lead's own at both ends (a stage the lead skipped, reached through "
            "a later one, has no date of its own).") in text


# A Pipedrive log with the deal's status changes beside its stage changes: a lost deal reopened
# is a status change back to 'open', which names no stage. history.reopen says it reopens.
STATUS_LOG = ("deal_id,field,new_value,change_time\n"
              "1,stage_id,1,2026-01-01 09:00\n"      # row 2
              "1,stage_id,2,2026-01-05 09:00\n"      # row 3
              "1,status,lost,2026-01-10 09:00\n"     # row 4: out ...
              "1,status,open,2026-01-20 09:00\n"     # row 5: ... and reopened
              "2,stage_id,1,2026-01-02 09:00\n"      # row 6
              "2,status,lost,2026-01-06 09:00\n"     # row 7: out, never reopened
              "3,stage_id,1,2026-01-03 09:00\n"      # row 8
              "3,status,open,2026-01-04 09:00\n")    # row 9: 'open' while open: no exit to end
STATUS_DEFS = """version: 1
columns: {id: deal_id}
history:
  stage: new_value
  at: change_time
  only: {field: {in: [stage_id, status]}}
  reopen: [Open]
stages:
  - {name: Lead Generation, values: ["1"]}
  - {name: Qualified, values: ["2"]}
exits:
  - {name: Lost, values: [lost]}
"""


def test_a_reopen_value_ends_the_exit_before_it(load, write):
    # Deal 1 lost on 01-10 and reopened on 01-20: not out (its latest change reopened it); out in
    # a replay between the two; deal 2 stays out. Rows: 8 = 6 stage changes + 1 reopening (5) + 1
    # reopening with nothing to reopen (9: 'open' while open), which was called a row naming the
    # stage the lead is in already, though it names none.
    loaded = load(STATUS_LOG, STATUS_DEFS)
    assert list(loaded.leads["exit"].astype(object).fillna("-")) == ["-", "Lost", "-"]
    assert day_list(loaded.exit_until[0]) == ["2026-01-20", "NaT", "NaT"]
    assert not [i for i in loaded.notices + loaded.excluded if "names no stage" in i.reason]
    (log,) = loaded.files
    assert log.balanced() and log.parts[:2] == [(6, "stage changes (of 3 leads)"), (1, "reopenings (history.reopen)")]
    assert (1, "reopenings with no exit in force (nothing to reopen)") in log.parts
    assert (0, "rows naming the stage the lead is in already (not a change)") in log.parts
    defs = definitions.load([str(write("defs.yml", STATUS_DEFS))])
    out = {day: list(api.funnel(loaded, defs, as_of=dt.date(2026, 1, day)).exit_codes) for day in (9, 15, 25)}
    assert out == {9: [-1, 0, -1], 15: [0, 0, -1], 25: [-1, 0, -1]}


def test_a_reopening_after_a_row_naming_nothing_still_ends_the_exit(load):
    # deal 2: lost (row 3), then a stage the definitions leave out (9, row 4: excluded, no
    # evidence), then open (row 5): the exit before the unnamed row is still in force, and the
    # reopening ends it. Read as a repeat, it left the deal lost.
    log = ("deal_id,field,new_value,change_time\n2,stage_id,1,2026-01-02\n2,status,lost,2026-01-03\n"
           "2,stage_id,9,2026-01-04\n2,status,open,2026-01-05\n")
    loaded = load(log, STATUS_DEFS)
    assert list(loaded.leads["exit"].astype(object).fillna("-")) == ["-"]
    (account,) = loaded.files
    assert (1, "reopenings (history.reopen)") in account.parts


def test_without_reopen_the_open_rows_are_excluded_with_the_way_to_count_them(cli):
    # The same log without history.reopen: rows 5 and 9 name nothing, and deal 1 stays out.
    result = cli(STATUS_LOG, STATUS_DEFS.replace("  reopen: [Open]\n", ""), "-f", "json")
    assert result.exit_code == 0, result.stderr
    assert stage_rows(json.loads(result.stdout))["Qualified"]["exited"] == 1
    assert "2 rows of the log whose 'new_value' names no stage and no exit (rows 5, 9)" in result.stderr
    assert "or to history: reopen: when they reopen a lead after an exit" in result.stderr


def test_a_reopen_value_that_names_an_exit_is_a_definitions_error(write):
    defs = write("defs.yml", STATUS_DEFS.replace("reopen: [Open]", "reopen: [Open, LOST]"))
    result = run("validate", defs)
    assert result.exit_code == 1
    assert f"{defs}:7:11: error: history.reopen: the value 'LOST' also names exit 'Lost'" in result.stdout + result.stderr


PIPEDRIVE_STATUS_DEFS = """version: 1
columns: {id: deal_id}
history:
  stage: new_value
  at: change_time
  only: {changed_field_key: {in: [stage_id, status]}}   # the status changes too: won, lost, open again
  reopen: [open]
stages:
  - {name: Qualified, values: ["1"], sla_days: 14}
  - {name: Contact Made, values: ["2"], sla_days: 14}
  - {name: Demo Scheduled, values: ["3"], sla_days: 21}
  - {name: Proposal Made, values: ["4"], sla_days: 30}
  - {name: Negotiation, values: ["5"], sla_days: 30}
  - {name: Won, values: [won]}
exits:
  - {name: Lost, values: [lost]}
"""


def test_the_pipedrive_log_alone_gives_what_the_log_with_the_deals_export_gives(write):
    # The bundled Pipedrive log read with its status rows (won, lost, and open for the 28 deals
    # reopened after a loss) gives the funnel that definitions/pipedrive-log gives with Won and
    # Lost from the deals export: the log holds the same story. A reopened deal's next stage row,
    # when it names the stage the deal was in, is no re-entry: the generator's 65 re-entry rows.
    root = Path(__file__).resolve().parents[2]
    log = str(root / "samples" / "pipedrive-deal-changes.csv")
    manifest = json.loads((root / "samples" / "pipedrive.manifest.json").read_text())
    alone = run("conversion", log, "-d", write("defs.yml", PIPEDRIVE_STATUS_DEFS), "-f", "json")
    joined = run("conversion", log, "-d", str(root / "definitions" / "pipedrive-log"), "-f", "json")
    assert alone.exit_code == 0 and joined.exit_code == 0, alone.stderr + joined.stderr
    assert json.loads(alone.stdout)["tables"]["stages"] == json.loads(joined.stdout)["tables"]["stages"]
    reentries = manifest["log_reentry_rows"]  # the rows, in the log's numbering
    assert (f"{len(reentries)} rows of the log entering a stage the lead had entered before (re-entries) "
            f"(rows {', '.join(map(str, reentries[:5]))}, ...)") in alone.stderr
    assert f"+ {len(manifest['reopened_deal_ids'])} reopenings (history.reopen)" in alone.stderr


def test_a_replay_tells_the_moves_of_the_log_as_cut_then(cli):
    # deal 1 moves back on 01-05 (row 4), deal 2 on 02-01 (row 7): replayed at 01-15, the log as cut
    # then has one move back, and says what the cut log itself says
    log = ("id,stage,at\n1,Lead,2024-01-01\n1,Proposal,2024-01-03\n1,Lead,2024-01-05\n"
           "2,Lead,2024-01-02\n2,Proposal,2024-01-10\n2,Lead,2024-02-01\n")
    defs = "version: 1\ncolumns: {id: id}\nhistory: {stage: stage, at: at}\nstages:\n  - {name: Lead}\n  - {name: Proposal}\n"
    whole = cli(log, defs).stderr
    assert "2 rows of the log moving a lead back to an earlier stage (rows 4, 7); 2 leads moved back" in whole
    replay = cli(log, defs, "--as-of", "2024-01-15").stderr
    cut = cli("\n".join(log.splitlines()[:6]) + "\n", defs).stderr  # rows 2-6: by 01-15
    moved = "1 row of the log moving a lead back to an earlier stage (row 4); 1 lead moved back"
    assert moved in replay and moved in cut
    assert [x for x in replay.splitlines() if "re-entries" in x] == [x for x in cut.splitlines() if "re-entries" in x]


def test_a_log_whose_every_row_is_excluded_stops_as_a_wide_export_does(cli):
    # two stage changes with no readable date: it read as an empty report, exit 0, "the export has
    # no dates", and "2 never reached Prospecting" though a row said each entered a stage
    log = "deal_id,changed_field_key,new_value,change_time,user_id\n1,stage_id,1,n/a,11\n2,stage_id,2,n/a,11\n"
    result = cli(log, QA_DEFS)
    assert result.exit_code == 2
    assert "all 2 leads were excluded" in result.stderr
    assert "excluded 2 leads whose every row of the log is excluded (rows 2, 3)" in result.stderr
    assert "2 excluded with no date or an unparseable date in 'change_time' (rows 2, 3)" in result.stderr


def test_a_log_of_one_reopening_row_has_nothing_to_reopen(cli):
    # the one row of the log is a reopen value: no exit before it to end. With a second row it
    # was counted so; alone it was a reopening
    defs = ("version: 1\ncolumns: {id: id}\nhistory: {stage: stage, at: at, reopen: [open]}\nstages:\n"
            "  - {name: A}\n  - {name: B}\nexits:\n  - {name: Lost, values: [lost]}\n")
    result = cli("id,stage,at\n1,open,2026-01-01\n", defs, "-f", "json")
    (log,) = json.loads(result.stdout)["accounting"]["files"]
    parts = {p["what"]: p["rows"] for p in log["parts"]}
    assert (parts["reopenings with no exit in force (nothing to reopen)"], parts["reopenings (history.reopen)"]) == (1, 0)
