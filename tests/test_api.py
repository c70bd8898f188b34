"""The Python API: the README's example runs as written, and the library speaks in its own words.

The example's printed numbers are the sample's, the same the README's `conversion` session shows
(reached 3,368 MQL, 866 stuck), so the two are checked against each other by the README tests.
"""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys

import pytest
from tests.conftest import DEFINITIONS, FIXTURES, ROOT, SAMPLE

import funnelcli


def _readme_example() -> tuple[str, str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Python API", 1)[1]  # its first python block, and the text block after it
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    printed = re.search(r"```text\n(.*?)```", section, re.S).group(1)
    return code, printed


@pytest.mark.slow  # a fresh interpreter or a terminal: about a second
def test_readme_example_runs_as_written():
    code, printed = _readme_example()
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout == printed


def test_readme_example_agrees_with_the_command_line(cli_run):
    # the API's rows are the CLI's JSON rows: one pipeline, two front doors
    import json

    cli_rows = json.loads(cli_run("conversion", SAMPLE, "-d", DEFINITIONS, "-f", "json").stdout)["tables"]["stages"]
    f = funnelcli.run(SAMPLE, DEFINITIONS)
    api_rows = funnelcli.conversion(f).table("stages").rows
    assert [r["reached"] for r in api_rows] == [r["reached"] for r in cli_rows]
    assert [r["stuck"] for r in api_rows] == [r["stuck"] for r in cli_rows]


@pytest.mark.slow  # a fresh interpreter or a terminal: about a second
def test_import_funnelcli_is_light():
    code = "import sys, funnelcli; assert 'pandas' not in sys.modules; funnelcli.Report; assert 'pandas' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, timeout=60)


def test_findings_are_data_not_printed(capsys):
    f = funnelcli.run(FIXTURES / "small.csv", FIXTURES / "small.yml")
    out, err = capsys.readouterr()
    assert out == "" and err == ""
    assert all(isinstance(x, funnelcli.Finding) for x in f.findings)
    assert {x.kind for x in f.findings} <= {"excluded", "notice", "warning"}


def test_strict_turns_findings_into_an_error():
    f = funnelcli.run(FIXTURES / "small.csv", FIXTURES / "small.yml")
    if not f.findings:
        pytest.skip("the fixture has no data-quality findings")
    with pytest.raises(funnelcli.FunnelError, match="strict: .* has data-quality problems"):
        funnelcli.run(FIXTURES / "small.csv", FIXTURES / "small.yml", strict=True)


def test_errors_name_keywords_in_python_and_options_on_the_command_line(cli_run):
    f = funnelcli.run(FIXTURES / "purgatory.csv", FIXTURES / "purgatory.yml")
    with pytest.raises(funnelcli.FunnelError) as caught:
        funnelcli.conversion(f, by="ownr")
    assert str(caught.value).startswith("by='ownr': not a field")
    assert "--by" not in str(caught.value)
    result = cli_run("conversion", FIXTURES / "purgatory.csv", "-d", FIXTURES / "purgatory.yml", "--by", "ownr")
    assert result.exit_code == funnelcli.ExitCode.CANNOT_RUN
    assert "error: --by 'ownr': not a field" in result.stderr


@pytest.mark.parametrize("call, message", [
    (lambda f: funnelcli.trends(f, period="Month"), "period='Month': give one of 'month', 'week', 'quarter'"),
    (lambda f: funnelcli.trends(f, counting="flows"), "counting='flows': give one of"),
    (lambda f: funnelcli.digest(f, period="fortnight"), "period='fortnight': give one of 'week', 'month'"),
    (lambda f: funnelcli.render(funnelcli.conversion(f), "xlsx"), "fmt='xlsx': give one of"),
    (lambda f: funnelcli.run(FIXTURES / "purgatory.csv", FIXTURES / "purgatory.yml", as_of="yesterday"),
     "as_of='yesterday' is not a date like 2026-03-31"),
    (lambda f: funnelcli.funnel(f, FIXTURES / "purgatory.yml", since="Jan 1"), "since='Jan 1' is not a date"),
])
def test_settings_the_cli_refuses_are_refused_by_the_api_as_funnel_errors(call, message):
    # trends(period='Month') counted nonsense periods (2208-W31), render('xlsx') raised KeyError,
    # as_of='yesterday' a pandas error, and a since given as text crashed markets later
    f = funnelcli.run(FIXTURES / "purgatory.csv", FIXTURES / "purgatory.yml")
    with pytest.raises(funnelcli.FunnelError, match=re.escape(message)):
        call(f)


def test_dates_as_iso_text_are_dates_everywhere():
    f = funnelcli.run(FIXTURES / "purgatory.csv", FIXTURES / "purgatory.yml", as_of="2024-06-30", since="2024-05-01")
    g = funnelcli.run(FIXTURES / "purgatory.csv", FIXTURES / "purgatory.yml", as_of=dt.date(2024, 6, 30), since=dt.date(2024, 5, 1))
    assert funnelcli.markets(f).tables[0].rows == funnelcli.markets(g).tables[0].rows
    assert funnelcli.conversion(f).tables[0].rows == funnelcli.conversion(g).tables[0].rows


def test_validate_returns_problems():
    result = funnelcli.validate(FIXTURES / "broken-definitions.yml")
    assert not result.ok and result.definitions is None
    assert all(p.path.endswith("broken-definitions.yml") and p.line >= 1 for p in result.errors)


def test_write_report_picks_the_format_from_the_extension(tmp_path):
    f = funnelcli.run(FIXTURES / "purgatory.csv", FIXTURES / "purgatory.yml")
    report = funnelcli.conversion(f)
    funnelcli.write_report(report, tmp_path / "out.md")
    funnelcli.write_report(report, tmp_path / "out.csv")
    assert (tmp_path / "out.md").read_text().startswith("## Stage-by-stage conversion")
    assert (tmp_path / "out.csv").read_text().splitlines()[0].startswith("stage,reached,converted")


def test_unknown_table_names_the_tables():
    f = funnelcli.run(FIXTURES / "purgatory.csv", FIXTURES / "purgatory.yml")
    with pytest.raises(KeyError, match="its tables are stages"):
        funnelcli.conversion(f).table("nope")


def test_py_typed_is_shipped():
    assert (ROOT / "src" / "funnelcli" / "py.typed").exists()
    assert 'funnelcli = ["py.typed"]' in (ROOT / "pyproject.toml").read_text()
