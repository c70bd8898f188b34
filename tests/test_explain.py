"""`funnelcli explain EXPORT ID...`: why each lead is counted where it is.

Every expected value is worked out by hand from tests/fixtures/explain/leads.csv (11 rows, a
header then rows 2-12) under explain.yml: MQL (SLA 3) -> SAL (SLA 14; touched and dropped: at most
2 touches and 10 idle days) -> SQL (SLA 30) -> Won; exits Disqualified (status Unqualified) and
Lost (a Lost Date); markets Enterprise (employees >= 1000 and country US), Mid-market (100-999).
The as-of date is the export's latest date: L03 won on 2026-11-16. Ages are days from the entry
date to 2026-11-16; stuck means age > SLA.

    row lead  evidence and dates                        buckets at 2026-11-16
    2   L01   MQL 2026-10-01                            MQL stuck: Oct 1 -> Nov 16 = 30 + 16 = 46 > 3; never accepted;
                                                        out of market (50 employees); cohort 2026-10
    3   L02   MQL 2026-11-14                            MQL in progress: 2 <= 3; Enterprise (1500, US)
    4   L03   MQL 09-01, SAL 09-03, SQL 09-20, Won 11-16 converted at MQL (2 days), SAL (17), SQL (20 - 3 + 1...: Sep 20 ->
                                                        Nov 16 = 10 + 31 + 16 = 57 days); Won: the last stage, no SLA; Mid-market
    5   L04   MQL 2026-10-10, status Unqualified        MQL exited through Disqualified
    6   L05   MQL 10-01, SAL 10-02; 1 touch, last 10-20 MQL converted (1 day); SAL stuck: Oct 2 -> Nov 16 = 29 + 16 = 45
                                                        > 14; touched and dropped: 1 <= 2 touches, idle Oct 20 -> Nov 16
                                                        = 11 + 16 = 27 >= 10; out of market (1200 but DE: not Enterprise,
                                                        not 100-999)
    7   L06   SAL 2026-11-01 only; 5 touches            MQL implied by SAL, its date 2026-11-01 borrowed (no own date):
                                                        converted; SAL stuck: 15 > 14; not touched and dropped (5 > 2)
    8   L07   MQL 2026-11-01, Lost 2026-11-10           MQL exited through Lost on 2026-11-10
    9   L08   no dates                                  never reached MQL: not in the report
    10  L02   (again)                                   excluded: a duplicate id (row 3 is the lead)
    11  L09   MQL 'n/a'                                 excluded: an unparseable date
    12  L10   MQL 11-12, SAL 11-13; 0 touches           MQL converted (1 day); SAL in progress: 3 <= 14; not touched and
                                                        dropped: 0 touches but idle only 3 days (since entering SAL)

Accounting: 11 rows read = 8 in the report (L01-L07, L10) + 1 never reached MQL (L08) + 2 excluded.
"""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from tests.conftest import FIXTURES, SAMPLE, run

from funnelcli import api
from funnelcli.errors import FunnelError

EXPLAIN = FIXTURES / "explain"
LEADS, DEFS = EXPLAIN / "leads.csv", EXPLAIN / "explain.yml"


def _leads(*ids, export=LEADS, defs=DEFS, **options) -> dict:
    report = api.explain(export, ids, defs, **options)
    return {lead["id"]: lead for lead in report.data["leads"]}


def _buckets(lead: dict) -> dict:
    return {s["stage"]: s["bucket"] for s in lead["stages"]}


