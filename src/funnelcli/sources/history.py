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
from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from funnelcli.definitions import Definitions, walk_leaves
from funnelcli.errors import InputError
from funnelcli.sources import conditions
from funnelcli.sources.accounting import SHOW_ROWS, RowIssue, issue
from funnelcli.sources.cells import categorical, numeric_keys, parse_times, plain_digits
from funnelcli.sources.cells import ids as read_ids
from funnelcli.sources.csvfile import RawTable
from funnelcli.sources.fields import PLACEHOLDER_DAYS, FileAccount, blank_out, no_date_parses, without_placeholders
from funnelcli.sources.shapes import Evidence, value_codes


def lead_headers(defs: Definitions) -> set[str]:
    """Return the log's own columns that the lead table uses (from each lead's latest row)."""
    return {r.header for r in defs.refs if not r.file and not r.role.startswith("history")} - {defs.columns["id"]}


def coded_headers(defs: Definitions) -> frozenset[str]:
    """Return the log's columns that are only coded (the stage, the fields `only` tests): the
    reader gives them as dictionaries, a code per row, much cheaper than text for 5 rows a lead."""
    history = {r.header for r in defs.refs if not r.file and r.role.startswith("history")}
    return frozenset(history - lead_headers(defs) - {defs.columns["id"], defs.history.at})


def pivot_log(raw: RawTable, defs: Definitions) -> tuple[RawTable, Evidence, FileAccount, list[RowIssue]]:
    """Return the log's leads (a row each, at the row of their first change), the stage and exit
    evidence, where every row of the log went, and notices (re-entries, backward moves, values
    that name no stage)."""
    history = defs.history
    raw, blanked = blank_out(raw, defs.blank_values, "of the log")
    rows = raw.rows
    ids, blank_id, lead_codes, times, change, (codes, categories, stage, exit_) = _columns(raw, defs)

    # an empty row has no id: rows with an id are usable (their code is their lead's, else -1)
    empty = _empty_rows(raw, blank_id)
    usable = ~blank_id
    change &= usable
    times, placeholder = without_placeholders(times)
    timed = ~np.isnat(times)
    undated = change & ~timed & ~placeholder
    reopening = _reopening(codes, categories, history.reopen)  # a change naming no stage: the lead is out no more
    named = (stage >= 0) | (exit_ >= 0) | reopening
    blank_stage = change & timed & (codes < 0)  # a change naming nothing at all: no value to add to values:
    unknown = change & timed & ~named & ~blank_stage
    kept = change & timed & named
    excluded_masks = {
        "blank in every column the definitions use": empty,
        "with a blank id": blank_id & ~empty,
        f"with no date or an unparseable date in {history.at!r}": undated,
        f"with a placeholder date in {history.at!r} {PLACEHOLDER_DAYS}": change & placeholder,
        f"whose {history.stage!r} is blank": blank_stage,
        "whose stage names no stage and no exit": unknown,
    }
    other = ~change & usable  # owner changes and the like: not stage changes

    notices = [blanked, _unknown_values(unknown, codes, categories, rows, history.stage),
               issue(f"with a placeholder date in {history.at!r} {PLACEHOLDER_DAYS} where no stage changes (an owner change, say)",
                     other & placeholder, rows, detail="read as no date")]
    leads = int(lead_codes.max(initial=-1)) + 1  # codes run from 0, in order of first appearance
    if leads == 0:
        raise InputError(f"{raw.name}: no row of the log has an id in {defs.columns['id']!r}; check columns: id")
    used = lead_headers(defs)
    with ThreadPoolExecutor(max_workers=1) as pool:  # numpy releases the GIL: overlap with the rest
        repeats = _repeats(lead_codes, kept, change & timed, stage, exit_, times)
        evidence_job = pool.submit(_evidence, defs, leads, lead_codes, kept & ~repeats, stage, exit_, times, rows)
        first_row, last_row = _leads(lead_codes, usable, times, latest=bool(used))
        lead_table = _lead_columns(raw, defs, ids, first_row, last_row, used)
        latest = _latest_day(times, usable & ~unknown & ~blank_stage)  # an excluded row is no event (undated ones have no time)
        evidence, moves = evidence_job.result()
    # the leads with a kept change: each names a stage or an exit (a byte a lead, not the rows' codes)
    changed = np.zeros(leads, dtype=bool)
    for reached in (*evidence.stage_reached.values(), *evidence.exit_met.values()):
        changed |= reached
    account = _account(raw, kept & ~repeats, other, excluded_masks, leads, int(np.count_nonzero(changed)), repeats & ~reopening,
                       kept & ~repeats & reopening if history.reopen else None, repeats & reopening)
    evidence.latest = latest
    counted = (kept | other) & (lead_codes >= 0)
    evidence.entering = np.bincount(lead_codes[counted], minlength=leads).astype(bool)
    evidence.entering_dates = _first_days(lead_codes, times, counted, leads)
    notices.append(_ties_in_a_newest_first_log(lead_codes, times, kept & ~repeats, change & timed, rows))
    return lead_table, evidence, account, [n for n in notices + moves if n]


