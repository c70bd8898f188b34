"""Unix time as exports write it: the date formats `epoch` (seconds) and `epoch_ms` (milliseconds),
which HubSpot's API-based exports (property history among them) write: 1709251200000.

Every test writes a real export and definitions under tmp_path. Expected days worked out by hand:
2024-03-01 is 19,783 days after 1970-01-01 (54 years of 365 days, 13 leap days, then 31 + 29
days of 2024), and 19,783 x 86,400 = 1,709,251,200 seconds. An epoch value is an instant in UTC:
1709251200 is midnight UTC, which is 19:00 on 2024-02-29 in New York (UTC-5 in winter).
"""

from __future__ import annotations

import json

import pytest
from tests.conftest import run

MIDNIGHT = 1_709_251_200  # 2024-03-01 00:00:00 UTC
DAY = 86_400

DEFS = """\
version: 1
columns: {id: id}
date_formats: {d: FORMAT}
stages:
  - {name: Lead}
  - {name: Won, date: d}
"""


def won_days(loaded) -> list[str]:
    return [str(d) for d in loaded.date[:, 1]]


def exclusions(loaded) -> dict:
    return {i.reason: (i.count, i.rows) for i in loaded.excluded}


def test_epoch_seconds_and_milliseconds_are_read(load):
    # rows 2-3: seconds; 1709337599 is 23:59:59 on 03-01, still that day; a fraction is dropped.
    seconds = f"id,d\n1,{MIDNIGHT}\n2,{MIDNIGHT + DAY - 1}\n3, {MIDNIGHT + DAY}.75 \n"
    assert won_days(load(seconds, DEFS.replace("FORMAT", "epoch"))) == ["2024-03-01", "2024-03-01", "2024-03-02"]
    # milliseconds: 1709337599999 is 03-01 23:59:59.999, cut to the second (as an ISO time's
    # fraction is), never rounded up into 03-02
    millis = f"id,d\n1,{MIDNIGHT}000\n2,{MIDNIGHT + DAY - 1}999\n3,{MIDNIGHT + DAY}000\n"
    assert won_days(load(millis, DEFS.replace("FORMAT", "EPOCH_MS "))) == ["2024-03-01", "2024-03-01", "2024-03-02"]


def test_an_epoch_value_is_an_instant_moved_to_the_timezone(load):
    # midnight UTC on 03-01 is 19:00 on 02-29 in New York; 05:00 UTC is midnight there
    content = f"id,d\n1,{MIDNIGHT}000\n2,{MIDNIGHT + 5 * 3600}000\n"
    defs = DEFS.replace("FORMAT", "epoch_ms") + "timezone: America/New_York\n"
    assert won_days(load(content, defs)) == ["2024-02-29", "2024-03-01"]


def test_a_number_out_of_range_is_unparseable_not_a_date_in_1970_or_far_ahead(load):
    # Seconds under epoch_ms would be 1970-01-20 (row 3), milliseconds under epoch the year 56133
    # (row 4 of the second file): both are excluded as unparseable, as words and negative numbers
    # are. 0 is the zero date: a placeholder (no date, a notice), not a fault. ISO still reads.
    content = (f"id,d\n1,{MIDNIGHT}000\n2,0\n3,{MIDNIGHT}\n4,soon\n5,-{MIDNIGHT}000\n6,1.7e12\n"
               "7,2024-03-05T10:00:00Z\n")
    loaded = load(content, DEFS.replace("FORMAT", "epoch_ms"))
    assert won_days(loaded)[:2] + won_days(loaded)[-1:] == ["2024-03-01", "NaT", "2024-03-05"]
    assert exclusions(loaded) == {"with an unparseable date": (4, [4, 5, 6, 7])}
    assert [i.count for i in loaded.notices if "placeholder" in i.reason] == [1]
    content = f"id,d\n1,{MIDNIGHT}\n2,{MIDNIGHT}000\n3,31535999\n4,7258118400\n5,7258118399\n"
    loaded = load(content, DEFS.replace("FORMAT", "epoch"))
    # 31535999 is 1970-12-31 23:59:59 (before the range); 7258118400 is 2200-01-01 (after it);
    # 7258118399 is 2199-12-31 23:59:59, the last second read
    assert won_days(loaded)[0] == "2024-03-01" and won_days(loaded)[4] == "2199-12-31"
    assert exclusions(loaded) == {"with an unparseable date": (3, [3, 4, 5])}


