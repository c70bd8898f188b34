"""Hostile definitions files (issue 11, item 8): each is refused by `validate` (exit 1, the problem
at its line and column) and by a run (exit 2, the same problem), quickly, with no internal error
and nothing written; what is legitimate (a few aliases, numbers in range) still passes.

Each case is tests/fixtures/small.yml with one change.
"""

from __future__ import annotations

import os
import threading
import time

import pytest
from tests.conftest import FIXTURES, pos, run

CSV = str(FIXTURES / "small.csv")
BASE = (FIXTURES / "small.yml").read_text(encoding="utf-8")
MARKET = "  - {name: Mid-market, when: {employees: {between: [100, 999]}}}\n"


def with_market(rule: str) -> str:
    assert MARKET in BASE
    return BASE.replace(MARKET, f"  - {{name: Mid-market, when: {rule}}}\n")


def refused_by_both(tmp_path, text: str, needle: str, message: str, rule: str) -> None:
    """Assert validate reports `message` (rule) where `needle` is, exit 1; and that a run refuses
    the file with the same line, exit 2, writing nothing."""
    path = tmp_path / "defs.yml"
    path.write_text(text, encoding="utf-8")
    line, col = pos(text, needle)
    checked = run("validate", path)
    assert checked.exit_code == 1, checked.output
    [problem] = [p for p in checked.stdout.splitlines() if f"defs.yml:{line}:{col}: error: " in p] or [checked.stdout]
    assert message in problem and problem.endswith(f"({rule})"), (line, col, checked.stdout)
    out = tmp_path / "report.txt"
    result = run("conversion", CSV, "-d", path, "-o", out)
    assert result.exit_code == 2, result.output
    assert "the definitions have" in result.stderr and problem.split("defs.yml:", 1)[1] in result.stderr
    for output in (checked, result):
        assert "internal error" not in output.output and "Traceback" not in output.output
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["defs.yml"]


# --------------------------------------------------------------------------------------------
# Aliases


def laughs(levels: int, uses: int) -> str:
    """A market rule of nested aliases: c0 a condition, each next level `any` of 9 of the last;
    then `uses` more of the level before last. 1.2 KB that expanded to 9^5 conditions, three more
    times 9^4: under the old cap of 1,000,000 values, and a run building it took over a minute."""
    chain = ["&c0 {country: {in: [x]}}"] + [f"&c{i} {{any: [" + ", ".join([f"*c{i - 1}"] * 9) + "]}" for i in range(1, levels)]
    return with_market("{all: [" + ", ".join(chain + [f"*c{levels - 2}"] * uses) + "]}")


def test_billion_laughs_under_the_old_cap_is_refused_fast_at_the_alias(tmp_path):
    text = laughs(6, 3)
    assert len(text.encode()) < 1500
    began = time.monotonic()
    # Values (a mapping, each key and value, a list, each item): c0 {country: {in: [x]}} is 6; c1 is
    # {any: [...]} 3 + 9 * 6 = 57; c2 3 + 9 * 57 = 516; c3 3 + 9 * 516 = 4,647. Aliases add 9 * 6 = 54
    # in c1, 513 in c2 (567), 4,644 in c3 (5,211), and 4,647 each in c4: 9,858 after its first
    # *c3, 14,505 after its second, past 10,000: refused there.
    refused_by_both(tmp_path, text, "&c4 {any: [*c3, ^*c3", "aliases expand the file past 10,000 values here", "too-many-aliases")
    assert time.monotonic() - began < 2


def test_recursive_aliases_are_refused_not_followed(tmp_path):
    text = with_market("&loop {any: [{country: {in: [x]}}, *loop, *loop]}")
    path = tmp_path / "defs.yml"
    path.write_text(text)
    result = run("validate", path)
    assert result.exit_code == 1 and "internal error" not in result.output
    assert run("conversion", CSV, "-d", path).exit_code == 2


def test_aliases_used_as_meant_still_pass(tmp_path):
    # 40 markets sharing one anchored rule: a few hundred values, well within the budget
    shared = "".join(f"  - {{name: M{i}, when: *rule}}\n" for i in range(40))
    text = BASE.replace(MARKET, "  - {name: Mid-market, when: &rule {all: [{employees: {gte: 100}}, {country: {in: [us, ca, de]}}]}}\n"
                        + shared)
    path = tmp_path / "defs.yml"
    path.write_text(text)
    result = run("validate", path)
    assert result.exit_code == 0, result.output
    assert run("conversion", CSV, "-d", path, "-q", "--by", "market").exit_code == 0


# --------------------------------------------------------------------------------------------
# Numbers