def test_every_lead_worked_out_by_hand():
    leads = _leads("L01", "L02", "L03", "L04", "L05", "L06", "L07", "L08", "L09", "L10")
    assert _buckets(leads["L01"]) == {"MQL": "stuck", "SAL": None, "SQL": None, "Won": None}
    assert _buckets(leads["L02"])["MQL"] == "in progress"
    assert _buckets(leads["L03"]) == {"MQL": "converted", "SAL": "converted", "SQL": "converted", "Won": None}
    assert _buckets(leads["L04"])["MQL"] == "exited"
    assert _buckets(leads["L05"]) == {"MQL": "converted", "SAL": "stuck", "SQL": None, "Won": None}
    assert _buckets(leads["L06"]) == {"MQL": "converted", "SAL": "stuck", "SQL": None, "Won": None}
    assert _buckets(leads["L07"])["MQL"] == "exited"
    assert _buckets(leads["L10"])["SAL"] == "in progress"
    ages = {i: [s["age_days"] for s in leads[i]["stages"]] for i in ("L01", "L02", "L05", "L06", "L10")}
    assert ages["L01"][0] == 46 and ages["L02"][0] == 2
    assert ages["L05"][1] == 45 and ages["L06"][1] == 15 and ages["L10"][1] == 3
    assert [lead["in_report"] for lead in leads.values()] == [True] * 7 + [False, False, True]
    assert {i: (leads[i]["market"]["name"]) for i in ("L01", "L02", "L03", "L05", "L06")} == {
        "L01": "out of market", "L02": "Enterprise", "L03": "Mid-market", "L05": "out of market", "L06": "Mid-market"}
    assert leads["L04"]["exit"]["name"] == "Disqualified" and leads["L04"]["exit"]["rule"] == "status in [Unqualified]"
    assert (leads["L07"]["exit"]["name"], leads["L07"]["exit"]["date"]) == ("Lost", "2026-11-10")
    assert leads["L01"]["exit"]["name"] is None
    assert [leads[i]["cohort"]["period"] for i in ("L01", "L03", "L06")] == ["2026-10", "2026-09", "2026-11"]


def test_the_arithmetic_is_written_out():
    leads = _leads("L01", "L03", "L05", "L06", "L10")
    why = {i: [s["why"] for s in lead["stages"]] for i, lead in leads.items()}
    assert why["L01"][0] == ("entered MQL 2026-10-01, 46 days before the as-of date 2026-11-16; SLA 3 days; "
                             "no SAL, no exit: stuck (46 > 3); purgatory: never accepted")
    assert why["L03"][2] == "converted: reached Won on 2026-11-16, 57 days after entering SQL"
    assert why["L03"][3] == "the last stage: nothing follows it and it has no SLA"
    assert why["L05"][1].endswith("stuck (45 > 14); touched and dropped: 1 touch (at most 2) and no activity for 27 days "
                                  "since last activity 2026-10-20 (at least 10)")
    assert why["L06"][0] == "converted: reached SAL on 2026-11-01; no days counted: MQL is implied by a later stage"
    assert why["L06"][1].endswith("stuck (15 > 14); not touched and dropped: 5 touches (more than 2)")
    assert why["L10"][1].endswith("in progress (3 <= 14); not touched and dropped: 0 touches (at most 2) but idle 3 days "
                                  "since entering SAL 2026-11-13 (fewer than 10)")


def test_an_implied_stage_has_no_own_date_and_borrows_the_later_one():
    mql = _leads("L06")["L06"]["stages"][0]
    assert (mql["how"], mql["evidence"]) == ("implied", "implied by a later stage (SAL)")
    assert (mql["own_date"], mql["date"]) == (None, "2026-11-01")


def test_excluded_rows_and_leads_not_in_the_report_say_why():
    leads = _leads("L02", "L08", "L09")
    assert leads["L02"]["other_rows"] == [
        {"row": 10, "excluded": "with a duplicate id (the first usable row of each id is kept)"}]
    assert (leads["L08"]["status"], leads["L08"]["reason"]) == (
        "not in the report", "never reached MQL: no rule of it holds and no later stage was reached")
    assert leads["L09"]["status"] == "excluded" and leads["L09"]["reason"].startswith("with an unparseable date")
    assert leads["L09"]["cohort"] is None


def test_a_replay_before_a_stage_date_does_not_count_it():
    # at 2026-09-10, L03 had entered SAL on 09-03 (7 days, within 14) and its SQL (09-20) hadn't come
    l03 = _leads("L03", as_of=dt.date(2026, 9, 10))["L03"]
    assert _buckets(l03) == {"MQL": "converted", "SAL": "in progress", "SQL": None, "Won": None}
    assert l03["stages"][2]["why"] == "not reached by the as-of date: 2026-09-20 is after it"


