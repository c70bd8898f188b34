"""The command line as a user meets it: formats, -o, -q, exit codes, help, shared options, errors.

Numbers come from the hand-derived fixtures (tests/test_purgatory.py and tests/test_trends.py derive
them): on purgatory.csv as of 2024-06-30, MQL is reached by 15 leads (all but L15); owners ranked by
stuck leads put Bob first with 4 (L3, L5, L9, L12); market A (employees >= 500) has 3 leads at MQL
(L1, L5, L16); the 2024-06 MQL cohort has 9 leads (L1-L4, L8-L11, L16). On trends.csv as of
2024-04-30 the 2024-04 cohort's MQL->SQL is 1 of 2 (T6 of T6, T7), 50%, immature (0 days old, the
window is 20).

Most tests run the CLI in-process through conftest's `run` (no TTY, fixed width, NO_COLOR=1); a
few need a real process: a pipe, a terminal, what `--help` imports.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import NamedTuple

import pytest
from click.testing import CliRunner
from tests.conftest import DEFINITIONS, FIXTURES, ROOT, SAMPLE, run

import funnelcli
from funnelcli.cli import cli

PURGATORY_CSV = str(FIXTURES / "purgatory.csv")
PURGATORY_YML = str(FIXTURES / "purgatory.yml")
PURGATORY = (PURGATORY_CSV, "-d", PURGATORY_YML)
TRENDS = (str(FIXTURES / "trends.csv"), "-d", str(FIXTURES / "trends.yml"))
SMALL = (str(FIXTURES / "small.csv"), "-d", str(FIXTURES / "small.yml"))  # 3 rows excluded
SAMPLE_ARGS = (str(SAMPLE), "-d", str(DEFINITIONS))  # 9 rows excluded, 3 out of order

COMMANDS = ("conversion", "purgatory", "markets", "trends", "report")
FORMATS = ("table", "text", "markdown", "csv", "json", "html")
ANSI = "\x1b"


# --------------------------------------------------------------------------------------------
# Helpers: results, and the tables of each format read back into rows


def ok(result) -> str:
    """Assert a clean run (exit 0, no traceback); return its stdout."""
    assert result.exit_code == 0, f"exit {result.exit_code}\nstderr: {result.stderr}"
    assert "Traceback" not in result.stderr
    return result.stdout


def fails(result, code: int, *fragments: str) -> str:
    """Assert exit `code` with nothing on stdout, no traceback, and `fragments` on stderr; return stderr."""
    assert result.exit_code == code, f"exit {result.exit_code}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in result.stderr
    return result.stderr


def csv_tables(out: str) -> dict:
    """Return {None: (field names, rows as dicts)}: -f csv writes one table, a header and rows,
    with no other lines (pandas and csvkit load it as it is)."""
    assert not out.startswith("#") and "\n# " not in out, out[:500]
    reader = csv.DictReader(io.StringIO(out))
    return {None: (reader.fieldnames, list(reader))}


def _rows(header: list[str], rows: list[list[str]]) -> list[dict]:
    """Return rows as {label: cell}; a repeated label gets a suffix ("Value", "Value 2")."""
    labels = [label if header[:i].count(label) == 0 else f"{label} {header[:i].count(label) + 1}" for i, label in enumerate(header)]
    for row in rows:
        assert len(row) == len(labels), (labels, row)
    return [dict(zip(labels, row)) for row in rows]


DASHES = re.compile(r"-+( {2,}-+)*")  # the text layout's line under a table's header
RULE = re.compile(r"\s*─+\s*")  # rich's line under a table's header


def _is_rule(lines: list[str], i: int) -> bool:
    if RULE.fullmatch(lines[i]):
        return True
    # dashes under a table title are followed by the table's header and its own dashes
    return bool(i and DASHES.fullmatch(lines[i]) and not (i + 2 < len(lines) and DASHES.fullmatch(lines[i + 2])))


def _layout_tables(out: str) -> list[list[dict]]:
    """The text and table (rich) layouts: a header, a rule, the rows; notes or a blank line after.

    A row has 2+ cells set apart by 2+ spaces (a note is prose). Columns are the spans between
    runs of 2+ positions that are blank in every line of the table, so a blank cell stays a cell.
    """
    lines = out.splitlines()
    tables = []
    for i in range(1, len(lines)):
        if not _is_rule(lines, i):
            continue
        block = [lines[i - 1]]  # the header; not the rule, which rich draws unbroken
        for text in lines[i + 1:]:
            if len(re.split(r"\s{2,}", text.strip())) < 2:
                break
            block.append(text)
        width = max(map(len, block))
        block = [b.ljust(width) for b in block]
        blank = [all(b[p] == " " for b in block) for p in range(width)]
        gap = [blank[p] and (p + 1 < width and blank[p + 1] or p > 0 and blank[p - 1]) for p in range(width)]
        spans, start = [], None
        for p in range(width + 1):
            if p < width and not gap[p] and start is None:
                start = p
            elif (p == width or gap[p]) and start is not None:
                spans.append((start, p))
                start = None
        header, *rows = [[b[a:z].strip() for a, z in spans] for b in block]
        tables.append(_rows(header, rows))
    return tables


def _md_cells(line: str) -> list[str]:
    """Return a Markdown table row's cells as a reader sees them: backslash escapes undone."""
    return [re.sub(r"\\(.)", r"\1", c.strip()) for c in re.split(r"(?<!\\)\|", line.strip()[1:-1])]


def _markdown_tables(out: str) -> list[list[dict]]:
    lines = out.splitlines()
    tables = []
    for i in range(1, len(lines)):
        if re.fullmatch(r"\|(?:(?::---|---:)\|)+", lines[i]):
            body = []
            for text in lines[i + 1:]:
                if not text.startswith("|"):
                    break
                body.append(_md_cells(text))
            tables.append(_rows(_md_cells(lines[i - 1]), body))
    return tables


class _HtmlTables(HTMLParser):
    """Collect each data table (not the role=presentation header table) as rows of cell texts."""

    def __init__(self):
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self.skip = False
        self.row: list[str] | None = None
        self.cell: str | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.skip = ("role", "presentation") in attrs
            if not self.skip:
                self.tables.append([])
        elif tag == "tr" and not self.skip:
            self.row = []
        elif tag in ("td", "th") and self.row is not None:
            self.cell = ""

    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell is not None:
            self.row.append(self.cell.strip())
            self.cell = None
        elif tag == "tr" and self.row is not None:
            self.tables[-1].append(self.row)
            self.row = None


