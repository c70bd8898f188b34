"""A file's name is data in messages too: an escape sequence in it never reaches the terminal,
and a line break in it never starts a line of its own (GitHub Actions reads a log line starting
'::error' as a command, from stdout and stderr alike)."""

from __future__ import annotations

from tests.conftest import DEFINITIONS, run

FORGED = "a\n::error file=x,line=1::forged\x1b[31m.yml"


def test_an_escape_sequence_in_a_missing_exports_name_is_written_out(tmp_path):
    name = tmp_path / "nope\x1b[31m\x1b]0;TITLE\x07x.csv"
    result = run("conversion", name, "-d", DEFINITIONS)
    assert result.exit_code == 2
    assert "\x1b" not in result.stderr and "\x07" not in result.stderr
    assert "nope\\x1b[31m\\x1b]0;TITLE\\x07x.csv: no such file" in result.stderr


def test_a_definitions_file_named_like_a_ci_command_forges_no_annotation(tmp_path):
    folder = tmp_path / "defs"
    folder.mkdir()
    # two stages of one name: a problem whose message quotes the file's name a second time
    (folder / FORGED).write_text("version: 1\ncolumns: {id: Id}\nstages: [{name: A, date: X}, {name: A, date: Y}]\n", encoding="utf-8")
    for fmt in ("text", "github"):
        result = run("validate", folder, "-f", fmt)
        assert result.exit_code == 1
        lines = (result.stdout + result.stderr).splitlines()
        assert not [line for line in lines if line.startswith("::error file=x")], lines
        assert "\x1b" not in result.stdout + result.stderr
    text = run("validate", folder).stdout
    assert "a\\x0a::error file=x,line=1::forged\\x1b[31m.yml:3:" in text  # the name, written out, at its place
