"""funnelcli init: definitions written from an export, checked by round trips and by hand.

The fixtures in tests/fixtures/init/ are laid out as each CRM writes its export (column names,
date styles, quoting, Salesforce's report footer). The expected definitions below were worked
out by hand from those files: which column is the id, which dates need which format, the order of
the status values (the CRM's default pipeline, or the log's order of changes), which values look
like ways out.
"""

from __future__ import annotations

import json
import os
import time

import pytest
import yaml
from tests.conftest import FIXTURES, FLAG_SAMPLE, ROOT, run

from funnelcli.errors import FunnelError
from funnelcli.init import init_definitions
from funnelcli.init.dates import guess_dates
from funnelcli.init.draft import flow, scalar

INIT = FIXTURES / "init"
SAMPLES = sorted((ROOT / "samples").glob("*.csv"))
MINE = sorted(INIT.glob("*.csv"))


def init(export, folder, *args):
    return run("init", str(export), "-o", str(folder), *args)


@pytest.mark.parametrize("export", SAMPLES + MINE, ids=lambda p: p.name)
def test_round_trip_init_validate_run(export, tmp_path):
    folder = tmp_path / "definitions"
    result = init(export, folder)
    assert result.exit_code == 0, result.stderr
    assert os.listdir(folder) == ["funnel.yml"]  # no temporary file left behind
    assert "definitions for" in result.stderr and result.stdout == ""
    checked = run("validate", str(folder), "--data", str(export))
    assert checked.exit_code == 0, checked.stdout + checked.stderr
    report = run("conversion", str(export), "-d", str(folder), "-f", "json")
    assert report.exit_code == 0, report.stderr
    assert '"stages"' in report.stdout or '"rows"' in report.stdout


def written(name: str, tmp_path) -> tuple[dict, str]:
    result = init(INIT / name, tmp_path / "out")
    assert result.exit_code == 0, result.stderr
    text = (tmp_path / "out" / "funnel.yml").read_text(encoding="utf-8")
    return yaml.safe_load(text), text


def names(data: dict, section: str = "stages") -> list[str]:
    return [item["name"] for item in data.get(section) or []]


def test_hubspot_contacts(tmp_path):
    data, text = written("hubspot-contacts.csv", tmp_path)
    assert data["columns"] == {"id": "Record ID", "created": "Create Date", "owner": "Contact owner",
                               "source": "Original Source", "lifecycle": "Lifecycle Stage", "status": "Lead Status"}
    # HubSpot's lifecycle order, not the order of the columns or of their dates
    assert data["stages"] == [
        {"name": "Lead", "date": "Became a Lead Date"},
        {"name": "MQL", "date": "Became a Marketing Qualified Lead Date"},
        {"name": "SQL", "date": "Became a Sales Qualified Lead Date"},
        {"name": "Opportunity", "date": "Became an Opportunity Date"},
        {"name": "Customer", "date": "Became a Customer Date"},
    ]
    assert data["exits"] == [
        {"name": "Disqualified", "when": {"status": {"in": ["Unqualified"]}}},
        {"name": "Recycled", "when": {"status": {"in": ["Bad Timing"]}}},
        {"name": "Lost", "when": {"status": {"in": ["Closed Lost"]}}},
    ]
    assert "date_format" not in data and "blank_values" not in data  # ISO dates, no placeholders
    assert "HubSpot contacts export" in text
    assert "The other values: Connected, New, In" in text  # the statuses it did not take for exits


def test_hubspot_deals(tmp_path):
    data, text = written("hubspot-deals.csv", tmp_path)
    assert data["columns"]["id"] == "Record ID" and data["columns"]["stage_now"] == "Deal Stage"
    assert data["stage_column"] == "stage_now"
    assert data["stages"] == [
        {"name": "Appointment Scheduled", "date": "Create Date"},
        {"name": "Qualified To Buy"},
        {"name": "Contract Sent"},
        {"name": "Won", "when": {"stage_now": {"in": ["Closed Won"]}}, "date": "Close Date"},
    ]
    assert data["exits"] == [{"name": "Lost", "values": ["Closed Lost"], "date": "Close Date"}]
    assert "in the CRM's default pipeline order" in text


