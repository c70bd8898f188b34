"""Purgatory, leakage, age bands, the stuck list and markets on tests/fixtures/purgatory.csv.

As of 2024-06-30 (its latest date). Stages MQL (SLA 3) -> SAL (SLA 10; touched and dropped:
at most 2 touches, idle 7+ days) -> SQL (SLA 20) -> Won. Days in a stage = as-of minus entry.

  lead owner MQL    SAL    SQL    Won   status  touches last act. amount  where it is on 06-30
  L1   Ann   06-29                      Open    0                         MQL 1 day: within SLA
  L2   Ann   06-27                      Open    0                         MQL 3 days: at the SLA, within
  L3   Bob   06-26                      Open    0                         MQL 4 days: stuck, 1-2x SLA
  L4   -     06-20                      Open    0                         MQL 10 days: stuck, 2-4x
  L5   Bob   05-01                      Open    0                 1000    MQL 60 days: stuck, over 4x
  L6   Ann   05-01                      Unqual. 0                         exited at MQL (Disqualified)
  L7   Ann   05-01  05-02               Open    1       05-03     500     SAL 59 days: stuck, over 4x;
                                                                          idle 58 days: touched and dropped
  L8   Bob   06-01  06-25               Open    0       -                 SAL 5 days, idle 5: in progress
  L9   Bob   06-01  06-15               Open    2       06-16             SAL 15: stuck 1-2x; idle 14: dropped
  L10  Ann   06-01  06-20               Open    5       06-21             SAL 10: within; 5 touches: not dropped
  L11  Ann   06-01  06-22               Open    1       06-22             SAL 8: within; idle 8: dropped
  L12  Bob   04-01  04-02  04-10        Open    9       04-12     20000   SQL 81 days: stuck, over 4x (80)
  L13  Bob   04-01  04-02  04-10        Lost    9       04-20     3000    exited at SQL (Lost)
  L14  Ann   04-01  04-02  04-10  05-01 Cust.   12      05-01     7000    won
  L15  Ann   -                          New                               never reached MQL
  L16  Cid   (06-28) 06-28              Open    0                         SAL 2 days (MQL skipped)

Markets: A = employees >= 500 (L1 600, L5 2000, L15 900, L16 600), B = country DE (L2; L5, L15
and L16 meet B too, but A comes first).
"""

from __future__ import annotations

import json

import pytest
from tests.conftest import FIXTURES, FLAG_DEFINITIONS, FLAG_SAMPLE, run

from funnelcli import api, definitions
from funnelcli.engine import funnel
from funnelcli.errors import FunnelError
from funnelcli.measures import markets, purgatory

CSV = str(FIXTURES / "purgatory.csv")
YML = str(FIXTURES / "purgatory.yml")


@pytest.fixture(scope="module")
def defs():
    return definitions.load([YML])


@pytest.fixture(scope="module")
def loaded(defs):
    return api.read_export(CSV, defs)


@pytest.fixture(scope="module")
def f(loaded, defs):
    return funnel.at_as_of(loaded, defs)


def rows_by(rows, key):
    return {r[key]: r for r in rows}


def test_stuck_by_stage(f):
    rows = rows_by(purgatory.stage_rows(f, [0, 1, 2, 3]), "stage")
    mql, sal, sql, won = rows["MQL"], rows["SAL"], rows["SQL"], rows["Won"]
    # MQL: 15 reached (all but L15, L16's implied); 9 to SAL; L6 exits; L3, L4, L5 stuck; L1, L2 in progress
    assert (mql["reached"], mql["converted"], mql["exited"], mql["stuck"], mql["in_progress"]) == (15, 9, 1, 3, 2)
    assert mql["exited:Disqualified"] == 1
    assert mql["stuck_share"] == pytest.approx(3 / 15)
    assert (mql["median_days_stuck"], mql["max_days_stuck"]) == (10, 60)  # ages 4, 10, 60
    assert mql["value_at_risk"] == 1000  # L5
    # SAL: 9 reached; L12-14 to SQL; L7 (59) and L9 (15) stuck; L8, L10, L11, L16 in progress
    assert (sal["reached"], sal["converted"], sal["exited"], sal["stuck"], sal["in_progress"]) == (9, 3, 0, 2, 4)
    assert (sal["median_days_stuck"], sal["max_days_stuck"]) == (37, 59)
    assert sal["value_at_risk"] == 500
    # SQL: L12 stuck 81 days, L13 lost, L14 won
    assert (sql["reached"], sql["converted"], sql["exited"], sql["stuck"]) == (3, 1, 1, 1)
    assert sql["exited:Lost"] == 1
    assert sql["value_at_risk"] == 20000
    # Won: the last stage, no SLA
    assert won["stuck"] is None and won["value_at_risk"] is None and won["stuck_share"] is None


