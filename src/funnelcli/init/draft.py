"""The definitions init proposes, and their text: YAML with a comment on every guess.

A value is written plain when YAML reads it back as the same text, else double-quoted; lists and
conditions are written in flow style ([a, b], {state: {in: [won]}}), as the README shows them.
"""

from __future__ import annotations

import json
import re
import textwrap
from dataclasses import dataclass, field

import yaml

COMMENT_AT = 40  # the column where a line's comment starts, when the line is shorter


@dataclass
class Entry:
    """A key, its value (text, list or mapping) and a comment for the user."""

    key: str
    value: object
    comment: str = ""


@dataclass
class Item:
    """A stage or an exit: its name, its rule's keys, and comment lines written above it."""

    name: str
    entries: list[Entry] = field(default_factory=list)
    above: list[str] = field(default_factory=list)
    comment: str = ""  # after the name


@dataclass
class Draft:
    """Definitions for one export, with the comments that explain each choice."""

    layout: str  # what init took the export for: "a HubSpot contacts export", "an export it did not recognise"
    intro: list[str] = field(default_factory=list)  # comment lines at the top
    columns: list[Entry] = field(default_factory=list)  # canonical name -> the export's header
    settings: list[Entry] = field(default_factory=list)  # date_format, date_formats, blank_values, stage_column
    history: list[Entry] = field(default_factory=list)
    stages: list[Item] = field(default_factory=list)
    stages_above: list[str] = field(default_factory=list)
    exits: list[Item] = field(default_factory=list)
    exits_above: list[str] = field(default_factory=list)
    outro: list[str] = field(default_factory=list)  # comment lines at the end

    def recognised(self, why: str) -> None:
        """Say at the top which export init took this for, and why."""
        self.intro += [f"funnelcli init took this for {self.layout} ({why}).",
                       "A first draft: check each comment marked 'check', then run funnelcli validate with --data."]

    def column(self, canonical: str, header: str, comment: str = "") -> None:
        if all(e.key != canonical and e.value != header for e in self.columns):
            self.columns.append(Entry(canonical, header, comment))

    def mapped(self, header: str) -> str | None:
        """Return the canonical name a header is mapped to, or None."""
        return next((e.key for e in self.columns if e.value == header), None)


# Characters that would end a comment line (YAML reads \x85, \u2028 and \u2029 as line breaks
# too) or act on a terminal: a value from the export quoted in a comment shows them escaped.
_UNSAFE_IN_COMMENT = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")


def scalar(text: str) -> str:
    """Return `text` as a YAML scalar that reads back as the same text."""
    plain = (re.fullmatch(r"[A-Za-z0-9_(][^\[\]{},#&*!|>'\"%@`]*", text) and text == text.strip()
             and ": " not in text and not text.endswith(":") and not _UNSAFE_IN_COMMENT.search(text))
    if plain:
        try:
            if yaml.safe_load(text) == text:
                return text
        except yaml.YAMLError:
            pass
    # JSON's escapes are YAML's, but JSON leaves \x7f-\x9f and \u2028-9 as they are: YAML breaks a
    # line at some and refuses the others
    return _UNSAFE_IN_COMMENT.sub(lambda m: f"\\u{ord(m.group()):04x}", json.dumps(text, ensure_ascii=False))


def flow(value: object) -> str:
    """Return a value (text, number, list, mapping) in YAML flow style."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{scalar(str(k))}: {flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(flow(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return scalar(str(value))


def _commented(text: str) -> str:
    """Return comment text with any character that could end the comment, escaped: the export's
    values are quoted in comments, and a value holding a line break must not become YAML."""
    return _UNSAFE_IN_COMMENT.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def _line(text: str, comment: str) -> str:
    if not comment:
        return text
    comment = _commented(comment)
    return f"{text.ljust(COMMENT_AT - 1)} # {comment}" if len(text) < COMMENT_AT - 1 else f"{text}  # {comment}"


def value_item(value: str, items: list[Item]) -> Item | None:
    """Return a stage or exit named after a value of the export (its blanks, line breaks among
    them, made single spaces: a name is one line), listing the value itself when the name differs
    from it; None when an item of that name is in `items` already (the value is added to it)."""
    name = " ".join(value.split())
    same = next((item for item in items if item.name.casefold() == name.casefold()), None)
    if same is not None:
        listed = next((e for e in same.entries if e.key == "values"), None)
        if listed is None:
            same.entries.insert(0, Entry("values", [same.name, value]))
        elif value not in listed.value:
            listed.value.append(value)
        return None
    return Item(name, [Entry("values", [value])] if name != value.strip() else [])


def _comments(lines: list[str], indent: str = "") -> list[str]:
    out = []
    for line in map(_commented, lines):
        out += textwrap.wrap(line, 100, initial_indent=f"{indent}# ", subsequent_indent=f"{indent}#   ",
                             break_long_words=False, break_on_hyphens=False) or [f"{indent}#"]
    return out


def render(draft: Draft) -> str:
    """Return the draft as commented YAML definitions."""
    out = _comments(draft.intro) + ["version: 1"]
    out.append(_line("columns:", "canonical name: the export's header"))
    out += [_line(f"  {e.key}: {scalar(str(e.value))}", e.comment) for e in draft.columns]
    out += [_line(f"{e.key}: {flow(e.value)}", e.comment) for e in draft.settings]
    if draft.history:
        out.append(_line("history:", "the export is a stage-history log: a row per change"))
        out += [_line(f"  {e.key}: {flow(e.value)}", e.comment) for e in draft.history]
    for section, items, above in (("stages", draft.stages, draft.stages_above), ("exits", draft.exits, draft.exits_above)):
        if not items:
            continue
        out += _comments(above) + [f"{section}:"]
        for item in items:
            out += _comments(item.above, "  ")
            out.append(_line(f"  - name: {scalar(item.name)}", item.comment))
            out += [_line(f"    {e.key}: {flow(e.value)}", e.comment) for e in item.entries]
    out += _comments(draft.outro)
    return "\n".join(out) + "\n"
