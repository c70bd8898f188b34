"""Why a lead is counted where it is (`funnelcli explain EXPORT ID...`), lead by lead.

For each id asked: the rows it came from, each stage with its evidence (its own date, a status
value, a flag, a condition, the log, or implied by a later stage), its own and effective dates,
its bucket at the as-of date with the arithmetic written out, the purgatory rules that apply, its
exit and market with the rule that matched, its cohort, and whether it is in the report at all
(an excluded row says why, from the accounting). The report is one table with a block of rows per
lead (text shows each lead's id once, a blank line between leads); JSON carries the same facts as
fields under "leads". Only the few rows asked for are looked at one by one: finding them is one
vectorised comparison over the ids.
"""

from __future__ import annotations

import difflib

import numpy as np
import pandas as pd

from funnelcli import __version__
from funnelcli.definitions import OUT_OF_MARKET, TRUE_WORDS, Definitions, describe, walk_leaves
from funnelcli.engine.funnel import DAY, Funnel
from funnelcli.engine.leads import LoadedExport
from funnelcli.errors import FunnelError
from funnelcli.measures.model import Column, Report, Table
from funnelcli.measures.purgatory import touched_and_dropped
from funnelcli.measures.report_parts import export_line, joined_line
from funnelcli.sources import conditions
from funnelcli.sources.csvfile import left_out_unread
from funnelcli.sources.fields import BAD_DATE

SUGGESTIONS = 3  # near ids offered for an id not found
NONE = "none"


def explain(loaded: LoadedExport, f: Funnel, ids: list[str], unread_dates: dict | None = None) -> Report:
    """Return the explanation of each lead asked for, found by id as the run compares ids
    (trimmed text); raise FunnelError, with near ids, when none of them is in the export.
    `unread_dates` gives the cells no format reads of each row excluded for them ({row: [(header,
    text)]}): the lead table keeps no text."""
    asked = list(dict.fromkeys(str(i).strip() for i in ids))
    if "" in asked:  # a blank id names no lead: the rows with one are excluded, and the Rows line counts them
        raise FunnelError("an id given is blank: give each lead's id (rows with a blank id are excluded, and a run's "
                          "Rows line counts them)")
    keys = _id_keys(loaded)
    found = _rows_by_id(keys, asked)
    missing = [{"id": i, "suggestions": near_ids(keys, i)} for i in asked if i not in found]
    unread = _unread(loaded)
    if not found:
        raise FunnelError("; ".join(_missing_line(m, loaded.export) for m in missing) + unread)
    leads = [_lead(loaded, f, i, found[i], unread_dates or {}) for i in asked if i in found]
    title = "Why each lead is counted where it is"
    data = {
        "title": title,
        "version": __version__,
        "export": f.export,
        "definitions": {"paths": list(f.defs.sources), "digest": f.defs.digest, "set": list(f.defs.overrides)},
        "as_of": _day(f.as_of),
        "as_of_source": "option" if f.as_of_given else "latest date in export" if f.as_of is not None else "no dates in export",
        "asked": asked,
        "missing": missing,
        "leads": leads,
        "accounting": f.accounting.as_dict(),
    }
    notes = [_missing_line(m, loaded.export) + unread + "." for m in missing]
    if f.as_of_set_aside is not None:  # as the other reports' notices say it
        notes.append(f"The export has no dates: the as-of date given ({f.as_of_set_aside:%Y-%m-%d}) is set aside; "
                     "there is no earlier state to replay.")
    notes.append(f"Rows: {f.accounting.sentence()}.")
    notes += [f"File: {account.sentence()}." for account in f.accounting.files]
    return Report("explain", title, _meta(f, asked, missing), [_table(leads, f)], notes, data)


# --------------------------------------------------------------------------------------------
# Finding the leads


def _id_keys(loaded: LoadedExport) -> pd.Series:
    """Return each record's id as the run compares ids: trimmed text (NA where blank)."""
    ids = loaded.leads["id"]
    return ids.astype("string").str.strip().replace("", pd.NA)


def _rows_by_id(keys: pd.Series, asked: list[str]) -> dict[str, np.ndarray]:
    """Return, per id asked that the export holds, the positions of its records."""
    hit = keys.isin(asked).fillna(False).to_numpy(dtype=bool)
    positions = np.flatnonzero(hit)
    values = keys.to_numpy(dtype=object)[positions]
    return {i: positions[values == i] for i in asked if (values == i).any()}