def test_buckets_partition_every_stage(f):
    for row in purgatory.stage_rows(f, [0, 1, 2]):
        assert row["converted"] + row["exited"] + row["stuck"] + row["in_progress"] == row["reached"]


def test_the_two_purgatories(f):
    named = rows_by(purgatory.named_purgatories(f, [0, 1, 2, 3]), "purgatory")
    never = named["Never accepted"]
    assert (never["stage"], never["leads"], never["max_days_in_stage"], never["value_at_risk"]) == ("MQL", 3, 60, 1000)
    assert never["share_of_reached"] == pytest.approx(3 / 15)
    dropped = named["Touched and dropped"]
    # L7 (1 touch, idle 58), L9 (2, idle 14), L11 (1, idle 8 though within the SLA); not L8 (idle
    # only 5: counted from entering SAL, as it has no activity), L10 (5 touches), L16 (idle 2)
    assert (dropped["stage"], dropped["leads"], dropped["median_days_in_stage"], dropped["max_days_in_stage"]) == ("SAL", 3, 15, 59)
    assert dropped["share_of_reached"] == pytest.approx(3 / 9)
    assert "at most 2 touches and no activity for 7+ days" in dropped["rule"]


def test_touched_and_dropped_needs_a_rule(f):
    assert purgatory.touched_and_dropped(f, 0) is None  # MQL has no activity rule
    ids = f.column("id").to_numpy(dtype=object)
    assert sorted(ids[purgatory.touched_and_dropped(f, 1)]) == ["L11", "L7", "L9"]


def test_age_bands(f):
    bands = rows_by(purgatory.age_bands(f, [0, 1, 2, 3]), "stage")
    assert "Won" not in bands  # no SLA, no bands
    # MQL (SLA 3): L1 1, L2 3 within; L3 4 in 1-2x; L4 10 in 2-4x; L5 60 over 4x
    assert [bands["MQL"][k] for k in ("within_sla", "sla_1_2x", "sla_2_4x", "sla_over_4x")] == [2, 1, 1, 1]
    # SAL (SLA 10): L16 2, L8 5, L11 8, L10 10 within; L9 15 in 1-2x; L7 59 over 4x
    assert [bands["SAL"][k] for k in ("within_sla", "sla_1_2x", "sla_2_4x", "sla_over_4x")] == [4, 1, 0, 1]
    # SQL (SLA 20): L12 81 > 80
    assert [bands["SQL"][k] for k in ("within_sla", "sla_1_2x", "sla_2_4x", "sla_over_4x")] == [0, 0, 0, 1]
    for row in bands.values():  # the bands past the SLA are the stuck leads
        assert row["sla_1_2x"] + row["sla_2_4x"] + row["sla_over_4x"] == rows_by(purgatory.stage_rows(f, [0, 1, 2]), "stage")[row["stage"]]["stuck"]


def test_leakage_shares(f):
    leak = rows_by(purgatory.leakage(f, [0, 1, 2, 3]), "stage")
    assert (leak["MQL"]["exited:Disqualified"], leak["MQL"]["share:Disqualified"]) == (1, pytest.approx(1 / 15))
    assert (leak["SQL"]["exited:Lost"], leak["SQL"]["share:Lost"]) == (1, pytest.approx(1 / 3))
    assert leak["SAL"]["exited_share"] == 0


def test_ranked_by_owner(f):
    rows = purgatory.by_group(f, "owner", [0, 1, 2, 3])
    # stuck: Bob L3, L5, L9, L12; Ann L7; blank L4; Cid none. Ties: names first, blank last.
    assert [(r["group"], r["stuck"]) for r in rows] == [("Bob", 4), ("Ann", 1), ("(blank)", 1), ("Cid", 0)]
    bob = rows[0]
    assert (bob["stuck:MQL"], bob["stuck:SAL"], bob["stuck:SQL"], bob["touched_and_dropped"]) == (2, 1, 1, 1)
    assert bob["reached"] == 6 and bob["stuck_share"] == pytest.approx(4 / 6)
    # Bob's stuck leads' days: 4, 60, 15, 81 -> median 37.5, max 81; their amounts 1000 + 20000
    assert (bob["median_days_stuck"], bob["max_days_stuck"], bob["value_at_risk"]) == (37.5, 81, 21000)
    assert rows[1]["touched_and_dropped"] == 2  # Ann: L7, L11


