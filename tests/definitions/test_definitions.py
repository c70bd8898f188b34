"""Definitions: the YAML of docs/metrics.md -> frozen dataclasses, merging a folder, the condition grammar.

How problems are reported (rule ids, positions, the CLI) is tested in test_validate.py; here a
problem is checked only where merging or the grammar decides it.
"""

from __future__ import annotations

import datetime as dt

import pytest
from tests.conftest import pos

from funnelcli import definitions
from funnelcli.definitions import AllOf, AnyOf, Leaf, NotOf, PurgatoryRule, Target
from funnelcli.errors import DefinitionError, InputError, Problem

# docs/metrics.md, "Reference definitions", verbatim (comments included).
REFERENCE = """\
version: 1
columns:                        # canonical name: the export's header
  id: Record ID
  created: Create Date
  owner: Contact owner
  source: Original Source
  industry: Industry
  employees: Number of Employees
  country: Country/Region
  status: Lead Status
  touches: Number of Sales Activities
  last_activity: Last Activity Date
  amount: Amount
stages:
  - name: MQL
    date: Became a Marketing Qualified Lead Date
    sla_days: 3                 # sales must accept within 3 days
  - name: SAL
    date: Became a Sales Accepted Lead Date
    sla_days: 14
    purgatory: {touches_at_most: 2, idle_days: 10}
  - name: SQL
    date: Became a Sales Qualified Lead Date
    sla_days: 30
  - name: Won
    date: Became a Customer Date
exits:
  - name: Disqualified
    when: {status: {in: [Unqualified, Bad Fit]}}
  - name: Recycled
    when: {status: {in: [Nurture]}}
markets:
  - name: Enterprise NA
    when: {all: [{employees: {gte: 1000}}, {country: {in: [United States, Canada]}}]}
  - name: Mid-market
    when: {employees: {between: [100, 999]}}
targets:                        # agreed goals; breaches are reported, and can fail a run
  MQL->SAL: 0.80
  MQL->SQL: 0.30
"""

# The smallest valid head of a file; tests append stages, exits, markets or targets to it.
MINIMAL = """\
columns:
  id: Record ID
  status: Lead Status
stages:
  - name: MQL
    date: MQL Date
  - name: SAL
    date: SAL Date
"""


def load_text(write, text: str, name: str = "defs.yml"):
    """Write one definitions file and return its loaded Definitions (failing on any problem)."""
    path = write(name, text)
    defs, problems = definitions.validate([str(path)])
    assert problems == [], "\n".join(p.format() for p in problems)
    return defs


def problems_of(*paths) -> list[Problem]:
    """Return the problems that validate finds in `paths`."""
    _, problems = definitions.validate([str(p) for p in paths])
    return problems


def where(problem: Problem) -> tuple[str, int, int]:
    return problem.path, problem.line, problem.col


@pytest.fixture
def reference(write):
    return load_text(write, REFERENCE)


def test_pos_helper_counts_from_one():
    """The position helper itself: first character is 1:1, lines and columns count from 1."""
    assert pos("ab\ncd", "a") == (1, 1)
    assert pos("ab\ncd", "d") == (2, 2)
    assert pos("x x", "x", occurrence=2) == (1, 3)


# --------------------------------------------------------------------------------------------
# 1. The reference shape


def test_reference_columns(reference):
    """Every canonical name maps to its header, in the order written; timezone defaults to UTC."""
    assert list(reference.columns.items()) == [
        ("id", "Record ID"),
        ("created", "Create Date"),
        ("owner", "Contact owner"),
        ("source", "Original Source"),
        ("industry", "Industry"),
        ("employees", "Number of Employees"),
        ("country", "Country/Region"),
        ("status", "Lead Status"),
        ("touches", "Number of Sales Activities"),
        ("last_activity", "Last Activity Date"),
        ("amount", "Amount"),
    ]
    assert reference.timezone == "UTC"
    assert reference.date_format == ()