# A HubSpot deals export with its 'Date entered "<stage> (<pipeline>)"' columns (and one of another
# pipeline). A: entered Appointment Scheduled, Qualified To Buy, Contract Sent, then lost (its Deal
# Stage says only Closed Lost); B: the same, then won; C: Appointment Scheduled, Qualified To Buy.
ENTERED_DEALS = (
    'Record ID,Deal Name,Pipeline,Deal Stage,Amount,Create Date,Close Date,Deal owner,'
    '"Date entered ""Appointment Scheduled (Sales Pipeline)""","Date entered ""Qualified To Buy (Sales Pipeline)""",'
    '"Date entered ""Contract Sent (Sales Pipeline)""","Date entered ""Closed Won (Sales Pipeline)""",'
    '"Date entered ""Closed Lost (Sales Pipeline)""","Date entered ""New (Renewals)"""\n'
    "1,A,Sales Pipeline,Closed Lost,1000,2024-01-02 10:00,2024-02-01 10:00,Priya,2024-01-02 10:00,2024-01-05 10:00,2024-01-20 10:00,,2024-02-01 10:00,\n"
    "2,B,Sales Pipeline,Closed Won,2000,2024-01-03 10:00,2024-02-03 10:00,Priya,2024-01-03 10:00,2024-01-06 10:00,2024-01-21 10:00,2024-02-03 10:00,,\n"
    "3,C,Sales Pipeline,Qualified To Buy,3000,2024-01-04 10:00,2024-04-01 00:00,Dana,2024-01-04 10:00,2024-01-08 10:00,,,,2024-01-09 10:00\n"
)