def test_stuck_list_oldest_first_and_filtered(f):
    rows, fields, _ = purgatory.stuck_list(f, [0, 1, 2, 3])
    assert [(r["id"], r["stage"], r["days_in_stage"]) for r in rows] == [
        ("L12", "SQL", 81), ("L5", "MQL", 60), ("L7", "SAL", 59), ("L9", "SAL", 15),
        ("L4", "MQL", 10), ("L11", "SAL", 8), ("L3", "MQL", 4),
    ]
    by_id = rows_by(rows, "id")
    assert by_id["L11"]["why"] == "touched <= 2, idle 7+ days" and by_id["L11"]["days_over_sla"] is None
    assert by_id["L7"]["why"] == "past SLA; touched <= 2, idle 7+ days"
    assert by_id["L12"]["days_over_sla"] == 61 and by_id["L12"]["entered"] == "2024-04-10"
    assert by_id["L7"]["owner"] == "Ann" and by_id["L7"]["touches"] == 1 and by_id["L7"]["last_activity"] == "2024-05-03"
    assert by_id["L4"]["owner"] is None
    assert fields[:3] == ["owner", "touches", "last_activity"] and "market" in fields
    filtered, _, _ = purgatory.stuck_list(f, [0, 1, 2, 3], min_days=10)
    assert [r["id"] for r in filtered] == ["L12", "L5", "L7", "L9", "L4"]  # 10 days is 10 or more
    sal_only, _, _ = purgatory.stuck_list(f, [1])
    assert [r["id"] for r in sal_only] == ["L7", "L9", "L11"]


def test_unknown_stage_is_an_error(f):
    with pytest.raises(FunnelError, match="did you mean 'SAL'"):
        purgatory.stage_indexes(f, "SALL")
    assert purgatory.stage_indexes(f, "sql") == [2]


def test_markets_first_match_wins(f):
    rows = rows_by(markets.by_market(f), "market")
    assert list(rows) == ["A", "B", "out of market"]  # the definitions' order
    # A: L1, L5, L16 reached MQL (L15 never did); B: L2 only; the other 11 are out of market
    assert [rows["A"][f"reached:{s}"] for s in ("MQL", "SAL", "SQL", "Won")] == [3, 1, 0, 0]
    assert [rows["B"][f"reached:{s}"] for s in ("MQL", "SAL", "SQL", "Won")] == [1, 0, 0, 0]
    assert [rows["out of market"][f"reached:{s}"] for s in ("MQL", "SAL", "SQL", "Won")] == [11, 8, 3, 1]
    assert rows["A"]["rate:MQL->SAL"] == pytest.approx(1 / 3)
    assert rows["B"]["rate:SAL->SQL"] is None  # nobody reached SAL: no rate, not 0
    assert rows["out of market"]["cumulative_rate"] == pytest.approx(1 / 11)


def test_market_fit(f):
    fit = rows_by(markets.market_fit(f), "stage")
    assert (fit["MQL"]["in_market"], fit["MQL"]["out_of_market"]) == (4, 11)
    assert fit["MQL"]["market_fit"] == pytest.approx(4 / 15)
    assert (fit["SAL"]["in_market"], fit["SAL"]["market_fit"]) == (1, pytest.approx(1 / 9))
    assert fit["Won"]["market_fit"] == 0


def test_market_coverage_for_validate(loaded, defs):
    unmet, overlaps = markets.coverage(loaded, defs)
    assert unmet == []
    # A and B overlap on L5, L15 and L16 (employees >= 500 in DE), whether or not they reached a stage
    assert overlaps == [("A", "B", 3)]


def test_every_lead_in_exactly_one_market(loaded):
    codes = loaded.leads["market"].cat.codes.to_numpy()
    assert (codes >= 0).all()
    assert list(loaded.leads["market"].cat.categories) == ["A", "B", "out of market"]


# --------------------------------------------------------------------------------------------
# The commands


def test_purgatory_command_csv_list():
    result = run("purgatory", CSV, "-d", YML, "--list", "--min-days", "10", "-f", "csv", "-q")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("id,stage,entered,days_in_stage,days_over_sla,why,owner,touches,last_activity")
    assert [line.split(",")[0] for line in lines[1:]] == ["L12", "L5", "L7", "L9", "L4"]
    assert lines[1].startswith("L12,SQL,2024-04-10,81,61,past SLA,Bob,9,2024-04-12")
    assert result.stderr == ""


