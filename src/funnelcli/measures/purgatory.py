"""Leakage and purgatory: who is stuck where, for how long, on whose desk, and who left.

Two purgatories have names in the field (docs/metrics.md): leads handed over and never accepted (stuck
at the first stage past its SLA), and leads touched a few times and dropped (a stage's activity
rule: at most N touches and no activity for D days, not yet at the next stage).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from funnelcli.engine.funnel import DAY, Funnel
from funnelcli.engine.groups import BLANK, count, group_by, number, per_exit, rate
from funnelcli.measures import keys

# Age bands of the unresolved leads of a stage, in multiples of its SLA. A lead exactly at the
# SLA is within it: stuck means older than the SLA.
BANDS = (
    ("within_sla", "Within SLA", 0, 1),
    ("sla_1_2x", "1-2x SLA", 1, 2),
    ("sla_2_4x", "2-4x SLA", 2, 4),
    ("sla_over_4x", "Over 4x SLA", 4, None),
)


def _money(total) -> float:
    """Return a sum of amounts to the cent: float sums carry noise (1674516.9200000002) that
    -f csv and -f json would print."""
    return round(float(total), 2)


def stage_indexes(f: Funnel, stage: str | None, param: str = "stage") -> list[int]:
    """Return the stages a report covers: all, or the one named by `stage` (the option `param`)."""
    if stage is None:
        return list(range(len(f.stages)))
    return [f.defs.require_stage(stage, param)]


def unresolved(f: Funnel, i: int) -> np.ndarray:
    """Return which leads reached stage i and neither moved on nor left."""
    b = f.buckets
    return b.stuck[:, i] | b.in_progress[:, i]


def _amount(f: Funnel) -> np.ndarray | None:
    if "amount" not in f.frame.columns:
        return None
    return f.column("amount").to_numpy(dtype="float64", na_value=np.nan)


def currencies(f: Funnel) -> tuple[list[str], np.ndarray] | None:
    """Return, with amounts and a currency field mapped, the currencies of the selected leads'
    amounts (codes trimmed, in capitals: 'usd ' is USD; blank last) and each lead's index among
    them (-1: no amount): value at risk is then a total per currency, named even when there is
    one, as dollars and euros added are no number. None without a currency field: one total."""
    return f.remember(("currencies",), lambda: _currencies(f))


def _currencies(f: Funnel) -> tuple[list[str], np.ndarray] | None:
    amount = _amount(f)
    if amount is None or "currency" not in f.frame.columns:
        return None
    column = f.column("currency")
    if isinstance(column.dtype, pd.CategoricalDtype):
        codes, values = column.cat.codes.to_numpy(), list(column.cat.categories)
    else:  # a currency brought in as numbers (a code like 978), say
        codes, values = pd.factorize(column, use_na_sentinel=True)
    written = [str(v).strip().upper() or BLANK for v in values] + [BLANK]  # code -1 (blank) picks the last
    each = np.array(written, dtype=object)[codes]
    held = set(np.unique(each[~np.isnan(amount)]))
    names = sorted(held - {BLANK}) + ([BLANK] if BLANK in held else [])
    index = np.array([names.index(w) if w in held else -1 for w in written], dtype=np.int32)
    return names, np.where(np.isnan(amount), -1, index[codes])


def _at_risk(f: Funnel, amount: np.ndarray | None, mask: np.ndarray | None) -> dict:
    """Return the value at risk of the leads `mask` (None: not measured there): one total, or with
    a currency field a total per currency (value_at_risk:USD, ...) and no total."""
    shown = currencies(f)
    if shown is None:
        return {"value_at_risk": None if amount is None or mask is None else _money(np.nansum(amount[mask]))}
    names, codes = shown
    out: dict = {"value_at_risk": None}
    for c, name in enumerate(names):
        out[keys.risk_key(name)] = None if mask is None else _money(np.nansum(amount[mask & (codes == c)]))
    return out


def touched_and_dropped(f: Funnel, i: int) -> np.ndarray | None:
    """Return which leads are in stage i's activity purgatory (see _touched_and_dropped)."""
    return f.remember(("touched_and_dropped", i), lambda: _touched_and_dropped(f, i))


