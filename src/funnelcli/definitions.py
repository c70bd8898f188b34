"""Definitions: YAML files -> frozen dataclasses, with the line and column of everything.

`load(paths)` gives a `Definitions` or raises `DefinitionError` holding every problem found;
`validate(paths)` gives the problems and never raises for bad definitions. No pandas here:
`funnelcli validate` and `--help` must stay fast.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import hashlib
import os
import re
from dataclasses import dataclass, field
from typing import Any, Union

import yaml

from funnelcli.errors import DefinitionError, InputError, Problem

# --------------------------------------------------------------------------------------------
# The model


@dataclass(frozen=True)
class Where:
    """Where a thing was written: file, line and column (1-based)."""

    path: str
    line: int = 1
    col: int = 1


OPERATORS = (
    "eq", "ne", "gt", "gte", "lt", "lte", "between", "in", "not_in",
    "matches", "not_matches", "contains", "not_contains", "present", "missing",
)


@dataclass(frozen=True)
class Leaf:
    """One test of one field: `field op value`."""

    field: str
    op: str
    value: Any
    case_sensitive: bool = False
    where: Where = field(default=Where(""), compare=False, repr=False)


@dataclass(frozen=True)
class AllOf:
    items: tuple


@dataclass(frozen=True)
class AnyOf:
    items: tuple


@dataclass(frozen=True)
class NotOf:
    item: Any


Condition = Union[Leaf, AllOf, AnyOf, NotOf]


@dataclass(frozen=True)
class PurgatoryRule:
    """A stage's activity purgatory: at most N touches and no activity for D days."""

    touches_at_most: int
    idle_days: float


@dataclass(frozen=True)
class Stage:
    name: str
    date: str | None = None  # the export header of its date column
    when: Condition | None = None
    sla_days: float | None = None
    window_days: float | None = None
    purgatory: PurgatoryRule | None = None
    where: Where = field(default=Where(""), compare=False, repr=False)
    marks: dict = field(default_factory=dict, compare=False, repr=False)  # where its 'date', 'purgatory' were written


@dataclass(frozen=True)
class Exit:
    name: str
    when: Condition | None = None
    date: str | None = None  # the export header of its date column
    where: Where = field(default=Where(""), compare=False, repr=False)
    marks: dict = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class Market:
    name: str
    when: Condition
    where: Where = field(default=Where(""), compare=False, repr=False)


@dataclass(frozen=True)
class Target:
    """An agreed goal: a rate at least `minimum`, or a stuck share at most `maximum`."""

    key: str  # as written: "MQL->SAL", "MQL stuck"
    kind: str  # "rate" or "stuck"
    stage: str
    to_stage: str | None
    minimum: float | None = None
    maximum: float | None = None
    where: Where = field(default=Where(""), compare=False, repr=False)


@dataclass(frozen=True)
class ColumnRef:
    """A column of the export that the definitions name, and where they name it."""

    header: str
    role: str  # "columns.owner", "stage MQL date", "market Enterprise NA condition", ...
    where: Where


OUT_OF_MARKET = "out of market"
RESERVED_FIELDS = ("market", "exit")
# Canonical names whose values are dates (besides stage and exit date columns).
DATE_FIELDS = ("created", "last_activity")
# Canonical names whose values are numbers.
NUMBER_FIELDS = ("touches", "amount")