def test_reference_stages(reference):
    """Stages keep their order, date header, SLA and purgatory rule; absent keys stay None."""
    got = [(s.name, s.date, s.sla_days, s.purgatory, s.when, s.window_days) for s in reference.stages]
    assert got == [
        ("MQL", "Became a Marketing Qualified Lead Date", 3, None, None, None),
        ("SAL", "Became a Sales Accepted Lead Date", 14, PurgatoryRule(touches_at_most=2, idle_days=10), None, None),
        ("SQL", "Became a Sales Qualified Lead Date", 30, None, None, None),
        ("Won", "Became a Customer Date", None, None, None, None),
    ]
    assert reference.stage_names == ("MQL", "SAL", "SQL", "Won")


def test_reference_exits_and_markets(reference):
    """Exits and markets keep their order and parse their conditions into Leaf/AllOf trees."""
    assert [(e.name, e.when, e.date) for e in reference.exits] == [
        ("Disqualified", Leaf("status", "in", ("Unqualified", "Bad Fit")), None),
        ("Recycled", Leaf("status", "in", ("Nurture",)), None),
    ]
    assert [(m.name, m.when) for m in reference.markets] == [
        ("Enterprise NA", AllOf((Leaf("employees", "gte", 1000), Leaf("country", "in", ("United States", "Canada"))))),
        ("Mid-market", Leaf("employees", "between", (100, 999))),
    ]


def test_reference_targets(reference):
    """'A->B: share' is a rate target with a minimum."""
    assert reference.targets == (
        Target("MQL->SAL", "rate", "MQL", "SAL", minimum=0.80, maximum=None),
        Target("MQL->SQL", "rate", "MQL", "SQL", minimum=0.30, maximum=None),
    )


def test_target_forms(write):
    """Stuck targets are maximums; {min:}/{max:} choose the bound; 80% is 0.8; stage names ignore case."""
    defs = load_text(write, MINIMAL + "targets:\n  mql -> sal: 80%\n  MQL stuck: {max: 0.1}\n  SAL stuck: {min: 0.01}\n")
    assert defs.targets == (
        Target("mql -> sal", "rate", "MQL", "SAL", minimum=0.8),
        Target("MQL stuck", "stuck", "MQL", None, maximum=0.1),
        Target("SAL stuck", "stuck", "SAL", None, minimum=0.01),
    )


def test_canonical_name_as_stage_or_exit_date_resolves_to_its_header(write):
    """`date: created` names the column mapped as created; an unmapped name is taken as a header."""
    defs = load_text(write, """\
columns:
  id: Record ID
  created: Create Date
  lost_date: Closed Lost Date
stages:
  - name: Inquiry
    date: created
  - name: MQL
    date: MQL Date
exits:
  - name: Lost
    date: lost_date
""")
    assert [s.date for s in defs.stages] == ["Create Date", "MQL Date"]
    assert defs.exits[0].date == "Closed Lost Date"


def test_headers_lists_each_used_header_once(reference, write):
    """headers(): every mapped, stage-date and condition header, each exactly once."""
    headers = reference.headers()
    assert len(headers) == len(set(headers))
    assert set(headers) == set(reference.columns.values()) | {s.date for s in reference.stages}
    # A raw header tested in a condition (not mapped) is used too; a mapped one is not repeated.
    defs = load_text(write, MINIMAL + "markets:\n  - name: EU\n    when: {Region: EU, status: Open, Lead Status: {ne: Bad}}\n")
    assert sorted(defs.headers()) == sorted(["Record ID", "Lead Status", "MQL Date", "SAL Date", "Region"])


def test_field_key_and_header(reference):
    """field_key: header or canonical name -> canonical name; header: canonical name -> header."""
    assert reference.field_key("status") == "status"
    assert reference.field_key("Lead Status") == "status"
    assert reference.field_key("Region") == "Region"  # not mapped: stays the header
    assert reference.header("status") == "Lead Status"
    assert reference.header("Lead Status") == "Lead Status"
    assert reference.header("Region") == "Region"


def test_stage_index_ignores_case(reference):
    """stage_index finds a stage by name whatever its case; -1 when there is none."""
    assert reference.stage_index("sal") == 1
    assert reference.stage_index("Won") == 3
    assert reference.stage_index("Opportunity") == -1


# --------------------------------------------------------------------------------------------
# 2. A folder of files merges


