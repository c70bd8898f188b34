"""Definitions guessed from names and values, for an export init does not recognise, and the
pieces every layout shares: exits and won values among statuses, the order of status values,
dimensions, date formats and placeholders.
"""

from __future__ import annotations

import datetime as dt
import re
import statistics

from funnelcli.definitions.model import NUMBER_FORMATS
from funnelcli.init.columns import NOT_A_STAGE_DATE, Column, by_rows, find, id_column, placeholders
from funnelcli.init.dates import typical
from funnelcli.init.draft import Draft, Entry, Item, value_item
from funnelcli.init.sample import Sample

EXITS = (  # an exit's name and the status values that look like it
    ("Disqualified", r"unqualified|disqualified|not qualified|bad fit|no fit|junk|spam|invalid|rejected|not converted|duplicate"),
    ("Lost", r"lost|dead|not interested|no response|churn"),
    ("Recycled", r"nurture|recycl|bad timing|not now"),
)
WON = r"\bwon\b|^customer$|closed\W{0,3}converted|^converted$|signed"
DIMENSIONS = ("created", "owner", "source", "industry", "country", "employees", "amount", "touches", "last_activity", "stage_since")
DATE_ROLES = ("created", "last_activity", "stage_since")
SLA_HINT = ["Add sla_days: N to a stage (the days a lead may wait there before the next team must act)",
            "to count the leads stuck past it; see the README's Definitions section."]


def exit_of(value: str) -> str | None:
    """Return the name of the exit a status value looks like (Disqualified, Lost, Recycled), or None."""
    return next((name for name, pattern in EXITS if re.search(pattern, value, re.IGNORECASE)), None)


def is_won(value: str) -> bool:
    return bool(re.search(WON, value, re.IGNORECASE))


def split_statuses(values: list[str]) -> tuple[list[str], dict[str, list[str]], list[str]]:
    """Return a status column's values as (stage values, exit name -> its values, won values)."""
    stages, exits, won = [], {}, []
    for v in values:
        name = exit_of(v)
        if name:
            exits.setdefault(name, []).append(v)
        elif is_won(v):
            won.append(v)
        else:
            stages.append(v)
    return stages, exits, won


def order_statuses(values: list[str], column: Column, known: tuple[str, ...] = (), created: Column | None = None,
                   since: Column | None = None, columns: list[Column] = ()) -> tuple[list[str], str]:
    """Return the stage values of a status column in funnel order, and how the order was found.

    Values of the CRM's default pipeline (`known`) come first in its order; the others follow by
    the number each starts with when every one does ('1 - New', '2 - Working'), else by the
    median of a probability column of their rows (Salesforce's Probability (%), among `columns`),
    else by the median days from creation to the last stage change of their rows when the export
    has both dates, else by how many rows hold them. Every order but the CRM's asks to be checked.
    """
    rank = {k.casefold(): i for i, k in enumerate(known)}
    listed = sorted((v for v in values if v.casefold() in rank), key=lambda v: rank[v.casefold()])
    rest = [v for v in values if v.casefold() not in rank]
    if not rest:
        return listed, "in the CRM's default pipeline order"
    numbered = {v: _LEADING_NUMBER.match(v) for v in rest}
    probability = next((c for c in columns if c.numeric and re.search(r"(?i)probab", c.header)), None)
    odds = _medians(rest, column, probability) if probability is not None else None
    gaps = _median_gaps(rest, column, created, since)
    if all(numbered.values()):
        rest.sort(key=lambda v: (float(numbered[v].group(1)), v))
        how = "ordered by the number each starts with; check the order"
    elif odds is not None:
        # a tie (Salesforce gives Prospecting and Qualification 10% each) by the dates where they show it
        rest.sort(key=lambda v: (odds[v], gaps[v] if gaps is not None else 0))
        tied = [v for v in rest if sum(odds[w] == odds[v] for w in rest) > 1]
        how = f"ordered by the median {probability.header!r} of their rows; check the order" + (
            f" (check: {', '.join(tied)} have the same {probability.header!r}"
            + (", ordered by the median days from creation to the last stage change)" if gaps is not None else ")")
            if tied else "")
    elif gaps is not None:
        rest.sort(key=lambda v: gaps[v])
        how = "ordered by the median days from creation to the last stage change; check the order"
    else:
        how = "check: ordered by how many rows hold them, as nothing in the export shows their order: put them in funnel order"
    return listed + rest, ("the CRM's default stages first, then " + how) if listed else how


