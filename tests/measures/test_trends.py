"""Trends on tests/fixtures/trends.csv (timezone America/New_York), every number by hand.

Stages MQL (SLA 7, window 20 days) -> SQL (SLA 30) -> Won. Maturity of the MQL cohorts' rates:
MQL->SQL 20 days (its window); SQL->Won 20 + 30 = 50 (the cohort's leads reach SQL over the
first 20 days, then have SQL's SLA of 30); cumulative 50. Local (New York) days:

  lead  MQL                                   SQL                         Won
  T1    2023-12-31T23:30-05:00 -> Dec 31      2024-01-10T10:00Z -> Jan 10  2024-02-29T12:00Z -> Feb 29 (leap day)
  T2    2024-01-01T03:00Z -> Dec 31 22:00     2024-02-15 (46 days: after the 20-day window)
  T3    2024-01-31 23:59 (naive: local)       2024-02-01 00:10 (1 day)
  T4    2024-02-01T04:00Z -> Jan 31 23:00     -
  T5    2024-02-29                            2024-03-05 (5 days)          2024-04-01
  T6    2024-04-10                            2024-04-20 (10 days)
  T7    2024-04-30                            -

As of 2024-04-30 (the latest date). Monthly cohorts: Dec {T1, T2}, Jan {T3, T4}, Feb {T5},
Mar {} (empty: a row of zeros), Apr {T6, T7}. Dec is partial (the data starts Dec 31).
"""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest
from tests.conftest import DEFINITIONS, FIXTURES, SAMPLE, run

from funnelcli import api, definitions
from funnelcli.engine import funnel
from funnelcli.measures import trends
from funnelcli.output import render

CSV = str(FIXTURES / "trends.csv")
YML = str(FIXTURES / "trends.yml")


@pytest.fixture(scope="module")
def defs():
    return definitions.load([YML])


@pytest.fixture(scope="module")
def loaded(defs):
    return api.read_export(CSV, defs)


def at(loaded, defs, **kw):
    return funnel.at_as_of(loaded, defs, **kw)


def table(rows, *keys):
    return [tuple(r[k] for k in keys) for r in rows]


def test_monthly_cohorts(loaded, defs):
    rows, rng = trends.cohort_rows(at(loaded, defs), "month")
    assert [r["period"] for r in rows] == ["2023-12", "2024-01", "2024-02", "2024-03", "2024-04"]
    # T2's SQL came 46 days after its MQL, past the 20-day window: not counted for Dec
    assert table(rows, "cohort", "reached:SQL", "reached:Won") == [(2, 1, 1), (2, 1, 0), (1, 1, 1), (0, 0, 0), (2, 1, 0)]
    assert table(rows, "rate:MQL->SQL", "rate:SQL->Won", "cumulative_rate") == [
        (0.5, 1.0, 0.5), (0.5, 0.0, 0.0), (1.0, 1.0, 1.0), (None, None, None), (0.5, 0.0, 0.0)]
    assert [r["partial"] for r in rows] == [True, False, False, False, False]  # Apr ends on the as-of date
    # Days from a cohort's last day to 04-30: Dec 121, Jan 90, Feb 61 (all mature); Mar 30 (MQL->SQL
    # needs 20: mature; SQL->Won and the cumulative rate need 50: immature); Apr 0 (immature)
    assert table(rows, "immature:MQL->SQL", "immature:SQL->Won", "immature:cumulative") == [
        (False, False, False)] * 3 + [(False, True, True), (True, True, True)]
    # median days: Dec T1 10 (and 50 to Won: Jan 10 -> Feb 29), Jan T3 1, Feb T5 5 (and 27), Apr T6 10
    assert table(rows, "median_days:MQL->SQL", "median_days:SQL->Won") == [
        (10, 50), (1, None), (5, 27), (None, None), (10, None)]


def test_change_between_mature_periods(loaded, defs):
    rows, _ = trends.cohort_rows(at(loaded, defs), "month")
    # MQL->SQL: Dec 50%, Jan 50% (0), Feb 100% (+50 pp), Mar no rate, Apr immature: no change
    assert [r["change:rate:MQL->SQL"] for r in rows] == [None, 0.0, 0.5, None, None]


def test_maturity_at_an_earlier_as_of(loaded, defs):
    rows, _ = trends.cohort_rows(at(loaded, defs, as_of=dt.date(2024, 3, 15)), "month")
    by = {r["period"]: r for r in rows}
    assert list(by) == ["2023-12", "2024-01", "2024-02", "2024-03"]
    # Jan ended 44 days before 03-15: MQL->SQL (20) mature; SQL->Won and cumulative (50) not
    assert (by["2024-01"]["immature:MQL->SQL"], by["2024-01"]["immature:SQL->Won"], by["2024-01"]["immature:cumulative"]) == (False, True, True)
    # Feb ended 15 days before: all immature; T5's Won (04-01) hasn't happened yet
    assert (by["2024-02"]["immature:MQL->SQL"], by["2024-02"]["reached:Won"]) == (True, 0)
    # March is cut by the as-of date, and empty
    assert (by["2024-03"]["partial"], by["2024-03"]["cohort"]) == (True, 0)
    assert by["2023-12"]["immature:cumulative"] is False  # 75 days


