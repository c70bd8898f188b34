"""`funnelcli plan`: the reverse waterfall, derived by hand from tests/fixtures/plan/leads.csv.

The fixture (plan.yml): stages MQL (sla 10) -> SQL (sla 20) -> Won, no windows. Maturity of
MQL->Won for an MQL cohort: 10 + 20 = 30 days after the cohort's last day. The as-of date is the
latest date in the export, U1's MQL on 2026-06-15.

    month    leads                       MQL  SQL  Won   mature for MQL->Won (last day + 30 <= 06-15)?
    2026-01  J1-J5 (all won)               5    5    5   yes (01-31: 135 days)
    2026-02  F1-F7 (F1, F2 won)            7    4    2   yes
    2026-03  M1-M6 (M1 won, SQL skipped)   6    3    1   yes (M1 reached SQL through Won: implied)
    2026-04  A1-A7 (A1 won)                7    3    1   yes (04-30: 46 days)
    2026-05  Y1-Y4                         4    1    0   no  (05-31: 15 days)
    2026-06  U1                            1    0    0   no

Monthly, --cohorts 3 (the default): the last three mature months, 2026-02 to 2026-04 (January is
older, its 100% rates are not used). Pooled: MQL 7+6+7 = 20, SQL 4+3+3 = 10, Won 2+1+1 = 4.
Rates: MQL->SQL 10/20 = 0.5, SQL->Won 4/10 = 0.4.

Wilson score interval, z = the two-sided normal quantile (80%: z = 1.2815516, z² = 1.6423744;
90%: z = 1.6448536, z² = 2.7055435):

    low, high = (p + z²/2n -/+ z·sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n)

    80%, 10/20: 1 + z²/n = 1.0821187; centre (0.5 + 0.0410594) / 1.0821187 = 0.5;
                half = 1.2815516 / 1.0821187 · sqrt(0.0125 + 0.0010265) = 0.137738  -> [0.362262, 0.637738]
    80%, 4/10:  1 + z²/n = 1.1642374; centre (0.4 + 0.0821187) / 1.1642374 = 0.414107;
                half = 1.2815516 / 1.1642374 · sqrt(0.024 + 0.0041059) = 0.184541   -> [0.229566, 0.598648]
    90%, 10/20: 1 + z²/n = 1.1352772; centre 0.5; half 0.172596                    -> [0.327404, 0.672596]
    90%, 4/10:  1 + z²/n = 1.2705543; centre 0.421294; half 0.227067              -> [0.194227, 0.648361]

Needs for --target Won=8 (rounded up to whole leads; the high need uses the low rates):

    Won  8
    SQL  8 / 0.4 = 20;         low 8 / 0.598648 = 13.36 -> 14;   high 8 / 0.229566 = 34.85 -> 35
    MQL  8 / (0.5·0.4) = 40;   low 8 / (0.637738·0.598648) = 20.95 -> 21;
                               high 8 / (0.362262·0.229566) = 96.20 -> 97
    at 90%: SQL 13 to 42 (8/0.648361 = 12.34, 8/0.194227 = 41.19);
            MQL 19 to 126 (8/(0.672596·0.648361) = 18.35, 8/(0.327404·0.194227) = 125.81)

--target SQL=5 needs MQL->SQL only, mature 10 days after a month's end: May is mature too (15
days), so the last three are 2026-03 to 2026-05: MQL 6+7+4 = 17, SQL 3+3+1 = 7 (Y1 in May).
    80%, 7/17: p = 0.4117647; 1 + z²/n = 1.0966103; centre (0.4117647 + 0.0483052) / 1.0966103 = 0.419538;
               half = 1.2815516 / 1.0966103 · sqrt(0.0142480 + 0.0014207) = 0.146285  -> [0.273253, 0.565823]
    MQL 5 / (7/17) = 12.14 -> 13; low 5 / 0.565823 = 8.84 -> 9; high 5 / 0.273253 = 18.30 -> 19

Lead times, among the four winners of the cohorts, both dates their own:
    MQL->Won: F1 02-02 -> 02-22 = 20, F2 02-03 -> 02-28 = 25, M1 03-02 -> 04-01 = 30,
              A1 04-01 -> 05-06 = 35: median (25 + 30) / 2 = 27.5, 4 leads
    SQL->Won: F1 02-10 -> 02-22 = 12, F2 02-12 -> 02-28 = 16, A1 04-26 -> 05-06 = 10; M1 has no
              SQL date of its own (its borrowed one would be 0 days): median 12, 3 leads
The target period is the month after the as-of date's: 2026-07 (07-01 to 07-31). Arrive from/by:
those days minus the median, whole days half up: MQL 28 -> 2026-06-03 to 2026-07-03 (06-03 is
before the as-of date: under way already); SQL 12 -> 2026-06-19 to 2026-07-19.

Quarterly: only 2026-Q1 is mature (Q2 ends 06-30, after the as-of date), so 1 of the 3 asked for.
Q1 = January to March: MQL 5+7+6 = 18, SQL 5+4+3 = 12, Won 5+2+1 = 8. Rates 12/18 = 8/12 = 2/3.
Won=8: SQL 8/(2/3) = 12, MQL 8/(4/9) = 18 (floating point says 12.000000000000002 and
18.000000000000004: still 12 and 18 leads). MQL->Won days: J1-J5 15 each, F1 20, F2 25, M1 30:
median 15; SQL->Won: J1-J5 10 each, F1 12, F2 16: median 10.
"""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.conftest import FIXTURES, SAMPLE, run

