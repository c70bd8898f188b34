"""Definitions from files: a folder's files merged into one Definitions, with the checks that
need them all (conflicts, duplicate names, targets, mapped fields, column references).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import stat
from typing import Any

from funnelcli.definitions.checks import describe_value, is_number
from funnelcli.definitions.model import (
    RESERVED_FIELDS,
    ColumnRef,
    Definitions,
    History,
    Join,
    Stage,
    Target,
    did_you_mean,
    walk_leaves,
)
from funnelcli.definitions.schema import parse_file
from funnelcli.definitions.yamldoc import Where
from funnelcli.errors import InputError, Problem

TARGET_RATE = re.compile(r"^\s*(.+?)\s*->\s*(.+?)\s*$")  # MQL->SAL
TARGET_STUCK = re.compile(r"^\s*(.+?)\s+stuck\s*$", re.IGNORECASE)  # MQL stuck


def _definition_files(paths: list[str]) -> list[str]:
    """Return the definition files `paths` name: files as given, a folder's *.yml and *.yaml (not
    hidden, sorted). Raise InputError for a path that does not exist, a folder without definition
    files, and anything that is not a regular file (a FIFO named funnel.yml would hang the read)."""
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
            files.extend(_regular(f) for f in found)
        elif os.path.exists(path):
            files.append(_regular(path))
        else:
            raise InputError(
                f"{path}: no such definitions file or folder; give their path (-d PATH, or validate PATH) or set FUNNELCLI_DEFINITIONS"
            )
    return files


def _regular(path: str) -> str:
    """Return the path when it is a regular file (or a link to one); raise InputError naming what it is."""
    if os.path.isfile(path):
        return path
    try:
        mode = os.stat(path).st_mode
    except OSError:
        mode = None
    what = ("a link to nothing" if mode is None else "a named pipe (FIFO)" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode)
            else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "not a regular file")
    raise InputError(f"{path}: is {what}, not a definitions file; definitions are read from regular files only: remove or "
                     "rename it (`funnelcli validate -` reads definitions from stdin)")


def _digest(files: list[str]) -> str:
    hasher = hashlib.sha256()
    for path in files:
        hasher.update(os.path.basename(path).encode() + b"\0")
        with open(path, "rb") as handle:
            hasher.update(handle.read())
        hasher.update(b"\0")
    return hasher.hexdigest()[:12]


def _merge_column_formats(frags, columns: dict[str, str], refs: list[ColumnRef], joins: list[Join],
                          problems: list[Problem]) -> tuple:
    """Return `date_formats:` of every file as (column, formats) pairs, a column named by header
    or canonical name (both are keys: a joined field is read under its canonical name); report a
    column named twice with different formats, and one the definitions don't read."""
    merged: dict[str, tuple] = {}
    read = {r.header for r in refs} | set(columns) | {c for j in joins for c in j.columns}
    for frag in frags:
        for name, (formats, where) in frag.date_formats.items():
            if name in merged and merged[name][0] != formats:
                problems.append(Problem(where.path, where.line, where.col, "error", "conflict",
                                        f"date_formats: {name!r} is {list(formats)!r} here but {list(merged[name][0])!r} in {merged[name][1].path}"))
                continue
            merged[name] = (formats, where)
            if name not in read:
                problems.append(Problem(where.path, where.line, where.col, "warning", "unknown-column",
                                        f"date_formats: {name!r} is not a column the definitions read{did_you_mean(name, sorted(read))}; "
                                        "its formats are not used"))
    pairs = [(name, formats) for name, (formats, _) in merged.items()]
    pairs += [(columns[name], formats) for name, formats in pairs if name in columns and columns[name] not in merged]
    # a joined column is read under its canonical name, and its file's order_by under the header:
    # formats keyed by either reach both
    for join in joins:
        for canonical, header in join.columns.items():
            for name, other in ((header, canonical), (canonical, header)):
                if name in merged and other not in merged:
                    pairs.append((other, merged[name][0]))
                    merged[other] = merged[name]
    return tuple(pairs)


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
        add(key_where, "unknown-stage", f"target {key!r} names unknown stage {name!r}{did_you_mean(name, stage_names)}; stages are {', '.join(n if n.isprintable() else repr(n) for n in stage_names)}")
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
    """Return the merged definitions of `paths` (None when any problem is an error) and every problem.

    Raises InputError only when a path does not exist or a folder holds no definition files.
    """
    problems: list[Problem] = []
    files = _definition_files(paths)
    frags = [f for f in (parse_file(path, problems) for path in files) if f is not None]
    # A file that could not be read may hold the stages or the id: don't also report them missing.
    unreadable = any(p.rule in ("yaml-syntax", "encoding", "too-many-aliases", "not-definitions") for p in problems)

    columns, column_where = _merge_columns(frags)
    stages = _merge_stages(frags, files, unreadable, problems)
    exits = [e for f in frags for e in f.exits]
    markets = [m for f in frags for m in f.markets]
    timezone = _merge_scalar(frags, "timezone", "timezone", problems) or "UTC"
    date_format = _merge_scalar(frags, "date_format", "date_format", problems) or ()
    blank_values = _merge_scalar(frags, "blank_values", "blank_values", problems) or ()
    stage_column = _merge_scalar(frags, "stage_column", "stage_column", problems)
    history = _merge_scalar(frags, "history", "history", problems)
    joins = [j for f in frags for j in (f.joins or [])]
    if "id" not in columns and not unreadable and not _written(frags, "columns", "id"):  # a wrong one is reported where it is
        where = _top_where(frags, files, ("columns",))
        problems.append(Problem(where.path, where.line, where.col, "error", "missing-key", "columns needs an 'id': the export's column that identifies a lead (e.g. id: Record ID)"))
    _check_names(stages, exits, [m for f in frags for m in f.market_names], problems)
    _check_joins(joins, columns, problems)
    _check_rules(stages, exits, any(f.shape_given for f in frags), problems)
    if any(f.shape_given for f in frags):
        _check_values(stages, exits, problems, history)

    # Stages and exits name their date column by export header or by canonical name: keep the header.
    stages = [dataclasses.replace(s, date=_header(columns, s.date), flag=_header(columns, s.flag)) for s in stages]
    exits = [dataclasses.replace(e, date=_header(columns, e.date)) for e in exits]
    _check_purgatory_fields(stages, columns, problems)
    # with no stages (none listed, or in a file that could not be read) every target would name an unknown stage
    targets = _merge_targets(frags, [s.name for s in stages], problems) if stages else []
    refs = _column_refs(columns, column_where, stages, exits, markets, problems, joins)
    refs += _shape_refs(frags, columns, stage_column, history, joins)

    column_formats = _merge_column_formats(frags, columns, refs, joins, problems)

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
        stage_column=stage_column,
        history=history,
        joins=tuple(joins),
        blank_values=tuple(blank_values),
        column_formats=column_formats,
    )
    return defs, problems