def test_iso_weeks_across_the_year(loaded, defs):
    rows, _ = trends.cohort_rows(at(loaded, defs), "week")
    labels = [r["period"] for r in rows]
    # Dec 31 2023 is a Sunday (2023-W52); Apr 30 2024 a Tuesday (2024-W18): 19 weeks, empty ones too
    assert labels[0] == "2023-W52" and labels[1] == "2024-W01" and labels[-1] == "2024-W18" and len(labels) == 19
    cohorts = {r["period"]: r["cohort"] for r in rows if r["cohort"]}
    assert cohorts == {"2023-W52": 2, "2024-W05": 2, "2024-W09": 1, "2024-W15": 1, "2024-W18": 1}
    assert rows[0]["period_start"] == "2023-12-25" and rows[1]["period_start"] == "2024-01-01"
    assert rows[-1]["partial"]  # the week of Apr 29 - May 5 is cut by the as-of date


def test_quarters(loaded, defs):
    rows, _ = trends.cohort_rows(at(loaded, defs), "quarter")
    assert table(rows, "period", "cohort", "partial") == [("2023-Q4", 2, True), ("2024-Q1", 3, False), ("2024-Q2", 2, True)]


def test_window_override(loaded, defs):
    rows, _ = trends.cohort_rows(at(loaded, defs), "month", window_override=60)
    assert rows[0]["reached:SQL"] == 2  # T2's 46 days now fit
    rows, _ = trends.cohort_rows(at(loaded, defs), "month", window_override=5)
    assert [r["reached:SQL"] for r in rows] == [0, 1, 1, 0, 0]  # only T3 (1 day) and T5 (5 days)


def test_cohorts_from_a_later_stage(loaded, defs):
    rows, _ = trends.cohort_rows(at(loaded, defs), "month", start=1)
    # by SQL date: Jan T1; Feb T2, T3; Mar T5; Apr T6. Won: T1, T5.
    assert table(rows, "period", "cohort", "reached:Won") == [("2024-01", 1, 1), ("2024-02", 2, 0), ("2024-03", 1, 1), ("2024-04", 1, 0)]
    # SQL->Won needs 30 days: Mar ended exactly 30 days before (mature), Apr 0 (immature)
    assert [r["immature:SQL->Won"] for r in rows] == [False, False, False, True]


def test_flow(loaded, defs):
    f = at(loaded, defs)
    rows, _ = trends.flow_rows(f, "month")
    assert table(rows, "period", "entered:MQL", "entered:SQL", "entered:Won") == [
        ("2023-12", 2, 0, 0), ("2024-01", 2, 1, 0), ("2024-02", 1, 2, 1), ("2024-03", 0, 1, 0), ("2024-04", 2, 1, 1)]
    # the flow of a stage over all periods is the stage's reached count
    for i, stage in enumerate(f.stages):
        assert sum(r[f"entered:{stage}"] for r in rows) == int(f.reached[:, i].sum())
    # count changes compare whole periods only: Dec is partial
    assert [r["change:MQL"] for r in rows] == [None, None, -1, -1, 2]


def test_breakdown_orders_groups_by_size(loaded, defs):
    rows, _ = trends.cohort_rows(at(loaded, defs), "month", by="owner")
    assert [r["group"] for r in rows[::5]] == ["Ann", "Bob"]  # Ann 4 leads (T1, T3, T5, T7), Bob 3
    ann = [r["cohort"] for r in rows if r["group"] == "Ann"]
    assert ann == [1, 1, 1, 0, 1]


def test_summary_and_sparkline(loaded, defs):
    rows, _ = trends.cohort_rows(at(loaded, defs), "month")
    latest = {r["measure"]: r for r in trends.summary(rows, [("rate:MQL->SQL", "MQL->SQL", "rate"), ("cohort", "Entered", "count")], None)}
    assert (latest["MQL->SQL"]["latest_period"], latest["MQL->SQL"]["previous_period"], latest["MQL->SQL"]["change"]) == ("2024-02", "2024-01", 0.5)
    assert latest["MQL->SQL"]["series"] == [0.5, 0.5, 1.0, None, None]
    assert latest["Entered"]["series"] == [None, 2, 1, 0, 2]  # Dec is partial
    assert render.sparkline([0, 1, None, 2]) == "▁▅ █"
    assert render.sparkline([0, 1, None, 2], ascii_only=True) == "_= #"  # the middle rounds to the 5th of 8 marks
    assert render.sparkline([None, None]) == ""
    assert render.sparkline([3, 3]) == "▅▅"


def test_period_helpers():
    days = np.array(["2024-02-29", "2024-12-31", "2025-01-01"], dtype="datetime64[D]")
    assert [trends.period_label(int(n), "month") for n in trends.period_of(days, "month")] == ["2024-02", "2024-12", "2025-01"]
    # 2024-12-31 is in ISO week 2025-W01 (it is a Tuesday of the week that holds Jan 1-2)
    assert [trends.period_label(int(n), "week") for n in trends.period_of(days, "week")] == ["2024-W09", "2025-W01", "2025-W01"]
    assert trends.period_bounds(int(trends.period_of(days[:1], "quarter")[0]), "quarter") == (dt.date(2024, 1, 1), dt.date(2024, 3, 31))


# --------------------------------------------------------------------------------------------
# The command