from funnelcli import api
from funnelcli.errors import FunnelError
from funnelcli.measures.plan_report import leads_needed, wilson

PLAN = FIXTURES / "plan"
LEADS, DEFS = PLAN / "leads.csv", PLAN / "plan.yml"


def _plan(*args: str):
    return run("plan", LEADS, "-d", DEFS, *args)


def _json(*args: str) -> dict:
    result = _plan(*args, "-f", "json", "-q")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def _rows(text: str, title: str) -> list[list[str]]:
    """Return the body rows of the table under `title` (after its header's rule, before its
    notes), split on whitespace."""
    lines = text.split(title + "\n", 1)[1].split("\n\n", 1)[0].splitlines()[3:]  # underline, header, rule
    return [line.split() for line in lines if ": " not in line]


# --------------------------------------------------------------------------------------------
# The golden plan, by hand (the module docstring derives every number)


def test_monthly_plan_as_people_read_it():
    result = _plan("--target", "Won=8", "--period", "month", "--columns", "all")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert out.startswith("Plan: 8 Won in a month\n")
    assert ("Summary      To reach 8 Won in 2026-07 (the month after the as-of date): about 40 MQL (21 to 97), arriving "
            "from about 2026-06-03 to 2026-07-03 (27.5 days ahead: the median from MQL to Won); under way already at the "
            "as-of date 2026-06-15.\n") in out
    assert ("Cohorts      the last 3 months by entry into MQL mature for MQL->Won (30 days after the month's last day): "
            "2026-02 to 2026-04, 20 leads\n") in out
    assert "Target       8 Won in 2026-07 (2026-07-01 to 2026-07-31)\n" in out
    assert "Wilson score interval at 80% (z = 1.2816)" in out
    # Stage, Needed, Low, High, Rate to Won, Days to Won, Leads timed, Arrive from, Arrive by
    assert _rows(out, "Leads needed for 8 Won in 2026-07") == [
        ["MQL", "40", "21", "97", "20.0%", "27.5", "4", "2026-06-03", "2026-07-03"],
        ["SQL", "20", "14", "35", "40.0%", "12", "3", "2026-06-19", "2026-07-19"],
        ["Won", "8", "8", "8", "100.0%", "0", "4", "2026-07-01", "2026-07-31"],
    ]
    # Step, Converted, Of, Rate, Low, High (the bounds to one decimal: 36.2262%, 63.7738%, 22.9566%, 59.8648%)
    assert _rows(out, "Step rates of the cohorts") == [
        ["MQL->SQL", "10", "20", "50.0%", "36.2%", "63.8%"],
        ["SQL->Won", "4", "10", "40.0%", "23.0%", "59.9%"],
    ]
    assert _rows(out, "Cohorts used") == [["2026-02", "7", "4", "2"], ["2026-03", "6", "3", "1"], ["2026-04", "7", "3", "1"]]
    assert "Rows: 30 rows read = 30 leads in the report + 0 excluded." in out