def _top_where(frags: list, files: list[str], kp: tuple) -> Where:
    """Return where to report a missing top-level key: the first file's `kp`, or its path alone."""
    return frags[0].doc.at(kp) if frags else Where(files[0] if files else "definitions")


def _header(columns: dict[str, str], name: str | None) -> str | None:
    """Return the export header of a column given by canonical name or header (None stays None)."""
    return columns.get(name, name) if name else name


def _merge_columns(frags: list) -> tuple[dict[str, str], dict[str, Where]]:
    """Return the union of the files' columns (canonical name -> header) and where each was first mapped.

    A name mapped to another header in a later file is a conflict, reported there; the first wins.
    """
    columns: dict[str, str] = {}
    column_where: dict[str, Where] = {}
    for frag in frags:
        for canonical, (header, where) in frag.columns.items():
            if canonical in columns and columns[canonical] != header:
                frag.doc.add(where, "conflict", f"columns: {canonical} is {header!r} here but {columns[canonical]!r} in {column_where[canonical].path}")
                continue
            columns.setdefault(canonical, header)
            column_where.setdefault(canonical, where)
    return columns, column_where


def _merge_stages(frags: list, files: list[str], unreadable: bool, problems: list[Problem]) -> list[Stage]:
    """Return the stages of the first file that lists them; report any other file that does too.

    Stages are an ordered list, so they cannot be merged across files: only one file may hold them.
    """
    stage_frags = [f for f in frags if f.stages is not None]
    if len(stage_frags) > 1:
        other = stage_frags[0].doc.path
        for frag in stage_frags[1:]:
            frag.doc.add(frag.doc.at(("stages",), key=True), "conflict", f"stages are also listed in {other}; keep the ordered list of stages in one file")
    if stage_frags:
        return stage_frags[0].stages
    if not unreadable and not _written(frags, "stages"):  # stages of the wrong type are reported where they are
        where = _top_where(frags, files, ())
        problems.append(Problem(where.path, where.line, where.col, "error", "missing-key", "no 'stages': list the funnel's stages in order, each with a date column or a condition"))
    return []


def _written(frags: list, key: str, inner: str | None = None) -> bool:
    """Return whether a file writes `key` (and `inner` under it), of whatever type."""
    for frag in frags:
        data = frag.doc.data
        if isinstance(data, dict) and key in data and (inner is None or (isinstance(data[key], dict) and inner in data[key])):
            return True
    return False


