"""YAML with positions: the plain data of a file and the line and column of every key and value.

YAML 1.2 scalars (only true/false are booleans, no octal or sexagesimal numbers; numbers below
10^15); aliases are walked once and may add at most ALIAS_BUDGET values, counted while the file is
composed; duplicate keys are reported, not silently dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml

from funnelcli.errors import Problem


@dataclass(frozen=True)
class Where:
    """Where a thing was written: file, line and column (1-based)."""

    path: str
    line: int = 1
    col: int = 1


ALIAS_BUDGET = 10_000  # values aliases may add to a file: `<<: *defaults` per stage is a few hundred


class _TooManyAliases(yaml.MarkedYAMLError):
    """The file's aliases expand past ALIAS_BUDGET values ("billion laughs"): refused while composing."""


class _Loader(yaml.SafeLoader):
    """SafeLoader where only true/false are booleans (`in: [Yes, No]` must stay text), and whose
    aliases may add at most ALIAS_BUDGET values to the file, counted as they are met: a small file
    of nested aliases must not become a million conditions for the run to build and evaluate."""

    def __init__(self, stream):
        super().__init__(stream)
        self.alias_values = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            node = self.anchors.get(event.anchor)
            if node is not None:  # an undefined alias is the composer's error
                # A fresh count for each alias: a node still being composed (a recursive alias)
                # has no final size. Counting costs at most what it adds, so at most the budget.
                self.alias_values += _expanded_size(node, {})
                if self.alias_values > ALIAS_BUDGET:
                    raise _TooManyAliases(None, None, f"aliases expand the file past {ALIAS_BUDGET:,} values here", event.start_mark)
        return super().compose_node(parent, index)


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


MAX_NUMBER = 10**15  # amounts and touches of 10^15 or more in an export are read as blank: none means more here


def _out_of_range(value: Any) -> bool:
    """Return whether a number is too large to mean anything here (or inf): 400 digits overflow a float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return not abs(value) < MAX_NUMBER  # inf and nan too


class Doc:
    """One parsed YAML file: its plain data and the marks of every value and key."""

    def __init__(self, path: str, text: str, problems: list[Problem]):
        self.path = path
        self.marks: dict[tuple, tuple[int, int]] = {}
        self.key_marks: dict[tuple, tuple[int, int]] = {}
        self.problems = problems
        self.data: Any = None
        self._done: dict[int, Any] = {}  # an aliased node is walked once, then shared
        self._reported: set[tuple[int, int]] = set()  # values found invalid here: later checks don't report them again
        loader = None
        try:
            loader = _Loader(text)  # its reader refuses control characters (a NUL) here: a problem, with its place
            node = loader.get_single_node()
            if node is not None:
                self.data = self._walk(loader, node, ())
        except _TooManyAliases as exc:
            self.add(Where(path, exc.problem_mark.line + 1, exc.problem_mark.column + 1), "too-many-aliases",
                     f"{exc.problem} (a definitions file needs far fewer): write the values out, or alias less")
            self.data = None
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            message = exc.problem or "not valid YAML"
            if exc.context:
                message = f"{message} ({exc.context})"
            line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
            self.add(Where(path, line, col), "yaml-syntax", f"YAML syntax error: {message}")
            self.data = None
        except yaml.reader.ReaderError as exc:  # a control character: say which and where
            before = text[: exc.position]
            line, col = before.count("\n") + 1, len(before) - (before.rfind("\n") + 1) + 1
            self.add(Where(path, line, col), "yaml-syntax",
                     f"a control character (#x{exc.character if isinstance(exc.character, int) else ord(exc.character):04x}) "
                     "is not allowed in a definitions file; remove it")
            self.data = None
        except (yaml.YAMLError, RecursionError) as exc:
            detail = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
            self.add(Where(path), "yaml-syntax", f"YAML syntax error: {detail}")
            self.data = None
        finally:
            if loader is not None:
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
            try:
                result = loader.construct_object(node, deep=True)
            except (ValueError, TypeError, yaml.constructor.ConstructorError) as exc:  # date: 2024-13-01
                where = Where(self.path, node.start_mark.line + 1, node.start_mark.column + 1)
                self.add(where, "invalid-value", f"{node.value!r} is not a valid {node.tag.rpartition(':')[2]}: {exc}; quote it to mean text")
                self._reported.add((where.line, where.col))
                result = None
            if _out_of_range(result):
                where = Where(self.path, node.start_mark.line + 1, node.start_mark.column + 1)
                shown = node.value if len(node.value) <= 24 else f"{node.value[:12]}...{node.value[-4:]} ({len(node.value)} characters)"
                self.add(where, "invalid-value", f"the number {shown} is out of range: numbers in definitions are below 10^15 "
                                                 "(as amounts and counts in exports are); quote it to mean text")
                result = node.value  # text: no later check turns it into a float
                self._reported.add((where.line, where.col))
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
        if (where.line, where.col) in self._reported and where.path == self.path:
            return  # a value already reported as invalid (a 400-digit number, a bad date): once is enough
        self.problems.append(Problem(where.path, where.line, where.col, level, rule, message))