_LEADING_NUMBER = re.compile(r"^\s*(\d+(?:\.\d+)?)(?=[\s.):\-]|$)")  # '1 - New', '2. Working', '10) Won'


def _medians(values: list[str], column: Column, numbers: Column) -> dict | None:
    """Return each value's median of `numbers` over the rows holding it (None when a value has none)."""
    found: dict[str, list[float]] = {v: [] for v in values}
    for cell, number in zip(column.cells, numbers.cells):
        if cell in found and number:
            try:
                found[cell].append(float(number.replace(",", "").rstrip("%")))
            except ValueError:
                continue
    if any(not f for f in found.values()):
        return None
    return {v: statistics.median(f) for v, f in found.items()}


def _median_gaps(values: list[str], column: Column, created: Column | None, since: Column | None) -> dict | None:
    if not (created and since and created.dates and since.dates):
        return None
    gaps: dict[str, list[int]] = {v: [] for v in values}
    for cell, start, end in zip(column.cells, created.dates.days, since.dates.days):
        if cell in gaps and start and end:
            gaps[cell].append((end - start).days)
    if any(not g for g in gaps.values()):
        return None
    return {v: statistics.median(g) for v, g in gaps.items()}


def map_dimensions(draft: Draft, columns: list[Column], named: dict[str, str] | None = None) -> None:
    """Map the columns a report can break down by or needs (owner, source, created...): the
    CRM's own headers in `named` first, then any column whose name says it."""
    headers = {c.header: c for c in columns}
    for role, header in (named or {}).items():
        if header in headers and (role not in DATE_ROLES or headers[header].dates):
            draft.column(role, header)
    for role in DIMENSIONS:
        if any(e.key == role for e in draft.columns):
            continue
        taken = {e.value for e in draft.columns}
        test = (lambda c: bool(c.dates)) if role in DATE_ROLES else \
            (lambda c: c.numeric) if role in ("amount", "touches") else (lambda c: not c.dates)
        found = find(columns, role, taken, test)
        if found is not None:
            draft.column(role, found.header, "guessed from its name; check it")


def date_settings(draft: Draft, columns: list[Column], headers: list[str]) -> None:
    """Add `date_format:` (or per column `date_formats:`) for the date columns the definitions read."""
    by_header = {c.header: c for c in columns}
    used = [by_header[h] for h in dict.fromkeys(headers) if h in by_header and by_header[h].dates]
    needing = [c for c in used if c.dates.formats]
    if not needing:
        if used:
            draft.intro.append("The dates are ISO (2024-06-03 14:05): no date_format needed.")
        return
    orders = set().union(*(c.dates.orders for c in needing))
    numbers = [c for c in needing if set(c.dates.formats) & set(NUMBER_FORMATS)]  # excel, epoch, epoch_ms
    if len(orders) > 1 or numbers:
        per = {c.header: list(c.dates.formats) for c in needing}
        draft.settings.append(Entry("date_formats", per, _per_column_note(needing, len(orders) > 1)))
    else:
        formats = list(dict.fromkeys(f for c in needing for f in c.dates.formats))
        examples = "; ".join(f"{c.header}: {_example(c)!r}" for c in needing[:3])
        draft.intro.append(f"Dates as the export writes them ({examples}): date_format lists their formats.")
        draft.settings.append(Entry("date_format", formats, "tried in order, per value; ISO dates always read"))
    for c in needing:
        if c.dates.ambiguous:
            draft.intro.append(f"check: {c.header!r} has no day above 12 in the rows read, so day/month order "
                               "is a guess (3/4/2024 read as March 4): swap %d and %m if it is wrong.")