def test_json_carries_rates_bounds_cohorts_needs_and_lead_times():
    doc = _json("--target", "Won=8", "--period", "month")
    assert doc["kind"] == "plan"
    assert doc["target"] == {"stage": "Won", "leads": 8, "period": "month", "period_label": "2026-07",
                             "period_start": "2026-07-01", "period_end": "2026-07-31"}
    assert doc["interval"]["method"] == "wilson" and doc["interval"]["confidence"] == 0.8
    assert doc["interval"]["z"] == pytest.approx(1.2815516, abs=1e-7)
    assert doc["cohorts_used"] == {"period": "month", "periods": ["2026-02", "2026-03", "2026-04"], "requested": 3,
                                   "maturity_days": 30, "leads": 20}
    rates = {r["step"]: r for r in doc["tables"]["rates"]}
    assert (rates["MQL->SQL"]["converted"], rates["MQL->SQL"]["reached"], rates["MQL->SQL"]["rate"]) == (10, 20, 0.5)
    assert (rates["SQL->Won"]["converted"], rates["SQL->Won"]["reached"], rates["SQL->Won"]["rate"]) == (4, 10, 0.4)
    assert rates["MQL->SQL"]["rate_low"] == pytest.approx(0.362262, abs=1e-6)
    assert rates["MQL->SQL"]["rate_high"] == pytest.approx(0.637738, abs=1e-6)
    assert rates["SQL->Won"]["rate_low"] == pytest.approx(0.229566, abs=1e-6)
    assert rates["SQL->Won"]["rate_high"] == pytest.approx(0.598648, abs=1e-6)
    needs = {r["stage"]: r for r in doc["tables"]["needs"]}
    assert [(needs[s]["need"], needs[s]["need_low"], needs[s]["need_high"]) for s in ("MQL", "SQL", "Won")] == [
        (40, 21, 97), (20, 14, 35), (8, 8, 8)]
    assert [(needs[s]["median_days_to_target"], needs[s]["leads_timed"]) for s in ("MQL", "SQL")] == [(27.5, 4), (12, 3)]
    assert (needs["MQL"]["arrive_from"], needs["MQL"]["arrive_by"]) == ("2026-06-03", "2026-07-03")
    assert [r["period"] for r in doc["tables"]["cohorts"]] == ["2026-02", "2026-03", "2026-04"]


def test_ninety_percent_by_hand():
    needs = {r["stage"]: r for r in _json("--target", "Won=8", "--period", "month", "--confidence", "90%")["tables"]["needs"]}
    assert [(needs[s]["need"], needs[s]["need_low"], needs[s]["need_high"]) for s in ("MQL", "SQL")] == [(40, 19, 126), (20, 13, 42)]


def test_a_target_before_the_last_stage():
    doc = _json("--target", "sql=5", "--period", "month")
    needs = {r["stage"]: r for r in doc["tables"]["needs"]}
    assert list(needs) == ["MQL", "SQL"]  # the stage is matched in any case; nothing after it
    assert (needs["MQL"]["need"], needs["MQL"]["need_low"], needs["MQL"]["need_high"]) == (13, 9, 19)
    assert doc["cohorts_used"]["periods"] == ["2026-03", "2026-04", "2026-05"]  # May: mature for MQL->SQL


