"""The declarative conditions of a definitions file (`when:`, `only:`): every problem in one
reported at its position, and the condition given back as the model's Leaf, AllOf, AnyOf and NotOf.

A field's test is checked operator by operator: each operand is checked and normalised (datetimes
to days, an order's text to its number or date, a regex compiled) before anything runs on data.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from funnelcli.definitions.checks import describe_value, expect_list, is_number
from funnelcli.definitions.model import OPERATORS, AllOf, AnyOf, Condition, Leaf, NotOf, did_you_mean, read_number
from funnelcli.definitions.yamldoc import Doc, Where


def _is_scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool, dt.date))


def _day(value: Any) -> Any:
    """Return a datetime as its date: conditions compare dates by the day."""
    return value.date() if isinstance(value, dt.datetime) else value


_CONDITION_HINT = "such as {status: {in: [Unqualified]}}"


def parse_condition(doc: Doc, value: Any, kp: tuple, what: str) -> Condition | None:
    """Parse a declarative condition; report every problem in it. None if unusable."""
    if not isinstance(value, dict) or not value:
        got = "an empty mapping" if value == {} else describe_value(value)
        doc.add(doc.at(kp), "wrong-type", f"{what}: a condition is a mapping {_CONDITION_HINT}, got {got}")
        return None
    items = []
    ok = True
    for key, sub in value.items():
        skp = kp + (key,)
        if key in ("all", "any"):
            if not expect_list(doc, sub, skp, f"{what}: {key!r}"):
                ok = False
                continue
            if not sub:
                doc.add(doc.at(skp), "invalid-value", f"{what}: {key!r} needs at least one condition")
                ok = False
                continue
            parts = [parse_condition(doc, c, skp + (i,), what) for i, c in enumerate(sub)]
            if any(p is None for p in parts):
                ok = False
                continue
            items.append(AllOf(tuple(parts)) if key == "all" else AnyOf(tuple(parts)))
        elif key == "not":
            part = parse_condition(doc, sub, skp, what)
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


def _field_test(doc: Doc, fld: str, value: Any, kp: tuple, what: str) -> Condition | None:
    where = doc.at(kp, key=True)
    if isinstance(value, list):  # shorthand: field: [a, b]  means  field: {in: [a, b]}
        value = {"in": value}
    elif _is_scalar(value):  # shorthand: field: a  means  field: {eq: a}
        value = {"eq": value}
    elif not isinstance(value, dict) or not value:
        doc.add(
            doc.at(kp),
            "wrong-type",
            f"{what}: the test of {fld!r} must be a mapping of operators such as {{in: [...]}} or {{gte: 100}}, got "
            f"{'an empty mapping, which tests nothing' if value == {} else describe_value(value)}",
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


# What an operand check gives back after reporting: a sentinel, since a good operand may be falsy
# (`present: false`, `eq: 0`).
_BAD = object()


def _operand(doc: Doc, op: str, arg: Any, kp: tuple, what: str) -> Any:
    """Return an operator's value checked and normalised, or _BAD after reporting."""
    where = doc.at(kp)
    check = _OPERAND_CHECKS.get(op, _compared_operand)
    return check(doc, op, arg, where, what)


def _flag_operand(doc: Doc, op: str, arg: Any, where: Where, what: str) -> Any:
    """Return the true/false of `present` or `missing`, or _BAD."""
    if isinstance(arg, bool):
        return arg
    doc.add(where, "wrong-type", f"{what} takes true or false, got {describe_value(arg)}")
    return _BAD


def _list_operand(doc: Doc, op: str, arg: Any, where: Where, what: str) -> Any:
    """Return the values of `in` or `not_in` as a tuple (one value counts as a list of one), or _BAD."""
    values = arg if isinstance(arg, list) else [arg]
    if not values or not all(_is_scalar(v) for v in values):
        got = "an empty list" if values == [] else "a list holding more than plain values" if isinstance(arg, list) else describe_value(arg)
        doc.add(where, "wrong-type", f"{what} takes a list of values, got {got}")
        return _BAD
    return tuple(_day(v) for v in values)


def _between_operand(doc: Doc, op: str, arg: Any, where: Where, what: str) -> Any:
    """Return `between`'s (low, high), two numbers or two days in order, or _BAD."""
    if not (isinstance(arg, list) and len(arg) == 2 and all(is_number(v) or isinstance(v, dt.date) for v in arg)):
        doc.add(where, "wrong-type", f"{what} takes [low, high], two numbers or two dates, got {describe_value(arg)}")
        return _BAD
    low, high = _day(arg[0]), _day(arg[1])
    # A number and a date cannot be ordered against each other: say so rather than raise.
    if is_number(low) != is_number(high):
        doc.add(where, "wrong-type", f"{what}: low and high must both be numbers or both dates")
        return _BAD
    if low > high:
        doc.add(where, "invalid-value", f"{what}: low {describe_value(low)} is above high {describe_value(high)}")
        return _BAD
    return (low, high)