def test_purgatory_command_by_owner_json():
    import json

    result = run("purgatory", CSV, "-d", YML, "--by", "owner", "-f", "json", "-q")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["kind"] == "purgatory" and doc["as_of"] == "2024-06-30" and doc["by"] == "owner"
    assert set(doc["tables"]) == {"stages", "purgatories", "age_bands", "leakage", "groups"}
    assert doc["tables"]["groups"][0] == {
        "group": "Bob", "stuck": 4, "stuck:MQL": 2, "stuck:SAL": 1, "stuck:SQL": 1, "touched_and_dropped": 1,
        "reached": 6, "stuck_share": pytest.approx(4 / 6), "median_days_stuck": 37.5, "max_days_stuck": 81, "value_at_risk": 21000,
    }


def test_purgatory_command_one_stage_text():
    result = run("purgatory", CSV, "-d", YML, "--stage", "SAL", "-f", "text", "-q")
    assert result.exit_code == 0, result.stderr
    assert "Stage        SAL" in result.stdout
    assert "Never accepted" not in result.stdout  # the first stage is not in the report
    assert "Touched and dropped  SAL        3" in result.stdout


def test_min_days_needs_list():
    result = run("purgatory", CSV, "-d", YML, "--min-days", "3")
    assert result.exit_code == 2 and "--min-days goes with --list" in result.stderr


def test_market_filter_in_purgatory():
    result = run("purgatory", CSV, "-d", YML, "--market", "A", "--list", "-f", "csv", "-q")
    assert [line.split(",")[0] for line in result.stdout.splitlines()[1:]] == ["L5"]  # A's only stuck lead


def test_markets_command_markdown():
    result = run("markets", CSV, "-d", YML, "-f", "markdown", "-q")
    assert result.exit_code == 0, result.stderr
    # A: 3 MQL, 1 SAL; MQL->SAL 1/3, SAL->SQL 0/1, SQL->Won has no SQL (no rate), MQL->Won 0/3
    assert "| A | 3 | 1 | 0 | 0 | 33.3% | 0.0% | - | 0.0% |" in result.stdout
    # brackets are escaped so that Markdown never reads a link in a note: \[DE\] shows as [DE]
    assert "A: employees >= 500. B: country in \\[DE\\]." in result.stdout


def test_markets_command_offers_no_by():
    # markets is the breakdown by market; --by is neither in its help nor accepted
    result = run("markets", CSV, "-d", YML, "--by", "owner")
    assert result.exit_code == 2 and "No such option '--by'" in result.stderr
    assert "--by FIELD" not in run("markets", "--help").stdout


def test_validate_warns_about_market_overlap_and_unmet(write):
    defs = write("defs.yml", open(YML).read() + "  - {name: Nowhere, when: {country: Mars}}\n")
    result = run("validate", str(defs), "--data", CSV)
    assert result.exit_code == 0  # warnings don't fail
    lines = result.stdout.splitlines()
    assert any("warning: market 'B': 3 leads also meet market 'A', which comes first and wins (market-overlap)" in line for line in lines)
    assert any(line.endswith("warning: market 'Nowhere': no lead of " + CSV + " meets its rule (market-unmet)") for line in lines)
    assert any(line.startswith(f"{defs}:24:5:") for line in lines)  # the Nowhere market: the line after purgatory.yml's 23
    assert lines[-1].startswith(f"{defs}:24:37: warning: market 'Nowhere': 'Mars' is in no row")  # and its value (drift-value)


def test_purgatory_rule_without_activity_columns_is_a_validate_error(write):
    text = open(YML).read().replace("  touches: Touches\n", "")
    result = run("validate", str(write("defs.yml", text)))
    assert result.exit_code == 1
    assert "stage 'SAL' has a purgatory rule on activity but columns does not map touches (unmapped-field)" in result.stdout


DEALS_DEFS = """version: 1
columns: {id: Id, owner: Owner, stage_now: Stage, stage_since: Since, touches: Touches, last_activity: Last}
stage_column: stage_now
stages:
  - {name: Qualified, date: Created, sla_days: 10}
  - {name: Contact Made, sla_days: 10, purgatory: {touches_at_most: 2, idle_days: 10}}
"""


def deals(write, *rows: str):
    """Return (export, definitions) of a status-column deals export with these rows
    (Id,Owner,Stage,Created,Since,Touches,Last) under DEALS_DEFS."""
    return (write("deals.csv", "Id,Owner,Stage,Created,Since,Touches,Last\n" + "".join(r + "\n" for r in rows)),
            write("defs.yml", DEALS_DEFS))