def test_trends_text_marks_immature_and_partial():
    result = run("trends", CSV, "-d", YML, "-f", "text", "-q")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "2023-12  partial            2    1    1    50.0%    100.0%     50.0%" in out
    assert "2024-03                     0    0    0        -         -         -" in out
    assert "2024-04                     2    1    0    50.0%*     0.0%*     0.0%*" in out
    assert "* immature:" in out and "Windows      MQL->SQL 20 days; SQL->Won none." in out


def test_trends_json_fields():
    result = run("trends", CSV, "-d", YML, "-f", "json", "-q")
    doc = json.loads(result.stdout)
    assert doc["kind"] == "trends" and doc["period"] == "month" and doc["timezone"] == "America/New_York"
    assert doc["windows"] == {"MQL->SQL": 20, "SQL->Won": None}
    april = doc["tables"]["cohorts"][-1]
    assert april["period"] == "2024-04" and april["immature:MQL->SQL"] is True and april["rate:MQL->SQL"] == 0.5
    assert "velocity" not in doc["tables"]  # a view of the cohort table's own fields
    assert doc["tables"]["latest"][1]["series"] == [0.5, 0.5, 1.0, None, None]


def test_trends_flow_csv_and_usage_errors():
    result = run("trends", CSV, "-d", YML, "--counting", "flow", "-f", "csv", "-q", "--since", "2024-01-01")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()  # one table, the flow: its header first
    # the table's columns, then the fields JSON has besides them (each period's first and last day)
    assert lines[0] == "period,partial,entered:MQL,entered:SQL,entered:Won,change:MQL,change:SQL,change:Won,period_start,period_end"
    assert lines[1] == "2024-01,false,2,1,0,,,,2024-01-01,2024-01-31"  # true/false as JSON writes them
    bad = run("trends", CSV, "-d", YML, "--counting", "flow", "--window", "30")
    assert bad.exit_code == 2 and "--window and --from-stage go with --counting cohort" in bad.stderr


def test_trends_last_n():
    result = run("trends", CSV, "-d", YML, "--last", "2", "-f", "csv", "-q")
    periods = [line.split(",")[0] for line in result.stdout.splitlines()[1:]]
    assert periods[:2] == ["2024-03", "2024-04"]


@pytest.mark.parametrize("period", ["month", "week", "quarter"])
@pytest.mark.parametrize("as_of", [None, dt.date(2025, 6, 30), dt.date(2026, 2, 14)])
def test_sample_flow_sums_and_monotone_cohorts(period, as_of):
    """On the real sample at several as-of dates: flow over all periods is each stage's reached
    count, and a cohort's counts never increase down the stages."""
    defs = definitions.load([str(DEFINITIONS)])
    f = funnel.at_as_of(api.read_export(str(SAMPLE), defs), defs, as_of=as_of)
    rows, _ = trends.flow_rows(f, period)
    for i, stage in enumerate(f.stages):
        assert sum(r[f"entered:{stage}"] for r in rows) == int((f.reached[:, i] & ~np.isnat(f.date[:, i])).sum())
    cohorts, _ = trends.cohort_rows(f, period)
    for row in cohorts:
        counts = [row["cohort"]] + [row[f"reached:{s}"] for s in f.stages[1:]]
        assert counts == sorted(counts, reverse=True)
        for key, value in row.items():
            if key.startswith(("rate:", "cumulative_rate")) and value is not None:
                assert 0 <= value <= 1


# --------------------------------------------------------------------------------------------
# What a cohort table can't count is said, not dropped (a status export: Contact Made has no date)

GAPS_DEFS = """version: 1
columns: {id: Deal - ID, stage_now: Deal - Stage, state: Deal - Status}
stage_column: stage_now
stages:
  - name: Qualified
    date: Deal - Deal created
    window_days: 60
  - name: Contact Made
  - name: Won
    when: {state: {in: [won]}}
    date: Deal - Won time
"""
GAPS_HEADER = "Deal - ID,Deal - Stage,Deal - Status,Deal - Deal created,Deal - Won time\n"


def test_a_window_says_how_many_conversions_it_could_not_check(write):
    # Deals 1 and 2 reached Contact Made by their status, with no date there or later: the 60-day
    # window can't be checked, so they don't count (docs/metrics.md), and the note says so. Deal 3
    # won: Contact Made only borrows Won's date (17 days after created), which is no duration of
    # its own either: not counted. May cohort: 0 of 3. Won is dated, but the chain stops at 0.
    export = write("w.csv", GAPS_HEADER + "1,Contact Made,open,2024-05-01,\n2,Contact Made,open,2024-05-02,\n"
                                          "3,Contact Made,won,2024-05-03,2024-05-20\n4,Qualified,open,2024-09-30,\n")
    result = run("trends", export, "-d", write("f.yml", GAPS_DEFS), "-f", "json")
    report = json.loads(result.stdout)
    may = report["tables"]["cohorts"][0]
    assert (may["period"], may["cohort"], may["reached:Contact Made"], may["reached:Won"]) == ("2024-05", 3, 0, 0)
    text = run("trends", export, "-d", write("f.yml", GAPS_DEFS)).stdout
    assert "Not counted under the window (a date of the step is unknown or not the lead's own): Qualified->Contact Made 3." in text
    assert "In no cohort" not in text
    # the last period alone (2024-09) holds neither: the note is about the cohorts shown
    assert "Not counted under the window" not in run("trends", export, "-d", write("f.yml", GAPS_DEFS), "--last", "1").stdout
    # the report's latest mature rates say it of all cohorts
    digest = run("report", export, "-d", write("f.yml", GAPS_DEFS), "--period", "month").stdout
    assert "Not counted under the window (a date of the step is unknown or not the lead's own), in all cohorts: Qualified->Contact Made 3." in digest
    # without the window every conversion counts, and there is nothing to say
    plain = run("trends", export, "-d", write("g.yml", GAPS_DEFS.replace("    window_days: 60\n", ""))).stdout
    assert "Not counted under the window" not in plain


