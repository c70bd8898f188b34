"""Dates as exports write them: `date_formats:` gives a column its own formats (a Salesforce report
writes `Created Date` as '6/3/2024 1:39 AM' and `Converted Date` as '11/6/2024'), and the format
`excel` reads Excel's serial day numbers (docs/metrics.md#dates).

Every test writes a real export and definitions under tmp_path. Expected days are worked out by
hand: Excel serial 45292 is 2024-01-01 (serials count days from 1899-12-30; 1970-01-01 is 25569,
and 2024-01-01 is 19,723 days after 1970-01-01: 54 years of 365 days plus 13 leap days).
"""

from __future__ import annotations

import pytest
from tests.conftest import run

SALESFORCE_CSV = (
    "Lead ID,Lead Owner,Created Date,Converted Date\n"
    "00Q1,Ann Lee,6/3/2024 1:39 AM,11/6/2024\n"
    "00Q2,Bob Ray,12/31/2023 11:59 PM,\n"
    "00Q3,Ann Lee,1/2/2024 12:00 PM,1/15/2024\n"
)

PER_COLUMN = """\
version: 1
columns: {id: Lead ID, owner: Lead Owner, created: Created Date}
date_formats:
  created: '%m/%d/%Y %I:%M %p'          # by canonical name
  Converted Date: '%m/%d/%Y'            # by header
stages:
  - {name: Lead, date: created}
  - {name: Converted, date: Converted Date}
"""


def days(loaded, stage: int) -> list[str]:
    return [str(d) for d in loaded.date[:, stage]]


def test_each_column_reads_its_own_format(load):
    loaded = load(SALESFORCE_CSV, PER_COLUMN)
    assert days(loaded, 0) == ["2024-06-03", "2023-12-31", "2024-01-02"]
    assert days(loaded, 1) == ["2024-11-06", "NaT", "2024-01-15"]
    assert not loaded.excluded


def test_a_column_without_its_own_formats_uses_date_format(load):
    # Converted Date has no entry: the global date_format ('%m/%d/%Y') reads it; Created Date its own.
    defs = PER_COLUMN.replace("  Converted Date: '%m/%d/%Y'            # by header\n", "") + "date_format: '%m/%d/%Y'\n"
    loaded = load(SALESFORCE_CSV, defs)
    assert days(loaded, 0) == ["2024-06-03", "2023-12-31", "2024-01-02"]
    assert days(loaded, 1) == ["2024-11-06", "NaT", "2024-01-15"]


def test_one_global_format_refuses_the_other_column(write):
    # The case: one date_format for both columns; 'Converted Date' has two values and
    # neither parses, 'Created Date' fits. The whole-column refusal needs 5 bad values, so use more rows.
    rows = "".join(f"00Q{i},Ann,6/{i}/2024 1:39 AM,11/{i}/2024\n" for i in range(1, 7))
    defs = PER_COLUMN.split("date_formats:")[0] + "date_format: '%m/%d/%Y %I:%M %p'\nstages:\n" + PER_COLUMN.split("stages:\n")[1]
    result = run("conversion", write("export.csv", "Lead ID,Lead Owner,Created Date,Converted Date\n" + rows), "-d", write("defs.yml", defs))
    assert result.exit_code == 2
    assert "column 'Converted Date': no value parses as a date (such as '11/1/2024')" in result.output
    assert "don't fit date_format ['%m/%d/%Y %I:%M %p']" in result.output


def test_a_column_whose_own_format_does_not_fit_says_so(write):
    rows = "".join(f"00Q{i},Ann,6/{i}/2024 1:39 AM,{i}.11.2024\n" for i in range(1, 7))
    result = run("conversion", write("export.csv", "Lead ID,Lead Owner,Created Date,Converted Date\n" + rows),
                 "-d", write("defs.yml", PER_COLUMN))
    assert result.exit_code == 2
    assert "column 'Converted Date'" in result.output and "its date_formats ['%m/%d/%Y']" in result.output


EXCEL_DEFS = """\
version: 1
columns: {id: Id}
date_formats:
  Close Date: [excel, '%d.%m.%Y']
stages:
  - {name: Lead}
  - {name: Won, date: Close Date}
"""


def test_excel_serials_are_read_when_the_definitions_say_so(load):
    # 45292 = 2024-01-01; 45292.75 = 2024-01-01 18:00; 45351 = 2024-02-29 (45292 + 31 + 28);
    # '05.03.2024' falls through to the next format; 2024-03-07 is ISO (always read);
    # 'soon' and 12 (before 1900-03-01, not a CRM date) are unparseable.
    csv = "Id,Close Date\n1,45292\n2,45292.75\n3, 45351 \n4,05.03.2024\n5,2024-03-07\n6,soon\n7,12\n8,\n"
    loaded = load(csv, EXCEL_DEFS)
    assert days(loaded, 1)[:5] == ["2024-01-01", "2024-01-01", "2024-02-29", "2024-03-05", "2024-03-07"]
    assert {i.reason: (i.count, i.rows) for i in loaded.excluded} == {"with an unparseable date": (2, [7, 8])}


def test_excel_serials_are_numbers_without_the_setting(load):
    # Without `excel` the same serials are not dates: a column of them is refused as a format problem.
    csv = "Id,Close Date\n" + "".join(f"{i},{45292 + i}\n" for i in range(6))
    with pytest.raises(Exception, match="no value parses as a date"):
        load(csv, EXCEL_DEFS.replace("[excel, '%d.%m.%Y']", "'%d.%m.%Y'"))