def _touched_and_dropped(f: Funnel, i: int) -> np.ndarray | None:
    """Return which leads are in stage i's activity purgatory, or None if it has no such rule.

    At most N touches (a blank count is none) and no activity for D days: counted from the last
    activity, or from entering the stage when that came later or there was none. Activity after
    the as-of date is unknown to the replay and ignored.
    """
    rule = f.defs.stages[i].purgatory
    if rule is None or f.as_of is None or "touches" not in f.frame.columns or "last_activity" not in f.frame.columns:
        return None
    # only the leads still waiting in the stage are looked at, and of those only the ones with few
    # touches need their idle days
    waiting = np.flatnonzero(unresolved(f, i))
    touches = f.frame["touches"].take(f.rows[waiting]).to_numpy(dtype="float64", na_value=np.nan)
    idx = waiting[np.nan_to_num(touches, nan=0.0) <= rule.touches_at_most]
    as_of = np.datetime64(f.as_of.date(), "D")
    last = f.frame["last_activity"].to_numpy(dtype="datetime64[s]")[f.rows[idx]].astype("datetime64[D]")
    last = np.where(last <= as_of, last, np.datetime64("NaT"))
    entry = f.date[idx, i]
    since = np.where(np.isnat(last) | (last < entry), entry, last)
    dropped = np.zeros(f.n, dtype=bool)
    with np.errstate(invalid="ignore"):
        dropped[idx] = (as_of - since) / DAY >= rule.idle_days
    return dropped


def _stats(days: np.ndarray) -> tuple[float | None, float | None]:
    days = days[~np.isnan(days)].astype(np.float64)
    if len(days) == 0:
        return None, None
    return float(np.median(days)), float(days.max())


def stage_rows(f: Funnel, stages: list[int]) -> list[dict]:
    """Return per stage: reached, converted, exited (per exit), stuck, in progress, stuck share,
    median and longest days stuck, and value at risk (the amount of the stuck leads)."""
    b = f.buckets
    amount = _amount(f)
    by_exit = per_exit(f, group_by(f, None))  # one group: every lead
    rows = []
    for i in stages:
        stage = f.defs.stages[i]
        last = i == len(f.stages) - 1
        has_sla = stage.sla_days is not None
        stuck = b.stuck[:, i]
        median, longest = _stats(f.age(i)[stuck])
        reached = int(f.reached[:, i].sum())
        row = {
            "stage": stage.name,
            "sla_days": stage.sla_days,
            "reached": reached,
            "converted": None if last else int(b.converted[:, i].sum()),
            "exited": int(b.exited[:, i].sum()),
        }
        for j, ex in enumerate(f.defs.exits):
            row[keys.exited_key(ex.name)] = int(by_exit[j][0, i])
        row.update({
            "stuck": int(stuck.sum()) if has_sla or not last else None,
            "in_progress": int(b.in_progress[:, i].sum()) if has_sla or not last else None,
            "stuck_share": rate(int(stuck.sum()), reached) if has_sla else None,
            "median_days_stuck": median,
            "max_days_stuck": longest,
            **_at_risk(f, amount, stuck if has_sla or not last else None),
        })
        rows.append(row)
    return rows


def named_purgatories(f: Funnel, stages: list[int]) -> list[dict]:
    """Return the field's two purgatories, each under its plain-words name, where they apply."""
    b = f.buckets
    amount = _amount(f)
    rows = []
    first = f.defs.stages[0]
    if 0 in stages and first.sla_days is not None and len(f.stages) > 1:
        rows.append(_purgatory_row(
            f, 0, b.stuck[:, 0], amount, "Never accepted",
            f"{first.name} past its {first.sla_days:g}-day SLA, not yet {f.stages[1]}",
        ))
    for i in stages:
        stage = f.defs.stages[i]
        dropped = touched_and_dropped(f, i)
        if dropped is None:
            continue
        rule = stage.purgatory
        following = f.stages[i + 1] if i + 1 < len(f.stages) else None
        rows.append(_purgatory_row(
            f, i, dropped, amount, "Touched and dropped",
            f"{stage.name} with at most {rule.touches_at_most} touch{'es' if rule.touches_at_most != 1 else ''} and no activity "
            f"for {rule.idle_days:g}+ days"
            + (f", not yet {following}" if following else ""),
        ))
    return rows


def _purgatory_row(f: Funnel, i: int, mask: np.ndarray, amount, name: str, rule: str) -> dict:
    median, longest = _stats(f.age(i)[mask])
    leads = int(mask.sum())
    return {
        "purgatory": name,
        "stage": f.stages[i],
        "rule": rule,
        "leads": leads,
        "share_of_reached": rate(leads, int(f.reached[:, i].sum())),
        "median_days_in_stage": median,
        "max_days_in_stage": longest,
        **_at_risk(f, amount, mask),
    }