def near_ids(keys: pd.Series, wanted: str, most: int = SUGGESTIONS) -> list[str]:
    """Return the ids of the export closest to `wanted` (difflib), best first."""
    known = keys.dropna()
    near = known[(known.str.len() - len(wanted)).abs() <= 2]  # difflib looks at each: keep the plausible ones
    return difflib.get_close_matches(wanted, list(dict.fromkeys(near.tolist())), n=most, cutoff=0.6)


def _unread(loaded: LoadedExport) -> str:
    """Return what to add to 'no lead with id' when rows were left out unread (a field count other
    than the header's, a NUL byte): an id on one of them can't be looked up."""
    unread = [i for i in loaded.excluded if left_out_unread(i.reason)]
    rows, count = [r for i in unread for r in i.rows], sum(i.count for i in unread)
    if not count:
        return ""
    shown = ", ".join(str(r) for r in rows[:5]) + (", ..." if count > 5 else "")
    which = "the row" if count == 1 else f"one of the {count:,} rows"
    return f" (or it is on {which} left out unread, whose fields don't match the header: row{'s' if count != 1 else ''} {shown})"


def _missing_line(missing: dict, export: str) -> str:
    near = missing["suggestions"]
    hint = f" (did you mean {', '.join(repr(s) for s in near)}?)" if near else ""
    return f"no lead with id {missing['id']!r} in {export}{hint}"


# --------------------------------------------------------------------------------------------
# One lead


def _lead(loaded: LoadedExport, f: Funnel, lead_id: str, rows: np.ndarray, unread_dates: dict) -> dict:
    """Return everything about one id: its rows, whether it is in the report, and why."""
    usable = rows[loaded.usable[rows]]
    r = int(usable[0]) if len(usable) else int(rows[0])
    at = np.searchsorted(f.rows, r)
    p = int(at) if at < f.n and f.rows[at] == r else None
    lead = {"id": lead_id, "row": _row(loaded, r), "row_of": "log" if loaded.unit != "rows" else "export"}
    lead["other_rows"] = [{"row": _row(loaded, int(x)), "excluded": _excluded_reason(
                              loaded, int(x), r if len(usable) else None, unread_dates.get(_row(loaded, int(x)), []))}
                          for x in rows if int(x) != r]
    cells = unread_dates.get(lead["row"], []) if not loaded.usable[r] else []
    lead["unreadable_dates"] = [{"column": h, "value": text} for h, text in cells]
    if not loaded.usable[r]:
        lead.update(in_report=False, status="excluded", reason=_excluded_reason(loaded, r, None, cells))
    elif p is None:
        first = f.defs.stages[0].name
        if loaded.reached[r, 0] and f.as_of is not None:
            reason = f"never reached {first} by the as-of date {_day(f.as_of)}"
        elif loaded.unit != "rows" and not loaded.reached[r].any() and not _exited(loaded, r):
            reason = (f"never reached {first}: no row of the lead in the log is a stage change that counts (its rows are "
                      "other changes, or excluded: the log's accounting line says which)")
        else:
            reason = f"never reached {first}: no rule of it holds and no later stage was reached"
        lead.update(in_report=False, status="not in the report", reason=reason)
    else:
        lead.update(in_report=True, status="in the report", reason="reached " + f.defs.stages[0].name)
    lead["joins"] = [trace.of(r) for trace in loaded.joined]
    lead["moves"] = _moves(loaded, f, r)
    lead["stages"] = [_stage(loaded, f, r, p, i) for i in range(len(f.stages))]
    for s, stage in zip(lead["stages"], f.defs.stages):
        text = dict(cells).get(stage.date) if stage.date else None
        if text is not None:  # "not reached" would be wrong: its date is there, but no date the definitions read
            s["short"], s["unreadable"] = "unreadable date", text
            s["why"] = f"{text!r} in {stage.date!r} is no date the definitions read; the row is excluded"
    lead["exit"] = _exit(loaded, f, r, p)
    lead["market"] = _market(loaded, f.defs, r)
    lead["cohort"] = _cohort(f, p)
    return lead


def _moves(loaded: LoadedExport, f: Funnel, r: int) -> list[dict]:
    """Return a log lead's re-entries and moves back by the as-of date (its first entries date its
    stages; the waterfall keeps the furthest stage), each with its day and row of the log."""
    if loaded.moves is None:
        return []
    moves = loaded.moves.of(r)
    if f.as_of is not None:  # a replay leaves out what came after
        moves = moves.until(np.datetime64(f.as_of.date(), "D"))
    out = []
    for row, day, s, back, again in zip(moves.rows, moves.days, moves.stages, moves.back, moves.again):
        stage = f.defs.stages[int(s)].name
        where = f"on {_day(day)} (row {int(row)} of the log)"
        if back:
            why = (f"moved back to {stage} {where}" + (", a stage it had entered before" if again else "")
                   + "; the waterfall keeps the furthest stage reached" + (", and the first entry dates the stage" if again else ""))
        else:
            why = f"entered {stage} again {where}; its first entry dates the stage"
        out.append({"row": int(row), "date": _day(day), "stage": stage, "back": bool(back), "again": bool(again), "why": why})
    return out


