"""Related files joined to the leads by a key: the won deals of each MQL, the account of each deal.

Each join reads its file (only the columns it uses), matches its key to the lead table's (text,
trimmed, exact), and brings its columns in under their canonical names, as text: typing them is
the same as for the export's own columns. A key may be a column an earlier join brought in, so
joins chain (lead -> contact -> account -> opportunity). Several rows for one lead are resolved by
`many:` (first or last, by `order_by` or file order) or refused. Every row of every file is
accounted for: matched, not used (another row of the same key won), unmatched, or excluded.
Vectorised: pandas index lookups, never a loop over rows.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from funnelcli.definitions import Definitions, Join
from funnelcli.errors import InputError, option
from funnelcli.sources import read_joined
from funnelcli.sources.accounting import SHOW_ROWS, RowIssue, issue
from funnelcli.sources.cells import numbers, parse_times
from funnelcli.sources.csvfile import RawTable
from funnelcli.sources.fields import FileAccount, blank_match, blank_out, without_placeholders


def join_files(leads: RawTable, defs: Definitions, bound: dict[str, str] | None = None,
               encoding: str | None = None) -> tuple[RawTable, list[FileAccount], list[RowIssue], list[Unmatched]]:
    """Return the lead table with every join's columns added, where each file's rows went,
    notices about the files, and per join the lead rows no row of its file matches (`Unmatched`:
    settled, and a notice, once the rows that are leads are known; it traces which row each
    lead took, for explain)."""
    accounts: list[FileAccount] = []
    notices: list[RowIssue] = []
    unmatched: list[Unmatched] = []
    for join in defs.joins:
        path = join_path(join, bound)
        needed = [(h, sorted({r.role for r in defs.refs if r.file == join.name and r.header == h}) or [f"join {join.name}"])
                  for h in defs.headers(join.name)]
        raw = read_joined(path, join, needed, encoding)  # a file with no rows yet (no opportunities) leaves every lead unmatched
        raw, blanked = blank_out(raw, defs.blank_values, f"of {raw.name} (join {join.name!r})")
        leads, account, missing, unread = _join_one(leads, raw, join, defs)
        accounts.append(account)
        notices += [n for n in (blanked, unread) if n]
        unmatched.append(missing)
    return leads, accounts, notices, unmatched


@dataclass
class Unmatched:
    """The lead rows (with a key) that no row of a join's file matches, and which of the file's
    rows give their values to which lead rows: settled once the rows that are leads are known."""

    reason: str
    rows: np.ndarray  # bool per row of the lead table
    position: np.ndarray  # per row of the lead table: the file's row (position) it takes, -1: none
    account: FileAccount  # the file's account, whose "matched a lead" this settles
    file_rows: np.ndarray  # the file's row numbers, by position
    trace: JoinTrace  # which row each lead took, kept for explain

    def settle(self, usable: np.ndarray, rows: np.ndarray) -> RowIssue | None:
        """Count apart, in the file's account, its rows that only excluded rows of the export (an
        unparseable date, a duplicate id) matched: they gave no lead its values. Return the notice
        of the unmatched rows that are leads (an excluded row is counted once, for its exclusion).
        Raise for a key of several rows that a lead holds, under many: error."""
        taken = self.position >= 0
        matched = np.zeros(len(self.file_rows), dtype=bool)
        matched[self.position[taken]] = True
        used = np.zeros(len(self.file_rows), dtype=bool)
        used[self.position[taken & usable]] = True
        only = matched & ~used
        parts = self.account.parts
        at = next(i for i, (_, what) in enumerate(parts) if what == MATCHED)
        parts[at] = (parts[at][0] - int(np.count_nonzero(only)), MATCHED)
        repeats = self.trace.repeats  # refused once a lead is known to hold one of its keys
        if repeats is not None:  # its keys' rows, none chosen, matched only excluded rows too (else an error)
            repeats.refuse(usable)
            only |= repeats.rows
            out = next(i for i, (_, what) in enumerate(parts) if what.startswith(NOT_USED))
            parts[out] = (parts[out][0] - int(np.count_nonzero(repeats.rows)), parts[out][1])
            self.account.first_rows.pop(parts[out][1], None)
        n = int(np.count_nonzero(only))
        if n:
            parts.insert(at + 1, (n, ONLY_EXCLUDED))
            self.account.first_rows[ONLY_EXCLUDED] = [int(r) for r in self.file_rows[np.flatnonzero(only)[:SHOW_ROWS]]]
        return issue(self.reason, self.rows & usable, rows, detail="the columns the join brings are blank for those leads")


class SeveralRows(InputError):
    """A lead holds a key of several rows of a join's file under many: error (`validate --data`
    makes it a finding at the join)."""

    def __init__(self, message: str, join: str):
        super().__init__(message)
        self.join = join


@dataclass
class Repeats:
    """Under many: error, the keys of several rows that lead rows hold: an error once one of those
    is a lead (not a row the export excludes: an unparseable date, a duplicate id)."""

    join: str
    file: str
    keys: pa.Array  # the file's distinct keys, by code
    lead_code: np.ndarray  # per row of the lead table: its key's code if that key repeats, else -1
    file_code: np.ndarray  # per row of the file: its key's code
    file_rows: np.ndarray  # the file's row numbers, by position
    rows: np.ndarray  # bool per row of the file: a row of a repeated key that no chosen row stands for

    def refuse(self, usable: np.ndarray) -> None:
        held = self.lead_code[usable & (self.lead_code >= 0)]
        if not len(held):
            return
        codes = np.unique(held)
        first = self.file_code[np.flatnonzero(np.isin(self.file_code, codes))[0]]  # the one the file names first
        rows = self.file_rows[self.file_code == first][:SHOW_ROWS]
        raise SeveralRows(
            f"join {self.join!r}: {self.file} has several rows for one lead ({len(codes):,} key{'s repeat' if len(codes) != 1 else ' repeats'}, "
            f"such as {self.keys[int(first)].as_py()!r} in rows {', '.join(map(str, rows))}); choose one in the "
            f"definitions: many: first or many: last, with order_by: a column of {self.file} (a date, say) to order them",
            self.join)


@dataclass
class JoinTrace:
    """Which row of a join's file each lead took, for `explain`: a few bytes a lead."""

    name: str
    file: str
    many: str
    taken: np.ndarray  # int32 per row of the lead table: the file's row number it took, 0 for none
    keyed: np.ndarray  # bool per row of the lead table: it has a key to look up
    passed_over: tuple  # (row taken, a row of the same key not used), row numbers, sorted by the first
    repeats: Repeats | None = None  # many: error's keys of several rows (only rows the export excludes hold them)

    def of(self, r: int) -> dict:
        """Return what row r of the lead table took: the file's row, the rows passed over, and why."""
        row = int(self.taken[r])
        if row:
            at = slice(*np.searchsorted(self.passed_over[0], [row, row + 1]))
            others = [int(x) for x in self.passed_over[1][at]]
            why = f"row {row} of {self.file}" + (f"; row{'s' if len(others) != 1 else ''} {', '.join(map(str, others))} "
                                                 f"of the same key not used (many: {self.many})" if others else "")
        elif self.repeats is not None and self.repeats.lead_code[r] >= 0:
            others = [int(x) for x in self.repeats.file_rows[self.repeats.file_code == self.repeats.lead_code[r]]]
            why = (f"its key has several rows of {self.file} (rows {', '.join(map(str, others[:5]))}), and many: error takes "
                   "none: the columns the join brings are blank")
        elif self.keyed[r]:
            others, why = [], f"its key matches no row of {self.file}: the columns the join brings are blank"
        else:
            others, why = [], "no key to look up: the columns the join brings are blank"
        return {"join": self.name, "file": self.file, "row": row or None, "not_used": others, "why": why}


