"""`funnelcli validate` in CI: a file checked with its sibling files (as pre-commit passes changed
files), definitions from stdin, the rule in GitHub annotations' titles, --strict, the pre-commit hook.

Positions come from each test's YAML text with `pos(text, needle)` (1-based line and column).
"""

from __future__ import annotations

import json
import re

import yaml
from tests.conftest import ROOT, pos, run

from funnelcli import api, definitions

FUNNEL = """\
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
TARGETS = "targets:\n  MQL->SAL: 0.8\n"


def folder(write, name="defs", **files):
    """Write a definitions folder of `files` (file name without .yml -> text); return its path."""
    for stem, text in files.items():
        write(f"{name}/{stem}.yml", text)
    return write(f"{name}/{next(iter(files))}.yml", files[next(iter(files))]).parent


# --------------------------------------------------------------------------------------------
# 1. A file is checked with its siblings


def test_a_file_alone_lacks_what_its_siblings_hold(write):
    """What the run would never see: targets.yml alone has no stages and no id (the false errors
    of issue 10). The library's merge of the file alone shows them; validate does not."""
    defs = folder(write, funnel=FUNNEL, targets=TARGETS)
    _, alone = definitions.validate([str(defs / "targets.yml")])
    # no stages and no id (missing-key); with no stages at all its targets are not checked one by one
    assert {p.rule for p in alone} == {"missing-key"}
    result = run("validate", defs / "targets.yml")
    assert (result.exit_code, result.stdout) == (0, "")
    assert result.stderr == f"funnelcli: {defs / 'targets.yml'}: definitions are valid\n"


def test_a_sibling_file_error_is_reported_where_it_is(write):
    """A target naming a stage that only another file could list: checked against funnel.yml's stages."""
    targets = "targets:\n  MQL->Won: 0.3\n"
    defs = folder(write, funnel=FUNNEL, targets=targets)
    result = run("validate", defs / "targets.yml")
    line, col = pos(targets, "MQL->Won")
    assert result.exit_code == 1
    assert result.stdout == (f"{defs / 'targets.yml'}:{line}:{col}: error: target 'MQL->Won' names unknown stage 'Won'; "
                             "stages are MQL, SAL (unknown-stage)\n")


def test_a_change_in_one_file_breaks_a_sibling(write):
    """Renaming a stage in funnel.yml breaks the target in targets.yml: validating funnel.yml (the
    file pre-commit passes) reports it, in targets.yml."""
    defs = folder(write, funnel=FUNNEL.replace("name: SAL", "name: Accepted"), targets=TARGETS)
    result = run("validate", "-f", "json", defs / "funnel.yml")
    assert result.exit_code == 1
    assert [(p["path"], p["rule"]) for p in json.loads(result.stdout)] == [(str(defs / "targets.yml"), "unknown-stage")]


def test_several_files_of_one_folder_are_checked_once(write):
    """pre-commit passes every changed file: two files of one folder are one check, so the one
    warning (the empty file) is reported once."""
    defs = folder(write, funnel=FUNNEL, targets=TARGETS, notes="# nothing yet\n")
    result = run("validate", defs / "targets.yml", defs / "funnel.yml", defs / "notes.yml")
    assert result.exit_code == 0
    assert result.stdout == f"{defs / 'notes.yml'}:1:1: warning: the file holds no definitions (empty-file)\n"


def test_files_of_two_folders_are_two_sets(write):
    """A funnel per folder (definitions/ and definitions/salesforce/): each is checked on its own,
    never merged (two lists of stages would conflict)."""
    one = folder(write, "one", funnel=FUNNEL, targets=TARGETS)
    two = folder(write, "two", funnel=FUNNEL.replace("MQL", "Lead"))
    results = api.validate_each([str(one / "targets.yml"), str(two / "funnel.yml")])
    assert [(r.paths, r.problems) for r in results] == [
        ((str(one / "funnel.yml"), str(one / "targets.yml")), []), ((str(two / "funnel.yml"),), []),
    ]
    assert [r.definitions.stage_names for r in results] == [("MQL", "SAL"), ("Lead", "SAL")]


def test_a_folder_of_separate_funnels_is_checked_file_by_file(write):
    """tests/fixtures holds several funnels side by side (two files list stages): a file there is
    checked alone, and a broken neighbour doesn't fail it."""
    good = write("fixtures/good.yml", FUNNEL)
    write("fixtures/broken.yml", FUNNEL.replace("date: SAL Date", "sla_days: -1"))
    result = run("validate", good)
    assert (result.exit_code, result.stdout) == (0, "")
    result = run("validate", good.parent)  # the folder itself is what the run would merge
    assert result.exit_code == 1 and "stages are also listed in" in result.stdout


