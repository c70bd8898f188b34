"""funnelcli init on stage-history logs: Salesforce field history and HubSpot property history are
recognised by their columns and drafted with a `history:` block; the draft validates against the
log and its run counts every record of the log once.

Each test writes the log under tmp_path. The expected stages, orders and counts are worked out by
hand in the comments beside each log.
"""

from __future__ import annotations

import json

import yaml
from tests.conftest import FIXTURES, run

# Salesforce OpportunityFieldHistory, as the API (Data Loader, Workbench) writes it: a row per
# change, Id the change's own id. 006A: Prospecting, Qualification, won (an Amount change between).
# 006B: lost straight from Prospecting, which no row of its own names (Salesforce logs no row for
# the stage an opportunity is created in). 006C: created only. 006D: Prospecting, Needs Analysis,
# the custom Security Review, Negotiation/Review. 006E: Qualification, Proposal/Price Quote,
# Security Review, lost. 006F: Needs Analysis, then back to Qualification.
SALESFORCE = """\
Id,OpportunityId,CreatedById,CreatedDate,Field,OldValue,NewValue
017A1,006A,005U1,2024-06-03T14:05:00.000+0000,created,,
017A2,006A,005U1,2024-06-03T14:05:00.000+0000,StageName,,Prospecting
017A3,006A,005U1,2024-06-05T09:00:00.000+0000,StageName,Prospecting,Qualification
017A4,006A,005U2,2024-06-06T09:00:00.000+0000,Amount,1000,2000
017A5,006A,005U2,2024-06-20T09:00:00.000+0000,StageName,Qualification,Closed Won
017B1,006B,005U1,2024-06-04T10:00:00.000+0000,created,,
017B2,006B,005U1,2024-06-09T10:00:00.000+0000,StageName,Prospecting,Closed Lost
017C1,006C,005U2,2024-06-10T10:00:00.000+0000,created,,
017D1,006D,005U2,2024-06-04T11:00:00.000+0000,StageName,,Prospecting
017D2,006D,005U2,2024-06-06T11:00:00.000+0000,StageName,Prospecting,Needs Analysis
017D3,006D,005U2,2024-06-08T11:00:00.000+0000,StageName,Needs Analysis,Security Review
017D4,006D,005U2,2024-06-12T11:00:00.000+0000,StageName,Security Review,Negotiation/Review
017E1,006E,005U1,2024-06-05T08:00:00.000+0000,StageName,,Qualification
017E2,006E,005U1,2024-06-07T08:00:00.000+0000,StageName,Qualification,Proposal/Price Quote
017E3,006E,005U1,2024-06-11T08:00:00.000+0000,StageName,Proposal/Price Quote,Security Review
017E4,006E,005U1,2024-06-15T08:00:00.000+0000,StageName,Security Review,Closed Lost
017F1,006F,005U1,2024-06-06T08:00:00.000+0000,StageName,,Needs Analysis
017F2,006F,005U1,2024-06-08T08:00:00.000+0000,StageName,Needs Analysis,Qualification
"""

T0 = 1_717_200_000_000  # 2024-06-01 00:00 UTC in milliseconds (19,875 days after 1970-01-01)
DAY = 86_400_000

