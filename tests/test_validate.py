"""`funnelcli validate`: every problem it must find and where it points, the output formats and
exit codes, --data against an export's header, and that validating never imports pandas.

Positions are 1-based and computed from the YAML text of each test with `pos(text, needle)`: the
line and column where `needle` starts, i.e. the key or value the problem is about.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
from tests.conftest import ROOT, pos, run

from funnelcli import definitions
from funnelcli.errors import Problem
from funnelcli.output.problems import format_problems

# A valid file; cases append stages (the list is last), or new top-level sections.
BASE = """\
version: 1
columns:
  id: Record ID
  status: Lead Status
stages:
  - name: MQL
    date: MQL Date
  - name: SAL
    date: SAL Date
"""


def problems_in(write, text: str | bytes, name: str = "defs.yml"):
    """Write `text` as one definitions file; return (its path, the problems validate finds)."""
    path = write(name, text)
    _, problems = definitions.validate([str(path)])
    return str(path), problems


def summary(problems) -> list[tuple]:
    return [(p.line, p.col, p.level, p.rule) for p in problems]


def test_pos_helper():
    """The position helper: 1-based, and '^' moves the spot inside the needle."""
    assert pos("a: 1\nbb: 22\n", "bb") == (2, 1)
    assert pos("a: 1\nbb: 22\n", "bb: ^22") == (2, 5)
    assert pos("x x", "x", occurrence=2) == (1, 3)


def test_base_is_valid(write):
    """The base every case below starts from has no problem of its own."""
    assert problems_in(write, BASE)[1] == []


# --------------------------------------------------------------------------------------------
# 3. Every problem kind: rule, level, position, message


def case(case_id: str, text: str, needle: str, rule: str, *words: str):
    """One mistake: the file's text, where the problem must point (see pos), its rule, words of its message."""
    return pytest.param(text, needle, rule, words, id=case_id)


def stage(lines: str) -> str:
    """BASE with `lines` added to its last stage (SAL), or with a stage added when they start with '  - '."""
    return BASE + (lines if lines.startswith("  - ") else textwrap.indent(lines, "    "))


def market(when: str) -> str:
    """BASE with one market whose `when:` is `when`."""
    return BASE + f"markets:\n  - name: M\n    when: {when}\n"


def targets(*lines: str) -> str:
    return BASE + "targets:\n" + "".join(f"  {line}\n" for line in lines)


def columns(extra: str) -> str:
    """BASE with `extra` added under columns."""
    return BASE.replace("  status: Lead Status\n", "  status: Lead Status\n" + extra)


ACTIVITY = columns("  touches: Touches\n  last_activity: Last Activity\n")