def _exited(loaded: LoadedExport, r: int) -> bool:
    return any(bool(met[r]) for met in loaded.exit_met)


def _row(loaded: LoadedExport, r: int) -> int:
    return int(loaded.leads["_row"].iat[r])


def _excluded_reason(loaded: LoadedExport, r: int, lead: int | None, cells: list | tuple = ()) -> str:
    """Return why record r is not a lead, from the accounting: the issue that names its row, else
    the one reason that can apply to it; with the `cells` no date format reads, those."""
    row = _row(loaded, r)
    if cells:
        bad = next(i for i in loaded.excluded if i.reason == BAD_DATE)
        shown = "; ".join(f"{text!r} in {h!r}" for h, text in cells)
        return f"{bad.reason}: {shown}" + (f" ({bad.detail})" if bad.detail else "")
    named = [i for i in loaded.excluded if row in i.rows]
    if named:
        return _reason(named[0])
    if lead is not None and "duplicate" in " ".join(i.reason for i in loaded.excluded):
        return f"with a duplicate id (row {_row(loaded, lead)}, the first usable row of the id, is the lead)"
    # the accounting names the first few rows of each reason: a later row has one of the others
    left = [i for i in loaded.excluded if "duplicate" not in i.reason and "blank id" not in i.reason]
    if len(left) == 1:
        return _reason(left[0])
    return "excluded for one of: " + "; ".join(i.reason for i in left)


def _reason(issue) -> str:
    detail = f" ({issue.detail})" if issue.detail else ""
    return f"{issue.reason}{detail}"


# --------------------------------------------------------------------------------------------
# A stage: its evidence, dates and bucket


def _stage(loaded: LoadedExport, f: Funnel, r: int, p: int | None, i: int) -> dict:
    stage = f.defs.stages[i]
    own = _own_date(loaded, r, i)
    out = {"stage": stage.name, "reached": bool(loaded.reached[r, i]), "how": None, "evidence": None, "short": None,
           "own_date": _day(own), "date": _day(loaded.date[r, i]), "bucket": None, "age_days": None,
           "sla_days": stage.sla_days, "why": ""}
    if loaded.reached[r, i]:
        out["how"], out["evidence"], out["short"] = _evidence(loaded, f.defs, r, i)
    if p is None:
        later = f.as_of is not None and out["date"] is not None and np.datetime64(out["date"]) > np.datetime64(f.as_of.date())
        if loaded.reached[r, i] and later:  # a replay: reached after the as-of date, as for a lead in the report
            out.update(reached=False, how=None, evidence=None, short=None, why=f"not reached by the as-of date: {out['date']} is after it")
        else:
            out["why"] = "not reached" if not loaded.reached[r, i] else "the lead is not in the report"
        return out
    if not f.reached[p, i]:
        out["why"] = "not reached" if not loaded.reached[r, i] else _not_yet_words(f, p, i, out["date"])
        out["reached"] = False
        return out
    if f.implied[p, i] and not loaded.implied[r, i]:
        out["how"], out["evidence"] = "implied", "implied by a later stage: its own date is after the as-of date"
        out["short"] = "implied by a later stage"
    elif loaded.implied[r, i]:  # implied in the export by a stage the replay has not reached yet
        later = next((j for j in range(i + 1, len(f.defs.stages)) if loaded.reached[r, j] and not loaded.implied[r, j]), None)
        if later is not None and not f.reached[p, later]:
            name = f.defs.stages[later].name
            out["evidence"] = f"on its way to {name}, which it reached after the as-of date"
            out["short"] = f"before {name}"
    out["date"] = _day(f.date[p, i])
    out["bucket"], out["why"], out["age_days"] = _bucket(f, p, i)
    purgatory = _purgatory(f, p, i, out["bucket"])
    if purgatory:
        out["why"] += "; " + purgatory
    return out


def _own_date(loaded: LoadedExport, r: int, i: int):
    """Return the stage's own date for record r (NaT when it has none), also when the waterfall
    replaced it by a later stage's earlier date."""
    if i in loaded.late:
        rows, days = loaded.late[i]
        at = np.searchsorted(rows, r)
        if at < len(rows) and rows[at] == r:
            return days[at]
    dated = loaded.dated[r, i] if loaded.dated is not None else not np.isnat(loaded.date[r, i])
    return loaded.date[r, i] if dated and not loaded.implied[r, i] else np.datetime64("NaT")