def test_quarterly_takes_the_mature_quarters_there_are():
    doc = _json("--target", "Won=8")  # --period quarter is the default
    assert doc["cohorts_used"]["periods"] == ["2026-Q1"] and doc["cohorts_used"]["leads"] == 18
    assert doc["target"]["period_label"] == "2026-Q3"
    needs = {r["stage"]: r for r in doc["tables"]["needs"]}
    assert (needs["SQL"]["need"], needs["MQL"]["need"]) == (12, 18)  # 2/3 each, not 13 and 19
    assert (needs["MQL"]["median_days_to_target"], needs["SQL"]["median_days_to_target"]) == (15, 10)
    text = _plan("--target", "Won=8", "-q").stdout
    assert "2026-Q1, 18 leads (asked for 3: only 1 is mature)" in text


def test_cohorts_option_takes_more_or_fewer():
    assert _json("--target", "Won=8", "--period", "month", "--cohorts", "1")["cohorts_used"]["periods"] == ["2026-04"]
    doc = _json("--target", "Won=8", "--period", "month", "--cohorts", "4")
    assert doc["cohorts_used"]["periods"] == ["2026-01", "2026-02", "2026-03", "2026-04"]
    rates = {r["step"]: (r["converted"], r["reached"]) for r in doc["tables"]["rates"]}
    assert rates == {"MQL->SQL": (15, 25), "SQL->Won": (9, 15)}  # January adds 5/5 and 5/5


def test_windows_count_as_in_trends():
    # --set stages.MQL.window_days=9: an SQL counts only within 9 days of MQL (9 itself counts):
    # F1 8, F2 9, M2 7, M3 8, A2 8 do; F3 10, F4 14, M1 30 (its SQL date is Won's), A1 25, A3 12
    # don't: 5 of 20. Of those 5, F1 and F2 won: 2 of 5. Maturity 9 + 20 = 29 days: still
    # 2026-02 to 2026-04. Won=8: SQL 8 / 0.4 = 20, MQL 8 / (0.25 * 0.4) = 80. Days among F1, F2:
    # MQL->Won 20, 25 (median 22.5); SQL->Won 12, 16 (median 14).
    doc = _json("--target", "Won=8", "--period", "month", "--set", "stages.MQL.window_days=9")
    assert doc["cohorts_used"]["periods"] == ["2026-02", "2026-03", "2026-04"] and doc["cohorts_used"]["maturity_days"] == 29
    assert [(r["converted"], r["reached"]) for r in doc["tables"]["rates"]] == [(5, 20), (2, 5)]
    needs = {r["stage"]: r for r in doc["tables"]["needs"]}
    assert (needs["MQL"]["need"], needs["SQL"]["need"]) == (80, 20)
    assert (needs["MQL"]["median_days_to_target"], needs["SQL"]["median_days_to_target"]) == (22.5, 14)


def test_since_selects_the_cohorts():
    # from 2026-03-01: March and April are mature (May is not): MQL 6+7 = 13, SQL 3+3 = 6, Won 1+1 = 2
    doc = _json("--target", "Won=8", "--period", "month", "--since", "2026-03-01")
    assert doc["cohorts_used"]["periods"] == ["2026-03", "2026-04"] and doc["cohorts_used"]["leads"] == 13
    assert [(r["converted"], r["reached"]) for r in doc["tables"]["rates"]] == [(6, 13), (2, 6)]
    text = _plan("--target", "Won=8", "--period", "month", "--since", "2026-03-01", "-q").stdout
    assert ("2026-03 to 2026-04, 13 leads (asked for 3: only 2 are mature); among the leads that reached MQL from "
            "2026-03-01 to 2026-06-15\n") in text


def test_csv_writes_the_needs():
    result = _plan("--target", "Won=8", "--period", "month", "-f", "csv", "-q")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].startswith("stage,need,need_low,need_high,")
    assert lines[1].startswith("MQL,40,21,97,")