CASES = [
    case("duplicate-key", stage("date: Other Date\n"), "date: Other", "duplicate-key", "duplicate key 'date'"),
    case("unknown-key-top", BASE + "market:\n  - name: SMB\n", "market:", "unknown-key", "'market'", "did you mean 'markets'?"),
    case("unknown-key-stage", stage("sla_day: 3\n"), "sla_day", "unknown-key", "'sla_day' in stage 'SAL'",
         "did you mean 'sla_days'?"),
    case("unknown-key-purgatory", ACTIVITY + "    purgatory: {touches_at_most: 1, idle_days: 5, idle: 3}\n", "idle: 3",
         "unknown-key", "'idle'", "did you mean 'idle_days'?"),
    case("wrong-type-section", BASE + "exits: {name: Lost}\n", "{name: Lost}", "wrong-type",
         "exits must be a list, got a mapping"),
    case("wrong-type-empty-test", BASE + "exits:\n  - {name: Lost, when: {status: {}}}\n", "{}}", "wrong-type",
         "the test of 'status' must be a mapping of operators", "got an empty mapping, which tests nothing"),
    case("wrong-type-stage-date", stage("  - name: SQL\n    date: [SQL Date]\n"), "[SQL Date]", "wrong-type",
         "'date' must be non-empty text"),
    case("wrong-type-column", BASE.replace("status: Lead Status", "status: ''"), "''", "wrong-type", "status must name a column"),
    case("wrong-type-present", market("{phone: {present: yes}}"), "present: ^yes", "wrong-type",
         "takes true or false, got 'yes'"),
    case("wrong-type-condition", market("[status, Open]"), "[status", "wrong-type", "a condition is a mapping"),
    case("missing-key-when", BASE + "markets:\n  - name: SMB\n", "name: SMB", "missing-key",
         "market 'SMB' needs a 'when' condition"),
    case("missing-key-date", stage("  - name: SQL\n    sla_days: 3\n"), "name: SQL", "missing-key",
         "stage 'SQL' needs a 'date' column"),
    case("missing-key-name", stage("  - date: SQL Date\n"), "date: SQL Date", "missing-key", "stage #3 needs a 'name'"),
    case("missing-key-id", BASE.replace("  id: Record ID\n", ""), "status: Lead", "missing-key", "columns needs an 'id'"),
    case("duplicate-name-stage", stage("  - name: mql\n    date: Other Date\n"), "name: mql", "duplicate-name",
         "stage 'mql' has the same name as the stage at", "defs.yml:6"),
    case("reserved-name-market", BASE + "markets:\n  - name: Out of Market\n    when: {status: x}\n", "Out of Market",
         "reserved-name",
         "'out of market' is where leads in no market go"),
    case("reserved-name-column", columns("  exit: Exit Reason\n"), "exit:", "reserved-name", "'exit' is computed by funnelcli"),
    case("reserved-name-field", BASE + "exits:\n  - name: Lost\n    when: {market: SMB}\n", "market: SMB", "reserved-name",
         "'market' is computed by funnelcli and cannot be tested"),
    case("unknown-operator", market("{employees: {gtee: 5}}"), "gtee", "unknown-operator",
         "unknown operator 'gtee' on 'employees'", "did you mean 'gte'?", "operators are eq, ne"),
    case("unknown-operator-and", market("{and: [{status: A}, {status: B}]}"), "and:", "unknown-operator",
         "'and' is not a condition keyword", "did you mean 'all'?"),
    case("unknown-operator-or", market("\n      or:\n        - status: A"), "or:", "unknown-operator",
         "'or' is not a condition keyword", "did you mean 'any'?"),
    case("invalid-regex", market("{email: {not_matches: '@(gmail'}}"), "'@(gmail'", "invalid-regex",
         "invalid regular expression '@(gmail'"),
    case("invalid-value-window", stage("window_days: 0\n"), "window_days: ^0", "invalid-value",
         "window_days must be a positive number of days, got 0"),
    case("invalid-value-touches", ACTIVITY + "    purgatory: {touches_at_most: -1, idle_days: 10}\n", "touches_at_most: ^-1",
         "invalid-value", "touches_at_most must be a whole number"),
    case("invalid-value-stage-name", stage("  - name: SQL->Won\n    date: Won Date\n"), "SQL->Won", "invalid-value",
         "cannot contain '->'"),
    case("invalid-value-empty-all", market("{all: []}"), "all: ^[]", "invalid-value", "'all' needs at least one"),
    case("unknown-stage", targets("MQL->SALL: 0.5"), "MQL->SALL", "unknown-stage",
         "unknown stage 'SALL'", "did you mean 'SAL'?", "stages are MQL, SAL"),
    case("target-order", targets("SAL->MQL: 0.5"), "SAL->MQL", "target-order", "MQL must come after SAL"),
    case("target-order-same", targets("MQL->mql: 0.5"), "MQL->mql", "target-order", "must come after"),
    case("invalid-target-key", targets("MQL to SAL: 0.5"), "MQL to SAL", "invalid-target", "neither 'STAGE->STAGE'"),
    case("invalid-target-share", targets("MQL->SAL: 1.5"), "MQL->SAL: ^1.5", "invalid-target",
         "1.5 is not a share between 0 and 1"),
    case("invalid-target-percent", targets("MQL stuck: 150%"), "MQL stuck: ^150%", "invalid-target", "'150%' is not a share"),
    case("invalid-target-bool", targets("MQL->SAL: true"), "MQL->SAL: ^true", "invalid-target", "true is not a share"),
    case("invalid-target-two-bounds", targets("MQL stuck: {min: 0.1, max: 0.2}"), "{min", "invalid-target",
         "one of {min: 0.8} / {max: 0.1}"),
    case("invalid-sla-zero", stage("sla_days: 0\n"), "sla_days: ^0", "invalid-sla",
         "stage 'SAL': sla_days must be a positive number of days, got 0"),
    case("invalid-sla-negative", stage("sla_days: -3\n"), "sla_days: ^-3", "invalid-sla", "got -3"),
    case("invalid-sla-text", stage("sla_days: 3 days\n"), "sla_days: ^3 days", "invalid-sla", "got '3 days'"),
    case("invalid-sla-true", stage("sla_days: true\n"), "sla_days: ^true", "invalid-sla", "got true"),
    case("invalid-sla-false", stage("sla_days: false\n"), "sla_days: ^false", "invalid-sla", "got false"),
    case("invalid-sla-yes", stage("sla_days: yes\n"), "sla_days: ^yes", "invalid-sla", "got 'yes'"),
    case("invalid-timezone", BASE + "timezone: Mars/Olympus\n", "Mars/Olympus", "invalid-timezone",
         "unknown timezone 'Mars/Olympus'"),
    case("invalid-date-format", BASE + "date_format: '%d/%m/%Q'\n", "'%d/%m/%Q'", "invalid-date-format",
         "'%d/%m/%Q' is not a strptime format"),
    case("invalid-date-format-no-directive", BASE + "date_format: dd/mm/yyyy\n", "dd/mm/yyyy", "invalid-date-format",
         "'dd/mm/yyyy'"),
    # a directive twice was an internal error (strptime's pattern named a group twice)
    case("invalid-date-format-twice", BASE + "date_format: '%Y-%m-%d %Y'\n", "'%Y-%m-%d %Y'", "invalid-date-format",
         "'%Y-%m-%d %Y' gives a directive twice"),
    case("unsupported-version", BASE.replace("version: 1", "version: 2"), "version: ^2", "unsupported-version",
         "version must be 1, got 2"),
]