def test_the_stuck_list_says_which_leads_the_stage_table_counts_in_progress(write):
    # Contact Made (SLA 10, touched at most 2 and idle 10+ days), as of 06-30:
    #   C: stage since 06-01, 29 days: past the SLA (stuck); 5 touches, so not dropped
    #   B: stage since 06-25, 5 days: within the SLA; 1 touch, idle since 06-01: touched and dropped
    #   A: no stage since: age unknown (in progress); 1 touch, idle since 05-01: touched and dropped
    #   D: no touches or activity recorded: neither
    export, defs = deals(write, "A,Ann,Contact Made,2024-05-01,,1,2024-05-01", "B,Ann,Contact Made,2024-05-02,2024-06-25,1,2024-06-01",
                         "C,Ann,Contact Made,2024-05-03,2024-06-01,5,2024-06-29", "D,Ann,Contact Made,2024-05-04,,,",
                         "E,Ann,Qualified,2024-06-30,,,")
    listed = run("purgatory", export, "-d", defs, "--list")
    assert listed.exit_code == 0, listed.stderr
    assert ("3 stuck leads, oldest first: 1 past the SLA (Stuck in the stage table), 2 touched and dropped only "
            "(In progress there: within the SLA, or of unknown age).") in listed.stdout
    stages = run("purgatory", export, "-d", defs, "-f", "json")
    (row,) = [r for r in json.loads(stages.stdout)["tables"]["stages"] if r["stage"] == "Contact Made"]
    assert (row["stuck"], row["in_progress"]) == (1, 3)


def test_value_at_risk_is_to_the_cent_in_json_and_csv(monkeypatch):
    # the sample's stuck amounts at Opportunity sum to 1,674,516.92 (float noise wrote 1674516.9200000002)
    import csv
    import io
    import re

    from tests.conftest import ROOT

    monkeypatch.chdir(ROOT)
    data = json.loads(run("purgatory", "samples/hubspot-contacts.csv", "--by", "owner", "-q", "-f", "json").stdout)
    values = [r["value_at_risk"] for t in data["tables"].values() for r in t if r.get("value_at_risk")]
    assert values and all(round(v, 2) == v and len(repr(float(v)).split(".")[-1]) <= 2 for v in values)
    text = run("purgatory", "samples/hubspot-contacts.csv", "-q", "-f", "csv").stdout
    risk = [row["value_at_risk"] for row in csv.DictReader(io.StringIO(text)) if row["value_at_risk"]]
    assert "1674516.92" in risk and not [v for v in risk if re.search(r"\.\d{3,}", v)]


def test_the_stuck_list_by_owner_is_a_block_per_owner():
    # the fixture's stuck list (7 leads): Bob has 4, Ann 2, a blank owner 1. By owner: Bob's block
    # first, then Ann's, then (blank); each oldest first; the owner column once, as the group
    result = run("purgatory", CSV, "-d", YML, "--list", "--by", "owner", "-q", "-f", "json")
    data = json.loads(result.stdout)
    plain = json.loads(run("purgatory", CSV, "-d", YML, "--list", "-q", "-f", "json").stdout)["tables"]["stuck_leads"]
    rows = data["tables"]["stuck_leads"]
    assert sorted(r["id"] for r in rows) == sorted(r["id"] for r in plain)  # the same leads, grouped
    assert [(r["group"], r["id"]) for r in rows] == [("Bob", "L12"), ("Bob", "L5"), ("Bob", "L9"), ("Bob", "L3"),
                                                    ("Ann", "L7"), ("Ann", "L11"), ("(blank)", "L4")]
    for group in ("Bob", "Ann"):
        days = [r["days_in_stage"] for r in rows if r["group"] == group]
        assert days == sorted(days, reverse=True)
    text = run("purgatory", CSV, "-d", YML, "--list", "--by", "owner", "-q", "-f", "text").stdout
    header = next(line for line in text.splitlines() if line.startswith("Owner"))
    assert header.split().count("Owner") == 1


def test_the_stuck_list_ranks_owners_as_the_stuck_by_table_does(write):
    # Contact Made (SLA 10; touched at most 2, idle 10+ days), as of 06-30. Ann: A1 stuck (since
    # 06-01, 29 days), A2 and A3 touched and dropped within the SLA (since 06-25). Bob: B1 and B2
    # stuck (since 06-05 and 06-10). 3 listed each; "Stuck by owner" ranks Bob (2 stuck) before Ann
    # (1): the list's blocks come in that order (they went by listed leads, then by name: Ann first).
    export, defs = deals(write, "A1,Ann,Contact Made,2024-05-01,2024-06-01,5,2024-06-29",
                         "A2,Ann,Contact Made,2024-05-02,2024-06-25,1,2024-06-01", "A3,Ann,Contact Made,2024-05-03,2024-06-25,1,2024-06-02",
                         "B1,Bob,Contact Made,2024-05-04,2024-06-05,5,2024-06-29", "B2,Bob,Contact Made,2024-05-05,2024-06-10,5,2024-06-29",
                         "Z,Cy,Qualified,2024-06-30,,,")
    groups = json.loads(run("purgatory", export, "-d", defs, "--by", "owner", "-q", "-f", "json").stdout)["tables"]["groups"]
    assert [(r["group"], r["stuck"]) for r in groups][:2] == [("Bob", 2), ("Ann", 1)]
    listed = json.loads(run("purgatory", export, "-d", defs, "--by", "owner", "--list", "-q", "-f", "json").stdout)
    assert [(r["group"], r["id"]) for r in listed["tables"]["stuck_leads"]] == [
        ("Bob", "B1"), ("Bob", "B2"), ("Ann", "A1"), ("Ann", "A2"), ("Ann", "A3")]  # each oldest first