# HubSpot contact property history with the API's epoch milliseconds, in no particular order.
# 101: subscriber, lead, MQL, then customer (SQL and Opportunity skipped). 102: lead, then
# UNQUALIFIED (hs_lead_status) and 'other'. 103: MQL, SQL, opportunity. 104: an owner change
# only. 105: lead.
HUBSPOT_ROWS = [
    (101, "lifecyclestage", "customer", T0 + 20 * DAY),
    (103, "lifecyclestage", "salesqualifiedlead", T0 + 6 * DAY),
    (101, "lifecyclestage", "subscriber", T0),
    (102, "lifecyclestage", "lead", T0 + 2 * DAY),
    (101, "hs_lead_status", "NEW", T0 + DAY + 2000),
    (101, "lifecyclestage", "lead", T0 + DAY),
    (104, "hubspot_owner_id", "7", T0 + 4 * DAY),
    (103, "lifecyclestage", "marketingqualifiedlead", T0 + 4 * DAY),
    (102, "hs_lead_status", "UNQUALIFIED", T0 + 5 * DAY),
    (101, "lifecyclestage", "marketingqualifiedlead", T0 + 3 * DAY),
    (102, "lifecyclestage", "other", T0 + 5 * DAY + 1000),
    (103, "lifecyclestage", "opportunity", T0 + 9 * DAY),
    (105, "lifecyclestage", "lead", T0 + 7 * DAY),
]
HUBSPOT = "Record ID,Property,Value,Timestamp\n" + "".join(f"{i},{p},{v},{t}\n" for i, p, v, t in HUBSPOT_ROWS)


def drafted(write, tmp_path, name: str, content: str) -> tuple[dict, str, object]:
    """Return init's draft for the log (parsed, as text) and the log's path, after checking that the
    draft validates against the log."""
    export = write(name, content)
    result = run("init", str(export), "-o", str(tmp_path / "d"))
    assert result.exit_code == 0, result.stderr
    text = (tmp_path / "d" / "funnel.yml").read_text(encoding="utf-8")
    checked = run("validate", str(tmp_path / "d"), "--data", str(export))
    assert checked.exit_code == 0, checked.stdout + checked.stderr
    return yaml.safe_load(text), text, export


def reached(export, folder) -> list[tuple[str, int]]:
    result = run("conversion", str(export), "-d", str(folder), "-f", "json", "-q")
    assert result.exit_code == 0, result.stderr
    return [(row["stage"], row["reached"]) for row in json.loads(result.stdout)["tables"]["stages"]]


def said(text: str) -> str:
    """Return the draft's comment lines (those starting with #) as one line."""
    return " ".join(line.lstrip("# ") for line in text.splitlines() if line.startswith("#"))


def unused(text: str) -> str:
    """Return the draft's 'Columns not used yet' note, its lines joined."""
    return said(text)[said(text).index("Columns not used yet"):]


def test_salesforce_opportunity_field_history(write, tmp_path):
    data, text, export = drafted(write, tmp_path, "OpportunityFieldHistory.csv", SALESFORCE)
    assert data["columns"] == {"id": "OpportunityId"}  # the opportunity, not the change's own Id
    assert data["history"] == {"stage": "NewValue", "at": "CreatedDate", "only": {"Field": {"in": ["StageName"]}}}
    # By the log, Needs Analysis comes before Qualification (mean places 0.5 and 0.67: 006F moved
    # back); Salesforce's default order puts its own stages back in order, and the custom Security
    # Review keeps the place the log gives it (mean 2, after Proposal's 1 and before Negotiation's 3).
    assert data["stages"] == [
        {"name": "Prospecting"},  # no values: every opportunity of the log reaches it
        {"name": "Qualification"}, {"name": "Needs Analysis"}, {"name": "Proposal/Price Quote"},
        {"name": "Security Review"}, {"name": "Negotiation/Review"},
        {"name": "Won", "values": ["Closed Won"]},
    ]
    assert data["exits"] == [{"name": "Lost", "values": ["Closed Lost"]}]
    assert "check: Security Review ordered by where they come in each opportunity's changes" in said(text)
    # the columns history: reads are used; the others are named
    assert unused(text).endswith("'Id', 'CreatedById', 'OldValue'")
    # Six opportunities, each once. Prospecting: all 6 (006C and 006B by their first row).
    # Qualification: A, D (implied), E, F. Needs Analysis: A (implied by Won), D, E (implied by
    # Security Review), F (its furthest: it moved back). Proposal: A, D, E. Security Review: A, D, E.
    # Negotiation: A, D. Won: A.
    assert reached(export, tmp_path / "d") == [("Prospecting", 6), ("Qualification", 4), ("Needs Analysis", 4),
                                               ("Proposal/Price Quote", 3), ("Security Review", 3),
                                               ("Negotiation/Review", 2), ("Won", 1)]


