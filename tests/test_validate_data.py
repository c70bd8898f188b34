"""`validate --data` reads the export's values: drift (a value a rule lists that no row has), blank
columns, and date columns the run could not read, each at its place in the YAML.

The fixtures are written here; every expected count, row and value is read off them by hand.
Positions come from the YAML text with `pos(text, needle)`.
"""

from __future__ import annotations

import json

import pytest
from tests.conftest import pos, run

# A Salesforce-style leads report: US dates with a 12-hour time in Created Date, a date alone in
# Converted Date, statuses as Salesforce writes them, and an Owner Region nobody fills in.
LEADS = """\
Lead ID,Lead Status,Created Date,Converted Date,Industry,Owner Region
1,Open,6/3/2024 1:39 AM,,Software,
2,Working - Contacted,6/4/2024 9:10 AM,11/6/2024,Retail,
3,Closed - Not Converted,6/5/2024 2:00 PM,,software,
4,Nurturing,6/6/2024 3:00 PM,12/1/2024,Retail,
"""
DEFS = """\
version: 1
columns: {id: Lead ID, status: Lead Status, industry: Industry, region: Owner Region}
date_format: '%m/%d/%Y %I:%M %p'
date_formats: {Converted Date: '%m/%d/%Y'}
stage_column: status
stages:
  - name: Lead
    date: Created Date
  - name: Working
    values: [Working - Contacted, Working]
  - name: Converted
    date: Converted Date
exits:
  - name: Lost
    when: {status: {in: [Closed - Not Converted, Closed Lost]}}
markets:
  - name: Tech
    when: {industry: {in: [SOFTWARE, Fintech]}}
"""


def validate(write, defs: str, export: str, *args: str, name: str = "leads.csv"):
    """Run validate --data -f json; return (exit code, [(line, col, level, rule, message)])."""
    result = run("validate", write("defs.yml", defs), "--data", write(name, export), "-f", "json", *args)
    assert result.exit_code in (0, 1), result.stderr
    return result.exit_code, [(p["line"], p["col"], p["level"], p["rule"], p["message"]) for p in json.loads(result.stdout)]


def only(problems, rule: str) -> list:
    return [p for p in problems if p[3] == rule]


# --------------------------------------------------------------------------------------------
# 1. Drift: values the rules list that no row has


def test_drift_values_are_warnings_at_the_value(write, tmp_path):
    code, problems = validate(write, DEFS, LEADS)
    assert code == 0  # warnings alone
    drift = only(problems, "drift-value")
    # 'Working' (no row: the CRM writes 'Working - Contacted'), 'Closed Lost' (rows say 'Closed - Not
    # Converted'), 'Fintech' (no such industry). 'SOFTWARE' is fine: 'Software' and 'software' match
    # it as the run matches text, case-insensitively.
    assert [(line, col) for line, col, *_ in drift] == [
        pos(DEFS, "Contacted, ^Working]"), pos(DEFS, "Closed Lost"), pos(DEFS, "Fintech")]
    assert all(level == "warning" for _, _, level, _, _ in drift)
    working, lost, fintech = (message for *_, message in drift)
    assert working.startswith(f"stage 'Working' values: 'Working' is in no row of {tmp_path / 'leads.csv'}'s 'Lead Status'; "
                              "its values, nearest first: 'Working - Contacted' (1), ")
    assert lost.startswith("exit 'Lost' when: 'Closed Lost' is in no row")
    assert "nearest first: 'Closed - Not Converted' (1), " in lost
    # four statuses, each once: all named
    assert all(f"'{v}' (1)" in lost for v in ("Open", "Working - Contacted", "Closed - Not Converted", "Nurturing"))
    assert "'Software' (1)" in fintech and "'software' (1)" in fintech and "'Retail' (2)" in fintech


def test_drift_keeps_the_case_when_the_rule_does(write):
    text = DEFS.replace("{industry: {in: [SOFTWARE, Fintech]}}", "{industry: {in: [SOFTWARE, software], case_sensitive: true}}")
    _, problems = validate(write, text, LEADS)
    assert [(p[0], p[1]) for p in only(problems, "drift-value") if "industry" in p[4] or "SOFTWARE" in p[4]] == [pos(text, "SOFTWARE")]


def test_values_all_present_no_drift(write):
    text = DEFS.replace(", Working]", "]").replace(", Closed Lost]", "]").replace(", Fintech]", "]")
    code, problems = validate(write, text, LEADS)
    assert only(problems, "drift-value") == []