def test_a_log_in_epoch_milliseconds_reads_as_the_same_log_in_iso(write):
    # Two contacts of a HubSpot property history; 51 moves on from lead to MQL 90 s after, and an
    # owner change (not selected) lies between. Written in milliseconds and in ISO with Z:
    # the same report.
    rows = [("51", "lifecyclestage", "lead", MIDNIGHT), ("51", "hubspot_owner_id", "7", MIDNIGHT + 30),
            ("51", "lifecyclestage", "marketingqualifiedlead", MIDNIGHT + 90),
            ("52", "lifecyclestage", "lead", MIDNIGHT + 3 * DAY)]

    def iso(t: int) -> str:
        import datetime as dt

        return dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.123Z")

    head = "Record ID,Property,Value,Timestamp\n"
    write("ms.csv", head + "".join(f"{i},{p},{v},{t}123\n" for i, p, v, t in rows))
    write("iso.csv", head + "".join(f"{i},{p},{v},{iso(t)}\n" for i, p, v, t in rows))
    defs = ("version: 1\ncolumns: {id: Record ID}\nFORMATS\nhistory: {stage: Value, at: Timestamp, "
            "only: {Property: {in: [lifecyclestage]}}}\nstages:\n  - name: Lead\n  - name: MQL\n"
            "    values: [marketingqualifiedlead]\n")
    ms_defs = write("ms.yml", defs.replace("FORMATS", "date_formats: {Timestamp: epoch_ms}"))
    iso_defs = write("iso.yml", defs.replace("FORMATS", ""))
    reports = []
    for export, d in ((ms_defs.parent / "ms.csv", ms_defs), (iso_defs.parent / "iso.csv", iso_defs)):
        result = run("conversion", str(export), "-d", str(d), "-f", "json", "-q")
        assert result.exit_code == 0, result.stderr
        reports.append(json.loads(result.stdout))
    ms, iso_report = reports
    assert ms["tables"] == iso_report["tables"]
    assert [(s["stage"], s["reached"]) for s in ms["tables"]["stages"]] == [("Lead", 2), ("MQL", 1)]
    assert ms["as_of"] == iso_report["as_of"] == "2024-03-04"


def test_the_formats_validate_and_a_percent_s_format_is_refused_naming_them(write):
    ok = write("ok.yml", "version: 1\ncolumns: {id: id}\ndate_format: [epoch_ms, Epoch, excel]\n"
                         "stages:\n  - {name: Won, date: d}\n")
    assert run("validate", str(ok)).exit_code == 0
    bad = write("bad.yml", "version: 1\ncolumns: {id: id}\ndate_format: '%s'\nstages:\n  - {name: Won, date: d}\n")
    result = run("validate", str(bad))
    assert result.exit_code == 1
    assert "invalid-date-format" in result.stdout and "'epoch' or 'epoch_ms'" in result.stdout


@pytest.mark.parametrize("cells, fmt", [([f"{MIDNIGHT + i * DAY}000" for i in range(6)], "epoch_ms"),
                                        ([str(MIDNIGHT + i * DAY) for i in range(6)], "epoch")])
def test_the_run_and_validate_name_the_format_for_a_column_of_epoch_numbers(write, cells, fmt):
    export = write("export.csv", "id,d\n" + "".join(f"{i},{c}\n" for i, c in enumerate(cells)))
    defs = write("defs.yml", "version: 1\ncolumns: {id: id}\nstages:\n  - {name: Won, date: d}\n")
    result = run("conversion", str(export), "-d", str(defs))
    assert result.exit_code == 2
    assert f"the format {fmt!r} reads all of them: date_formats: {{d: [{fmt!r}]}}" in result.stderr
    checked = run("validate", str(defs), "--data", str(export))
    assert checked.exit_code == 1
    assert f"the format {fmt!r} reads all of them" in checked.stdout
    fixed = write("fixed.yml", f"version: 1\ncolumns: {{id: id}}\ndate_formats: {{d: [{fmt}]}}\nstages:\n  - {{name: Won, date: d}}\n")
    assert run("validate", str(fixed), "--data", str(export)).exit_code == 0
