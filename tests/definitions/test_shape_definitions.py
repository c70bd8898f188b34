"""Definitions for every export shape: stage_column, values, flag, history, joins (many, order_by,
path), blank_values and a list of date_formats; their checks, each at its position (path:line:col),
with did-you-mean for unknown keys.

Each test writes one definitions file under tmp_path and validates it with
`funnelcli.definitions.validate` (or the `validate` command). Positions are found in the text
with `pos` (1-based line and column), so the expected place is the one a reader sees.
"""

from __future__ import annotations

import os

import pytest
from tests.conftest import pos, run
from tests.reference_definitions import REFERENCE_FLAG, REFERENCE_HISTORY, REFERENCE_JOINS, REFERENCE_STATUS

from funnelcli import definitions
from funnelcli.definitions import Leaf

# --------------------------------------------------------------------------------------------
# Helpers


def load_text(write, text: str, name: str = "defs.yml"):
    """Write one definitions file and return its Definitions (failing on any problem)."""
    path = write(name, text)
    defs, problems = definitions.validate([str(path)])
    assert problems == [], "\n".join(p.format() for p in problems)
    return defs


def problems_in(write, text: str, name: str = "defs.yml"):
    path = write(name, text)
    defs, problems = definitions.validate([str(path)])
    return str(path), defs, problems


def only_problem(write, text: str):
    """Return (path, the one problem) of a file that must have exactly one."""
    path, defs, problems = problems_in(write, text)
    assert len(problems) == 1, "\n".join(p.format() for p in problems)
    assert defs is None or problems[0].level != "error"
    return path, problems[0]


def at(problem) -> tuple[int, int]:
    return problem.line, problem.col


# --------------------------------------------------------------------------------------------
# 1. The reference definitions of docs/metrics.md for the other shapes, verbatim (with the head a
#    snippet leaves out), load with no problem




def test_reference_status_definitions(write):
    defs = load_text(write, REFERENCE_STATUS)
    assert defs.stage_column == "stage_now"
    assert defs.date_format == ("%m/%d/%Y %I:%M %p", "%m/%d/%Y")
    assert defs.blank_values == ("Select", "--None--", "N/A")
    assert [(s.name, s.date, s.values) for s in defs.stages] == [
        ("Qualified", "Deal - Deal created", ()), ("Contact Made", None, ()),
        ("Proposal", None, ("Proposal Made", "Proposal sent")), ("Won", "Deal - Won time", ())]
    # status values: each stage's and exit's (default: its name), casefolded
    assert defs.stage_values() == {
        "qualified": ("stage", 0), "contact made": ("stage", 1), "proposal made": ("stage", 2),
        "proposal sent": ("stage", 2), "won": ("stage", 3), "lost": ("exit", 0)}
    # the status column is a column the export must have
    assert "Deal - Stage" in defs.headers()


def test_reference_flag_definitions(write):
    defs = load_text(write, REFERENCE_FLAG)
    assert [(s.name, s.flag, s.date, s.when) for s in defs.stages] == [("Lead", None, None, None), ("Converted", "Converted", None, None)]
    assert defs.flag_fields() == {"Converted"}
    assert defs.headers() == ["Id", "Converted"]


def test_reference_history_definitions(write):
    defs = load_text(write, REFERENCE_HISTORY)
    history = defs.history
    assert (history.stage, history.at) == ("new_value", "change_time")
    assert history.only == Leaf("changed_field_key", "in", ("stage_id",))
    assert [s.values for s in defs.stages] == [("1",), ("2",)]
    assert set(defs.headers()) == {"deal_id", "new_value", "change_time", "changed_field_key"}