def test_salesforce_field_history_with_data_loaders_upper_case_headers(write, tmp_path):
    # Data Loader writes ID,OPPORTUNITYID,...: init took it for an unknown export of leads keyed
    # by the change's own ID (482 'leads' for 87 opportunities, say). It is the same log, and the
    # same funnel as the camel-case headers give
    upper = SALESFORCE.replace("Id,OpportunityId,CreatedById,CreatedDate,Field,OldValue,NewValue",
                               "ID,OPPORTUNITYID,CREATEDBYID,CREATEDDATE,FIELD,OLDVALUE,NEWVALUE")
    data, text, export = drafted(write, tmp_path, "upper.csv", upper)
    assert data["columns"] == {"id": "OPPORTUNITYID"}
    assert data["history"] == {"stage": "NEWVALUE", "at": "CREATEDDATE", "only": {"FIELD": {"in": ["StageName"]}}}
    assert "ID is the change's own" in text
    assert reached(export, tmp_path / "d") == [("Prospecting", 6), ("Qualification", 4), ("Needs Analysis", 4),
                                               ("Proposal/Price Quote", 3), ("Security Review", 3),
                                               ("Negotiation/Review", 2), ("Won", 1)]


def test_a_salesforce_field_history_report_with_us_dates(write, tmp_path):
    # The field history report (Reports > Opportunity History) labels its columns and the field:
    # 'Stage', dates as the user's locale writes them. 0061: Prospecting, Qualification, won; 0062:
    # lost from Prospecting.
    report = ("Opportunity ID,Opportunity Name,Edited By,Field / Event,Old Value,New Value,Edit Date\n"
              "0061,Acme,Ann Lee,Created.,,,6/3/2024 2:05 PM\n"
              "0061,Acme,Ann Lee,Stage,Prospecting,Qualification,6/13/2024 9:00 AM\n"
              "0061,Acme,Ann Lee,Amount,,5000,6/14/2024 9:00 AM\n"
              "0061,Acme,Ann Lee,Stage,Qualification,Closed Won,6/20/2024 9:00 AM\n"
              "0062,Beta,Bob Ray,Created.,,,6/4/2024 10:00 AM\n"
              "0062,Beta,Bob Ray,Stage,Prospecting,Closed Lost,6/9/2024 10:00 AM\n")
    data, _, export = drafted(write, tmp_path, "history-report.csv", report)
    assert data["columns"] == {"id": "Opportunity ID"}
    assert data["history"]["only"] == {"Field / Event": {"in": ["Stage"]}}
    assert data["date_format"] == ["%m/%d/%Y %I:%M %p"]
    # Prospecting, where both were created, shows only as the old value of their first change: it
    # is the first stage, with no values:, which both opportunities reach
    assert data["stages"] == [{"name": "Prospecting"}, {"name": "Qualification"}, {"name": "Won", "values": ["Closed Won"]}]
    assert reached(export, tmp_path / "d") == [("Prospecting", 2), ("Qualification", 1), ("Won", 1)]