def _html_tables(out: str) -> list[list[dict]]:
    parser = _HtmlTables()
    parser.feed(out)
    return [_rows(t[0], t[1:]) for t in parser.tables]


def human_tables(out: str, fmt: str) -> list[list[dict]]:
    """Return the tables of a table, text, markdown or html report as lists of {label: cell}."""
    return {"text": _layout_tables, "table": _layout_tables, "markdown": _markdown_tables, "html": _html_tables}[fmt](out)


def find_row(out: str, fmt: str, key: str) -> tuple[list[dict], dict]:
    """Return (the first table with a row whose first cell is `key`, that row)."""
    for table in human_tables(out, fmt):
        for row in table:
            if next(iter(row.values())) == key:
                return table, row
    raise AssertionError(f"no row {key!r} in the {fmt} output:\n{out}")


def files_like(folder: Path, pattern: str = ".funnelcli-*") -> list[Path]:
    return sorted(folder.glob(pattern))


def write_defs(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def subprocess_env(**extra: str) -> dict:
    """The environment for a real funnelcli process: src on the path, no funnelcli or colour settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUNNELCLI_") and k != "NO_COLOR"}
    env["PYTHONPATH"] = str(ROOT / "src")
    env.update(extra)
    return env


def python(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=subprocess_env(), capture_output=True, text=True,
                          timeout=60, **kwargs)


# A target on purgatory.csv, where 3 of 15 MQLs are stuck (20%)
MISSED_TARGET = "targets:\n  MQL stuck: {max: 0.1}\n"
MET_TARGET = "targets:\n  MQL stuck: {max: 0.25}\n"


# --------------------------------------------------------------------------------------------
# 1. Every report command in every format, with one hand-derived number each


class Spec(NamedTuple):
    args: tuple  # extra arguments
    tables: set  # the tables of the json (and csv) output
    table: str  # the table checked
    fields: set  # fields its csv header must hold
    human: tuple  # (first cell of the row, column label, cell) in table, text, markdown, html
    machine: tuple  # (first value of the row, field, value) in json and csv
    ranked: bool = False  # the row checked heads its table


SPECS = {
    # MQL reached by 15 leads: all but L15 (never reached MQL); L16's MQL is implied by its SAL
    "conversion": Spec((), {"stages"}, "stages", {"stage", "reached", "converted", "step_rate", "cumulative_rate", "stuck", "in_progress"},
                       ("MQL", "Reached", "15"), ("MQL", "reached", 15)),
    # Bob first with 4 stuck: L3, L5 (MQL), L9 (SAL), L12 (SQL)
    "purgatory": Spec(("--by", "owner"), {"stages", "purgatories", "age_bands", "leakage", "groups"}, "groups",
                      {"group", "stuck", "stuck:MQL", "stuck:SAL", "value_at_risk"}, ("Bob", "Stuck", "4"), ("Bob", "stuck", 4), True),
    # market A reached MQL: L1, L5, L16 (L15 is in A but never reached MQL)
    "markets": Spec((), {"markets", "market_fit"}, "markets", {"market", "reached:MQL", "rate:MQL->SAL", "cumulative_rate"},
                    ("A", "MQL", "3"), ("A", "reached:MQL", 3)),
    # the 2024-06 cohort: L1-L4, L8-L11 and L16 (implied MQL on 06-28)
    "trends": Spec((), {"cohorts", "latest"}, "cohorts", {"period", "cohort", "rate:MQL->SAL", "immature:MQL->SAL"},
                   ("2024-06", "Entered MQL", "9"), ("2024-06", "cohort", 9)),
    # top owners in the digest: Bob first with 4 stuck
    "report": Spec((), {"headline", "rates", "stages", "purgatory", "top_owners", "trend"}, "top_owners", {"group", "stuck", "reached"},
                   ("Bob", "Stuck", "4"), ("Bob", "stuck", 4), True),
}


def check_json(command: str, out: str) -> None:
    spec = SPECS[command]
    doc = json.loads(out)
    assert doc["kind"] == command
    assert doc["as_of"] == "2024-06-30"
    assert doc["version"] == funnelcli.__version__
    assert re.fullmatch(r"[0-9a-f]{8,}", doc["definitions"]["digest"])
    assert set(doc["tables"]) == spec.tables
    acc = doc["accounting"]
    # 16 rows = 15 leads in the report + 1 never reached MQL (L15)
    assert (acc["rows_read"], acc["leads_in_report"], acc["never_reached_first_stage"], acc["rows_excluded"]) == (16, 15, 1, 0)
    check_row(doc["tables"][spec.table], spec, lambda value: value)


def check_csv(command: str, out: str) -> None:
    # one table: the command's main one, or (here) the one the spec checks, named by --table
    spec = SPECS[command]
    header, rows = csv_tables(out)[None]
    assert spec.fields <= set(header)
    check_row(rows, spec, str)


def check_row(rows: list[dict], spec: Spec, as_text) -> None:
    key, field, value = spec.machine
    index = next(i for i, r in enumerate(rows) if next(iter(r.values())) == as_text(key))
    assert rows[index][field] == as_text(value)
    assert index == 0 or not spec.ranked


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_in_every_format(command, fmt):
    # Each format has its shape, and carries the command's hand-derived number where it belongs
    spec = SPECS[command]
    table = ("--table", spec.table) if fmt == "csv" else ()
    out = ok(run(command, *PURGATORY, *spec.args, "-f", fmt, "-q", *table))
    assert out.strip()
    if fmt == "json":
        return check_json(command, out)
    if fmt == "csv":
        return check_csv(command, out)
    if fmt == "markdown":
        assert "|---:|" in out  # numbers right-aligned
    elif fmt == "html":
        assert out.startswith("<!DOCTYPE html>") and out.rstrip().endswith("</html>")
        assert "<script" not in out.lower()
    elif fmt == "text":
        assert ANSI not in out
        assert out.splitlines()[1].startswith("====")  # the title's underline
    elif fmt == "table":
        assert ANSI not in out  # not a TTY, and NO_COLOR is set
        assert "─" in out and not any(DASHES.fullmatch(line) and "  " in line for line in out.splitlines())
    key, label, value = spec.human
    table, row = find_row(out, fmt, key)
    assert row[label] == value
    assert table[0] is row or not spec.ranked


def test_table_has_no_colour_off_a_terminal_even_without_no_color():
    # Colour follows the TTY: CliRunner's stdout is not one, so no escape codes with NO_COLOR unset
    out = ok(run("conversion", *PURGATORY, "-f", "table", "-q", env={"NO_COLOR": None}))
    assert ANSI not in out and "─" in out


@pytest.mark.parametrize("fmt", FORMATS)
def test_trends_marks_the_immature_cohort(fmt):
    # trends.csv: 2024-04's MQL->SQL is 1 of 2 = 50%, immature (0 days since the cohort's last day,
    # window 20); 2024-02's 100% (T5, SQL 5 days after MQL) is mature and unmarked
    out = ok(run("trends", *TRENDS, "-f", fmt, "-q"))
    if fmt == "json":
        rows = {r["period"]: r for r in json.loads(out)["tables"]["cohorts"]}
        assert (rows["2024-04"]["rate:MQL->SQL"], rows["2024-04"]["immature:MQL->SQL"]) == (0.5, True)
        assert (rows["2024-02"]["rate:MQL->SQL"], rows["2024-02"]["immature:MQL->SQL"]) == (1, False)
    elif fmt == "csv":
        _, cohorts = csv_tables(out)[None]  # cohorts: the main table
        rows = {r["period"]: r for r in cohorts}
        assert (rows["2024-04"]["rate:MQL->SQL"], rows["2024-04"]["immature:MQL->SQL"]) == ("0.5", "true")
        assert rows["2024-02"]["immature:MQL->SQL"] == "false"
    else:
        table, april = find_row(out, fmt, "2024-04")
        assert april["MQL->SQL"] == "50.0%*"
        february = next(r for r in table if r["Period"] == "2024-02")
        assert february["MQL->SQL"] == "100.0%"
        if fmt in ("text", "markdown"):
            assert "* immature" in out  # the mark is explained


def under_the_dashes(out: str, header_start: str) -> tuple[list[str], dict[str, list[str]]]:
    """Slice a text table's header and rows at its dash runs; return (labels, {first cell: cells})."""
    lines = out.splitlines()
    i = next(i for i, line in enumerate(lines) if line.startswith(header_start)) + 1
    spans = [m.span() for m in re.finditer("-+", lines[i])]
    assert re.fullmatch(r"-+(  -+)*", lines[i]), "columns are set apart by exactly two spaces"

    def cells(line: str) -> list[str]:
        assert all(line[b:c].strip() == "" for (_, b), (c, _) in zip(spans, spans[1:])), f"a cell outside its column: {line!r}"
        assert len(line) <= spans[-1][1], f"a cell past the last column: {line!r}"
        return [line[a:b].strip() for a, b in spans]

    rows = {}
    for line in lines[i + 1:]:
        if len(re.split(r"\s{2,}", line.strip())) < 2:
            break
        rows[line.split()[0]] = cells(line)
    return cells(lines[i - 1]), rows


def test_text_columns_sit_under_their_dashes():
    # The plain layout: each cell within its column's dashes, two spaces between columns
    labels, rows = under_the_dashes(ok(run("conversion", *PURGATORY, "-q", "-f", "text")), "Stage  ")
    assert labels[:4] == ["Stage", "Reached", "Converted", "Step rate"]
    assert rows["MQL"][:4] == ["MQL", "15", "9", "60.0%"]
    assert rows["Won"][:4] == ["Won", "1", "-", "-"]


def test_text_columns_with_marks_sit_under_their_dashes():
    # trends.csv cohorts: 2024-02 is mature (no marks), 2024-04 immature (all three rates marked)
    labels, rows = under_the_dashes(ok(run("trends", *TRENDS, "-q", "-f", "text")), "Period  ")
    assert labels[-3:] == ["MQL->SQL", "SQL->Won", "MQL->Won"]
    assert rows["2024-02"][-3:] == ["100.0%", "100.0%", "100.0%"]
    assert rows["2024-04"][-3:] == ["50.0%*", "0.0%*", "0.0%*"]


def test_html_and_markdown_escape_values(tmp_path):
    # A value from the export can't inject markup into html, nor break a markdown row with a '|'
    export = tmp_path / "evil.csv"
    export.write_text(Path(PURGATORY_CSV).read_text().replace(",Bob,", ",<script>x</script>|y,"), encoding="utf-8")
    args = ("purgatory", export, "-d", PURGATORY_YML, "--by", "owner", "-q")
    page = ok(run(*args, "-f", "html"))
    assert "<script" not in page and "&lt;script&gt;x&lt;/script&gt;|y" in page
    _, row = find_row(ok(run(*args, "-f", "markdown")), "markdown", "<script>x</script>|y")
    assert row["Stuck"] == "4"


# --------------------------------------------------------------------------------------------
# 2. The default format


def test_default_format_off_a_terminal_is_text():
    # CliRunner is not a TTY: the plain text layout, columns underlined with dashes, no rich rules
    out = ok(run("conversion", *PURGATORY, "-q"))
    assert out == ok(run("conversion", *PURGATORY, "-q", "-f", "text"))
    assert re.search(r"^Stage +Reached +Converted.*\n-----  -------  ---------", out, re.M)
    assert "─" not in out


def _json(text: str) -> None:
    assert json.loads(text)["kind"] == "conversion"


def _markdown(text: str) -> None:
    assert text.startswith("## Stage-by-stage conversion") and "|---:|" in text


def _html(text: str) -> None:
    assert text.startswith("<!DOCTYPE html>")


def _csv(text: str) -> None:
    header, rows = csv_tables(text)[None]
    assert header[:3] == ["stage", "reached", "converted"] and rows[0]["reached"] == "15"


def _text(text: str) -> None:
    assert text.splitlines()[1].startswith("====") and "-----  -------" in text


@pytest.mark.parametrize("name, check", [
    ("out.json", _json), ("out.JSON", _json), ("out.md", _markdown), ("out.markdown", _markdown), ("out.html", _html), ("out.htm", _html),
    ("out.csv", _csv), ("out.txt", _text), ("out.xyz", _text), ("out", _text),
])
def test_format_from_the_output_extension(tmp_path, name, check):
    # With -o and no -f the extension picks the format; an unknown one gives text
    target = tmp_path / name
    assert ok(run("conversion", *PURGATORY, "-q", "-o", target)) == ""
    check(target.read_text(encoding="utf-8"))


def test_explicit_format_beats_the_extension(tmp_path):
    target = tmp_path / "out.json"
    ok(run("conversion", *PURGATORY, "-q", "-o", target, "-f", "csv"))
    _csv(target.read_text(encoding="utf-8"))


# --------------------------------------------------------------------------------------------
# 3. -o FILE: atomic, same bytes as stdout, untouched by a failed run


@pytest.mark.parametrize("fmt", FORMATS)
def test_output_file_holds_what_stdout_would(tmp_path, fmt):
    # The file's content is exactly stdout's (same renderer, same width), stdout stays empty, no temp file left
    shown = ok(run("trends", *PURGATORY, "-q", "-f", fmt))
    target = tmp_path / "report.out"
    assert ok(run("trends", *PURGATORY, "-q", "-f", fmt, "-o", target)) == ""
    assert target.read_bytes() == shown.encode("utf-8")
    assert files_like(tmp_path) == []


def test_output_replaces_an_existing_file(tmp_path):
    target = tmp_path / "report.json"
    target.write_text("old content\n")
    ok(run("conversion", *PURGATORY, "-q", "-o", target))
    assert json.loads(target.read_text())["tables"]["stages"][0]["reached"] == 15
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_a_read_only_output_file_is_not_replaced(tmp_path):
    # the rename that writes atomically passes by a file's own permissions: a file kept from
    # writes (chmod 444) was replaced
    target = tmp_path / "report.txt"
    target.write_text("kept\n")
    target.chmod(0o444)
    result = run("conversion", *PURGATORY, "-q", "-o", target)
    assert result.exit_code == 2 and "is read-only; make it writable (chmod u+w)" in result.stderr
    assert target.read_text() == "kept\n"


BROKEN_YAML = "version: 1\nstages: 3\n"  # 'stages' must be a list: line 2, column 9


@pytest.mark.parametrize("case", ["bad export", "bad definitions", "unknown --by", "--strict with a bad row", "internal error"])
def test_failed_run_leaves_the_output_file_alone(tmp_path, monkeypatch, case):
    # Whatever stops the run, the existing file keeps its bytes and no temp file is left beside it
    target = tmp_path / "report.txt"
    before = b"yesterday's report\r\n\x00bytes"
    target.write_bytes(before)
    args = {
        "bad export": (tmp_path / "missing.csv", "-d", PURGATORY_YML),
        "bad definitions": (PURGATORY_CSV, "-d", write_defs(tmp_path, "broken.yml", BROKEN_YAML)),
        "unknown --by": (*PURGATORY, "--by", "ownr"),
        "--strict with a bad row": (*SMALL, "--strict"),
        "internal error": PURGATORY,
    }[case]
    if case == "internal error":
        import funnelcli.measures.reports

        monkeypatch.setattr(funnelcli.measures.reports, "conversion", _boom)
    fails(run("conversion", *args, "-o", target), 2, "funnelcli:")
    assert target.read_bytes() == before
    assert files_like(tmp_path) == []


def test_output_into_a_missing_folder(tmp_path):
    # Exit 2 naming the path; nothing created
    target = tmp_path / "no" / "such" / "folder" / "report.json"
    fails(run("conversion", *PURGATORY, "-q", "-o", target), 2, str(target), "does not exist; create it")
    assert not (tmp_path / "no").exists()


def test_output_onto_a_folder(tmp_path):
    # a folder is no file to write a report to: exit 2 before the run, nothing written in it
    (tmp_path / "taken").mkdir()
    fails(run("conversion", *PURGATORY, "-q", "-o", tmp_path / "taken"), 2, "is a folder, not a file")
    assert files_like(tmp_path) == [] and list((tmp_path / "taken").iterdir()) == []


def test_dash_o_is_stdout(tmp_path, monkeypatch):
    # -o - prints, as without -o, and creates no file named '-'
    monkeypatch.chdir(tmp_path)
    assert ok(run("conversion", *PURGATORY, "-q", "-o", "-")) == ok(run("conversion", *PURGATORY, "-q"))
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------------------------
# 4. -q: no notices, errors still shown


@pytest.mark.parametrize("command", COMMANDS)
def test_quiet_silences_notices(command):
    # The sample has 9 excluded rows and 3 out of order (and misses targets): -q prints none of it
    quiet = run(command, *SAMPLE_ARGS, "-q")
    ok(quiet)
    assert quiet.stderr == ""
    loud = run(command, *SAMPLE_ARGS)
    assert ok(loud) == quiet.stdout
    assert "excluded 2 rows with a blank id (rows 3362, 3797)" in loud.stderr
    assert "excluded 3 rows with a duplicate id" in loud.stderr
    assert "excluded 4 rows with an unparseable date" in loud.stderr
    assert "3 rows with stage dates out of order" in loud.stderr


@pytest.mark.parametrize("args, message", [
    (("conversion", "missing.csv", "-d", PURGATORY_YML), "missing.csv: no such file"),
    (("conversion", *PURGATORY, "--by", "ownr"), "did you mean 'owner'"),
    (("purgatory", *PURGATORY, "--min-days", "3"), "--min-days goes with --list"),
    (("conversion", *SMALL, "--strict"), "--strict"),
])
def test_quiet_still_prints_errors(args, message):
    fails(run(*args, "-q"), 2, message)


def test_quiet_strict_error_says_what_the_problems_are():
    # small.csv: a blank id (row 7), a duplicate id (row 8), an unparseable date (row 9)
    stderr = fails(run("conversion", *SMALL, "--strict", "-q"), 2, "--strict")
    assert "blank id" in stderr and "duplicate id" in stderr and "unparseable date" in stderr


def test_strict_passes_a_clean_export():
    ok(run("conversion", *PURGATORY, "--strict", "-q"))


def test_notices_about_the_as_of_date_and_an_empty_report(tmp_path):
    # A mistyped future date becomes the as-of date: say so (not with -q, not with --as-of); an
    # empty selection runs (exit 0) and says why it is empty
    export = tmp_path / "future.csv"
    export.write_text(Path(PURGATORY_CSV).read_text().replace("US,2024-06-29,", "US,2099-06-29,"), encoding="utf-8")
    result = run("conversion", export, "-d", PURGATORY_YML)
    assert re.search(r"^As of +2099-06-29 \(the latest date in the export\)$", ok(result), re.M)
    # where it is, to correct it: L1's MQL Date (row 2)
    assert "the latest date in the export, 2099-06-29 ('MQL Date', row 2), is in the future" in result.stderr
    assert "--as-of" in result.stderr
    assert run("conversion", export, "-d", PURGATORY_YML, "-q").stderr == ""
    assert "in the future" not in run("conversion", export, "-d", PURGATORY_YML, "--as-of", "2024-06-30").stderr
    empty = run("conversion", *PURGATORY, "--since", "2030-01-01", "-f", "json")
    assert json.loads(ok(empty))["accounting"]["leads_in_report"] == 0
    assert "no leads in the report (check --since, --until, --market and --as-of)" in empty.stderr


# --------------------------------------------------------------------------------------------
# 5. Exit codes


def test_validate_exit_codes(tmp_path):
    # 0 clean, 1 errors found (each as path:line:col: error: message (rule) on stdout)
    assert ok(run("validate", PURGATORY_YML, "-q")) == ""
    assert run("validate", PURGATORY_YML).stderr == f"funnelcli: {PURGATORY_YML}: definitions are valid\n"
    broken = write_defs(tmp_path, "broken.yml", BROKEN_YAML)
    result = run("validate", broken)
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    assert f"{broken}:2:9: error: stages must be a list, got 3 (wrong-type)" in result.stdout.splitlines()
    assert "2 errors" in result.stderr  # and columns needs an 'id' (not also "no 'stages'")


@pytest.mark.parametrize("command", ["conversion", "report"])
def test_fail_on_miss_exits_1_after_writing_the_report(tmp_path, command):
    # MQL stuck is 3 of 15 = 20% > 10%: the report is printed in full, then exit 1
    targets = write_defs(tmp_path, "targets.yml", MISSED_TARGET)
    result = run(command, *PURGATORY, "-d", targets, "--fail-on-miss")
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    assert "missed target: MQL stuck" in result.stderr
    _, row = find_row(result.stdout, "text", "MQL stuck")
    assert (row["Actual"], row["Leads"], row["Of"], row["Status"]) == ("20.0%", "3", "15", "missed")
    assert result.stdout.rstrip().endswith("excluded.")  # the whole report, up to the accounting line
    # the same with -o: the file is written before exit 1
    target = tmp_path / "report.json"
    result = run(command, *PURGATORY, "-d", targets, "--fail-on-miss", "-q", "-o", target)
    # -q keeps the one line that says why it failed: cron mails a job only when it prints
    assert (result.exit_code, result.stdout, result.stderr) == (1, "", "funnelcli: missed target: MQL stuck\n")
    assert json.loads(target.read_text())["missed_targets"] == ["MQL stuck"]


@pytest.mark.parametrize("command", ["conversion", "report"])
def test_fail_on_miss_exits_0_when_targets_are_met(tmp_path, command):
    # 20% stuck is within 25%
    targets = write_defs(tmp_path, "targets.yml", MET_TARGET)
    result = run(command, *PURGATORY, "-d", targets, "--fail-on-miss")
    _, row = find_row(ok(result), "text", "MQL stuck")
    assert row["Status"] == "met"
    assert "missed" not in result.stderr
    assert "The target is met." in result.stdout  # one target: not "All 1 targets"


def test_missed_target_without_fail_on_miss_exits_0(tmp_path):
    result = run("conversion", *PURGATORY, "-d", write_defs(tmp_path, "targets.yml", MISSED_TARGET))
    ok(result)
    assert "missed target: MQL stuck" in result.stderr


USAGE_ERRORS = {
    "unknown option": (("conversion", *PURGATORY, "--bogus"), "No such option '--bogus'"),
    "unknown format": (("conversion", *PURGATORY, "-f", "xml"), "Invalid value for '-f'"),
    "bad --as-of": (("conversion", *PURGATORY, "--as-of", "2024-13-01"), "'2024-13-01' is not a date like"),
    "--since after --until": (("conversion", *PURGATORY, "--since", "2024-06-01", "--until", "2024-05-01"),
                              "--since 2024-06-01 is after --until 2024-05-01"),
    "--since after --as-of": (("conversion", *PURGATORY, "--since", "2024-06-01", "--as-of", "2024-05-01"),
                              "--since 2024-06-01 is after --as-of 2024-05-01"),
    "unknown --by": (("conversion", *PURGATORY, "--by", "ownr"), "--by 'ownr': not a field of the definitions (did you mean 'owner'?)"),
    "unknown --by on trends": (("trends", *PURGATORY, "--by", "contry"), "did you mean 'country'?"),
    "unknown --market": (("conversion", *PURGATORY, "--market", "C"), "--market 'C': no such market; markets are A, B, out of market"),
    "unknown --stage": (("purgatory", *PURGATORY, "--stage", "SALL"), "did you mean 'SAL'"),
    "--min-days without --list": (("purgatory", *PURGATORY, "--min-days", "3"), "--min-days goes with --list"),
    # offered only where it works: report and markets don't list --by, so Click refuses it
    "report --by": (("report", *PURGATORY, "--by", "owner"), "No such option '--by'"),
    "markets --by": (("markets", *PURGATORY, "--by", "owner"), "No such option '--by'"),
    "flow with a window": (("trends", *PURGATORY, "--counting", "flow", "--window", "5"), "--window and --from-stage go with --counting cohort"),
    "bad --delimiter": (("conversion", *PURGATORY, "--delimiter", "ab"), "give one character"),
    "bad --encoding": (("conversion", *PURGATORY, "--encoding", "nope"), "--encoding 'nope': unknown encoding"),
    "missing export": (("conversion", "nope.csv", "-d", PURGATORY_YML), "nope.csv: no such file"),
    "missing definitions": (("conversion", PURGATORY_CSV, "-d", "nope.yml"), "nope.yml: no such definitions file or folder"),
    "empty export": (("conversion", os.devnull, "-d", PURGATORY_YML), "the file is empty"),
    "markets without markets": (("markets", *TRENDS), "the definitions have no markets"),
}


@pytest.mark.parametrize("case", USAGE_ERRORS)
def test_could_not_run_exits_2(case):
    args, message = USAGE_ERRORS[case]
    fails(run(*args), 2, message)


def test_broken_definitions_exit_2_naming_path_line_col(tmp_path):
    # Every problem found, each at path:line:col, and a pointer to `funnelcli validate`
    broken = write_defs(tmp_path, "broken.yml", BROKEN_YAML)
    stderr = fails(run("conversion", PURGATORY_CSV, "-d", broken), 2, "the definitions have 2 problems", "funnelcli validate")
    assert f"{broken}:2:9: error: stages must be a list, got 3 (wrong-type)" in stderr.splitlines()
    syntax = write_defs(tmp_path, "syntax.yml", "version: 1\nstages:\n  - {name: MQL, date: X\n")
    stderr = fails(run("conversion", PURGATORY_CSV, "-d", syntax), 2)
    assert re.search(re.escape(syntax) + r":\d+:\d+: error: YAML syntax error", stderr)


def test_unknown_from_stage_names_the_option():
    stderr = fails(run("trends", *PURGATORY, "--from-stage", "SALL"), 2, "did you mean 'SAL'")
    assert "--from-stage 'SALL'" in stderr


# --------------------------------------------------------------------------------------------
# 6. Help, version, python -m, and what --help imports


KEY_OPTIONS = {
    "conversion": ["--definitions", "--as-of", "--since", "--until", "--by", "--market", "--format", "--output", "--quiet", "--strict", "--fail-on-miss"],
    "purgatory": ["--stage", "--list", "--min-days", "--by", "--format", "--output"],
    "markets": ["--market", "--since", "--format"],
    "trends": ["--period", "--last", "--counting", "--from-stage", "--window", "--by"],
    "report": ["--period", "--compare", "--fail-on-miss", "--email-to", "--smtp-host", "--format", "--output"],
    "validate": ["--data", "--format", "github", "--strict", "--quiet"],
    "schema": [],
    "diff": ["--as-of", "--join", "--examples", "--format", "--output", "--fail-on-change", "--quiet"],
    "plan": ["--target", "--period", "--cohorts", "--confidence", "--as-of", "--join", "--format", "--output", "--quiet"],
    "init": ["--output", "--encoding", "--delimiter", "--quiet"],
    "explain": ["--definitions", "--as-of", "--join", "--set", "--format", "--output", "--encoding", "--delimiter", "--quiet"],
    "sql": ["--definitions", "--set"],
}


def test_every_command_has_its_key_options_listed():
    assert set(KEY_OPTIONS) == set(cli.commands)  # a new command needs its line here


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_group_help(flag):
    out = ok(run(flag))
    assert "Examples:" in out and "Exit codes" in out
    for name in cli.commands:
        assert re.search(rf"^  {name}  ", out, re.M)


@pytest.mark.parametrize("command", sorted(KEY_OPTIONS))
def test_command_help(command):
    out = ok(run(command, "--help"))
    assert re.match(rf"Usage: \S+ {command} \[OPTIONS\]", out)  # in-process the program is named 'cli'
    examples = out.split("Examples:", 1)[1]
    assert f"funnelcli {command} " in examples
    for option in KEY_OPTIONS[command]:
        assert option in out


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version(flag):
    assert ok(run(flag)) == f"funnelcli, version {funnelcli.__version__}\n"


@pytest.mark.slow  # a fresh interpreter or a terminal: about a second
def test_python_dash_m():
    result = python("-m", "funnelcli", "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Usage: funnelcli [OPTIONS] COMMAND")


@pytest.mark.slow  # a fresh interpreter or a terminal: about a second
def test_importing_the_cli_does_not_import_pandas():
    # nor smtplib and ssl (about 30 ms): only `report --email-to` sends mail
    result = python("-c", "import sys, funnelcli.cli; print([m for m in ('pandas', 'smtplib', 'ssl') if m in sys.modules])")
    assert (result.returncode, result.stdout) == (0, "[]\n"), result.stderr


@pytest.mark.slow  # a fresh interpreter or a terminal: about a second
def test_help_does_not_import_pandas():
    # `funnelcli --help` through the real entry point, then every command's --help, in one process
    script = (
        "import os, sys\n"
        "os.environ['FUNNELCLI_DEBUG'] = '1'\n"  # main() then ends by SystemExit, not at once: the next --help runs
        "from funnelcli.cli import cli, main\n"
        "for name in [None, *cli.commands]:\n"
        "    sys.argv = ['funnelcli'] + ([name] if name else []) + ['--help']\n"
        "    try:\n"
        "        main()\n"
        "    except SystemExit as exc:\n"
        "        assert exc.code in (0, None), (name, exc.code)\n"
        "sys.stderr.write('pandas imported: %s' % ('pandas' in sys.modules))\n"
    )
    result = python("-c", script)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("Examples:") == 1 + len(cli.commands)
    assert result.stderr.endswith("pandas imported: False")


# --------------------------------------------------------------------------------------------
# 7. The README documents every command


def test_readme_documents_every_command():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = [name for name in cli.commands if f"funnelcli {name}" not in text]
    assert missing == []


# --------------------------------------------------------------------------------------------
# 8. Options shared by the report commands


def test_as_of_is_shown_and_applied():
    # As of 06-15: MQL reached by L5-L7, L8-L11 (06-01), L12-L14 = 10; 8 leads have a stage after
    # 06-15 (L1-L4 MQL, L8, L10, L11, L16 SAL) and are reported as ignored events
    result = run("conversion", *PURGATORY, "--as-of", "2024-06-15")
    out = ok(result)
    assert re.search(r"^As of +2024-06-15 \(given with --as-of\)$", out, re.M)
    assert find_row(out, "text", "MQL")[1]["Reached"] == "10"
    assert "8 leads have dates after the as-of date 2024-06-15; those events are ignored" in result.stderr
    doc = json.loads(ok(run("conversion", *PURGATORY, "--as-of", "2024-06-15", "-f", "json", "-q")))
    assert doc["as_of"] == "2024-06-15" and doc["tables"]["stages"][0]["reached"] == 10


def test_default_as_of_is_the_latest_date_in_the_export():
    out = ok(run("conversion", *PURGATORY, "-q"))
    assert re.search(r"^As of +2024-06-30 \(the latest date in the export\)$", out, re.M)


def test_since_until_bound_the_cohorts():
    # The May cohort: L5, L6, L7 (MQL 05-01); 12 other leads reached MQL outside the range
    out = ok(run("conversion", *PURGATORY, "--since", "2024-05-01", "--until", "2024-05-31", "-q"))
    assert re.search(r"^Cohorts +leads that reached MQL from 2024-05-01 to 2024-05-31$", out, re.M)
    assert find_row(out, "text", "MQL")[1]["Reached"] == "3"
    assert "16 rows read = 3 leads in the report + 1 never reached MQL + 12 outside the cohort range + 0 excluded" in out


def test_market_filter_accounts_for_other_markets():
    # Market A: L1, L5, L16 in the report; L15 (in A) never reached MQL; the other 12 are elsewhere
    out = ok(run("conversion", *PURGATORY, "--market", "A", "-q"))
    assert re.search(r"^Markets +A$", out, re.M)
    assert "16 rows read = 3 leads in the report + 1 never reached MQL + 12 in other markets + 0 excluded" in out
    acc = json.loads(ok(run("conversion", *PURGATORY, "--market", "A", "-f", "json", "-q")))["accounting"]
    assert (acc["leads_in_report"], acc["other_markets"], acc["never_reached_first_stage"]) == (3, 12, 1)


def test_markets_with_a_market_filter_lists_only_the_markets_chosen():
    # --market A: market B's and out of market's leads are not in the report; their rows read as
    # markets of 0 leads. A at MQL: 3 (L1, L5, L16), as in the test above.
    doc = json.loads(ok(run("markets", *PURGATORY, "--market", "A", "-f", "json", "-q")))
    rows = doc["tables"]["markets"]
    assert [(r["market"], r["reached:MQL"]) for r in rows] == [("A", 3)]


def test_conversion_by_market():
    # Per market at MQL: A 3 (L1, L5, L16), B 1 (L2), out of market 11
    out = ok(run("conversion", *PURGATORY, "--by", "market", "-f", "csv", "-q"))
    header, rows = csv_tables(out)[None]
    assert header[:2] == ["group", "stage"]
    mql = {r["group"]: r["reached"] for r in rows if r["stage"] == "MQL"}
    assert mql == {"A": "3", "B": "1", "out of market": "11"}
    assert re.search(r"^Breakdown +by market$", ok(run("conversion", *PURGATORY, "--by", "market", "-q")), re.M)


def test_flow_since_bounds_the_periods():
    # Flow counting: --since drops April's periods, not leads from cohorts. May: MQL L5-L7, SAL L7
    # (05-02), Won L14 (05-01); June: MQL L1-L4, L8-L11, L16 (implied), SAL L8-L11, L16
    out = ok(run("trends", *PURGATORY, "--counting", "flow", "--since", "2024-05-01", "-f", "csv", "-q"))
    _, rows = csv_tables(out)[None]  # flow: the main table
    got = [(r["period"], r["entered:MQL"], r["entered:SAL"], r["entered:SQL"], r["entered:Won"]) for r in rows]
    assert got == [("2024-05", "3", "1", "0", "1"), ("2024-06", "9", "5", "0", "0")]


@pytest.fixture
def latin1_semicolon(tmp_path) -> Path:
    """purgatory.csv with ';' between fields, in latin-1, Bob renamed Böb."""
    path = tmp_path / "latin1.csv"
    text = Path(PURGATORY_CSV).read_text(encoding="utf-8").replace("Bob", "Böb").replace(",", ";")
    path.write_bytes(text.encode("latin-1"))
    return path


@pytest.mark.parametrize("delimiter", [None, ";", "semicolon"])
def test_encoding_and_delimiter_pass_through(latin1_semicolon, delimiter):
    # Read with --encoding latin-1 (and the delimiter sniffed or given): Böb is first with 4 stuck
    extra = ("--delimiter", delimiter) if delimiter else ()
    out = ok(run("purgatory", latin1_semicolon, "-d", PURGATORY_YML, "--by", "owner", "-f", "csv", "-q",
                 "--table", "groups", "--encoding", "latin-1", *extra))
    _, groups = csv_tables(out)[None]
    assert (groups[0]["group"], groups[0]["stuck"]) == ("Böb", "4")


def test_encoding_and_delimiter_are_used(latin1_semicolon):
    # Without --encoding the file doesn't decode (the error suggests --encoding); a wrong --delimiter
    # finds none of the columns, and the one that splits the header is named
    fails(run("conversion", latin1_semicolon, "-d", PURGATORY_YML), 2, "is not UTF-8 text", "--encoding")
    fails(run("conversion", latin1_semicolon, "-d", PURGATORY_YML, "--encoding", "latin-1", "--delimiter", ","), 2,
          "the header reads as one column", "the delimiter is likely ';': give --delimiter ';'")


def test_definitions_from_the_environment(tmp_path):
    # No -d: $FUNNELCLI_DEFINITIONS, a list joined with os.pathsep
    env = {"FUNNELCLI_DEFINITIONS": PURGATORY_YML}
    assert find_row(ok(run("conversion", PURGATORY_CSV, "-q", env=env)), "text", "MQL")[1]["Reached"] == "15"
    targets = write_defs(tmp_path, "targets.yml", MISSED_TARGET)
    env = {"FUNNELCLI_DEFINITIONS": os.pathsep.join([PURGATORY_YML, targets])}
    out = ok(run("conversion", PURGATORY_CSV, "-q", env=env))
    assert find_row(out, "text", "MQL stuck")[1]["Status"] == "missed"


def test_d_beats_the_environment(tmp_path):
    env = {"FUNNELCLI_DEFINITIONS": write_defs(tmp_path, "broken.yml", BROKEN_YAML)}
    ok(run("conversion", *PURGATORY, "-q", env=env))


def test_definitions_default_to_the_definitions_folder(tmp_path, monkeypatch):
    # Neither -d nor the variable: ./definitions, and when it's missing the error says how to give one
    monkeypatch.chdir(tmp_path)
    fails(run("conversion", PURGATORY_CSV), 2, "definitions: no such definitions file or folder", "FUNNELCLI_DEFINITIONS")
    monkeypatch.chdir(ROOT)
    out = ok(run("conversion", SAMPLE, "-q"))
    assert re.search(r"^Definitions +definitions\b", out, re.M)


# --------------------------------------------------------------------------------------------
# 9. Internal errors


def _boom(*args, **kwargs):
    raise RuntimeError("boom")


def test_internal_error_exits_2_without_a_traceback(monkeypatch):
    import funnelcli.measures.reports

    monkeypatch.setattr(funnelcli.measures.reports, "conversion", _boom)
    fails(run("conversion", *PURGATORY, "-q"), 2, "funnelcli: internal error: RuntimeError: boom", "FUNNELCLI_DEBUG=1")


def test_internal_error_propagates_with_debug(monkeypatch):
    import funnelcli.measures.reports

    monkeypatch.setattr(funnelcli.measures.reports, "conversion", _boom)
    with pytest.raises(RuntimeError, match="boom"):
        run("conversion", *PURGATORY, "-q", env={"FUNNELCLI_DEBUG": "1"})


# --------------------------------------------------------------------------------------------
# 10. Pipes and terminals (real processes)


def funnelcli_command(*args: str) -> str:
    import shlex

    return " ".join(shlex.quote(a) for a in [sys.executable, "-m", "funnelcli", *args])


@pytest.mark.slow  # a fresh interpreter or a terminal: about a second
def test_head_closing_the_pipe():
    # `| head -1`: the first line, and no traceback or "Exception ignored" on stderr
    command = funnelcli_command("purgatory", str(SAMPLE), "-d", str(DEFINITIONS), "--list", "-f", "csv", "-q") + " | head -1"
    result = subprocess.run(["bash", "-o", "pipefail", "-c", command], cwd=ROOT, env=subprocess_env(),
                            capture_output=True, text=True, timeout=60)
    assert result.stdout.startswith("id,stage,entered,days_in_stage")
    assert result.stdout.count("\n") == 1
    assert result.stderr == ""
    assert result.returncode == 0


def closed_pipe(*args: str) -> subprocess.CompletedProcess:
    """Run funnelcli with its stdout a pipe whose reader is already gone (a certain EPIPE)."""
    p = subprocess.Popen([sys.executable, "-m", "funnelcli", *args], cwd=ROOT, env=subprocess_env(),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.close()
    stderr = p.stderr.read().decode()
    p.wait(timeout=60)
    return subprocess.CompletedProcess(p.args, p.returncode, "", stderr)


@pytest.mark.slow  # a fresh interpreter or a terminal: about a second
def test_reader_gone_before_the_report():
    result = closed_pipe("conversion", *PURGATORY, "-q")
    assert result.stderr == ""
    assert result.returncode == 0


@pytest.mark.slow  # a fresh interpreter or a terminal: about a second
def test_reader_gone_keeps_the_exit_code(tmp_path):
    broken = write_defs(tmp_path, "broken.yml", BROKEN_YAML)
    result = closed_pipe("validate", broken, "-q")
    assert "Traceback" not in result.stderr
    assert result.returncode == 1


def on_a_terminal(*args: str, **env: str) -> tuple[int, str, str]:
    """Run funnelcli with stdout on a pseudo-terminal 200 columns wide; return (exit code, stdout, stderr)."""
    pty = pytest.importorskip("pty")
    import fcntl
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
    p = subprocess.Popen([sys.executable, "-m", "funnelcli", *args], cwd=ROOT, env=subprocess_env(**env),
                         stdin=subprocess.DEVNULL, stdout=slave, stderr=subprocess.PIPE)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    stderr = p.stderr.read().decode()
    p.wait(timeout=60)
    return p.returncode, b"".join(chunks).decode().replace("\r\n", "\n"), stderr


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
@pytest.mark.slow  # a fresh interpreter or a terminal: about a second
def test_terminal_gets_a_coloured_table():
    # On a TTY the default is the rich table, in colour
    code, out, stderr = on_a_terminal("conversion", *PURGATORY, "-q")
    assert (code, stderr) == (0, "")
    assert ANSI in out and "─" in out
    assert "15" in out and "Stage-by-stage conversion" in out


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
@pytest.mark.slow  # a fresh interpreter or a terminal: about a second
def test_no_color_on_a_terminal():
    # NO_COLOR wins over the TTY: the same table, no escape codes
    code, out, stderr = on_a_terminal("conversion", *PURGATORY, "-q", NO_COLOR="1")
    assert (code, stderr) == (0, "")
    assert ANSI not in out and "─" in out
    assert find_row(out, "table", "MQL")[1]["Reached"] == "15"


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
@pytest.mark.slow  # a fresh interpreter or a terminal: about a second
def test_output_file_from_a_terminal_has_no_colour(tmp_path):
    # -o on a TTY: the format comes from the extension and the file has no escape codes
    target = tmp_path / "report.txt"
    code, out, stderr = on_a_terminal("conversion", *PURGATORY, "-q", "-o", str(target))
    assert (code, out, stderr) == (0, "", "")
    text = target.read_text(encoding="utf-8")
    assert ANSI not in text and find_row(text, "text", "MQL")[1]["Reached"] == "15"


def test_table_on_a_cp1252_stdout():
    from funnelcli.cli import cli as app

    result = CliRunner(charset="cp1252").invoke(app, ["conversion", *PURGATORY, "-f", "table", "-q"],
                                                 env={"NO_COLOR": "1", "FUNNELCLI_DEFINITIONS": ""})
    assert "internal error" not in result.stderr
    assert result.exit_code == 0


def test_text_on_a_cp1252_stdout_falls_back_to_ascii_sparklines():
    # The sparklines of trends have an ASCII form for a stdout that can't encode block characters
    result = CliRunner(charset="cp1252").invoke(cli, ["trends", *PURGATORY, "-f", "text", "-q"],
                                                 env={"NO_COLOR": "1", "FUNNELCLI_DEFINITIONS": ""})
    assert result.exit_code == 0, result.stderr
    _, row = find_row(result.stdout, "text", "Entered MQL")
    assert row["Trend"] and not set(row["Trend"]) & set("▁▂▃▄▅▆▇█")


@pytest.mark.parametrize("command", ["conversion", "purgatory", "trends"])
def test_a_second_by_is_a_usage_error_not_silently_the_one_kept(command):
    # --by owner --by source printed a breakdown by source alone, exit 0
    result = run(command, str(SAMPLE), "-d", str(DEFINITIONS), "--by", "owner", "--by", "source")
    assert result.exit_code == 2
    assert "'--by': one field at a time (got 'owner', 'source')" in result.stderr
    assert result.stdout == ""


def test_a_bad_value_from_the_environment_names_the_variable():
    # a crontab sets FUNNELCLI_SMTP_PORT, never --smtp-port: the error says where the value came from
    result = run("report", *PURGATORY, "--email-to", "a@example.com", "-q", env={"FUNNELCLI_SMTP_PORT": "abc"})
    assert result.exit_code == 2
    assert "Invalid value for '--smtp-port': 'abc'" in result.stderr and "(from $FUNNELCLI_SMTP_PORT)" in result.stderr
    given = run("report", *PURGATORY, "--email-to", "a@example.com", "--smtp-port", "abc", "-q")
    assert given.exit_code == 2 and "FUNNELCLI_SMTP_PORT" not in given.stderr


# --------------------------------------------------------------------------------------------
# The process exits without the interpreter's teardown once a command is done (cli.main, a
# speed the benchmark measures): what a test can see is that its output is whole and its exit
# code the command's


def test_a_command_run_as_a_process_writes_its_output_whole_and_exits_with_its_code(tmp_path):
    # the stuck list as CSV is the longest output of the sample: the process's stdout (a pipe)
    # holds every byte the in-process run gives, and stderr its accounting line
    args = ("purgatory", str(SAMPLE), "--list", "-f", "csv")
    done = python("-m", "funnelcli", *args)
    assert done.returncode == 0, done.stderr
    assert done.stdout == run(*args).stdout and done.stdout.count("\n") > 1000
    assert "excluded 2 rows with a blank id" in done.stderr
    written = tmp_path / "report.md"
    assert python("-m", "funnelcli", "report", str(SAMPLE), "-f", "markdown", "-o", str(written), "-q").returncode == 0
    assert written.read_text(encoding="utf-8") == run("report", str(SAMPLE), "-f", "markdown", "-q").stdout
    missing = python("-m", "funnelcli", "conversion", str(tmp_path / "none.csv"))
    assert missing.returncode == 2 and "no such file" in missing.stderr
    bad = tmp_path / "bad.yml"
    bad.write_text("version: 1\ncolumns: {}\nstages: []\n")
    assert python("-m", "funnelcli", "validate", str(bad)).returncode == 1
