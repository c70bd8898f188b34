"""Parquet in (issue 13, point 5): an export, or a joined file, given as .parquet is read directly,
with the same accounting as its CSV."""

from __future__ import annotations

import datetime as dt
import json

import pyarrow as pa
import pyarrow.compute  # noqa: F401  (pa.compute)
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from tests.conftest import SAMPLE, run

DEFS = """\
version: 1
columns: {id: Id, owner: Owner}
stages:
  - {name: MQL, date: MQL, sla_days: 3}
  - {name: SAL, date: SAL}
"""


def test_the_sample_as_parquet_gives_the_csvs_report(tmp_path):
    # the same cells as text: every number and the accounting line agree
    names = pacsv.read_csv(SAMPLE).column_names
    table = pacsv.read_csv(SAMPLE, convert_options=pacsv.ConvertOptions(
        column_types={n: pa.string() for n in names}, strings_can_be_null=True, null_values=[""]))
    path = tmp_path / "contacts.parquet"
    pq.write_table(table, path)
    as_parquet = json.loads(run("conversion", path, "-f", "json", "-q").stdout)
    as_csv = json.loads(run("conversion", SAMPLE, "-f", "json", "-q").stdout)
    assert as_parquet["tables"] == as_csv["tables"]
    assert as_parquet["accounting"] == as_csv["accounting"]


def test_typed_columns_are_read_as_the_csv_would_be(write, tmp_path):
    # MQL as timestamps, SAL as dates, ids as integers, owner a dictionary column with a blank.
    # Lead 1: MQL 01-02 10:30, SAL 01-05 (converted, 3 days); lead 2: no MQL date, never in the
    # funnel; lead 3: MQL 01-04, no SAL, 6 days at 01-10 with an SLA of 3: stuck.
    table = pa.table({
        "Id": pa.array([1, 2, 3], pa.int64()),
        "Owner": pa.array(["Ann", "", "Bob"]).dictionary_encode(),
        "MQL": pa.array([dt.datetime(2024, 1, 2, 10, 30), None, dt.datetime(2024, 1, 4)], pa.timestamp("s")),
        "SAL": pa.array([dt.date(2024, 1, 5), None, None], pa.date32()),
    })
    path = tmp_path / "leads.parquet"
    pq.write_table(table, path)
    doc = json.loads(run("conversion", path, "-d", write("d.yml", DEFS), "-f", "json", "-q", "--as-of", "2024-01-10").stdout)
    stages = {r["stage"]: r for r in doc["tables"]["stages"]}
    assert (stages["MQL"]["reached"], stages["MQL"]["converted"], stages["MQL"]["stuck"]) == (2, 1, 1)
    assert stages["MQL"]["median_days"] == 3
    assert doc["accounting"]["rows_read"] == 3 and doc["accounting"]["never_reached_first_stage"] == 1


def test_ids_stored_as_floats_read_as_the_whole_numbers_they_are(write, tmp_path):
    # pandas writes an id column with a blank as floats: the ids printed 1.5051002514e+10, and
    # explain 15051002514 found no such lead. A float that is not whole stays as it is.
    table = pa.table({"Id": pa.array([15051002514.0, None, 7.0], pa.float64()), "Owner": ["Ann", "Bob", "Cy"],
                      "MQL": ["2024-01-02", "2024-01-03", "2024-01-04"], "SAL": [None, None, None]})
    path = tmp_path / "leads.parquet"
    pq.write_table(table, path)
    defs = write("d.yml", DEFS)
    listed = json.loads(run("purgatory", path, "-d", defs, "--list", "-f", "json", "-q", "--as-of", "2024-01-31").stdout)
    assert sorted(r["id"] for r in listed["tables"]["stuck_leads"]) == ["15051002514", "7"]
    explained = run("explain", path, "15051002514", "-d", defs, "-f", "json", "-q")
    assert explained.exit_code == 0, explained.stderr
    from funnelcli.sources.parquetfile import _as_text

    assert _as_text(pa.chunked_array([[2.5, -3.0, float("nan")]])).to_pylist() == ["2.5", "-3", "nan"]


def test_a_missing_column_names_the_file_and_its_columns(write, tmp_path):
    path = tmp_path / "leads.parquet"
    pq.write_table(pa.table({"Id": [1], "Owner": ["Ann"], "MQL": ["2024-01-02"]}), path)
    result = run("conversion", path, "-d", write("d.yml", DEFS), "-q")
    assert result.exit_code == 2
    assert "leads.parquet: 1 column the definitions use is not in the export's header" in result.stderr
    assert "'SAL' (used by stage SAL date)" in result.stderr