def _check_names(stages: list, exits: list, markets: list, problems: list[Problem]) -> None:
    """Report every stage, exit or market whose name another one already has, at the later one.

    Stage, exit and market names share one namespace, compared case-insensitively because stages
    are looked up that way (`--stage mql` finds MQL).
    """
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


def _check_purgatory_fields(stages: list[Stage], columns: dict[str, str], problems: list[Problem]) -> None:
    """Report every stage with an activity purgatory when columns does not map touches and last_activity."""
    for stage in stages:
        if stage.purgatory:
            missing = [c for c in ("touches", "last_activity") if c not in columns]
            if missing:
                w = stage.marks.get("purgatory", stage.where)
                problems.append(Problem(w.path, w.line, w.col, "error", "unmapped-field",
                                        f"stage {stage.name!r} has a purgatory rule on activity but columns does not map {' and '.join(missing)}"))


def _merge_targets(frags: list, stage_names: list[str], problems: list[Problem]) -> list[Target]:
    """Return the good targets of every file, each key once; report bad keys, values and repeats.

    Checked here, not per file, because a target may name stages listed in another file.
    """
    targets: list[Target] = []
    target_keys: dict[str, Where] = {}
    for frag in frags:
        for key, value, key_where, value_where in frag.targets:
            target = _parse_target(key, value, key_where, value_where, stage_names, problems)
            if target is None:
                continue
            # 'MQL->SAL' and 'mql -> sal' are the same target.
            norm = re.sub(r"\s+", "", target.key.casefold())
            if norm in target_keys:
                problems.append(Problem(key_where.path, key_where.line, key_where.col, "error", "duplicate-name",
                                        f"target {target.key!r} is also set at {target_keys[norm].path}:{target_keys[norm].line}"))
                continue
            target_keys[norm] = key_where
            targets.append(target)
    return targets


def _check_joins(joins: list[Join], columns: dict[str, str], problems: list[Problem]) -> None:
    """Report joins whose names repeat, that bring in a field another mapping has, or whose key
    names a field only a later join brings."""
    names: dict[str, Where] = {}
    brought: dict[str, str] = {c: "columns" for c in columns}
    later = {c: j.name for j in joins for c in j.columns}
    for join in joins:
        w = join.where
        if join.name.casefold() in names:
            problems.append(Problem(w.path, w.line, w.col, "error", "duplicate-name", f"join {join.name!r} is also defined at "
                                    f"{names[join.name.casefold()].path}:{names[join.name.casefold()].line}"))
        names.setdefault(join.name.casefold(), w)
        if join.lead_key not in brought and join.lead_key in later:
            problems.append(Problem(w.path, w.line, w.col, "error", "join-order",
                                    f"join {join.name!r} keys on {join.lead_key!r}, which join {later[join.lead_key]!r} brings in later; "
                                    "list that join first"))
        for canonical in join.columns:
            if canonical in brought:
                problems.append(Problem(w.path, w.line, w.col, "error", "conflict",
                                        f"join {join.name!r} brings in {canonical!r}, which {brought[canonical]} maps already; "
                                        "give it another canonical name"))
            brought.setdefault(canonical, f"join {join.name!r}")


def _check_rules(stages: list[Stage], exits: list, has_values: bool, problems: list[Problem]) -> None:
    """Report stages and exits with no rule saying who reached them, and values with nothing to read.

    Only the first stage may have no rule (every lead reaches it); with a status column or a log,
    each stage and exit has its values (default: its name).
    """
    for i, stage in enumerate(stages):
        w = stage.where
        if stage.values and not has_values:
            m = stage.marks.get("values", w)
            problems.append(Problem(m.path, m.line, m.col, "error", "missing-key",
                                    f"stage {stage.name!r} lists values, but the definitions name no stage_column or history to read them in"))
        # a rule written but invalid is reported where it is written, not again here
        if i > 0 and not (has_values or any(k in stage.marks for k in ("date", "when", "flag"))):
            problems.append(Problem(w.path, w.line, w.col, "error", "missing-key",
                                    f"stage {stage.name!r} needs a 'date' column, a 'when' condition or a 'flag' to tell who reached it "
                                    "(only the first stage may have none: every lead reaches it)"))
    for ex in exits:
        if ex.values and not has_values:
            m = ex.marks.get("values", ex.where)
            problems.append(Problem(m.path, m.line, m.col, "error", "missing-key",
                                    f"exit {ex.name!r} lists values, but the definitions name no stage_column or history to read them in"))
        if not (has_values or any(k in ex.marks for k in ("date", "when"))):
            w = ex.where
            problems.append(Problem(w.path, w.line, w.col, "error", "missing-key", f"exit {ex.name!r} needs a 'when' condition or a 'date' column"))


