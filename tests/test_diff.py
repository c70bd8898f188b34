"""`funnelcli diff`: one export under two definitions, compared stage by stage and lead by lead.

Every expected number is derived by hand from tests/fixtures/diff/leads.csv (14 rows, L01-L14)
with old/ and new/ definitions. The as-of date is the latest date in the export: L01 won on
2024-03-31. Ages below are days in the stage at 2024-03-31; stuck means age > SLA.

    new/ against old/: MQL SLA 5 days instead of 3; Disqualified also takes "Bad Fit";
    SQL needs score >= 50 (besides its date); Enterprise from 500 employees instead of 1000.

    lead  old: furthest stage, bucket            new                                   changes
    L01   Won (converted), Enterprise            same (score 80)                       -
    L02   MQL stuck (age 4 > 3)                  MQL in progress (4 <= 5)              bucket
    L03   MQL stuck (age 5 > 3)                  MQL in progress (5 is not > 5)        bucket
    L04   MQL stuck (age 6)                      MQL stuck (6 > 5)                     -
    L05   MQL in progress (age 2)                same                                  -
    L06   MQL stuck, no exit (Bad Fit)           MQL exited, Disqualified              bucket, exit
    L07   SAL stuck (29 > 10), Mid-market (600)  SAL exited, Disqualified; Enterprise  bucket, exit, market
    L08   SQL in progress (no SLA), score 30     SAL stuck (SQL not reached; 28 > 10)  stage
    L09   SQL exited (Lost), Mid-market (700)    same; Enterprise                      market
    L10   MQL exited (Disqualified), Enterprise  same                                  -
    L11   no MQL date: not in either report      same                                  -
    L12   SAL in progress (age 9), Mid-market    same                                  -
    L13   SAL in progress (age 2), Mid-market    same; Enterprise (999)                market
    L14   MQL stuck (age 4), no exit (Bad Fit)   MQL exited, Disqualified              bucket, exit

Counting the buckets (each stage's reached = converted + exited + stuck + in progress):
    old  MQL 13 = 6 (L01 L07 L08 L09 L12 L13) + 1 (L10) + 5 (L02 L03 L04 L06 L14) + 1 (L05)
         SAL 6 = 3 (L01 L08 L09) + 0 + 1 (L07) + 2 (L12 L13); SQL 3 = 1 (L01) + 1 (L09) + 0 + 1 (L08); Won 1
    new  MQL 13 = 6 + 3 (L06 L10 L14) + 1 (L04) + 3 (L02 L03 L05)
         SAL 6 = 2 (L01 L09) + 1 (L07) + 1 (L08) + 2 (L12 L13); SQL 2 = 1 (L01) + 1 (L09) + 0 + 0; Won 1
Rates: step MQL 6/13 both; SAL 3/6 -> 2/6; SQL 1/3 -> 1/2; cumulative SQL 3/13 -> 2/13, Won 1/13.
Leads changed: any 8 (L02 L03 L06 L07 L08 L09 L13 L14) of the 13 in the reports.
"""

from __future__ import annotations

import json
import os
import re
import shutil

import pytest
from tests.conftest import DEFINITIONS, FIXTURES, ROOT, SAMPLE, run

import funnelcli
from funnelcli import api

DIFF = FIXTURES / "diff"
LEADS, OLD, NEW = DIFF / "leads.csv", DIFF / "old", DIFF / "new"
GOLDEN = ROOT / "tests" / "golden" / "diff.md"


def _report(old=OLD, new=NEW, export=LEADS, **options):
    before, after = api.run_both(export, old, new, **options)
    return api.diff(before, after)


def _values(report) -> dict[tuple[str, str], tuple]:
    return {(r["stage"], r["measure"]): (r["old"], r["new"], r["change"]) for r in report.table("stages").rows}


def _moves(report) -> list[tuple]:
    return [(r["change"], r["old"], r["new"], r["leads"], r["example_ids"]) for r in report.table("lead_changes").rows]