def test_a_stage_with_no_sla_says_nothing_can_be_stuck_there(write):
    # Lead has no sla_days: its Stuck is 0 whatever the ages; the table says why (init writes none)
    export = write("e.csv", "Id,Created,Qualified\n1,2024-01-01,2024-01-05\n2,2024-01-02,\n3,2024-01-03,\n")
    defs = write("d.yml", "version: 1\ncolumns: {id: Id}\nstages:\n  - {name: Lead, date: Created}\n  - {name: Qualified, date: Qualified}\n")
    text = run("purgatory", export, "-d", defs, "-q", "-f", "text").stdout
    assert ("No SLA: Lead: no lead can be stuck there (Stuck 0); give it sla_days in the definitions to measure "
            "its purgatory.") in text
    assert "No SLA" not in run("purgatory", CSV, "-d", YML, "-q", "-f", "text").stdout  # only Won, the last, has none


def test_no_sla_advice_where_nothing_has_a_date(write):
    # a flag export has no dates: nothing can be stuck anywhere, which the report says once;
    # advice to set sla_days would not help
    export = write("f.csv", "Id,Converted\nA,yes\nB,no\n")
    defs = write("flag.yml", "version: 1\ncolumns: {id: Id}\nstages:\n  - name: Lead\n  - name: Converted\n    flag: Converted\n")
    text = run("purgatory", export, "-d", defs, "-q", "-f", "text").stdout
    assert "No SLA" not in text and "The export has no dates" in text


def test_an_export_with_no_dates_explains_no_days():
    # the flag sample has no dates: no as-of date, so the note says nothing of days at it
    doc = json.loads(run("purgatory", FLAG_SAMPLE, "-d", FLAG_DEFINITIONS, "-f", "json", "-q").stdout)
    assert doc["as_of"] is None
    text = run("purgatory", FLAG_SAMPLE, "-d", FLAG_DEFINITIONS, "-f", "text", "-q").stdout
    assert "Stuck: reached the stage, neither moved on nor exited, and older in it than its SLA.\n" in text
    assert "as-of date" not in text.split("Stuck by stage", 1)[1].split("Leakage", 1)[0]


def test_a_replays_stuck_list_leaves_out_what_happened_after_the_as_of_date(write):
    # As of 06-30, B's last activity 07-05 was not known yet: the list shows none (it showed
    # 2024-07-05) and a note says why; A's 06-01 stays. Both stuck (SLA 10, since 06-01 and 06-05).
    export, defs = deals(write, "A,Ann,Contact Made,2024-05-01,2024-06-01,5,2024-06-01",
                         "B,Bob,Contact Made,2024-05-02,2024-06-05,5,2024-07-05")
    result = run("purgatory", export, "-d", defs, "--list", "--as-of", "2024-06-30", "-q", "-f", "json")
    rows = json.loads(result.stdout)["tables"]["stuck_leads"]
    assert [(r["id"], r["last_activity"]) for r in rows] == [("A", "2024-06-01"), ("B", None)]
    text = run("purgatory", export, "-d", defs, "--list", "--as-of", "2024-06-30", "-q").stdout
    assert "Last activity: left out where after the as-of date 2024-06-30 (1 lead): not known then." in text
    # no replay (as of the export's own latest date, 07-05): shown as the export has it
    rows = json.loads(run("purgatory", export, "-d", defs, "--list", "-q", "-f", "json").stdout)["tables"]["stuck_leads"]
    assert [(r["id"], r["last_activity"]) for r in rows] == [("A", "2024-06-01"), ("B", "2024-07-05")]


# --------------------------------------------------------------------------------------------
# Value at risk in several currencies (a QA pass: the Pipedrive sample added USD and EUR)