def test_reference_joins_definitions(write):
    defs = load_text(write, REFERENCE_JOINS)
    contacts, opportunities = defs.joins
    assert (contacts.name, contacts.lead_key, contacts.file_key, contacts.columns, contacts.many, contacts.path) == (
        "contacts", "id", "lead_id", {"account_id": "account_id"}, "error", None)
    assert (opportunities.lead_key, opportunities.file_key, opportunities.many, opportunities.order_by) == (
        "account_id", "account_id", "first", "closed_at")
    assert defs.joined_fields() == {"account_id": "contacts", "closed_at": "opportunities", "is_won": "opportunities",
                                    "is_closed": "opportunities", "amount": "opportunities"}
    # each file's headers: the export's own, and each join's (its key, its columns, its order_by)
    assert set(defs.headers()) == {"id", "created_at", "source", "converted_at"}
    assert defs.headers("contacts") == ["lead_id", "account_id"]
    assert set(defs.headers("opportunities")) == {"account_id", "closed_at", "is_won", "is_closed", "amount"}
    # a joined field is in the lead table by its canonical name; a _at name is a date
    assert "closed_at" in defs.date_headers()
    assert "is_won" in defs.fields() and "account_id" in defs.fields()


def test_join_default_path_is_relative_to_the_definitions_file(write, tmp_path):
    text = REFERENCE_JOINS.replace("  - name: contacts\n", "  - name: contacts\n    path: data/contacts.csv\n")
    defs = load_text(write, text, name="conf/defs.yml")
    assert defs.joins[0].path == os.path.join(str(tmp_path / "conf"), "data/contacts.csv")
    absolute = str(tmp_path / "elsewhere.csv")
    defs = load_text(write, REFERENCE_JOINS.replace("  - name: contacts\n", f"  - name: contacts\n    path: {absolute}\n"))
    assert defs.joins[0].path == absolute


def test_date_format_one_text_is_a_list_of_one(write):
    defs = load_text(write, "version: 1\ncolumns: {id: Id}\ndate_format: '%d.%m.%Y'\nstages:\n  - {name: A, date: A}\n")
    assert defs.date_format == ("%d.%m.%Y",)


def test_blank_values_numbers_are_text_and_trimmed(write):
    # YAML reads 0 as a number: a blank value is text whatever YAML makes of it.
    defs = load_text(write, "version: 1\ncolumns: {id: Id}\nblank_values: [' N/A ', 0, '-']\nstages:\n  - {name: A, date: A}\n")
    assert defs.blank_values == ("N/A", "0", "-")


# --------------------------------------------------------------------------------------------
# 2. Stages with no rule


def test_first_stage_with_no_rule_is_valid(write):
    defs = load_text(write, "version: 1\ncolumns: {id: Id}\nstages:\n  - name: Lead\n  - {name: MQL, date: MQL}\n")
    assert defs.stages[0].date is None and defs.stages[0].when is None and defs.stages[0].flag is None


def test_later_stage_with_no_rule_is_an_error_at_the_stage(write):
    text = "version: 1\ncolumns: {id: Id}\nstages:\n  - {name: MQL, date: MQL}\n  - name: SAL\n    sla_days: 3\n"
    path, problem = only_problem(write, text)
    assert (problem.path, problem.rule, problem.level) == (path, "missing-key", "error")
    assert at(problem) == pos(text, "name: SAL")
    assert "stage 'SAL'" in problem.message and "only the first stage may have none" in problem.message


@pytest.mark.parametrize("shape", ["stage_column: status\n", "history: {stage: s, at: t}\n"], ids=["stage_column", "history"])
def test_stages_and_exits_with_no_rule_are_fine_with_a_status_column_or_a_log(write, shape):
    # With a status column or a log every stage and exit has its values (default: its name).
    text = ("version: 1\ncolumns: {id: Id, status: Status}\n" + shape
            + "stages:\n  - name: New\n  - name: Working\n  - name: Won\nexits:\n  - name: Lost\n")
    defs = load_text(write, text)
    assert defs.stage_names == ("New", "Working", "Won")


def test_exit_with_no_rule_is_an_error_without_a_status_column(write):
    text = "version: 1\ncolumns: {id: Id}\nstages:\n  - {name: MQL, date: MQL}\nexits:\n  - name: Lost\n"
    _, problem = only_problem(write, text)
    assert problem.rule == "missing-key" and at(problem) == pos(text, "name: Lost")