def _evidence(loaded: LoadedExport, defs: Definitions, r: int, i: int) -> tuple[str, str, str]:
    """Return how record r reached stage i: a key, in words, and in a few words (for the table)."""
    stage = defs.stages[i]
    if loaded.implied[r, i]:
        later = next((defs.stages[j].name for j in range(i + 1, len(defs.stages))
                      if loaded.reached[r, j] and not loaded.implied[r, j]), "a later stage")
        return "implied", f"implied by a later stage ({later})", f"implied by {later}"
    found: list[tuple[str, str, str]] = []
    if stage.when is not None and _holds(loaded, defs, stage.when, r):
        found.append(("condition", f"condition {describe(stage.when)} holds ({_values(loaded, defs, stage.when, r)})", "condition"))
    status = _status(loaded, defs, r)
    if status is not None and defs.stage_values().get(status.strip().casefold()) == ("stage", i):
        found.append(("status", f"status value {status!r} in {defs.header(defs.stage_column)!r}", f"status value {status!r}"))
    if stage.flag:
        words = _flag_words(loaded, defs, stage.flag, r)
        found.append(("flag", words, words))
    own = _own_date(loaded, r, i)
    if defs.history is not None and not found:
        found.append(("log", f"log entry: first entered {stage.name} on {_day(own)}" if not np.isnat(own) else "log entry", "log entry"))
    if stage.date and stage.when is None and stage.flag is None and not found and not np.isnat(own):
        found.append(("date", f"own date in {defs.header(stage.date)!r}", "own date"))
    if not found and i == 0:
        found.append(("every lead", "every lead: the first stage has no rule", "every lead"))
    if not found:
        found.append(("own", "its own evidence", "own evidence"))
    return found[0][0], "; ".join(w for _, w, _ in found), ", ".join(s for _, _, s in found)


def _flag_words(loaded: LoadedExport, defs: Definitions, flag: str, r: int) -> str:
    key = defs.field_key(flag)
    if key in loaded.leads.columns:
        value = loaded.leads[key].iat[r]
        shown = "" if pd.isna(value) else str(value)
        truth = "true" if shown.strip().casefold() in TRUE_WORDS else "not true"
        return f"flag {defs.header(flag)!r} is {shown!r} ({truth})"
    return f"flag {defs.header(flag)!r} is true"


def _status(loaded: LoadedExport, defs: Definitions, r: int) -> str | None:
    if not defs.stage_column:
        return None
    value = loaded.leads[defs.field_key(defs.stage_column)].iat[r]
    return None if pd.isna(value) else str(value)


def _bucket(f: Funnel, p: int, i: int) -> tuple[str | None, str, float | None]:
    """Return the lead's bucket in stage i at the as-of date, the arithmetic in words, and its age."""
    b, stage, k = f.buckets, f.defs.stages[i], len(f.stages)
    nxt = f.stages[i + 1] if i + 1 < k else None
    age = float(f.age(i)[p]) if f.as_of is not None else float("nan")
    if not np.isnat(f.date[p, i]) and not f.own_dated(i)[p]:
        age = float("nan")  # from a borrowed date (an implied stage's, a status stage's): unknown, never shown
    age_days = None if np.isnan(age) else int(age) if age.is_integer() else age  # whole days as integers in JSON
    if b.converted[p, i]:
        return "converted", _converted_words(f, p, i), age_days
    if b.exited[p, i]:
        name = f.defs.exits[f.exit_codes[p]].name
        holds = "at the as-of date" if f.as_of is not None else "(the export has no dates)"
        return "exited", f"exited through {name}" + (f" without reaching {nxt}" if nxt else "") + f": {name} holds {holds}", age_days
    if nxt is None and stage.sla_days is None:
        return None, "the last stage: nothing follows it and it has no SLA", age_days
    if f.as_of is None:
        return "in progress", "the export has no dates: nothing can be stuck: in progress", None
    waiting = f"no {nxt}, no exit" if nxt else "no exit"
    sla = f"SLA {stage.sla_days:g} day{'' if stage.sla_days == 1 else 's'}" if stage.sla_days is not None else ""
    if np.isnan(age):
        if stage.sla_days is None:
            return "in progress", f"{waiting}; no SLA: in progress", None
        return "in progress", f"age unknown: the stage has no own date: in progress ({waiting}; {sla})", None
    since = _since_words(f, p, i, age)
    if stage.sla_days is None:
        return "in progress", f"{since}; no SLA; {waiting}: in progress", age_days
    if b.stuck[p, i]:
        return "stuck", f"{since}; {sla}; {waiting}: stuck ({age:g} > {stage.sla_days:g})", age_days
    return "in progress", f"{since}; {sla}; {waiting}: in progress ({age:g} <= {stage.sla_days:g})", age_days