def age_bands(f: Funnel, stages: list[int]) -> list[dict]:
    """Return, per stage with an SLA, its unresolved leads by age in multiples of the SLA."""
    rows = []
    for i in stages:
        sla = f.defs.stages[i].sla_days
        if sla is None:
            continue
        waiting = unresolved(f, i)
        age = f.age(i)
        limit = np.float64(sla)  # the ages are float32: the bands compare in float64, as the SLA is given
        with np.errstate(invalid="ignore"):  # an unknown age (NaN) is in no band
            bands = {
                "within_sla": waiting & (age <= limit),
                "sla_1_2x": waiting & (age > limit) & (age <= 2 * limit),
                "sla_2_4x": waiting & (age > 2 * limit) & (age <= 4 * limit),
                "sla_over_4x": waiting & (age > 4 * limit),
            }
        row = {"stage": f.stages[i], "sla_days": sla}
        row.update({key: int(mask.sum()) for key, mask in bands.items()})
        row["age_unknown"] = int((waiting & np.isnan(age)).sum())
        rows.append(row)
    return rows


def leakage(f: Funnel, stages: list[int]) -> list[dict]:
    """Return per stage how many left through each exit, and as a share of reached."""
    b = f.buckets
    by_exit = per_exit(f, group_by(f, None))  # one group: every lead
    rows = []
    for i in stages:
        reached = int(f.reached[:, i].sum())
        exited = int(b.exited[:, i].sum())
        row = {"stage": f.stages[i], "reached": reached, "exited": exited, "exited_share": rate(exited, reached)}
        for j, ex in enumerate(f.defs.exits):
            n = int(by_exit[j][0, i])
            row[keys.exited_key(ex.name)] = n
            row[keys.share_key(ex.name)] = rate(n, reached)
        rows.append(row)
    return rows


def by_group(f: Funnel, by: str, stages: list[int]) -> list[dict]:
    """Return one row per group of --by, most stuck leads first: the table a manager acts on."""
    b = f.buckets
    groups = group_by(f, by)
    amount = _amount(f)
    stuck_any = np.zeros(f.n, dtype=bool)
    dropped_any = np.zeros(f.n, dtype=bool)
    per_stage = {}
    oldest = np.full(f.n, np.nan, dtype=np.float32)  # whole days, as the ages are
    for i in stages:
        stuck = b.stuck[:, i]
        stuck_any |= stuck
        per_stage[i] = count(stuck, groups)
        dropped = touched_and_dropped(f, i)
        if dropped is not None:
            dropped_any |= dropped
        oldest[stuck] = f.age(i)[stuck]  # a later stage's age wins
    stuck_total = count(stuck_any, groups)
    dropped_total = count(dropped_any, groups)
    reached_total = count(f.reached[:, stages].any(axis=1), groups)
    frame = pd.DataFrame({"g": groups.codes[stuck_any], "age": oldest[stuck_any].astype(np.float64)})
    ages = frame.groupby("g")["age"].agg(["median", "max"]) if len(frame) else None
    risk = {}  # the value at risk per group: one total, or per currency
    if amount is not None:
        shown = currencies(f)
        for c, name in enumerate(shown[0] if shown else [None]):
            mine = stuck_any if name is None else stuck_any & (shown[1] == c)
            risk["value_at_risk" if name is None else keys.risk_key(name)] = np.bincount(
                groups.codes[mine], weights=np.nan_to_num(amount[mine]), minlength=groups.size)
    rows = []
    order = sorted(range(groups.size), key=lambda g: (-stuck_total[g], groups.labels[g] == BLANK, groups.labels[g]))
    for g in order:
        row = {"group": groups.labels[g], "stuck": int(stuck_total[g])}
        for i in stages:
            if f.defs.stages[i].sla_days is not None:  # without an SLA nobody is stuck there
                row[keys.stuck_key(f.stages[i])] = int(per_stage[i][g])
        row["touched_and_dropped"] = int(dropped_total[g]) if any(f.defs.stages[i].purgatory for i in stages) else None
        row["reached"] = int(reached_total[g])
        row["stuck_share"] = rate(int(stuck_total[g]), int(reached_total[g]))
        has = ages is not None and g in ages.index
        row["median_days_stuck"] = number(ages.loc[g, "median"]) if has else None
        row["max_days_stuck"] = number(ages.loc[g, "max"]) if has else None
        row["value_at_risk"] = None
        row.update({key: _money(totals[g]) for key, totals in risk.items()})
        rows.append(row)
    return rows


LIST_FIRST = ("owner", "touches", "last_activity")