# --------------------------------------------------------------------------------------------
# Edge and error cases


def test_the_first_stage_is_trivial():
    result = _plan("--target", "MQL=50", "-q")
    assert result.exit_code == 0, result.stderr
    assert "50 leads must enter MQL, the first stage: there is no rate to plan with." in result.stdout
    assert "Step rates" not in result.stdout
    doc = _json("--target", "MQL=50")
    assert [(r["stage"], r["need"], r["need_low"], r["need_high"]) for r in doc["tables"]["needs"]] == [("MQL", 50, 50, 50)]
    assert doc["cohorts_used"] is None


def test_unknown_stage_suggests_one_before_reading_the_export():
    result = run("plan", "no-such-export.csv", "-d", DEFS, "--target", "Wn=8")
    assert result.exit_code == 2
    assert "--target 'Wn': no such stage (did you mean 'Won'?); stages are MQL, SQL, Won" in result.stderr


@pytest.mark.parametrize("value", ["Won", "Won=0", "Won=-3", "Won=many", "=8", "Won=2.5"])
def test_a_target_must_be_stage_equals_n(value):
    result = _plan("--target", value)
    assert result.exit_code == 2
    assert "give STAGE=N" in result.stderr


def test_target_is_required():
    result = _plan()
    assert result.exit_code == 2 and "--target" in result.stderr


@pytest.mark.parametrize("value", ["90%", "90", "0.9"])
def test_confidence_reads_percent_or_fraction(value):
    assert _json("--target", "Won=8", "--period", "month", "--confidence", value)["interval"]["confidence"] == pytest.approx(0.9)


@pytest.mark.parametrize("value", ["100%", "0.4", "ninety", "1"])
def test_confidence_out_of_range(value):
    result = _plan("--target", "Won=8", "--confidence", value)
    assert result.exit_code == 2 and "--confidence" in result.stderr


def test_no_mature_cohort_says_what_to_do():
    result = _plan("--target", "Won=8", "--period", "month", "--as-of", "2026-02-15")
    assert result.exit_code == 2
    assert ("no month's cohort is mature for MQL->Won yet: a month must have ended 30 days before the as-of date "
            "2026-02-15 (by 2026-01-16)") in result.stderr
    assert "give a later --as-of, or a target stage nearer MQL" in result.stderr
    quarterly = _plan("--target", "Won=8", "--as-of", "2026-04-15")  # Q1 ended 15 days before
    assert quarterly.exit_code == 2 and "a shorter --period 'month'" in quarterly.stderr
    # before any lead had reached MQL: the leads have MQL dates, later ones (it said none had)
    early = _plan("--target", "Won=8", "--as-of", "2020-01-01")
    assert early.exit_code == 2 and "and no lead had reached MQL by then;" in early.stderr


def test_a_step_with_no_conversion_cannot_be_planned(write):
    leads = write("none.csv", "Id,MQL Date,SQL Date,Won Date\na,2026-01-05,2026-01-10,\nb,2026-01-06,,\nc,2026-03-30,,\n")
    result = run("plan", leads, "-d", DEFS, "--target", "Won=8", "--period", "month")
    assert result.exit_code == 2
    # mature: months ended 30 days or more before 03-30, January and February (no leads): MQL 2 (a, b), SQL 1 (a), Won 0
    assert ("funnelcli: error: --target Won=8: can't be planned from data: none of the 1 lead of the cohort 2026-01 "
            "that reached SQL reached Won (a rate of 0 needs infinitely many); take more cohorts (--cohorts N), or a "
            "target stage before Won\n") in result.stderr


def test_the_api_refuses_bad_values():
    f = api.run(LEADS, DEFS)
    for kwargs in ({"leads": 0}, {"leads": 8, "period": "week"}, {"leads": 8, "cohorts": 0}, {"leads": 8, "confidence": 1.0}):
        with pytest.raises(FunnelError):
            api.plan(f, "Won", **kwargs)