# Text, derived by hand: the L01 block (its widths are those of its own cells).
GOLDEN_L01 = """\
Why each lead is counted where it is
====================================
Export       leads.csv (11 rows)
Definitions  explain.yml (digest {digest})
As of        2026-11-16 (the latest date in the export)
Leads        1 asked, 1 found

Lead  Item    Reached / value  Own date    Date        Bucket  Why
----  ------  ---------------  ----------  ----------  ------  {rule}
L01   Row     2                -           -           -       row 2 of leads.csv; in the report: reached MQL
      MQL     own date         2026-10-01  2026-10-01  stuck   entered MQL 2026-10-01, 46 days before the as-of date 2026-11-16; SLA 3 days; no SAL, no exit: stuck (46 > 3); purgatory: never accepted
      SAL     not reached      -           -           -       not reached
      SQL     not reached      -           -           -       not reached
      Won     not reached      -           -           -       not reached
      Exit    none             -           -           -       no exit's rule holds (Disqualified: status in [Unqualified]; Lost: a date in 'Lost Date'); the lead has status 'Open'
      Market  out of market    -           -           -       no market's rule holds: Enterprise: employees >= 1000 and country in [US] (employees '50', country 'US'); Mid-market: employees between 100 and 999 (employees '50')
      Cohort  2026-10          -           2026-10-01  -       entered MQL 2026-10-01: the 2026-10 cohort (by month, as trends counts by default)
"""


def test_text_golden(monkeypatch):
    monkeypatch.chdir(EXPLAIN)
    result = run("explain", "leads.csv", "L01", "-d", "explain.yml")
    assert result.exit_code == 0, result.stderr
    digest = api.load_definitions(DEFS).digest
    longest = max(len(line) for line in GOLDEN_L01.splitlines() if line.startswith("      Market"))
    expected = GOLDEN_L01.format(digest=digest, rule="-" * (longest - len("      Market  out of market    -           -           -       ")))
    assert result.stdout.startswith(expected)
    assert result.stdout.endswith("Rows: 11 rows read = 8 leads in the report + 1 never reached MQL + 2 excluded "
                                  "(1 with an unparseable date; 1 with a duplicate id).\n")


def test_json_carries_the_same_facts():
    result = run("explain", LEADS, "L05", "-d", DEFS, "-f", "json")
    doc = json.loads(result.stdout)
    assert doc["kind"] == "explain" and doc["as_of"] == "2026-11-16" and doc["missing"] == []
    lead = doc["leads"][0]
    assert lead["row"] == 6 and lead["stages"][1]["bucket"] == "stuck" and lead["stages"][1]["sla_days"] == 14
    rows = doc["tables"]["explain"]
    assert [r["item"] for r in rows] == ["Row", "MQL", "SAL", "SQL", "Won", "Exit", "Market", "Cohort"]
    assert rows[2]["age_days"] == 45


@pytest.mark.parametrize("fmt", ["csv", "markdown", "html", "table"])
def test_every_format_renders(fmt):
    result = run("explain", LEADS, "L06", "-d", DEFS, "-f", fmt)
    assert result.exit_code == 0 and "implied by SAL" in result.stdout


def test_a_missing_id_suggests_near_ids_and_exits_1():
    result = run("explain", LEADS, "L01", "L1O", "-d", DEFS)
    assert result.exit_code == 1
    assert "L01" in result.stdout
    assert "no lead with id 'L1O' in" in result.stderr and "did you mean 'L10'" in result.stderr


def test_no_id_found_exits_2():
    result = run("explain", LEADS, "X99", "-d", DEFS)
    assert result.exit_code == 2 and result.stdout == ""
    assert "no lead with id 'X99'" in result.stderr
    with pytest.raises(FunnelError, match="no lead with id 'L100'.*did you mean 'L10'"):
        api.explain(LEADS, ["L100"], DEFS)


def test_ids_compare_as_trimmed_text():
    assert list(_leads("  L03 ")) == ["L03"]


# Other shapes: a status column (a lead reached every stage up to the one its value names) and a flag.

STATUS_DEFS = """\
version: 1
columns: {id: Deal, stage_now: Stage}
stage_column: stage_now
stages:
  - name: Qualified
    date: Created
  - name: Contact Made
  - name: Proposal
    values: [Proposal Made]
  - name: Won
exits:
  - name: Lost
"""
# D1: 'Proposal Made' names Proposal: reached by that status value; Contact Made only implied
# (no own date, none after it either: its date is unknown). As of 2026-01-06 (D2's creation).
# D2: 'Lost' names the exit.
STATUS_CSV = "Deal,Stage,Created\nD1,Proposal Made,2026-01-05\nD2,Lost,2026-01-06\n"