MATCHED = "matched a lead"
NOT_USED = "not used (another row of the same key won"
ONLY_EXCLUDED = "matched only rows of the export that are excluded"


def hidden_columns(raw: RawTable, defs: Definitions) -> list[RowIssue]:
    """Return a notice per column of the export a join's name hides (validate warns of it too):
    every use of the name reads the joined file's column."""
    from funnelcli.definitions.model import hidden_advice, hidden_by_joins

    return [RowIssue(f"of the export, {name!r}, hidden by join {join.name!r}", 1, [], unit="column",
                     detail=hidden_advice(name, join)) for name, join in hidden_by_joins(defs, raw.header)]


def join_path(join: Join, bound: dict[str, str] | None) -> str:
    """Return the file of a join: bound on the command line, else its default path."""
    path = (bound or {}).get(join.name) or join.path
    if not path:
        raise InputError(f"join {join.name!r} has no file: pass {option('join')}{join.name}=PATH, "
                         f"or give it a default path: in the definitions")
    if path != "-" and not os.path.exists(path):
        raise InputError(f"join {join.name!r}: {path}: no such file; pass {option('join')}{join.name}=PATH")
    if os.path.isdir(path):
        raise InputError(f"join {join.name!r}: {path}: is a folder, not a file; pass {option('join')}{join.name}=PATH")
    if os.path.isabs(path):  # a default path is absolute: show it from here when it is below here
        relative = os.path.relpath(path)
        path = relative if not relative.startswith("..") else path
    return path