def _not_yet_words(f: Funnel, p: int, i: int, date: str | None) -> str:
    """Say why a stage the export has the lead reach was not reached by the as-of date."""
    if date is not None:
        return f"not reached by the as-of date: {date} is after it"
    status = f.status_stage()
    if status is not None and 0 <= status[p] <= i and "stage_since" in f.frame.columns:
        since = f.column("stage_since").iat[p]
        if not pd.isna(since) and pd.Timestamp(since).normalize() > f.as_of:
            return (f"not reached by the as-of date: the lead moved to {f.stages[status[p]]} on {since:%Y-%m-%d} "
                    "(the stage-since column), after it")
    return "not reached by the as-of date: an earlier stage is dated after it"


def _since_words(f: Funnel, p: int, i: int, age: float) -> str:
    name, as_of = f.stages[i], _day(f.as_of)
    if np.isnat(f.date[p, i]):  # the age came from the export's stage-since column
        since = pd.Timestamp(f.column("stage_since").iat[p])
        earlier = int(f.latest_before(i)[p])
        if earlier > (since - pd.Timestamp("1970-01-01")).days:
            return (f"in {name} since {_day(np.datetime64(earlier, 'D'))}, an earlier stage's date (the stage-since column's "
                    f"{since:%Y-%m-%d} is before it), {age:g} days before the as-of date {as_of}")
        return f"in {name} since {since:%Y-%m-%d} (the stage-since column), {age:g} days before the as-of date {as_of}"
    return f"entered {name} {_day(f.date[p, i])}, {age:g} day{'s' if age != 1 else ''} before the as-of date {as_of}"


def _converted_words(f: Funnel, p: int, i: int) -> str:
    nxt = f.stages[i + 1]
    day = _day(f.date[p, i + 1])
    later = next((f.stages[j] for j in range(i + 2, len(f.stages)) if f.reached[p, j] and not f.implied[p, j]), None)
    if f.implied[p, i + 1] and later is None:  # a replay: on its way to a stage reached after the as-of date
        text = f"converted: reached {nxt} (on its way to a stage it reached after the as-of date)"
    elif f.implied[p, i + 1]:
        text = f"converted: reached {nxt} (implied by {later}" + (f", dated {day}" if day else "") + ")"
    else:
        text = f"converted: reached {nxt}" + (f" on {day}" if day else " (no date)")
    if f.own_dated(i)[p] and f.own_dated(i + 1)[p]:
        days = float((f.date[p, i + 1] - f.date[p, i]) / DAY)
        text += f", {days:g} day{'s' if days != 1 else ''} after entering {f.stages[i]}"
    elif not f.own_dated(i)[p]:  # velocity takes a step between the lead's own dates only
        why = "is implied by a later stage" if f.implied[p, i] else "has no own date, or one after a later stage's (out of order)"
        text += f"; no days counted: {f.stages[i]} {why}"
    else:
        why = ("is implied" if later is not None else "has no own date") if f.implied[p, i + 1] else \
            "has no own date, or one after a later stage's (out of order)"
        text += f"; no days counted: {nxt} {why}"
    return text


def _purgatory(f: Funnel, p: int, i: int, bucket: str | None) -> str:
    """Return the purgatory that applies to the lead in stage i, with the rule's arithmetic."""
    if bucket not in ("stuck", "in progress"):
        return ""
    parts = []
    if i == 0 and bucket == "stuck" and len(f.stages) > 1:
        parts.append("purgatory: never accepted")
    rule = f.defs.stages[i].purgatory
    dropped = touched_and_dropped(f, i)
    if rule is None:
        return "; ".join(parts)
    if dropped is None:
        return "; ".join(parts + ["the touched-and-dropped rule needs touches and last_activity columns and an as-of date"])
    touches = f.column("touches").iat[p]
    touches = 0.0 if pd.isna(touches) else float(touches)
    as_of = np.datetime64(f.as_of.date(), "D")
    last = np.datetime64(pd.Timestamp(f.frame["last_activity"].iat[f.rows[p]]).date(), "D") if not pd.isna(f.frame["last_activity"].iat[f.rows[p]]) else None
    entry = f.date[p, i]
    since, what = (last, "last activity") if last is not None and last <= as_of and not (last < entry) else (entry, f"entering {f.stages[i]}")
    idle = float((as_of - since) / DAY) if not np.isnat(since) else float("nan")
    touch_words = f"{touches:g} touch{'es' if touches != 1 else ''}"
    if touches > rule.touches_at_most:
        verdict = f"not touched and dropped: {touch_words} (more than {rule.touches_at_most})"
    elif dropped[p]:
        verdict = (f"touched and dropped: {touch_words} (at most {rule.touches_at_most}) and no activity for {idle:g} days "
                   f"since {what} {_day(since)} (at least {rule.idle_days:g})")
    elif np.isnan(idle):  # no last activity by the as-of date and no date of entry: how long is unknown
        verdict = (f"not touched and dropped: {touch_words} (at most {rule.touches_at_most}) but for how long is unknown "
                   f"(no last activity and no date of entering {f.stages[i]})")
    else:
        verdict = (f"not touched and dropped: {touch_words} (at most {rule.touches_at_most}) but idle {idle:g} days "
                   f"since {what} {_day(since)} (fewer than {rule.idle_days:g})")
    return "; ".join(parts + [verdict])


