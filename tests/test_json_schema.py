"""The JSON Schema of definitions files (`funnelcli schema`): in step with the loader's key lists,
valid for every definitions file in the repository, and refusing what the loader refuses.

Files are read with funnelcli's own YAML reader (YAML 1.2 scalars: `Yes` stays text); dates that
YAML reads (`gte: 2024-01-01`) are given to the schema as the ISO text an editor sees.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import json
import tomllib

import jsonschema
import pytest
from tests.conftest import ROOT, run

from funnelcli import api, definitions
from funnelcli.definitions import schema as loader
from funnelcli.definitions.model import OPERATORS
from funnelcli.definitions.yamldoc import Doc

SCHEMA = json.loads(definitions.json_schema())
VALIDATOR = jsonschema.Draft7Validator(SCHEMA)


def plain(value):
    """Return YAML data as JSON sees it: dates as ISO text."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def read(text: str):
    problems: list = []
    doc = Doc("x.yml", text, problems)
    assert problems == []
    return plain(doc.data)


def errors(text: str) -> list[tuple[str, str]]:
    """Return (the JSON path, the validator keyword) of each schema error in a document."""
    return sorted((e.json_path, e.validator) for e in VALIDATOR.iter_errors(read(text)))


# --------------------------------------------------------------------------------------------
# 1. The schema and the loader accept the same keys


def keys(name: str) -> set[str]:
    return set(SCHEMA["definitions"][name]["properties"])


def test_schema_is_a_valid_draft_07_schema():
    jsonschema.Draft7Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "http://json-schema.org/draft-07/schema#"


@pytest.mark.parametrize("section, accepted", [
    ("top", loader.TOP_KEYS), ("stage", loader.STAGE_KEYS), ("exit", loader.EXIT_KEYS), ("market", loader.MARKET_KEYS),
    ("history", loader.HISTORY_KEYS), ("join", loader.JOIN_KEYS),
])
def test_every_key_the_loader_accepts_is_in_the_schema_and_no_other(section, accepted):
    found = set(SCHEMA["properties"]) if section == "top" else keys(section)
    assert found == set(accepted)


def test_operators_purgatory_and_many_match_the_loader():
    assert keys("test") == set(OPERATORS) | {"case_sensitive"}
    assert set(SCHEMA["definitions"]["stage"]["properties"]["purgatory"]["properties"]) == set(loader.PURGATORY_KEYS)
    assert SCHEMA["definitions"]["join"]["properties"]["many"]["enum"] == list(loader.MANY_RULES)
    assert set(SCHEMA["definitions"]["condition"]["properties"]) == {"all", "any", "not"}


def test_the_command_prints_the_shipped_schema():
    result = run("schema")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == SCHEMA
    assert result.stdout == api.json_schema()


# --------------------------------------------------------------------------------------------
# 2. Every definitions file of the repository is valid


DEFINITION_FILES = sorted(
    [*(ROOT / "definitions").rglob("*.y*ml"), *(ROOT / "benchmarks" / "definitions").rglob("*.y*ml"),
     *(p for p in (ROOT / "tests" / "fixtures").rglob("*.y*ml") if "broken" not in p.name)],
)


def test_the_repository_has_definitions_to_check():
    assert len(DEFINITION_FILES) >= 15
    assert ROOT / "definitions" / "salesforce" / "funnel.yml" in DEFINITION_FILES


@pytest.mark.parametrize("path", DEFINITION_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_repository_definitions_are_valid(path):
    assert errors(path.read_text(encoding="utf-8")) == []


def test_date_formats_with_excel_and_lists():
    text = ("date_format: excel\n"
            "date_formats:\n  Created Date: '%m/%d/%Y %I:%M %p'\n  Converted Date: ['%m/%d/%Y', excel]\n")
    assert errors(text) == []


# --------------------------------------------------------------------------------------------
# 3. Invalid documents: the schema refuses them, and so does validate


INVALID = [
    ("unknown top key", "stagez: []\n", ("$", "additionalProperties")),
    ("version 2", "version: 2\n", ("$.version", "const")),
    ("a stage without a name", "stages:\n  - date: MQL Date\n", ("$.stages[0]", "required")),
    ("a misspelt stage key", "stages:\n  - name: MQL\n    sla_day: 3\n", ("$.stages[0]", "additionalProperties")),
    ("a negative SLA", "stages:\n  - name: MQL\n    sla_days: -3\n", ("$.stages[0].sla_days", "exclusiveMinimum")),
    ("an SLA as text", "stages:\n  - name: MQL\n    sla_days: three\n", ("$.stages[0].sla_days", "type")),
    ("an unknown operator", "exits:\n  - name: Lost\n    when: {status: {inn: [Lost]}}\n", ("$.exits[0].when.status", "oneOf")),
    ("a market without a rule", "markets:\n  - name: Big\n", ("$.markets[0]", "required")),
    ("a join's many", "joins:\n  - {name: a, on: id, columns: {x: X}, many: sometimes}\n", ("$.joins[0].many", "enum")),
    ("a date format as a number", "date_formats:\n  Created: 12\n", ("$.date_formats.Created", "oneOf")),
    ("a target that is not a rate", "targets:\n  MQL: 0.5\n", ("$.targets", "pattern")),
    ("a share above 1", "targets:\n  MQL->SAL: 1.5\n", ("$.targets['MQL->SAL']", "oneOf")),
    ("a canonical name with a space", "columns:\n  lead owner: Owner\n", ("$.columns", "pattern")),
    ("history without at", "history: {stage: new_value}\n", ("$.history", "required")),
]


@pytest.mark.parametrize("text, expected", [pytest.param(t, e, id=i) for i, t, e in INVALID])
def test_invalid_documents(text, expected, write):
    assert expected in errors(text)
    # the loader refuses each as well: the schema never flags what validate passes
    complete = "version: 1\ncolumns: {id: Id}\nstages: [{name: Lead}, {name: Won, date: Won Date}]\n"
    body = text if text.startswith(("stages", "columns")) else complete + text
    if text.startswith("columns"):
        body = text + "  id: Id\nstages: [{name: Lead}]\n"
    if text.startswith("version"):
        body = text + "columns: {id: Id}\nstages: [{name: Lead}]\n"
    _, problems = definitions.validate([str(write("defs.yml", body))])
    assert any(p.level == "error" for p in problems), problems


# --------------------------------------------------------------------------------------------
# 4. The schema is package data


def test_pyproject_ships_the_schema():
    """setuptools puts package data matching [tool.setuptools.package-data] in the wheel (checked by
    hand with `pip wheel .`: funnelcli/definitions/definitions.schema.json is in it)."""
    settings = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    globs = settings["tool"]["setuptools"]["package-data"]["funnelcli.definitions"]
    assert any(fnmatch.fnmatch(definitions.SCHEMA_FILE, g) for g in globs)
    assert (ROOT / "src" / "funnelcli" / "definitions" / definitions.SCHEMA_FILE).is_file()
    test_extras = settings["project"]["optional-dependencies"]["test"]
    assert any(r.startswith("jsonschema>=") for r in test_extras)