@dataclass(frozen=True)
class Definitions:
    columns: dict  # canonical name -> export header
    stages: tuple[Stage, ...]
    exits: tuple[Exit, ...] = ()
    markets: tuple[Market, ...] = ()
    targets: tuple[Target, ...] = ()
    timezone: str = "UTC"
    date_format: str | None = None
    sources: tuple[str, ...] = ()
    digest: str = ""
    refs: tuple[ColumnRef, ...] = ()

    def field_key(self, name: str) -> str:
        """Return the lead-table name of a field: its canonical name if mapped, else the header."""
        if name in self.columns:
            return name
        for canonical, header in self.columns.items():
            if header == name:
                return canonical
        return name

    def header(self, name: str) -> str:
        """Return the export header of a field given by canonical name or header."""
        return self.columns.get(name, name)

    def stage_index(self, name: str) -> int:
        """Return the position of a stage, matching names case-insensitively; -1 if none."""
        for i, stage in enumerate(self.stages):
            if stage.name.casefold() == name.casefold():
                return i
        return -1

    @property
    def stage_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.stages)

    def headers(self) -> list[str]:
        """Return every export header the definitions use, each once, in a stable order."""
        seen: dict[str, None] = {}
        for ref in self.refs:
            seen.setdefault(ref.header, None)
        return list(seen)

    def date_headers(self) -> set[str]:
        """Return the headers whose values are dates."""
        out = {s.date for s in self.stages if s.date} | {e.date for e in self.exits if e.date}
        out |= {self.columns[f] for f in DATE_FIELDS if f in self.columns}
        out |= {h for c, h in self.columns.items() if c.endswith("_date")}
        return out

    def condition_fields(self) -> set[str]:
        """Return every field name a stage, exit or market condition tests."""
        conds = [s.when for s in self.stages] + [e.when for e in self.exits] + [m.when for m in self.markets]
        return {leaf.field for cond in conds for leaf in _walk_leaves(cond)}

    def fields(self) -> list[str]:
        """Return the fields a user can break a report down by (`--by`)."""
        names = [c for c in self.columns if c != "id"]
        if self.markets:
            names.append("market")
        if self.exits:
            names.append("exit")
        return names


# --------------------------------------------------------------------------------------------
# YAML with positions


class _Loader(yaml.SafeLoader):
    """SafeLoader where only true/false are booleans: `in: [Yes, No]` must stay text."""


# YAML 1.2 scalars rather than PyYAML's 1.1 ones: only true/false are booleans (`in: [Yes, No]`
# stays text), and numbers are plain decimals: no octal (01234 stays the text '01234', a zip
# code), no sexagesimal (1:30 stays text), no .nan or .inf.
_REPLACED = ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float")
_Loader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag not in _REPLACED]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
_Loader.add_implicit_resolver("tag:yaml.org,2002:int", re.compile(r"^[-+]?(?:0|[1-9][0-9_]*)$"), list("-+0123456789"))
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:(?:0|[1-9][0-9_]*)\.[0-9_]*|\.[0-9_]+)(?:[eE][-+]?[0-9]+)?$|^[-+]?(?:0|[1-9][0-9_]*)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)
MAX_VALUES = 1_000_000  # a file whose aliases expand past this is refused ("billion laughs")


def _expanded_size(node, sizes: dict) -> int:
    """Return how many values the node holds with every alias expanded (computed without expanding)."""
    if id(node) in sizes:
        return sizes[id(node)]
    sizes[id(node)] = 1  # a node that contains itself counts once
    if isinstance(node, yaml.MappingNode):
        size = 1 + sum(_expanded_size(k, sizes) + _expanded_size(v, sizes) for k, v in node.value)
    elif isinstance(node, yaml.SequenceNode):
        size = 1 + sum(_expanded_size(v, sizes) for v in node.value)
    else:
        size = 1
    sizes[id(node)] = size
    return size