def _regex_operand(doc: Doc, op: str, arg: Any, where: Where, what: str) -> Any:
    """Return the pattern of `matches` or `not_matches` once it compiles, or _BAD."""
    if not isinstance(arg, str):
        doc.add(where, "wrong-type", f"{what} takes a regular expression, got {describe_value(arg)}")
        return _BAD
    # Compiled here so that a bad pattern is a problem at its line, not an error mid-run.
    try:
        re.compile(arg)
    except re.error as exc:
        doc.add(where, "invalid-regex", f"{what}: invalid regular expression {arg!r}: {exc}")
        return _BAD
    unsupported = _backtracking_only(arg)
    if unsupported:
        name, at = unsupported
        doc.add(where, "unsupported-regex",
                f"{what}: {name} at character {at + 1} of {arg!r} is not supported: patterns run on a linear-time "
                "engine (RE2), so that no value can stall a run; rewrite it without backreferences and lookaround")
        return _BAD
    return arg


# What RE2 (linear time, the engine conditions run on) does not have: each needs backtracking,
# which one crafted value can make take minutes. Found by a scan that skips escaped characters and
# character classes.
_UNSUPPORTED = (
    (re.compile(r"\\(?:[1-9]|g<)"), "a backreference"),
    (re.compile(r"\(\?P="), "a backreference"),
    (re.compile(r"\(\?<?[=!]"), "a lookaround"),
    (re.compile(r"\(\?\("), "a conditional group"),
    (re.compile(r"\(\?>"), "an atomic group"),
    (re.compile(r"(?<=[*+?}])\+"), "a possessive quantifier"),
)


def _backtracking_only(pattern: str) -> tuple[str, int] | None:
    """Return (what, index) of the first construct RE2 lacks in a pattern that compiles, or None."""
    masked = _mask_literals(pattern)
    found = [(m.start(), name) for rx, name in _UNSUPPORTED for m in [rx.search(masked)] if m]
    if not found:
        return None
    at, name = min(found)
    return name, at


def _mask_literals(pattern: str) -> str:
    """Return the pattern with escaped characters (but a backslash and digit or g<) and the
    insides of character classes blanked, positions kept: `[(?=]` and `\\(?=` are literals."""
    out = list(pattern)
    i, in_class = 0, False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            if in_class or not (pattern[i + 1].isdigit() and pattern[i + 1] != "0" or pattern[i + 1] == "g"):
                out[i] = out[i + 1] = "_"
            i += 2
            continue
        if in_class:
            if ch == "]":
                in_class = False
            else:
                out[i] = "_"
        elif ch == "[":
            in_class = True
            if pattern[i + 1:i + 2] == "]" or pattern[i + 1:i + 3] == "^]":  # a ']' first is literal
                skip = 2 if pattern[i + 1] == "]" else 3
                for j in range(i + 1, min(i + skip, len(pattern))):
                    out[j] = "_"
                i += skip
                continue
        i += 1
    return "".join(out)


def _text_operand(doc: Doc, op: str, arg: Any, where: Where, what: str) -> Any:
    """Return the non-empty text of `contains` or `not_contains`, or _BAD."""
    if not isinstance(arg, str) or not arg:
        doc.add(where, "wrong-type", f"{what} takes non-empty text, got {describe_value(arg)}")
        return _BAD
    return arg


def _compared_operand(doc: Doc, op: str, arg: Any, where: Where, what: str) -> Any:
    """Return the value of eq, ne, gt, gte, lt or lte (orders get a number or a day), or _BAD."""
    if not _is_scalar(arg) or (op not in ("eq", "ne") and isinstance(arg, bool)):
        kind = "a value" if op in ("eq", "ne") else "a number or a date"
        doc.add(where, "wrong-type", f"{what} takes {kind}, got {describe_value(arg)}")
        return _BAD
    if op in ("gt", "gte", "lt", "lte") and isinstance(arg, str):
        return _ordered_text(doc, arg, where, what)
    return _day(arg)


def _ordered_text(doc: Doc, arg: str, where: Where, what: str) -> Any:
    """Return the number or the date that an order's text operand writes, or _BAD."""
    # An order compares numbers or dates; text that is neither would compare as text and
    # silently sort '2023-05-01' after '01/02/2024'.
    number = read_number(arg)
    if number is not None:
        return number
    if re.match(r"^\d{4}-\d{2}-\d{2}$", arg.strip()):
        try:
            return dt.date.fromisoformat(arg.strip())
        except ValueError:
            doc.add(where, "invalid-value", f"{what}: {arg!r} is not a real date")
            return _BAD
    doc.add(where, "wrong-type", f"{what} takes a number or a date written 2024-03-31, got {describe_value(arg)}")
    return _BAD


# operator -> its operand check; the comparisons (eq ne gt gte lt lte) fall to _compared_operand.
_OPERAND_CHECKS = {
    "present": _flag_operand, "missing": _flag_operand,
    "in": _list_operand, "not_in": _list_operand,
    "between": _between_operand,
    "matches": _regex_operand, "not_matches": _regex_operand,
    "contains": _text_operand, "not_contains": _text_operand,
}