def _first_days(lead: np.ndarray, times: np.ndarray, counted: np.ndarray, n: int) -> np.ndarray:
    """Return each lead's day of its first dated row that counts (NaT for none): when it entered a
    first stage that has no rule of its own, where no row names that stage."""
    where = np.flatnonzero(counted & ~np.isnat(times))
    days = np.full(n, np.datetime64("NaT"), dtype="datetime64[D]")
    if len(where):
        order = where[_by_lead_and_time(lead[where], times[where])]
        first = np.r_[True, lead[order][1:] != lead[order][:-1]]
        days[lead[order][first]] = times[order][first].astype("datetime64[D]")
    return days


def _ties_in_a_newest_first_log(lead: np.ndarray, times: np.ndarray, kept: np.ndarray, dated: np.ndarray,
                                rows: np.ndarray) -> RowIssue | None:
    """Return a notice of the changes of one lead at one time when the log runs newest first, as
    CRMs often write history: more of a lead's successive rows go back in time than forward.
    Changes at one time are read in file order, top-down, which is then the reverse of the order
    they happened in (a deal lost on the day it moved to Proposal, written above that row, reads as
    lost and then reopened). The order is the file's, never guessed: the notice says to sort it."""
    where = np.flatnonzero(dated)
    if len(where) < 3:
        return None
    by_lead = where[np.argsort(lead[where], kind="stable")]  # each lead's rows in file order
    same = lead[by_lead][1:] == lead[by_lead][:-1]
    steps = np.sign(np.diff(times[by_lead].astype("int64")))[same]
    if not steps.any():  # each lead's changes at one time: the order of the file's rows tells
        steps = np.sign(np.diff(times[where].astype("int64")))
    if int(np.count_nonzero(steps < 0)) <= int(np.count_nonzero(steps > 0)):
        return None
    mine = np.flatnonzero(kept)
    order = mine[_by_lead_and_time(lead[mine], times[mine])]
    tie = (lead[order][1:] == lead[order][:-1]) & (times[order][1:] == times[order][:-1])
    tied = np.zeros(len(lead), dtype=bool)
    tied[order[1:][tie]] = True
    tied[order[:-1][tie]] = True
    return issue("of the log at the same time as another change of their lead, in a log that runs newest first", tied, rows,
                 detail="changes at one time are read in file order, top-down, which in a log written newest first is "
                        "the reverse of the order they happened in; sort the log oldest first (or export the time of "
                        "day), and run again")