def test_hubspot_property_history_in_epoch_milliseconds(write, tmp_path):
    data, text, export = drafted(write, tmp_path, "property-history.csv", HUBSPOT)
    assert data["columns"] == {"id": "Record ID"}
    assert data["date_formats"] == {"Timestamp": ["epoch_ms"]}
    assert data["history"] == {"stage": "Value", "at": "Timestamp", "only": {"Property": {"in": ["lifecyclestage"]}}}
    # HubSpot's lifecycle order (the values the log holds), named as init names HubSpot's stages;
    # a value a name matches in any case needs no values:
    assert data["stages"] == [
        {"name": "Subscriber"}, {"name": "Lead"},
        {"name": "MQL", "values": ["marketingqualifiedlead"]}, {"name": "SQL", "values": ["salesqualifiedlead"]},
        {"name": "Opportunity"}, {"name": "Customer"},
    ]
    assert data["exits"] == [{"name": "Other", "values": ["other"]}]
    assert "check: HubSpot's lifecycle stage 'other'" in text
    assert "Columns not used yet" not in text  # every column is read: id, property, value, timestamp
    # Five contacts, each once. Subscriber: all 5 (104 by its owner change). Lead: 101, 102, 103
    # (implied by MQL), 105. MQL: 101, 103. SQL and Opportunity: 101 (implied by Customer) and
    # 103. Customer: 101.
    assert reached(export, tmp_path / "d") == [("Subscriber", 5), ("Lead", 4), ("MQL", 2), ("SQL", 2),
                                               ("Opportunity", 2), ("Customer", 1)]


def test_hubspot_property_history_in_iso_reads_as_in_milliseconds(write, tmp_path):
    import datetime as dt

    def iso(ms: int) -> str:
        return dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"

    content = "Record ID,Property name,Property value,Timestamp\n" + "".join(
        f"{i},{p},{v},{iso(t)}\n" for i, p, v, t in HUBSPOT_ROWS)
    data, _, export = drafted(write, tmp_path, "history-iso.csv", content)
    assert "date_formats" not in data and "date_format" not in data
    assert data["history"]["only"] == {"Property name": {"in": ["lifecyclestage"]}}
    # the same five contacts as in milliseconds, the same counts (see the test above)
    assert reached(export, tmp_path / "d") == [("Subscriber", 5), ("Lead", 4), ("MQL", 2), ("SQL", 2),
                                               ("Opportunity", 2), ("Customer", 1)]


def test_the_pipedrive_log_names_only_the_columns_history_does_not_read(tmp_path):
    result = run("init", str(FIXTURES / "init" / "pipedrive-deal-changes.csv"), "-o", "-")
    assert result.exit_code == 0, result.stderr
    assert unused(result.stdout).endswith("'old_value', 'user_id'")  # not new_value or changed_field_key


def test_salesforce_lead_history(write, tmp_path):
    # LeadHistory: the Status field. 00Q1 is contacted, then converted; 00Q2 closed unconverted
    # from Open - Not Contacted (its old value); 00Q3 created only.
    log = ("Id,LeadId,CreatedById,CreatedDate,Field,OldValue,NewValue\n"
           "017L1,00Q1,005U1,2024-06-03T14:05:00.000+0000,created,,\n"
           "017L2,00Q1,005U1,2024-06-04T14:05:00.000+0000,Status,Open - Not Contacted,Working - Contacted\n"
           "017L3,00Q1,005U1,2024-06-08T14:05:00.000+0000,Status,Working - Contacted,Closed - Converted\n"
           "017L4,00Q2,005U1,2024-06-05T14:05:00.000+0000,created,,\n"
           "017L5,00Q2,005U1,2024-06-06T14:05:00.000+0000,Status,Open - Not Contacted,Closed - Not Converted\n"
           "017L6,00Q3,005U1,2024-06-07T14:05:00.000+0000,created,,\n")
    data, _, export = drafted(write, tmp_path, "LeadHistory.csv", log)
    assert data["columns"] == {"id": "LeadId"}
    assert data["history"]["only"] == {"Field": {"in": ["Status"]}}
    assert data["stages"] == [{"name": "Open - Not Contacted"}, {"name": "Working - Contacted"},
                              {"name": "Converted", "values": ["Closed - Converted"]}]
    assert data["exits"] == [{"name": "Disqualified", "values": ["Closed - Not Converted"]}]
    # three leads: all open, 00Q1 contacted and converted
    assert reached(export, tmp_path / "d") == [("Open - Not Contacted", 3), ("Working - Contacted", 1), ("Converted", 1)]