def test_status_value_and_implied_stages(write):
    defs, leads = write("status.yml", STATUS_DEFS), write("deals.csv", STATUS_CSV)
    found = _leads("D1", "D2", export=leads, defs=defs)
    d1 = {s["stage"]: s for s in found["D1"]["stages"]}
    assert d1["Proposal"]["how"] == "status" and d1["Proposal"]["evidence"] == "status value 'Proposal Made' in 'Stage'"
    assert d1["Contact Made"]["how"] == "implied" and d1["Contact Made"]["evidence"] == "implied by a later stage (Proposal)"
    # Qualified has a date column: a date there is the stage's own evidence
    assert d1["Qualified"]["how"] == "date" and d1["Qualified"]["own_date"] == "2026-01-05"
    # Proposal: no own date and no stage-since column: its age is unknown
    assert d1["Proposal"]["why"] == "no Won, no exit; no SLA: in progress"
    assert found["D2"]["exit"]["name"] == "Lost"
    text = run("explain", leads, "D1", "-d", defs).stdout
    assert "status value 'Proposal Made'" in text and "implied by Proposal" in text


FLAG_DEFS = """\
version: 1
columns: {id: Id}
stages:
  - name: Lead
  - name: Converted
    flag: Converted
    sla_days: 5
"""


def test_flag_and_a_first_stage_with_no_rule(write):
    defs, leads = write("flag.yml", FLAG_DEFS), write("flags.csv", "Id,Converted\nA,yes\nB,no\n")
    found = _leads("A", "B", export=leads, defs=defs)
    a, b = found["A"]["stages"], found["B"]["stages"]
    assert (a[0]["how"], a[0]["bucket"]) == ("every lead", "converted")
    assert (a[1]["how"], a[1]["evidence"]) == ("flag", "flag 'Converted' is true")
    # B: no dates in the export, so no as-of date: nothing can be stuck
    assert (b[0]["bucket"], b[0]["why"]) == ("in progress", "the export has no dates: nothing can be stuck: in progress")
    assert b[1]["reached"] is False


def test_an_exit_in_an_export_with_no_dates_says_so(write):
    # no as-of date to hold at: the exit holds as the export has it
    defs = write("flag.yml", FLAG_DEFS + "exits:\n  - name: Lost\n    when: {Status: {in: [lost]}}\n")
    (c,) = _leads("C", export=write("flags.csv", "Id,Converted,Status\nC,no,lost\n"), defs=defs).values()
    assert (c["stages"][0]["bucket"], c["stages"][0]["why"]) == (
        "exited", "exited through Lost without reaching Converted: Lost holds (the export has no dates)")


@pytest.mark.slow
def test_sample_stuck_converted_exited():
    found = _leads("51003115", "51002508", export=SAMPLE, defs=FIXTURES.parent.parent / "definitions")
    assert _buckets(found["51003115"])["SAL"] == "stuck"


LOG_DEFS = """\
version: 1
columns: {id: deal_id}
history: {stage: new_value, at: change_time}
stages:
  - name: Lead
    sla_days: 10
  - name: Qualified
  - name: Won
exits:
  - name: Lost
"""
# Deal 1: Lead on 01-01, Won on 01-20 (Qualified skipped: implied by Won). Deal 2: Lead 01-05,
# Qualified 01-06 and nothing since: as of 01-20 (the log's last change), 14 days in Qualified,
# which has no SLA: in progress. The lead's row is the log's row of its first change.
LOG_CSV = "deal_id,new_value,change_time\n1,Lead,2026-01-01\n2,Lead,2026-01-05\n2,Qualified,2026-01-06\n1,Won,2026-01-20\n"


def test_a_log_entry_and_a_stage_implied_by_a_later_one(write):
    defs, log = write("log.yml", LOG_DEFS), write("changes.csv", LOG_CSV)
    found = _leads("1", "2", export=log, defs=defs)
    one, two = found["1"], found["2"]
    assert (one["row"], one["row_of"]) == (2, "log") and (two["row"], two["row_of"]) == (3, "log")
    assert [s["how"] for s in one["stages"]] == ["log", "implied", "log"]
    assert one["stages"][0]["evidence"] == "log entry: first entered Lead on 2026-01-01"
    assert one["stages"][1]["evidence"] == "implied by a later stage (Won)"
    assert one["stages"][0]["why"] == "converted: reached Qualified (implied by Won, dated 2026-01-20); no days counted: Qualified is implied"
    assert two["stages"][1]["why"] == ("entered Qualified 2026-01-06, 14 days before the as-of date 2026-01-20; "
                                       "no SLA; no Won, no exit: in progress")