def test_stage_numbers_old_and_new_by_hand():
    v = _values(_report())
    assert v["MQL", "reached"] == (13, 13, 0)
    assert v["MQL", "converted"] == (6, 6, 0)
    assert v["MQL", "exited"] == (1, 3, 2)
    assert v["MQL", "stuck"] == (5, 1, -4)
    assert v["MQL", "in_progress"] == (1, 3, 2)
    assert v["SAL", "converted"] == (3, 2, -1)
    assert v["SAL", "exited"] == (0, 1, 1)
    assert v["SAL", "stuck"] == (1, 1, 0)
    assert v["SAL", "in_progress"] == (2, 2, 0)
    assert v["SQL", "reached"] == (3, 2, -1)
    assert v["SQL", "converted"] == (1, 1, 0)
    assert v["SQL", "exited"] == (1, 1, 0)
    assert v["SQL", "in_progress"] == (1, 0, -1)
    assert v["Won", "reached"] == (1, 1, 0)
    old, new, change = v["SAL", "step_rate"]
    # a rate's change is the difference of the rates as shown: 33.3% - 50.0% = -16.7 pp
    assert (old, new) == (pytest.approx(3 / 6), pytest.approx(2 / 6)) and change == pytest.approx(0.333 - 0.5)
    assert v["SQL", "step_rate"][:2] == (pytest.approx(1 / 3), pytest.approx(1 / 2))
    assert v["SQL", "cumulative_rate"][:2] == (pytest.approx(3 / 13), pytest.approx(2 / 13))
    assert v["MQL", "step_rate"][:2] == (pytest.approx(6 / 13), pytest.approx(6 / 13))
    assert v["Won", "cumulative_rate"][:2] == (pytest.approx(1 / 13), pytest.approx(1 / 13))
    # the last stage converts nowhere and has no SLA: those rows are left out, not shown empty
    assert ("Won", "converted") not in v and ("Won", "stuck") not in v and ("Won", "step_rate") not in v
    # per exit, where either side counts a lead at the stage: Disqualified at MQL L10 -> L06 L10 L14,
    # at SAL none -> L07; Lost at SQL L09 on both sides; no other exit takes a lead anywhere
    exits = {k: val for k, val in v.items() if k[1].startswith("exited:")}
    assert exits == {("MQL", "exited:Disqualified"): (1, 3, 2), ("SAL", "exited:Disqualified"): (0, 1, 1),
                     ("SQL", "exited:Lost"): (1, 1, 0)}


def test_leads_by_market_by_hand():
    # old: Enterprise >= 1000 (L01 2000, L10 1200), Mid-market 100-999 (L07 L09 L12 L13), the other 7
    # new: Enterprise >= 500 also takes L07 (600), L09 (700), L13 (999); Mid-market keeps L12
    rows = _report().table("markets").rows
    assert [(r["market"], r["old"], r["new"], r["change"]) for r in rows] == [
        ("Enterprise", 2, 5, 3), ("Mid-market", 4, 1, -3), ("out of market", 7, 7, 0)]


def test_the_four_buckets_partition_each_stage_on_both_sides():
    v = _values(_report())
    for stage in ("MQL", "SAL", "SQL"):
        for side in (0, 1):
            parts = sum(v[stage, m][side] for m in ("converted", "exited", "stuck", "in_progress"))
            assert parts == v[stage, "reached"][side]


def test_leads_that_changed_by_hand_with_example_ids():
    report = _report()
    assert _moves(report) == [
        ("stage", "SQL", "SAL", 1, "L08"),
        # most common first; a tie keeps export order (L02 comes before L06)
        ("bucket", "MQL: stuck", "MQL: in progress", 2, "L02, L03"),
        ("bucket", "MQL: stuck", "MQL: exited", 2, "L06, L14"),
        ("bucket", "SAL: stuck", "SAL: exited", 1, "L07"),
        ("exit", "(none)", "Disqualified", 3, "L06, L07, L14"),
        ("market", "Mid-market", "Enterprise", 3, "L07, L09, L13"),
    ]
    assert report.data["changed_leads"] == {"stage": 1, "bucket": 5, "exit": 3, "market": 3, "any": 8}
    assert report.data["changed"] is True


