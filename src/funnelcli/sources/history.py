"""A stage-history log (a row per change: id, stage entered, when) pivoted to a row per lead.

Pipedrive's deal changes, Salesforce's OpportunityFieldHistory or LeadHistory, HubSpot's property
history. The rows `history.only` selects are stage changes; each names a stage (or an exit) by
its `values:`. A lead's own date in a stage is the first time it entered it; re-entries and
moves back to an earlier stage are counted and reported; its exit is the exit its latest change
names. The other mapped columns take the value of the lead's latest row. Every row of the log is
accounted for (docs/metrics.md#accounting).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from funnelcli.definitions import Definitions, walk_leaves
from funnelcli.errors import InputError
from funnelcli.sources import conditions
from funnelcli.sources.accounting import SHOW_ROWS, RowIssue, issue
from funnelcli.sources.cells import categorical, parse_times
from funnelcli.sources.cells import ids as read_ids
from funnelcli.sources.csvfile import RawTable
from funnelcli.sources.fields import FileAccount, blank_out
from funnelcli.sources.shapes import Evidence, value_codes


def pivot_log(raw: RawTable, defs: Definitions) -> tuple[RawTable, Evidence, FileAccount, list[RowIssue]]:
    """Return the log's leads (a row each, at the row of their first change), the stage and exit
    evidence, where every row of the log went, and notices (re-entries, backward moves, values
    that name no stage)."""
    history = defs.history
    raw, blanked = blank_out(raw, defs.blank_values, "of the log")
    rows = raw.rows
    # Columns are converted in threads: pyarrow's kernels release the GIL.
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        id_job = pool.submit(_ids_and_leads, raw.column(defs.columns["id"]))
        # the time of day orders a lead's changes of one day; days date the stages
        time_job = pool.submit(parse_times, raw.column(history.at), defs.date_format, defs.timezone)
        change_job = pool.submit(_stage_changes, raw, defs)
        stage_job = pool.submit(categorical, raw.column(history.stage))
        ids, blank_id, id_keys, lead_codes = id_job.result()
        times = time_job.result()[0]
        change = change_job.result()
        codes, categories = stage_job.result()
    days = times.astype("datetime64[D]")
    stage_of, exit_of = value_codes(categories, defs)
    stage = np.append(stage_of, -1)[codes]
    exit_ = np.append(exit_of, -1)[codes]

    empty = np.ones(raw.num_rows, dtype=bool)
    for h in raw.table.column_names:
        empty &= raw.column(h).is_null().to_numpy()
    excluded_masks = {
        "with no values": empty,
        "with a blank id": blank_id & ~empty,
    }
    other = ~change & ~blank_id & ~empty  # owner changes and the like: not stage changes
    undated = change & ~blank_id & ~empty & np.isnat(days)
    excluded_masks[f"with no date or an unparseable date in {history.at!r}"] = undated
    named = (stage >= 0) | (exit_ >= 0)
    unknown = change & ~blank_id & ~empty & ~undated & ~named
    kept = change & ~blank_id & ~empty & ~undated & named
    excluded_masks["whose stage names no stage and no exit"] = unknown

    notices = [blanked, _unknown_values(unknown, codes, categories, rows, history.stage)]
    used = {r.header for r in defs.refs if not r.file and not r.role.startswith("history")} - {defs.columns["id"]}
    lead, first_row, last_row = _leads(lead_codes, ~blank_id & ~empty, times, latest=bool(used))
    if len(first_row) == 0:
        raise InputError(f"{raw.name}: no row of the log has an id in {defs.columns['id']!r}; check columns: id")
    with ThreadPoolExecutor(max_workers=1) as pool:  # numpy's sorts release the GIL: overlap with the rest
        evidence_job = pool.submit(_evidence, defs, len(first_row), lead, kept, stage, exit_, times, rows)
        lead_table = _lead_columns(raw, defs, ids, first_row, last_row, used)
        dated = ~np.isnat(days) & ~blank_id & ~empty  # the export's effective date: its latest date, any row
        latest = days[dated].max() if dated.any() else None
        account = _account(raw, kept, other, excluded_masks, len(first_row))
        evidence, moves = evidence_job.result()
    notices += moves
    evidence.latest = latest
    return lead_table, evidence, account, [n for n in notices if n]


def _stage_changes(raw: RawTable, defs: Definitions) -> np.ndarray:
    """Return which rows of the log are stage changes: those `history.only` selects (all without it)."""
    only = defs.history.only
    if only is None:
        return np.ones(raw.num_rows, dtype=bool)
    frame = {}
    for leaf in walk_leaves(only):
        key = defs.field_key(leaf.field)
        if key not in frame:
            codes, categories = categorical(raw.column(defs.header(leaf.field)))
            frame[key] = pd.Categorical.from_codes(codes, categories=categories)
    return conditions.evaluate(only, pd.DataFrame(frame), defs.field_key, conditions.Reading(defs.timezone, defs.date_format))


def _unknown_values(unknown: np.ndarray, codes: np.ndarray, categories: pd.Index, rows: np.ndarray, header: str) -> RowIssue | None:
    """Return the stage-change rows whose value names no stage and no exit, with the values and counts."""
    if not unknown.any():
        return None
    labels = [repr(str(c)) for c in categories] + ["blank"]
    counts = np.bincount(np.where(codes[unknown] < 0, len(categories), codes[unknown]), minlength=len(labels))
    top = np.argsort(-counts, kind="stable")[: int((counts > 0).sum())]
    shown = ", ".join(f"{labels[c]} ({counts[c]:,})" for c in top[:5]) + (f" and {len(top) - 5} more" if len(top) > 5 else "")
    return issue(f"of the log whose {header!r} names no stage and no exit", unknown, rows,
                 detail=f"the values: {shown}; add them to a stage's or an exit's values: to count them")


def _by_lead_and_time(lead: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Return the order of rows by lead, then time (NaT first), then file order (a stable sort of
    one int64 key: faster than a lexsort of three)."""
    missing = np.isnat(times)
    seconds = times.astype("int64")
    known = seconds[~missing] if missing.any() else seconds
    low = int(known.min()) - 1 if len(known) else 0
    span = (int(known.max()) - low + 1) if len(known) else 1
    seconds = seconds - low
    if missing.any():
        seconds[missing] = 0  # NaT sorts first
    if len(lead) and int(lead.max()) + 1 < np.iinfo(np.int64).max // max(span, 1):
        return np.argsort(lead.astype(np.int64) * span + seconds, kind="stable")
    return np.lexsort((np.arange(len(lead)), seconds, lead))