# --------------------------------------------------------------------------------------------
# Exit, market, cohort


def _not_by_then(loaded: LoadedExport, j: int, r: int) -> str:
    """Say why exit j, whose rule holds for record r, is not the lead's exit at the as-of date."""
    day = _exit_day(loaded, j, r)
    return "not at the as-of date (the lead came back)" if np.isnat(day) else f"dated {_day(day)}, after the as-of date"


def _exit(loaded: LoadedExport, f: Funnel, r: int, p: int | None) -> dict:
    """Return the lead's exit at the as-of date (as the export stands, for a lead not in the
    report) and the rule that matched, or why none did."""
    defs = f.defs
    if not defs.exits:
        return {"name": None, "rule": None, "date": None, "why": "the definitions have no exits"}
    j = int(f.exit_codes[p]) if p is not None else int(loaded.leads["exit"].cat.codes.iat[r])
    if j >= 0:
        ex = defs.exits[j]
        why = f"the first exit whose rule holds: {_exit_rule(defs, ex)}{_exit_values(loaded, defs, ex, r)}"
        before, later = [], []  # the exits listed first: their rule does not hold, or not by the as-of date
        for k, e in enumerate(defs.exits[:j]):
            if loaded.exit_met[k][r]:
                later.append(f"{e.name}'s rule holds, but {_not_by_then(loaded, k, r)}")
            else:
                before.append(e.name)
        if before:
            why += f"; {', '.join(before)} {'does' if len(before) == 1 else 'do'} not hold"
        if later:
            why += "; " + "; ".join(later)
        day = _exit_day(loaded, j, r, f.as_of if p is not None else None)
        return {"name": ex.name, "rule": _exit_rule(defs, ex), "date": _day(day), "why": why}
    held = [j for j in range(len(defs.exits)) if loaded.exit_met[j][r]]
    if held and p is not None:  # a rule holds, but not at the as-of date
        ex, day = defs.exits[held[0]], _exit_day(loaded, held[0], r)
        back = loaded.exit_until[held[0]][r] if held[0] in loaded.exit_until else np.datetime64("NaT")
        earlier = _earlier_exit(loaded, held[0], r, f.as_of)
        if earlier is not None:  # out before the as-of date, back by then, out again after it
            later = (f"the lead left on {_day(earlier[0])} and came back on {_day(earlier[1])} (a later change of the log "
                     f"reopened it); it left again on {_day(day)}, after the as-of date {_day(f.as_of)}")
        elif not np.isnat(day) and (f.as_of is None or day > np.datetime64(f.as_of.date(), "D")):
            later = f"dated {_day(day)}, after the as-of date {_day(f.as_of)}"
        elif not np.isnat(back):  # a log's lead reopened by a later change
            later = f"the lead came back on {_day(back)} (a later change of the log reopened it)"
        else:
            later = "the lead came back by the as-of date"
        return {"name": None, "rule": None, "date": None, "why": f"none at the as-of date: {ex.name}'s rule holds, but {later}"}
    rules = "; ".join(f"{e.name}: {_exit_rule(defs, e)}" for e in defs.exits)
    shown = {v for e in defs.exits for v in [_exit_values(loaded, defs, e, r)] if v}
    return {"name": None, "rule": None, "date": None,
            "why": f"no exit's rule holds ({rules})" + (f"; the lead has {next(iter(shown)).strip()[1:-1]}" if len(shown) == 1 else "".join(sorted(shown)))}


