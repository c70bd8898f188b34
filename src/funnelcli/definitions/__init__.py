"""Definitions: YAML files with positions -> schema checks -> merged, frozen model.

`load(paths)` gives a `Definitions` or raises `DefinitionError` holding every problem found;
`validate(paths)` gives the problems and never raises for bad definitions; `json_schema()` the
JSON Schema of a file, for editors (definitions.schema.json, kept in step with schema.py's key
lists by tests/test_json_schema.py); sets.py says which files a run merges. yamldoc.py reads YAML
with positions, schema.py checks one file (conditions.py the conditions in it, checks.py the small
checks both use), merge.py puts the files together, model.py is what they build. This package
imports only `funnelcli.errors`, PyYAML and the standard library: never pandas, so that
`funnelcli validate` and `--help` stay fast.
"""

from __future__ import annotations

from funnelcli.definitions.merge import parse
from funnelcli.definitions.model import (
    DATE_FIELDS,
    FALSE_WORDS,
    NUMBER_FIELDS,
    OPERATORS,
    OUT_OF_MARKET,
    TRUE_WORDS,
    AllOf,
    AnyOf,
    ColumnRef,
    Condition,
    Definitions,
    Exit,
    History,
    Join,
    Leaf,
    Market,
    NotOf,
    PurgatoryRule,
    Stage,
    Target,
    check_headers,
    describe,
    did_you_mean,
    nearest_header,
    walk_leaves,
)
from funnelcli.errors import DefinitionError, Problem

__all__ = [
    "DATE_FIELDS", "FALSE_WORDS", "TRUE_WORDS", "History", "Join", "NUMBER_FIELDS", "OPERATORS", "OUT_OF_MARKET", "AllOf", "AnyOf", "ColumnRef", "Condition",
    "Definitions", "Exit", "Leaf", "Market", "NotOf", "PurgatoryRule", "Stage", "Target", "check_headers",
    "describe", "did_you_mean", "json_schema", "load", "nearest_header", "validate", "walk_leaves",
]

SCHEMA_FILE = "definitions.schema.json"  # package data, beside this module


def json_schema() -> str:
    """Return the JSON Schema (draft-07) of one definitions file, as text."""
    from importlib.resources import files

    return (files(__name__) / SCHEMA_FILE).read_text(encoding="utf-8")


def validate(paths: list[str]) -> tuple[Definitions | None, list[Problem]]:
    """Return the definitions (None when they have errors) and every problem found.

    Raises InputError only when a path does not exist or a folder holds no definitions.
    """
    defs, problems = parse(paths)
    return defs, sorted(problems)


def load(paths: list[str]) -> Definitions:
    """Return the definitions in `paths` (files or folders, merged); raise DefinitionError."""
    defs, problems = parse(paths)
    if defs is None:
        raise DefinitionError(problems)
    return defs