def test_without_paths_the_run_s_definitions_are_merged_as_given(write):
    """No PATHS: $FUNNELCLI_DEFINITIONS is checked exactly as the run loads it (no siblings added)."""
    funnel = write("defs/funnel.yml", FUNNEL)
    write("defs/broken.yml", "targets:\n  MQL->Won: 0.1\n")  # a sibling the run is not given
    result = run("validate", env={"FUNNELCLI_DEFINITIONS": str(funnel)})
    assert (result.exit_code, result.stdout) == (0, "")
    result = run("validate", funnel)  # given as a path: with its siblings
    assert result.exit_code == 1 and "(unknown-stage)" in result.stdout


# --------------------------------------------------------------------------------------------
# 2. Definitions from stdin


def test_stdin_positions_read_stdin(write):
    text = FUNNEL + "    sla_days: 0\n"
    result = run("validate", "-", input=text)
    line, col = pos(text, "sla_days: ^0")
    assert result.exit_code == 1
    assert result.stdout == f"<stdin>:{line}:{col}: error: stage 'SAL': sla_days must be a positive number of days, got 0 (invalid-sla)\n"
    assert result.stderr == "funnelcli: <stdin>: 1 error, 0 warnings\n"


def test_stdin_valid_and_with_data(write):
    result = run("validate", "-", input=FUNNEL)
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "funnelcli: <stdin>: definitions are valid\n")
    export = write("leads.csv", "Record ID,Lead Status,MQL Date\n1,Open,2024-01-05\n")
    result = run("validate", "-", "--data", export, "-f", "json", input=FUNNEL)
    assert result.exit_code == 1
    [problem] = json.loads(result.stdout)
    assert (problem["path"], problem["rule"], problem["line"]) == ("<stdin>", "missing-column", pos(FUNNEL, "SAL Date")[0])


def test_stdin_cannot_be_both(write):
    result = run("validate", "-", "--data", "-", input=FUNNEL)
    assert (result.exit_code, result.stdout) == (2, "")
    assert "cannot both be read from stdin" in result.stderr


# --------------------------------------------------------------------------------------------
# 3. GitHub annotations and --strict


def test_github_title_carries_the_rule(write):
    defs = folder(write, funnel=FUNNEL, targets="targets:\n  MQL->Won: 0.3\n")
    result = run("validate", "-f", "github", "-q", defs / "targets.yml")
    line, col = pos("targets:\n  MQL->Won: 0.3\n", "MQL->Won")
    assert result.stdout == (f"::error file={defs / 'targets.yml'},line={line},col={col},title=funnelcli unknown-stage::"
                             "target 'MQL->Won' names unknown stage 'Won'; stages are MQL, SAL\n")


def test_strict_fails_on_warnings(write):
    defs = folder(write, funnel=FUNNEL, notes="")
    plain = run("validate", defs / "notes.yml")
    strict = run("validate", "--strict", defs / "notes.yml")
    assert (plain.exit_code, strict.exit_code) == (0, 1)
    assert plain.stdout == strict.stdout == f"{defs / 'notes.yml'}:1:1: warning: the file holds no definitions (empty-file)\n"
    assert strict.stderr == f"funnelcli: {defs / 'notes.yml'}: 0 errors, 1 warning (--strict: warnings fail)\n"
    assert run("validate", "--strict", defs / "funnel.yml", defs / "notes.yml").exit_code == 1
    assert run("validate", "--strict", ROOT / "definitions").exit_code == 0  # the shipped ones have no warning


# --------------------------------------------------------------------------------------------
# 4. The pre-commit hook


def test_pre_commit_hook():
    """The hook pre-commit installs: funnelcli validate on changed definitions files, passed by name."""
    [hook] = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    assert (hook["id"], hook["entry"], hook["language"], hook["pass_filenames"]) == (
        "funnelcli-validate", "funnelcli validate", "python", True)
    files = re.compile(hook["files"])
    for path in ["definitions/funnel.yml", "definitions/salesforce/markets.yaml", "crm/definitions/targets.yml"]:
        assert files.search(path), path
    for path in ["samples/make_sample.py", "definitions.yml", "docs/definitions.md", ".github/workflows/ci.yml"]:
        assert not files.search(path), path