NUMBER_FORMAT_NOTES = {"excel": "Excel serial day numbers (45292 = 2024-01-01)",
                       "epoch_ms": "Unix time in milliseconds (1709251200000 = 2024-03-01 UTC)",
                       "epoch": "Unix time in seconds (1709251200 = 2024-03-01 UTC)"}


def _per_column_note(needing: list[Column], differ: bool) -> str:
    """Return the comment on `date_formats:`: why each column has its own, and what a number format reads."""
    found = list(dict.fromkeys(f for c in needing for f in c.dates.formats if f in NUMBER_FORMAT_NOTES))
    notes = "; ".join(f"{f}: {NUMBER_FORMAT_NOTES[f]}" for f in found)
    if differ or not notes:
        return "each column's own formats (they differ)" + (f"; {notes}" if notes else "")
    return f"each column's own formats; {notes}"


def _example(column: Column) -> str:
    return next(cell for cell, day in zip(column.cells, column.dates.days) if day is not None and not re.match(r"^\d{4}-", cell))


def failing_dates(draft: Draft, columns: list[Column], headers: list[str]) -> None:
    """Note the date columns the definitions read where some values read as no date."""
    for c in columns:
        if c.header in headers and c.dates and c.dates.failed:
            n = c.dates.failed
            draft.outro.append(f"check: {n:,} value{'s' if n != 1 else ''} of {c.header!r} in the rows read "
                               f"{'are' if n != 1 else 'is'} not {'dates' if n != 1 else 'a date'} "
                               f"(e.g. {c.dates.example_failed!r}); the run leaves such rows out: fix them, or "
                               "list the value under blank_values")


def blank_setting(draft: Draft, sample: Sample) -> None:
    found = placeholders(sample)
    if found:
        draft.settings.append(Entry("blank_values", found, "placeholders the export writes for no value; read as blank"))


def date_headers(draft: Draft) -> list[str]:
    """Return every header the draft reads as a date."""
    out = [e.value for e in draft.columns if e.key in DATE_ROLES]
    out += [e.value for item in draft.stages + draft.exits for e in item.entries if e.key == "date"]
    mapped = {e.key: e.value for e in draft.columns}
    out = [mapped.get(h, h) for h in out]
    out += [e.value for e in draft.history if e.key == "at"]
    return out


def finish(draft: Draft, sample: Sample, columns: list[Column]) -> Draft:
    """Add what every layout shares: placeholders, date formats, notes on dates and unmapped columns."""
    blank_setting(draft, sample)
    headers = date_headers(draft)
    date_settings(draft, columns, headers)
    failing_dates(draft, columns, headers)
    if sample.other_rows:
        n = sample.other_rows
        draft.outro.append(f"{n:,} line{'s' if n != 1 else ''} of the rows read {'are' if n != 1 else 'is'} a report footer "
                           "or ha" + ("ve" if n != 1 else "s") + " another number of fields than the header (a report footer "
                           "is left out by the run; other such lines are reported)")
    if draft.stages and not any(e.key == "sla_days" for s in draft.stages for e in s.entries):
        draft.stages_above = SLA_HINT + draft.stages_above
    used = {e.value for e in draft.columns} | set(headers) | _history_columns(draft)
    used |= {e.value for s in draft.stages for e in s.entries if e.key == "flag"}
    rest = [c.header for c in columns if c.header not in used]
    if rest:
        shown = ", ".join(repr(h) for h in rest[:12]) + (f" and {len(rest) - 12} more" if len(rest) > 12 else "")  # quoted: a name may hold spaces
        draft.outro.append(f"Columns not used yet (map one under columns: to break down by it, --by NAME): {shown}")
    return draft