def test_leads_with_no_date_at_the_cohort_stage_are_counted_in_a_note(write):
    # Deal 1 has no created date and no later date: no cohort holds it (4 leads, cohorts of 3).
    # From Contact Made: deal 4's is Won's date (06-20); deals 1 and 3 have none there.
    export = write("d.csv", GAPS_HEADER + "1,Contact Made,open,,\n2,Qualified,open,2024-05-01,\n"
                                          "3,Contact Made,open,2024-06-05,\n4,Contact Made,won,2024-05-03,2024-06-20\n")
    defs = write("f.yml", GAPS_DEFS.replace("    window_days: 60\n", ""))
    result = run("trends", export, "-d", defs)
    assert "In no cohort: 1 lead reached Qualified with no date, there or at a later stage." in result.stdout
    later = run("trends", export, "-d", defs, "--from-stage", "Contact Made")
    assert "In no cohort: 2 leads reached Contact Made with no date, there or at a later stage." in later.stdout
    assert "every lead that reached Contact Made by the as-of date (entered 2024-06-20 to 2024-06-20)" in later.stdout


# A status export (the reference status definitions): Contact Made and Proposal have no date of
# their own, so no step has own dates at both ends (Qualified->Contact Made, Contact Made->
# Proposal, Proposal->Won): instead of a table of blanks, one line says why. With no lead past
# the first stage, it says that none converted.
def test_a_median_days_table_of_blanks_is_a_line_that_says_why(write):
    from tests.reference_definitions import REFERENCE_STATUS
    from tests.sources.test_status_and_flags import REFERENCE_STATUS_CSV

    defs = write("defs.yml", REFERENCE_STATUS)
    text = run("trends", write("deals.csv", REFERENCE_STATUS_CSV), "-d", defs, "-q", "-f", "text").stdout
    assert "Median days per transition" not in text
    assert ("Median days: none: no step has dates of the lead's own at both ends (a stage skipped, or reached by a "
            "status, a flag or an undated condition, has no date of its own).") in text
    only_first = "\n".join(line.replace("Contact Made", "Qualified").replace("Proposal sent", "Qualified")
                           .replace("Proposal Made,won", "Qualified,open").replace("03/09/2024 04:45 PM", "")
                           for line in REFERENCE_STATUS_CSV.splitlines())
    text = run("trends", write("first.csv", only_first + "\n"), "-d", defs, "-q", "-f", "text").stdout
    assert "Median days: none: no lead of these cohorts converted." in text


def test_the_reports_flow_table_says_which_leads_it_cannot_count(monkeypatch):
    # samples/pipedrive-deals.csv: a deal reached every stage up to the one its status names (and
    # Won when won); only Qualified (created) and Won (won time) have dates. A stage reached with
    # no date there or later (not won with a won time) has no period to count in: the report's
    # headline flow table says how many, as trends --counting flow does. Counted here from the CSV.
    import csv

    from tests.conftest import ROOT

    monkeypatch.chdir(ROOT)
    order = {"Contact Made": 1, "Demo Scheduled": 2, "Proposal Made": 3, "Negotiations Started": 4}
    with open("samples/pipedrive-deals.csv", encoding="utf-8", newline="") as handle:
        deals = list(csv.DictReader(handle))
    undated = []
    for stage in range(1, 5):
        undated.append(sum(1 for d in deals if (order.get(d["Deal - Stage"], 0) >= stage or d["Deal - Status"] == "won")
                           and not (d["Deal - Status"] == "won" and d["Deal - Won time"])))
    note = ("Not counted (reached with no date, here or at a later stage): Contact Made {:,}, Demo Scheduled {:,}, "
            "Proposal Made {:,}, Negotiation {:,}.".format(*undated))
    for command in (["report"], ["trends", "--counting", "flow"]):
        text = run(*command, "samples/pipedrive-deals.csv", "-d", "definitions/pipedrive", "-q", "-f", "text").stdout
        assert note in text, command