@pytest.mark.parametrize("text, needle, rule, words", CASES)
def test_problem_kind(write, text, needle, rule, words):
    """Each mistake gives exactly one error, with its rule, at the offending key or value."""
    path, problems = problems_in(write, text)
    assert summary(problems) == [(*pos(text, needle), "error", rule)], "\n".join(p.format() for p in problems)
    assert problems[0].path == path
    for word in words:
        assert word in problems[0].message


def test_unmapped_field_for_a_purgatory_rule(write):
    """A purgatory rule on activity needs touches and last_activity mapped: unmapped-field names both."""
    text = BASE + "    purgatory: {touches_at_most: 2, idle_days: 10}\n"
    path, problems = problems_in(write, text)
    assert [(p.path, p.level, p.rule) for p in problems] == [(path, "error", "unmapped-field")]
    assert "stage 'SAL'" in problems[0].message and "touches and last_activity" in problems[0].message
    # with only one of them mapped, the message names the other
    text = columns("  touches: Touches\n") + "    purgatory: {touches_at_most: 2, idle_days: 10}\n"
    _, problems = problems_in(write, text)
    assert [p.rule for p in problems] == ["unmapped-field"]
    assert "does not map last_activity" in problems[0].message


def test_unmapped_field_points_at_the_purgatory_key(write):
    """The position of unmapped-field is the purgatory rule that needs the columns."""
    text = BASE + "    purgatory: {touches_at_most: 2, idle_days: 10}\n"
    _, problems = problems_in(write, text)
    assert summary(problems) == [(*pos(text, "purgatory"), "error", "unmapped-field")]


def test_yaml_syntax_error_points_at_the_problem(write):
    """A YAML syntax error is reported where the parser stopped: the second ':' on the line."""
    text = BASE.replace("status: Lead Status", "status: Lead: Status")
    path, problems = problems_in(write, text)
    syntax = [p for p in problems if p.rule == "yaml-syntax"]
    assert [(p.path, p.line, p.col, p.level) for p in syntax] == [(path, *pos(text, "Lead^: Status"), "error")]
    assert "mapping values are not allowed here" in syntax[0].message


def test_yaml_syntax_error_unclosed_quote(write):
    """An unclosed quote runs to the end of the file; the error names what was being scanned."""
    text = BASE + "exits:\n  - name: 'Lost\n"
    _, problems = problems_in(write, text)
    [syntax] = [p for p in problems if p.rule == "yaml-syntax"]
    assert syntax.line == text.count("\n") + 1  # the end of the stream, after the last line
    assert "quoted scalar" in syntax.message


@pytest.mark.parametrize("content", [
    BASE.replace("status: Lead Status", "status: Lead: Status"),
    BASE.replace("Lead Status", "Statut soci\u00e9t\u00e9").encode("latin-1"),
], ids=["yaml-syntax", "encoding"])
def test_unreadable_file_reports_only_why(write, content):
    """A file that can't be read yields one problem (why), not "no 'stages'" or "columns needs an 'id'"."""
    _, problems = problems_in(write, content)
    assert [p.rule for p in problems] == ["yaml-syntax" if isinstance(content, str) else "encoding"]


def test_unreadable_file_in_a_folder_does_not_hide_the_others(write):
    """In a folder, the problems of the readable files are still reported next to the unreadable one."""
    broken = write("defs/a.yml", "columns: {id: [}\n")
    write("defs/b.yml", "exits:\n  - name: Lost\n")
    _, problems = definitions.validate([str(broken.parent)])
    assert [(p.path.rsplit("/", 1)[-1], p.rule) for p in problems] == [("a.yml", "yaml-syntax"), ("b.yml", "missing-key")]


def test_targets_beside_an_unreadable_stages_file_are_not_each_an_unknown_stage(write):
    """The stages are in the file that can't be read: the targets file beside it does not add an
    'unknown stage' error per target ('stages are' an empty list), only the syntax error is said."""
    broken = write("defs/funnel.yml", "columns: {id: [}\nstages:\n  - name: MQL\n")
    write("defs/targets.yml", "targets:\n  MQL stuck: {max: 0.1}\n")
    _, problems = definitions.validate([str(broken.parent)])
    assert [(p.path.rsplit("/", 1)[-1], p.rule) for p in problems] == [("funnel.yml", "yaml-syntax")]