def test_hubspot_deal_stage_history(write, tmp_path):
    # dealstage by internal name: 9001 appointment, qualified, won (an amount change between);
    # 9002 lost after its appointment; 9003 straight to contract sent.
    log = ("Deal ID,Property,Value,Timestamp\n"
           "9001,dealstage,appointmentscheduled,2024-06-01T10:00:00Z\n"
           "9001,dealstage,qualifiedtobuy,2024-06-03T10:00:00Z\n"
           "9001,amount,5000,2024-06-03T11:00:00Z\n"
           "9001,dealstage,closedwon,2024-06-10T10:00:00Z\n"
           "9002,dealstage,appointmentscheduled,2024-06-02T10:00:00Z\n"
           "9002,dealstage,closedlost,2024-06-05T10:00:00Z\n"
           "9003,dealstage,contractsent,2024-06-02T10:00:00Z\n")
    data, _, export = drafted(write, tmp_path, "deal-history.csv", log)
    assert data["history"]["only"] == {"Property": {"in": ["dealstage"]}}
    assert data["stages"] == [{"name": "Appointment Scheduled", "values": ["appointmentscheduled"]},
                              {"name": "Qualified To Buy", "values": ["qualifiedtobuy"]},
                              {"name": "Contract Sent", "values": ["contractsent"]},
                              {"name": "Won", "values": ["closedwon"]}]
    assert data["exits"] == [{"name": "Lost", "values": ["closedlost"]}]
    # 9003's contract sent implies the two stages before it; 9001 won passed all
    assert reached(export, tmp_path / "d") == [("Appointment Scheduled", 3), ("Qualified To Buy", 2),
                                               ("Contract Sent", 2), ("Won", 1)]


def test_a_custom_stage_takes_the_place_the_records_holding_it_give_it(write, tmp_path):
    # 201 starts at SQL and enters HubSpot's custom stage 91735412 after it; 202-204 start at
    # lead and go on to MQL and SQL, never to the custom stage. By mean position in each
    # record's changes the custom stage (position 1 of 201's) came before SQL (positions 0, 2, 2,
    # 2), and the run counted 201's move into it as a move back. Its name is its id: to rename.
    rows = [(201, "salesqualifiedlead", T0), (201, "91735412", T0 + DAY)]
    rows += [(r, v, T0 + k * DAY) for r in (202, 203, 204) for k, v in enumerate(("lead", "marketingqualifiedlead",
                                                                                  "salesqualifiedlead"))]
    content = "Record ID,Property,Value,Timestamp\n" + "".join(f"{i},lifecyclestage,{v},{t}\n" for i, v, t in rows)
    data, text, export = drafted(write, tmp_path, "custom.csv", content)
    names = [s["name"] for s in data["stages"]]
    assert names.index("Stage 91735412") == names.index("SQL") + 1
    assert {"name": "Stage 91735412", "values": ["91735412"]} in data["stages"]
    assert "check: a stage named by its id; rename it" in text
    result = run("conversion", str(export), "-d", str(tmp_path / "d"), "-f", "json")  # no -q: its notices are the point
    assert result.exit_code == 0 and "moving a lead back" not in result.stderr
    assert {r["stage"]: r["reached"] for r in json.loads(result.stdout)["tables"]["stages"]}["Stage 91735412"] == 1


def test_the_stage_field_is_the_spelling_most_rows_have():
    # StageName on 5 rows, Stage_Name on 1: both match loosely; 'only:' selects by the exact value,
    # and the draft took the rarer one (the last written of the two won)
    from collections import Counter
    from types import SimpleNamespace

    from funnelcli.init.logs import _field_key

    field = SimpleNamespace(counts=Counter({"StageName": 5, "Stage_Name": 1, "Amount": 3}))
    assert _field_key(field, ("StageName",))[0] == "StageName"