def test_a_rule_value_in_a_shorthand_condition(write):
    """`status: Closed Lost` (eq shorthand) is looked up too, and pointed at."""
    text = DEFS.replace("{status: {in: [Closed - Not Converted, Closed Lost]}}", "{status: Closed Lost}")
    _, problems = validate(write, text, LEADS)
    assert [(p[0], p[1]) for p in only(problems, "drift-value") if "Lost" in p[4]] == [pos(text, "Closed Lost")]


# A stage-history log: 'Won' appears only on an owner change (new_value of a row history.only
# leaves out), never on a stage change: the Won stage's value never occurs where the run looks.
LOG = """\
deal_id,field_key,new_value,change_time
1,stage,Qualified,2024-01-02 10:00:00
1,stage,Proposal Made,2024-01-05 10:00:00
2,stage,Qualified,2024-01-03 10:00:00
2,owner,Won,2024-01-04 10:00:00
"""
LOG_DEFS = """\
version: 1
columns: {id: deal_id}
history:
  stage: new_value
  at: change_time
  only: {field_key: {in: [stage, stage_id]}}
stages:
  - name: Qualified
  - name: Proposal
    values: [Proposal Made]
  - name: Won
    values: [Won]
"""


def test_a_log_s_stage_values_are_looked_up_among_its_stage_changes(write):
    code, problems = validate(write, LOG_DEFS, LOG, name="changes.csv")
    drift = only(problems, "drift-value")
    assert [(p[0], p[1]) for p in drift] == [pos(LOG_DEFS, "stage_id"), pos(LOG_DEFS, "values: [^Won]")]
    assert "among the rows history only selects" in drift[1][4]
    assert drift[1][4].endswith("its values, nearest first: 'Qualified' (2), 'Proposal Made' (1)") or \
        drift[1][4].endswith("its values, nearest first: 'Proposal Made' (1), 'Qualified' (2)")
    assert "history only: 'stage_id' is in no row" in drift[0][4] and "'stage' (3), 'owner' (1)" in drift[0][4]


# --------------------------------------------------------------------------------------------
# 2. Blank columns


def test_a_mapped_column_blank_in_every_row(write):
    _, problems = validate(write, DEFS, LEADS)
    assert only(problems, "blank-column") == [
        (*pos(DEFS, "region: ^Owner Region"), "warning", "blank-column",
         f"columns.region: column 'Owner Region' is blank in all 4 rows of {write('x', '').parent / 'leads.csv'}; "
         "check that the export has its values, or that the mapping names the right column"),
    ]


def test_blank_values_count_as_blank(write):
    """With blank_values: [N/A], a column of N/A is blank, as the run reads it."""
    export = LEADS.replace("Retail,\n", "Retail,N/A\n")
    assert only(validate(write, DEFS, export)[1], "blank-column") == []
    assert len(only(validate(write, "blank_values: [n/a]\n" + DEFS, export)[1], "blank-column")) == 1


def test_strict_makes_drift_fail(write):
    result = run("validate", write("defs.yml", DEFS), "--data", write("leads.csv", LEADS), "--strict", "-q")
    assert result.exit_code == 1 and "(drift-value)" in result.stdout


# --------------------------------------------------------------------------------------------
# 3. Dates the run could not read


# Five converted dates, none in date_format's 12-hour form: the run refuses the whole export.
CONVERTED = """\
Lead ID,Lead Status,Created Date,Converted Date
1,Open,6/3/2024 1:39 AM,11/6/2024
2,Open,6/4/2024 9:10 AM,11/7/2024
3,Open,6/5/2024 2:00 PM,12/1/2024
4,Open,6/6/2024 3:00 PM,12/2/2024
5,Open,6/7/2024 3:00 PM,1/13/2025
"""
DATE_DEFS = """\
version: 1
columns: {id: Lead ID, status: Lead Status}
date_format: '%m/%d/%Y %I:%M %p'
stages:
  - name: Lead
    date: Created Date
  - name: Converted
    date: Converted Date
"""


def test_no_value_parses_is_an_error_as_the_run_refuses(write, tmp_path):
    code, problems = validate(write, DATE_DEFS, CONVERTED)
    assert code == 1
    assert problems == [
        (*pos(DATE_DEFS, "date: ^Converted Date"), "error", "unparseable-date",
         "stage Converted date: no value of column 'Converted Date' parses as a date (such as '11/6/2024' in row 2); "
         "the run refuses the export; the format '%m/%d/%Y' reads all of them: "
         "date_formats: {Converted Date: ['%m/%d/%Y %I:%M %p', '%m/%d/%Y']}"),
    ]
    # the run agrees: it refuses the export
    result = run("conversion", tmp_path / "leads.csv", "-d", tmp_path / "defs.yml")
    assert result.exit_code == 2 and "no value parses as a date" in result.stderr
    # the suggestion, taken: validate passes and the run runs
    fixed = DATE_DEFS + "date_formats: {Converted Date: ['%m/%d/%Y %I:%M %p', '%m/%d/%Y']}\n"
    assert validate(write, fixed, CONVERTED) == (0, [])
    assert run("conversion", tmp_path / "leads.csv", "-d", tmp_path / "defs.yml").exit_code == 0


