"""The market definition at work: conversion per market, and the market fit of each stage.

A lead is in the first market whose rule it meets, else in "out of market" (loading assigns it).
"""

from __future__ import annotations

import numpy as np

from funnelcli.definitions import OUT_OF_MARKET, Definitions
from funnelcli.engine.funnel import Funnel
from funnelcli.engine.groups import Groups, per_stage, rate
from funnelcli.engine.leads import LoadedExport
from funnelcli.errors import FunnelError, Problem
from funnelcli.measures import keys
from funnelcli.sources import conditions


def _codes(f: Funnel) -> tuple[np.ndarray, list[str]]:
    if not f.defs.markets:
        raise FunnelError("the definitions have no markets: add a 'markets:' list (see the README)")
    labels = [m.name for m in f.defs.markets] + [OUT_OF_MARKET]
    return f.column("market").cat.codes.to_numpy(), labels


def by_market(f: Funnel) -> list[dict]:
    """Return per market (in the definitions' order, then out of market): leads reaching each
    stage, the step rates and the cumulative rate to the last stage."""
    codes, labels = _codes(f)
    stages = f.stages
    counts = per_stage(f.reached, Groups("market", codes.astype(np.int64), labels))
    rows = []
    for label, reached in zip(labels, counts.tolist()):
        if f.markets and label not in f.markets:  # --market: the others' leads are not in the report, not 0
            continue
        row = {"market": label}
        for name, n in zip(stages, reached):
            row[keys.reached_key(name)] = n
        for i in range(len(stages) - 1):
            row[keys.rate_key(stages[i], stages[i + 1])] = rate(reached[i + 1], reached[i])
        row[keys.CUMULATIVE_RATE] = rate(reached[-1], reached[0])
        rows.append(row)
    return rows


def market_fit(f: Funnel) -> list[dict]:
    """Return per stage: its leads, how many are in any target market, and that share."""
    codes, labels = _codes(f)
    out = codes == len(labels) - 1
    rows = []
    for i, stage in enumerate(f.stages):
        reached = f.reached[:, i]
        n = int(reached.sum())
        fit = int((reached & ~out).sum())
        rows.append({"stage": stage, "reached": n, "in_market": fit, "market_fit": rate(fit, n), "out_of_market": n - fit})
    return rows


def coverage(loaded: LoadedExport, defs: Definitions) -> tuple[list[str], list[tuple[str, str, int]]]:
    """Return the markets no lead meets, and (first, second, leads) for markets that overlap.

    Counts the export's leads (excluded rows aside), whether or not they reached a stage.
    """
    reading = conditions.reading(defs)
    met = [conditions.evaluate(m.when, loaded.leads, defs.field_key, reading) & loaded.usable for m in defs.markets]
    unmet = [m.name for m, mask in zip(defs.markets, met) if not mask.any()]
    overlaps = []
    for a in range(len(met)):
        for b in range(a + 1, len(met)):
            both = int((met[a] & met[b]).sum())
            if both:
                overlaps.append((defs.markets[a].name, defs.markets[b].name, both))
    return unmet, overlaps


def coverage_problems(loaded: LoadedExport, defs: Definitions) -> list[Problem]:
    """Return warnings, at each market's place in the definitions, about markets no lead of the
    export meets and markets that overlap an earlier one (which wins)."""
    unmet, overlaps = coverage(loaded, defs)
    where = {m.name: m.where for m in defs.markets}
    found = []
    for name in unmet:
        w = where[name]
        found.append(Problem(w.path, w.line, w.col, "warning", "market-unmet", f"market {name!r}: no lead of {loaded.export} meets its rule"))
    for first, second, leads in overlaps:
        w = where[second]
        found.append(Problem(w.path, w.line, w.col, "warning", "market-overlap",
                             f"market {second!r}: {leads:,} lead{'s' if leads != 1 else ''} also meet{'' if leads != 1 else 's'} "
                             f"market {first!r}, which comes first and wins"))
    return found