def test_a_log_exit_rule_is_a_change_of_the_log(write):
    # deal 4 was lost on 01-08 (a change to 'Lost', the exit's name); deal 2 never was
    defs, log = write("log.yml", LOG_DEFS), write("changes.csv", LOG_CSV + "4,Lead,2026-01-02\n4,Lost,2026-01-08\n")
    found = _leads("4", "2", export=log, defs=defs)
    assert found["4"]["exit"]["why"] == "the first exit whose rule holds: a change of the log to 'Lost'"
    assert found["2"]["exit"]["why"] == "no exit's rule holds (Lost: a change of the log to 'Lost')"


def test_a_lead_lost_reopened_and_lost_again_says_it_came_back(write):
    # deal 5: Lead 01-12, Lost 01-14, Lead again 02-01 (reopened), Lost 02-20. As of 02-05 it is
    # not out: it came back on 02-01; its last exit (02-20) is after the as-of date
    log = LOG_CSV + "5,Lead,2026-01-12\n5,Lost,2026-01-14\n5,Lead,2026-02-01\n5,Lost,2026-02-20\n"
    (five,) = _leads("5", export=write("changes.csv", log), defs=write("log.yml", LOG_DEFS), as_of=dt.date(2026, 2, 5)).values()
    assert five["exit"]["why"] == ("none at the as-of date: Lost's rule holds, but the lead left on 2026-01-14 and came back "
                                   "on 2026-02-01 (a later change of the log reopened it); it left again on 2026-02-20, "
                                   "after the as-of date 2026-02-05")


# Deal 3's only row is undated: excluded, so the deal has no stage change that counts. The text
# says so, and the log's own accounting line (row 6 excluded) is among the notes.
def test_a_log_lead_with_no_usable_change_and_the_logs_accounting(write):
    defs, log = write("log.yml", LOG_DEFS), write("changes.csv", LOG_CSV + "3,Lead,someday\n")
    (three,) = _leads("3", export=log, defs=defs).values()
    assert three["in_report"] is False
    # its one row has no date: excluded (nothing is known of it), no longer "never reached Lead"
    assert three["reason"].startswith("whose every row of the log is excluded")
    text = run("explain", log, "3", "-d", defs, "-q").stdout
    assert "(the lead's first row in the log)" in text
    assert "changes.csv (5 rows: a stage-history log of 3 leads)" in text.splitlines()[2]  # the Export line, as in every report
    (line,) = [line for line in text.splitlines() if line.startswith("File: ")]
    assert line.endswith("changes.csv (log): 5 rows read = 4 stage changes (of 2 leads of the 3 in the log) + 1 excluded "
                         "with no date or an unparseable date in 'change_time' (row 6).")


def test_a_step_with_an_own_date_out_of_order_says_why_no_days_count(write):
    # Lead A: Lead 01-01, Converted 01-10, Won 01-05: Converted's own date is after Won's, so it
    # takes Won's (01-05) and neither step Lead->Converted nor Converted->Won has days.
    defs = write("defs.yml", """version: 1
columns: {id: id}
stages:
  - {name: Lead, date: created}
  - {name: Converted, date: converted}
  - {name: Won, date: won}
""")
    export = write("leads.csv", "id,created,converted,won\nA,2026-01-01,2026-01-10,2026-01-05\n")
    (lead,) = _leads("A", export=export, defs=defs).values()
    assert lead["stages"][0]["why"] == ("converted: reached Converted on 2026-01-05; no days counted: Converted has no "
                                        "own date, or one after a later stage's (out of order)")
    assert lead["stages"][1]["why"].endswith("; no days counted: Converted has no own date, or one after a later stage's (out of order)")


def test_a_replay_names_a_stage_on_the_way_to_one_reached_after_the_as_of_date(write):
    # Deal 3's status names Proposal, where it moved on 03-06 (stage since): as of 03-04 it is not
    # there yet. Contact Made counts for it (the stage before), and was "implied by Proposal" next
    # to "Proposal: not reached"; it is on its way to Proposal, reached after the as-of date.
    from tests.reference_definitions import REFERENCE_STATUS
    from tests.sources.test_status_and_flags import REFERENCE_STATUS_CSV

    export, defs = write("deals.csv", REFERENCE_STATUS_CSV), write("defs.yml", REFERENCE_STATUS)
    result = run("explain", export, "3", "-d", defs, "--as-of", "2024-03-04", "-f", "json", "-q")
    assert result.exit_code == 0, result.stderr
    rows = {r["item"]: r for r in json.loads(result.stdout)["tables"]["explain"] if r["kind"] == "stage"}
    assert rows["Proposal"]["value"] == "not reached"
    assert rows["Contact Made"]["value"] == "before Proposal" and rows["Contact Made"]["bucket"] == "in progress"
    assert rows["Qualified"]["why"].startswith("converted: reached Contact Made (on its way to a stage it reached after the as-of date)")
    assert "implied by" not in rows["Qualified"]["why"] + rows["Contact Made"]["value"]