def test_folder_merges_in_file_order(tmp_path, write):
    """Columns are a union; exits and markets concatenate in file-name order; targets merge."""
    write("defs/10-funnel.yml", """\
version: 1
columns: {id: Record ID, status: Lead Status}
stages:
  - {name: MQL, date: MQL Date, sla_days: 3}
  - {name: SAL, date: created}
exits:
  - {name: Disqualified, when: {status: Unqualified}}
targets:
  MQL->SAL: 0.8
""")
    write("defs/20-more.yml", """\
columns: {status: Lead Status, created: Create Date}
exits:
  - {name: Recycled, when: {status: Nurture}}
markets:
  - {name: Enterprise, when: {employees: {gte: 1000}}}
targets:
  MQL stuck: {max: 0.1}
""")
    write("defs/30-markets.yaml", "columns: {employees: Employees}\nmarkets:\n  - {name: SMB, when: {employees: {lt: 100}}}\n")
    write("defs/README.md", "not a definitions file\n")
    defs = definitions.load([str(tmp_path / "defs")])
    assert defs.columns == {"id": "Record ID", "status": "Lead Status", "created": "Create Date", "employees": "Employees"}
    assert [e.name for e in defs.exits] == ["Disqualified", "Recycled"]
    assert [m.name for m in defs.markets] == ["Enterprise", "SMB"]
    assert [t.key for t in defs.targets] == ["MQL->SAL", "MQL stuck"]
    # A stage date may name a column mapped in another file.
    assert defs.stages[1].date == "Create Date"
    assert [p.rsplit("/", 1)[-1] for p in defs.sources] == ["10-funnel.yml", "20-more.yml", "30-markets.yaml"]


def test_files_and_folders_can_be_mixed(write):
    """load() takes several paths: a file and a folder merge like one folder."""
    a = write("a.yml", MINIMAL)
    write("more/b.yml", "exits:\n  - {name: Lost, when: {status: Lost}}\n")
    defs = definitions.load([str(a), str(a.parent / "more")])
    assert [e.name for e in defs.exits] == ["Lost"]


def _two_files(write, first: str, second: str):
    """Write a folder of a.yml and b.yml; return (folder, b.yml's text, b.yml's path)."""
    write("defs/a.yml", first)
    b = write("defs/b.yml", second)
    return b.parent, second, b


def test_conflict_same_column_two_headers(write):
    """One canonical name mapped to two headers: a conflict at the second mapping's header."""
    folder, text, b = _two_files(write, MINIMAL, "columns:\n  status: Status\n")
    [problem] = problems_of(folder)
    assert (problem.rule, problem.level) == ("conflict", "error")
    assert where(problem) == (str(b), *pos(text, "Status"))
    assert "'Lead Status'" in problem.message and "'Status'" in problem.message


def test_same_column_same_header_in_two_files_is_fine(write):
    """Repeating a mapping with the same header in another file is no conflict."""
    folder, _, _ = _two_files(write, MINIMAL, "columns:\n  status: Lead Status\n")
    assert problems_of(folder) == []


def test_conflict_stages_in_two_files(write):
    """Stages are one ordered list: listing them in a second file is a conflict at its `stages` key."""
    second = "stages:\n  - {name: SQL, date: SQL Date}\n"
    folder, text, b = _two_files(write, MINIMAL, second)
    [problem] = problems_of(folder)
    assert (problem.rule, problem.level) == ("conflict", "error")
    assert where(problem) == (str(b), *pos(text, "stages"))


@pytest.mark.parametrize("key, first, second", [
    ("timezone", "UTC", "Europe/Paris"),
    ("date_format", "'%Y-%m-%d'", "'%d/%m/%Y'"),
])
def test_conflict_different_scalar_settings(write, key, first, second):
    """timezone (or date_format) set differently in two files: a conflict at the second value."""
    folder, text, b = _two_files(write, MINIMAL + f"{key}: {first}\n", f"{key}: {second}\n")
    [problem] = problems_of(folder)
    assert (problem.rule, problem.level) == ("conflict", "error")
    assert where(problem) == (str(b), *pos(text, second))