@pytest.mark.parametrize("alphabetical", [False, True])
def test_hubspot_deals_with_the_dates_each_stage_was_entered(write, tmp_path, alphabetical):
    # the draft read the Deal Stage alone: A, lost after Contract Sent, counted as lost at the first
    # stage, and stages no deal sits in now (Contract Sent for A and B) were left out. The dates
    # give every stage passed: by hand, reached 3, 3, 2, 1; A exits at Contract Sent. An export of
    # every property lists its columns alphabetically: the stages keep HubSpot's order
    text = ENTERED_DEALS
    if alphabetical:
        import csv
        import io

        rows = list(csv.reader(io.StringIO(ENTERED_DEALS)))
        order = sorted(range(len(rows[0])), key=lambda i: rows[0][i])
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows([[row[i] for i in order] for row in rows])
        text = out.getvalue()
    export = write("deals.csv", text)
    assert init(export, tmp_path / "out").exit_code == 0
    text = (tmp_path / "out" / "funnel.yml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    entered = 'Date entered "{} (Sales Pipeline)"'.format
    assert data["stages"] == [{"name": "Appointment Scheduled", "date": entered("Appointment Scheduled")},
                              {"name": "Qualified To Buy", "date": entered("Qualified To Buy")},
                              {"name": "Contract Sent", "date": entered("Contract Sent")},
                              {"name": "Won", "date": entered("Closed Won")}]
    assert data["exits"] == [{"name": "Lost", "date": entered("Closed Lost")}]
    assert "stage_column" not in data
    assert "other pipelines too (Renewals)" in text
    result = run("conversion", str(export), "-d", str(tmp_path / "out"), "-f", "json", "-q")
    rows = {r["stage"]: r for r in json.loads(result.stdout)["tables"]["stages"]}
    assert [rows[s]["reached"] for s in rows] == [3, 3, 2, 1]
    assert (rows["Contract Sent"]["exited"], rows["Appointment Scheduled"]["exited"]) == (1, 0)


def test_salesforce_leads_report_with_footer_and_us_dates(tmp_path):
    data, text = written("salesforce-leads.csv", tmp_path)
    assert data["columns"] == {"id": "Lead ID", "created": "Created Date", "owner": "Lead Owner",
                               "source": "Lead Source", "status": "Lead Status"}
    # 6/3/2024 1:39 AM and 6/20/2024 in one report: both formats, the date-time first (more rows)
    assert data["date_format"] == ["%m/%d/%Y %I:%M %p", "%m/%d/%Y"]
    assert data["blank_values"] == ["--None--"]
    assert data["stages"] == [
        {"name": "Lead", "date": "Created Date"},
        {"name": "Converted", "flag": "Converted", "date": "Converted Date"},
    ]
    assert data["exits"] == [{"name": "Disqualified", "when": {"status": {"in": ["Closed - Not Converted"]}}}]
    # the footer, noted: its blank line and four lines, as the run counts them (5 rows in the report footer)
    assert "5 lines of the rows read are a report footer or have another number of fields" in text
    run_says = run("conversion", str(INIT / "salesforce-leads.csv"), "-d", str(tmp_path / "out"), "-f", "json", "-q")
    footer = [e for e in json.loads(run_says.stdout)["accounting"]["excluded"] if e["reason"] == "in the report footer"]
    assert [(e["count"], e["first_rows"]) for e in footer] == [(5, [9, 10, 11, 12, 13])]
    assert "Converted Opportunity ID" in text  # how to join the opportunities report


def test_salesforce_opportunities(tmp_path):
    data, _ = written("salesforce-opportunities.csv", tmp_path)
    assert data["columns"]["id"] == "Opportunity ID"
    assert data["date_format"] == ["%m/%d/%Y"]  # 6/20/2024 has a day above 12: month first
    assert names(data) == ["Prospecting", "Qualification", "Proposal/Price Quote", "Won"]
    assert data["stages"][-1] == {"name": "Won", "when": {"stage_now": {"in": ["Closed Won"]}}, "date": "Close Date"}
    assert data["exits"] == [{"name": "Lost", "values": ["Closed Lost"], "date": "Close Date"}]


def test_pipedrive_deals(tmp_path):
    data, _ = written("pipedrive-deals.csv", tmp_path)
    assert data["columns"] == {"id": "Deal - ID", "state": "Deal - Status", "stage_since": "Deal - Last stage change",
                               "created": "Deal - Deal created", "owner": "Deal - Owner", "source": "Deal - Source",
                               "amount": "Deal - Value", "stage_now": "Deal - Stage"}
    assert data["blank_values"] == ["N/A"]
    assert names(data) == ["Qualified", "Contact Made", "Demo Scheduled", "Proposal Made", "Negotiations Started", "Won"]
    assert data["stages"][0] == {"name": "Qualified", "date": "Deal - Deal created"}
    assert data["stages"][-1] == {"name": "Won", "when": {"state": {"in": ["won"]}}, "date": "Deal - Won time"}
    assert data["exits"] == [{"name": "Lost", "when": {"state": {"in": ["lost"]}}, "date": "Deal - Lost time"}]


def test_pipedrive_deal_changes_log(tmp_path):
    data, text = written("pipedrive-deal-changes.csv", tmp_path)
    assert data["columns"] == {"id": "deal_id"}
    assert data["history"] == {"stage": "new_value", "at": "change_time",
                               "only": {"changed_field_key": {"in": ["stage_id", "status"]}},
                               "reopen": ["open"]}  # Pipedrive's status back to open after a loss
    # deal 31 goes 1, 2, 3, 5 and deal 33 goes 1, 3, 4: stage 4 comes before 5 by the deals' order
    assert data["stages"] == [{"name": f"Stage {i}", "values": [str(i)]} for i in range(1, 6)] + \
        [{"name": "Won", "values": ["won"]}]
    assert data["exits"] == [{"name": "Lost", "values": ["lost"]}]
    assert 'values: ["1"]' in text  # quoted: YAML would read 1 as a number


def test_generic_semicolon_export_with_german_dates(tmp_path):
    data, text = written("generic-semicolon.csv", tmp_path)
    assert data["columns"] == {"id": "lead_id", "created": "created_on", "owner": "owner", "source": "source", "status": "status"}
    assert data["date_format"] == ["%d.%m.%Y"]
    assert data["blank_values"] == ["N/A"]
    # stages by their typical date: created 11.03, mql 12.03.2024 (median of 4), sql 18.03 (of 2)
    assert data["stages"] == [{"name": "Lead", "date": "created_on"}, {"name": "MQL", "date": "mql_date"},
                              {"name": "SQL", "date": "sql_date"}]
    assert data["exits"] == [{"name": "Disqualified", "when": {"status": {"in": ["Disqualified"]}}},
                             {"name": "Recycled", "when": {"status": {"in": ["Nurture"]}}}]
    assert "did not recognise" in text and "check the order" in text


def test_the_flag_sample_gives_a_flag_funnel(tmp_path):
    result = init(FLAG_SAMPLE, tmp_path / "d")
    data = yaml.safe_load((tmp_path / "d" / "funnel.yml").read_text(encoding="utf-8"))
    assert result.exit_code == 0
    assert data["stages"] == [{"name": "Lead"}, {"name": "Converted", "flag": "Converted"}]  # not Do Not Email
    assert data["blank_values"] == ["Select"]
    assert data["columns"]["id"] == "Prospect ID" and data["columns"]["source"] == "Lead Source"


def test_a_proposal_sent_date_is_a_stage_and_an_email_sent_date_is_not(write):
    # 'sent' once kept 'Proposal Sent' out of the stages (and listed it as a breakdown column,
    # its name split over two comment lines); an email's tracking date is still no stage
    export = write("leads.csv", "id,MQL Date,Proposal Sent,Last Email Sent,Won Date\n"
                   "1,2024-01-02,2024-01-20,2024-02-01,2024-03-01\n2,2024-01-03,2024-01-25,2024-01-05,\n"
                   "3,2024-01-04,,2024-01-06,\n")
    text = run("init", str(export), "-o", "-").stdout
    data = yaml.safe_load(text)
    assert names(data) == ["MQL", "Proposal Sent", "Won"]
    assert "(map one under columns: to break down by it, --by NAME): 'Last Email Sent'" in text


def test_stage_dates_are_ordered_by_which_comes_first_then_by_how_many_have_them(write):
    # Converted is dated in 3 rows of 10, early ones (the median 01-03 is before Signup's 01-06);
    # where both are dated, Signup is on or before Converted: Signup first. The median put
    # Converted first, and the waterfall then counted every lead converted. "Created: Date" is
    # the creation date (a colon in its name kept it out of the draft).
    rows = [f"{i},2024-01-{i + 1:02d},{f'2024-01-{i + 2:02d}' if i < 3 else ''},2024-01-{i + 1:02d}" for i in range(10)]
    export = write("leads.csv", "id,Signup,Converted Date,Created: Date\n" + "\n".join(rows) + "\n")
    data = yaml.safe_load(run("init", str(export), "-o", "-").stdout)
    assert names(data) == ["Lead", "Signup", "Converted"]
    assert data["columns"]["created"] == "Created: Date"
    # no row with both: the one more rows have first
    export = write("other.csv", "id,B Date,A Date\n1,2024-01-01,\n2,,2024-03-01\n3,,2024-03-02\n")
    assert names(yaml.safe_load(run("init", str(export), "-o", "-").stdout)) == ["A", "B"]
    # three columns whose pairs disagree row by row (X before Y twice, Y before Z twice, Z before
    # X twice: a cycle): the order is one score per column, the same whatever the columns' order
    # in the file (a pairwise comparison sorted them X, Y, Z one way and Y, Z, X another)
    rows = ["1,2024-01-01,2024-01-02,", "2,2024-01-01,2024-01-02,", "3,,2024-01-01,2024-01-02", "4,,2024-01-01,2024-01-02",
            "5,2024-01-02,,2024-01-01", "6,2024-01-02,,2024-01-01", "7,2024-01-05,2024-01-06,2024-01-07"]
    orders = set()
    for columns in ([0, 1, 2], [1, 2, 0], [2, 0, 1]):
        header = ["X Date", "Y Date", "Z Date"]
        text = "id," + ",".join(header[c] for c in columns) + "\n"
        for row in rows:
            cells = row.split(",")
            text += cells[0] + "," + ",".join(cells[1 + c] for c in columns) + "\n"
        orders.add(tuple(names(yaml.safe_load(run("init", str(write("cycle.csv", text)), "-o", "-").stdout))))
    assert len(orders) == 1, orders


def test_generic_status_column_ordered_by_dates(write, tmp_path):
    # Median days from created to the last stage change: Contacted 2, Meeting 6, Proposal 15.
    # By rows the order would be Meeting (3), Contacted (2), Proposal (1).
    export = write("deals.csv", "id,status,created,stage_changed\n"
                   "1,Meeting,2024-01-01,2024-01-07\n2,Meeting,2024-01-02,2024-01-08\n3,Meeting,2024-01-03,2024-01-09\n"
                   "4,Contacted,2024-01-04,2024-01-06\n5,Contacted,2024-01-05,2024-01-07\n"
                   "6,Proposal,2024-01-06,2024-01-21\n7,Lost,2024-01-07,2024-01-08\n")
    data = yaml.safe_load(run("init", str(export), "-o", "-").stdout)
    assert data["stage_column"] == "stage_now"
    assert names(data) == ["Contacted", "Meeting", "Proposal"]
    assert data["stages"][0]["date"] == "created"
    assert data["exits"] == [{"name": "Lost", "values": ["Lost"]}]


def test_generic_status_column_without_dates_asks_for_the_order(write, tmp_path):
    export = write("leads.csv", "id,status\n1,Working\n2,Working\n3,New\n4,Working\n5,Qualified\n6,New\n")
    result = run("init", str(export), "-o", "-")
    data = yaml.safe_load(result.stdout)
    assert names(data) == ["Working", "New", "Qualified"]  # by rows: 3, 2, 1
    assert "put them in funnel order" in result.stdout


# --------------------------------------------------------------------------------------------
# Never overwrite, never half-written, clear errors


def test_never_overwrites(tmp_path):
    folder = tmp_path / "defs"
    folder.mkdir()
    (folder / "funnel.yml").write_text("# mine\n", encoding="utf-8")
    result = init(INIT / "hubspot-deals.csv", folder)
    assert result.exit_code == 2
    assert f"{folder / 'funnel.yml'}: the file exists already" in result.stderr and "--output DIR" in result.stderr
    assert (folder / "funnel.yml").read_text(encoding="utf-8") == "# mine\n"
    assert "Traceback" not in result.stderr


def test_refuses_a_folder_holding_other_definitions(tmp_path):
    folder = tmp_path / "defs"
    folder.mkdir()
    (folder / "targets.yml").write_text("targets: {}\n", encoding="utf-8")
    result = init(INIT / "hubspot-deals.csv", folder)
    assert result.exit_code == 2 and "targets.yml" in result.stderr
    assert sorted(os.listdir(folder)) == ["targets.yml"]


@pytest.mark.parametrize("content, message", [
    (b"", "the file is empty"),
    (b"\x00\x01\x02\x03binary\x00\xff" * 20, "binary file"),
    (b"PK\x03\x04" + b"\x00" * 40, "Excel workbook"),
    (b"email\nann@example.com\nbob@example.com\n", "the header has one column"),
    (b"1001,2024-03-01,New\n1002,2024-03-02,Working\n", "looks like data, not a header"),
    (b"id,status,created\n", "header but no data rows"),
    (b"id;status;created\n1,a\n2,b\n3,c\n", "no row has as many fields"),
])
def test_exports_it_cannot_make_sense_of(write, tmp_path, content, message):
    export = write("export.csv", content)
    folder = tmp_path / "never"
    result = init(export, folder)
    assert result.exit_code == 2
    assert message in result.stderr and str(export) in result.stderr
    assert not folder.exists()  # nothing written, not even the folder
    assert "Traceback" not in result.stderr


def test_a_missing_export(tmp_path):
    result = init(tmp_path / "nope.csv", tmp_path / "d")
    assert result.exit_code == 2 and "no such file" in result.stderr and not (tmp_path / "d").exists()


def test_dash_prints_the_definitions_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run("init", str(INIT / "hubspot-deals.csv"), "-o", "-")
    assert result.exit_code == 0 and result.stdout.startswith("# funnelcli init took this for a HubSpot deals export")
    assert os.listdir(tmp_path) == []


def test_default_folder_is_definitions(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run("init", str(INIT / "pipedrive-deals.csv"))
    assert result.exit_code == 0
    assert (tmp_path / "definitions" / "funnel.yml").exists()
    assert "funnelcli validate definitions --data" in result.stderr


def test_reads_only_a_sample_and_is_quick():
    started = time.perf_counter()
    result = init_definitions(str(ROOT / "samples" / "hubspot-contacts.csv"), "-")
    assert time.perf_counter() - started < 5  # about 0.15 s here; the bound only catches a blow-up
    assert result.rows_read == 2000 and not result.whole and result.path is None


# --------------------------------------------------------------------------------------------
# Dates and YAML text


def test_dates_a_day_above_12_settles_the_order_of_the_column():
    # 12/4/2024 alone reads both ways; 3/25/2024 of the same column says month first
    found = guess_dates("Close Date", ["12/4/2024", "3/25/2024", "", "11/6/2024"])
    assert found.formats == ("%m/%d/%Y",) and not found.ambiguous
    assert [d.isoformat() if d else None for d in found.days] == ["2024-12-04", "2024-03-25", None, "2024-11-06"]


def test_dates_without_a_day_above_12_are_a_guess():
    found = guess_dates("Signed", ["3/4/2024", "5/6/2024"])
    assert found.formats == ("%m/%d/%Y",) and found.ambiguous
    assert guess_dates("Signed", ["3/4/2024", "5/6/2024"], day_first=True).formats == ("%d/%m/%Y",)


def test_dates_iso_needs_no_format_and_text_is_not_dates():
    assert guess_dates("Created", ["2024-03-01 10:00", "2024-03-02T08:00:00Z", ""]).formats == ()
    assert guess_dates("Title", ["CEO", "Founder", "CFO"]) is None
    assert guess_dates("Amount", ["1.200,50", "3.000,00"]) is None


def test_dates_excel_serials_in_a_date_column():
    found = guess_dates("Created Date", ["45292", "45292.75", ""])
    assert found.formats == ("excel",) and found.days[0].isoformat() == "2024-01-01"
    assert guess_dates("Employees", ["45292", "45300"]) is None  # a number column, not named a date


def test_dates_excel_serials_among_us_dates_read_both_and_the_draft_runs(write):
    # a column Excel saved in part as numbers: 3/4/2024 (no day above 12) beside 3/25/2024 settles
    # month first; the serials were "not dates" to leave out as blank values, the stages they date lost
    found = guess_dates("Create Date", ["3/4/2024 9:05 AM", "45292", "3/25/2024", "45300.5", "", "3/26/2024 1:00 PM"])
    assert set(found.formats) == {"%m/%d/%Y %I:%M %p", "%m/%d/%Y", "excel"} and found.failed == 0
    assert [d.isoformat() if d else None for d in found.days] == [
        "2024-03-04", "2024-01-01", "2024-03-25", "2024-01-09", None, "2024-03-26"]
    assert guess_dates("Notes", ["3/4/2024", "45292", "3/25/2024", "45300"]) is None  # numbers in a column not named a date
    export = write("leads.csv", "Record ID,Create Date,Became a Marketing Qualified Lead Date\n"
                                "1,3/4/2024 9:05 AM,45356\n2,45292,3/25/2024\n3,3/25/2024,45376.25\n")
    out = export.parent / "defs"
    assert run("init", export, "-o", out).exit_code == 0
    assert run("validate", out, "--data", export).exit_code == 0
    data = json.loads(run("conversion", export, "-d", out, "-f", "json", "-q").stdout)
    assert data["accounting"]["rows_read"] == data["accounting"]["leads_in_report"] == 3
    assert data["tables"]["stages"][0]["reached"] == 3  # MQL: 2024-03-05, 03-25 and 03-25, by both kinds of dates


def test_one_unreadable_value_is_noted_not_fatal(write):
    export = write("leads.csv", "id,created,mql_date\n1,2024-01-01,2024-01-03\n2,2024-01-02,TBD\n"
                   "3,2024-01-03,2024-01-05\n4,2024-01-04,2024-01-06\n5,2024-01-05,2024-01-09\n")
    result = run("init", str(export), "-o", "-")
    assert "1 value of 'mql_date' in the rows read is not a date (e.g. 'TBD')" in " ".join(
        line.lstrip("# ").strip() for line in result.stdout.splitlines())


@pytest.mark.parametrize("text", ["1", "yes", "N/A", "--None--", "-", "a: b", "x #y", "[x]", "Deal - ID", " pad",
                                  "Müller", "Probability (%)", "on", "null", "2024-01-01"])
def test_scalars_read_back_as_the_same_text(text):
    assert yaml.safe_load(scalar(text)) == text
    assert yaml.safe_load(flow({"k": [text]})) == {"k": [text]}


def test_a_file_system_without_hard_links_still_never_overwrites(tmp_path, monkeypatch):
    import errno

    def no_links(src, dst):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    folder = tmp_path / "defs"
    assert init(INIT / "hubspot-deals.csv", folder).exit_code == 0
    assert os.listdir(folder) == ["funnel.yml"]
    (folder / "funnel.yml").write_text("# mine\n", encoding="utf-8")
    assert init(INIT / "hubspot-deals.csv", folder).exit_code == 2
    assert (folder / "funnel.yml").read_text(encoding="utf-8") == "# mine\n"


def test_an_id_column_with_repeats_says_how_many(write):
    export = write("leads.csv", "Record ID,Create Date\n" + "".join(f"{i},2024-01-0{i % 9 + 1}\n" for i in range(1, 40))
                   + "7,2024-01-02\n")
    result = run("init", str(export), "-o", "-")
    assert "in the 40 rows read, 1 repeats an id and 0 have none" in result.stdout


# --------------------------------------------------------------------------------------------
# The export's values are data in the definitions init writes: quoted in comments, never YAML


def _status_export(tmp_path, statuses: list[str]):
    rows = ["Key,Created Date,Lead Status"]
    for i, status in enumerate(statuses * 3):  # each value held by a few rows
        quoted = '"' + status.replace('"', '""') + '"'
        rows.append(f"K{i},2025-01-{1 + i % 9:02d},{quoted}")
    path = tmp_path / "export.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("breaker", ["\n", "\r\n", "\u2028", "\x85"])
def test_a_value_with_a_line_break_adds_nothing_to_the_definitions(tmp_path, breaker):
    # a value quoted in a comment ('7 values: ...') ended the comment line and wrote a target
    hostile = f"x{breaker}targets: {{Open->Closed Lost: 0.01}} #"
    export = _status_export(tmp_path, ["Open", "Closed Lost", "Working", "Pending", "Nurture", "Hold", hostile])
    result = init(export, tmp_path / "defs")
    assert result.exit_code == 0, result.stderr
    text = (tmp_path / "defs" / "funnel.yml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    assert "targets" not in data
    assert not [line for line in text.splitlines() if line.startswith("targets")]
    assert run("validate", str(tmp_path / "defs"), "--data", str(export)).exit_code == 0


def test_a_status_value_with_a_line_break_is_a_stage_of_one_line_that_lists_it(tmp_path):
    # 'Working\n- Contacted' can't be a stage's name (one line): the name has a space, and
    # values: lists the value as written, so the leads holding it are counted there
    export = _status_export(tmp_path, ["Open", "Working\n- Contacted"])
    result = init(export, tmp_path / "defs")
    assert result.exit_code == 0, result.stderr
    data = yaml.safe_load((tmp_path / "defs" / "funnel.yml").read_text(encoding="utf-8"))
    stage = next(s for s in data["stages"] if s["name"] == "Working - Contacted")
    assert stage["values"] == ["Working\n- Contacted"]
    report = json.loads(run("conversion", str(export), "-d", str(tmp_path / "defs"), "-f", "json").stdout)
    reached = {r["stage"]: r["reached"] for r in report["tables"]["stages"]}
    assert reached["Working - Contacted"] == 3  # the three rows holding the value


@pytest.mark.parametrize("shown", [False, True])
def test_definitions_that_do_not_validate_are_never_written_and_the_hint_fits(shown):
    # a bug of init's own, made here: a stage date column the header lacks
    from funnelcli.init import write as init_write

    text = "version: 1\ncolumns: {id: Id}\nstages:\n  - {name: Lead, date: Missing}\n"
    with pytest.raises(FunnelError) as caught:
        init_write._check_text(text, ["Id"], "leads.csv", shown=shown)
    message = str(caught.value)
    assert message.startswith("leads.csv: init wrote definitions that do not validate")
    assert "Missing" in message
    assert ("pass -o - to see them" in message) is not shown


# --------------------------------------------------------------------------------------------
# Status values in funnel order from what the export shows, and flags in any spellings (a QA
# pass as a new user: custom Salesforce stages came out by row counts, with no 'check')


def drafted(tmp_path, text: str) -> tuple[dict, str]:
    export = tmp_path / "export.csv"
    export.write_text(text, encoding="utf-8")
    result = init(export, tmp_path / "out")
    assert result.exit_code == 0, result.stderr
    written_text = (tmp_path / "out" / "funnel.yml").read_text(encoding="utf-8")
    return yaml.safe_load(written_text), written_text


def test_numbered_status_values_are_ordered_by_their_numbers(tmp_path):
    # by rows: 2 - Working (4), 4 - Proposal (3), 3 - Qualified (2), 1 - New (1); by number: 1 to 4
    rows = ["1 - New"] + ["2 - Working"] * 4 + ["3 - Qualified"] * 2 + ["4 - Proposal"] * 3
    text = "Lead ID,Status,Owner\n" + "".join(f"L{i},{s},Ann\n" for i, s in enumerate(rows))
    data, written_text = drafted(tmp_path, text)
    assert names(data) == ["1 - New", "2 - Working", "3 - Qualified", "4 - Proposal"]
    assert "ordered by the number each starts with; check the order" in written_text


def test_custom_opportunity_stages_are_ordered_by_their_probability(tmp_path):
    # Salesforce opportunities with renamed stages: Proposal holds the most rows (4), Discovery
    # the fewest (1); their Probability (%) orders them Discovery 10, Demo 25, Proposal 60, Negotiation 80
    stages = [("Discovery", 10)] + [("Demo", 25)] * 2 + [("Proposal", 60)] * 4 + [("Negotiation", 80)] * 3
    text = ("Opportunity ID,Opportunity Name,Stage,Probability (%),Created Date,Close Date\n"
            + "".join(f"O{i},Deal {i},{s},{p},2026-01-0{i % 9 + 1},2026-03-01\n" for i, (s, p) in enumerate(stages))
            + "O90,Deal 90,Closed Won,100,2026-01-02,2026-02-01\nO91,Deal 91,Closed Lost,0,2026-01-03,2026-02-02\n")
    data, written_text = drafted(tmp_path, text)
    assert names(data) == ["Discovery", "Demo", "Proposal", "Negotiation", "Won"]
    assert "ordered by the median 'Probability (%)' of their rows; check the" in written_text  # then wrapped


def test_status_values_ordered_by_row_counts_are_marked_to_check(tmp_path):
    text = "Lead ID,Status\n" + "".join(f"L{i},{s}\n" for i, s in enumerate(["Working"] * 3 + ["Nurture"] + ["Qualified"] * 2))
    _, written_text = drafted(tmp_path, text)
    assert "check: ordered by how many rows hold them" in written_text


def test_a_flag_in_several_spellings_and_a_stray_value_is_a_flag(tmp_path):
    # Qualified holds Yes, Y, yes, No, N and one 'Maybe' (row 5): a flag, whose stray value the
    # run excludes (and validate warns of); Converted is 1/0
    values = ["Yes", "Y", "yes", "Maybe", "No", "N", "No", "Yes", "N", "Y"]
    text = "Lead ID,Qualified,Converted\n" + "".join(f"L{i},{v},{int(i in (0, 7))}\n" for i, v in enumerate(values))
    data, _ = drafted(tmp_path, text)
    assert {s.get("flag") for s in data["stages"]} >= {"Qualified", "Converted"}
    export = str(tmp_path / "export.csv")
    checked = run("validate", str(tmp_path / "out"), "--data", export)
    assert checked.exit_code == 0 and "'Maybe' in row 5" in checked.stdout
    report = json.loads(run("conversion", export, "-d", str(tmp_path / "out"), "-f", "json", "-q").stdout)
    assert report["accounting"]["rows_excluded"] == 1
    assert {r["stage"]: r["reached"] for r in report["tables"]["stages"]}["Qualified"] == 5  # Yes, Y, yes, Yes, Y


def test_a_title_line_above_the_header_is_named(tmp_path):
    # a report's name on line 1, the header on line 2 (a QA pass: the message blamed the delimiter)
    export = tmp_path / "titled.csv"
    export.write_text("Leads export - generated 2024-12-01 by admin\nLead ID,Status,Created\nL1,New,2024-11-02\n")
    result = init(export, tmp_path / "out")
    assert result.exit_code == 2
    assert ("line 1 ('Leads export - generated 2024-12-01 by admin') looks like a title above the header, which line 2 "
            "holds ('Lead ID', 'Status', 'Created', ...): delete the line above the header") in result.stderr
    one = tmp_path / "one.csv"  # a file of one column is no title: the delimiter advice stays
    one.write_text("leads\nL1\nL2\n")
    assert "--delimiter" in init(one, tmp_path / "out2").stderr


def test_the_next_commands_read_the_export_as_init_did(tmp_path):
    # a cp1252 export (Zoë) read with --encoding cp1252: the commands init prints next carry it,
    # and they run (without it the run stops at the byte it can't decode)
    export = tmp_path / "leads.csv"
    export.write_bytes("Lead ID,Owner,Status,Created\nL1,Zoë,New,2024-11-02\nL2,Ann,Working,2024-11-03\n".encode("cp1252"))
    result = init(export, tmp_path / "out", "--encoding", "cp1252")
    assert result.exit_code == 0, result.stderr
    line = next(x for x in result.stderr.splitlines() if "then: funnelcli validate" in x)
    validate, conversion = line.split("then: ", 1)[1].split(" && ")
    assert validate.endswith("--encoding cp1252") and conversion.endswith("--encoding cp1252")
    for command in (validate, conversion):
        done = run(*command.split()[1:])
        assert done.exit_code == 0, done.stdout + done.stderr


def test_a_probability_tie_is_named_to_check(tmp_path):
    # Scope and Discover both at 10% (Salesforce's Prospecting and Qualification): the order can't
    # tell them apart, and the comment names them
    stages = [("Discover", 10)] * 2 + [("Scope", 10)] * 3 + [("Pitch", 60)] * 2
    text = ("Opportunity ID,Opportunity Name,Stage,Probability (%),Created Date,Close Date\n"
            + "".join(f"O{i},Deal {i},{s},{p},2026-01-0{i + 1},2026-03-01\n" for i, (s, p) in enumerate(stages)))
    data, written_text = drafted(tmp_path, text)
    assert names(data)[-1] == "Pitch"
    assert "(check: Scope, Discover have the same 'Probability (%)')" in written_text.replace("\n#   ", " ")


def test_a_count_with_a_rare_two_is_no_flag(tmp_path):
    # touches of 0 and 1 and a single 2 in 200 rows: a count, mapped as touches (a stray number is no stray word)
    text = "lead_id,created_at,touches\n" + "".join(f"L{i},2026-01-02,{2 if i == 7 else i % 2}\n" for i in range(200))
    data, _ = drafted(tmp_path, text)
    assert data["columns"].get("touches") == "touches"
    assert not [s for s in data.get("stages") or [] if s.get("flag") == "touches"]