def test_a_change_is_the_difference_of_the_rates_as_shown(monkeypatch):
    # 68.4% against 56.8% reads +11.6 pp; taken from the unrounded rates (0.68421 - 0.56790) it
    # read +11.7 pp, which a reader subtracting the two cells can't get
    from decimal import ROUND_HALF_UP, Decimal

    from tests.conftest import ROOT

    from funnelcli.measures.model import cell, rate_change

    assert cell(rate_change(0.684210, 0.567901), "pp") == "+11.6 pp"
    assert cell(rate_change(0.3, 0.3), "pp") == "+0.0 pp" and rate_change(None, 0.5) is None
    # the change as CSV and JSON write it: 1.1 points is 0.011, not 0.011000000000000001
    assert repr(rate_change(0.5, 0.489)) == "0.011"

    def shown(rate: float) -> Decimal:
        return Decimal(repr(rate * 100)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)

    monkeypatch.chdir(ROOT)
    checked = 0
    for command in (["report", SAMPLE], ["trends", SAMPLE, "--by", "market"]):
        data = json.loads(run(*command, "-q", "-f", "json").stdout)
        table = data["tables"]["rates" if command[0] == "report" else "latest"]
        for row in table:
            if row.get("kind", "rate") == "rate" and row["latest"] is not None and row["previous"] is not None:
                assert cell(row["change"], "pp") == f"{shown(row['latest']) - shown(row['previous']):+} pp", row
                checked += 1
    assert checked >= 10


def test_report_rates_show_the_leads_they_count():
    # a weekly rate of 100% may be 9 of 9; each latest rate is its leads over "of", and those are
    # the cohort table's counts for that week (reached:B of reached:A, the cohort for the first stage)
    report = json.loads(run("report", SAMPLE, "-d", DEFINITIONS, "-f", "json", "-q").stdout)
    trends = json.loads(run("trends", SAMPLE, "-d", DEFINITIONS, "--period", "week", "-f", "json", "-q").stdout)
    cohorts = {r["period"]: r for r in trends["tables"]["cohorts"]}
    stages = [r["stage"] for r in report["tables"]["stages"]]
    rates = report["tables"]["rates"]
    assert len(rates) == len(stages)  # each step, and the cumulative rate
    for row in rates:
        a, b = row["measure"].split("->")
        week = cohorts[row["latest_period"]]
        of = week["cohort"] if a == stages[0] else week[f"reached:{a}"]
        assert (row["latest_leads"], row["latest_of"]) == (week[f"reached:{b}"], of)
        assert abs(row["latest"] - row["latest_leads"] / row["latest_of"]) < 1e-12
        before = cohorts[row["previous_period"]]
        assert row["previous_of"] == (before["cohort"] if a == stages[0] else before[f"reached:{a}"])


WINDOW_DEFS = """version: 1
columns: {id: Id}
stages:
  - {name: MQL, date: MQL, window_days: 10}
  - {name: SAL, date: SAL, window_days: 30}
  - {name: SQL, date: SQL}
targets:
  MQL->SQL: 0.5
"""
# As of 2025-06-30. A: SAL 1 day after MQL, SQL 8 days after SAL: counts. B: SQL 66 days after
# SAL, past SAL's 30-day window: doesn't count. C reached SAL only, D MQL only. The rate into
# SQL is final 10 + 30 = 40 days after MQL: every lead (MQL by 2025-05-21) and report's weekly
# cohort 2025-W14 (03-31 to 04-06, all four; ended 85 days before) are mature. MQL->SQL = 1 of 4
# = 25%: missed, by conversion and report.
# Conversion counted B (2 of 4 = 50%: met) while report and trends did not.
WINDOW_CSV = "Id,MQL,SAL,SQL\nA,2025-04-01,2025-04-02,2025-04-10\nB,2025-04-01,2025-04-05,2025-06-10\nC,2025-04-02,2025-04-03,\nD,2025-04-03,,\n"


def test_a_rate_target_counts_only_conversions_within_the_windows_in_conversion_as_in_report(write):
    export, defs = write("e.csv", WINDOW_CSV), write("defs.yml", WINDOW_DEFS)
    rows = {}
    for command in ("conversion", "report"):
        result = run(command, export, "-d", defs, "--as-of", "2025-06-30", "-f", "json", "-q")
        assert result.exit_code == 0, result.stderr
        (rows[command],) = json.loads(result.stdout)["tables"]["targets"]
    assert [rows["conversion"][k] for k in ("numerator", "denominator", "actual", "status")] == [1, 4, 0.25, "missed"]
    assert [rows["report"][k] for k in ("numerator", "denominator", "actual", "status")] == [1, 4, 0.25, "missed"]
    assert rows["conversion"]["basis"] == "entered MQL by 2025-05-21"
    assert rows["report"]["basis"] == "cohort 2025-W14 (latest mature)"


def test_flow_by_quarter_with_a_range_counts_only_the_days_in_the_range():
    # --since 2025-05-01 --until 2025-11-30: 2025-Q2 counted April's entries too and Q4 December's
    # (the quarters were only marked partial). Each quarter now is the sum of its months in the range.
    def entries(period: str) -> dict[str, int]:
        result = run("trends", SAMPLE, "-d", DEFINITIONS, "--counting", "flow", "--period", period,
                     "--since", "2025-05-01", "--until", "2025-11-30", "-f", "json", "-q")
        assert result.exit_code == 0, result.stderr
        return {r["period"]: r["entered:MQL"] for r in json.loads(result.stdout)["tables"]["flow"]}

    months, quarters = entries("month"), entries("quarter")
    assert sorted(months) == [f"2025-{m:02d}" for m in range(5, 12)]
    assert quarters == {"2025-Q2": months["2025-05"] + months["2025-06"],
                        "2025-Q3": sum(months[f"2025-{m:02d}"] for m in (7, 8, 9)),
                        "2025-Q4": months["2025-10"] + months["2025-11"]}