def test_headline_says_what_changed_first():
    report = _report()
    label, text = report.meta[0]
    assert label == "Summary"
    # 1 + 5 + 3 + 3 = 12 changes of 8 leads: some change two ways, which it says. Biggest count
    # moves, stages and markets alike (test_leads_by_market_by_hand): MQL stuck -4, then the
    # markets' +3 and -3 before the +2 of MQL exited and in progress
    assert text == ("8 of 13 leads change (1 furthest stage, 5 bucket, 3 exit, 3 market; a lead can change in more than "
                    "one way). Biggest moves: MQL stuck 5 -> 1 (-4); market Enterprise 2 -> 5 (+3); market Mid-market 4 -> 1 (-3).")


def test_exits_that_trade_leads_are_among_the_biggest_moves():
    # the stage's Exited total hides exits trading leads; an exit's own row then says it (and is
    # left out when it only repeats the total)
    from funnelcli.measures.diff_report import headline

    rows = [{"stage": "SAL", "measure": "exited", "label": "Exited", "kind": "count", "old": 400, "new": 400, "change": 0},
            {"stage": "SAL", "measure": "exited:Disqualified", "label": "Exited: Disqualified", "kind": "count", "old": 100, "new": 376, "change": 276},
            {"stage": "SAL", "measure": "exited:Lost", "label": "Exited: Lost", "kind": "count", "old": 300, "new": 24, "change": -276},
            {"stage": "SQL", "measure": "exited", "label": "Exited", "kind": "count", "old": 5, "new": 9, "change": 4},
            {"stage": "SQL", "measure": "exited:Lost", "label": "Exited: Lost", "kind": "count", "old": 5, "new": 9, "change": 4}]
    counts = {"any": 276, "stage": 0, "bucket": 0, "exit": 276, "market": 0}
    text = headline(counts, 1000, rows, 5, [], [])
    assert text.endswith("Biggest moves: SAL exited: Disqualified 100 -> 376 (+276); SAL exited: Lost 300 -> 24 (-276); SQL exited 5 -> 9 (+4).")


def test_examples_are_limited_and_counted_in_full():
    before, after = api.run_both(LEADS, OLD, NEW)
    rows = api.diff(before, after, examples=1).table("lead_changes").rows
    exits = next(r for r in rows if r["change"] == "exit")
    assert (exits["leads"], exits["example_ids"]) == (3, "L06")


def test_same_as_of_for_both_runs_and_stated():
    report = _report()
    assert dict(report.meta)["As of"] == "2024-03-31 (the latest date in the export, by the old definitions), for both"
    assert report.data["as_of"] == "2024-03-31"
    # --as-of 2024-03-28, both runs: L05 (MQL 03-29) is not in yet, L01's Won (03-31) and L13's SAL
    # (03-29) have not happened. MQL ages: L02 1, L03 2, L04 3 (not > 3), L14 1, L13 0: none stuck
    # but L06 (27 days), which the new Disqualified takes. Converted: L01 L07 L08 L09 L12 (SAL 03-22).
    #   old MQL 12 = 5 converted + 1 exited (L10) + 1 stuck (L06) + 5 in progress (L02 L03 L04 L13 L14)
    #   new MQL 12 = 5 converted + 3 exited (L06 L10 L14) + 0 stuck + 4 in progress (L02 L03 L04 L13)
    report = _report(as_of=_day("2024-03-28"))
    assert dict(report.meta)["As of"] == "2024-03-28 (given with --as-of), for both"
    v = _values(report)
    assert [v["MQL", m] for m in ("reached", "converted", "exited", "stuck", "in_progress")] == [
        (12, 12, 0), (5, 5, 0), (1, 3, 2), (1, 0, -1), (5, 4, -1)]
    assert v["Won", "reached"] == (0, 0, 0)
    cli = run("diff", LEADS, OLD, NEW, "--as-of", "2024-03-28", "-f", "json", "-q")
    assert json.loads(cli.stdout)["as_of"] == "2024-03-28"


