"""The small checks every part of a definitions file uses: a value described for a message, a
number told from a flag, a mapping or a list where one is expected, and the keys a mapping may hold.

The expect_ and check_ functions report a problem at the value's position; the expect_ ones give
back whether the value can be used. schema.py and conditions.py both use them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from funnelcli.definitions.model import did_you_mean
from funnelcli.definitions.yamldoc import Doc


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def describe_value(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):  # as YAML writes it (yes, on and true all read as true)
        return "true" if value else "false"
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str) and len(value) > 80:  # a message names the value, never quotes a whole file
        return f"{value[:60]!r}... ({len(value):,} characters)"
    return repr(value)


def check_keys(doc: Doc, mapping: dict, kp: tuple, allowed, what: str) -> None:
    for key in mapping:
        if key not in allowed:
            doc.add(
                doc.at(kp + (key,), key=True),
                "unknown-key",
                f"unknown key {key!r} in {what}{did_you_mean(key, allowed)}",
            )


def expect_mapping(doc: Doc, value: Any, kp: tuple, what: str) -> bool:
    if isinstance(value, dict):
        return True
    doc.add(doc.at(kp), "wrong-type", f"{what} must be a mapping, got {describe_value(value)}")
    return False


def expect_list(doc: Doc, value: Any, kp: tuple, what: str) -> bool:
    if isinstance(value, list):
        return True
    doc.add(doc.at(kp), "wrong-type", f"{what} must be a list, got {describe_value(value)}")
    return False