def test_targets_with_no_stages_at_all_are_not_each_an_unknown_stage(write):
    """stages: [] is one error; the targets beside it don't each add 'stages are ' (an empty list)."""
    folder = write("defs/funnel.yml", "version: 1\ncolumns: {id: Id}\nstages: []\n").parent
    write("defs/targets.yml", "targets:\n  A->B: {min: 0.5}\n")
    _, problems = definitions.validate([str(folder)])
    assert problems and not [p for p in problems if p.rule == "unknown-stage"]


def test_encoding_error(write):
    """A Latin-1 file is an encoding error at the line and column of the first bad byte (where an
    editor, or a GitHub annotation, shows it), with its offset."""
    content = BASE.replace("Lead Status", "Statut soci\u00e9t\u00e9").encode("latin-1")
    path, problems = problems_in(write, content)
    encoding = [p for p in problems if p.rule == "encoding"]
    first_bad = content.index("\u00e9".encode("latin-1"))
    line = content[:first_bad].count(b"\n") + 1
    col = first_bad - (content.rfind(b"\n", 0, first_bad) + 1) + 1  # ASCII before it on its line
    assert b"Statut soci" in content.splitlines()[line - 1]
    assert [(p.path, p.line, p.col, p.level) for p in encoding] == [(path, line, col, "error")]
    assert f"byte {first_bad}" in encoding[0].message
    assert "UTF-8" in encoding[0].message


def test_utf8_bom_is_fine(write):
    """A UTF-8 file with a BOM (Windows editors) reads like one without."""
    _, problems = problems_in(write, b"\xef\xbb\xbf" + BASE.encode())
    assert problems == []


@pytest.mark.parametrize("content", ["", "# only a comment\n", "---\n", "\n\n"], ids=["empty", "comment", "doc-start", "blank"])
def test_empty_file_is_a_warning(write, content):
    """A file with no definitions is a warning at 1:1, and alone in a folder with valid ones it is the only problem."""
    write("defs/funnel.yml", BASE)
    empty = write("defs/notes.yml", content)
    defs, problems = definitions.validate([str(empty.parent)])
    assert defs is not None
    assert [(p.path, p.line, p.col, p.level, p.rule) for p in problems] == [(str(empty), 1, 1, "warning", "empty-file")]


@pytest.mark.parametrize("tz", ["America", "Europe"])
def test_timezone_naming_a_folder_is_invalid(write, tz):
    """A timezone that is a folder of the tz database is an unknown timezone, not a crash."""
    text = BASE + f"timezone: {tz}\n"
    _, problems = problems_in(write, text)
    assert summary(problems) == [(*pos(text, tz), "error", "invalid-timezone")]


def test_empty_stage_list_is_an_error(write):
    """A funnel needs stages: an empty list is one error about them."""
    text = "columns: {id: Record ID}\nstages: []\n"
    _, problems = problems_in(write, text)
    assert [p.level for p in problems] == ["error"]
    assert "stages" in problems[0].message


@pytest.mark.parametrize("text, needle", [
    ("version: 1\ncolumns: {id: Record ID}\nstages: \"MQL\"\n", 'stages: ^"MQL"'),
    ("version: 1\ncolumns: {id: [a, b]}\nstages:\n  - {name: MQL, date: d}\n", "id: ^[a, b]"),
])
def test_a_key_of_the_wrong_type_is_one_problem_where_it_is_not_also_missing(write, text, needle):
    # 'stages: "MQL"' was also "no 'stages'", and 'id: [a, b]' also "columns needs an 'id'"
    _, problems = problems_in(write, text)
    assert summary(problems) == [(*pos(text, needle), "error", "wrong-type")]


@pytest.mark.parametrize("keyword, suggestion", [("And", "all"), ("Or", "any"), ("ALL", "all"), ("ANY", "any")])
def test_capitalised_keywords_suggest_all_any(write, keyword, suggestion):
    """And/Or/ALL/ANY are keyword typos like and/or/All/Any: unknown-operator with the hint."""
    text = BASE + f"markets:\n  - name: M\n    when: {{{keyword}: [{{status: A}}, {{status: B}}]}}\n"
    _, problems = problems_in(write, text)
    assert summary(problems) == [(*pos(text, f"{keyword}:"), "error", "unknown-operator")]
    assert f"did you mean {suggestion!r}?" in problems[0].message


def test_nested_aliases_do_not_explode(write):
    """YAML aliases share one node; validating a file of nested aliases must stay fast (PyYAML loads it in ms)."""
    lines = ["l0: &l0 [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 8):
        lines.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]")
    path = write("laughs.yml", "\n".join(lines) + "\n")
    result = subprocess.run(
        [sys.executable, "-m", "funnelcli", "validate", "-q", str(path)],
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")}, capture_output=True, text=True, timeout=5,
    )
    assert result.returncode == 1  # the keys are unknown; it must say so, not hang


