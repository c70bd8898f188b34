"""A regular expression can't stall a run (issue 11, item 3): conditions run on RE2 (linear time),
and `validate` refuses what RE2 lacks, naming where, so that validate never passes what the run
can't do.
"""

from __future__ import annotations

import pytest
from tests.conftest import run

DEFS = """\
version: 1
columns: {id: Id, owner: Owner}
stages:
  - {name: MQL, date: MQL}
  - {name: SAL, date: SAL}
markets:
  - name: Picked
    when: {Owner: {matches: 'PATTERN'}}
"""


def defs_with(pattern: str) -> str:
    return DEFS.replace("PATTERN", pattern.replace("'", "''"))


@pytest.mark.parametrize("pattern, what, index", [
    (r"(a+)\1", "a backreference", 5),
    (r"(?P<x>a)(?P=x)", "a backreference", 9),
    (r"Ann(?=e)", "a lookaround", 4),
    (r"(?<!x)y", "a lookaround", 1),
    (r"(?>a+)b", "an atomic group", 1),
    (r"a++b", "a possessive quantifier", 3),
])
def test_validate_refuses_what_the_linear_engine_lacks(write, pattern, what, index):
    # The pattern (quoted) starts at line 8, column 29 (after "    when: {Owner: {matches: ").
    result = run("validate", write("defs.yml", defs_with(pattern)))
    assert result.exit_code == 1
    assert "defs.yml:8:29: error: market 'Picked' when: Owner matches: " in result.output
    assert f"{what} at character {index} of {pattern!r} is not supported" in result.output
    assert "(unsupported-regex)" in result.output


@pytest.mark.parametrize("pattern", [r"[(?=]x", r"\(?=", r"\\1", r"(?i)^ann|bob$", r"(a|b)+c{2,}"])
def test_validate_accepts_literals_that_look_like_those(write, pattern):
    # a class, an escaped parenthesis, an escaped backslash before 1, inline flags, groups: all RE2
    result = run("validate", write("defs.yml", defs_with(pattern)))
    assert result.exit_code == 0, result.output


def test_a_pattern_that_backtracks_exponentially_runs_in_linear_time(write):
    # (a+)+$ against 'aaaa...ab' takes Python's engine 2**n steps (28 a's: about 20 s); RE2 scans
    # each value once. 2,000 such owners, 28 to 40 a's: none match, and the run completes.
    rows = "".join(f"{i},{'a' * (28 + i % 13)}b,2024-01-02,\n" for i in range(2000)) + "9999,aaa,2024-01-02,\n"
    export = write("export.csv", "Id,Owner,MQL,SAL\n" + rows)
    result = run("markets", export, "-d", write("defs.yml", defs_with(r"^(a+)+$")), "-f", "json", "-q")
    assert result.exit_code == 0, result.output
    import json

    markets = {row["market"]: row for row in json.loads(result.stdout)["tables"]["markets"]}
    assert markets["Picked"]["reached:MQL"] == 1  # only 'aaa'
    assert markets["out of market"]["reached:MQL"] == 2000


def test_capturing_groups_print_no_warning(write):
    # pandas warned "pattern has match groups" on stderr, which cron mails: nothing on stderr with -q
    export = write("export.csv", "Id,Owner,MQL,SAL\n1,Ann,2024-01-02,\n2,Bob,2024-01-03,\n")
    result = run("conversion", export, "-d", write("defs.yml", defs_with(r"(Ann|Cy)")), "--by", "market", "-q")
    assert result.exit_code == 0 and result.stderr == ""