def _columns(raw: RawTable, defs: Definitions) -> tuple:
    """Return the log's columns read: the ids, which are blank, a lead code per row, the times,
    which rows are stage changes, and the stage column (codes, values, stage and exit per row)."""
    id_column = raw.column(defs.columns["id"])
    # Columns are converted in threads: pyarrow's and numpy's kernels release the GIL.
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        numeric_job = pool.submit(_numeric_leads, id_column)  # keyed as integers, if they may be
        # the time of day orders a lead's changes of one day; days date the stages
        time_job = pool.submit(parse_times, raw.column(defs.history.at), defs.formats(defs.history.at), defs.timezone)
        digits_job = pool.submit(plain_digits, id_column)
        change_job = pool.submit(stage_changes, raw, defs)
        stage_job = pool.submit(_stage_codes, raw.column(defs.history.stage), defs)
        ids, blank_id, _, lead_codes = _ids(id_column, numeric_job.result(), digits_job.result())
        times, bad, text = time_job.result()
        bad_count = int(bad.sum())
        if bad_count >= 5 and np.isnat(times).all():  # a column of them is a setting to fix, not rows to exclude
            example = text.take(pa.array(np.flatnonzero(bad)[:1]))[0].as_py()
            raise no_date_parses(raw.name, defs.history.at, example, defs)
        return ids, blank_id, lead_codes, times, change_job.result(), stage_job.result()


def _stage_codes(column: pa.ChunkedArray, defs: Definitions) -> tuple[np.ndarray, pd.Index, np.ndarray, np.ndarray]:
    """Return the stage column's codes and values, and per row the stage and the exit it names (-1: none)."""
    codes, categories = categorical(column)
    stage_of, exit_of = value_codes(categories, defs)
    return codes, categories, _lookup(stage_of, codes), _lookup(exit_of, codes)


def _reopening(codes: np.ndarray, categories, reopen: tuple[str, ...]) -> np.ndarray:
    """Return which rows' stage value is one of history.reopen (trimmed, any case)."""
    wanted = {v.strip().casefold() for v in reopen}
    table = np.array([str(c).strip().casefold() in wanted for c in categories] + [False], dtype=bool)
    return table[codes]  # code -1 (blank) picks the appended False