def _key_text(column: pa.ChunkedArray, blank_values: tuple[str, ...] = ()) -> pa.Array:
    """Return a key column as trimmed text (blank, and the definitions' blank values, as null), for
    exact matching: a lead's '--None--' opportunity id is no key, as a blank one is."""
    text = pc.utf8_trim_whitespace(column.combine_chunks())
    blank = pc.equal(text, "")
    if blank_values:
        blank = pc.or_(blank, blank_match(text, blank_values))
    return pc.if_else(blank, pa.scalar(None, pa.string()), text)


def _order(raw: RawTable, join: Join, defs: Definitions) -> tuple[np.ndarray, np.ndarray]:
    """Return the rows' sort keys for `many: first | last` and which values could not be read.

    The order_by column is read as dates when some of its values are dates (and no more are plain
    numbers), else as numbers when some are, else as text; file order without order_by. A blank, a
    placeholder date (9999-12-31) or a value the column's type can't read, sorts last and never wins: one mistyped date in a
    row of another lead must not turn every lead's order into text order ('9/30' after '10/15').
    """
    if not join.order_by:
        return np.arange(raw.num_rows, dtype=np.float64), np.zeros(raw.num_rows, dtype=bool)
    column = raw.column(join.order_by)
    # by the time of day too: two closes on one day are in order
    times, bad_times, _ = parse_times(column, defs.formats(join.order_by), defs.timezone)
    times, _ = without_placeholders(times)  # 9999-12-31 is no date: a blank, which never wins
    dated = int(np.count_nonzero(~np.isnat(times)))
    if dated and not bad_times.any():  # every value a date or blank: no need to try numbers
        return np.where(np.isnat(times), np.inf, times.astype("int64").astype(np.float64)), bad_times
    values, bad_values = numbers(column)
    counted = int(np.count_nonzero(~np.isnan(values)))
    if dated and dated >= counted:
        return np.where(np.isnat(times), np.inf, times.astype("int64").astype(np.float64)), bad_times
    if counted:
        return np.where(np.isnan(values), np.inf, values), bad_values
    _refuse_dates_as_text(raw, join, defs, column)
    text = pd.Series(column.to_pandas(), dtype="str")
    codes = text.rank(method="dense").to_numpy()
    return np.where(np.isnan(codes), np.inf, codes), np.zeros(raw.num_rows, dtype=bool)


