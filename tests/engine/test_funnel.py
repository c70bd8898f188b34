"""The engine on tests/fixtures/small.csv, every number derived by hand.

small.csv, 11 data rows (spreadsheet rows 2-12), read with small.yml
(stages MQL sla 3 -> SAL sla 14 -> SQL -> Won; exits Disqualified, Recycled):

  row lead  MQL    SAL    SQL    Won    status       what happens
   2   1    01-02  01-03  01-10  -      Open         reaches SQL, in progress there (SQL has no SLA)
   3   2    01-05  -      -      -      Unqualified  exits at MQL (Disqualified)
   4   3    01-05  -      -      -      Open         stuck at MQL (65 days > 3)
   5   4    -      -      02-01  03-01  Open         won; MQL and SAL skipped, dated 02-01
   6   5    03-10  -      -      -      Open         in progress at MQL (0 days)
   7   -    blank id                                 excluded
   8   1    duplicate id                             excluded
   9   7    31/02/2024                               excluded (unparseable date)
  10   8    -      -      -      -      Open         never reached MQL
  11   9    02-01  02-02  -      -      Open         stuck at SAL (37 days > 14)
  12  10    02-01  02-20  -      -      Nurture      exits at SAL (Recycled)

All dates are 2024; the default as-of date is the latest, 2024-03-10.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from tests.conftest import run

from funnelcli import api, definitions
from funnelcli.engine import funnel
from funnelcli.errors import FunnelError

FIXTURES = Path(__file__).parent.parent / "fixtures"


@pytest.fixture(scope="module")
def defs():
    return definitions.load([str(FIXTURES / "small.yml")])


@pytest.fixture(scope="module")
def loaded(defs):
    return api.read_export(str(FIXTURES / "small.csv"), defs)


def by_stage(rows):
    return {r["stage"]: r for r in rows}


def test_as_of_defaults_to_latest_date(loaded, defs):
    f = funnel.at_as_of(loaded, defs)
    assert f.as_of.date() == dt.date(2024, 3, 10)
    assert not f.as_of_given


def test_stage_table(loaded, defs):
    rows = by_stage(funnel.conversion(funnel.at_as_of(loaded, defs)))
    mql, sal, sql, won = rows["MQL"], rows["SAL"], rows["SQL"], rows["Won"]
    # MQL: leads 1,2,3,4,5,9,10; to SAL: 1,4,9,10; exit 2; stuck 3; in progress 5
    assert (mql["reached"], mql["converted"], mql["exited"], mql["stuck"], mql["in_progress"]) == (7, 4, 1, 1, 1)
    assert mql["exited:Disqualified"] == 1 and mql["exited:Recycled"] == 0
    assert mql["step_rate"] == pytest.approx(4 / 7)
    assert mql["cumulative_rate"] == 1.0
    assert mql["skipped"] == 1  # lead 4
    # SAL: 1,4,9,10; to SQL: 1,4; Recycled 10; stuck 9
    assert (sal["reached"], sal["converted"], sal["exited"], sal["stuck"], sal["in_progress"]) == (4, 2, 1, 1, 0)
    assert sal["exited:Recycled"] == 1
    assert sal["cumulative_rate"] == pytest.approx(4 / 7)
    # SQL: 1,4; won: 4; lead 1 in progress (no SLA: never stuck)
    assert (sql["reached"], sql["converted"], sql["exited"], sql["stuck"], sql["in_progress"]) == (2, 1, 0, 0, 1)
    # Won: the last stage, no SLA: nothing converts, nothing is stuck or in progress
    assert won["reached"] == 1
    assert won["converted"] is None and won["step_rate"] is None
    assert won["stuck"] is None and won["in_progress"] is None
    assert won["cumulative_rate"] == pytest.approx(1 / 7)


def test_velocity(loaded, defs):
    rows = by_stage(funnel.conversion(funnel.at_as_of(loaded, defs)))
    # Days between a lead's own dates only: lead 4 skipped MQL and SAL (both dated by its SQL),
    # so it has no MQL->SAL or SAL->SQL days. MQL->SAL: lead 1: 1, lead 9: 1, lead 10: 19.
    # Sorted [1, 1, 19]; linear quantiles: median 1, p75 at 1.5 -> 1 + .5*18 = 10,
    # p90 at 1.8 -> 1 + .8*18 = 15.4
    assert rows["MQL"]["median_days"] == 1.0
    assert rows["MQL"]["p75_days"] == pytest.approx(10)
    assert rows["MQL"]["p90_days"] == pytest.approx(15.4)
    # SAL->SQL: lead 1 only: 7 days
    assert rows["SAL"]["median_days"] == 7
    # SQL->Won: lead 4, 2024-02-01 to 2024-03-01 across a leap February: 29 days
    assert rows["SQL"]["median_days"] == 29.0
    assert rows["Won"]["median_days"] is None


def test_accounting_adds_up(loaded, defs):
    f = funnel.at_as_of(loaded, defs)
    acc = f.accounting
    assert acc.rows_read == 11
    assert {i.reason: i.rows for i in acc.excluded} == {
        "with a blank id": [7],
        "with a duplicate id": [8],
        "with an unparseable date": [9],
    }
    assert (acc.in_report, acc.not_reached, acc.rows_excluded) == (7, 1, 3)
    assert acc.balanced()


def test_replay_as_of_a_past_date(loaded, defs):
    f = funnel.at_as_of(loaded, defs, as_of=dt.date(2024, 2, 1))
    rows = by_stage(funnel.conversion(f))
    # On 02-01: MQL reached by 1,2,3,4,9,10 (5's MQL is 03-10); SAL by 1 and 4 (4's SAL implied
    # by its SQL on 02-01); 9 and 10 are still MQLs, 10 exits there (its exit has no date, so it
    # is judged on the export's values), 3 is stuck (27 days), 9 in progress (0 days).
    mql = rows["MQL"]
    assert (mql["reached"], mql["converted"], mql["exited"], mql["stuck"], mql["in_progress"]) == (6, 2, 2, 1, 1)
    assert (rows["SQL"]["reached"], rows["SQL"]["converted"], rows["SQL"]["in_progress"]) == (2, 0, 2)
    assert rows["Won"]["reached"] == 0
    # 4 (Won 03-01), 5 (MQL 03-10), 9 (SAL 02-02), 10 (SAL 02-20) have events after 02-01
    assert f.after_as_of == 4
    assert (f.accounting.in_report, f.accounting.not_reached) == (6, 2)
    assert f.accounting.balanced()


def test_since_selects_cohorts_by_first_stage_date(loaded, defs):
    f = funnel.at_as_of(loaded, defs, since=dt.date(2024, 2, 1))
    # MQL on or after 02-01: 4 (implied 02-01), 5, 9, 10; leads 1, 2, 3 are outside
    assert sorted(f.column("id")) == ["10", "4", "5", "9"]
    assert f.accounting.outside_range == 3
    assert f.accounting.balanced()


def test_until_is_inclusive(loaded, defs):
    f = funnel.at_as_of(loaded, defs, since=dt.date(2024, 1, 5), until=dt.date(2024, 2, 1))
    assert sorted(f.column("id")) == ["10", "2", "3", "4", "9"]


def test_market_filter_and_accounting(loaded, defs):
    f = funnel.at_as_of(loaded, defs, markets=("enterprise",))
    # Enterprise: >= 1000 employees in US/CA (case-insensitive): leads 2, 9 and 10
    assert sorted(f.column("id")) == ["10", "2", "9"]
    assert f.markets == ("Enterprise",)
    assert f.accounting.other_markets == 4
    assert f.accounting.balanced()


def test_unknown_market_is_an_error(loaded, defs):
    with pytest.raises(FunnelError, match="no such market"):
        funnel.at_as_of(loaded, defs, markets=("Nowhere",))


def test_breakdown_by_owner(loaded, defs):
    rows = funnel.conversion(funnel.at_as_of(loaded, defs), by="owner")
    mql = {r["group"]: r for r in rows if r["stage"] == "MQL"}
    # Ann: 1, 4, 5; Bob: 2, 9, 10; blank: 3. Equal sizes order by name; blank comes last.
    assert [r["group"] for r in rows if r["stage"] == "MQL"] == ["Ann", "Bob", "(blank)"]
    assert (mql["Ann"]["reached"], mql["Ann"]["converted"], mql["Ann"]["in_progress"]) == (3, 2, 1)
    assert (mql["Bob"]["reached"], mql["Bob"]["converted"], mql["Bob"]["exited"]) == (3, 2, 1)
    assert (mql["(blank)"]["reached"], mql["(blank)"]["stuck"]) == (1, 1)


def test_breakdown_by_market(loaded, defs):
    rows = funnel.conversion(funnel.at_as_of(loaded, defs), by="market")
    reached = {r["group"]: r["reached"] for r in rows if r["stage"] == "MQL"}
    # Enterprise 2, 9, 10; Mid-market 4 (150 employees); out of market 1 (50), 3 (blank), 5 ('x')
    assert reached == {"Enterprise": 3, "out of market": 3, "Mid-market": 1}


def test_unknown_by_field_lists_the_fields(loaded, defs):
    f = funnel.at_as_of(loaded, defs)
    with pytest.raises(FunnelError, match=r"\(did you mean 'owner'\?\); fields are created, owner"):
        funnel.conversion(f, by="ownr")


def test_zero_denominator_rate_is_empty(loaded, defs):
    f = funnel.at_as_of(loaded, defs, markets=("Mid-market",))
    rows = funnel.conversion(f, by="owner")
    assert rows  # lead 4 only: Ann
    f = funnel.at_as_of(loaded, defs, as_of=dt.date(2024, 1, 3))
    rows = by_stage(funnel.conversion(f))
    # On 01-03 only lead 1 has reached anything (MQL 01-02, SAL 01-03): SQL has nobody
    assert rows["SQL"]["reached"] == 0
    assert rows["SQL"]["step_rate"] is None


def test_cycle_time_is_per_lead(loaded, defs):
    # only lead 4 won, and it skipped MQL: its cycle time is not known
    cycle = funnel.cycle_time(funnel.at_as_of(loaded, defs))
    assert cycle == {"leads": 0, "median_days": None, "p75_days": None, "p90_days": None}
    # as of 03-01 with --since 02-01 nothing changes; replay past lead 10's SAL: lead 10 in, not won
    assert funnel.cycle_time(funnel.at_as_of(loaded, defs, as_of=dt.date(2024, 2, 25)))["leads"] == 0


def test_per_exit_counts_each_exit_at_each_stage(loaded, defs):
    from funnelcli.engine.groups import group_by, per_exit

    f = funnel.at_as_of(loaded, defs)
    disqualified, recycled = per_exit(f, group_by(f, None))
    # lead 2 leaves at MQL (Disqualified), lead 10 at SAL (Recycled)
    assert disqualified.tolist() == [[1, 0, 0, 0]] and recycled.tolist() == [[0, 1, 0, 0]]
    by_owner = per_exit(f, group_by(f, "owner"))
    assert [int(m.sum()) for m in by_owner] == [1, 1]


def test_conversion_names_exits_as_the_measures_do(loaded, defs):
    # the engine writes its exit columns itself (it comes before measures): same text as keys.exited_key
    from funnelcli.measures import keys

    row = funnel.conversion(funnel.at_as_of(loaded, defs))[0]
    assert [k for k in row if k.startswith("exited:")] == [keys.exited_key(e.name) for e in defs.exits]


def test_an_sla_just_under_a_whole_day_compares_as_written(tmp_path):
    # Ages are whole days kept as float32; an SLA is compared as given (float64): lead 9 has been
    # at SAL 37 days at 2024-03-10, past an SLA of 36.9999999 days, which float32 would round to 37.
    text = (FIXTURES / "small.yml").read_text().replace("sla_days: 14,", "sla_days: 36.9999999,")
    (tmp_path / "small.yml").write_text(text)
    defs = definitions.load([str(tmp_path / "small.yml")])
    f = funnel.at_as_of(api.read_export(str(FIXTURES / "small.csv"), defs), defs)
    sal = by_stage(funnel.conversion(f))["SAL"]
    assert (sal["stuck"], sal["in_progress"]) == (1, 0)
    from funnelcli.measures.purgatory import age_bands
    bands = {r["stage"]: r for r in age_bands(f, [1])}["SAL"]
    assert (bands["within_sla"], bands["sla_1_2x"]) == (0, 1)


def test_the_accounting_sentence_counts_one_row_and_one_lead_in_the_singular():
    one = funnel.Accounting(rows_read=1, excluded=[], not_reached=0, first_stage="MQL", in_report=1)
    assert one.sentence() == "1 row read = 1 lead in the report + 0 excluded"
    log = funnel.Accounting(rows_read=1, excluded=[], not_reached=1, first_stage="MQL", unit="leads")
    assert log.sentence() == "1 lead read from the log = 0 leads in the report + 1 never reached MQL + 0 excluded"
    many = funnel.Accounting(rows_read=1200, excluded=[], not_reached=200, first_stage="MQL", in_report=1000)
    assert many.sentence() == "1,200 rows read = 1,000 leads in the report + 200 never reached MQL + 0 excluded"


def test_an_own_date_after_as_of_hidden_by_an_earlier_later_stage_counts_as_an_event_after_it(write):
    # lead 1: A 01-01, B 01-25 (its own), C 01-10: B takes C's earlier date. Replayed as of 01-20,
    # B's own 01-25 has not come (B is skipped as of then): an event after as-of, which the notice
    # counts. Lead 2 has nothing after 01-20. (The count once looked at effective dates only.)
    export = write("e.csv", "Id,A,B,C\n1,2024-01-01,2024-01-25,2024-01-10\n2,2024-01-02,2024-01-03,\n")
    defs = write("d.yml", "version: 1\ncolumns: {id: Id}\nstages:\n  - {name: A, date: A}\n  - {name: B, date: B}\n  - {name: C, date: C}\n")
    f = api.run(str(export), str(defs), as_of=dt.date(2024, 1, 20))
    assert f.after_as_of == 1
    assert [x.message for x in f.findings if "after the as-of date" in x.message] == [
        "1 lead has dates after the as-of date 2024-01-20; those events are ignored"]


def test_a_range_counts_apart_the_leads_with_no_date_to_place_in_it(write):
    # a status export: deal 3 is at Contact Made with no created date, so no date for Qualified
    # (none at a later stage either): neither inside --since nor outside it, and it was counted
    # "outside the cohort range" of --since 2025-06-01 and of --until 2025-06-01 at once
    export = write("deals.csv", "id,stage,created\n1,Qualified,2026-02-01\n2,Qualified,2025-01-01\n3,Contact Made,\n")
    defs = write("d.yml", "version: 1\ncolumns: {id: id, stage_now: stage}\nstage_column: stage_now\nstages:\n"
                          "  - {name: Qualified, date: created}\n  - name: Contact Made\n")
    loaded = api.read_export(export, defs)
    for since, until, kept in ((dt.date(2025, 6, 1), None, "1"), (None, dt.date(2025, 6, 1), "2")):
        f = api.funnel(loaded, defs, since=since, until=until)
        acc = f.accounting
        assert (acc.in_report, acc.outside_range, acc.undated_range) == (1, 1, 1)
        assert list(f.frame["id"].iloc[f.rows]) == [kept] and acc.balanced()
        assert acc.sentence() == ("3 rows read = 1 lead in the report + 1 outside the cohort range "
                                  "+ 1 with no date to place in the cohort range + 0 excluded")


def test_a_replay_says_where_it_counts_the_leads_it_cannot_place(write):
    # deal 1 is at Proposal now, moved there on 01-26 (stage_since): replayed at 01-01 it is at the
    # stage before, Contact Made, which has no date. The note said "counted as the export has
    # them", which the export's Proposal contradicts.
    export = write("deals.csv", "id,stage,created,since\n1,Proposal,2025-12-15,2026-01-26\n2,Qualified,2025-12-01,\n")
    defs = write("d.yml", "version: 1\ncolumns: {id: id, stage_now: stage, stage_since: since}\nstage_column: stage_now\n"
                          "stages:\n  - {name: Qualified, date: created}\n  - name: Contact Made\n  - name: Proposal\n")
    data = json.loads(run("conversion", export, "-d", defs, "--as-of", "2026-01-01", "-f", "json", "-q").stdout)
    assert [r["reached"] for r in data["tables"]["stages"]] == [2, 1, 0]  # deal 1 at Contact Made, not Proposal
    (note,) = [n for n in data["notes"] if n.startswith("Replay:")]
    assert note == ("Replay: 1 lead reached a stage with no date, which a replay can't place in time: counted where the "
                    "export puts them (a status whose stage_since is after the as-of date, at the stage before it).")