def _listed_at(f: Funnel, i: int, min_days: float | None) -> pd.DataFrame | None:
    """Return the leads the stuck list names at stage i (stuck past the SLA, or touched and
    dropped), with their days and why; None when there are none."""
    stuck = f.buckets.stuck[:, i]
    dropped = touched_and_dropped(f, i)
    listed = stuck | dropped if dropped is not None else stuck
    age = f.age(i)
    if min_days is not None:
        with np.errstate(invalid="ignore"):
            listed &= age >= np.float64(min_days)
    idx = np.flatnonzero(listed)
    if not len(idx):
        return None
    sla = f.defs.stages[i].sla_days
    why = pd.Series(np.where(stuck[idx], "past SLA", ""), dtype=object)
    if dropped is not None:
        rule = f.defs.stages[i].purgatory
        tag = f"touched <= {rule.touches_at_most}, idle {rule.idle_days:g}+ days"
        why = why.where(~dropped[idx], (why + "; " + tag).str.lstrip("; "))
    days = age[idx].astype(np.float64)  # whole days, shown as every other number is
    # the day the age runs from: the stage's date, or the stage since for the stage a status
    # names (no date of its own), or the earlier stage's date that a stage since before it gives way to
    known = ~np.isnan(days)
    entered = np.full(len(idx), np.datetime64("NaT"), dtype="datetime64[D]")
    entered[known] = np.datetime64(f.as_of.date(), "D") - days[known].astype(np.int64)
    return pd.DataFrame({"lead": idx, "stage": f.stages[i], "entered": entered, "days_in_stage": days,
                         "days_over_sla": np.where(stuck[idx], days - (sla or 0), np.nan), "why": why.to_numpy()})


def stuck_list(f: Funnel, stages: list[int], min_days: float | None = None,
               by: str | None = None) -> tuple[list[dict], list[str], dict[str, int]]:
    """Return the stuck leads themselves, oldest first (by days in their stage, whatever the
    stage), and the field columns shown; with `by`, a "group" per lead (its value of the field, as
    --by labels it), the groups in the order of the "Stuck by" table (most stuck leads first, the
    blank group last, then by name) and each group's leads oldest first.

    A lead is listed for each stage where it is stuck past the SLA or touched and dropped. In a
    replay (an as-of date before the export's), a last activity after the as-of date was not known
    then: it is left out, and the third value counts those (a planned date, an open deal's close
    date, is shown as the export has it).
    """
    picks = [pick for pick in (_listed_at(f, i, min_days) for i in stages) if pick is not None]
    fields = [k for k in LIST_FIRST if k in f.frame.columns]
    mapped = list(f.defs.columns) + [k for j in f.defs.joins for k in j.columns]  # a joined file's columns too
    own = {"id", "lead", "stage", "entered", "days_in_stage", "days_over_sla", "why"}  # the list's own columns win
    fields += [k for k in mapped if k not in fields and k not in own and k in f.frame.columns]
    if "market" in f.frame.columns:
        fields.append("market")
    if not picks:
        return [], fields, {}
    table = pd.concat(picks, ignore_index=True)
    leads = table.pop("lead").to_numpy()
    table.insert(0, "id", f.column("id").to_numpy(dtype=object)[leads])
    table["entered"] = pd.Series(table["entered"].to_numpy(dtype="datetime64[D]")).dt.strftime("%Y-%m-%d")
    later: dict[str, int] = {}
    for key in fields:
        column = f.column(key).take(leads).reset_index(drop=True)
        if pd.api.types.is_datetime64_any_dtype(column.dtype):
            replay = key == "last_activity" and f.accounting.replayed_to is not None
            after = (column.dt.normalize() > f.as_of).to_numpy() if replay else np.zeros(len(column), bool)
            if after.any():
                later[key] = int(after.sum())
            column = column.dt.strftime("%Y-%m-%d").where(~after, None)
        table[key] = column.astype(object)
    order = ["days_in_stage", "id"]
    if by is not None:
        groups = group_by(f, by)
        codes = groups.codes[leads]
        table.insert(0, "group", np.asarray(groups.labels, dtype=object)[codes])
        stuck = count(f.buckets.stuck[:, stages].any(axis=1), groups)  # by_group's ranking: a lead once
        table["_rank"] = -stuck[codes]
        table["_blank"] = np.asarray(groups.labels, dtype=object)[codes] == BLANK
        order = ["_rank", "_blank", "group"] + order
    table = table.sort_values(order, ascending=[True] * (len(order) - 2) + [False, True], kind="stable")
    table = table.drop(columns=["_rank", "_blank"], errors="ignore")
    table = table.astype(object).where(table.notna(), None)
    return table.to_dict("records"), fields, later
