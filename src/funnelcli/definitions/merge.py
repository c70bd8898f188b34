"""Definitions from files: a folder's files merged into one Definitions, with the checks that
need them all (conflicts, duplicate names, targets, mapped fields, column references).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
from typing import Any

from funnelcli.definitions.model import RESERVED_FIELDS, ColumnRef, Definitions, Stage, Target, did_you_mean, walk_leaves
from funnelcli.definitions.schema import describe_value, is_number, parse_file
from funnelcli.definitions.yamldoc import Where
from funnelcli.errors import InputError, Problem

TARGET_RATE = re.compile(r"^\s*(.+?)\s*->\s*(.+?)\s*$")  # MQL->SAL
TARGET_STUCK = re.compile(r"^\s*(.+?)\s+stuck\s*$", re.IGNORECASE)  # MQL stuck


def _definition_files(paths: list[str]) -> list[str]:
    files: list[str] = []
    for path in paths:
        if os.path.isdir(path):
            found = sorted(
                os.path.join(path, name)
                for name in os.listdir(path)
                if name.endswith((".yml", ".yaml")) and not name.startswith(".")
            )
            if not found:
                raise InputError(f"{path}: no definition files (*.yml, *.yaml) in this folder")
            files.extend(found)
        elif os.path.exists(path):
            files.append(path)
        else:
            raise InputError(
                f"{path}: no such definitions file or folder; pass -d PATH or set FUNNELCLI_DEFINITIONS"
            )
    return files


def _digest(files: list[str]) -> str:
    hasher = hashlib.sha256()
    for path in files:
        hasher.update(os.path.basename(path).encode() + b"\0")
        with open(path, "rb") as handle:
            hasher.update(handle.read())
        hasher.update(b"\0")
    return hasher.hexdigest()[:12]


def _merge_scalar(frags, attr: str, key: str, problems: list[Problem]) -> Any:
    chosen, chosen_path = None, None
    for frag in frags:
        value = getattr(frag, attr)
        if value is None:
            continue
        if chosen is None:
            chosen, chosen_path = value, frag.doc.path
        elif value != chosen:
            frag.doc.add(frag.doc.at((key,)), "conflict", f"{key} is {value!r} here but {chosen!r} in {chosen_path}")
    return chosen


def _parse_target(key: Any, value: Any, key_where: Where, value_where: Where, stage_names: list[str], problems: list[Problem]) -> Target | None:
    def add(where: Where, rule: str, message: str) -> None:
        problems.append(Problem(where.path, where.line, where.col, "error", rule, message))

    folded = {n.casefold(): n for n in stage_names}

    def stage(name: str) -> str | None:
        if name.casefold() in folded:
            return folded[name.casefold()]
        add(key_where, "unknown-stage", f"target {key!r} names unknown stage {name!r}{did_you_mean(name, stage_names)}; stages are {', '.join(stage_names)}")
        return None

    text = str(key)
    rate = TARGET_RATE.match(text)
    stuck = TARGET_STUCK.match(text)
    if rate:
        kind, first, second = "rate", stage(rate.group(1)), stage(rate.group(2))
        if first is None or second is None:
            return None
        if stage_names.index(first) >= stage_names.index(second):
            add(key_where, "target-order", f"target {key!r}: {second} must come after {first} in the stages")
            return None
    elif stuck:
        kind, first, second = "stuck", stage(stuck.group(1)), None
        if first is None:
            return None
    else:
        add(key_where, "invalid-target", f"target {key!r} is neither 'STAGE->STAGE' (a rate) nor 'STAGE stuck' (a stuck share)")
        return None
    minimum = maximum = None
    bound = value
    if isinstance(value, dict):
        unknown = [k for k in value if k not in ("min", "max")]
        if unknown or len(value) != 1:
            add(value_where, "invalid-target", f"target {key!r} takes a share such as 0.8 or 80%, or one of {{min: 0.8}} / {{max: 0.1}}")
            return None
        (which, bound), = value.items()
    else:
        which = "min" if kind == "rate" else "max"
    share = _share(bound)
    if share is None:
        add(value_where, "invalid-target", f"target {key!r}: {describe_value(bound)} is not a share between 0 and 1 (or 0% to 100%)")
        return None
    if which == "min":
        minimum = share
    else:
        maximum = share
    return Target(text.strip(), kind, first, second, minimum, maximum, key_where)


def _share(value: Any) -> float | None:
    if isinstance(value, str) and value.strip().endswith("%"):
        try:
            value = float(value.strip()[:-1]) / 100
        except ValueError:
            return None
    if is_number(value) and 0 <= value <= 1:
        return float(value)
    return None


def parse(paths: list[str]) -> tuple[Definitions | None, list[Problem]]:
    problems: list[Problem] = []
    files = _definition_files(paths)
    frags = [f for f in (parse_file(path, problems) for path in files) if f is not None]

    columns: dict[str, str] = {}
    column_where: dict[str, Where] = {}
    for frag in frags:
        for canonical, (header, where) in frag.columns.items():
            if canonical in columns and columns[canonical] != header:
                frag.doc.add(where, "conflict", f"columns: {canonical} is {header!r} here but {columns[canonical]!r} in {column_where[canonical].path}")
                continue
            columns.setdefault(canonical, header)
            column_where.setdefault(canonical, where)

    stage_frags = [f for f in frags if f.stages is not None]
    stages: list[Stage] = []
    if len(stage_frags) > 1:
        other = stage_frags[0].doc.path
        for frag in stage_frags[1:]:
            frag.doc.add(frag.doc.at(("stages",), key=True), "conflict", f"stages are also listed in {other}; keep the ordered list of stages in one file")
    if stage_frags:
        stages = stage_frags[0].stages
    # A file that could not be read may hold the stages or the id: don't also report them missing.
    unreadable = any(p.rule in ("yaml-syntax", "encoding") for p in problems)
    if not stage_frags and not unreadable:
        where = frags[0].doc.at(()) if frags else Where(files[0] if files else "definitions")
        problems.append(Problem(where.path, where.line, where.col, "error", "missing-key", "no 'stages': list the funnel's stages in order, each with a date column or a condition"))

    exits = [e for f in frags for e in f.exits]
    markets = [m for f in frags for m in f.markets]
    timezone = _merge_scalar(frags, "timezone", "timezone", problems) or "UTC"
    date_format = _merge_scalar(frags, "date_format", "date_format", problems)

    if "id" not in columns and not unreadable:
        where = frags[0].doc.at(("columns",)) if frags else Where(files[0] if files else "definitions")
        problems.append(Problem(where.path, where.line, where.col, "error", "missing-key", "columns needs an 'id': the export's column that identifies a lead (e.g. id: Record ID)"))

    seen: dict[str, tuple[str, Where]] = {}
    for kind, items in (("stage", stages), ("exit", exits), ("market", markets)):
        for item in items:
            folded = item.name.casefold()
            if folded in seen:
                other_kind, other_where = seen[folded]
                problems.append(Problem(item.where.path, item.where.line, item.where.col, "error", "duplicate-name",
                                        f"{kind} {item.name!r} has the same name as the {other_kind} at {other_where.path}:{other_where.line}"))
            else:
                seen[folded] = (kind, item.where)

    def resolve(header: str | None) -> str | None:
        return columns.get(header, header) if header else header

    stages = [dataclasses.replace(s, date=resolve(s.date)) for s in stages]
    exits = [dataclasses.replace(e, date=resolve(e.date)) for e in exits]

    for stage in stages:
        if stage.purgatory:
            missing = [c for c in ("touches", "last_activity") if c not in columns]
            if missing:
                w = stage.marks.get("purgatory", stage.where)
                problems.append(Problem(w.path, w.line, w.col, "error", "unmapped-field",
                                        f"stage {stage.name!r} has a purgatory rule on activity but columns does not map {' and '.join(missing)}"))

    stage_names = [s.name for s in stages]
    targets: list[Target] = []
    target_keys: dict[str, Where] = {}
    for frag in frags:
        for key, value, key_where, value_where in frag.targets:
            target = _parse_target(key, value, key_where, value_where, stage_names, problems)
            if target is None:
                continue
            norm = re.sub(r"\s+", "", target.key.casefold())
            if norm in target_keys:
                problems.append(Problem(key_where.path, key_where.line, key_where.col, "error", "duplicate-name",
                                        f"target {target.key!r} is also set at {target_keys[norm].path}:{target_keys[norm].line}"))
                continue
            target_keys[norm] = key_where
            targets.append(target)

    refs: list[ColumnRef] = []
    for canonical, header in columns.items():
        refs.append(ColumnRef(header, f"columns.{canonical}", column_where[canonical]))
    for stage in stages:
        if stage.date:
            refs.append(ColumnRef(stage.date, f"stage {stage.name} date", stage.marks.get("date", stage.where)))
    for ex in exits:
        if ex.date:
            refs.append(ColumnRef(ex.date, f"exit {ex.name} date", ex.marks.get("date", ex.where)))
    conditions = [(f"stage {s.name}", s.when) for s in stages] + [(f"exit {e.name}", e.when) for e in exits]
    conditions += [(f"market {m.name}", m.when) for m in markets]
    for label, cond in conditions:
        for leaf in walk_leaves(cond):
            if leaf.field in RESERVED_FIELDS:
                problems.append(Problem(leaf.where.path, leaf.where.line, leaf.where.col, "error", "reserved-name",
                                        f"{label} condition: {leaf.field!r} is computed by funnelcli and cannot be tested in a condition"))
                continue
            refs.append(ColumnRef(columns.get(leaf.field, leaf.field), f"{label} condition", leaf.where))

    if any(p.level == "error" for p in problems):
        return None, problems
    defs = Definitions(
        columns=columns,
        stages=tuple(stages),
        exits=tuple(exits),
        markets=tuple(markets),
        targets=tuple(targets),
        timezone=timezone,
        date_format=date_format,
        sources=tuple(files),
        digest=_digest(files),
        refs=tuple(refs),
    )
    return defs, problems