def test_a_number_format_in_two_spellings_is_the_same_format(write):
    # 'Epoch' and ' epoch' read alike (any case, blanks around): merging called them a conflict
    for first, second in (("date_format: Epoch\n", "date_format: [' epoch']\n"), ("date_formats: {MQL Date: EXCEL}\n",
                                                                                  "date_formats: {MQL Date: [excel]}\n")):
        folder, _, _ = _two_files(write, MINIMAL + first, second)
        assert problems_of(folder) == []


def test_same_timezone_in_two_files_is_fine(write):
    """The same timezone in two files is no conflict, and is the merged timezone."""
    folder, _, _ = _two_files(write, MINIMAL + "timezone: Europe/Paris\n", "timezone: Europe/Paris\n")
    assert definitions.load([str(folder)]).timezone == "Europe/Paris"


@pytest.mark.parametrize("first_extra, second, needle", [
    # an exit named like a stage of the other file (names ignore case)
    ("", "exits:\n  - name: mql\n    when: {status: x}\n", "name: mql"),
    # the same exit in both files
    ("exits:\n  - name: Lost\n    when: {status: x}\n", "exits:\n  - name: Lost\n    when: {status: y}\n", "name: Lost"),
    # the same market in both files
    ("markets:\n  - name: SMB\n    when: {employees: {lt: 10}}\n",
     "markets:\n  - name: smb\n    when: {employees: {lt: 99}}\n", "name: smb"),
    # a market named like an exit
    ("exits:\n  - name: Partner\n    when: {status: x}\n",
     "markets:\n  - name: Partner\n    when: {status: y}\n", "name: Partner"),
], ids=["stage-exit", "exit-exit", "market-market", "exit-market"])
def test_duplicate_names_across_files(write, first_extra, second, needle):
    """Stage, exit and market names share one namespace: a repeat is duplicate-name at the later item."""
    folder, text, b = _two_files(write, MINIMAL + first_extra, second)
    [problem] = problems_of(folder)
    assert (problem.rule, problem.level) == ("duplicate-name", "error")
    assert where(problem) == (str(b), *pos(text, needle))
    assert f"{folder / 'a.yml'}:" in problem.message  # says where the first one is


def test_target_set_twice_across_files(write):
    """The same target in two files (spacing and case aside) is duplicate-name at the second key."""
    second = "targets:\n  mql -> SAL: 0.7\n"
    folder, text, b = _two_files(write, MINIMAL + "targets:\n  MQL->SAL: 0.8\n", second)
    [problem] = problems_of(folder)
    assert (problem.rule, problem.level) == ("duplicate-name", "error")
    assert where(problem) == (str(b), *pos(text, "mql -> SAL"))


def test_problems_of_several_files_are_sorted_by_path_then_line(write):
    """Problems from a folder come sorted: path first, then line."""
    a = write("defs/a.yml", MINIMAL + "  - name: SQL\n    date: SQL Date\n    sla_days: 0\n")
    write("defs/b.yml", "timezone: Nowhere/Land\nexits:\n  - name: Lost\n")
    found = problems_of(a.parent)
    assert [(p.path.rsplit("/", 1)[-1], p.line, p.rule) for p in found] == [
        ("a.yml", 11, "invalid-sla"),
        ("b.yml", 1, "invalid-timezone"),
        ("b.yml", 3, "missing-key"),
    ]


# --------------------------------------------------------------------------------------------
# 5. The condition grammar


def market_when(write, condition: str):
    """Return the parsed condition of a market whose `when:` is `condition` (flow YAML)."""
    defs = load_text(write, MINIMAL + f"markets:\n  - name: M\n    when: {condition}\n")
    return defs.markets[0].when