def _ids_and_leads(column: pa.ChunkedArray) -> tuple[pa.ChunkedArray, np.ndarray, np.ndarray, np.ndarray]:
    """Return read_ids' ids, blanks and keys, and a code per row for its id in order of first
    appearance (-1 for a blank id): in one job, so that it runs beside the other columns'."""
    ids, blank, keys = read_ids(column)
    codes = np.full(len(keys), -1, dtype=np.int64)
    codes[~blank] = pd.factorize(keys[~blank])[0]
    return ids, blank, keys, codes


def _leads(lead_codes: np.ndarray, usable: np.ndarray, times: np.ndarray, latest: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Return each row's lead (a code in order of first appearance; -1 for unusable rows), and per
    lead its first row and (with `latest`) its latest row (by time, then file order), as positions
    in the log."""
    lead = np.where(usable, lead_codes, -1)
    where = np.flatnonzero(usable)
    codes = lead[where]
    # codes follow first appearance among non-blank ids; an empty row has a blank id, so the
    # usable rows hold every code from 0 up
    n = int(codes.max()) + 1 if len(codes) else 0
    # codes come in order of first appearance: a lead's first row is where the running maximum grows
    running = np.maximum.accumulate(codes) if len(codes) else codes
    grows = np.r_[True, running[1:] > running[:-1]] if len(codes) else np.zeros(0, dtype=bool)
    first_row = where[grows]
    if not latest:
        return lead, first_row, None
    order = _by_lead_and_time(codes, times[where])
    last_row = np.empty(n, dtype=np.int64)
    last_row[codes[order]] = where[order]  # rows sorted so, the last assignment wins
    return lead, first_row, last_row


def _evidence(defs: Definitions, n: int, lead_of: np.ndarray, kept: np.ndarray, stage: np.ndarray,
              exit_: np.ndarray, times: np.ndarray, rows: np.ndarray) -> tuple[Evidence, list[RowIssue | None]]:
    """Return each lead's first entry date per stage and its exit, and notices about re-entries
    and backward moves."""
    k = len(defs.stages)
    where = np.flatnonzero(kept)
    order = _by_lead_and_time(lead_of[where], times[where])  # per lead, by time, then file order
    where = where[order]
    lead, time = lead_of[where], times[where]
    day = time.astype("datetime64[D]")
    s, e = stage[where], exit_[where]
    evidence = Evidence()
    is_stage = s >= 0
    for i in range(k):
        mine = is_stage & (s == i)
        first = np.full(n, np.datetime64("NaT"), dtype="datetime64[D]")
        # the first entry is the earliest: rows are in time order within a lead, so assign backwards
        first[lead[mine][::-1]] = day[mine][::-1]
        evidence.stage_dates[i] = first
        evidence.add_stage(i, ~np.isnat(first), "log")
    # The exit: the lead's last exit change, from its day until the next change reopens the lead
    # (a lead reopened after an exit is not out from then on; a replay before it finds it out).
    positions = np.flatnonzero(e >= 0)
    last = np.full(n, -1, dtype=np.int64)
    last[lead[positions]] = positions  # the last assignment wins: the lead's latest exit change
    has = last >= 0
    at = np.maximum(last, 0)
    after = at + 1
    reopened = has & (after < len(lead))
    reopened[reopened] &= lead[after[reopened]] == np.flatnonzero(reopened)
    last_exit = np.where(has, e[at], -1) if len(lead) else np.full(n, -1)
    nat = np.datetime64("NaT")
    exit_day = np.where(has, day[at], nat) if len(lead) else np.full(n, nat, "datetime64[D]")
    until = np.full(n, nat, dtype="datetime64[D]")
    until[reopened] = day[after[reopened]]
    for j in range(len(defs.exits)):
        met = last_exit == j
        evidence.add_exit(j, met)
        evidence.exit_dates[j] = np.where(met, exit_day, nat)
        evidence.exit_until[j] = np.where(met, until, nat)
    return evidence, _moves(lead, s, is_stage, rows[where])


def _moves(lead: np.ndarray, stage: np.ndarray, is_stage: np.ndarray, rows: np.ndarray) -> list[RowIssue | None]:
    """Return notices for re-entries (a stage entered again: its first entry counts) and backward
    moves (a change to an earlier stage than the lead's previous change), rows sorted per lead by date."""
    lead_s, stage_s, rows_s = lead[is_stage], stage[is_stage], rows[is_stage]
    same_lead = np.r_[False, lead_s[1:] == lead_s[:-1]]
    backward = same_lead & np.r_[False, stage_s[1:] < stage_s[:-1]]
    pair = lead_s.astype(np.int64) * (int(stage_s.max(initial=0)) + 1) + stage_s
    order = np.argsort(pair, kind="stable")
    repeat = np.zeros(len(pair), dtype=bool)
    repeat[order[1:][pair[order][1:] == pair[order][:-1]]] = True
    return [
        issue("of the log that enter a stage the lead had entered before (re-entries)", repeat, rows_s,
              detail="a stage's date is the first time the lead entered it"),
        issue("of the log that move a lead back to an earlier stage", backward, rows_s,
              detail=f"{_leads_word(len(np.unique(lead_s[backward])))} moved back; the waterfall counts the furthest stage reached"),
    ]


def _account(raw: RawTable, kept: np.ndarray, other: np.ndarray, excluded: dict, leads: int) -> FileAccount:
    """Return where every row of the log went."""
    parts = [(int(kept.sum()), f"stage changes (of {leads:,} lead{'s' if leads != 1 else ''})"), (int(other.sum()), "other changes (not selected by history.only)")]
    first_rows = {}
    for reason, mask in excluded.items():
        count = int(mask.sum())
        what = f"excluded {reason}"
        parts.append((count, what))
        if count:
            first_rows[what] = [int(r) for r in raw.rows[np.flatnonzero(mask)[:SHOW_ROWS]]]
    if raw.footer_rows:
        parts.append((len(raw.footer_rows), "in the report footer"))
        first_rows["in the report footer"] = raw.footer_rows[:SHOW_ROWS]
    return FileAccount(raw.name, "log", raw.num_rows + len(raw.footer_rows), parts, first_rows)


def _lead_columns(raw: RawTable, defs: Definitions, ids: pa.ChunkedArray, first_row: np.ndarray, last_row: np.ndarray | None,
                  used: set[str]) -> RawTable:
    """Return a row per lead: its id, and every other column the lead table uses from the log,
    from the lead's latest row; row numbers are those of each lead's first row."""
    arrays = {defs.columns["id"]: pc.take(ids, pa.array(first_row))}
    for h in raw.table.column_names:  # the log's own columns that the lead table uses (columns: may map them)
        if h not in arrays and h in used:
            arrays[h] = pc.take(raw.column(h), pa.array(last_row))
    table = pa.table({h: (a if isinstance(a, pa.ChunkedArray) else pa.chunked_array([a])) for h, a in arrays.items()})
    return RawTable(raw.name, table, raw.rows[first_row])


def _leads_word(n: int) -> str:
    return f"{n:,} lead{'s' if n != 1 else ''}"