def test_some_values_fail_is_a_warning_with_the_row(write):
    """One created date of five is 'TBD' (lead 4: row 5, the header is row 1): the run excludes that
    row; validate warns."""
    export = CONVERTED.replace("6/6/2024 3:00 PM", "TBD")
    fixed = DATE_DEFS.replace("'%m/%d/%Y %I:%M %p'", "['%m/%d/%Y %I:%M %p', '%m/%d/%Y']")
    code, problems = validate(write, fixed, export)
    assert code == 0
    assert problems == [
        (*pos(fixed, "date: ^Created Date"), "warning", "unparseable-date",
         "stage Lead date: 1 of 5 values of column 'Created Date' doesn't parse as dates (such as 'TBD' in row 5): "
         "the run excludes those rows; no common format reads them either: correct them in the CRM, or leave them out knowingly"),
    ]


def test_a_day_first_column_gets_the_day_first_suggestion(write):
    """13/01/2025 can only be day first: '%d/%m/%Y' reads the most of them (the US form reads 3 of 5)."""
    export = "Lead ID,Created Date\n" + "".join(f"{i},{d}\n" for i, d in enumerate(
        ["01/02/2024", "13/01/2025", "25/12/2024", "05/06/2024", "07/08/2024"], 1))
    text = "version: 1\ncolumns: {id: Lead ID}\nstages:\n  - {name: Lead, date: Created Date}\n"
    _, problems = validate(write, text, export)
    [(_, _, level, _, message)] = problems
    assert level == "error"
    assert message.endswith("the format '%d/%m/%Y' reads all of them: date_formats: {Created Date: ['%d/%m/%Y']}")


def test_a_day_first_column_is_an_error_at_its_line_with_markets_too(write):
    """With markets, validate --data also loads the export as a run does (for their coverage); a
    column no value of which parses made that load fail (exit 2, no line): the error the check
    found is reported instead, at the date's line (exit 1). A run names the format too."""
    export = "Lead ID,Created Date,Country\n" + "".join(f"{i},{d},US\n" for i, d in enumerate(
        ["01/02/2024", "13/01/2025", "25/12/2024", "05/06/2024", "17/08/2024"], 1))
    text = ("version: 1\ncolumns: {id: Lead ID, country: Country}\nstages:\n  - {name: Lead, date: Created Date}\n"
            "markets:\n  - {name: US, when: {country: {in: [US]}}}\n")
    code, problems = validate(write, text, export)
    assert code == 1
    [(line, col, level, rule, message)] = problems
    assert ((line, col), level, rule) == (pos(text, "date: ^Created Date"), "error", "unparseable-date")
    assert message.endswith("the format '%d/%m/%Y' reads all of them: date_formats: {Created Date: ['%d/%m/%Y']}")
    result = run("conversion", write("leads.csv", export), "-d", write("funnel.yml", text))
    assert result.exit_code == 2
    assert "the format '%d/%m/%Y' reads all of them: date_formats: {Created Date: ['%d/%m/%Y']}" in result.stderr


def test_only_a_sample_is_parsed_but_none_parses_is_said_of_the_whole_column(write):
    """11,500 rows: the first 10,000 and last 1,000 in a format the definitions lack, rows 10,002
    to 10,501 in ISO. The sample has no date that parses, but the column has 500: the run reads
    those, so this is a warning (counted in the sample), not an error."""
    days = ["3/4/2024"] * 10_000 + ["2024-03-04"] * 500 + ["3/4/2024"] * 1_000
    export = "Lead ID,Created Date\n" + "".join(f"{i},{d}\n" for i, d in enumerate(days, 1))
    text = "version: 1\ncolumns: {id: Lead ID}\nstages:\n  - {name: Lead, date: Created Date}\n"
    _, problems = validate(write, text, export)
    [(_, _, level, _, message)] = problems
    assert level == "warning"
    assert "11,000 of 11,000 values of column 'Created Date' (of the first 10,000 and last 1,000 rows)" in message
    assert "such as '3/4/2024' in row 2" in message


# --------------------------------------------------------------------------------------------
# 4. An export with no rows