def _check_values(stages: list[Stage], exits: list, problems: list[Problem], history: History | None) -> None:
    """Report a status or log value that two stages or exits claim, or that a stage or exit claims
    and history.reopen lists too (compared trimmed, any case)."""
    seen: dict[str, str] = {}
    for kind, items in (("stage", stages), ("exit", exits)):
        for item in items:
            for value in item.values or (item.name,):
                folded = str(value).strip().casefold()
                if folded in seen and seen[folded] != f"{kind} {item.name!r}":
                    w = item.marks.get("values", item.where)
                    problems.append(Problem(w.path, w.line, w.col, "error", "duplicate-value",
                                            f"{kind} {item.name!r}: the value {value!r} also names {seen[folded]}; "
                                            "a status or log value names one stage or exit"))
                seen.setdefault(folded, f"{kind} {item.name!r}")
    for value in history.reopen if history else ():
        folded = value.strip().casefold()
        if folded in seen:
            w = history.marks.get("reopen", history.where)
            problems.append(Problem(w.path, w.line, w.col, "error", "duplicate-value",
                                    f"history.reopen: the value {value!r} also names {seen[folded]}; a log value reopens a "
                                    "lead or names a stage or exit, not both"))


def _shape_refs(frags: list, columns: dict[str, str], stage_column: str | None, history, joins: list[Join]) -> list[ColumnRef]:
    """Return the columns the export's shape names (its status column, the log's) and every
    joined file's columns, each with the file it belongs to."""
    refs: list[ColumnRef] = []
    joined = {c for j in joins for c in j.columns}
    top = frags[0].doc if frags else None

    def where(key: str) -> Where:
        for frag in frags:
            if getattr(frag, key, None) is not None:
                return frag.doc.at((key,))
        return top.at(()) if top else Where("")

    if stage_column and stage_column not in joined:
        refs.append(ColumnRef(columns.get(stage_column, stage_column), "stage_column", where("stage_column")))
    if history:
        refs.append(ColumnRef(history.stage, "history stage", history.marks.get("stage", history.where)))
        refs.append(ColumnRef(history.at, "history at", history.marks.get("at", history.where)))
        for leaf in walk_leaves(history.only):
            refs.append(ColumnRef(columns.get(leaf.field, leaf.field), "history only condition", leaf.where))
    brought: set[str] = set()
    for join in joins:
        if join.lead_key not in brought and join.lead_key not in joined:
            refs.append(ColumnRef(columns.get(join.lead_key, join.lead_key), f"join {join.name} key", join.where))
        refs.append(ColumnRef(join.file_key, f"join {join.name} key", join.where, join.name))
        refs += [ColumnRef(h, f"join {join.name} columns.{c}", join.where, join.name) for c, h in join.columns.items()]
        if join.order_by:
            refs.append(ColumnRef(join.order_by, f"join {join.name} order_by", join.where, join.name))
        brought |= set(join.columns)
    return refs


def _column_refs(columns: dict[str, str], column_where: dict[str, Where], stages: list[Stage], exits: list,
                 markets: list, problems: list[Problem], joins: list[Join] = ()) -> list[ColumnRef]:
    """Return every export column the definitions name, with where and why; report reserved fields.

    An export's header is checked against these (`validate --data`, and reading an export). A
    condition cannot test 'market' or 'exit': funnelcli computes them from the conditions.
    """
    refs: list[ColumnRef] = []
    for canonical, header in columns.items():
        refs.append(ColumnRef(header, f"columns.{canonical}", column_where[canonical]))
    joined = {c for j in joins for c in j.columns}  # fields a join brings: its own refs check them
    for stage in stages:
        if stage.date and stage.date not in joined:
            refs.append(ColumnRef(stage.date, f"stage {stage.name} date", stage.marks.get("date", stage.where)))
        if stage.flag and stage.flag not in joined:
            refs.append(ColumnRef(stage.flag, f"stage {stage.name} flag", stage.marks.get("flag", stage.where)))
    for ex in exits:
        if ex.date and ex.date not in joined:
            refs.append(ColumnRef(ex.date, f"exit {ex.name} date", ex.marks.get("date", ex.where)))
    conditions = [(f"stage {s.name}", s.when) for s in stages] + [(f"exit {e.name}", e.when) for e in exits]
    conditions += [(f"market {m.name}", m.when) for m in markets]
    for label, cond in conditions:
        for leaf in walk_leaves(cond):
            if leaf.field in RESERVED_FIELDS:
                problems.append(Problem(leaf.where.path, leaf.where.line, leaf.where.col, "error", "reserved-name",
                                        f"{label} condition: {leaf.field!r} is computed by funnelcli and cannot be tested in a condition"))
                continue
            if leaf.field not in joined:
                refs.append(ColumnRef(columns.get(leaf.field, leaf.field), f"{label} condition", leaf.where))
    return refs