REPORT_DEFS = "version: 1\ncolumns: {id: id}\nstages:\n  - {name: MQL, date: mql, sla_days: 3}\n  - {name: SAL, date: sal}\n"
# MQLs on Tue 2026-03-10 and Wed 03-11 (2026-W11 runs Mon 03-09 to Sun 03-15), and in W12 (03-16
# to 03-22) on 03-16, 03-17, 03-18 and 03-19; in W12 three of W12's MQLs reach SAL, and W11's a too.
REPORT_CSV = ("id,mql,sal\na,2026-03-10,2026-03-17\nb,2026-03-11,\nc,2026-03-16,2026-03-17\nd,2026-03-17,2026-03-18\n"
              "e,2026-03-18,2026-03-19\nf,2026-03-19,\n")


def test_the_reports_headline_says_why_it_has_no_previous_or_no_period(write):
    defs, export = write("d.yml", REPORT_DEFS), write("e.csv", REPORT_CSV)
    # as of 03-23 (W13's Monday): W12 is the last whole week, with 4 MQLs and 4 SALs; W11 is cut by
    # the data's start (03-10): no Previous, and the report says why rather than print "-" alone
    text = run("report", export, "-d", defs, "--as-of", "2026-03-23", "-q").stdout
    assert "MQL           4         -       -" in text and "SAL           4         -       -" in text
    assert ("Previous: none: 2026-W11 (2026-03-09 to 2026-03-15) is partial (the data starts within it), and a part "
            "of a week is no measure against a whole one.") in text
    # as of 03-14, inside W11: no whole week yet; the headline says so (it was left out without a
    # word), and -f csv --table headline writes its header, exit 0 (it was an error: no such table)
    early = run("report", export, "-d", defs, "--as-of", "2026-03-14", "-q")
    assert ("None yet: the report needs a whole week, and by the as-of date 2026-03-14 the data covers only part "
            "of 2026-W11.") in early.stdout
    table = run("report", export, "-d", defs, "--as-of", "2026-03-14", "-q", "-f", "csv", "--table", "headline")
    assert (table.exit_code, table.stdout) == (0, "stage\n")


def test_the_reports_headline_with_since_says_it_counts_the_cohorts_leads(write):
    # --since 03-16 selects W12's cohorts (c, d, e, f): W12's headline counts their entries, 4 MQLs
    # and 3 SALs (c's, d's and e's; not a's, of W11), and its note says so where it said "whoever they are"
    defs, export = write("d.yml", REPORT_DEFS), write("e.csv", REPORT_CSV)
    text = run("report", export, "-d", defs, "--as-of", "2026-03-23", "--since", "2026-03-16", "-q").stdout
    assert "MQL           4" in text and "SAL           3" in text
    assert ("Flow: leads entering each stage in the period, among the report's cohorts (leads that entered MQL from "
            "2026-03-16); trends --counting flow counts whoever they are.") in text
    flow = run("trends", export, "-d", defs, "--as-of", "2026-03-23", "--since", "2026-03-16", "--counting", "flow",
               "--period", "week", "-q", "-f", "csv").stdout
    assert "2026-W12,false,4,4," in flow  # whoever they are: a's SAL too


# A first stage with no rule (every lead) and dated later stages: leads 1-3 have MQL dates (in
# January and February), 2 of them won; leads 4-7 have no date at all. Lead's cohort date is
# borrowed from MQL (domain.md), so the January and February cohorts hold leads 1-3 only, all of
# which reached MQL: Lead->MQL would read 100% where it is 3 of 7. MQL->Won is known: every lead
# that reached MQL has a date there (1 of 2 in January, 1 of 1 in February).
UNDATED_FIRST = "id,mql,won\n1,2025-01-05,2025-03-01\n2,2025-01-20,\n3,2025-02-10,2025-03-10\n4,,\n5,,\n6,,\n7,,\n"
UNDATED_FIRST_DEFS = ("version: 1\ncolumns: {id: id}\nstages:\n  - name: Lead\n  - {name: MQL, date: mql}\n  - {name: Won, date: won}\n"
                      "targets:\n  Lead->MQL: 0.5\n  MQL->Won: 0.4\n")


def test_rates_from_a_stage_its_leads_reach_with_no_date_are_unknown_not_100_percent(write):
    export, defs = write("l.csv", UNDATED_FIRST), write("d.yml", UNDATED_FIRST_DEFS)
    result = run("trends", export, "-d", defs, "-f", "json", "-q")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    rows = {r["period"]: r for r in data["tables"]["cohorts"]}
    assert [rows["2025-01"][k] for k in ("cohort", "reached:MQL", "reached:Won")] == [2, 2, 1]
    assert [rows["2025-02"][k] for k in ("cohort", "reached:MQL", "reached:Won")] == [1, 1, 1]
    for period in ("2025-01", "2025-02"):
        assert rows[period]["rate:Lead->MQL"] is None and rows[period]["cumulative_rate"] is None
    assert rows["2025-01"]["rate:MQL->Won"] == 0.5 and rows["2025-02"]["rate:MQL->Won"] == 1.0
    notes = " ".join(data["notes"])
    assert "In no cohort: 4 leads reached Lead with no date" in notes
    assert "Rates from Lead are not shown (-)" in notes and "with --from-stage 'MQL'." in notes
    text = run("trends", export, "-d", defs, "-f", "text", "-q").stdout
    january = next(line for line in text.splitlines() if line.startswith("2025-01"))
    assert january.split()[-3:] == ["-", "50.0%*", "-"]  # immature: 2025-03-10 is too soon for MQL->Won