# --------------------------------------------------------------------------------------------
# 4. All problems of a file in one run, sorted


def test_every_problem_of_a_file_in_one_run_sorted(write):
    """Four different mistakes give four problems, in line order, whatever order they were found in."""
    text = textwrap.dedent("""\
        targets:
          MQL->SQL: 0.3
        version: 1
        columns:
          id: Record ID
        stages:
          - name: MQL
            date: MQL Date
            sla_days: 3 days
          - name: SAL
            date: SAL Date
            purgatory: {touches_at_most: 2, idel_days: 10}
        timezone: Europe/Pariss
        """)
    path, problems = problems_in(write, text)
    assert [(p.line, p.col, p.rule) for p in problems] == [
        (*pos(text, "MQL->SQL"), "unknown-stage"),
        (*pos(text, "3 days"), "invalid-sla"),
        (*pos(text, "{touches_at_most"), "missing-key"),  # idle_days, which the typo left out
        (*pos(text, "idel_days"), "unknown-key"),
        (*pos(text, "Europe/Pariss"), "invalid-timezone"),
    ]
    assert problems == sorted(problems)


def test_four_mistakes_four_problems(write):
    """Exactly four independent mistakes: exactly four problems, none hiding another."""
    text = BASE.replace("version: 1", "version: 3") + textwrap.dedent("""\
            sla_days: 0
        exits:
          - name: Lost
            when: {status: {nin: [x]}}
        timezone: Nowhere
        """)
    _, problems = problems_in(write, text)
    assert len(problems) == 4
    assert summary(problems) == [
        (*pos(text, "version: ^3"), "error", "unsupported-version"),   # line 1
        (*pos(text, "sla_days: ^0"), "error", "invalid-sla"),          # line 10
        (*pos(text, "nin"), "error", "unknown-operator"),              # line 13
        (*pos(text, "Nowhere"), "error", "invalid-timezone"),          # line 14
    ]


# --------------------------------------------------------------------------------------------
# 7. The CLI: exit codes, formats, -q, FUNNELCLI_DEFINITIONS

BROKEN = BASE + "    sla_days: 0\ntimezone: Mars/Olympus\n"


def broken_lines(path) -> list[str]:
    """The two text lines `validate` prints for BROKEN written at `path`."""
    sla, tz = pos(BROKEN, "sla_days: ^0"), pos(BROKEN, "Mars/Olympus")
    return [
        f"{path}:{sla[0]}:{sla[1]}: error: stage 'SAL': sla_days must be a positive number of days, got 0 (invalid-sla)",
        f"{path}:{tz[0]}:{tz[1]}: error: unknown timezone 'Mars/Olympus'; use an IANA name such as UTC or America/New_York"
        " (invalid-timezone)",
    ]


def test_cli_shipped_definitions_are_valid(monkeypatch):
    """From the repo root, `funnelcli validate` checks ./definitions: exit 0, nothing on stdout."""
    monkeypatch.chdir(ROOT)
    result = run("validate")
    assert (result.exit_code, result.stdout) == (0, "")
    assert result.stderr == "funnelcli: definitions: definitions are valid\n"


def test_cli_text_format(write):
    """Errors: one `path:line:col: error: message (rule)` line each on stdout, a count on stderr, exit 1."""
    path = write("defs.yml", BROKEN)
    result = run("validate", path)
    assert result.exit_code == 1
    assert result.stdout.splitlines() == broken_lines(path)
    assert result.stderr == f"funnelcli: {path}: 2 errors, 0 warnings\n"


def test_cli_missing_path_exits_2(tmp_path):
    """A path that doesn't exist: exit 2, an error on stderr, nothing on stdout."""
    result = run("validate", tmp_path / "nope")
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr.startswith(f"funnelcli: error: {tmp_path / 'nope'}: no such definitions file or folder")


def test_cli_github_format_escapes(tmp_path, write):
    """-f github: `::error file=..,line=..,col=..,title=funnelcli RULE::message`.

    ':' ',' and '%' are escaped in the path (a property), only '%' in the message.
    """
    assert not any(c in str(tmp_path) for c in ":,%")
    text = BASE + "    sla_days: 0\ntargets:\n  MQL stuck: 150%\n"
    path = write("a:b,c/x%.yml", text)
    result = run("validate", "-f", "github", path)
    assert result.exit_code == 1
    escaped = f"{tmp_path}/a%3Ab%2Cc/x%25.yml"
    sla, share = pos(text, "sla_days: ^0"), pos(text, "150%")
    assert result.stdout.splitlines() == [
        f"::error file={escaped},line={sla[0]},col={sla[1]},title=funnelcli invalid-sla::"
        "stage 'SAL': sla_days must be a positive number of days, got 0",
        f"::error file={escaped},line={share[0]},col={share[1]},title=funnelcli invalid-target::"
        "target 'MQL stuck': '150%25' is not a share between 0 and 1 (or 0%25 to 100%25)",
    ]