def test_an_export_with_a_header_only_is_a_warning(write):
    code, problems = validate(write, DATE_DEFS, "Lead ID,Lead Status,Created Date,Converted Date\n")
    assert code == 0
    assert [(p[2], p[3]) for p in problems] == [("warning", "no-rows")]


# --------------------------------------------------------------------------------------------
# Values the run reports: a status naming no stage, a log row naming none, a flag neither true nor false


def test_status_values_that_name_no_stage_are_a_warning_at_stage_column(write):
    # Open (row 2) and Nurturing (row 5) name no stage (Lead, Working - Contacted, Working,
    # Converted) and no exit (Lost; Closed - Not Converted by the rule): the run says so of the
    # same two rows, and validate passed them
    code, problems = validate(write, DEFS, LEADS)
    (found,) = only(problems, "unnamed-value")
    assert found[:3] == (*pos(DEFS, "columns: {id: Lead ID, status: ^Lead Status"), "warning")
    assert "leads.csv hold values of 'Lead Status' that name no stage and no exit: 'Nurturing' (1), 'Open' (1);" in found[4]
    assert found[4].startswith("columns.status: 2 rows of ")
    assert code == 0
    run_notice = run("conversion", write("leads.csv", LEADS), "-d", write("defs.yml", DEFS), "-f", "json").stderr
    assert "2 rows whose 'Lead Status' names no stage and no exit" in run_notice


FLAG_DEFS = "version: 1\ncolumns: {id: Id}\nstages:\n  - {name: Lead}\n  - {name: Converted, flag: IsConverted}\n"


def test_flag_values_neither_true_nor_false_are_a_warning_at_the_flag(write):
    # 'maybe' (row 3) is neither: the run excludes the row; 'Yes', ' 0 ' and blank read
    code, problems = validate(write, FLAG_DEFS, "Id,IsConverted\n1,Yes\n2,maybe\n3, 0 \n4,\n")
    (found,) = only(problems, "unreadable-flag")
    assert found[:4] == (*pos(FLAG_DEFS, "flag: ^IsConverted"), "warning", "unreadable-flag")
    assert "1 value of column 'IsConverted' is neither true nor false (such as 'maybe' in row 3): the run excludes those rows" in found[4]
    assert only(validate(write, FLAG_DEFS, "Id,IsConverted\n1,Yes\n2,no\n")[1], "unreadable-flag") == []


def test_a_flag_by_its_canonical_name_and_a_joined_flag_are_checked_too(write):
    # the run excludes 'maybe' in both; validate checked only a flag written as the export's header
    mapped = FLAG_DEFS.replace("columns: {id: Id}", "columns: {id: Id, converted: IsConverted}").replace("flag: IsConverted", "flag: converted")
    (found,) = only(validate(write, mapped, "Id,IsConverted\n1,Yes\n2,maybe\n")[1], "unreadable-flag")
    assert "1 value of column 'IsConverted' is neither true nor false (such as 'maybe' in row 3)" in found[4]
    opps = write("opps.csv", "opp_id,IsWon\nK1,true\nK2,maybe\n")
    joined = ("version: 1\ncolumns: {id: Id}\njoins:\n  - name: opps\n    path: " + str(opps) + "\n    on: {Id: opp_id}\n"
              "    columns: {won: IsWon}\nstages:\n  - {name: Lead}\n  - {name: Won, flag: won}\n")
    (found,) = only(validate(write, joined, "Id\nK1\nK2\n")[1], "unreadable-flag")
    assert (f"1 value of column 'IsWon' of {opps} is neither true nor false (such as 'maybe' in row 3): the run excludes "
            "the leads they join to") in found[4]
    assert found[:2] == (4, 5)  # at the join


REOPEN_DEFS = """version: 1
columns: {id: deal_id}
history: {stage: new_value, at: change_time, only: {field: {in: [stage_id, status]}}, reopen: [open]}
stages:
  - {name: Qualified, values: ["1"]}
exits:
  - {name: Lost, values: [lost]}
"""
REOPEN_LOG = "deal_id,field,new_value,change_time\n1,stage_id,1,2026-01-01\n1,status,lost,2026-01-02\n1,status,open,2026-01-05\n"


def test_a_logs_reopen_values_name_something_to_validate_too(write):
    # the run counts row 4 ('open') as a reopening: validate says nothing of it; without reopen:
    # it is a value naming nothing, as the run then reports, and the warning says both ways
    assert only(validate(write, REOPEN_DEFS, REOPEN_LOG)[1], "unnamed-value") == []
    (found,) = only(validate(write, REOPEN_DEFS.replace(", reopen: [open]", ""), REOPEN_LOG)[1], "unnamed-value")
    assert "that names no stage and no exit: 'open' (1)" in found[4]
    assert "or to history: reopen: when they reopen a lead after an exit" in found[4]