@pytest.mark.parametrize("section, needle", [("stages", "values: [Open]"), ("exits", "values: [Gone]")])
def test_values_without_a_status_column_or_log_is_an_error_at_values(write, section, needle):
    text = ("version: 1\ncolumns: {id: Id}\nstages:\n  - {name: MQL, date: MQL, values: [Open]}\n"
            if section == "stages" else
            "version: 1\ncolumns: {id: Id}\nstages:\n  - {name: MQL, date: MQL}\nexits:\n  - {name: Lost, date: L, values: [Gone]}\n")
    _, problem = only_problem(write, text)
    assert problem.rule == "missing-key" and at(problem) == pos(text, "values: ^[")
    assert "stage_column or history" in problem.message


def test_when_and_flag_together_is_a_conflict_at_flag(write):
    text = "version: 1\ncolumns: {id: Id}\nstages:\n  - name: A\n  - name: B\n    when: {x: 1}\n    flag: F\n"
    _, problem = only_problem(write, text)
    assert problem.rule == "conflict" and at(problem) == pos(text, "flag: F")


# --------------------------------------------------------------------------------------------
# 3. stage_column, date_format, blank_values


def test_stage_column_must_be_text(write):
    text = "version: 1\ncolumns: {id: Id}\nstage_column: [a, b]\nstages:\n  - name: A\n  - name: B\n"
    _, defs, problems = problems_in(write, text)
    assert defs is None
    assert [(p.rule, at(p)) for p in problems if p.rule == "wrong-type"] == [("wrong-type", pos(text, "stage_column: ^["))]


def test_stage_column_conflict_across_files(write):
    a = write("a.yml", "version: 1\ncolumns: {id: Id}\nstage_column: stage\nstages:\n  - name: A\n  - name: B\n")
    text = "stage_column: status\n"
    b = write("b.yml", text)
    _, problems = definitions.validate([str(a), str(b)])
    (problem,) = problems
    assert (problem.path, problem.rule) == (str(b), "conflict") and at(problem) == pos(text, "status")
    assert "'status'" in problem.message and "'stage'" in problem.message


def test_date_format_list_each_entry_checked_at_its_position(write):
    # The second entry is no strptime format, the third empty: each reported where it is written.
    text = "version: 1\ncolumns: {id: Id}\ndate_format: ['%m/%d/%Y', 'mm/dd/yyyy', '']\nstages:\n  - {name: A, date: A}\n"
    _, defs, problems = problems_in(write, text)
    assert defs is None
    assert [(p.rule, at(p)) for p in problems] == [
        ("invalid-date-format", pos(text, "'mm/dd/yyyy'")), ("wrong-type", pos(text, "''"))]


def test_blank_values_entry_that_is_not_text(write):
    text = "version: 1\ncolumns: {id: Id}\nblank_values: [N/A, {x: 1}]\nstages:\n  - {name: A, date: A}\n"
    _, problem = only_problem(write, text)
    assert problem.rule == "wrong-type" and at(problem) == pos(text, "{x: 1}")
    assert "blank_values" in problem.message


# --------------------------------------------------------------------------------------------
# 4. history


def test_history_unknown_key_did_you_mean_at_the_key(write):
    text = ("version: 1\ncolumns: {id: deal_id}\nhistory:\n  stage: new_value\n  at: change_time\n"
            "  onyl: {field: stage_id}\nstages:\n  - name: A\n  - name: B\n")
    _, _, problems = problems_in(write, text)
    unknown = [p for p in problems if p.rule == "unknown-key"]
    assert len(unknown) == 1
    assert at(unknown[0]) == pos(text, "onyl")
    assert "unknown key 'onyl' in history (did you mean 'only'?)" in unknown[0].message