def _day(text):
    import datetime as dt

    return dt.date.fromisoformat(text)


def test_identical_definitions_change_nothing(tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(DEFINITIONS, copy)
    report = _report(DEFINITIONS, copy, SAMPLE)
    assert report.data["changed"] is False
    assert report.data["changed_leads"] == {"stage": 0, "bucket": 0, "exit": 0, "market": 0, "any": 0}
    assert report.table("lead_changes").rows == []
    assert all(r["change"] == 0 and not r["changed"] for r in report.table("stages").rows)
    assert report.meta[0][1].startswith("No change:")
    # the sample's three targets, each the same on both sides
    assert [(r["target"], r["changed"]) for r in report.table("targets").rows] == [
        ("MQL->SAL", False), ("MQL->SQL", False), ("MQL stuck", False)]
    result = run("diff", SAMPLE, DEFINITIONS, copy, "--fail-on-change", "-q")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""


def test_renamed_stage_matched_by_name(tmp_path):
    # SQL renamed Qualified: old SQL and new Qualified each show '-' on the side that lacks them;
    # the leads whose furthest stage was SQL (L08, L09 under old/) are now at Qualified.
    renamed = tmp_path / "renamed.yml"
    renamed.write_text((OLD / "funnel.yml").read_text().replace("name: SQL", "name: Qualified"))
    report = _report(OLD, renamed)
    rows = report.table("stages").rows
    assert list(dict.fromkeys(r["stage"] for r in rows)) == ["MQL", "SAL", "SQL", "Qualified", "Won"]
    v = _values(report)
    assert v["SQL", "reached"] == (3, None, None)
    assert v["Qualified", "reached"] == (None, 3, None)
    assert v["SAL", "converted"] == (3, 3, 0)
    assert _moves(report) == [("stage", "SQL", "Qualified", 2, "L08, L09")]
    assert dict(report.meta)["Stages"] == ("matched by name; only in the old definitions: SQL; only in the new: "
                                           "Qualified ('-' on the side that lacks them)")
    assert report.data["stages"]["only_old"] == ["SQL"] and report.data["stages"]["only_new"] == ["Qualified"]
    assert report.data["changed"] is True
    text = api.render(report, "text")
    assert re.search(r"\nSQL +Reached +3 +- +- +yes\n", text) and re.search(r"\nQualified +Reached +- +3 +- +yes\n", text)
    assert report.meta[0][1] == ("2 of 13 leads change (2 furthest stage). "
                                 "Stages: SQL only in the old definitions; Qualified only in the new definitions.")


def test_leads_leaving_the_report(tmp_path):
    # MQL needs a score of 50 or more: own MQL for L01 (80) and L09 (70); L07 L08 L12 L13 still
    # reach it through SAL. L02-L06, L10 and L14 leave the report (7 leads, in export order).
    strict_mql = tmp_path / "strict.yml"
    strict_mql.write_text((OLD / "funnel.yml").read_text().replace(
        "{name: MQL, date: MQL Date, sla_days: 3}", "{name: MQL, date: MQL Date, sla_days: 3, when: {score: {gte: 50}}}"))
    report = _report(OLD, strict_mql)
    assert _moves(report) == [("stage", "MQL", "(not in the report)", 7, "L02, L03, L04")]
    assert _values(report)["MQL", "reached"] == (13, 6, -7)
    assert report.notes == [
        "Rows (old): 14 rows read = 13 leads in the report + 1 never reached MQL + 0 excluded.",
        "Rows (new): 14 rows read = 6 leads in the report + 8 never reached MQL + 0 excluded.",
    ]


# A stage-history log of 5 rows: deal 1 Lead 01-01, Won 01-20; deal 2 Lead 01-05, an owner
# change 01-06; row 6 has no date. The new definitions select stage changes only (history.only):
# the owner change is then "1 other change", where the old ones read 'Ann' as a stage value that
# names no stage. Each side's log line says where every row went.
DIFF_LOG = "deal_id,field,new_value,change_time\n1,stage,Lead,2026-01-01\n2,stage,Lead,2026-01-05\n2,owner,Ann,2026-01-06\n1,stage,Won,2026-01-20\n3,stage,Lead,\n"
DIFF_LOG_DEFS = "version: 1\ncolumns: {id: deal_id}\nhistory: {stage: new_value, at: change_time%s}\nstages:\n  - name: Lead\n  - name: Won\n"


def test_a_log_has_its_file_line_on_each_side(write):
    log = write("log.csv", DIFF_LOG)
    old, new = write("old.yml", DIFF_LOG_DEFS % ""), write("new.yml", DIFF_LOG_DEFS % ", only: {field: {in: [stage]}}")
    notes = _report(old, new, log).notes
    files = [n for n in notes if n.startswith("File")]
    assert [n.split(":", 1)[0] for n in files] == ["File (old)", "File (new)"]
    assert files[0].endswith("(log): 5 rows read = 3 stage changes (of 2 leads of the 3 in the log) + 1 excluded with "
                             "no date or an unparseable date in 'change_time' (row 6) + 1 excluded whose stage names no "
                             "stage and no exit (row 4).")
    assert files[1].endswith("(log): 5 rows read = 3 stage changes (of 2 leads of the 3 in the log) + 1 other change "
                             "(not selected by history.only) + 1 excluded with no date or an unparseable date in 'change_time' (row 6).")
    same = _report(new, new, log).notes
    assert [n.split(":", 1)[0] for n in same] == ["Rows (old and new)", "File (old and new)"]


def _with_targets(tmp_path, name, funnel, targets):
    folder = tmp_path / name
    folder.mkdir()
    shutil.copy(funnel / "funnel.yml", folder / "funnel.yml")
    (folder / "targets.yml").write_text(f"targets:\n{targets}", encoding="utf-8")
    return folder


def test_a_new_goal_alone_is_a_change_that_fails_on_change(tmp_path):
    # the same funnel (old/): MQL stuck 5 of 13 (L02 L03 L04 L06 L14) = 38.5%, over a 30% maximum
    # (missed) and within a 40% one (met). No lead and no number moves, but the target does: a
    # pull request that only lowers a goal must not pass a --fail-on-change check unseen
    strict = _with_targets(tmp_path, "strict", OLD, "  MQL stuck: {max: 0.30}\n")
    loose = _with_targets(tmp_path, "loose", OLD, "  MQL stuck: {max: 0.40}\n")
    report = _report(strict, loose)
    (row,) = report.table("targets").rows
    assert (row["goal_old"], row["goal_new"], row["status_old"], row["status_new"], row["changed"]) == (
        "<= 30%", "<= 40%", "missed", "met", True)
    assert row["actual_old"] == row["actual_new"] == pytest.approx(5 / 13)
    assert report.data["changed_numbers"] == 0 and report.data["changed_leads"]["any"] == 0
    assert report.data["changed"] is True and report.data["changed_targets"] == 1
    assert report.meta[0][1] == "No lead or number changed; 1 target did: MQL stuck goal <= 30% -> <= 40%, missed -> met."
    result = run("diff", LEADS, strict, loose, "--fail-on-change")
    assert result.exit_code == 1
    assert result.stderr == "funnelcli: the new definitions change 0 leads, 0 numbers and 1 target\n"


def test_a_target_met_under_the_new_definitions_is_named_in_the_headline(tmp_path):
    # one goal, two funnels: MQL stuck 5/13 = 38.5% under old/ (missed), 1/13 = 7.7% under new/
    # (only L04, 6 days > 5: met); a target only one side has is a change too
    old = _with_targets(tmp_path, "old", OLD, "  MQL stuck: {max: 0.30}\n")
    new = _with_targets(tmp_path, "new", NEW, "  MQL stuck: {max: 0.30}\n  MQL->SAL: 0.40\n")
    report = _report(old, new)
    rows = {r["target"]: r for r in report.table("targets").rows}
    stuck = rows["MQL stuck"]
    assert (stuck["actual_old"], stuck["actual_new"]) == (pytest.approx(5 / 13), pytest.approx(1 / 13))
    assert (stuck["status_old"], stuck["status_new"], stuck["changed"]) == ("missed", "met", True)
    added = rows["MQL->SAL"]
    assert (added["goal_old"], added["status_old"], added["goal_new"], added["changed"]) == (None, None, ">= 40%", True)
    assert report.data["changed_targets"] == 2
    # MQL->SAL under new/ counts the MQLs mature for it: entered by 03-26 (as of 03-31 less MQL's
    # 5-day SLA, its maturity): L01 L03 L04 L06 L07 L08 L09 L10 L12, of whom L01 L07 L08 L09 L12
    # reached SAL: 5/9 = 55.6%, met. The headline names both targets and how each moved
    assert (added["status_new"], added["actual_new"]) == ("met", pytest.approx(5 / 9))
    assert report.meta[0][1].endswith(" Targets: MQL stuck missed -> met, actual 38.5% -> 7.7%; MQL->SAL goal none -> >= 40%, "
                                      "none -> met.")


# --------------------------------------------------------------------------------------------
# The command line


def test_cli_exit_codes_and_fail_on_change():
    result = run("diff", LEADS, OLD, NEW)
    assert result.exit_code == 0
    assert result.stderr == "funnelcli: the new definitions change 8 leads, 12 numbers and 0 targets\n"
    assert result.stdout.startswith("Impact of the definitions change\n")
    failing = run("diff", LEADS, OLD, NEW, "--fail-on-change", "-q")
    assert failing.exit_code == 1
    assert failing.stderr == ""
    assert failing.stdout == result.stdout  # the report is written before the exit


def test_golden_markdown_for_a_pull_request(monkeypatch):
    # the numbers are the ones derived in the module docstring; the headline comes first
    monkeypatch.chdir(ROOT)
    result = run("diff", *(p.relative_to(ROOT) for p in (LEADS, OLD, NEW)), "-f", "markdown", "-q")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "## Impact of the definitions change"
    assert lines[2].startswith("- **Summary:** 8 of 13 leads change")
    if os.environ.get("FUNNELCLI_REGENERATE_GOLDEN"):
        GOLDEN.write_text(result.stdout, encoding="utf-8")
    assert result.stdout == GOLDEN.read_text(encoding="utf-8")


def test_every_format(tmp_path):
    doc = json.loads(run("diff", LEADS, OLD, NEW, "-f", "json", "-q").stdout)
    assert doc["kind"] == "diff" and doc["changed"] is True and doc["as_of"] == "2024-03-31"
    mql_stuck = next(r for r in doc["tables"]["stages"] if r["stage"] == "MQL" and r["measure"] == "stuck")
    assert (mql_stuck["old"], mql_stuck["new"], mql_stuck["change"], mql_stuck["changed"]) == (5, 1, -4, True)
    assert doc["tables"]["lead_changes"][0] == {"change": "stage", "old": "SQL", "new": "SAL", "leads": 1, "example_ids": "L08"}
    assert doc["accounting"]["old"]["leads_in_report"] == 13
    csv_text = run("diff", LEADS, OLD, NEW, "-f", "csv", "-q").stdout  # one table: stages, the main one
    assert csv_text.startswith("stage,measure,label,old,new,change,changed,kind\nMQL,reached,Reached,13,13,0,false,count\n")
    changes = run("diff", LEADS, OLD, NEW, "-f", "csv", "-q", "--table", "lead_changes").stdout
    assert changes.startswith("change,old,new,leads,example_ids\nstage,SQL,SAL,1,L08\n")
    html = run("diff", LEADS, OLD, NEW, "-f", "html", "-q").stdout
    assert html.startswith("<!DOCTYPE html>") and "MQL: stuck" in html
    out = tmp_path / "impact.md"
    assert run("diff", LEADS, OLD, NEW, "-o", out, "-q").exit_code == 0
    assert out.read_text().startswith("## Impact of the definitions change")


def test_columns_chooses_what_the_tables_show():
    # the fit note says "Choose the columns with --columns": diff has the option the note names
    result = run("diff", LEADS, OLD, NEW, "-q", "-f", "text", "--columns", "stage,measure,change")
    assert result.exit_code == 0, result.stderr
    header = next(line for line in result.stdout.splitlines() if line.startswith("Stage  "))
    assert header.split() == ["Stage", "Measure", "Change"]
    explained = run("explain", LEADS, "L02", "-d", OLD, "-q", "-f", "text", "--columns", "item,bucket")
    assert explained.exit_code == 0, explained.stderr
    assert next(line for line in explained.stdout.splitlines() if line.startswith("Lead ")).split() == ["Lead", "Item", "Bucket"]


def test_stdin_export_is_read_once():
    result = run("diff", "-", OLD, NEW, "-q", "-f", "json", input=LEADS.read_bytes())
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["changed_leads"]["any"] == 8


def test_findings_printed_once_or_by_side(write):
    # a blank id is excluded under both definitions: said once
    export = write("leads.csv", LEADS.read_text() + ",Open,50,0,2024-03-01,,,\n")
    result = run("diff", export, OLD, NEW)
    assert result.exit_code == 0
    assert result.stderr.count("excluded 1 row with a blank id (row 16)") == 1
    assert "(old definitions)" not in result.stderr and "(new definitions)" not in result.stderr


def test_data_lines_once_or_by_side(write):
    # rows 2-4 are leads 1-3. Lead 2's status 'Demo' names no stage under the old definitions only;
    # lead 2's employees 'x' is no number for market Big under both. The report says what stderr
    # does (a diff mailed or written with -q has no stderr): once when both runs have it.
    export = write("deals.csv", "id,stage,created,employees\n1,Lead,2026-01-01,10\n2,Demo,2026-01-02,x\n3,Won,2026-01-03,20\n")
    head = "version: 1\ncolumns: {id: id, stage: stage, created: created, employees: employees}\nstage_column: stage\n"
    markets = "markets:\n  - name: Big\n    when: {employees: {gte: 15}}\n"
    old = write("old.yml", head + "stages:\n  - name: Lead\n    date: created\n  - name: Won\n" + markets)
    new = write("new.yml", head + "stages:\n  - name: Lead\n    date: created\n  - name: Demo\n  - name: Won\n" + markets)
    result = run("diff", export, old, new, "-q", "-f", "text")
    assert result.exit_code == 0 and result.stderr == ""
    data = [line for line in result.stdout.splitlines() if line.startswith("Data")]
    assert len(data) == 2
    assert data[0].startswith("Data: 1 row whose 'employees' is not a number such as 'x' (row 3); market Big")
    assert data[1].startswith("Data (old): 1 row whose 'stage' names no stage and no exit (row 3); the values: 'Demo' (1)")
    swapped = run("diff", export, new, old, "-q").stdout
    assert [line[:10] for line in swapped.splitlines() if line.startswith("Data")] == ["Data: 1 ro", "Data (new)"]


@pytest.mark.parametrize("args, message", [
    (["nope.csv", OLD, NEW], "funnelcli: error: nope.csv: no such file\n"),
    ([LEADS, "missing-old", NEW], "'OLD_DEFINITIONS': Path 'missing-old' does not exist"),
    ([LEADS, OLD, "missing-new"], "'NEW_DEFINITIONS': Path 'missing-new' does not exist"),
    ([DIFF, OLD, NEW], "is a folder, not a CSV export"),
    ([LEADS, OLD, FIXTURES / "broken-definitions.yml"], "the definitions have 4 problems"),
])
def test_bad_input_exits_2_with_a_clear_message(args, message):
    result = run("diff", *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_export_without_the_columns_of_the_new_definitions(tmp_path):
    other = tmp_path / "other.yml"
    other.write_text((NEW / "funnel.yml").read_text().replace("score: Score", "score: Lead Score"))
    result = run("diff", LEADS, OLD, other)
    assert result.exit_code == 2
    assert "Lead Score" in result.stderr and "Traceback" not in result.stderr


def test_python_api_is_exported():
    before, after = funnelcli.run_both(LEADS, OLD, NEW)
    assert funnelcli.changed(funnelcli.diff(before, after))
