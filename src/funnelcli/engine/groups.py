"""Groups of leads (`--by FIELD`) and counting per group: counts, quantiles, rates.

A grouping is a code per lead and a label per code; counting is np.bincount over the codes, so
a breakdown costs one pass whatever the number of groups.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from funnelcli.definitions import did_you_mean
from funnelcli.errors import FunnelError, option

if TYPE_CHECKING:
    from funnelcli.engine.funnel import Funnel

BLANK = "(blank)"  # the group label of leads with no value for a --by field
QUANTILES = (0.5, 0.75, 0.9)


@dataclass
class Groups:
    """A grouping of leads: a code per lead and the label of each code."""

    field: str | None
    codes: np.ndarray
    labels: list[str]

    @property
    def size(self) -> int:
        return len(self.labels)


def by_key(defs, by: str) -> str:
    """Return the lead-table column of `--by FIELD`: the market or exit, or the field's key."""
    return by if by in ("market", "exit") else defs.field_key(by)


def group_by(f: Funnel, by: str | None) -> Groups:
    """Return the groups of `--by FIELD` (one group 'all' without it); blank values are a group."""
    if by is None:
        return Groups(None, np.zeros(f.n, dtype=np.int32), ["all"])
    key = by_key(f.defs, by)
    if key not in f.frame.columns or key.startswith("_") or key == "id":
        raise FunnelError(f"{option('by')}{by!r}: not a field of the definitions{did_you_mean(by, f.defs.fields())}; "
                          f"fields are {', '.join(f.defs.fields())}")
    column = f.column(key)
    if pd.api.types.is_datetime64_any_dtype(column.dtype):
        column = pd.Series(column.dt.strftime("%Y-%m"), dtype="str")
    elif not isinstance(column.dtype, pd.CategoricalDtype) and not pd.api.types.is_numeric_dtype(column.dtype):
        column = column.astype("str").where(column.notna())
    codes, uniques = pd.factorize(column, use_na_sentinel=True)
    # a number as written (15500, not 15500.0); formatted once per value, not per lead
    labels = [_number_label(u) if isinstance(u, (float, np.floating, np.integer)) else str(u) for u in uniques]
    if (codes < 0).any():
        codes = np.where(codes < 0, len(labels), codes)
        labels.append(_blank_label(set(labels)))
    return Groups(by, codes.astype(np.int32), labels)  # 4 bytes a lead: a group's number is below 2^31


def _number_label(value) -> str:
    value = float(value)
    return str(int(value)) if value.is_integer() else repr(value)  # a label machines read too: no separators


def _blank_label(taken: set[str]) -> str:
    """Return the label of the blank values' group: '(blank)', unless a value is written so."""
    for label in (BLANK, "(no value)", "(empty)"):
        if label not in taken:
            return label
    n = 2
    while f"(blank {n})" in taken:
        n += 1
    return f"(blank {n})"


def count(mask: np.ndarray, groups: Groups) -> np.ndarray:
    """Return how many leads per group have `mask` set."""
    if groups.size == 1:  # no --by: a count, not a selection and a bincount
        return np.array([np.count_nonzero(mask)], dtype=np.int64)
    return np.bincount(groups.codes[mask], minlength=groups.size)


def quantiles(values: np.ndarray, groups: Groups) -> np.ndarray:
    """Return [groups, 3]: median, p75 and p90 of the non-NaN values per group (NaN if none),
    interpolated in float64 whatever the values' type."""
    ok = ~np.isnan(values)
    out = np.full((groups.size, len(QUANTILES)), np.nan)
    if not ok.any():
        return out
    kept = values[ok].astype(np.float64)
    if groups.size == 1:
        out[0] = np.quantile(kept, QUANTILES)
        return out
    frame = pd.DataFrame({"g": groups.codes[ok], "v": kept})
    table = frame.groupby("g")["v"].quantile(list(QUANTILES)).unstack()
    out[table.index.to_numpy()] = table.to_numpy()
    return out


def rate(numerator, denominator):
    """Return numerator / denominator, or None when the denominator is 0."""
    return None if not denominator else numerator / denominator


def number(value) -> float | None:
    """Return a float, or None for NaN."""
    return None if value is None or (isinstance(value, float) and np.isnan(value)) else float(value)


def per_stage(mask: np.ndarray, groups: Groups, also: np.ndarray | None = None) -> np.ndarray:
    """Return [groups, stages]: how many leads per group have `mask` (and `also`) set for each stage."""
    columns = [mask[:, i] if also is None else mask[:, i] & also for i in range(mask.shape[1])]
    return np.stack([count(c, groups) for c in columns], axis=1)


def per_exit(f: Funnel, groups: Groups) -> list[np.ndarray]:
    """Return, for each exit in the definitions' order, [groups, stages]: how many leads per group
    left through that exit at each stage (without reaching the next)."""
    exited = f.buckets.exited
    return [per_stage(exited, groups, f.exit_codes == j) for j in range(len(f.defs.exits))]


def group_order(groups: Groups, size: np.ndarray) -> list[int]:
    """Return group indexes, largest first, ties by label; the blank group last."""
    labels = np.array(groups.labels, dtype=object)
    return list(np.lexsort((labels, -size, labels == BLANK)))