@pytest.mark.parametrize("condition, expected", [
    ("{status: Nurture}", Leaf("status", "eq", "Nurture")),
    ("{employees: 500}", Leaf("employees", "eq", 500)),
    ("{status: [Open, New]}", Leaf("status", "in", ("Open", "New"))),
    ("{status: {in: Open}}", Leaf("status", "in", ("Open",))),
    ("{employees: {gte: 100, lt: 1000}}", AllOf((Leaf("employees", "gte", 100), Leaf("employees", "lt", 1000)))),
    ("{status: Open, country: [US]}", AllOf((Leaf("status", "eq", "Open"), Leaf("country", "in", ("US",))))),
    ("{any: [{status: A}, {not: {status: B}}]}", AnyOf((Leaf("status", "eq", "A"), NotOf(Leaf("status", "eq", "B"))))),
    ("{all: [{email: {not_matches: '@(gmail|yahoo)\\.com$'}}, {lead_score: {present: true}}]}",
     AllOf((Leaf("email", "not_matches", r"@(gmail|yahoo)\.com$"), Leaf("lead_score", "present", True)))),
    ("{company: {contains: Inc, not_contains: LLC}}",
     AllOf((Leaf("company", "contains", "Inc"), Leaf("company", "not_contains", "LLC")))),
    ("{phone: {missing: true}}", Leaf("phone", "missing", True)),
], ids=["scalar-eq", "number-eq", "list-in", "in-one-value", "two-ops-all", "two-fields-all", "any-not", "domain-example",
        "contains", "missing"])
def test_condition_shapes(write, condition, expected):
    """Shorthand scalar -> eq, list -> in; several tests in one mapping -> all."""
    assert market_when(write, condition) == expected


def test_case_sensitive_is_carried_on_each_leaf(write):
    """case_sensitive: true applies to every operator of its mapping; the default is False."""
    cond = market_when(write, "{country: {in: [US], ne: us, case_sensitive: true}, status: {in: [open]}}")
    assert cond == AllOf((
        AllOf((Leaf("country", "in", ("US",), case_sensitive=True), Leaf("country", "ne", "us", case_sensitive=True))),
        Leaf("status", "in", ("open",), case_sensitive=False),
    ))


def test_yaml_11_booleans_stay_text(write):
    """`in: [Yes, No, on, off, y, n]` are values of a text column, not booleans; only true/false are."""
    cond = market_when(write, "{consent: {in: [Yes, No, on, off, y, n, NO]}, vip: {eq: true}, churned: {eq: False}}")
    consent, vip, churned = cond.items
    assert consent.value == ("Yes", "No", "on", "off", "y", "n", "NO")
    assert all(type(v) is str for v in consent.value)
    assert vip.value is True and churned.value is False


def test_yaml_dates_become_dates(write):
    """An unquoted ISO date is a datetime.date; a quoted one stays text."""
    cond = market_when(write, "{created: {gte: 2024-03-01}, closed: {between: [2024-01-01, 2024-12-31]},"
                              " code: {eq: '2024-03-01'}}")
    gte, between, code = cond.items
    assert gte.value == dt.date(2024, 3, 1) and type(gte.value) is dt.date
    assert between.value == (dt.date(2024, 1, 1), dt.date(2024, 12, 31))
    assert code.value == "2024-03-01"


@pytest.mark.parametrize("bounds", ["[100, 100]", "[0.5, 2]", "[2024-01-01, 2024-01-01]"])
def test_between_accepts_ordered_bounds(write, bounds):
    """between takes [low, high] with low <= high, both numbers or both dates."""
    leaf = market_when(write, f"{{employees: {{between: {bounds}}}}}")
    assert leaf.op == "between" and leaf.value[0] <= leaf.value[1]


@pytest.mark.parametrize("bounds, rule, says", [
    ("[999, 100]", "invalid-value", "above high"),
    ("[2024-12-31, 2024-01-01]", "invalid-value", "above high"),
    ("[100, 2024-01-01]", "wrong-type", "must both be numbers or both dates"),
    ("[100]", "wrong-type", "[low, high]"),
    ("[a, z]", "wrong-type", "[low, high]"),
    ("100", "wrong-type", "[low, high]"),
], ids=["numbers-reversed", "dates-reversed", "number-and-date", "one-bound", "text", "scalar"])
def test_between_bounds_are_checked(write, bounds, rule, says):
    """A reversed, mixed or malformed between is an error at the bounds."""
    text = MINIMAL + f"markets:\n  - name: M\n    when: {{employees: {{between: {bounds}}}}}\n"
    [problem] = problems_of(write("defs.yml", text))
    assert (problem.rule, problem.level) == (rule, "error")
    assert (problem.line, problem.col) == pos(text, bounds)
    assert says in problem.message