def _lookup(table: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Return table[code] per row as small ints, -1 for a blank cell (code -1)."""
    small = np.append(table, -1).astype(np.int16 if len(table) > 127 else np.int8)
    return small[codes]


def _latest_day(times: np.ndarray, usable: np.ndarray) -> np.datetime64 | None:
    """Return the log's effective date: its latest date on the `usable` rows (None if none)."""
    seconds = times.view(np.int64)
    seconds = seconds if usable.all() else seconds[usable]
    latest = seconds.max() if len(seconds) else np.iinfo(np.int64).min
    # NaT is the smallest int64: it is the maximum only when no row has a date
    return None if latest == np.iinfo(np.int64).min else np.int64(latest).astype("datetime64[s]").astype("datetime64[D]")


def _empty_rows(raw: RawTable, blank_id: np.ndarray) -> np.ndarray:
    """Return which rows have no value in any column the run reads (only a row with no id can)."""
    empty = np.zeros(raw.num_rows, dtype=bool)
    candidates = np.flatnonzero(blank_id)
    if len(candidates):
        rows = raw.table.take(pa.array(candidates))
        empty[candidates] = np.logical_and.reduce([rows.column(h).is_null().to_numpy() for h in rows.column_names])
    return empty


def stage_changes(raw: RawTable, defs: Definitions) -> np.ndarray:
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
    return conditions.evaluate(only, pd.DataFrame(frame), defs.field_key, conditions.reading(defs))


def _unknown_values(unknown: np.ndarray, codes: np.ndarray, categories: pd.Index, rows: np.ndarray, header: str) -> RowIssue | None:
    """Return the stage-change rows whose value (never blank: a part of its own) names no stage and
    no exit, with the values and counts."""
    if not unknown.any():
        return None
    labels = [repr(str(c)) for c in categories]
    counts = np.bincount(codes[unknown], minlength=len(labels))
    top = np.argsort(-counts, kind="stable")[: int((counts > 0).sum())]
    shown = ", ".join(f"{labels[c]} ({counts[c]:,})" for c in top[:5]) + (f" and {len(top) - 5} more" if len(top) > 5 else "")
    return issue(f"of the log whose {header!r} names no stage and no exit", unknown, rows,
                 detail=f"the values: {shown}; add them to a stage's or an exit's values: to count them, or to history: "
                        "reopen: when they reopen a lead after an exit (a deal's status back to open)")


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


def _lead_codes(keys: np.ndarray, blank: np.ndarray) -> np.ndarray:
    """Return a code per row for its id key, in order of first appearance (-1 for a blank id)."""
    present = keys if not blank.any() else keys[~blank]
    if len(present) and int(present.max()) - int(present.min()) < np.iinfo(np.int32).max:
        present = (present - present.min()).astype(np.int32)  # hashing 32-bit keys is faster
    codes = pd.factorize(present)[0]
    if blank.any():
        codes, present_codes = np.full(len(keys), -1, dtype=np.int64), codes
        codes[~blank] = present_codes
    return codes


def _numeric_leads(column: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray] | None:
    """Return the ids' integer keys and lead codes, if every id reads as an integer (else None)."""
    keys = numeric_keys(column)
    return None if keys is None else (keys, _lead_codes(keys, keys < 0))


def _ids(column: pa.ChunkedArray, numeric: tuple | None, digits: bool) -> tuple[pa.ChunkedArray, np.ndarray, np.ndarray, np.ndarray]:
    """Return the ids, which are blank, a key per id and a lead code per row: from the integer
    keys when the ids are plain digits, else from the text."""
    if numeric is not None and digits:
        keys, codes = numeric
        return column, keys < 0, keys, codes
    ids, blank, keys = read_ids(column)
    return ids, blank, keys, _lead_codes(keys, blank)


def _leads(lead_codes: np.ndarray, usable: np.ndarray, times: np.ndarray, latest: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """Return per lead (a code in order of first appearance; -1 for unusable rows) its first row
    and (with `latest`) its latest row (by time, then file order), as positions in the log."""
    everything = bool(usable.all())
    where = None if everything else np.flatnonzero(usable)
    codes = lead_codes if everything else lead_codes[where]
    # codes come in order of first appearance: a lead's first row is where the running maximum
    # grows (the usable rows hold every code from 0 up)
    if len(codes) == 0:
        return np.zeros(0, dtype=np.int64), None
    running = np.maximum.accumulate(codes)
    grows = np.empty(len(codes), dtype=bool)
    grows[0] = True
    np.greater(running[1:], running[:-1], out=grows[1:])
    first_row = np.flatnonzero(grows) if everything else where[grows]
    if not latest:
        return first_row, None
    order = _by_lead_and_time(codes, times if everything else times[where])
    last_row = np.empty(len(first_row), dtype=np.int64)
    last_row[codes[order]] = order if everything else where[order]  # rows sorted so, the last assignment wins
    return first_row, last_row


def _repeats(lead: np.ndarray, kept: np.ndarray, changes: np.ndarray, stage: np.ndarray, exit_: np.ndarray,
             times: np.ndarray) -> np.ndarray:
    """Return which kept rows name the stage (or exit) the lead is in already, by time then file
    order: a stage row naming the stage of the lead's previous stage row, with no exit in force
    between them (a reopening row ended it); an exit row naming the exit in force. A snapshot log
    (Salesforce's OpportunityHistory writes a row when the amount or the close date changes) names
    the stage again; that is no change and no re-entry. A stage row after an exit is a change (it
    reopens the lead), and a row naming nothing in between (a stage the definitions leave out)
    makes the next one a real change. `changes`: the dated stage-change rows, kept or naming
    nothing; a kept row naming no stage and no exit reopens (history.reopen: Pipedrive's status
    back to open), and repeats when no exit is in force by the kept rows before it (nothing to
    reopen: a deal's status 'open' when it is made, the same reopening written twice)."""
    where = np.flatnonzero(changes)
    repeats = np.zeros(len(kept), dtype=bool)
    if len(where) < 2:  # one row: a reopening of it has no exit before it to end
        repeats[where] = kept[where] & (stage[where] < 0) & (exit_[where] < 0)
        return repeats
    lw, t = lead[where], times[where]
    if (t[1:] >= t[:-1]).all():
        # In time order, as CRMs write logs: a repeat names a stage (or exit) the lead named
        # before, so only the leads with such a row are grouped (few, in a log of changes).
        code = np.where(stage[where] >= 0, stage[where], -2 - exit_[where].astype(np.int64))  # -1: names nothing
        again = np.zeros(len(where), dtype=bool)
        leads = int(lw.max()) + 1
        for c in range(int(code.min()), int(code.max()) + 1):  # a stage or exit each: a few
            mine = np.flatnonzero(code == c)
            if c == -1 or len(mine) < 2:
                continue
            first = np.full(leads, -1, dtype=np.int64)
            first[lw[mine][::-1]] = mine[::-1]  # each lead's first row naming c: assigned last
            again[mine] = True
            again[first[first >= 0]] = False
        again |= kept[where] & (code == -1)  # a reopening: it may have nothing to reopen
        if not again.any():
            return repeats
        grouped = np.zeros(leads, dtype=bool)
        grouped[lw[again]] = True
        sub = np.flatnonzero(grouped[lw])
        order = where[sub[np.argsort(lw[sub], kind="stable")]]  # by lead; each lead's rows stay in time order
    else:
        order = where[_by_lead_and_time(lw, t)]
    ls, ss, es, ks = lead[order], stage[order], exit_[order], kept[order]
    # What holds after each row, carried forward over the lead's rows in order: the stage of its
    # latest stage row (-1 after a row naming nothing: no stage known), and the exit in force
    # (-1: none; a stage row, a reopening or a row naming nothing ends it).
    nothing = ~ks
    stage_now = _carried((ss >= 0) | nothing, ls, np.where(nothing, -1, ss))
    exit_now = np.where(ks & (es >= 0), es, -1)  # every row sets it: an exit row its exit, the others none
    same_lead = ls[1:] == ls[:-1]
    stage_again = (ss[1:] >= 0) & (stage_now[:-1] == ss[1:]) & (exit_now[:-1] < 0)
    exit_again = (es[1:] >= 0) & (exit_now[:-1] == es[1:])
    repeats[order[1:][same_lead & ks[1:] & (stage_again | exit_again)]] = True
    # a reopening with no exit in force, by the kept rows only (a row naming nothing is left out of
    # the evidence, so an exit before it is still in force there): nothing to reopen
    reopening = ks & (ss < 0) & (es < 0)
    kept_exit = _carried(ks, ls, np.where(es >= 0, es, -1))  # the exit the lead's latest kept row left in force
    out = np.r_[False, same_lead & (kept_exit[:-1] >= 0)]
    repeats[order[reopening & ~out]] = True
    return repeats


def _carried(sets: np.ndarray, lead: np.ndarray, set_to: np.ndarray) -> np.ndarray:
    """Return per row (rows grouped by lead, in order) the `set_to` of the lead's latest row at or
    before it where `sets` holds, else -2: a forward fill that stops at each lead's first row."""
    at = np.where(sets, np.arange(len(sets)), -1)
    np.maximum.accumulate(at, out=at)
    start = np.r_[0, np.flatnonzero(lead[1:] != lead[:-1]) + 1]
    first = np.repeat(start, np.diff(np.r_[start, len(lead)]))  # each row's lead's first row
    return np.where(at >= first, set_to[np.maximum(at, 0)], -2)


def _evidence(defs: Definitions, n: int, lead_of: np.ndarray, kept: np.ndarray, stage: np.ndarray,
              exit_: np.ndarray, times: np.ndarray, rows: np.ndarray) -> tuple[Evidence, list[RowIssue | None]]:
    """Return each lead's first entry date per stage and its exit, and notices about re-entries
    and backward moves (`kept`: the rows that change the lead's stage or exit)."""
    where = np.flatnonzero(kept)
    lead, time, s, e = lead_of[where], times[where], stage[where], exit_[where]
    if len(time) > 1 and not (time[1:] >= time[:-1]).all():
        # A log in time order (as CRMs write them) has each lead's changes in order already; else
        # sort them per lead, by time, then file order.
        order = _by_lead_and_time(lead, time)
        lead, time, s, e, where = lead[order], time[order], s[order], e[order], where[order]
    day = time.astype("datetime64[D]")
    evidence = Evidence()
    first_entry = np.zeros(len(lead), dtype=bool)
    out_of_order = np.zeros(n, dtype=bool)  # a lead whose stages' first entries are not in stage order
    furthest = np.full(n, -1, dtype=np.int64)
    nat = np.datetime64("NaT")
    for i in range(len(defs.stages)):
        mine = np.flatnonzero(s == i)
        # the first entry is the earliest: a lead's rows are in time order, so assign backwards
        at = np.full(n, -1, dtype=np.int64)
        at[lead[mine][::-1]] = mine[::-1]
        reached = at >= 0
        first_entry[at[reached]] = True
        out_of_order |= reached & (at < furthest)
        np.maximum(furthest, at, out=furthest)
        evidence.stage_dates[i] = np.where(reached, day[np.maximum(at, 0)], nat) if len(lead) else np.full(n, nat, "datetime64[D]")
        evidence.add_stage(i, reached, "log")
    _exits(evidence, len(defs.exits), n, lead, e, day)
    notices, evidence.moves = _moves(lead, s, first_entry, out_of_order, rows[where], day)
    return evidence, notices


def _exits(evidence: Evidence, exits: int, n: int, lead: np.ndarray, e: np.ndarray, day: np.ndarray) -> None:
    """Add each lead's exit: its last exit change, from its day until the lead's next change
    reopens it (a lead reopened after an exit is not out from then on; a replay before it finds
    it out). Each lead's changes are in time order."""
    positions = np.flatnonzero(e >= 0)
    last = np.full(n, -1, dtype=np.int64)
    last[lead[positions]] = positions  # the last assignment wins: the lead's latest exit change
    has = last >= 0
    after = np.flatnonzero(np.arange(len(lead)) > np.where(has, last, len(lead))[lead])  # changes after it
    reopening = np.full(n, -1, dtype=np.int64)
    reopening[lead[after][::-1]] = after[::-1]  # the first of them
    at = np.maximum(last, 0)
    nat = np.datetime64("NaT")
    last_exit = np.where(has, e[at], -1) if len(lead) else np.full(n, -1)
    exit_day = np.where(has, day[at], nat) if len(lead) else np.full(n, nat, "datetime64[D]")
    until = np.where(reopening >= 0, day[np.maximum(reopening, 0)], nat) if len(lead) else np.full(n, nat, "datetime64[D]")
    for j in range(exits):
        met = last_exit == j
        evidence.add_exit(j, met)
        evidence.exit_dates[j] = np.where(met, exit_day, nat)
        evidence.exit_until[j] = np.where(met, until, nat)
    _earlier_exits(evidence, n, lead, e, day, last)


def _earlier_exits(evidence: Evidence, n: int, lead: np.ndarray, e: np.ndarray, day: np.ndarray, last: np.ndarray) -> None:
    """Add the times a lead was out before its last exit (lost, reopened, lost again): each from
    the exit's day until the lead's next change. Only the few leads with several exit changes are
    grouped to find them."""
    several = np.bincount(lead[e >= 0], minlength=n) > 1
    if not several.any():
        return
    rows = np.flatnonzero(several[lead])
    rows = rows[np.argsort(lead[rows], kind="stable")]  # by lead; each lead's changes stay in time order
    earlier = np.flatnonzero((e[rows] >= 0) & (rows != last[lead[rows]]))  # a later change of the lead follows each
    for j in np.unique(e[rows[earlier]]):
        mine = earlier[e[rows[earlier]] == j]
        evidence.exit_spans[int(j)] = (lead[rows[mine]], day[rows[mine]], day[rows[mine + 1]])


REENTRIES = "of the log entering a stage the lead had entered before (re-entries)"
MOVES_BACK = "of the log moving a lead back to an earlier stage"


class Moves(NamedTuple):
    """A log's re-entries and moves back (a few rows), by lead, each lead's in time order: for
    their notices, explain, and replays (which tell them as the log cut then)."""

    leads: np.ndarray  # the lead (its row of the lead table)
    rows: np.ndarray  # the row of the log
    days: np.ndarray  # datetime64[D]
    stages: np.ndarray  # the stage entered
    back: np.ndarray  # bool: a move back to an earlier stage
    again: np.ndarray  # bool: a stage entered before

    def of(self, lead: int) -> Moves:
        at = slice(*np.searchsorted(self.leads, [lead, lead + 1]))
        return Moves(*(a[at] for a in self))

    def until(self, day: np.datetime64) -> Moves:
        known = self.days <= day
        return Moves(*(a[known] for a in self))

    def notices(self) -> list[RowIssue | None]:
        return [
            issue(REENTRIES, self.again, self.rows, detail="a stage's date is the first time the lead entered it"),
            issue(MOVES_BACK, self.back, self.rows, detail=f"{_leads_word(len(np.unique(self.leads[self.back])))} moved "
                                                           "back; the waterfall counts the furthest stage reached"),
        ]


def _moves(lead: np.ndarray, stage: np.ndarray, first_entry: np.ndarray, out_of_order: np.ndarray,
           rows: np.ndarray, day: np.ndarray) -> tuple[list[RowIssue | None], Moves]:
    """Return notices for re-entries (a stage entered again: its first entry counts) and backward
    moves (a change to an earlier stage than the lead's previous change), and those rows (Moves)
    for explain and replays. Each lead's changes are in time order; only leads with a re-entry or with stages entered out of
    order can have backward moves, and only their stage changes are grouped by lead to find them."""
    is_stage = stage >= 0
    repeat = is_stage & ~first_entry
    suspect = out_of_order.copy()
    suspect[lead[repeat]] = True
    where = np.flatnonzero(is_stage & suspect[lead])
    where = where[np.argsort(lead[where], kind="stable")]
    lead_s, stage_s = lead[where], stage[where]
    backward = np.zeros(len(lead), dtype=bool)
    backward[where[1:]] = (lead_s[1:] == lead_s[:-1]) & (stage_s[1:] < stage_s[:-1])
    moved = np.flatnonzero(repeat | backward)
    moved = moved[np.argsort(lead[moved], kind="stable")]  # by lead, each lead's in time order
    found = Moves(lead[moved], rows[moved], day[moved], stage[moved], backward[moved], repeat[moved])
    return found.notices(), found


def _account(raw: RawTable, kept: np.ndarray, other: np.ndarray, excluded: dict, leads: int, changed: int,
             repeated: np.ndarray, reopened: np.ndarray | None = None, idle: np.ndarray | None = None) -> FileAccount:
    """Return where every row of the log went (`changed` of its `leads` have a stage change;
    `repeated` rows name the stage the lead is in again; `reopened`, with history.reopen set, the
    kept rows that reopen a lead rather than name a stage or exit, and `idle` those with no exit
    in force to end: nothing to reopen)."""
    # the labels stay the same whatever the count (JSON's parts[].what); the sentence says '1 stage change'
    whose = _leads_word(leads) if changed == leads else f"{_leads_word(changed)} of the {leads:,} in the log"
    parts = [(int((kept & ~reopened).sum() if reopened is not None else kept.sum()), f"stage changes (of {whose})")]
    if reopened is not None:
        parts.append((int(reopened.sum()), "reopenings (history.reopen)"))
        parts.append((int(idle.sum()) if idle is not None else 0, "reopenings with no exit in force (nothing to reopen)"))
    parts += [(int(other.sum()), "other changes (not selected by history.only)"),
             (int(repeated.sum()), "rows naming the stage the lead is in already (not a change)")]
    first_rows = {}
    for reason, mask in excluded.items():
        count = int(mask.sum())
        what = f"excluded {reason}"
        parts.append((count, what))
        if count:
            first_rows[what] = [int(r) for r in raw.rows[np.flatnonzero(mask)[:SHOW_ROWS]]]
    for what, rows in raw.left_out_parts():
        parts.append((len(rows), what))
        first_rows[what] = rows[:SHOW_ROWS]
    return FileAccount(raw.name, "log", raw.num_rows + raw.left_out, parts, first_rows)


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
