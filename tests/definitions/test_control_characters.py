"""A control character in a definitions file (a NUL, found by the fuzz run) is a problem at its
place, never an internal error."""

from __future__ import annotations

from tests.conftest import run


def test_a_nul_byte_is_a_problem_with_its_line_and_column(write):
    # line 2, column 16: the NUL between 'I' and 'd' ("columns: {id: I" is 15 characters)
    path = write("defs.yml", "version: 1\ncolumns: {id: I\x00d}\nstages:\n  - {name: MQL, date: MQL}\n")
    result = run("validate", path)
    assert result.exit_code == 1 and "internal error" not in result.output
    assert "defs.yml:2:16: error: a control character (#x0000) is not allowed in a definitions file" in result.output


def test_the_run_refuses_it_too(write):
    defs = write("defs.yml", "\x07version: 1\ncolumns: {id: Id}\nstages:\n  - {name: MQL, date: MQL}\n")
    result = run("conversion", write("e.csv", "Id,MQL\n1,2024-01-02\n"), "-d", defs)
    assert result.exit_code == 2 and "defs.yml:1:1: error: a control character (#x0007)" in result.stderr