def _earlier_exit(loaded: LoadedExport, j: int, r: int, as_of) -> tuple | None:
    """Return (left, came back) of record r's latest time out through exit j that ended by the
    as-of date, when its last exit is after it (a log's lead lost, reopened, lost again); else None."""
    if as_of is None or j not in loaded.exit_spans:
        return None
    rows, start, end = loaded.exit_spans[j]
    limit = np.datetime64(as_of.date(), "D")
    mine = np.flatnonzero((rows == r) & (end <= limit))
    if not len(mine):
        return None
    last = mine[np.argmax(end[mine])]
    return start[last], end[last]


def _exit_rule(defs: Definitions, ex) -> str:
    parts = []
    if ex.when is not None:
        parts.append(describe(ex.when))
    if defs.stage_column or defs.history is not None:
        values = " or ".join(repr(v) for v in ex.values or (ex.name,))
        parts.append(f"status {defs.header(defs.stage_column)!r} is {values}" if defs.stage_column else f"a change of the log to {values}")
    if ex.date and ex.when is None and not parts:
        parts.append(f"a date in {defs.header(ex.date)!r}")
    return " or ".join(parts)


def _exit_values(loaded: LoadedExport, defs: Definitions, ex, r: int) -> str:
    shown = _values(loaded, defs, ex.when, r) if ex.when is not None else ""
    status = _status(loaded, defs, r)
    if defs.stage_column and not any(defs.field_key(leaf.field) == defs.field_key(defs.stage_column) for leaf in walk_leaves(ex.when)):
        shown = ", ".join(x for x in (shown, f"{defs.header(defs.stage_column)} {status!r}" if status is not None else "") if x)
    return f" ({shown})" if shown else ""


def _exit_day(loaded: LoadedExport, j: int, r: int, as_of=None):
    """Return the day record r left through exit j: its last exit change, or in a replay (`as_of`)
    the one it was out through then (a log's lead lost, reopened, lost again)."""
    day = loaded.exit_dates[j][r] if j in loaded.exit_dates else np.datetime64("NaT")
    if as_of is not None and j in loaded.exit_spans and not np.isnat(day) and day > np.datetime64(as_of.date(), "D"):
        rows, start, end = loaded.exit_spans[j]
        limit = np.datetime64(as_of.date(), "D")
        mine = np.flatnonzero((rows == r) & (start <= limit) & (end > limit))
        if len(mine):
            return start[mine[0]]
    return day


def _market(loaded: LoadedExport, defs: Definitions, r: int) -> dict | None:
    """Return the lead's market and the rule that put it there: the first market whose rule holds."""
    if not defs.markets:
        return None
    name = str(loaded.leads["market"].iat[r])
    chosen = next((j for j, m in enumerate(defs.markets) if m.name == name), len(defs.markets))
    failed = [f"{m.name}: {describe(m.when)} ({_values(loaded, defs, m.when, r)})" for m in defs.markets[:chosen]]
    if chosen == len(defs.markets):
        return {"name": OUT_OF_MARKET, "rule": None, "why": f"no market's rule holds: {'; '.join(failed)}"}
    m = defs.markets[chosen]
    why = f"the first market whose rule holds: {describe(m.when)} ({_values(loaded, defs, m.when, r)})"
    if failed:
        names = [x.name for x in defs.markets[:chosen]]
        why += f"; {', '.join(names)} before it {'does' if len(names) == 1 else 'do'} not hold"
    return {"name": name, "rule": describe(m.when), "why": why}


def _cohort(f: Funnel, p: int | None) -> dict | None:
    """Return the lead's cohort: the month it entered the first stage."""
    if p is None:
        return None
    first, day = f.stages[0], f.date[p, 0]
    if np.isnat(day):
        return {"period": None, "stage": first, "entered": None, "why": f"no date for {first}: in no cohort period"}
    month = str(day.astype("datetime64[M]"))
    return {"period": month, "stage": first, "entered": _day(day),
            "why": f"entered {first} {_day(day)}: the {month} cohort (by month, as trends counts by default)"}


# --------------------------------------------------------------------------------------------
# Fields and conditions of one record


def _holds(loaded: LoadedExport, defs: Definitions, cond, r: int) -> bool:
    return bool(conditions.evaluate(cond, loaded.leads.iloc[[r]], defs.field_key, conditions.reading(defs))[0])


def _values(loaded: LoadedExport, defs: Definitions, cond, r: int) -> str:
    """Return the record's values of the fields a condition tests: "employees 1200, country 'Germany'"."""
    shown = {}
    for leaf in walk_leaves(cond):
        key = defs.field_key(leaf.field)
        if key in loaded.leads.columns and leaf.field not in shown:
            shown[leaf.field] = _value(loaded.leads[key].iat[r])
    return ", ".join(f"{name} {value}" for name, value in shown.items())