def _history_columns(draft: Draft) -> set[str]:
    """Return the headers a log's `history:` reads: its stage and time columns, and the fields its
    `only:` condition tests."""
    used = {e.value for e in draft.history if e.key in ("stage", "at")}

    def fields(condition) -> None:
        if isinstance(condition, dict):
            for key, test in condition.items():
                if key in ("all", "any", "not"):
                    for part in test if isinstance(test, list) else [test]:
                        fields(part)
                else:
                    used.add(key)

    for e in draft.history:
        if e.key == "only":
            fields(e.value)
    return used


# --------------------------------------------------------------------------------------------
# An export init does not recognise


def generic(sample: Sample, columns: list[Column]) -> Draft:
    """Return definitions guessed from the columns' names and values."""
    draft = Draft("an export it did not recognise")
    draft.intro.append("funnelcli init did not recognise this export's layout: everything below is guessed from "
                       "the column names and values. Check each line marked 'check'.")
    ident, why = id_column(columns)
    draft.column("id", ident.header, why)
    map_dimensions(draft, columns)
    created = next((c for c in columns if c.header == _mapped(draft, "created")), None)
    stage_dates = [c for c in columns if c.dates and c is not created and c.header not in {e.value for e in draft.columns}
                   and not NOT_A_STAGE_DATE.search(c.header) and not exit_of(c.header)]
    status = _status_column(columns, draft)
    if stage_dates:
        _wide(draft, stage_dates, created)
        _exits_from(draft, columns, status)
    elif status is not None:
        _status_stages(draft, status, columns, created)
    else:
        _flag_stages(draft, columns, created)
    return finish(draft, sample, columns)


def _mapped(draft: Draft, role: str) -> str | None:
    return next((e.value for e in draft.columns if e.key == role), None)


def _status_column(columns: list[Column], draft: Draft) -> Column | None:
    taken = {e.value for e in draft.columns}
    few = [c for c in columns if c.few and c.header not in taken and c.named("status") and not c.flag]
    few.sort(key=lambda c: 0 if re.search(r"stage", c.header, re.IGNORECASE) else 1)
    return few[0] if few else None


def stage_name(header: str) -> str:
    """Return a stage's name from its date column's header: 'mql_date' -> 'MQL', 'Demo Date' -> 'Demo'."""
    name = re.sub(r"(?i)\b(became an?|date|time|timestamp|at|on|entered|reached)\b", " ", header.replace("_", " "))
    name = re.sub(r"\s+", " ", name).strip(" -") or header
    acronym = name.casefold() in ACRONYMS or (len(name) <= 4 and name.isalpha() and not re.search(r"[aeiouy]", name, re.I))
    return name.upper() if acronym else name[:1].upper() + name[1:]  # 'mql' -> MQL, 'won' -> Won


ACRONYMS = {"mql", "sql", "sal", "pql", "sqo", "sao", "mqa", "sqa"}  # the waterfall's stages, as they are written


def _stage_order(columns: list[Column]) -> list[Column]:
    """Order stage date columns: by how many other columns each is dated before, in most of the
    rows that have both (minus those it is dated after); then the one more rows have (a funnel
    narrows); then the earlier median; then the name. One score a column, so the order never depends on the
    columns' order in the file. A median alone put a column filled in 30% of the rows, early
    ones, before one filled in all of them, and the waterfall then had every lead converted."""
    import numpy as np  # init reads a sample of 2,000 rows: numpy only here, --help stays light

    days = np.array([[np.nan if d is None else d.toordinal() for d in c.dates.days] for c in columns], dtype=float)
    with np.errstate(invalid="ignore"):
        before = (days[:, None, :] < days[None, :, :]).sum(axis=2)  # [a, b]: rows where a is dated before b
    score = np.sign(before - before.T).sum(axis=1)
    filled = (~np.isnan(days)).sum(axis=1)
    median = [typical(c.dates.days) or dt.date.max for c in columns]
    return [columns[i] for i in sorted(range(len(columns)), key=lambda i: (-score[i], -filled[i], median[i], columns[i].header))]