def _refuse_dates_as_text(raw: RawTable, join: Join, defs: Definitions, column: pa.ChunkedArray) -> None:
    """Raise when most of an order_by column's values are dates in a format the definitions don't
    give ('9/30/2025'): as text, '9/30/2025' would sort after '10/15/2025' and pick the wrong row."""
    from funnelcli.sources.datacheck import common_format, format_advice

    filled = pc.drop_null(column).slice(0, 1000)
    fmt, read = common_format(filled, defs)
    if fmt is None or 2 * read < len(filled):
        return
    given = f"its formats {list(defs.formats(join.order_by))!r}" if defs.formats(join.order_by) else "ISO dates (2026-03-31)"
    raise InputError(
        f"join {join.name!r}: order_by {join.order_by!r} of {raw.name} holds dates that are not {given}, such as "
        f"{filled[0].as_py()!r}; as text they would not sort in time order. "
        f"Give the column its format: {format_advice(filled, join.order_by, defs.formats(join.order_by), defs, found=(fmt, read))}"
    )


def _join_one(leads: RawTable, raw: RawTable, join: Join, defs: Definitions) -> tuple[RawTable, FileAccount, Unmatched, RowIssue | None]:
    """Return the leads with this join's columns, its file's accounting, the unmatched leads and
    the notice of order_by values that can't be read."""
    lead_text = _key_text(leads.column(defs.header(join.lead_key)), defs.blank_values)  # the file's are blanked already
    file_text = _key_text(raw.column(join.file_key))
    # The file's keys coded once (pyarrow, in C++): a lead finds its key's code by a hash of the
    # file's distinct keys, and the file's rows find theirs by code.
    encoded = pc.dictionary_encode(file_text)
    keys = encoded.dictionary
    file_code = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False)
    lead_code = pc.fill_null(pc.index_in(lead_text, value_set=keys), -1).to_numpy(zero_copy_only=False)
    blank = file_code < 0
    wanted = np.zeros(len(keys) + 1, dtype=bool)  # the last slot stands for a blank key
    wanted[lead_code[lead_code >= 0]] = True
    matches = wanted[file_code]
    lead_has_key = lead_text.is_valid().to_numpy(zero_copy_only=False)
    if not matches.any() and (~blank).any() and lead_has_key.any():
        raise InputError(_nothing_matches(leads, raw, join, defs, lead_text, file_text))
    chosen, unread = _resolve(raw, join, defs, file_code, keys, matches)
    winner = np.full(len(keys) + 1, -1, dtype=np.int64)  # per key code, the row that gives its values
    rows_of = np.flatnonzero(chosen)
    winner[file_code[rows_of]] = rows_of
    position = winner[lead_code]  # -1: no row of this file for the lead (lead code -1 picks the last slot)
    found = position >= 0
    take = pa.array(position, mask=~found)  # a null position takes a blank value
    arrays = {name: leads.column(name) for name in leads.table.column_names}
    for canonical, header in join.columns.items():
        arrays[canonical] = pc.take(raw.column(header), take) if raw.num_rows else pa.nulls(len(position), pa.string())
    table = pa.table({h: (a if isinstance(a, pa.ChunkedArray) else pa.chunked_array([a])) for h, a in arrays.items()})
    account = _account(raw, join, blank, matches, chosen)
    beaten = np.flatnonzero(matches & ~chosen)
    by_winner = np.argsort(winner[file_code[beaten]], kind="stable")
    passed_over = (raw.rows[winner[file_code[beaten]]][by_winner], raw.rows[beaten][by_winner])
    repeats = _repeats(raw, join, keys, lead_code, file_code, matches, chosen)
    trace = JoinTrace(join.name, raw.name, join.many, np.where(found, raw.rows[np.maximum(position, 0)], 0).astype(np.int32)
                      if len(raw.rows) else np.zeros(len(position), dtype=np.int32), lead_has_key, passed_over, repeats)
    missing = Unmatched(f"whose lead matches no row of join {join.name!r} ({raw.name})", ~found & lead_has_key,
                        position, account, raw.rows, trace)
    # the lead file's own rows left out (ragged, a footer) and notices go on with it
    return dataclasses.replace(leads, table=table), account, missing, unread