def test_an_earlier_exit_that_holds_only_after_the_as_of_date_is_not_said_not_to_hold(write):
    # E1 is Lost (dated 03-25) and Junk (owner junkbot, no date); Lost comes first. As of 03-20,
    # Junk is its exit: Lost's rule holds, but after the as-of date ("Lost does not hold" was wrong).
    export = write("e.csv", "id,status,owner,mql,lost_at\nE1,Lost,junkbot,2026-03-01,2026-03-25\n")
    defs = write("e.yml", "version: 1\ncolumns: {id: id, status: status, owner: owner}\nstages:\n  - {name: MQL, date: mql}\n"
                          "exits:\n  - {name: Lost, when: {status: {in: [Lost]}}, date: lost_at}\n"
                          "  - {name: Junk, when: {owner: {in: [junkbot]}}}\n")
    result = run("explain", export, "E1", "-d", defs, "--as-of", "2026-03-20", "-f", "json", "-q")
    assert result.exit_code == 0, result.stderr
    (exit_row,) = [r for r in json.loads(result.stdout)["tables"]["explain"] if r["kind"] == "exit"]
    assert exit_row["value"] == "Junk"
    assert exit_row["why"].endswith("; Lost's rule holds, but dated 2026-03-25, after the as-of date")
    assert "does not hold" not in exit_row["why"]


def test_an_id_not_found_points_at_rows_left_out_unread_and_a_blank_id_is_refused(write):
    # Lead 2's row has a field too many: left out unread, so its id can't be found; the message
    # said only "no lead with id '2'" while the Rows line counted the row as excluded
    export = write("e.csv", "Id,MQL\n1,2024-01-01\n2,2024-01-02,extra\n")
    defs = write("d.yml", "version: 1\ncolumns: {id: Id}\nstages:\n  - {name: MQL, date: MQL}\n")
    result = run("explain", export, "2", "-d", defs, "-q")
    assert result.exit_code == 2
    assert "no lead with id '2'" in result.stderr
    assert "(or it is on the row left out unread, whose fields don't match the header: row 3)" in result.stderr
    blank = run("explain", export, "", "1", "-d", defs, "-q")
    assert blank.exit_code == 2 and "an id given is blank" in blank.stderr


def test_explain_names_the_row_of_each_joined_file_a_lead_took(write):
    # opportunities O1 has rows 2 (won, closing 03-01) and 3 (lost, closing 02-01): many: first by
    # close takes row 3 and passes row 2 over; L2's O9 matches no row; L3 has no opportunity id
    leads = write("leads.csv", "id,created,opp\nL1,2026-01-10,O1\nL2,2026-01-11,O9\nL3,2026-01-12,\n")
    write("opps.csv", "opp_id,closed,won\nO1,2026-03-01,true\nO1,2026-02-01,false\n")
    defs = write("defs.yml", "version: 1\ncolumns: {id: id, opportunity: opp}\njoins:\n  - name: opportunities\n"
                             "    path: opps.csv\n    on: {opportunity: opp_id}\n    columns: {closed: closed, won: won}\n"
                             "    many: first\n    order_by: closed\nstages:\n  - {name: Lead, date: created}\n"
                             "  - {name: Won, flag: won, date: closed}\n")
    report = json.loads(run("explain", leads, "L1", "L2", "L3", "-d", defs, "-f", "json", "-q").stdout)
    joins = {lead["id"]: lead["joins"][0] for lead in report["leads"]}
    assert (joins["L1"]["row"], joins["L1"]["not_used"]) == (3, [2])
    assert joins["L1"]["why"] == "row 3 of " + str(leads).replace("leads.csv", "opps.csv") + \
        "; row 2 of the same key not used (many: first)"
    assert joins["L2"]["row"] is None and joins["L2"]["why"].startswith("its key matches no row of ")
    assert joins["L3"]["row"] is None and joins["L3"]["why"].startswith("no key to look up")
    text = run("explain", leads, "L1", "-d", defs, "-q", "-f", "text").stdout
    assert "Join opportunities" in text and "row 2 of the same key not used (many: first)" in text