class _Doc:
    """One parsed YAML file: its plain data and the marks of every value and key."""

    def __init__(self, path: str, text: str, problems: list[Problem]):
        self.path = path
        self.marks: dict[tuple, tuple[int, int]] = {}
        self.key_marks: dict[tuple, tuple[int, int]] = {}
        self.problems = problems
        self.data: Any = None
        loader = _Loader(text)
        self._done: dict[int, Any] = {}  # an aliased node is walked once, then shared
        try:
            node = loader.get_single_node()
            if node is not None:
                if _expanded_size(node, {}) > MAX_VALUES:
                    raise yaml.YAMLError(f"the file's aliases expand to more than {MAX_VALUES:,} values")
                self.data = self._walk(loader, node, ())
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            message = exc.problem or "not valid YAML"
            if exc.context:
                message = f"{message} ({exc.context})"
            line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
            self.add(Where(path, line, col), "yaml-syntax", f"YAML syntax error: {message}")
            self.data = None
        except (yaml.YAMLError, RecursionError) as exc:
            detail = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
            self.add(Where(path), "yaml-syntax", f"YAML syntax error: {detail}")
            self.data = None
        finally:
            loader.dispose()

    def _walk(self, loader, node, keypath: tuple, depth: int = 0) -> Any:
        if depth > 50:
            raise yaml.YAMLError("nested too deeply (a recursive alias?)")
        self.marks.setdefault(keypath, (node.start_mark.line + 1, node.start_mark.column + 1))
        if id(node) in self._done:
            return self._done[id(node)]
        if isinstance(node, yaml.MappingNode):
            explicit = sum(1 for k, _ in node.value if k.tag != "tag:yaml.org,2002:merge")
            loader.flatten_mapping(node)
            merged = len(node.value) - explicit  # `<<: *anchor` pairs come first; written keys win
            out: dict = {}
            from_merge: set = set()
            for n, (key_node, value_node) in enumerate(node.value):
                key = loader.construct_object(key_node, deep=True)
                where = Where(self.path, key_node.start_mark.line + 1, key_node.start_mark.column + 1)
                if not isinstance(key, (str, int, float, bool)) or isinstance(key, bool):
                    key = str(key)
                if key in out and key not in from_merge:
                    self.add(where, "duplicate-key", f"duplicate key {key!r}: the earlier one would be ignored")
                    continue
                if n < merged:
                    from_merge.add(key)
                else:
                    from_merge.discard(key)
                self.key_marks[keypath + (key,)] = (where.line, where.col)
                out[key] = self._walk(loader, value_node, keypath + (key,), depth + 1)
            result: Any = out
        elif isinstance(node, yaml.SequenceNode):
            result = [self._walk(loader, v, keypath + (i,), depth + 1) for i, v in enumerate(node.value)]
        else:
            result = loader.construct_object(node, deep=True)
        self._done[id(node)] = result
        return result

    def at(self, keypath: tuple, key: bool = False) -> Where:
        """Return where the value (or with key=True, the key) at keypath was written."""
        marks = self.key_marks if key else self.marks
        probe = tuple(keypath)
        while probe and probe not in marks:
            probe = probe[:-1]
        line, col = marks.get(probe, self.marks.get(probe, (1, 1)))
        return Where(self.path, line, col)

    def add(self, where: Where, rule: str, message: str, level: str = "error") -> None:
        self.problems.append(Problem(where.path, where.line, where.col, level, rule, message))


# --------------------------------------------------------------------------------------------
# Checks


def did_you_mean(word: str, choices) -> str:
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool, dt.date))


def _describe(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dt.date):
        return value.isoformat()
    return repr(value)


def _day(value: Any) -> Any:
    """Return a datetime as its date: conditions compare dates by the day."""
    return value.date() if isinstance(value, dt.datetime) else value


def _check_keys(doc: _Doc, mapping: dict, kp: tuple, allowed, what: str) -> None:
    for key in mapping:
        if key not in allowed:
            doc.add(
                doc.at(kp + (key,), key=True),
                "unknown-key",
                f"unknown key {key!r} in {what}{did_you_mean(key, allowed)}",
            )


def _expect_mapping(doc: _Doc, value: Any, kp: tuple, what: str) -> bool:
    if isinstance(value, dict):
        return True
    doc.add(doc.at(kp), "wrong-type", f"{what} must be a mapping, got {_describe(value)}")
    return False


def _expect_list(doc: _Doc, value: Any, kp: tuple, what: str) -> bool:
    if isinstance(value, list):
        return True
    doc.add(doc.at(kp), "wrong-type", f"{what} must be a list, got {_describe(value)}")
    return False


def _text(doc: _Doc, mapping: dict, key: str, kp: tuple, what: str, required: bool = False) -> str | None:
    if key not in mapping:
        if required:
            doc.add(doc.at(kp), "missing-key", f"{what} needs a {key!r}")
        return None
    value = mapping[key]
    if isinstance(value, str) and value.strip():
        return value.strip()
    doc.add(doc.at(kp + (key,)), "wrong-type", f"{what}: {key!r} must be non-empty text, got {_describe(value)}")
    return None