def test_between_date_and_timestamp_is_reported_not_a_crash(write):
    """`between: [2024-01-01, 2024-06-01 10:00:00]` (a date and a timestamp): conditions compare
    days, so the timestamp counts as its day and the range is accepted."""
    text = MINIMAL + "markets:\n  - name: M\n    when: {created: {between: [2024-01-01, 2024-06-01 10:00:00]}}\n"
    path = write("defs.yml", text)
    assert problems_of(path) == []
    [market] = definitions.load([str(path)]).markets
    assert market.when.value == (dt.date(2024, 1, 1), dt.date(2024, 6, 1))


def test_between_message_shows_dates_as_written(write):
    """A reversed date range is reported with the dates as the user wrote them."""
    text = MINIMAL + "markets:\n  - name: M\n    when: {created: {between: [2024-12-31, 2024-01-01]}}\n"
    [problem] = problems_of(write("defs.yml", text))
    assert "2024-12-31" in problem.message and "datetime.date" not in problem.message


def test_yaml_merge_key_overrides(write):
    """`<<: *mql` then `name: SAL` is the usual YAML way to share settings; the written keys win."""
    defs = load_text(write, """\
columns: {id: Record ID}
stages:
  - &mql {name: MQL, date: MQL Date, sla_days: 3}
  - <<: *mql
    name: SAL
    date: SAL Date
""")
    assert [(s.name, s.date, s.sla_days) for s in defs.stages] == [("MQL", "MQL Date", 3), ("SAL", "SAL Date", 3)]


# --------------------------------------------------------------------------------------------
# 6. load() and validate()


def test_load_raises_definition_error_with_every_problem(write):
    """load() raises DefinitionError holding the same sorted problems validate() returns (None, ...)."""
    text = MINIMAL + "  - name: SQL\n    date: SQL Date\n    sla_days: 0\ntimezone: Nowhere/Land\n"
    path = write("defs.yml", text)
    defs, problems = definitions.validate([str(path)])
    assert defs is None
    assert [p.rule for p in problems] == ["invalid-sla", "invalid-timezone"]
    with pytest.raises(DefinitionError) as info:
        definitions.load([str(path)])
    assert info.value.problems == problems
    assert info.value.exit_code == 2
    message = str(info.value)
    assert "2 problems" in message
    assert all(p.format() in message for p in problems)


def test_load_with_warnings_only_returns_definitions(write):
    """A warning (an empty file in the folder) does not stop load(); validate() returns it with the definitions."""
    write("defs/funnel.yml", MINIMAL)
    empty = write("defs/notes.yml", "# nothing here yet\n")
    defs, problems = definitions.validate([str(empty.parent)])
    assert defs is not None and defs.stage_names == ("MQL", "SAL")
    assert [(p.path, p.level, p.rule) for p in problems] == [(str(empty), "warning", "empty-file")]
    assert definitions.load([str(empty.parent)]).stage_names == ("MQL", "SAL")


@pytest.mark.parametrize("api", [definitions.load, definitions.validate])
def test_missing_path_raises_input_error(tmp_path, api):
    """A path that does not exist cannot be validated: InputError (exit 2), naming the path."""
    missing = tmp_path / "nope.yml"
    with pytest.raises(InputError, match="nope.yml: no such definitions file or folder"):
        api([str(missing)])


@pytest.mark.parametrize("api", [definitions.load, definitions.validate])
def test_folder_without_yaml_raises_input_error(write, api):
    """A folder with no *.yml/*.yaml (hidden files and other extensions don't count): InputError."""
    write("defs/README.md", "# definitions\n")
    folder = write("defs/.hidden.yml", MINIMAL).parent
    with pytest.raises(InputError, match="no definition files"):
        api([str(folder)])


def test_digest_changes_with_content(write):
    """The digest identifies the definitions: same text same digest, one changed value a new one."""
    a = load_text(write, MINIMAL, "a.yml")
    b = load_text(write, MINIMAL, "b/a.yml")
    c = load_text(write, MINIMAL.replace("SAL Date", "SAL date"), "c/a.yml")
    assert a.digest == b.digest != c.digest