def test_format_problems_github_escaping():
    """GitHub's escaping: data % \\r \\n; properties also : and ,. Warnings are ::warning."""
    problem = Problem("dir:1,2/f%.yml", 3, 4, "warning", "some-rule", "50% done\nnext\rline: a, b")
    assert format_problems([problem], "github") == (
        "::warning file=dir%3A1%2C2/f%25.yml,line=3,col=4,title=funnelcli some-rule::50%25 done%0Anext%0Dline: a, b\n"
    )


def test_cli_json_format(write):
    """-f json: a JSON list of {path, line, col, level, rule, message}, in the order of the text lines."""
    path = write("defs.yml", BROKEN)
    result = run("validate", "-f", "json", path)
    assert result.exit_code == 1
    found = json.loads(result.stdout)
    sla, tz = pos(BROKEN, "sla_days: ^0"), pos(BROKEN, "Mars/Olympus")
    assert [set(item) for item in found] == [{"path", "line", "col", "level", "rule", "message"}] * 2
    assert [(f["path"], f["line"], f["col"], f["level"], f["rule"]) for f in found] == [
        (str(path), *sla, "error", "invalid-sla"), (str(path), *tz, "error", "invalid-timezone"),
    ]


def test_cli_json_format_clean_is_an_empty_list(write):
    """No problems: an empty JSON list, exit 0."""
    result = run("validate", "-f", "json", write("defs.yml", BASE))
    assert (result.exit_code, json.loads(result.stdout)) == (0, [])


def test_cli_warnings_alone_exit_0(write):
    """A warning is printed but does not fail the run."""
    write("defs/funnel.yml", BASE)
    empty = write("defs/empty.yml", "# to do\n")
    result = run("validate", empty.parent)
    assert result.exit_code == 0
    assert result.stdout == f"{empty}:1:1: warning: the file holds no definitions (empty-file)\n"
    assert result.stderr == f"funnelcli: {empty.parent}: 0 errors, 1 warning\n"


@pytest.mark.parametrize("text, code", [(BROKEN, 1), (BASE, 0)], ids=["broken", "valid"])
def test_cli_quiet_silences_the_summary(write, text, code):
    """-q: no summary on stderr; stdout (the problems) unchanged."""
    path = write("defs.yml", text)
    result = run("validate", "-q", path)
    assert (result.exit_code, result.stderr) == (code, "")
    assert result.stdout.splitlines() == (broken_lines(path) if code else [])


def test_cli_definitions_env_var(write):
    """Without PATHS, FUNNELCLI_DEFINITIONS is used; it may list several paths (os.pathsep)."""
    broken = write("broken.yml", BROKEN)
    result = run("validate", env={"FUNNELCLI_DEFINITIONS": str(broken)})
    assert (result.exit_code, result.stdout.splitlines()) == (1, broken_lines(broken))
    funnel = write("split/funnel.yml", BASE)
    exits = write("split/exits.yml", "exits:\n  - {name: Lost, when: {status: Lost}}\n")
    result = run("validate", env={"FUNNELCLI_DEFINITIONS": f"{funnel}{os.pathsep}{exits}"})
    assert (result.exit_code, result.stdout) == (0, "")
    assert result.stderr == f"funnelcli: {funnel}, {exits}: definitions are valid\n"


def test_cli_path_argument_beats_env_var(write):
    """PATHS given on the command line win over FUNNELCLI_DEFINITIONS."""
    valid = write("valid.yml", BASE)
    result = run("validate", valid, env={"FUNNELCLI_DEFINITIONS": str(write("broken.yml", BROKEN))})
    assert (result.exit_code, result.stdout) == (0, "")


# --------------------------------------------------------------------------------------------
# 8. --data: the columns the definitions use against the export's header

DATA_DEFS = """\
columns:
  id: Record ID
  owner: Contact owner
  status: Lead Stauts
stages:
  - name: MQL
    date: MQL Date
exits:
  - name: Lost
    when: {status: Closed Lost, Region: {in: [EU]}}
"""
# every value the rules list occurs (else validate --data warns: drift-value, tests/test_validate_data.py)
HEADER = "Record ID,Contact Owner,Lead Status,MQL Date,Region\n1,Ann,Open,2024-01-02,EU\n2,Bo,Closed Lost,2024-01-03,EU\n"


def test_data_reports_missing_columns_with_the_nearest_header(write):
    """Each reference to a column the header lacks is a missing-column error where it is written."""
    defs = write("defs.yml", DATA_DEFS)
    export = write("export.csv", HEADER)
    result = run("validate", defs, "--data", export)
    assert result.exit_code == 1
    owner, status, cond = pos(DATA_DEFS, "Contact owner"), pos(DATA_DEFS, "Lead Stauts"), pos(DATA_DEFS, "status: Closed")
    assert result.stdout.splitlines() == [
        f"{defs}:{owner[0]}:{owner[1]}: error: columns.owner: column 'Contact owner' is not in {export}"
        " (nearest: 'Contact Owner'; headers are case-sensitive) (missing-column)",
        f"{defs}:{status[0]}:{status[1]}: error: columns.status: column 'Lead Stauts' is not in {export}"
        " (nearest: 'Lead Status') (missing-column)",
        f"{defs}:{cond[0]}:{cond[1]}: error: exit Lost condition: column 'Lead Stauts' is not in {export}"
        " (nearest: 'Lead Status') (missing-column)",
    ]