def test_a_file_that_is_not_parquet_says_so(write, tmp_path):
    path = tmp_path / "leads.parquet"
    path.write_text("Id,Owner,MQL,SAL\n1,Ann,2024-01-02,\n", encoding="utf-8")
    result = run("conversion", path, "-d", write("d.yml", DEFS), "-q")
    assert result.exit_code == 2 and "not a Parquet file" in result.stderr and "Traceback" not in result.output


def test_a_joined_file_as_parquet(write, tmp_path):
    # lead 1's region comes from the joined Parquet file; lead 2 has no row there (a notice)
    leads = write("leads.csv", "id,created_at\n1,2024-01-01\n2,2024-01-02\n")
    pq.write_table(pa.table({"lead_id": ["1", "9"], "region": ["EU", "US"]}), tmp_path / "contacts.parquet")
    defs = write("defs.yml", "version: 1\ncolumns: {id: id}\njoins:\n  - {name: contacts, path: contacts.parquet, "
                             "on: {id: lead_id}, columns: {region: region}}\nstages:\n  - {name: Lead, date: created_at}\n")
    result = run("conversion", leads, "-d", defs, "--by", "region", "-f", "json")
    assert result.exit_code == 0, result.stderr
    groups = {r["group"]: r["reached"] for r in json.loads(result.stdout)["tables"]["stages"]}
    assert groups == {"EU": 1, "(blank)": 1}
    assert "contacts.parquet (join contacts): 2 rows read = 1 matched a lead" in result.stderr


def test_timestamps_of_any_unit_or_zone_are_read_as_their_csv_text_would_be(write, tmp_path):
    # the same instants written to a CSV as text and to Parquet as timestamps in s, ms, us and ns,
    # with fractions of a second, naive or in a zone: every date lands on the same day. Lead 1
    # enters MQL 2024-01-02 23:59:59.9 and SAL 2024-01-05 (3 days); lead 2 MQL 2024-01-03 00:00:00.5;
    # lead 3 MQL 2024-01-04 22:00. In UTC-5 (the definitions' timezone is UTC), lead 3 enters on
    # 2024-01-05 (03:00 UTC) and the others on 01-03: then MQL to SAL takes 2 days.
    defs = write("d.yml", DEFS)
    mql = [dt.datetime(2024, 1, 2, 23, 59, 59, 900000), dt.datetime(2024, 1, 3, 0, 0, 0, 500000), dt.datetime(2024, 1, 4, 22, 0)]
    sal = pa.array([dt.date(2024, 1, 5), None, None], pa.date32())
    for zone, suffix, days in ((None, "", 3), ("America/New_York", "-05:00", 2)):
        text = "Id,Owner,MQL,SAL\n" + "".join(f"{i},Ann,{m.isoformat()}{suffix},{'2024-01-05' if i == 1 else ''}\n"
                                              for i, m in enumerate(mql, start=1))
        as_csv = json.loads(run("conversion", write(f"leads{suffix}.csv", text), "-d", defs, "-f", "json", "-q",
                                "--as-of", "2024-01-10").stdout)
        stages = {r["stage"]: r for r in as_csv["tables"]["stages"]}
        assert (stages["MQL"]["reached"], stages["MQL"]["converted"], stages["MQL"]["median_days"]) == (3, 1, days)
        for unit in ("s", "ms", "us", "ns"):
            times = pa.array(mql, pa.timestamp(unit))
            if zone:  # the wall times above, in the zone
                times = pa.compute.assume_timezone(times, zone)
            path = tmp_path / f"leads-{unit}{suffix}.parquet"
            pq.write_table(pa.table({"Id": [1, 2, 3], "Owner": ["Ann"] * 3, "MQL": times, "SAL": sal}), path)
            doc = json.loads(run("conversion", path, "-d", defs, "-f", "json", "-q", "--as-of", "2024-01-10").stdout)
            assert doc["tables"] == as_csv["tables"], (unit, zone)


def test_a_large_parquet_export_read_in_batches_gives_what_it_gives_read_whole(tmp_path, monkeypatch):
    # the sample (duplicate ids, bad dates, blank ids across batches of 37 rows) as typed Parquet
    from funnelcli.sources import parquetfile

    table = pacsv.read_csv(SAMPLE, parse_options=pacsv.ParseOptions(newlines_in_values=True))
    path = tmp_path / "contacts.parquet"
    pq.write_table(table, path, row_group_size=100)
    outputs = []
    for above, rows in ((1 << 40, 1 << 18), (0, 37)):
        monkeypatch.setattr(parquetfile, "PARTS_ABOVE_ROWS", above)
        monkeypatch.setattr(parquetfile, "PART_ROWS", rows)
        result = run("report", path, "-f", "json")
        outputs.append((result.exit_code, result.stdout, result.stderr))
    assert outputs[0][0] in (0, 1) and "duplicate id" in outputs[0][2]
    assert outputs[1] == outputs[0]