def _positive(doc: _Doc, mapping: dict, key: str, kp: tuple, what: str, rule: str = "invalid-value") -> float | None:
    if key not in mapping:
        return None
    value = mapping[key]
    if _is_number(value) and value > 0:
        return value
    doc.add(
        doc.at(kp + (key,)),
        rule,
        f"{what}: {key} must be a positive number of days, got {_describe(value)}",
    )
    return None


_CONDITION_HINT = "such as {status: {in: [Unqualified]}}"


def _condition(doc: _Doc, value: Any, kp: tuple, what: str) -> Condition | None:
    """Parse a declarative condition; report every problem in it. None if unusable."""
    if not isinstance(value, dict) or not value:
        doc.add(doc.at(kp), "wrong-type", f"{what}: a condition is a mapping {_CONDITION_HINT}, got {_describe(value)}")
        return None
    items = []
    ok = True
    for key, sub in value.items():
        skp = kp + (key,)
        if key in ("all", "any"):
            if not _expect_list(doc, sub, skp, f"{what}: {key!r}"):
                ok = False
                continue
            if not sub:
                doc.add(doc.at(skp), "invalid-value", f"{what}: {key!r} needs at least one condition")
                ok = False
                continue
            parts = [_condition(doc, c, skp + (i,), what) for i, c in enumerate(sub)]
            if any(p is None for p in parts):
                ok = False
                continue
            items.append(AllOf(tuple(parts)) if key == "all" else AnyOf(tuple(parts)))
        elif key == "not":
            part = _condition(doc, sub, skp, what)
            if part is None:
                ok = False
            else:
                items.append(NotOf(part))
        elif isinstance(key, str) and key.casefold() in ("and", "or", "all", "any", "not"):
            suggestion = {"and": "all", "or": "any"}.get(key.casefold(), key.casefold())
            doc.add(doc.at(skp, key=True), "unknown-operator", f"{what}: {key!r} is not a condition keyword (did you mean {suggestion!r}?)")
            ok = False
        elif not isinstance(key, str) or not key.strip():
            doc.add(doc.at(skp, key=True), "wrong-type", f"{what}: field names are text, got {key!r}")
            ok = False
        else:
            leaf = _field_test(doc, key, sub, skp, what)
            if leaf is None:
                ok = False
            else:
                items.append(leaf)
    if not ok:
        return None
    return items[0] if len(items) == 1 else AllOf(tuple(items))


def _field_test(doc: _Doc, fld: str, value: Any, kp: tuple, what: str) -> Condition | None:
    where = doc.at(kp, key=True)
    if isinstance(value, list):  # shorthand: field: [a, b]  means  field: {in: [a, b]}
        value = {"in": value}
    elif _is_scalar(value):  # shorthand: field: a  means  field: {eq: a}
        value = {"eq": value}
    elif not isinstance(value, dict) or not value:
        doc.add(
            doc.at(kp),
            "wrong-type",
            f"{what}: the test of {fld!r} must be a mapping of operators such as {{in: [...]}} or {{gte: 100}}, got {_describe(value)}",
        )
        return None
    case_sensitive = value.get("case_sensitive", False)
    if not isinstance(case_sensitive, bool):
        doc.add(doc.at(kp + ("case_sensitive",)), "wrong-type", f"{what}: case_sensitive must be true or false")
        return None
    leaves = []
    ok = True
    for op, arg in value.items():
        if op == "case_sensitive":
            continue
        okp = kp + (op,)
        if op not in OPERATORS:
            doc.add(
                doc.at(okp, key=True),
                "unknown-operator",
                f"{what}: unknown operator {op!r} on {fld!r}{did_you_mean(op, OPERATORS)}; operators are {', '.join(OPERATORS)}",
            )
            ok = False
            continue
        checked = _operand(doc, op, arg, okp, f"{what}: {fld} {op}")
        if checked is _BAD:
            ok = False
            continue
        leaves.append(Leaf(fld, op, checked, case_sensitive, where))
    if not ok or not leaves:
        if ok:
            doc.add(doc.at(kp), "invalid-value", f"{what}: no operator given for {fld!r}")
        return None
    return leaves[0] if len(leaves) == 1 else AllOf(tuple(leaves))