def test_a_target_from_such_a_stage_is_unknown_and_plan_refuses_it(write):
    export, defs = write("l.csv", UNDATED_FIRST), write("d.yml", UNDATED_FIRST_DEFS)
    # conversion: every lead old enough, 2 of the 3 that reached MQL won; report: the latest mature
    # cohort, February's, whose one lead won
    for command, mql_won in (("conversion", 2 / 3), ("report", 1.0)):
        data = json.loads(run(command, export, "-d", defs, "-f", "json", "-q", "--as-of", "2026-06-30").stdout)
        targets = {t["target"]: t for t in data["tables"]["targets"]}
        assert targets["Lead->MQL"]["actual"] is None and targets["Lead->MQL"]["status"] == "no data"
        assert "unknown: 4 leads reached Lead with no date" in targets["Lead->MQL"]["basis"]
        assert targets["MQL->Won"]["actual"] == pytest.approx(mql_won)
    result = run("plan", export, "-d", defs, "--target", "Won=10", "--as-of", "2026-06-30")
    assert result.exit_code == 2
    assert "4 leads reached Lead with no date" in result.stderr and "Lead->MQL would read 100%" in result.stderr


def test_cohorts_from_a_status_stage_show_no_rates_from_it(write):
    # Pipedrive's status shape: Contact Made has no date of its own; of 4 deals there, only the won
    # one is in a cohort (by its Won time), so Contact Made->Proposal would be 1 of 1 where it is 1 of 4
    export = write("deals.csv", "id,stage,status,created,won_at\n1,Contact Made,open,2026-01-02,\n2,Contact Made,open,2026-01-03,\n"
                                "3,Contact Made,won,2026-01-04,2026-02-01\n4,Contact Made,lost,2026-01-05,\n")
    defs = write("d.yml", "version: 1\ncolumns: {id: id, stage_now: stage, state: status}\nstage_column: stage_now\nstages:\n"
                          "  - {name: Qualified, date: created}\n  - name: Contact Made\n  - name: Proposal\n"
                          "  - {name: Won, when: {state: {in: [won]}}, date: won_at}\nexits:\n  - {name: Lost, when: {state: {in: [lost]}}}\n")
    data = json.loads(run("trends", export, "-d", defs, "--from-stage", "Contact Made", "-f", "json", "-q").stdout)
    (row,) = [r for r in data["tables"]["cohorts"] if r["cohort"]]
    assert row["period"] == "2026-02" and row["rate:Contact Made->Proposal"] is None and row["cumulative_rate"] is None
    assert row["rate:Proposal->Won"] == 1.0  # every deal that reached Proposal is in a cohort
    assert "trends counts cohorts by Qualified, a stage with dates, without --from-stage." in " ".join(data["notes"])
    # from Qualified, dated for every deal, the rates are there: 1 of 4 reached Proposal
    data = json.loads(run("trends", export, "-d", defs, "-f", "json", "-q").stdout)
    (row,) = [r for r in data["tables"]["cohorts"] if r["cohort"]]
    assert row["rate:Qualified->Contact Made"] == 1.0 and row["rate:Contact Made->Proposal"] == 0.25


def test_a_cohort_range_keeps_the_rates_from_such_a_stage_unknown(write):
    # --since left the 4 undated leads out of the report as "with no date to place in the cohort
    # range", and with them the reason the rates are unknown: Lead->MQL read 100% again, the target
    # was met and plan ran
    export, defs = write("l.csv", UNDATED_FIRST), write("d.yml", UNDATED_FIRST_DEFS)
    data = json.loads(run("trends", export, "-d", defs, "-f", "json", "-q", "--since", "2025-01-01").stdout)
    assert data["accounting"]["no_date_for_cohort_range"] == 4
    rows = {r["period"]: r for r in data["tables"]["cohorts"]}
    assert rows["2025-01"]["rate:Lead->MQL"] is None and rows["2025-01"]["rate:MQL->Won"] == 0.5
    assert any(n.startswith("Rates from Lead are not shown (-)") for n in data["notes"])
    report = json.loads(run("report", export, "-d", defs, "-f", "json", "-q", "--since", "2025-01-01", "--as-of", "2026-06-30").stdout)
    assert {t["target"]: t["status"] for t in report["tables"]["targets"]}["Lead->MQL"] == "no data"
    assert run("plan", export, "-d", defs, "--target", "Won=10", "--since", "2025-01-01", "--as-of", "2026-06-30").exit_code == 2


def test_cohorts_from_the_last_stage_with_undated_leads_have_no_rate_to_hide(write):
    # the last stage has no rate: with leads that reached it by a flag (no date) the note's list
    # of stages was empty and trends stopped with an internal error
    export = write("l.csv", "id,created,converted\n1,2025-01-02,yes\n2,2025-01-03,no\n3,2025-02-01,yes\n")
    defs = write("d.yml", "version: 1\ncolumns: {id: id}\nstages:\n  - {name: Lead, date: created}\n  - {name: Converted, flag: converted}\n")
    result = run("trends", export, "-d", defs, "--from-stage", "Converted", "-f", "json", "-q")
    assert result.exit_code == 0, result.stderr
    assert not any("not shown" in n for n in json.loads(result.stdout)["notes"])