def test_history_problems_on_the_command_line_read_path_line_col(write):
    text = ("version: 1\ncolumns: {id: deal_id}\nhistory:\n  stage: new_value\n  att: change_time\n"
            "stages:\n  - name: A\n")
    path = write("defs.yml", text)
    result = run("validate", path)
    assert result.exit_code == 1
    line, col = pos(text, "att")
    assert f"{path}:{line}:{col}: error: unknown key 'att' in history (did you mean 'at'?) (unknown-key)" in result.stdout
    line, col = pos(text, "stage: new_value")
    assert f"{path}:{line}:{col}: error: history needs a" in result.stdout and "'at' (missing-key)" in result.stdout


def test_history_must_be_a_mapping(write):
    text = "version: 1\ncolumns: {id: Id}\nhistory: [stage, at]\nstages:\n  - name: A\n"
    _, problem = only_problem(write, text)
    assert problem.rule == "wrong-type" and at(problem) == pos(text, "[stage")


def test_history_only_condition_is_checked(write):
    text = ("version: 1\ncolumns: {id: Id}\nhistory:\n  stage: s\n  at: t\n  only: {field: {inn: [stage_id]}}\n"
            "stages:\n  - name: A\n")
    _, problem = only_problem(write, text)
    assert problem.rule == "unknown-operator" and at(problem) == pos(text, "inn")
    assert "did you mean 'in'?" in problem.message


@pytest.mark.parametrize("shape, rule", [
    ("history:\n  stage: s\n  at: t\n  only: {field: {inn: [stage_id]}}\n", "unknown-operator"),
    ("stage_column: [a, b]\n", "wrong-type"),
], ids=["history-only", "stage_column"])
def test_an_invalid_shape_setting_is_reported_once(write, shape, rule):
    # One mistake; stage B and exit Lost have no rule because the file describes a log or a status
    # column: they must not be reported too (as a rule written but invalid is reported where it is
    # written, not again; merge._check_rules).
    text = "version: 1\ncolumns: {id: Id}\n" + shape + "stages:\n  - name: A\n  - name: B\nexits:\n  - name: Lost\n"
    _, _, problems = problems_in(write, text)
    assert [p.rule for p in problems] == [rule]


# --------------------------------------------------------------------------------------------
# 5. joins


JOINS_HEAD = "version: 1\ncolumns: {id: id, region: Region}\nstages:\n  - {name: Lead, date: created}\njoins:\n"


def test_join_unknown_key_did_you_mean_at_the_key(write):
    text = JOINS_HEAD + "  - name: contacts\n    pth: contacts.csv\n    on: {id: lead_id}\n    columns: {account_id: account_id}\n"
    _, problem = only_problem(write, text)
    assert problem.rule == "unknown-key" and at(problem) == pos(text, "pth")
    assert "unknown key 'pth' in join 'contacts' (did you mean 'path'?)" in problem.message


def test_join_order_by_typo_did_you_mean(write):
    text = JOINS_HEAD + "  - name: opps\n    on: {id: lead_id}\n    columns: {amount: amount}\n    many: last\n    oder_by: closed\n"
    _, problem = only_problem(write, text)
    assert problem.rule == "unknown-key" and at(problem) == pos(text, "oder_by")
    assert "(did you mean 'order_by'?)" in problem.message


@pytest.mark.parametrize("value", ["sometimes", "0", "[first]"])  # any case of first/last/error is fine
def test_many_bad_value_at_the_value(write, value):
    text = JOINS_HEAD + f"  - name: opps\n    on: {{id: lead_id}}\n    columns: {{amount: amount}}\n    many: {value}\n"
    _, problem = only_problem(write, text)
    assert problem.rule == "invalid-value" and at(problem) == pos(text, f"many: ^{value}")
    assert "many must be one of first, last, error" in problem.message


@pytest.mark.parametrize("many", ["first", "last", "error"])
def test_many_good_values(write, many):
    defs = load_text(write, JOINS_HEAD + f"  - name: opps\n    on: {{id: lead_id}}\n    columns: {{amount: amount}}\n    many: {many}\n")
    assert defs.joins[0].many == many


