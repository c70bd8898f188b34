"""What-if without editing files: `--set KEY=VALUE` changes one value of the loaded definitions,
checked as the files are checked. "What if sales had 5 days to accept instead of 3?" is
`--set stages.SAL.sla_days=5`; the report's header says which values were set.

Keys: stages.NAME.sla_days, stages.NAME.window_days, stages.NAME.purgatory.touches_at_most,
stages.NAME.purgatory.idle_days (a stage by name, any case), targets.KEY (a target as the files
write it: targets.MQL->SAL=0.7, "targets.MQL stuck=0.1"), and timezone.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence
from typing import Any

import yaml

from funnelcli.definitions.checks import describe_value, is_number
from funnelcli.definitions.model import Definitions, did_you_mean
from funnelcli.definitions.yamldoc import Where
from funnelcli.errors import FunnelError, Problem, option

KEYS = ("stages.NAME.sla_days", "stages.NAME.window_days", "stages.NAME.purgatory.touches_at_most",
        "stages.NAME.purgatory.idle_days", "targets.KEY", "timezone")
_STAGE_FIELDS = ("sla_days", "window_days", "purgatory.touches_at_most", "purgatory.idle_days")


def apply(defs: Definitions, assignments: Sequence[str]) -> Definitions:
    """Return the definitions with each KEY=VALUE applied in order; raise FunnelError (exit 2)
    naming the assignment and what is wrong with it."""
    said = []
    for text in assignments:
        key, sep, raw = text.partition("=")
        key = key.strip()
        if not sep or not key:
            raise _error(text, "write KEY=VALUE, such as stages.SAL.sla_days=5")
        value = _value(raw)
        defs, before = _set(defs, key, value, text)
        said.append(f"{key}={raw.strip()} (was {before})")
    if not said:
        return defs
    digest = hashlib.sha256((defs.digest + "\0" + "\0".join(assignments)).encode()).hexdigest()[:12]
    return dataclasses.replace(defs, overrides=defs.overrides + tuple(said), digest=digest)


def _value(raw: str) -> Any:
    """Return a value as YAML reads it in a definitions file (5 a number, none or null nothing)."""
    raw = raw.strip()
    if raw.casefold() in ("none", "null", "~", ""):
        return None
    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError:
        return raw


def _set(defs: Definitions, key: str, value: Any, text: str) -> tuple[Definitions, str]:
    parts = key.split(".")
    if parts[0] == "stages" and len(parts) >= 3:
        return _set_stage(defs, parts[1], ".".join(parts[2:]), value, text)
    if parts[0] == "targets" and len(parts) >= 2:
        return _set_target(defs, key[len("targets."):], value, text)
    if key == "timezone":
        return _set_timezone(defs, value, text)
    raise _error(text, f"no such setting{did_you_mean(key, list(KEYS))}; settings are {', '.join(KEYS)}")


def _set_stage(defs: Definitions, name: str, field: str, value: Any, text: str) -> tuple[Definitions, str]:
    i = defs.stage_index(name)
    if i < 0:
        raise _error(text, f"no stage {name!r}{did_you_mean(name, defs.stage_names)}; stages are {', '.join(defs.stage_names)}")
    stage = defs.stages[i]
    if field not in _STAGE_FIELDS:
        # a purgatory: rule's numbers only where the stage has one (they change it; --set writes no new rule)
        settable = [f for f in _STAGE_FIELDS if stage.purgatory is not None or not f.startswith("purgatory.")]
        also = "; a purgatory: rule is written in the definitions" if stage.purgatory is None and field.startswith("purgatory") else ""
        raise _error(text, f"a stage's {field!r} can't be set{did_you_mean(field, settable)}; "
                           f"these can: {', '.join(settable)}{also}")
    if field in ("sla_days", "window_days"):
        before = getattr(stage, field)
        new = dataclasses.replace(stage, **{field: _days(value, text, allow_none=True)})
    else:
        rule = stage.purgatory
        if rule is None:
            raise _error(text, f"stage {stage.name!r} has no purgatory: rule to change; write one in the definitions")
        attr = field.split(".")[1]
        before = getattr(rule, attr)
        number = _days(value, text) if attr == "idle_days" else _touches(value, text)
        new = dataclasses.replace(stage, purgatory=dataclasses.replace(rule, **{attr: number}))
    stages = defs.stages[:i] + (new,) + defs.stages[i + 1:]
    return dataclasses.replace(defs, stages=stages), _shown(before)


def _set_target(defs: Definitions, key: str, value: Any, text: str) -> tuple[Definitions, str]:
    from funnelcli.definitions.merge import _parse_target

    problems: list[Problem] = []
    where = Where(option("set"))
    target = _parse_target(key, value, where, where, list(defs.stage_names), problems)
    if target is None:
        raise _error(text, "; ".join(p.message for p in problems) or "not a target")
    same = [t for t in defs.targets if t.key.replace(" ", "").casefold() == target.key.replace(" ", "").casefold()]
    before = (same[0].minimum if same[0].minimum is not None else same[0].maximum) if same else None
    targets = tuple(t for t in defs.targets if t not in same) + (target,)
    return dataclasses.replace(defs, targets=targets), _shown(before)


def _set_timezone(defs: Definitions, value: Any, text: str) -> tuple[Definitions, str]:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if value is None or not str(value).strip():
        raise _error(text, "give a timezone: an IANA name such as UTC or America/New_York")
    try:
        ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError, OSError):  # 'America' is a folder of zones
        raise _error(text, f"unknown timezone {value!r}; use an IANA name such as UTC or America/New_York") from None
    return dataclasses.replace(defs, timezone=str(value)), defs.timezone


def _days(value: Any, text: str, allow_none: bool = False) -> float | None:
    if value is None and allow_none:
        return None
    if is_number(value) and 0 < value <= 36_500:
        return value
    raise _error(text, f"days must be a number above 0 and at most 36500{' (or none)' if allow_none else ''}, got {describe_value(value)}")


def _touches(value: Any, text: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 1_000_000:
        return value
    raise _error(text, f"touches_at_most must be a whole number of 0 or more, got {describe_value(value)}")


def _shown(value: Any) -> str:
    if value is None:
        return "not set"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _error(text: str, why: str) -> FunnelError:
    return FunnelError(f"{option('set')}{text!r}: {why}")