_BAD = object()


def _operand(doc: _Doc, op: str, arg: Any, kp: tuple, what: str) -> Any:
    """Check an operator's value; return it normalised, or _BAD after reporting."""
    where = doc.at(kp)
    if op in ("present", "missing"):
        if isinstance(arg, bool):
            return arg
        doc.add(where, "wrong-type", f"{what} takes true or false, got {_describe(arg)}")
        return _BAD
    if op in ("in", "not_in"):
        values = arg if isinstance(arg, list) else [arg]
        if not values or not all(_is_scalar(v) for v in values):
            doc.add(where, "wrong-type", f"{what} takes a list of values, got {_describe(arg)}")
            return _BAD
        return tuple(_day(v) for v in values)
    if op == "between":
        if not (isinstance(arg, list) and len(arg) == 2 and all(_is_number(v) or isinstance(v, dt.date) for v in arg)):
            doc.add(where, "wrong-type", f"{what} takes [low, high], two numbers or two dates, got {_describe(arg)}")
            return _BAD
        low, high = _day(arg[0]), _day(arg[1])
        if _is_number(low) != _is_number(high):
            doc.add(where, "wrong-type", f"{what}: low and high must both be numbers or both dates")
            return _BAD
        if low > high:
            doc.add(where, "invalid-value", f"{what}: low {_describe(low)} is above high {_describe(high)}")
            return _BAD
        return (low, high)
    if op in ("matches", "not_matches"):
        if not isinstance(arg, str):
            doc.add(where, "wrong-type", f"{what} takes a regular expression, got {_describe(arg)}")
            return _BAD
        try:
            re.compile(arg)
        except re.error as exc:
            doc.add(where, "invalid-regex", f"{what}: invalid regular expression {arg!r}: {exc}")
            return _BAD
        return arg
    if op in ("contains", "not_contains"):
        if not isinstance(arg, str) or not arg:
            doc.add(where, "wrong-type", f"{what} takes non-empty text, got {_describe(arg)}")
            return _BAD
        return arg
    # eq ne gt gte lt lte
    if not _is_scalar(arg) or (op not in ("eq", "ne") and isinstance(arg, bool)):
        kind = "a value" if op in ("eq", "ne") else "a number, a date or text"
        doc.add(where, "wrong-type", f"{what} takes {kind}, got {_describe(arg)}")
        return _BAD
    return _day(arg)


_OP_WORDS = {
    "eq": "is", "ne": "is not", "gt": ">", "gte": ">=", "lt": "<", "lte": "<=", "in": "in", "not_in": "not in",
    "matches": "matches", "not_matches": "does not match", "contains": "contains", "not_contains": "does not contain",
}


def describe(cond: Condition | None) -> str:
    """Return a condition in words, e.g. "employees >= 1000 and country in [US, CA]"."""
    if cond is None:
        return ""
    if isinstance(cond, Leaf):
        value = cond.value
        if cond.op in ("present", "missing"):
            return f"{cond.field} is {'present' if (cond.op == 'present') == value else 'missing'}"
        if cond.op == "between":
            return f"{cond.field} between {value[0]} and {value[1]}"
        if isinstance(value, tuple):
            value = "[" + ", ".join(str(v) for v in value) + "]"
        return f"{cond.field} {_OP_WORDS[cond.op]} {value}"
    if isinstance(cond, NotOf):
        return f"not ({describe(cond.item)})"
    joiner = " and " if isinstance(cond, AllOf) else " or "
    parts = [describe(c) if isinstance(c, Leaf) else f"({describe(c)})" for c in cond.items]
    return joiner.join(parts)