CURRENCY_DEFS = """version: 1
columns: {id: id, amount: value, currency: cur, owner: owner}
stages:
  - {name: Lead, date: lead_at, sla_days: 5}
  - {name: Won, date: won_at}
"""
# As of 2024-03-01 (Z's won date). Stuck at Lead (over 5 days, not won): A (USD 100, Ann),
# B ('usd ' 50, Bob: the same currency), C (EUR 70, Ann), D (no amount, EUR). Not stuck: E (USD
# 900, in 2 days), Z (won, EUR 5). Stuck at Lead: USD 150 (Ann 100, Bob 50), EUR 70 (Ann 70); no total of 220.
CURRENCY_CSV = ("id,lead_at,won_at,value,cur,owner\nA,2024-01-01,,100,USD,Ann\nB,2024-01-02,,50,usd ,Bob\n"
                "C,2024-01-03,,70,EUR,Ann\nD,2024-01-04,,,EUR,Bob\nE,2024-02-28,,900,USD,Ann\nZ,2024-01-05,2024-03-01,5,EUR,Bob\n")


def test_value_at_risk_in_several_currencies_is_a_total_per_currency(write):
    defs, export = write("defs.yml", CURRENCY_DEFS), write("deals.csv", CURRENCY_CSV)
    doc = json.loads(run("purgatory", export, "-d", defs, "-f", "json", "-q", "--by", "owner").stdout)
    lead = doc["tables"]["stages"][0]
    assert (lead["stuck"], lead["value_at_risk"], lead["value_at_risk:USD"], lead["value_at_risk:EUR"]) == (4, None, 150, 70)
    owners = {r["group"]: r for r in doc["tables"]["groups"]}
    assert (owners["Ann"]["value_at_risk:USD"], owners["Ann"]["value_at_risk:EUR"]) == (100, 70)
    assert (owners["Bob"]["value_at_risk:USD"], owners["Bob"]["value_at_risk:EUR"]) == (50, 0)
    assert [k for k in lead if k.startswith("value_at_risk:")] == ["value_at_risk:EUR", "value_at_risk:USD"]  # by name
    text = run("purgatory", export, "-d", defs, "-f", "text", "-q").stdout
    assert "Value at risk EUR  Value at risk USD" in text and "a total per currency" in text
    # one currency: its total, named (the keys don't change with the currencies a selection holds)
    one = json.loads(run("purgatory", write("usd.csv", CURRENCY_CSV.replace("EUR", "USD")), "-d", defs, "-f", "json", "-q").stdout)
    first = one["tables"]["stages"][0]
    assert (first["value_at_risk"], first["value_at_risk:USD"]) == (None, 220)
    # no currency field: one total, as before
    plain = json.loads(run("purgatory", export, "-d", write("plain.yml", CURRENCY_DEFS.replace(", currency: cur", "")),
                           "-f", "json", "-q").stdout)
    assert plain["tables"]["stages"][0]["value_at_risk"] == 220


def test_the_shipped_log_definitions_keep_each_currencys_value_at_risk_apart():
    # definitions/pipedrive-log brought Deal - Value without Deal - Currency: euros and dollars
    # were added into one Value at risk (92,500 EUR + 476,400 USD read 568,900 at Qualified).
    # Each stage's value at risk per currency is the sum of its stuck deals' values in that
    # currency, each deal's value and currency read here from the deals file itself (csv module)
    import csv
    from collections import Counter

    from tests.conftest import ROOT

    args = ["purgatory", str(ROOT / "samples" / "pipedrive-deal-changes.csv"), "-d", str(ROOT / "definitions" / "pipedrive-log"),
            "-q", "-f", "json"]
    stages = json.loads(run(*args).stdout)["tables"]["stages"]
    listed = json.loads(run(*args, "--list", "--min-days", "0").stdout)["tables"]["stuck_leads"]
    with open(ROOT / "samples" / "pipedrive-deals.csv", encoding="utf-8", newline="") as handle:
        deals = {row["Deal - ID"]: row for row in csv.DictReader(handle)}
    sums = Counter()
    for lead in listed:
        if "past SLA" in (lead["why"] or ""):
            deal = deals[lead["id"]]
            sums[lead["stage"], deal["Deal - Currency"]] += float(deal["Deal - Value"] or 0)
    assert {c for _, c in sums} == {"EUR", "USD"}
    for row in stages[:-1]:  # Won has no SLA: nothing stuck, no value at risk
        assert row["value_at_risk"] is None, row  # dollars and euros added are no number
        for currency in ("EUR", "USD"):
            assert row.get(f"value_at_risk:{currency}", 0) == sums[row["stage"], currency], (row["stage"], currency)


