"""Declarative conditions -> boolean masks over the lead table.

Nothing the user writes is evaluated as code. Text columns are categoricals, so each test runs
once per distinct value and is spread to the leads through the category codes.
Comparisons follow the operand: a number compares numbers, a date compares dates, text compares
text (case-insensitively unless `case_sensitive: true`). A missing value equals nothing: `eq`,
`in`, `gt`, `matches`... are false for it and `ne`, `not_in`, `not_matches`... are true.
"""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pandas as pd

from funnelcli.definitions import AllOf, AnyOf, Condition, Leaf, NotOf

_NUMBER_TEXT = re.compile(r"^\s*[-+]?\d[\d,]*(\.\d+)?\s*$")
_DATE_TEXT = re.compile(r"^\d{4}-\d{2}-\d{2}")
_NEGATIVE = {"ne", "not_in", "not_matches", "not_contains", "missing"}


def evaluate(cond: Condition, frame: pd.DataFrame, key_of) -> np.ndarray:
    """Return a boolean array: which rows of `frame` meet `cond`.

    `key_of(field)` gives the frame column that holds a field written in the definitions.
    """
    if isinstance(cond, Leaf):
        return _leaf(cond, frame[key_of(cond.field)])
    if isinstance(cond, AllOf):
        return np.logical_and.reduce([evaluate(c, frame, key_of) for c in cond.items])
    if isinstance(cond, AnyOf):
        return np.logical_or.reduce([evaluate(c, frame, key_of) for c in cond.items])
    if isinstance(cond, NotOf):
        return ~evaluate(cond.item, frame, key_of)
    raise TypeError(f"not a condition: {cond!r}")


def to_number(values: pd.Series | pd.Index) -> np.ndarray:
    """Return values as floats; text such as '1,200' or '$ 3.5' is read, anything else is NaN."""
    text = pd.Series(values, dtype="str").str.replace(r"[\s,$€£]", "", regex=True)
    return pd.to_numeric(text, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def _leaf(leaf: Leaf, column: pd.Series) -> np.ndarray:
    if leaf.op in ("present", "missing"):
        present = column.notna().to_numpy()
        return present if (leaf.op == "present") == leaf.value else ~present
    if isinstance(column.dtype, pd.CategoricalDtype):
        categories = column.cat.categories
        on_categories = _test(leaf, pd.Series(categories, dtype=categories.dtype))
        codes = column.cat.codes.to_numpy()
        # Code -1 is a missing value: index it as the last element, set by the operator.
        table = np.append(on_categories, leaf.op in _NEGATIVE)
        return table[codes]
    result = _test(leaf, column)
    missing = column.isna().to_numpy()
    return np.where(missing, leaf.op in _NEGATIVE, result)


def _test(leaf: Leaf, values: pd.Series) -> np.ndarray:
    """Evaluate a leaf over non-missing values (missing ones are fixed by the caller)."""
    op, arg = leaf.op, leaf.value
    if op in ("in", "not_in"):
        hit = np.zeros(len(values), dtype=bool)
        texts = [v for v in arg if _kind(v, values) == "text"]
        if texts:
            hit |= _text_in(values, texts, leaf.case_sensitive)
        for v in arg:
            if _kind(v, values) != "text":
                hit |= _compare(values, "eq", v, leaf.case_sensitive)
        return hit if op == "in" else ~hit
    if op == "between":
        low, high = arg
        return _compare(values, "gte", low, False) & _compare(values, "lte", high, False)
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
    return _compare(values, op, arg, leaf.case_sensitive)


def _kind(arg, values: pd.Series) -> str:
    """Return how to compare `arg` with `values`: 'number', 'date', 'bool' or 'text'."""
    if isinstance(arg, bool):
        return "bool"
    if isinstance(arg, (int, float)):
        return "number"
    if isinstance(arg, dt.date):
        return "date"
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        return "date" if _DATE_TEXT.match(str(arg)) else "text"
    if pd.api.types.is_numeric_dtype(values.dtype) and _NUMBER_TEXT.match(str(arg)):
        return "number"
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


def _compare(values: pd.Series, op: str, arg, case_sensitive: bool) -> np.ndarray:
    kind = _kind(arg, values)
    if kind == "number":
        numbers = values.to_numpy(dtype="float64", na_value=np.nan) if pd.api.types.is_numeric_dtype(values.dtype) else to_number(values)
        with np.errstate(invalid="ignore"):
            result = _OPS[op](numbers, float(arg))
        return result & ~np.isnan(numbers) if op == "ne" else result
    if kind == "date":
        dates = values if pd.api.types.is_datetime64_any_dtype(values.dtype) else pd.to_datetime(values, errors="coerce", format="ISO8601")
        dates = dates.dt.tz_localize(None) if getattr(dates.dt, "tz", None) is not None else dates
        days = dates.to_numpy(dtype="datetime64[s]").astype("datetime64[D]")
        target = np.datetime64(pd.Timestamp(arg).date(), "D")
        result = _OPS[op](days, target)
        return result & ~np.isnat(days)
    if kind == "bool":
        text = _as_text(values).str.strip().str.casefold()
        truthy = text.isin(["true", "yes", "1", "y"]).to_numpy(dtype=bool)
        falsy = text.isin(["false", "no", "0", "n"]).to_numpy(dtype=bool)
        hit = truthy if arg else falsy
        if op == "eq":
            return hit
        if op == "ne":
            return ~hit
        raise ValueError(f"{op} does not compare true/false")
    text = _as_text(values)
    target = str(arg)
    if not case_sensitive:
        text = text.str.casefold()
        target = target.casefold()
    result = _OPS[op](text.to_numpy(dtype=object), target)
    return np.asarray(result, dtype=bool)


def _regex(values: pd.Series, pattern: str) -> np.ndarray:
    text = _as_text(values)
    try:
        hit = text.str.contains(pattern, regex=True)
    except Exception:  # the vectorised engine (RE2) lacks some Python syntax: fall back to re
        compiled = re.compile(pattern)
        hit = pd.Series([bool(compiled.search(v)) for v in text.astype(object)], index=text.index)
    return hit.fillna(False).to_numpy(dtype=bool)