def _wide(draft: Draft, stage_dates: list[Column], created: Column | None) -> None:
    stage_dates = _stage_order(stage_dates)
    if created is not None:
        draft.stages.append(Item("Lead", [Entry("date", created.header, "every lead with a creation date")]))
    for c in stage_dates:
        blank = "" if c.dates.read else f"; check: blank in the {len(c.cells):,} rows read"
        draft.stages.append(Item(stage_name(c.header), [Entry("date", c.header, f"reached when the date is filled{blank}")]))
    draft.stages_above.append("Stages from the date columns, ordered by which comes first where a lead has both dates, "
                              "else by how many leads have each: check the order and the names.")


def _exits_from(draft: Draft, columns: list[Column], status: Column | None) -> None:
    """Add exits: status values that look like ways out, and date columns named like one (lost_at)."""
    for c in columns:
        name = exit_of(c.header)
        if c.dates and name and all(x.name != name for x in draft.exits):
            draft.exits.append(Item(name, [Entry("date", c.header, "out when the date is filled")]))
    if status is None:
        return
    more = ", ..." if len(status.counts) > 8 else ""
    draft.column("status", status.header, f"{len(status.counts)} values: {', '.join(by_rows(status)[:8])}{more}")
    _, exits, _ = split_statuses(by_rows(status))
    for name, values in exits.items():
        if all(x.name != name for x in draft.exits):
            draft.exits.append(Item(name, [Entry("when", {"status": {"in": values}})], comment="check the values"))
    if exits:
        draft.exits_above.append(f"Ways out: the {status.header!r} values that look like one (check them).")


def _status_stages(draft: Draft, status: Column, columns: list[Column], created: Column | None) -> None:
    draft.column("stage_now", status.header, "a status column: where each lead is now")
    draft.settings.append(Entry("stage_column", "stage_now", "a lead reached every stage up to the one it names"))
    values, exits, won = split_statuses(by_rows(status))
    since = next((c for c in columns if c.header == _mapped(draft, "stage_since")), None)
    ordered, how = order_statuses(values, status, (), created, since, columns)
    draft.stages_above.append(f"Stages: the values of {status.header!r}, {how}.")
    for i, value in enumerate(ordered + won):
        item = value_item(value, draft.stages)
        if item is None:
            continue
        if i == 0 and created is not None:
            item.entries.append(Entry("date", created.header, "when the lead entered the funnel"))
        if value in won:
            item.comment = "looks like the won value: the last stage"
        draft.stages.append(item)
    for name, names in exits.items():
        draft.exits.append(Item(name, [Entry("values", names)], comment="check the values"))


FUNNEL_FLAG = re.compile(r"convert|qualif|\bwon\b|is_won|customer|opportunit|accepted|booked|demo|meeting", re.IGNORECASE)


def _flag_stages(draft: Draft, columns: list[Column], created: Column | None) -> None:
    flags = [c for c in columns if c.flag and FUNNEL_FLAG.search(c.header) and not re.search(r"(?i)do not|opt|unsub", c.header)]
    flags.sort(key=lambda c: -sum(n for v, n in c.counts.items() if v.casefold() in ("1", "true", "yes", "y", "x", "checked")))
    first = Item("Lead", comment="every lead")
    if created is not None:
        first = Item("Lead", [Entry("date", created.header, "when the lead entered the funnel")])
    draft.stages.append(first)
    for c in flags:
        draft.stages.append(Item(stage_name(c.header), [Entry("flag", c.header, "true/false per lead")]))
    if flags:
        draft.stages_above.append("Stages from the true/false columns, most leads first: check the order.")
    else:
        draft.stages_above.append("check: init found no stage dates, status column or flags; add your stages "
                                  "(a date column, a flag, or a condition each)")