def test_data_missing_column_without_a_near_header(write):
    """When no header is close, the message says so by naming none."""
    text = BASE + "markets:\n  - name: EU\n    when: {Sales Territory: EMEA}\n"
    defs = write("defs.yml", text)
    export = write("export.csv", "Record ID,Lead Status,MQL Date,SAL Date\n")
    result = run("validate", defs, "--data", export)
    assert result.exit_code == 1
    line, col = pos(text, "Sales Territory")
    assert result.stdout == (
        f"{defs}:{line}:{col}: error: market EU condition: column 'Sales Territory' is not in {export} (missing-column)\n"
    )


def test_data_missing_stage_date_points_at_the_date(write):
    """A stage's date column missing from the export is reported at its `date:` value."""
    defs = write("defs.yml", BASE)
    export = write("export.csv", "Record ID,Lead Status,MQL Date,SAL date\n")
    result = run("validate", defs, "--data", export)
    line, col = pos(BASE, "SAL Date")
    assert result.stdout.startswith(f"{defs}:{line}:{col}: error: stage SAL date: column 'SAL Date' is not in")


def test_data_header_that_matches_exits_0(write):
    """Every used column present: exit 0, nothing on stdout."""
    defs = write("defs.yml", DATA_DEFS.replace("Contact owner", "Contact Owner").replace("Stauts", "Status"))
    result = run("validate", defs, "--data", write("export.csv", HEADER))
    assert (result.exit_code, result.stdout) == (0, "")


def test_data_bom_and_semicolons(write):
    """A BOM before the first header and ';' as delimiter (European Excel) are handled."""
    defs = write("defs.yml", DATA_DEFS.replace("Contact owner", "Contact Owner").replace("Stauts", "Status"))
    export = write("export.csv", b"\xef\xbb\xbf" + HEADER.replace(",", ";").encode())
    result = run("validate", defs, "--data", export)
    assert (result.exit_code, result.stdout) == (0, "")
    # and a real miss is still found through the BOM: 'Record ID' is the BOM'd first header
    export = write("export2.csv", b"\xef\xbb\xbfRecord Id;Contact Owner;Lead Status;MQL Date;Region\n")
    result = run("validate", defs, "--data", export)
    assert result.exit_code == 1
    assert "column 'Record ID' is not in" in result.stdout
    assert "(nearest: 'Record Id'; headers are case-sensitive)" in result.stdout


def test_data_from_stdin(write):
    """--data - reads the header from stdin."""
    defs = write("defs.yml", BASE)
    result = run("validate", defs, "--data", "-", input=b"Record ID,Lead Status,MQL Date\n")
    assert result.exit_code == 1
    assert "column 'SAL Date' is not in <stdin>" in result.stdout


def test_data_missing_file_exits_2(write, tmp_path):
    """--data naming a file that doesn't exist: could not run, exit 2."""
    result = run("validate", write("defs.yml", BASE), "--data", tmp_path / "nope.csv")
    assert (result.exit_code, result.stdout) == (2, "")
    assert f"{tmp_path / 'nope.csv'}: no such file" in result.stderr


def test_check_headers_reports_each_reference_once(write):
    """check_headers: one problem per (missing header, place), even when a condition repeats a field."""
    text = BASE + "exits:\n  - name: Lost\n    when: {any: [{Region: EU}, {Region: UK}]}\n"
    defs = definitions.load([str(write("defs.yml", text))])
    problems = definitions.check_headers(defs, ["Record ID", "Lead Status", "MQL Date", "SAL Date"], "x.csv")
    assert [(p.line, p.col, p.rule) for p in problems] == [
        (*pos(text, "Region: EU"), "missing-column"), (*pos(text, "Region: UK"), "missing-column"),
    ]


# --------------------------------------------------------------------------------------------
# 9. validate never imports pandas

NO_PANDAS = """\
import sys
from click.testing import CliRunner
from funnelcli.cli import cli
result = CliRunner().invoke(cli, sys.argv[1:])
assert result.exit_code == 0, (result.exit_code, result.output)
assert 'pandas' not in sys.modules, 'validate imported pandas'
"""


def validate_in_subprocess(*args) -> subprocess.CompletedProcess:
    """Run `funnelcli validate ARGS` in a fresh interpreter that then asserts pandas was never imported."""
    return subprocess.run(
        [sys.executable, "-c", NO_PANDAS, "validate", *map(str, args)],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT / "src"), "FUNNELCLI_DEFINITIONS": ""},
        capture_output=True, text=True, timeout=60,
    )