def _walk_leaves(cond: Condition | None):
    if cond is None:
        return
    if isinstance(cond, Leaf):
        yield cond
    elif isinstance(cond, (AllOf, AnyOf)):
        for item in cond.items:
            yield from _walk_leaves(item)
    elif isinstance(cond, NotOf):
        yield from _walk_leaves(cond.item)


# --------------------------------------------------------------------------------------------
# One file -> a fragment

TOP_KEYS = ("version", "description", "columns", "timezone", "date_format", "stages", "exits", "markets", "targets")
STAGE_KEYS = ("name", "description", "date", "when", "sla_days", "window_days", "purgatory")
PURGATORY_KEYS = ("touches_at_most", "idle_days")
EXIT_KEYS = ("name", "description", "when", "date")
MARKET_KEYS = ("name", "description", "when")
_TARGET_RATE = re.compile(r"^\s*(.+?)\s*->\s*(.+?)\s*$")
_TARGET_STUCK = re.compile(r"^\s*(.+?)\s+stuck\s*$", re.IGNORECASE)


@dataclass
class _Fragment:
    doc: _Doc
    version: Any = None
    timezone: str | None = None
    date_format: str | None = None
    columns: dict = field(default_factory=dict)
    stages: list | None = None
    exits: list = field(default_factory=list)
    markets: list = field(default_factory=list)
    targets: list = field(default_factory=list)  # (key, raw value, where) checked after merge