def test_a_logs_stage_changes_with_a_blank_stage_are_counted_as_the_run_excludes_them(write):
    # rows 4 and 5 are stage changes with no stage (a property cleared): the run excludes them,
    # blank, beside 'open' (row 6) naming nothing, 3 in all (validate said 1): validate tells the
    # two apart as the run does (a blank is no value to add to values:)
    log = REOPEN_LOG.replace("1,status,open,2026-01-05\n", "1,stage_id,,2026-01-03\n1,stage_id, ,2026-01-04\n1,status,open,2026-01-05\n")
    defs = REOPEN_DEFS.replace(", reopen: [open]", "")
    blank, named = sorted(only(validate(write, defs, log)[1], "unnamed-value"), key=lambda p: "blank" not in p[4])
    assert "2 rows of " in blank[4] and "have a blank 'new_value' in a stage change: the run excludes those rows" in blank[4]
    assert "1 row of " in named[4] and "that names no stage and no exit: 'open' (1);" in named[4]
    run_notice = run("conversion", write("log.csv", log), "-d", write("d.yml", defs), "-f", "json").stderr
    assert "2 excluded whose 'new_value' is blank (rows 4, 5) + 1 excluded whose stage names no stage and no exit (row 6)" in run_notice


def test_a_column_of_two_date_forms_is_told_the_formats_that_read_all_of_it(write):
    # US dates and Excel serials: one format read half, and the hint named that one ('excel reads
    # 2 of 4'); following it left the other half unparseable
    defs = "version: 1\ncolumns: {id: Id}\nstages:\n  - {name: MQL, date: MQL}\n"
    _, problems = validate(write, defs, "Id,MQL\n1,3/4/2024\n2,45292\n3,3/25/2024\n4,45300\n")
    (found,) = only(problems, "unparseable-date")
    assert found[4].startswith("stage MQL date: 4 of 4 values of column 'MQL' don't parse as dates")
    assert ("the formats '%m/%d/%Y' and 'excel' read all of them: date_formats: {MQL: ['%m/%d/%Y', 'excel']}" in found[4]
            or "the formats 'excel' and '%m/%d/%Y' read all of them: date_formats: {MQL: ['excel', '%m/%d/%Y']}" in found[4])


def test_a_joined_status_column_and_a_market_on_a_joined_column_are_checked_as_the_exports_are(write):
    # the status column and the market's field come from the join: validate checked only the
    # export's columns, so 'Closed - Dead' (which the run reports as naming no stage) and a market
    # value no row has ('Mars') passed unseen
    write("opps.csv", "OppId,Stage\nK1,Proposal\nK2,Closed - Dead\n")
    defs = ("version: 1\ncolumns: {id: Id}\njoins:\n  - {name: opps, path: opps.csv, on: OppId, "
            "columns: {opp_stage: Stage, opp_region: Stage}}\nstage_column: opp_stage\nstages:\n"
            "  - {name: Lead, date: Created}\n  - {name: Proposal}\nmarkets:\n  - {name: X, when: {opp_region: {in: [Mars]}}}\n")
    code, problems = validate(write, defs, "Id,Created,OppId\nA,2026-01-01,K1\nB,2026-01-02,K2\n")
    assert code == 0  # warnings
    (unnamed,) = only(problems, "unnamed-value")
    assert "1 row of " in unnamed[4] and "'opp_stage' that names no stage and no exit: 'Closed - Dead' (1)" in unnamed[4]
    (drifted,) = only(problems, "drift-value")
    assert drifted[0] == 10 and "'Mars' is in no row of " in drifted[4] and "'opp_region'" in drifted[4]  # line 10: the market
    assert "'Proposal' (1), 'Closed - Dead' (1)" in drifted[4]


@pytest.mark.parametrize("folder, sample", [
    ("definitions", "hubspot-contacts.csv"), ("definitions/salesforce", "salesforce-leads.csv"),
    ("definitions/pipedrive", "pipedrive-deals.csv"), ("definitions/pipedrive-log", "pipedrive-deal-changes.csv"),
    ("definitions/flag", "flag-leads.csv")])
def test_every_shipped_definitions_folder_validates_against_its_sample(folder, sample):
    # the Pipedrive log joined to its deals export crashed (an internal error, exit 2): the joined
    # file's values were checked as the log's stage changes, whose columns it lacks
    from tests.conftest import ROOT

    result = run("validate", str(ROOT / folder), "--data", str(ROOT / "samples" / sample))
    assert result.exit_code == 0 and "internal error" not in result.stderr, result.stdout + result.stderr