@pytest.mark.slow  # a fresh interpreter or a terminal: about a second
def test_validate_does_not_import_pandas():
    """validate on the shipped definitions (the default path, from the repo root) stays pandas-free."""
    result = validate_in_subprocess()
    assert result.returncode == 0, result.stderr


@pytest.mark.slow  # a fresh interpreter or a terminal: about a second
def test_validate_with_data_does_not_import_pandas_without_markets(write):
    """Checking an export's header is standard library only (sniff.py)."""
    defs = write("defs.yml", BASE)
    result = validate_in_subprocess(defs, "--data", write("export.csv", "Record ID,Lead Status,MQL Date,SAL Date\n"))
    assert result.returncode == 0, result.stderr


@pytest.mark.slow  # a fresh interpreter or a terminal: about a second
def test_validate_with_data_stops_at_the_header_without_pandas(write):
    """With markets, validate --data reads the whole export (pandas) to warn about markets no lead
    meets or that overlap; but a header that lacks a column is reported before that, pandas-free."""
    defs = write("defs.yml", BASE + "markets:\n  - {name: Big, when: {employees: {gte: 1000}}}\n")
    export = write("export.csv", "Record ID,Lead Status,MQL Date,SAL Date\n1,Open,2024-01-01,\n")
    script = NO_PANDAS.replace("assert result.exit_code == 0", "assert result.exit_code == 1")
    result = subprocess.run(
        [sys.executable, "-c", script, "validate", str(defs), "--data", str(export)],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT / "src"), "FUNNELCLI_DEFINITIONS": ""},
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr


def test_a_duplicate_market_name_is_reported_with_its_rules_problem(write):
    # the second 'Bad' has a rule that doesn't parse: only that was reported, and the duplicate
    # name only in a second round of CI once the rule was fixed
    text = ("version: 1\ncolumns: {id: Record ID, employees: Emp}\nstages:\n  - {name: MQL, date: D1}\nmarkets:\n"
            "  - name: Bad\n    when: {employees: {gte: 5}}\n  - name: Bad\n    when: {employees: {gte: abc}}\n")
    path = write("defs.yml", text)
    result = run("validate", path)
    assert result.exit_code == 1
    line, col = pos(text, "^name: Bad", 2)  # reported at the later one
    first_line, _ = pos(text, "name: Bad")
    assert f"{path}:{line}:{col}: error: market 'Bad' has the same name as the market at {path}:{first_line} (duplicate-name)" in result.stdout
    assert f"{path}:{pos(text, 'abc')[0]}:" in result.stdout and "(wrong-type)" in result.stdout


def test_an_export_given_as_definitions_is_named_so_in_one_error(tmp_path):
    # the export and -d swapped (a QA pass): the CSV read as YAML had given three errors, one of
    # them quoting the whole file (31 KB); now one, saying what it is and how to call it
    export = ROOT / "samples" / "hubspot-contacts.csv"
    result = run("validate", str(export))
    assert result.exit_code == 1
    (line,) = result.stdout.splitlines()
    assert line.startswith(f"{export}:1:1: error: this looks like a CSV export (its first line holds 24 fields: "
                           "'Record ID', 'First Name', 'Last Name', ...), not definitions")
    assert line.endswith("(not-definitions)") and len(line) < 500
    swapped = run("conversion", str(ROOT / "definitions"), "-d", str(export))
    assert swapped.exit_code == 2 and "funnelcli conversion EXPORT -d DEFINITIONS" in swapped.stderr
    assert len(swapped.stderr) < 1000


def test_a_long_value_is_named_not_quoted_whole(tmp_path):
    defs = tmp_path / "defs.yml"
    defs.write_text("just some text " * 100 + "\n")
    result = run("validate", str(defs))
    assert result.exit_code == 1
    assert "a definitions file must be a mapping, got 'just some text just some text just some text just some text '... " \
           "(1,499 characters)" in result.stdout  # 100 times 15 characters, the last space trimmed by YAML


def test_format_problems_github_writes_control_characters_out():
    # an export's header with ESC c (a terminal reset) or an OSC title in a path reached the CI log
    # raw: they are written out as the text lines write them; line breaks stay GitHub's %0A
    problem = Problem("e\x1b]0;PWNED\x07.yml", 3, 4, "warning", "hidden-column", "say j_amount: Amt\x1b[2J\x1bc\nnext")
    line = format_problems([problem], "github")
    assert "\x1b" not in line and "\x07" not in line
    assert line == ("::warning file=e\\x1b]0;PWNED\\x07.yml,line=3,col=4,title=funnelcli hidden-column::"
                    "say j_amount: Amt\\x1b[2J\\x1bc%0Anext\n")