def _parse_file(path: str, problems: list[Problem]) -> _Fragment | None:
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except OSError as exc:
        raise InputError(f"{path}: cannot read definitions: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        problems.append(Problem(path, 1, 1, "error", "encoding", f"not UTF-8 text (byte {exc.start}); save the file as UTF-8"))
        return None
    doc = _Doc(path, text, problems)
    data = doc.data
    if data is None:
        if not any(p.path == path and p.rule == "yaml-syntax" for p in problems):
            doc.add(Where(path), "empty-file", "the file holds no definitions", level="warning")
        return None
    if not _expect_mapping(doc, data, (), "a definitions file"):
        return None
    _check_keys(doc, data, (), TOP_KEYS, "the definitions")
    frag = _Fragment(doc)
    if "version" in data:
        frag.version = data["version"]
        if frag.version != 1:
            doc.add(doc.at(("version",)), "unsupported-version", f"version must be 1, got {_describe(frag.version)}")
    frag.timezone = _text(doc, data, "timezone", (), "the definitions")
    if frag.timezone:
        _check_timezone(doc, frag.timezone)
    frag.date_format = _text(doc, data, "date_format", (), "the definitions")
    if frag.date_format:
        _check_date_format(doc, frag.date_format)
    if "columns" in data and _expect_mapping(doc, data["columns"], ("columns",), "columns"):
        for canonical, header in data["columns"].items():
            kp = ("columns", canonical)
            if not isinstance(canonical, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", canonical):
                doc.add(doc.at(kp, key=True), "invalid-value", f"columns: canonical name {canonical!r} must be a word such as owner or lead_score")
                continue
            if canonical in RESERVED_FIELDS:
                doc.add(doc.at(kp, key=True), "reserved-name", f"columns: {canonical!r} is computed by funnelcli; map the export's column under another name")
                continue
            if isinstance(header, (int, float)) and not isinstance(header, bool):
                header = str(header)
            if not isinstance(header, str) or not header.strip():
                doc.add(doc.at(kp), "wrong-type", f"columns: {canonical} must name a column of the export, got {_describe(header)}")
                continue
            frag.columns[canonical] = (header.strip(), doc.at(kp))
    if "stages" in data and _expect_list(doc, data["stages"], ("stages",), "stages"):
        if not data["stages"]:
            doc.add(doc.at(("stages",)), "missing-key", "stages is empty: list the funnel's stages in order")
        frag.stages = []
        for i, item in enumerate(data["stages"]):
            stage = _parse_stage(doc, item, ("stages", i))
            if stage is not None:
                frag.stages.append(stage)
    for section, parse in (("exits", _parse_exit), ("markets", _parse_market)):
        if section in data and data[section] is not None and _expect_list(doc, data[section], (section,), section):
            for i, item in enumerate(data[section]):
                parsed = parse(doc, item, (section, i))
                if parsed is not None:
                    getattr(frag, section).append(parsed)
    if "targets" in data and data["targets"] is not None and _expect_mapping(doc, data["targets"], ("targets",), "targets"):
        for key, value in data["targets"].items():
            frag.targets.append((key, value, doc.at(("targets", key), key=True), doc.at(("targets", key))))
    return frag


def _check_timezone(doc: _Doc, name: str) -> None:
    import zoneinfo

    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):  # 'America' is a folder of zones
        doc.add(doc.at(("timezone",)), "invalid-timezone", f"unknown timezone {name!r}; use an IANA name such as UTC or America/New_York")


def _check_date_format(doc: _Doc, fmt: str) -> None:
    sample = dt.datetime(2024, 3, 15, 14, 5, 6)
    try:
        if "%" not in fmt:
            raise ValueError("no % directive")
        dt.datetime.strptime(sample.strftime(fmt), fmt)
    except ValueError:
        doc.add(
            doc.at(("date_format",)),
            "invalid-date-format",
            f"date_format {fmt!r} is not a strptime format such as '%m/%d/%Y %I:%M %p'",
        )


def _name(doc: _Doc, item: dict, kp: tuple, what: str) -> str | None:
    return _text(doc, item, "name", kp, what, required=True)


def _parse_stage(doc: _Doc, item: Any, kp: tuple) -> Stage | None:
    if not _expect_mapping(doc, item, kp, "a stage"):
        return None
    label = f"stage {item.get('name')!r}" if isinstance(item.get("name"), str) else f"stage #{kp[-1] + 1}"
    _check_keys(doc, item, kp, STAGE_KEYS, label)
    name = _name(doc, item, kp, label)
    if name and ("->" in name or re.search(r"\s+stuck$", name, re.IGNORECASE)):
        doc.add(doc.at(kp + ("name",)), "invalid-value", f"{label}: a stage name cannot contain '->' or end in 'stuck' (targets use them)")
        name = None
    date = _text(doc, item, "date", kp, label)
    when = _condition(doc, item["when"], kp + ("when",), f"{label} when") if "when" in item else None
    if "date" not in item and "when" not in item:
        doc.add(doc.at(kp), "missing-key", f"{label} needs a 'date' column or a 'when' condition to tell when a lead reached it")
    sla = _positive(doc, item, "sla_days", kp, label, rule="invalid-sla")
    window = _positive(doc, item, "window_days", kp, label)
    purgatory = None
    if "purgatory" in item:
        pkp = kp + ("purgatory",)
        rule = item["purgatory"]
        if _expect_mapping(doc, rule, pkp, f"{label} purgatory"):
            _check_keys(doc, rule, pkp, PURGATORY_KEYS, f"{label} purgatory")
            touches = rule.get("touches_at_most")
            idle = _positive(doc, rule, "idle_days", pkp, f"{label} purgatory")
            bad = False
            if not (isinstance(touches, int) and not isinstance(touches, bool) and touches >= 0):
                where = doc.at(pkp + ("touches_at_most",)) if "touches_at_most" in rule else doc.at(pkp)
                doc.add(where, "invalid-value" if "touches_at_most" in rule else "missing-key",
                        f"{label} purgatory: touches_at_most must be a whole number, 0 or more, got {_describe(touches)}")
                bad = True
            if "idle_days" not in rule:
                doc.add(doc.at(pkp), "missing-key", f"{label} purgatory needs idle_days")
                bad = True
            if not bad and idle is not None:
                purgatory = PurgatoryRule(touches, idle)
    if name is None:
        return None
    marks = {k: doc.at(kp + (k,), key=(k == "purgatory")) for k in ("date", "purgatory") if k in item}
    return Stage(name, date, when, sla, window, purgatory, doc.at(kp), marks)


def _parse_exit(doc: _Doc, item: Any, kp: tuple) -> Exit | None:
    if not _expect_mapping(doc, item, kp, "an exit"):
        return None
    label = f"exit {item.get('name')!r}" if isinstance(item.get("name"), str) else f"exit #{kp[-1] + 1}"
    _check_keys(doc, item, kp, EXIT_KEYS, label)
    name = _name(doc, item, kp, label)
    date = _text(doc, item, "date", kp, label)
    when = _condition(doc, item["when"], kp + ("when",), f"{label} when") if "when" in item else None
    if "date" not in item and "when" not in item:
        doc.add(doc.at(kp), "missing-key", f"{label} needs a 'when' condition or a 'date' column")
    if name is None:
        return None
    return Exit(name, when, date, doc.at(kp), {"date": doc.at(kp + ("date",))} if "date" in item else {})


def _parse_market(doc: _Doc, item: Any, kp: tuple) -> Market | None:
    if not _expect_mapping(doc, item, kp, "a market"):
        return None
    label = f"market {item.get('name')!r}" if isinstance(item.get("name"), str) else f"market #{kp[-1] + 1}"
    _check_keys(doc, item, kp, MARKET_KEYS, label)
    name = _name(doc, item, kp, label)
    if name and name.casefold() == OUT_OF_MARKET:
        doc.add(doc.at(kp + ("name",)), "reserved-name", f"{label}: {OUT_OF_MARKET!r} is where leads in no market go; name the market otherwise")
        name = None
    if "when" not in item:
        doc.add(doc.at(kp), "missing-key", f"{label} needs a 'when' condition")
        return None
    when = _condition(doc, item["when"], kp + ("when",), f"{label} when")
    if name is None or when is None:
        return None
    return Market(name, when, doc.at(kp))


# --------------------------------------------------------------------------------------------
# Fragments -> Definitions


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
    rate = _TARGET_RATE.match(text)
    stuck = _TARGET_STUCK.match(text)
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
        add(value_where, "invalid-target", f"target {key!r}: {_describe(bound)} is not a share between 0 and 1 (or 0% to 100%)")
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
    if _is_number(value) and 0 <= value <= 1:
        return float(value)
    return None


def _parse(paths: list[str]) -> tuple[Definitions | None, list[Problem]]:
    problems: list[Problem] = []
    files = _definition_files(paths)
    frags = [f for f in (_parse_file(path, problems) for path in files) if f is not None]

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
        for leaf in _walk_leaves(cond):
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


def validate(paths: list[str]) -> tuple[Definitions | None, list[Problem]]:
    """Return the definitions (None when they have errors) and every problem found.

    Raises InputError only when a path does not exist or a folder holds no definitions.
    """
    defs, problems = _parse(paths)
    return defs, sorted(problems)


def load(paths: list[str]) -> Definitions:
    """Return the definitions in `paths` (files or folders, merged); raise DefinitionError."""
    defs, problems = _parse(paths)
    if defs is None:
        raise DefinitionError(problems)
    return defs


def check_headers(defs: Definitions, headers: list[str], export: str) -> list[Problem]:
    """Return a problem for every column the definitions use that the export's header lacks."""
    present = set(headers)
    problems = []
    reported: set[tuple] = set()
    for ref in defs.refs:
        if ref.header in present:
            continue
        marker = (ref.header, ref.where)
        if marker in reported:
            continue
        reported.add(marker)
        problems.append(
            Problem(
                ref.where.path, ref.where.line, ref.where.col, "error", "missing-column",
                f"{ref.role}: column {ref.header!r} is not in {export}{nearest_header(ref.header, headers)}",
            )
        )
    return problems


def nearest_header(name: str, headers: list[str]) -> str:
    """Return ' (nearest: 'X')' for the header most like `name`, or ''."""
    lowered = {h.casefold(): h for h in headers}
    if name.casefold() in lowered:
        return f" (nearest: {lowered[name.casefold()]!r}; headers are case-sensitive)"
    close = difflib.get_close_matches(name, headers, n=1, cutoff=0.5)
    return f" (nearest: {close[0]!r})" if close else ""