def test_an_export_with_no_dates(write):
    defs = write("flags.yml", "version: 1\ncolumns: {id: Id}\nstages:\n  - name: Lead\n  - name: Won\n    flag: Won\n")
    leads = write("flags.csv", "Id,Won\na,1\nb,0\n")
    result = run("plan", leads, "-d", defs, "--target", "Won=5")
    assert result.exit_code == 2 and "a plan needs dates" in result.stderr


# --------------------------------------------------------------------------------------------
# Properties


@given(n=st.integers(1, 5000), data=st.data(), confidence=st.floats(0.5, 0.995))
def test_the_interval_holds_the_rate_within_0_and_1(n, data, confidence):
    k = data.draw(st.integers(0, n))
    low, high = wilson(k, n, confidence)
    assert 0 <= low <= k / n <= high <= 1
    assert (low == 0) == (k == 0) and (high == 1) == (k == n)


@given(n=st.integers(1, 5000), data=st.data(), levels=st.tuples(st.floats(0.5, 0.99), st.floats(0.5, 0.99)))
def test_a_higher_confidence_gives_a_wider_interval(n, data, levels):
    k = data.draw(st.integers(0, n))
    lower, higher = sorted(levels)
    low1, high1 = wilson(k, n, lower)
    low2, high2 = wilson(k, n, higher)
    assert low2 <= low1 and high1 <= high2


steps = st.lists(st.tuples(st.integers(1, 400), st.integers(0, 400)).map(lambda t: (t[0], t[0] + t[1])), min_size=1, max_size=6)


@given(target=st.integers(1, 100_000), counts=steps, confidence=st.floats(0.5, 0.99))
def test_needs_never_decrease_up_the_funnel_and_the_point_lies_in_the_range(target, counts, confidence):
    rates = [k / n for k, n in counts]
    bounds = [wilson(k, n, confidence) for k, n in counts]
    need = leads_needed(target, rates)
    low = leads_needed(target, [b[1] for b in bounds])
    high = leads_needed(target, [b[0] for b in bounds])
    assert need[-1] == low[-1] == high[-1] == target
    for series in (need, low, high):
        assert all(a >= b for a, b in zip(series, series[1:]))
    assert all(lo <= n <= hi for lo, n, hi in zip(low, need, high))


def test_needs_round_up_whole_leads_only():
    assert leads_needed(120, [0.4]) == [300, 120]  # 120 / 0.4 is 300.00000000000006 in floating point
    assert leads_needed(8, [2 / 3, 2 / 3]) == [18, 12, 8]
    assert leads_needed(10, [0.3]) == [34, 10]  # 33.3 leads: 34


@pytest.mark.slow
def test_on_the_sample_a_higher_confidence_widens_every_range():
    f = api.run(SAMPLE, "definitions")
    narrow = api.plan(f, "Won", 120, confidence=0.8).table("needs").rows
    wide = api.plan(f, "Won", 120, confidence=0.95).table("needs").rows
    for a, b in zip(narrow, wide):
        assert a["need"] == b["need"]
        assert b["need_low"] <= a["need_low"] <= a["need"] <= a["need_high"] <= b["need_high"]
    assert [r["need"] for r in narrow] == sorted((r["need"] for r in narrow), reverse=True)
    assert not math.isclose(narrow[0]["need_high"], wide[0]["need_high"])


@pytest.mark.slow
@pytest.mark.parametrize("columns", [80, 100, 120, 200])
def test_on_a_terminal_no_line_is_too_wide_and_no_number_cut(columns):
    from tests.output.test_fit import on_terminal

    shown = on_terminal(["plan", str(SAMPLE), "--target", "Won=120"], columns)
    assert "Leads needed for 120 Won" in shown
    assert not [line for line in shown.splitlines() if len(line) > columns]
    assert "…" not in shown