@pytest.mark.parametrize("number, shown", [
    ("9" * 400, "the number 999999999999...9999 (400 characters) is out of range"),  # was an OverflowError in the run
    ("1e999", "the number 1e999 is out of range"),  # inf
    ("-100000000000000000000", "the number -100000000000000000000 is out of range"),
    ("1000000000000000", "the number 1000000000000000 is out of range"),  # 10^15
])
def test_an_out_of_range_number_in_a_condition_is_refused_with_its_position(tmp_path, number, shown):
    text = with_market(f"{{employees: {{gte: {number}}}}}")
    refused_by_both(tmp_path, text, f"gte: ^{number}", shown, "invalid-value")
    assert run("validate", tmp_path / "defs.yml").stdout.count("error:") == 1  # not again as "takes a number"


def test_numbers_in_range_still_pass(tmp_path):
    path = tmp_path / "defs.yml"
    path.write_text(with_market("{employees: {between: [-999999999999999, 999999999999999.5]}}"))
    result = run("validate", path)
    assert result.exit_code == 0, result.output
    assert run("conversion", CSV, "-d", path, "-q").exit_code == 0


# --------------------------------------------------------------------------------------------
# Names


@pytest.mark.parametrize("old, new, needle, message", [
    ("{name: SQL, date: SQL Date}", '{name: "SQL\\nWon  100  100%", date: SQL Date}', 'name: ^"SQL',
     "stage 'SQL\\nWon  100  100%': a name cannot hold a line break (U+000A)"),
    ("{name: Recycled,", '{name: "Recycled\\e[2J",', 'name: ^"Recycled', "exit 'Recycled\\x1b[2J': a name cannot hold a control character (U+001B)"),
    ("{name: Mid-market,", '{name: "Mid\\u2028market",', 'name: ^"Mid', "a name cannot hold a line break (U+2028)"),
    ("{name: Enterprise,", '{name: "Enter\\tprise",', 'name: ^"Enter', "a name cannot hold a tab (U+0009)"),
    ("{name: Enterprise,", '{name: "\\u202eesirpretnE",', 'name: ^"\\u202e', "a name cannot hold a control character (U+202E)"),
    ("{name: SAL,", "name: |\n      SAL\n      forged line\n    ", "name: ^|", "a name cannot hold a line break (U+000A)"),
])
def test_names_with_line_breaks_or_control_characters_are_refused(tmp_path, old, new, needle, message):
    assert old in BASE
    if new.startswith("name: |"):
        text = BASE.replace("  - {name: SAL, date: SAL Date, sla_days: 14, purgatory: {touches_at_most: 2, idle_days: 10}}\n",
                            "  - " + new + "date: SAL Date\n    sla_days: 14\n")
    else:
        text = BASE.replace(old, new, 1)
    refused_by_both(tmp_path, text, needle, message, "invalid-value")


# --------------------------------------------------------------------------------------------
# Files that are not files


@pytest.fixture
def folder_with_a_fifo(tmp_path):
    """A definitions folder holding funnel.yml and a FIFO named zz.yml nobody writes to. If a test
    opens the FIFO to read it, a rescuer opens it for writing after 5 s, so the test fails instead
    of hanging."""
    folder = tmp_path / "definitions"
    folder.mkdir()
    (folder / "funnel.yml").write_text(BASE)
    fifo = folder / "zz.yml"
    os.mkfifo(fifo)
    done = threading.Event()

    def rescue():
        if not done.wait(5):
            os.close(os.open(fifo, os.O_RDWR))  # a writer that writes nothing: the read ends

    threading.Thread(target=rescue, daemon=True).start()
    yield folder
    done.set()


def test_a_fifo_in_a_definitions_folder_is_named_not_read(folder_with_a_fifo, tmp_path):
    began = time.monotonic()
    for result in (run("validate", folder_with_a_fifo), run("conversion", CSV, "-d", folder_with_a_fifo, "-o", tmp_path / "r.txt")):
        assert result.exit_code == 2, result.output
        assert "zz.yml: is a named pipe (FIFO), not a definitions file" in result.stderr
        assert "internal error" not in result.output
    assert time.monotonic() - began < 2
    assert not (tmp_path / "r.txt").exists()


def test_a_file_beside_a_fifo_is_checked_with_its_regular_siblings(folder_with_a_fifo):
    result = run("validate", folder_with_a_fifo / "funnel.yml")
    assert result.exit_code == 0, result.output


def test_a_fifo_named_as_definitions_is_refused(folder_with_a_fifo):
    result = run("conversion", CSV, "-d", folder_with_a_fifo / "zz.yml")
    assert result.exit_code == 2 and "is a named pipe (FIFO)" in result.stderr