def test_explain_tells_a_log_leads_moves_back_and_re_entries(write):
    # deal 7: Lead 01-01 (row 2), Proposal 01-05 (row 3), back to Lead 01-09 (row 4: a move back
    # and a re-entry), Proposal again 01-20 (row 5: a re-entry). Replayed at 01-10, only row 4 is known.
    log = write("log.csv", "id,stage,at\n7,Lead,2026-01-01\n7,Proposal,2026-01-05\n7,Lead,2026-01-09\n7,Proposal,2026-01-20\n")
    defs = write("defs.yml", "version: 1\ncolumns: {id: id}\nhistory: {stage: stage, at: at}\nstages:\n"
                             "  - {name: Lead}\n  - {name: Proposal}\n")
    report = json.loads(run("explain", log, "7", "-d", defs, "-f", "json", "-q").stdout)
    moves = [(m["row"], m["stage"], m["back"], m["again"], m["date"]) for m in report["leads"][0]["moves"]]
    assert moves == [(4, "Lead", True, True, "2026-01-09"), (5, "Proposal", False, True, "2026-01-20")]
    # row 4 is both: it said only "moved back", while the notice counted it among the re-entries
    assert report["leads"][0]["moves"][0]["why"] == ("moved back to Lead on 2026-01-09 (row 4 of the log), a stage it had "
                                                      "entered before; the waterfall keeps the furthest stage reached, and "
                                                      "the first entry dates the stage")
    text = run("explain", log, "7", "-d", defs, "-f", "text", "-q").stdout
    assert "Moved back, re-entered" in text and "Re-entered" in text
    replay = json.loads(run("explain", log, "7", "-d", defs, "-f", "json", "-q", "--as-of", "2026-01-10").stdout)
    assert [m["row"] for m in replay["leads"][0]["moves"]] == [4]


def test_a_row_excluded_for_an_unparseable_date_names_the_cell_and_the_stage(write):
    # row 3 (B): SAL's cell '31/04/2026' is no ISO date (nor a day April has): the row is excluded.
    # explain said "with an unparseable date" without the cell, and SAL "not reached" though its
    # date is there. C's 'N/A' is a blank value (blank_values): no date, not a bad one
    defs = write("defs.yml", "version: 1\ncolumns: {id: Id}\nblank_values: [N/A]\nstages:\n"
                             "  - {name: MQL, date: MQL}\n  - {name: SAL, date: SAL}\n")
    export = write("leads.csv", "Id,MQL,SAL\nA,2026-01-02,2026-01-03\nB,2026-01-05,31/04/2026\nC,2026-01-06,N/A\n")
    found = _leads("B", "C", export=export, defs=defs)
    b = found["B"]
    assert (b["status"], b["unreadable_dates"]) == ("excluded", [{"column": "SAL", "value": "31/04/2026"}])
    assert b["reason"].startswith("with an unparseable date: '31/04/2026' in 'SAL' (dates are ISO")
    sal = {s["stage"]: s for s in b["stages"]}["SAL"]
    assert (sal["reached"], sal["short"]) == (False, "unreadable date")
    assert sal["why"] == "'31/04/2026' in 'SAL' is no date the definitions read; the row is excluded"
    assert found["C"]["status"] == "in the report" and found["C"]["unreadable_dates"] == []
    text = run("explain", export, "B", "-d", defs, "-q", "-f", "text").stdout
    assert re.search(r"^ +SAL +unreadable date +- +- +- +'31/04/2026' in 'SAL' is no date", text, re.M), text


def test_the_header_names_the_joined_files_as_the_other_reports_do(write):
    export = write("leads.csv", "Id,Created,OppId\nA,2026-01-01,K1\nB,2026-01-02,K2\n")
    opps = write("opps.csv", "OppId,Won\nK1,true\nK2,false\nK3,true\n")
    defs = write("f.yml", "version: 1\ncolumns: {id: Id}\njoins:\n  - {name: opps, path: opps.csv, on: OppId, columns: {won: Won}}\n"
                          "stages:\n  - {name: Lead, date: Created}\n  - {name: Won, flag: won}\n")
    text = run("explain", export, "A", "-d", defs, "-q", "-f", "text").stdout
    assert f"\nJoined       {opps} (3 rows)\n" in text
    assert "\nJoined " in run("conversion", export, "-d", defs, "-q", "-f", "text").stdout