def test_excel_time_of_day_orders_a_logs_changes(load):
    # A log's `at` column in serials: 45292.25 (06:00) then 45292.75 (18:00) on one day, written in
    # reverse order: the later change (Lost) is the latest, so the lead is out.
    csv = "id,stage,at\n1,Lost,45292.75\n1,Lead,45292.25\n"
    defs = ("version: 1\ncolumns: {id: id}\nhistory: {stage: stage, at: at}\ndate_format: [excel]\n"
            "stages:\n  - name: Lead\nexits:\n  - name: Lost\n")
    loaded = load(csv, defs)
    assert list(loaded.leads["exit"].astype(object)) == ["Lost"]
    assert [str(d) for d in loaded.exit_dates[0]] == ["2024-01-01"]


def test_a_market_condition_reads_the_columns_own_format(load):
    # Conditions on a date column read it with its own format: Converted Date on or after 2024-06-01.
    defs = PER_COLUMN + "markets:\n  - name: Late\n    when: {Converted Date: {gte: 2024-06-01}}\n"
    loaded = load(SALESFORCE_CSV, defs)
    assert list(loaded.leads["market"].astype(object)) == ["Late", "out of market", "out of market"]


def test_validate_reports_date_formats_problems_with_positions(write):
    text = (
        "version: 1\ncolumns: {id: Id}\n"
        "date_formats:\n"
        "  Closed: '%d/%m/%Q'\n"      # line 4: not a format
        "  Clsoe Date: excel\n"       # line 5: not a column the definitions read
        "  Close Date: [excel, 7]\n"  # line 6: 7 is read as text '7', which is no format
        "stages:\n  - {name: Lead}\n  - {name: Won, date: Close Date}\n"
    )
    result = run("validate", write("defs.yml", text))
    assert result.exit_code == 1
    out = result.output
    assert "defs.yml:4:11: error: date_format '%d/%m/%Q' is not a strptime format" in out
    assert "defs.yml:5:3: warning: date_formats: 'Clsoe Date' is not a column the definitions read (did you mean 'Close Date'?)" in out
    assert "defs.yml:6:23: error: date_format '7' is not a strptime format" in out


def test_a_short_year_is_unparseable_not_an_internal_error(load):
    # '4-01-02' reads, by strptime, as 2 January of the year 4, with no two-digit day where an ISO
    # day stands: unparseable (found by the fuzz run; it was an internal error)
    loaded = load("Id,Close Date\n1,4-01-02\n2,2024-01-02\n", EXCEL_DEFS.replace("[excel, '%d.%m.%Y']", "excel"))
    assert {i.reason: (i.count, i.rows) for i in loaded.excluded} == {"with an unparseable date": (1, [2])}


def test_a_year_of_two_digits_under_a_four_digit_format_is_unparseable(load, write):
    # Excel saves a report again with its short date: '3/1/25 9:05 AM' under '%m/%d/%Y %I:%M %p'
    # read as the year 25 (strptime here takes fewer digits for %Y), a placeholder, so the row lost
    # its date and stayed. Python's strptime reads %Y as four digits: the value is unparseable, and
    # its row (row 3, 00Q2) is excluded. A year written in four digits before 1000 (0001) is a
    # placeholder as before: no date, no fault (row 5, 00Q4, keeps its Converted date); a three-digit
    # year (row 6, 00Q5) fails too.
    content = (SALESFORCE_CSV.replace("00Q2,Bob Ray,12/31/2023 11:59 PM,", "00Q2,Bob Ray,3/1/25 9:05 AM,")
               + "00Q4,Cy Ho,01/01/0001 12:00 AM,1/20/2024\n00Q5,Di Po,1/4/202 1:00 PM,\n")
    loaded = load(content, PER_COLUMN)
    assert {i.reason: (i.count, i.rows) for i in loaded.excluded} == {"with an unparseable date": (2, [3, 6])}
    assert list(loaded.leads["id"][loaded.usable]) == ["00Q1", "00Q3", "00Q4"]
    assert days(loaded, 1)[loaded.usable.nonzero()[0][2]] == "2024-01-20"
    # a compact format: 00010101 under %Y%m%d is the placeholder year 1 (no date, no fault), 250301 fails
    compact = load("Lead ID,Lead Owner,Created Date,Converted Date\n00Q1,Ann,20250301,\n00Q2,Bob,00010101,3/5/2025\n"
                   "00Q3,Cy,250301,\n", PER_COLUMN.replace("'%m/%d/%Y %I:%M %p'", "'%Y%m%d'"))
    assert {i.reason: (i.count, i.rows) for i in compact.excluded} == {"with an unparseable date": (1, [4])}
    assert {i.reason: (i.count, i.rows) for i in compact.notices} == {
        "with a placeholder date (on or before 1970-01-01, or after 2199-12-31)": (1, [3])}
    # a short year beside a time of four or six digits: '0905' and '090500' are no year written in
    # four digits (the year 25 would be '0025'), so the value is unparseable, not a placeholder
    timed = load("Lead ID,Lead Owner,Created Date,Converted Date\n00Q1,Ann,3/1/25 090500,\n00Q2,Bob,3/2/2025 090500,\n",
                 PER_COLUMN.replace("'%m/%d/%Y %I:%M %p'", "'%m/%d/%Y %H%M%S'"))
    assert {i.reason: (i.count, i.rows) for i in timed.excluded} == {"with an unparseable date": (1, [2])}
    # a whole column of short years stops the run, naming the format that reads them
    short = "Lead ID,Lead Owner,Created Date,Converted Date\n" + "".join(
        f"00Q{i},Ann Lee,3/{i}/25 9:05 AM,\n" for i in range(1, 7))
    result = run("conversion", write("short.csv", short), "-d", write("defs.yml", PER_COLUMN))
    assert result.exit_code == 2
    assert "column 'Created Date': no value parses as a date (such as '3/1/25 9:05 AM')" in result.stderr
    assert "the format '%m/%d/%y %I:%M %p' reads all of them" in result.stderr