def test_one_exits_columns_repeat_exited_and_are_left_to_csv_and_json():
    # the Pipedrive funnel has one exit (Lost): its columns equal Exited and Exited share. At 80
    # columns the repeat was kept while Stuck share, purgatory's headline, was left out. The
    # tables show them on request (--columns); JSON keeps them
    from tests.conftest import ROOT

    args = ["purgatory", str(ROOT / "samples" / "pipedrive-deal-changes.csv"), "-d", str(ROOT / "definitions" / "pipedrive-log"), "-q"]
    text = run(*args, "-f", "text").stdout
    heads = [line.split() for line in text.splitlines() if line.startswith("Stage ")]
    assert heads[0][:7] == ["Stage", "SLA", "days", "Reached", "Converted", "Exited", "Stuck"]  # stuck by stage
    leakage = next(h for h in heads if "share" in h and "Exited" in h and "SLA" not in h)
    assert leakage == ["Stage", "Reached", "Exited", "Exited", "share"]
    rows = json.loads(run(*args, "-f", "json").stdout)["tables"]
    for table in ("stages", "leakage"):
        assert all(r["exited:Lost"] == r["exited"] for r in rows[table] if r["exited"] is not None)
    # several exits (the HubSpot sample's three): each its own column
    hubspot = run("purgatory", str(ROOT / "samples" / "hubspot-contacts.csv"), "-q", "-f", "text").stdout
    assert "Disqualified" in next(line for line in hubspot.splitlines() if line.startswith("Stage "))


def test_purgatory_words_fit_a_funnel_without_an_activity_rule():
    # the Pipedrive funnel has no stage with an activity rule: its one purgatory (never accepted)
    # was headed "The two purgatories", and the stuck list defined "Touched and dropped"
    from tests.conftest import ROOT

    args = [str(ROOT / "samples" / "pipedrive-deals.csv"), "-d", str(ROOT / "definitions" / "pipedrive"), "-q", "-f", "text"]
    text = run("purgatory", *args).stdout
    assert "\nPurgatory\n---------\n" in text and "two purgatories" not in text
    listed = run("purgatory", *args, "--list").stdout
    assert "Past SLA: older in the stage than its SLA" in listed and "Touched and dropped" not in listed
    # the HubSpot funnel has both (SAL's activity rule)
    hubspot = run("purgatory", str(ROOT / "samples" / "hubspot-contacts.csv"), "-q", "-f", "text").stdout
    assert "\nThe two purgatories\n" in hubspot
    assert "Touched and dropped: the stage's activity rule." in run(
        "purgatory", str(ROOT / "samples" / "hubspot-contacts.csv"), "-q", "-f", "text", "--list").stdout


def test_the_stuck_list_of_a_stage_without_an_activity_rule_defines_no_touched_and_dropped():
    # the sample's SAL has an activity rule, MQL none: `--list --stage MQL` defined "Touched and
    # dropped" all the same; the whole list (SAL's leads among them) does define it
    from tests.conftest import ROOT

    export = str(ROOT / "samples" / "hubspot-contacts.csv")
    mql = run("purgatory", export, "--list", "--stage", "MQL", "-q", "-f", "text").stdout
    assert "Past SLA: older in the stage than its SLA" in mql and "Touched and dropped" not in mql
    assert "Touched and dropped: the stage's activity rule." in run("purgatory", export, "--list", "-q", "-f", "text").stdout


def test_the_purgatories_heading_counts_kinds_not_rows(tmp_path):
    # with SQL given SAL's activity rule too, the sample's named purgatories are never accepted
    # (MQL) and touched and dropped twice (SAL, SQL): three rows, two kinds, "The two purgatories"
    # (it said "Purgatory", counting rows); SAL and SQL alone, one kind: "Purgatory"
    import shutil

    from tests.conftest import ROOT

    folder = tmp_path / "defs"
    shutil.copytree(ROOT / "definitions", folder)
    funnel = folder / "funnel.yml"
    funnel.write_text(funnel.read_text(encoding="utf-8").replace(
        "    sla_days: 30\n  - name: Opportunity", "    sla_days: 30\n    purgatory: {touches_at_most: 2, idle_days: 10}\n  - name: Opportunity"),
        encoding="utf-8")
    export = str(ROOT / "samples" / "hubspot-contacts.csv")
    report = json.loads(run("purgatory", export, "-d", folder, "-q", "-f", "json").stdout)
    assert [(r["purgatory"], r["stage"]) for r in report["tables"]["purgatories"]] == [
        ("Never accepted", "MQL"), ("Touched and dropped", "SAL"), ("Touched and dropped", "SQL")]
    assert "\nThe two purgatories\n" in run("purgatory", export, "-d", folder, "-q", "-f", "text").stdout
    only = run("purgatory", export, "-d", folder, "--stage", "SAL", "-q", "-f", "text").stdout
    assert "\nPurgatory\n---------\n" in only