def _repeats(raw: RawTable, join: Join, keys: pa.Array, lead_code: np.ndarray, file_code: np.ndarray,
             matches: np.ndarray, chosen: np.ndarray) -> Repeats | None:
    """Return, under many: error, the keys of several rows that lead rows hold (None if none)."""
    rows = matches & ~chosen
    if join.many != "error" or not rows.any():
        return None
    repeated = np.zeros(len(keys) + 1, dtype=bool)  # the last slot: a lead row with no key (code -1)
    repeated[file_code[rows]] = True
    return Repeats(join.name, raw.name, keys, np.where(repeated[lead_code], lead_code, -1), file_code, raw.rows, rows)


def _resolve(raw: RawTable, join: Join, defs: Definitions, file_code: np.ndarray, keys: pa.Array,
             matches: np.ndarray) -> tuple[np.ndarray, RowIssue | None]:
    """Return which matching rows give their lead its values (one per key, by `many:`) and the
    notice of the rows among those several of a key whose order_by value can't be read; raise
    for several rows of one key under `many: error`."""
    where = np.flatnonzero(matches)
    codes = file_code[where]
    repeated = np.bincount(codes, minlength=len(keys))[codes] > 1 if len(codes) else np.zeros(0, dtype=bool)
    if not repeated.any() or join.many == "error":  # error: no row of a repeated key is chosen (settled once leads are known)
        chosen = np.zeros(raw.num_rows, dtype=bool)
        chosen[where[~repeated]] = True
        return chosen, None
    sort, bad = _order(raw, join, defs)
    sort = sort[where]
    unread = np.zeros(raw.num_rows, dtype=bool)
    unread[where[repeated]] = bad[where[repeated]]
    notice = issue(f"of {raw.name} (join {join.name!r}) whose {join.order_by!r} can't be read", unread, raw.rows,
                   detail=f"ranked last, as a blank is, when many: {join.many} picks one row of a lead's several; "
                          "correct the values, or set date_format for that column")
    tie = where  # rows of one key and one order_by value: the first in the file for first, the last for last
    if join.many == "last":
        sort = -np.where(np.isinf(sort), -np.inf, sort)  # the latest first; blanks still never win
        tie = -where
    order = np.lexsort((tie, sort, codes))
    first = np.r_[True, codes[order][1:] != codes[order][:-1]] if len(order) else np.zeros(0, dtype=bool)
    chosen = np.zeros(raw.num_rows, dtype=bool)
    chosen[where[order][first]] = True
    return chosen, notice


def _account(raw: RawTable, join: Join, blank: np.ndarray, matches: np.ndarray, chosen: np.ndarray) -> FileAccount:
    """Return where the join file's rows went: used, not used, unmatched, blank key."""
    parts = {
        MATCHED: chosen,
        f"{NOT_USED}, many: {join.many})": matches & ~chosen,
        "matched no lead": ~matches & ~blank,
        "excluded with a blank key": blank,
    }
    first_rows = {what: [int(r) for r in raw.rows[np.flatnonzero(mask)[:SHOW_ROWS]]]
                  for what, mask in parts.items() if mask.any() and what != MATCHED}
    counts = [(int(m.sum()), what) for what, m in parts.items()]
    for what, rows in raw.left_out_parts():
        counts.append((len(rows), what))
        first_rows[what] = rows[:SHOW_ROWS]
    return FileAccount(raw.name, f"join {join.name}", raw.num_rows + raw.left_out, counts, first_rows)


def _nothing_matches(leads: RawTable, raw: RawTable, join: Join, defs: Definitions, lead_key: pa.Array, file_key: pa.Array) -> str:
    """Return the error for a key that matches nothing at all, naming both columns and a few values of each."""
    lead_values = ", ".join(repr(v) for v in pc.unique(pc.drop_null(lead_key))[:3].to_pylist())
    file_values = ", ".join(repr(v) for v in pc.unique(pc.drop_null(file_key))[:3].to_pylist())
    return (f"join {join.name!r}: no row of {raw.name} matches a lead: the leads' {defs.header(join.lead_key)!r} "
            f"(such as {lead_values}) never equals {raw.name}'s {join.file_key!r} (such as {file_values}); "
            "check on: in the join")
