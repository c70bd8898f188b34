"""Declarative conditions -> boolean masks over the lead table.

Nothing the user writes is evaluated as code. Text columns are categoricals, so each test runs
once per distinct value and is spread to the leads through the category codes.
Comparisons follow the operand, which the definitions' checks typed: a number compares numbers, a
date compares dates (by the day), text compares text (case-insensitively unless
`case_sensitive: true`). Text cells are read as numbers and dates the way loading reads columns
(cells.py). A missing value equals nothing: `eq`, `in`, `gt`, `matches`... are false for it and
`ne`, `not_in`, `not_matches`... are true.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from funnelcli.definitions import AllOf, AnyOf, Condition, Leaf, NotOf
from funnelcli.definitions.model import NEGATIVE_OPS
from funnelcli.errors import InputError
from funnelcli.sources import cells


@dataclass(frozen=True)
class Reading:
    """How text cells are read as dates: the definitions' timezone and date formats (per frame
    column, else `date_format`)."""

    timezone: str = "UTC"
    date_format: tuple[str, ...] = ()
    column_formats: tuple = ()  # (frame column, formats) pairs

    def formats(self, key: str) -> tuple[str, ...]:
        return next((f for name, f in self.column_formats if name == key), self.date_format)


def reading(defs) -> Reading:
    """Return how the definitions read dates in conditions: a column's own formats (date_formats)
    apply under its header and under the name the lead table gives it."""
    pairs = [(name, f) for name, f in defs.column_formats] + [(defs.field_key(name), f) for name, f in defs.column_formats]
    return Reading(defs.timezone, defs.date_format, tuple(pairs))


def evaluate(cond: Condition, frame: pd.DataFrame, key_of, reading: Reading = Reading()) -> np.ndarray:
    """Return a boolean array: which rows of `frame` meet `cond`.

    `key_of(field)` gives the frame column that holds a field written in the definitions.
    """
    if isinstance(cond, Leaf):
        key = key_of(cond.field)
        return _leaf(cond, frame[key], dataclasses.replace(reading, date_format=reading.formats(key), column_formats=()))
    if isinstance(cond, AllOf):
        return np.logical_and.reduce([evaluate(c, frame, key_of, reading) for c in cond.items])
    if isinstance(cond, AnyOf):
        return np.logical_or.reduce([evaluate(c, frame, key_of, reading) for c in cond.items])
    if isinstance(cond, NotOf):
        return ~evaluate(cond.item, frame, key_of, reading)
    raise TypeError(f"not a condition: {cond!r}")


def _text_column(values: pd.Series) -> pa.ChunkedArray:
    return pa.chunked_array([pa.array(values.astype(object).where(values.notna(), None), type=pa.string())])


def _leaf(leaf: Leaf, column: pd.Series, reading: Reading) -> np.ndarray:
    if leaf.op in ("present", "missing"):
        present = column.notna().to_numpy()
        return present if (leaf.op == "present") == leaf.value else ~present
    if isinstance(column.dtype, pd.CategoricalDtype):
        categories = column.cat.categories
        on_categories = _test(leaf, pd.Series(categories, dtype=categories.dtype), reading)
        codes = column.cat.codes.to_numpy()
        # Code -1 is a missing value: index it as the last element, set by the operator.
        table = np.append(on_categories, leaf.op in NEGATIVE_OPS)
        return table[codes]
    result = _test(leaf, column, reading)
    missing = column.isna().to_numpy()
    return np.where(missing, leaf.op in NEGATIVE_OPS, result)


def _test(leaf: Leaf, values: pd.Series, reading: Reading) -> np.ndarray:
    """Evaluate a leaf over non-missing values (missing ones are fixed by the caller)."""
    op, arg = leaf.op, leaf.value
    if op in ("in", "not_in"):
        hit = np.zeros(len(values), dtype=bool)
        texts = [v for v in arg if _kind(v) == "text"]
        if texts:
            hit |= _text_in(values, texts, leaf.case_sensitive)
        for v in arg:
            if _kind(v) != "text":
                hit |= _compare(values, "eq", v, leaf.case_sensitive, reading)
        return hit if op == "in" else ~hit
    if op == "between":
        low, high = arg
        return _compare(values, "gte", low, False, reading) & _compare(values, "lte", high, False, reading)
    if op in ("matches", "not_matches"):
        hit = _regex(values, arg)
        return hit if op == "matches" else ~hit
    if op in ("contains", "not_contains"):
        text = _as_text(values)
        if leaf.case_sensitive:
            hit = text.str.contains(arg, regex=False)
        else:
            hit = text.str.casefold().str.contains(arg.casefold(), regex=False)
        hit = hit.fillna(False).to_numpy(dtype=bool)
        return hit if op == "contains" else ~hit
    return _compare(values, op, arg, leaf.case_sensitive, reading)


def _kind(arg) -> str:
    """Return how an operand compares: 'number', 'date', 'bool' or 'text'."""
    if isinstance(arg, bool):
        return "bool"
    if isinstance(arg, (int, float)):
        return "number"
    if isinstance(arg, dt.date):
        return "date"
    return "text"


def _as_text(values: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        return values.dt.strftime("%Y-%m-%d").astype("str")
    return values.astype("str")


def _text_in(values: pd.Series, wanted: list, case_sensitive: bool) -> np.ndarray:
    text = _as_text(values)
    wanted = [str(v) for v in wanted]
    if not case_sensitive:
        text = text.str.casefold()
        wanted = [v.casefold() for v in wanted]
    return text.isin(wanted).to_numpy(dtype=bool)


_OPS = {
    "eq": np.equal, "ne": np.not_equal, "gt": np.greater,
    "gte": np.greater_equal, "lt": np.less, "lte": np.less_equal,
}


def unreadable_numbers(values: pd.Series) -> np.ndarray | None:
    """Return which filled values don't read as numbers, as a comparison with a number reads
    them ('1,001-5,000', the ambiguous '1.200'); None when every one does. A categorical column
    is read a category at a time."""
    if pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_datetime64_any_dtype(values.dtype):
        return None
    if isinstance(values.dtype, pd.CategoricalDtype):
        categories = values.cat.categories
        bad = cells.numbers(_text_column(pd.Series(categories, dtype=categories.dtype)))[1]
        return np.append(bad, False)[values.cat.codes.to_numpy()] if bad.any() else None  # code -1: blank
    bad = cells.numbers(_text_column(values))[1]
    return bad if bad.any() else None


def _numbers(values: pd.Series) -> np.ndarray:
    if pd.api.types.is_numeric_dtype(values.dtype):
        return values.to_numpy(dtype="float64", na_value=np.nan)
    return cells.numbers(_text_column(values))[0]


def _days(values: pd.Series, reading: Reading) -> np.ndarray:
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        return values.to_numpy(dtype="datetime64[s]").astype("datetime64[D]")
    return cells.parse_dates(_text_column(values), reading.date_format, reading.timezone)[0]


def _compare(values: pd.Series, op: str, arg, case_sensitive: bool, reading: Reading) -> np.ndarray:
    kind = _kind(arg)
    # a filled value not read as a number or a date is missing, and equals nothing: ne holds for it
    # (NaN and NaT compare unequal to everything), as not_in and not: {eq: ...} do; the others
    # don't (a blank one never gets here: _leaf answers for it)
    if kind == "number":
        numbers = _numbers(values)
        with np.errstate(invalid="ignore"):
            return _OPS[op](numbers, float(arg))
    if kind == "date":
        days = _days(values, reading)
        return _OPS[op](days, np.datetime64(arg, "D"))
    if kind == "bool":
        text = _as_text(values).str.strip().str.casefold()
        truthy = text.isin(["true", "yes", "1", "y"]).to_numpy(dtype=bool)
        falsy = text.isin(["false", "no", "0", "n"]).to_numpy(dtype=bool)
        hit = truthy if arg else falsy
        return hit if op == "eq" else ~hit  # the checks allow only eq and ne with true/false
    text = _as_text(values)
    target = str(arg)
    if not case_sensitive:
        text = text.str.casefold()
        target = target.casefold()
    return np.asarray(_OPS[op](text.to_numpy(dtype=object), target), dtype=bool)


def _regex(values: pd.Series, pattern: str) -> np.ndarray:
    """Return which values the pattern finds a match in, run by RE2 (pyarrow): linear in the
    value's length, so no value can stall a run. The definitions' checks refuse what RE2 lacks
    (backreferences, lookaround); a pattern that still fails is an error naming it."""
    text = _text_column(_as_text(values))
    try:
        hit = pc.match_substring_regex(text, pattern)
    except pa.ArrowInvalid as exc:
        raise InputError(f"the regular expression {pattern!r} cannot run on the linear-time engine (RE2): "
                         f"{str(exc).splitlines()[0]}; rewrite it (funnelcli validate names it)") from None
    return pc.fill_null(hit, False).to_numpy(zero_copy_only=False)