def test_a_replay_leaves_stages_after_the_as_of_date_unreached_for_a_lead_not_yet_in_the_report(write):
    # as of 01-03, B (MQL 01-10) is not in the report: it had reached nothing yet. Its MQL showed
    # 'own date 2025-01-10' and reached true; A's SAL (01-05) already read as not reached by then
    export = write("leads.csv", "id,mql,sal\nA,2025-01-01,2025-01-05\nB,2025-01-10,\n")
    defs = write("funnel.yml", "version: 1\ncolumns: {id: id}\nstages:\n  - {name: MQL, date: mql, sla_days: 3}\n"
                               "  - {name: SAL, date: sal}\n")
    found = _leads("A", "B", export=export, defs=defs, as_of=dt.date(2025, 1, 3))
    b = {s["stage"]: s for s in found["B"]["stages"]}
    assert found["B"]["reason"] == "never reached MQL by the as-of date 2025-01-03"
    assert (b["MQL"]["reached"], b["MQL"]["why"]) == (False, "not reached by the as-of date: 2025-01-10 is after it")
    a = {s["stage"]: s for s in found["A"]["stages"]}
    assert (a["SAL"]["reached"], a["SAL"]["why"]) == (False, "not reached by the as-of date: 2025-01-05 is after it")
    # at the export's own date B is in the report, its MQL its own
    assert {s["stage"]: s for s in _leads("B", export=export, defs=defs)["B"]["stages"]}["MQL"]["how"] == "date"


def test_an_unparseable_date_on_another_row_of_the_id_is_named_and_a_pipe_is_read_once(write, tmp_path):
    # A's row 4 (a repeat of its id) has '31/04/2026': named as the first row's cells are. From
    # a pipe (read once) the cells can't be read again: the reason stands without them, no error
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT

    defs = write("defs.yml", "version: 1\ncolumns: {id: Id}\nstages:\n  - {name: MQL, date: MQL}\n  - {name: SAL, date: SAL}\n")
    text = "Id,MQL,SAL\nA,2026-01-02,2026-01-03\nB,2026-01-05,31/04/2026\nA,2026-01-06,31/04/2026\n"
    a = _leads("A", export=write("leads.csv", text), defs=defs)["A"]
    assert a["other_rows"] == [{"row": 4, "excluded": "with an unparseable date: '31/04/2026' in 'SAL' (dates are ISO "
                                "(2026-03-31, 2026-03-31T14:05:00Z) unless the definitions set date_format)"}]
    fifo = tmp_path / "fifo.csv"
    os.mkfifo(fifo)
    child = subprocess.Popen([sys.executable, "-m", "funnelcli", "explain", str(fifo), "B", "-d", str(defs), "-q", "-f", "json"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    with open(fifo, "w", encoding="utf-8") as pipe:
        pipe.write(text)
    out, err = child.communicate(timeout=60)  # a second read of the FIFO waited for ever
    assert child.returncode == 0, err
    (b,) = json.loads(out)["leads"]
    assert (b["status"], b["unreadable_dates"]) == ("excluded", [])
    assert b["reason"].startswith("with an unparseable date (dates are ISO")


def test_stdin_is_stdin_even_beside_a_file_named_dash(write, tmp_path, monkeypatch):
    # a file named '-' in the working folder: explain's second read of the date cells took it for
    # the export ('the file is empty', exit 2); '-' is stdin, read once
    monkeypatch.chdir(tmp_path)
    (tmp_path / "-").write_text("not the export\n", encoding="utf-8")
    defs = write("d.yml", "version: 1\ncolumns: {id: Id}\nstages:\n  - {name: MQL, date: MQL}\n  - {name: SAL, date: SAL}\n")
    result = run("explain", "-", "B", "-d", defs, "-q", "-f", "json",
                 input="Id,MQL,SAL\nA,2026-01-02,2026-01-03\nB,2026-01-05,31/04/2026\n")
    assert result.exit_code == 0, result.stderr
    (b,) = json.loads(result.stdout)["leads"]
    assert (b["status"], b["unreadable_dates"]) == ("excluded", [])