def test_join_keyed_on_a_field_a_later_join_brings_is_join_order(write):
    # accounts keys on account_id, which contacts (listed after it) brings: rule join-order at accounts.
    text = (JOINS_HEAD + "  - name: accounts\n    on: account_id\n    columns: {industry: industry}\n"
            "  - name: contacts\n    on: {id: lead_id}\n    columns: {account_id: account_id}\n")
    _, problem = only_problem(write, text)
    assert problem.rule == "join-order" and at(problem) == pos(text, "name: accounts")
    assert "'accounts' keys on 'account_id', which join 'contacts' brings in later; list that join first" in problem.message
    # the fix the message gives: the same joins, contacts first, are valid
    fixed = (JOINS_HEAD + "  - name: contacts\n    on: {id: lead_id}\n    columns: {account_id: account_id}\n"
             "  - name: accounts\n    on: account_id\n    columns: {industry: industry}\n")
    assert [j.name for j in load_text(write, fixed).joins] == ["contacts", "accounts"]


def test_join_bringing_a_canonical_name_columns_maps_is_a_conflict(write):
    # columns maps region (the export's Region); the join brings region too.
    text = JOINS_HEAD + "  - name: contacts\n    on: {id: lead_id}\n    columns: {account_id: account_id, region: region}\n"
    _, problem = only_problem(write, text)
    assert problem.rule == "conflict" and at(problem) == pos(text, "name: contacts")
    assert "'contacts' brings in 'region', which columns maps already" in problem.message


def test_join_bringing_a_name_an_earlier_join_brought_is_a_conflict(write):
    text = (JOINS_HEAD + "  - name: contacts\n    on: {id: lead_id}\n    columns: {account_id: account_id}\n"
            "  - name: deals\n    on: {id: lead}\n    columns: {account_id: acct}\n")
    _, problem = only_problem(write, text)
    assert problem.rule == "conflict" and at(problem) == pos(text, "name: deals")
    assert "which join 'contacts' maps already" in problem.message


def test_join_names_repeat_case_insensitively(write):
    text = (JOINS_HEAD + "  - name: contacts\n    on: {id: lead_id}\n    columns: {account_id: account_id}\n"
            "  - name: Contacts\n    on: account_id\n    columns: {industry: industry}\n")
    _, problem = only_problem(write, text)
    assert problem.rule == "duplicate-name" and at(problem) == pos(text, "name: Contacts")


@pytest.mark.parametrize("body, rule, needle", [
    ("    columns: {a: a}\n", "missing-key", "name: j"),  # no on:
    ("    on: {id: lead_id}\n", "missing-key", "name: j"),  # no columns:
    ("    on: {id: lead_id, x: y}\n    columns: {a: a}\n", "wrong-type", "{id: lead_id, x: y}"),  # two keys in on:
    ("    on: ''\n    columns: {a: a}\n", "wrong-type", "''"),
    ("    on: id\n    columns: [a]\n", "wrong-type", "[a]"),
], ids=["no-on", "no-columns", "on-two-pairs", "on-empty", "columns-list"])
def test_join_shape_problems(write, body, rule, needle):
    text = JOINS_HEAD + "  - name: j\n" + body
    _, _, problems = problems_in(write, text)
    assert [(p.rule, at(p)) for p in problems] == [(rule, pos(text, needle))]


def test_joined_field_used_by_stages_exits_markets_is_not_an_export_column(write):
    # A stage's flag/date, an exit's condition and a market's condition on joined fields are
    # checked against the joined file's header, not the export's.
    text = (JOINS_HEAD.replace("{name: Lead, date: created}", "{name: Lead, date: created}\n  - {name: Won, flag: is_won, date: closed_at}")
            + "  - name: opps\n    on: {id: lead_id}\n    columns: {is_won: won, closed_at: closed, size: employees}\n"
            "exits:\n  - {name: Lost, when: {is_won: {in: ['FALSE']}}}\n"
            "markets:\n  - {name: Big, when: {size: {gte: 1000}}}\n")
    defs = load_text(write, text)
    assert set(defs.headers()) == {"id", "Region", "created"}
    assert set(defs.headers("opps")) == {"lead_id", "won", "closed", "employees"}