def _value(value) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "blank"
    if isinstance(value, (pd.Timestamp, np.datetime64)):
        return pd.Timestamp(value).strftime("%Y-%m-%d")
    if isinstance(value, (float, np.floating)):
        return f"{float(value):g}"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return repr(str(value))


def _day(value) -> str | None:
    """Return a date as YYYY-MM-DD; None for none (NaT)."""
    if value is None:
        return None
    if isinstance(value, np.datetime64):
        return None if np.isnat(value) else str(value.astype("datetime64[D]"))
    return value.strftime("%Y-%m-%d")


# --------------------------------------------------------------------------------------------
# The report


def _meta(f: Funnel, asked: list[str], missing: list[dict]) -> list[tuple[str, str]]:
    as_of = _day(f.as_of)
    meta = [
        ("Export", export_line(f)),
        ("Definitions", f"{', '.join(f.defs.sources)} (digest {f.defs.digest})"),
        ("As of", f"{as_of} ({'given with --as-of' if f.as_of_given else 'the latest date in the export'})" if as_of
         else "none: the export has no dates (nothing can be stuck)"),
    ]
    if f.defs.overrides:
        meta.insert(2, ("Set", "; ".join(f.defs.overrides)))
    joined = joined_line(f.accounting)
    if joined:  # as the other reports' headers name them
        meta.insert(1, ("Joined", joined))
    found = len(asked) - len(missing)
    text = f"{len(asked)} asked, {found} found"
    if missing:
        text += f"; not found: {', '.join(m['id'] for m in missing)}"
    meta.append(("Leads", text))
    return meta


COLUMNS = [
    Column("id", "Lead", "group"),
    Column("item", "Item"),
    # to fit a terminal the dates go first, the Why last: it is what the command is for
    Column("value", "Reached / value", priority=2, prose=True),
    Column("own_date", "Own date", priority=4),
    Column("date", "Date", priority=3),
    Column("bucket", "Bucket", priority=2),
    Column("why", "Why", prose=True),
    Column("kind", "Kind", hidden=True),
    Column("how", "How", hidden=True),
    Column("age_days", "Age (days)", "days", hidden=True),
    Column("sla_days", "SLA (days)", "days", hidden=True),
]


def _table(leads: list[dict], f: Funnel) -> Table:
    rows = []
    for lead in leads:
        rows += _lead_rows(lead, f.export)
    notes = [
        "Reached / value: how the lead reached each stage (its own date, a status value, a flag, a condition, the log, or "
        "implied by a later stage). Own date: the stage's date from the lead's own record; Date: the effective date, "
        "borrowed from a later stage where there is no own date. Bucket: at the as-of date; stuck means older in the "
        "stage than its SLA, with no next stage and no exit."
    ]
    return Table("explain", None, COLUMNS, rows, notes)


def _lead_rows(lead: dict, export: str) -> list[dict]:
    """Return the table rows of one lead: its row, each stage, its exit, market and cohort."""
    def row(kind: str, item: str, value, why: str, **more) -> dict:
        return {"id": lead["id"], "item": item, "value": value, "own_date": None, "date": None, "bucket": None,
                "why": why, "kind": kind, "how": None, "age_days": None, "sla_days": None, **more}

    where = f"row {lead['row']} of {export}" + (" (the lead's first row in the log)" if lead["row_of"] == "log" else "")
    out = [row("row", "Row", str(lead["row"]), f"{where}; {lead['status']}: {lead['reason']}")]
    out += [row("row", "Row", str(o["row"]), f"also row {o['row']}: excluded, {o['excluded']}") for o in lead["other_rows"]]
    out += [row("join", f"Join {j['join']}", str(j["row"]) if j["row"] else NONE, j["why"]) for j in lead.get("joins", [])]
    out += [row("move", "Moved back, re-entered" if m["back"] and m["again"] else "Moved back" if m["back"] else "Re-entered",
                m["stage"], m["why"], date=m["date"])
            for m in lead.get("moves", [])]
    for s in lead["stages"]:
        value = s["short"] if s["reached"] or s.get("unreadable") else "not reached"
        out.append(row("stage", s["stage"], value, s["why"], own_date=s["own_date"], date=s["date"], bucket=s["bucket"],
                       how=s["how"], age_days=s["age_days"], sla_days=s["sla_days"]))
    ex = lead["exit"]
    out.append(row("exit", "Exit", ex["name"] or NONE, ex["why"], date=ex["date"]))
    if lead["market"] is not None:
        out.append(row("market", "Market", lead["market"]["name"], lead["market"]["why"]))
    if lead["cohort"] is not None:
        c = lead["cohort"]
        out.append(row("cohort", "Cohort", c["period"] or NONE, c["why"], date=c["entered"]))
    return out