@pytest.mark.parametrize("window, shown", [("1", "1 day"), ("2", "2 days"), ("0.5", "0.5 days")])
def test_the_windows_line_counts_a_day_in_the_singular(window, shown):
    # "MQL->SAL 1 days;  (--window)" read so: one day is a day, one space before the option
    result = run("trends", SAMPLE, "-d", DEFINITIONS, "--window", window, "-q", "-f", "text")
    line = next(x for x in result.stdout.splitlines() if x.startswith("Windows"))
    assert f"MQL->SAL {shown}; SAL->SQL {shown}; SQL->Opportunity {shown}; Opportunity->Won {shown} (--window). " in line


@pytest.mark.parametrize("since", [(), ("--since", "2025-01-01")])
def test_trends_from_a_later_stage_accounts_for_the_leads_of_its_table(write, since):
    # A reached SAL on 01-05, B never did. With --from-stage SAL the table holds A alone, but the
    # Rows line said "2 leads in the report"; with a --since that excludes nothing, B was
    # "outside the cohort range". Both now: 1 in the report + 1 never reached SAL
    export = write("leads.csv", "id,mql,sal\nA,2025-01-01,2025-01-05\nB,2025-01-10,\n")
    defs = write("funnel.yml", "version: 1\ncolumns: {id: id}\nstages:\n  - {name: MQL, date: mql, sla_days: 3}\n"
                               "  - {name: SAL, date: sal}\n")
    result = run("trends", export, "-d", defs, "--from-stage", "SAL", *since, "-q", "-f", "json")
    report = json.loads(result.stdout)
    acc = report["accounting"]
    assert (acc["leads_in_report"], acc["never_reached_first_stage"], acc["outside_cohort_range"]) == (1, 1, 0)
    assert acc["first_stage"] == "SAL"  # the stage never_reached_first_stage counts at
    assert sum(r["cohort"] for r in report["tables"]["cohorts"]) == 1
    text = run("trends", export, "-d", defs, "--from-stage", "SAL", *since, "-q", "-f", "text").stdout
    assert "Rows: 2 rows read = 1 lead in the report + 1 never reached SAL + 0 excluded." in text


def test_trends_from_a_later_stage_in_a_replay_counts_only_the_leads_that_had_reached_it(write):
    # as of 02-01: X's SAL is dated 03-10 (after), so its SQL (a flag, undated) was not reached
    # then either; Y reached SQL through SAL 01-05; Z never. conversion: SQL reached 1 (Y);
    # trends --from-stage SQL said 2 leads in the report (X's undated SQL let through)
    export = write("l.csv", "id,mql,sal,sqlf\nX,2025-01-01,2025-03-10,1\nY,2025-01-02,2025-01-05,1\nZ,2025-01-03,,0\n")
    defs = write("d.yml", "version: 1\ncolumns: {id: id}\nstages:\n  - {name: MQL, date: mql}\n  - {name: SAL, date: sal}\n"
                          "  - {name: SQL, flag: sqlf}\n")
    args = ["-d", defs, "--as-of", "2025-02-01", "-q", "-f", "json"]
    sql = {r["stage"]: r for r in json.loads(run("conversion", export, *args).stdout)["tables"]["stages"]}["SQL"]
    acc = json.loads(run("trends", export, "--from-stage", "SQL", *args).stdout)["accounting"]
    assert sql["reached"] == acc["leads_in_report"] == 1
    assert acc["never_reached_first_stage"] == 2


def test_trends_from_a_later_stage_in_a_replay_of_a_status_column_counts_what_conversion_counts(write):
    # a status column with a stage-since date: as of 02-10 A had moved to Proposal (since 01-20)
    # though its Proposal borrows the win's date (02-25, after); B is at Contact Made since 01-05.
    # conversion: Contact Made 2 (A B), Proposal 1 (A). trends --from-stage took Proposal's date
    # alone and found 0 (and 1 at Contact Made)
    export = write("st.csv", "id,created,stage,since,state,won_at\nA,2025-01-01,Proposal,2025-01-20,won,2025-02-25\n"
                             "B,2025-01-02,Contact Made,2025-01-05,open,\nC,2025-01-03,Qualified,,open,\n")
    defs = write("st.yml", "version: 1\ncolumns: {id: id, stage_now: stage, state: state, stage_since: since}\n"
                           "stage_column: stage_now\nstages:\n  - {name: Qualified, date: created}\n  - {name: Contact Made}\n"
                           "  - {name: Proposal}\n  - {name: Won, when: {state: {in: [won]}}, date: won_at}\n")
    args = ["-d", defs, "--as-of", "2025-02-10", "-q", "-f", "json"]
    reached = {r["stage"]: r["reached"] for r in json.loads(run("conversion", export, *args).stdout)["tables"]["stages"]}
    assert (reached["Contact Made"], reached["Proposal"]) == (2, 1)
    for stage in ("Contact Made", "Proposal"):
        acc = json.loads(run("trends", export, "--from-stage", stage, *args).stdout)["accounting"]
        assert acc["leads_in_report"] == reached[stage], (stage, acc)
