"""Property tests across export shapes: one generated funnel, written as four exports, gives the
same numbers wherever the shapes carry the same information (docs/metrics.md "Export shapes",
"Reached and entered", "Stages with no own date", "As-of date"), and every file is accounted for.

The funnel: stages A -> B -> C -> D (each with or without sla_days) and one exit, Lost. 1-40
leads, each with a furthest stage and a distinct entry day for each stage it entered (it may
skip any stage before its furthest, A too; one lead in eight has two stages' days swapped, out
of order), sometimes a Lost day on or after its last day; plus 0-3 leads that reached nothing,
and rows that are not leads. Written as:

1. **wide**: a row per lead, a date column per stage and a Lost date column (`date:` rules);
2. **log**: a stage-history log (`history:` with `only:`): a row per stage entry (Pipedrive
   style values "1".."4", "lost", in any case and padding), owner changes `only:` selects away
   (a lead's owner is its latest row's), re-entries of a stage entered before (its first entry
   counts), rows with a blank id, no date, or a value naming no stage, padded ids; a lead's
   changes of one day stay in order, the rest in any order; dates with or without a time;
3. **joined**: the lead table with A and B dates and an opportunity id (or, half the time, a
   contact id, and a contacts file giving the opportunity: a chain), joined (`joins:`, bound
   with `--join`) to an opportunities file with C, D and Lost dates; keys padded here and there;
   `many: last` by an `updated` column passes over stale older rows; opportunities that match
   no lead and rows with a blank key are accounted for;
4. **status**: a row per lead naming its current (furthest) stage in a status column
   (`stage_column:`, any case and padding), the first stage's date (`date:` on A), a
   `stage_since` column (the day it entered its current stage) and an open/lost state column:
   exit Lost by the state value (`when:`) with its date (like the reference status definitions:
   a lost deal keeps its stage).

Checked through `funnelcli conversion -f json`, in-process:
- wide, log and joined: the same as-of date and, per stage, reached, entered, skipped,
  converted, exited, stuck, in progress, rates, velocity (median, p75, p90) and cycle time, at
  the export's as-of date and replayed at a day inside the data (with a --since/--until cohort
  range, sometimes on a lead's first day); the same by owner; all of it equal to a per-lead
  model of the funnel (`expected`, plain Python);
- status: the same as-of date, reached, converted, exited, stuck and in progress as wide (also by
  owner), at the status export's as-of date (its latest date: the wide export's, unless a middle
  stage was entered out of order); entered counts own evidence only (A's date, the stage named);
  velocity and cycle time empty (null, never 0); replayed, the numbers docs/metrics.md gives for
  stages with no date (`expected_status`);
- the log replayed as of D gives the report of the log's rows up to D, leads reopened after
  Lost (their latest change is a stage) among them;
- every report: the four buckets partition reached(S), reached(T) = converted(S), rates empty
  exactly on a zero denominator and else in [0, 1]; accounting balances (rows read = excluded +
  never reached + outside the cohort range + other markets + in the report), and so does each
  file of `accounting.files` (the log, each joined file), part by part as written.

Bugs found are kept as strict xfails with their minimal example (see the end of the file).
FUNNELCLI_PROPERTY_EXAMPLES sets the number of examples (default 40: an example runs 16 reports,
about 0.5 s); FUNNELCLI_PROPERTY_SHRINK=0 reports the first failing example unshrunk.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import json
import os
import tempfile
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, assume, example, given, note, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context
from tests.conftest import run

pytestmark = pytest.mark.slow

SETTINGS = settings(
    max_examples=int(os.environ.get("FUNNELCLI_PROPERTY_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    report_multiple_bugs=False,
    **({"phases": (Phase.explicit, Phase.reuse, Phase.generate)} if os.environ.get("FUNNELCLI_PROPERTY_SHRINK") == "0" else {}),
)

STAGES = ("A", "B", "C", "D")
K = len(STAGES)
LOG_CODES = ("1", "2", "3", "4")  # the log's value for each stage (`values:`)
START = dt.date(2024, 1, 1)  # every event is after it; ghosts' owner changes are on it
OWNERS = ("Ann", "Bob", "Cy")
COUNTS = ("reached", "entered", "skipped", "converted", "exited", "exited:Lost", "stuck", "in_progress",
          "step_rate", "cumulative_rate")
VELOCITY = ("median_days", "p75_days", "p90_days")

# --------------------------------------------------------------------------------------------
# The funnel, as plain data (its repr is what hypothesis prints)


@dataclass(frozen=True)
class Lead:
    id: str
    owner: str
    days: tuple  # per stage: the day it entered the stage (own evidence), or None
    lost: dt.date | None = None
    # the log: extra rows (kind, stage, day): "reentry" of a stage, "owner" change, "unknown"
    # value, "undated" stage change
    extra: tuple = ()
    # the joined shape: how the lead points at its opportunity: "row" (its own row, needed when it
    # has a C, D or Lost day), "blank" (a row with no dates), "none" (no opportunity id),
    # "dangling" (an id no row has); `stale`: an older row of the same opportunity, not used
    opp: str = "row"
    stale: bool = False
    status_case: int = 0  # how the status value is written
    reopened: dt.date | None = None  # the log only: re-entered its furthest stage (or the next) after Lost (not out)
    onward: bool = False  # reopened into the next stage
    relost: dt.date | None = None  # the log only: lost again after it was reopened

    @property
    def furthest(self) -> int:
        """The furthest stage entered; -1 for a lead that reached nothing."""
        return max((i for i, d in enumerate(self.days) if d is not None), default=-1)


@dataclass(frozen=True)
class Funnel:
    slas: tuple  # per stage: sla_days or None
    leads: tuple  # of Lead (ghosts too: leads that reached nothing)
    replay: dt.date  # an as-of date inside the range of events
    since: dt.date | None = None  # the cohort range of the replayed report
    until: dt.date | None = None
    log_order: tuple = ()  # a permutation of the log's blocks (a lead's rows of one day)
    log_times: bool = False  # the log's dates with a time of day
    orphans: int = 0  # opportunities that match no lead
    blank_keys: int = 0  # opportunity rows with a blank key
    blank_ids: int = 0  # rows with a blank id, in each lead table (and the log)
    chain: bool = False  # the joined shape: leads -> contacts -> opportunities

    def max_day(self) -> dt.date:
        return max(d for lead in self.leads for d in (*lead.days, lead.lost) if d is not None)


# --------------------------------------------------------------------------------------------
# The strategy


@st.composite
def leads_of(draw, index: int, ghost: bool = False, reopen: bool = False, relost: bool = False) -> Lead:
    lead_id = f"L{index:03d}"
    owner = draw(st.sampled_from(OWNERS))
    if ghost:  # in the log: an owner change only
        return Lead(lead_id, owner, (None,) * K, extra=(("owner", 0, START),), opp=draw(st.sampled_from(["none", "blank", "dangling"])))
    furthest = draw(st.integers(0, K - 1))
    day = START + dt.timedelta(days=draw(st.integers(1, 120)))
    days: list = [None] * K
    for i in range(furthest + 1):
        if i:
            day += dt.timedelta(days=draw(st.integers(1, 25)))
        skipped = i < furthest and draw(st.integers(0, 3)) == 0  # one in four stages before the furthest
        days[i] = None if skipped else day
    entered = [i for i, d in enumerate(days) if d is not None]
    if len(entered) > 1 and draw(st.integers(0, 7)) == 0:
        # out of order: two entered stages swap their days (an earlier stage entered after a later one)
        a, b = draw(st.permutations(entered))[:2]
        days[a], days[b] = days[b], days[a]
    last = max(d for d in days if d is not None)
    lost = last + dt.timedelta(days=draw(st.integers(0, 30))) if draw(st.integers(0, 2)) == 0 else None
    own = [(i, d) for i, d in enumerate(days) if d is not None]
    extra = []
    # Log rows besides the stage entries, all dated within the lead's own days (so the log's
    # latest change is one that the other shapes have too).
    for kind in draw(st.lists(st.sampled_from(["reentry", "owner", "unknown", "undated"]), max_size=3)):
        if kind == "reentry":
            # entering again a stage entered before, on a day strictly between its first entry
            # and the lead's last, when no stage was entered
            free = [(i, d) for i, first in own
                    for d in (first + dt.timedelta(days=n) for n in range(1, (last - first).days))
                    if d not in days]
            if free:
                extra.append(("reentry", *draw(st.sampled_from(free))))
        else:
            stage = draw(st.sampled_from([i for i, _ in own]))
            extra.append((kind, stage, draw(st.sampled_from([d for _, d in own]))))
    needs_row = furthest >= 2 or lost is not None
    opp = "row" if needs_row else draw(st.sampled_from(["row", "blank", "none", "dangling"]))
    reopened = lost + dt.timedelta(days=draw(st.integers(1, 20))) if reopen and lost and draw(st.booleans()) else None
    relost = reopened + dt.timedelta(days=draw(st.integers(1, 20))) if relost and reopened and draw(st.booleans()) else None
    onward = bool(reopened) and furthest < K - 1 and draw(st.booleans())
    return Lead(lead_id, owner, tuple(days), lost, tuple(extra), opp, stale=draw(st.booleans()),
                status_case=draw(st.integers(0, 2)), reopened=reopened, onward=onward, relost=relost)


@st.composite
def funnels(draw, reopen: bool = False, relost: bool = False) -> Funnel:
    """A funnel; with `reopen`, some lost leads are reopened later, and with `relost` some of
    those lost again (in the log only: the other shapes can't say it)."""
    slas = tuple(draw(st.one_of(st.none(), st.integers(1, 30))) for _ in STAGES)
    n = draw(st.integers(1, 40))
    ghosts = draw(st.integers(0, 3))
    leads = [draw(leads_of(i + 1, reopen=reopen, relost=relost)) for i in range(n)]
    leads += [draw(leads_of(n + i + 1, ghost=True)) for i in range(ghosts)]
    order = draw(st.permutations(range(len(leads))))
    leads = tuple(leads[i] for i in order)
    events = sorted({d for lead in leads for d in (*lead.days, lead.lost) if d is not None})
    replay = draw(st.sampled_from(events[:-1] or events)) + dt.timedelta(days=draw(st.integers(0, 1)))
    # a cohort range: none, or from (to) a day leads entered A, give or take a day
    firsts = sorted({min(d for d in lead.days if d is not None) for lead in leads if lead.furthest >= 0})
    edge = st.builds(lambda d, n: d + dt.timedelta(days=n), st.sampled_from(firsts), st.integers(-1, 1))
    since, until = (draw(st.one_of(st.none(), st.none(), edge)) for _ in range(2))
    if since and until and since > until:
        since, until = until, since
    if since and since > replay:  # refused: no lead can have entered by the as-of date (a usage error)
        since = None
    orphans = draw(st.integers(0, 2))
    if not any(lead.opp in ("row", "blank") for lead in leads) and any(lead.opp == "dangling" for lead in leads):
        orphans = 0  # else no key of the file would match a lead's: an error by design (the join's key is wrong)
    funnel = Funnel(slas, leads, replay, since, until, log_times=draw(st.booleans()), orphans=orphans,
                    blank_keys=draw(st.integers(0, 1)), blank_ids=draw(st.integers(0, 1)), chain=draw(st.booleans()))
    blocks = len(log_blocks(funnel))
    return dataclasses.replace(funnel, log_order=tuple(draw(st.permutations(range(blocks)))))


# --------------------------------------------------------------------------------------------
# The four exports


def csv_text(header, rows) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def iso(day: dt.date | None) -> str:
    return "" if day is None else day.isoformat()


def sla_lines(funnel: Funnel, i: int) -> str:
    return f"\n    sla_days: {funnel.slas[i]}" if funnel.slas[i] is not None else ""


def wide_files(funnel: Funnel) -> tuple[dict, str]:
    header = ["Id", "Owner"] + [f"{s} Date" for s in STAGES] + ["Lost Date"]
    rows = [[lead.id, lead.owner, *map(iso, lead.days), iso(lead.lost)] for lead in funnel.leads]
    rows += [["", "Ann", iso(START + dt.timedelta(days=1)), "", "", "", ""]] * funnel.blank_ids
    stages = "".join(f"  - name: {s}\n    date: {s} Date{sla_lines(funnel, i)}\n" for i, s in enumerate(STAGES))
    defs = f"version: 1\ncolumns: {{id: Id, owner: Owner}}\nstages:\n{stages}exits:\n  - name: Lost\n    date: Lost Date\n"
    return {"wide.csv": csv_text(header, rows)}, defs


def log_blocks(funnel: Funnel) -> list[list[list[str]]]:
    """The log's rows in blocks: a lead's rows of one day, in the order they happened (a
    day's changes are ordered by time of day, else by file order); an undated row alone."""
    blocks: dict = {}
    times = {"stage": 9 * 60, "reentry": 12 * 60, "owner": 12 * 60 + 30, "unknown": 13 * 60, "lost": 18 * 60, "reopen": 19 * 60}

    def add(lead: Lead, field: str, value: str, day: dt.date | None, kind: str, stage: int = 0) -> None:
        if day is None:
            when = ""
        elif funnel.log_times:
            minute = times[kind] + stage
            when = f"{day.isoformat()} {minute // 60:02d}:{minute % 60:02d}:{len(blocks) % 60:02d}"
        else:
            when = day.isoformat()
        # the owner: the lead's latest row names it; rows before its (first) owner change name
        # the one before
        changes = [d for kind, _, d in lead.extra if kind == "owner"]
        owner = OWNERS[(OWNERS.index(lead.owner) + 1) % len(OWNERS)] if changes and (day is None or day < min(changes)) else lead.owner
        key = (lead.id, day) if day is not None else len(blocks)
        # ids match trimmed: the rows of other changes name theirs padded
        padded = f" {lead.id} " if kind in ("owner", "unknown") else lead.id
        blocks.setdefault(key, []).append([padded, field, value, when, owner])

    for n, lead in enumerate(funnel.leads):
        # field and values in any case and padding: `only:` and `values:` match them so
        field = ("stage_id", "Stage_ID", " stage_id ")[n % 3]
        for i, day in enumerate(lead.days):
            if day is not None:
                add(lead, field, (LOG_CODES[i], f" {LOG_CODES[i]} ")[n % 2], day, "stage", i)
        if lead.lost is not None:
            add(lead, field, ("lost", "LOST", " Lost")[n % 3], lead.lost, "lost")
        if lead.reopened is not None:
            add(lead, field, LOG_CODES[lead.furthest + lead.onward], lead.reopened, "reopen")
        if lead.relost is not None:
            add(lead, field, "lost", lead.relost, "lost")
        for kind, i, day in lead.extra:
            if kind == "reentry":
                add(lead, field, LOG_CODES[i], day, kind)
            elif kind == "owner":
                add(lead, "owner_id", lead.owner, day, kind)
            elif kind == "unknown":
                add(lead, field, "Negotiation", day, kind)
            else:
                add(lead, field, LOG_CODES[i], None, kind)
    out = list(blocks.values())
    out += [[["", "stage_id", "1", (START + dt.timedelta(days=1)).isoformat(), "Ann"]]] * funnel.blank_ids
    return out


def log_rows(funnel: Funnel) -> list[list[str]]:
    """The log's rows as written: its blocks in the order `log_order` shuffles them to."""
    blocks = log_blocks(funnel)
    if len(funnel.log_order) == len(blocks):
        blocks = [blocks[i] for i in funnel.log_order]
    return [row for block in blocks for row in block]


def log_files(funnel: Funnel) -> tuple[dict, str]:
    rows = log_rows(funnel)
    header = ["deal_id", "changed_field_key", "new_value", "change_time", "owner"]
    stages = "".join(f"  - name: {s}\n    values: ['{LOG_CODES[i]}']{sla_lines(funnel, i)}\n" for i, s in enumerate(STAGES))
    defs = ("version: 1\ncolumns: {id: deal_id, owner: owner}\nhistory:\n  stage: new_value\n  at: change_time\n"
            "  only: {changed_field_key: {in: [stage_id]}}\n"
            f"stages:\n{stages}exits:\n  - name: Lost\n    values: [lost]\n")
    return {"log.csv": csv_text(header, rows)}, defs


def opp_id(lead: Lead) -> str:
    return {"row": f"O-{lead.id}", "blank": f"O-{lead.id}", "dangling": f"X-{lead.id}", "none": ""}[lead.opp]


def joined_files(funnel: Funnel) -> tuple[dict, str]:
    """The lead table (A, B) joined to opportunities (C, D, Lost): directly by an opportunity id,
    or (`chain`) through a contacts file that gives each lead's contact its opportunity."""
    key = "contact" if funnel.chain else "opportunity"

    def pointer(lead: Lead) -> str:
        if not funnel.chain:
            return opp_id(lead)
        return "" if lead.opp == "none" else f"C-{lead.id}"

    # keys match as trimmed text: some are written padded
    leads = [[lead.id, lead.owner, iso(lead.days[0]), iso(lead.days[1]), (k, f" {k} ")[n % 2 and bool(k)]]
             for n, lead in enumerate(funnel.leads) for k in [pointer(lead)]]
    leads += [["", "Ann", iso(START + dt.timedelta(days=1)), "", "O-none"]] * funnel.blank_ids
    contacts = [[pointer(lead), opp_id(lead)] for lead in funnel.leads if lead.opp != "none"]
    opps = []
    for n, lead in enumerate(funnel.leads):
        if lead.opp in ("row", "blank"):
            dated = lead.opp == "row"
            row = [(opp_id(lead), f"{opp_id(lead)} ")[n % 3 == 1], iso(lead.days[2]) if dated else "",
                   iso(lead.days[3]) if dated else "", iso(lead.lost) if dated else "", "2030-01-02"]
            if lead.stale:  # an older row of the opportunity: many: last by updated passes it over
                opps.append([opp_id(lead), "", iso(START + dt.timedelta(days=2)), "", "2029-12-31"])
            opps.append(row)
    for n in range(funnel.orphans):
        opps.append([f"O-orphan{n}", iso(START + dt.timedelta(days=3)), "", "", "2030-01-01"])
    for _ in range(funnel.blank_keys):
        opps.append(["", iso(START + dt.timedelta(days=3)), "", "", "2030-01-01"])
    contacts_join = """\
  - name: contacts
    on: {contact: contact_id}
    columns: {opportunity: opp_id}
""" if funnel.chain else ""
    defs = f"""\
version: 1
columns: {{id: id, owner: owner, {key}: {key}_id}}
joins:
{contacts_join}  - name: opportunities
    on: {{opportunity: opp_id}}
    columns: {{c_at: c_at, d_at: d_at, lost_at: lost_at}}
    many: last
    order_by: updated
stages:
  - name: A
    date: a_at{sla_lines(funnel, 0)}
  - name: B
    date: b_at{sla_lines(funnel, 1)}
  - name: C
    date: c_at{sla_lines(funnel, 2)}
  - name: D
    date: d_at{sla_lines(funnel, 3)}
exits:
  - name: Lost
    date: lost_at
"""
    files = {"leads.csv": csv_text(["id", "owner", "a_at", "b_at", f"{key}_id"], leads),
             "opps.csv": csv_text(["opp_id", "c_at", "d_at", "lost_at", "updated"], opps)}
    if funnel.chain:
        files["contacts.csv"] = csv_text(["contact_id", "opp_id"], contacts)
    return files, defs


def status_value(lead: Lead) -> str:
    if lead.furthest < 0:
        return ""
    name = STAGES[lead.furthest]
    return (name, name.lower(), f"  {name.lower()} ")[lead.status_case]


def status_files(funnel: Funnel) -> tuple[dict, str]:
    header = ["Id", "Owner", "Stage", "State", "A Date", "Since", "Lost Date"]
    rows = [[lead.id, lead.owner, status_value(lead), ("lost", "Lost")[lead.status_case % 2] if lead.lost else "open",
             iso(lead.days[0]), iso(lead.days[lead.furthest]) if lead.furthest >= 0 else "", iso(lead.lost)]
            for lead in funnel.leads]
    rows += [["", "Ann", "A", "open", iso(START + dt.timedelta(days=1)), "", ""]] * funnel.blank_ids
    later = "".join(f"  - name: {s}{sla_lines(funnel, i + 1)}\n" for i, s in enumerate(STAGES[1:]))
    defs = f"""\
version: 1
columns: {{id: Id, owner: Owner, stage_now: Stage, state: State, stage_since: Since}}
stage_column: stage_now
stages:
  - name: A
    date: A Date{sla_lines(funnel, 0)}
{later}exits:
  - name: Lost
    when: {{state: {{in: [lost]}}}}
    date: Lost Date
"""
    return {"status.csv": csv_text(header, rows)}, defs


SHAPES = {"wide": wide_files, "log": log_files, "joined": joined_files, "status": status_files}
EXPORT = {"wide": "wide.csv", "log": "log.csv", "joined": "leads.csv", "status": "status.csv"}


def report_of(files: dict, defs: str, export: str, as_of: dt.date | None = None, by: str | None = None,
              since: dt.date | None = None, until: dt.date | None = None) -> dict:
    """Return `funnelcli conversion -f json` of files written in a temporary folder."""
    with tempfile.TemporaryDirectory() as folder:
        for name, text in files.items():
            with open(os.path.join(folder, name), "w", encoding="utf-8", newline="") as handle:
                handle.write(text)
        with open(os.path.join(folder, "funnel.yml"), "w", encoding="utf-8") as handle:
            handle.write(defs)
        args = ["conversion", os.path.join(folder, export), "-d", os.path.join(folder, "funnel.yml"), "-f", "json"]
        for name, join in (("opps.csv", "opportunities"), ("contacts.csv", "contacts")):
            if name in files:
                args += ["--join", f"{join}={os.path.join(folder, name)}"]
        if as_of is not None:
            args += ["--as-of", as_of.isoformat()]
        if by is not None:
            args += ["--by", by]
        for option, day in (("--since", since), ("--until", until)):
            if day is not None:
                args += [option, day.isoformat()]
        result = run(*args)
    if result.exit_code != 0:
        say(f"--- funnel.yml ---\n{defs}" + "".join(f"--- {k} ---\n{v}" for k, v in files.items()))
    assert result.exit_code == 0, (export, result.stderr)
    return json.loads(result.stdout)


def conversion(funnel: Funnel, shape: str, as_of: dt.date | None = None, by: str | None = None,
               since: dt.date | None = None, until: dt.date | None = None) -> dict:
    """Return `funnelcli conversion -f json` of the funnel written in one shape."""
    files, defs = SHAPES[shape](funnel)
    return report_of(files, defs, EXPORT[shape], as_of, by, since, until)


def say(text: str) -> None:
    """Note `text` for hypothesis to print with a failing example (outside one: nothing)."""
    if currently_in_test_context():
        note(text)


def show(funnel: Funnel, shape: str) -> None:
    files, defs = SHAPES[shape](funnel)
    say(f"--- {shape}: funnel.yml ---\n{defs}" + "".join(f"--- {k} ---\n{v}" for k, v in files.items()))


# --------------------------------------------------------------------------------------------
# The model: what the generated funnel means, lead by lead (docs/metrics.md)


def quantiles(values: list[float]) -> tuple:
    if not values:
        return (None, None, None)
    return tuple(float(q) for q in np.quantile(np.array(values, dtype=float), [0.5, 0.75, 0.9]))


@dataclass
class Expected:
    table: list  # a row per stage
    cycle: dict  # cycle time
    in_report: int = 0
    not_reached: int = 0  # never reached A by the as-of date
    outside: int = 0  # reached A, outside since..until


def expected(funnel: Funnel, as_of: dt.date, since: dt.date | None = None, until: dt.date | None = None) -> Expected:
    """Return the stage table of the wide, log and joined shapes at `as_of`, for the cohorts
    that entered A from `since` to `until`, its cycle time and accounting."""
    table = [{key: 0 for key in COUNTS} for _ in STAGES]
    steps: list[list[float]] = [[] for _ in STAGES]
    cycle: list[float] = []
    out = Expected(table, {})
    for lead in funnel.leads:
        # the effective date of a stage: the earliest own day of it and of the stages after it
        eff = [min((d for d in lead.days[i:] if d is not None), default=None) for i in range(K)]
        reached = [d is not None and d <= as_of for d in eff]
        furthest = max((i for i in range(K) if reached[i]), default=-1)
        if furthest < 0:
            out.not_reached += 1
            continue
        if (since and eff[0] < since) or (until and eff[0] > until):
            out.outside += 1
            continue
        out.in_report += 1
        # entered: an own day by as-of; a day of its own for velocity: not one out of order
        entered = [d is not None and d <= as_of for d in lead.days]
        dated = [entered[i] and lead.days[i] == eff[i] for i in range(K)]
        lost = lead.lost is not None and lead.lost <= as_of
        for i in range(furthest + 1):
            row = table[i]
            row["reached"] += 1
            row["entered"] += entered[i]
            row["skipped"] += not entered[i]
            if i < furthest:
                row["converted"] += 1
                if dated[i] and dated[i + 1]:
                    steps[i].append((eff[i + 1] - eff[i]).days)
            elif lost:
                row["exited"] += 1
                row["exited:Lost"] += 1
            elif funnel.slas[i] is not None and (as_of - eff[i]).days > funnel.slas[i]:
                row["stuck"] += 1
            else:
                row["in_progress"] += 1
        if furthest == K - 1 and dated[0] and dated[-1]:
            cycle.append((eff[-1] - eff[0]).days)
    first = table[0]["reached"]
    for i, row in enumerate(table):
        last = i == K - 1
        row["step_rate"] = None if last or not row["reached"] else row["converted"] / row["reached"]
        row["cumulative_rate"] = row["reached"] / first if first else None
        if last:
            row["converted"] = None
            if funnel.slas[i] is None:
                row["stuck"] = row["in_progress"] = None
        row.update(zip(VELOCITY, quantiles(steps[i])))
    out.cycle = {"leads": len(cycle), **dict(zip(VELOCITY, quantiles(cycle)))}
    return out


# --------------------------------------------------------------------------------------------
# Checks


def close(a, b) -> bool:
    if a is None or b is None:
        return a is b
    return abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))


def stage_rows(report: dict) -> list[dict]:
    rows = report["tables"]["stages"]
    assert [r["stage"] for r in rows] == list(STAGES)
    return rows


def check_invariants(report: dict, shape: str, ages_known: bool = True) -> None:
    """The four buckets, rates, and the accounting of every file, in any shape."""
    rows = stage_rows(report)
    first = rows[0]["reached"]
    for i, row in enumerate(rows):
        last = i == K - 1
        assert row["reached"] == row["entered"] + row["skipped"], (shape, row)
        assert row["exited"] == row["exited:Lost"], (shape, row)
        if not last:
            nxt = rows[i + 1]
            assert row["reached"] == row["converted"] + row["exited"] + row["stuck"] + row["in_progress"], (shape, row)
            assert nxt["reached"] == row["converted"], (shape, row, nxt)
            if row["reached"]:
                assert 0 <= row["step_rate"] <= 1 and close(row["step_rate"], row["converted"] / row["reached"]), (shape, row)
            else:
                assert row["step_rate"] is None, (shape, row)
        elif row["stuck"] is not None:
            assert row["reached"] == row["exited"] + row["stuck"] + row["in_progress"], (shape, row)
        if first:
            assert 0 <= row["cumulative_rate"] <= 1 and close(row["cumulative_rate"], row["reached"] / first), (shape, row)
        else:
            assert row["cumulative_rate"] is None, (shape, row)
        # every lead waiting in a stage has a date there (its own, or the status's stage since)
        if ages_known or row["stuck"] is None:
            assert row["age_unknown"] == (None if row["stuck"] is None else 0), (shape, row)
        v = [row[key] for key in VELOCITY]
        assert v == [None] * 3 or (None not in v and 0 <= v[0] <= v[1] <= v[2]), (shape, row)
    acc = report["accounting"]
    assert acc["rows_excluded"] == sum(item["count"] for item in acc["excluded"]), (shape, acc)
    assert acc["rows_read"] == (acc["rows_excluded"] + acc["never_reached_first_stage"] + acc["outside_cohort_range"]
                                + acc["no_date_for_cohort_range"] + acc["other_markets"] + acc["leads_in_report"]), (shape, acc)
    for account in acc["files"]:
        assert account["rows_read"] == sum(part["rows"] for part in account["parts"]), (shape, account)


def parts(report: dict, role: str) -> dict[str, int]:
    (account,) = [a for a in report["accounting"]["files"] if a["role"] == role]
    return {part["what"]: part["rows"] for part in account["parts"]} | {"rows_read": account["rows_read"]}


def log_repeats(funnel: Funnel) -> int:
    """The log's stage-change rows that name the stage (or exit) the lead is in already: the
    lead's previous dated stage-change row, by time then file order, names the same. Read off
    the rows as written; a row naming nothing ('Negotiation') in between makes the next a change."""
    changes = []
    for n, (lead_id, field, value, when, _) in enumerate(log_rows(funnel)):
        if field.strip().casefold() == "stage_id" and lead_id.strip() and when:
            changes.append((lead_id.strip(), when, n, value.strip().casefold()))
    changes.sort()
    named = set(LOG_CODES) | {"lost"}
    return sum(1 for a, b in zip(changes, changes[1:]) if a[0] == b[0] and a[3] == b[3] and b[3] in named)


def part(counts: dict[str, int], words: str) -> int:
    """The count of the one part whose description contains `words`."""
    (count,) = [n for what, n in counts.items() if words in what]
    return count


def check_accounting(funnel: Funnel, shape: str, report: dict, want: Expected) -> None:
    """Each file's rows as written: the lead table's, the log's, the joined file's."""
    acc = report["accounting"]
    leads = len(funnel.leads)
    assert (acc["leads_in_report"], acc["never_reached_first_stage"], acc["outside_cohort_range"], acc["other_markets"]) == (
        want.in_report, want.not_reached, want.outside, 0), (shape, acc)
    if shape == "log":
        # the lead table is the log's ids: a lead per id (rows with a blank id are in the log's account)
        assert (acc["rows_read"], acc["rows_excluded"], acc["read_as"]) == (leads, 0, "leads"), acc
        counts = parts(report, "log")
        extra = [kind for lead in funnel.leads for kind, _, _ in lead.extra]
        entries = sum(d is not None for lead in funnel.leads for d in (*lead.days, lead.lost, lead.reopened, lead.relost))
        assert counts["rows_read"] == len(log_rows(funnel))
        repeats = log_repeats(funnel)
        assert part(counts, "stage changes") == entries + extra.count("reentry") - repeats
        assert part(counts, "naming the stage the lead is in already") == repeats
        assert part(counts, "other changes") == extra.count("owner")
        assert part(counts, "blank id") == funnel.blank_ids
        assert part(counts, "no date") == extra.count("undated")
        assert part(counts, "names no stage") == extra.count("unknown")
        return
    assert acc["rows_read"] == leads + funnel.blank_ids, (shape, acc)
    assert [(e["reason"], e["count"]) for e in acc["excluded"]] == [("with a blank id", 1)] * funnel.blank_ids, (shape, acc)
    if shape != "joined":
        assert acc["files"] == [], (shape, acc)
        return
    if funnel.chain:
        counts = parts(report, "join contacts")
        contacts = sum(lead.opp != "none" for lead in funnel.leads)
        assert (counts["rows_read"], part(counts, "matched a lead")) == (contacts, contacts)
    counts = parts(report, "join opportunities")
    with_row = [lead for lead in funnel.leads if lead.opp in ("row", "blank")]
    stale = sum(lead.stale for lead in with_row)
    assert counts["rows_read"] == len(with_row) + stale + funnel.orphans + funnel.blank_keys
    assert part(counts, "matched a lead") == len(with_row)
    assert part(counts, "not used") == stale
    assert part(counts, "matched no lead") == funnel.orphans
    assert part(counts, "blank key") == funnel.blank_keys


def check_model(report: dict, shape: str, want: Expected) -> None:
    table, cycle = want.table, want.cycle
    for row, want in zip(stage_rows(report), table):
        for key in COUNTS + VELOCITY:
            assert close(row[key], want[key]), (shape, row["stage"], key, row[key], want[key])
    got = report["cycle_time"]
    assert got["leads"] == cycle["leads"] and all(close(got[k], cycle[k]) for k in VELOCITY), (shape, got, cycle)


def same_tables(a: dict, b: dict, keys: tuple[str, ...], shapes: str) -> None:
    for x, y in zip(stage_rows(a), stage_rows(b)):
        for key in keys:
            assert close(x[key], y[key]), (shapes, x["stage"], key, x[key], y[key])


def same_groups(a: dict, b: dict, keys: tuple[str, ...], shapes: str) -> None:
    """`--by owner`: the same groups, in the same order, with the same numbers."""
    x_rows, y_rows = a["tables"]["stages"], b["tables"]["stages"]
    assert [(r["group"], r["stage"]) for r in x_rows] == [(r["group"], r["stage"]) for r in y_rows], shapes
    for x, y in zip(x_rows, y_rows):
        for key in keys:
            assert close(x[key], y[key]), (shapes, x["group"], x["stage"], key, x[key], y[key])


def owners(funnel: Funnel, as_of: dt.date) -> list[str]:
    """The owners of the leads in the report (a lead's owner: the latest a log names)."""
    return sorted({lead.owner for lead in funnel.leads if any(d is not None and d <= as_of for d in lead.days)})


# --------------------------------------------------------------------------------------------
# The properties


# Written out: a lead through every stage, one that skipped B and C and was lost, and one that
# reached nothing; SLAs on A and D.
SMALL = Funnel(
    slas=(3, None, None, 5),
    leads=(
        Lead("L001", "Ann", (dt.date(2024, 1, 2), dt.date(2024, 1, 4), dt.date(2024, 1, 9), dt.date(2024, 1, 20)),
             extra=(("owner", 0, dt.date(2024, 1, 4)), ("reentry", 0, dt.date(2024, 1, 10)))),
        Lead("L002", "Bob", (dt.date(2024, 1, 3), None, None, dt.date(2024, 1, 12)), lost=dt.date(2024, 1, 15), stale=True),
        Lead("L003", "Cy", (None,) * K, extra=(("owner", 0, START),), opp="dangling"),
    ),
    replay=dt.date(2024, 1, 10), orphans=1, blank_keys=1, blank_ids=1,
)


@SETTINGS
@given(funnels())
@example(SMALL)
def test_wide_log_and_joined_agree(funnel: Funnel):
    """wide, log and joined carry the same information: the same report, at the export's as-of
    date and replayed, and the one the model of the funnel gives."""
    for shape in ("wide", "log", "joined"):
        show(funnel, shape)
    say(f"replay as of {funnel.replay}, cohorts from {funnel.since} to {funnel.until}")
    for as_of, since, until in ((None, None, None), (funnel.replay, funnel.since, funnel.until)):
        reports = {shape: conversion(funnel, shape, as_of, since=since, until=until) for shape in ("wide", "log", "joined")}
        day = as_of or funnel.max_day()
        want = expected(funnel, day, since, until)
        for shape, report in reports.items():
            assert report["as_of"] == day.isoformat(), (shape, report["as_of"])
            check_invariants(report, shape)
            check_accounting(funnel, shape, report, want)
            check_model(report, shape, want)
        same_tables(reports["wide"], reports["log"], COUNTS + VELOCITY, "wide/log")
        same_tables(reports["wide"], reports["joined"], COUNTS + VELOCITY, "wide/joined")
    # --by owner: a log's lead takes the owner of its latest row (an owner change, say)
    by_owner = {shape: conversion(funnel, shape, by="owner") for shape in ("wide", "log", "joined")}
    assert sorted({r["group"] for r in by_owner["wide"]["tables"]["stages"]}) == owners(funnel, funnel.max_day())
    same_groups(by_owner["wide"], by_owner["log"], COUNTS + VELOCITY, "wide/log by owner")
    same_groups(by_owner["wide"], by_owner["joined"], COUNTS + VELOCITY, "wide/joined by owner")


@SETTINGS
@given(funnels())
@example(SMALL)
def test_status_agrees_with_wide_where_it_carries_the_same(funnel: Funnel):
    """status names the current stage only: the same reached, converted, exited, stuck and in
    progress as wide at the export's as-of date; entered counts A's date and the stage named;
    no velocity (null, not 0) and no cycle time.

    Not compared: a lead whose current stage is dated before A (out of order). The wide export
    has both dates and A takes the later stage's (docs/metrics.md "Dates out of order"); the
    status export has a stage since before the deal was created, which gives way to A's date
    ("A stage with no own date"): the two exports tell different stories, each counted by its rule."""
    leads = tuple(lead for lead in funnel.leads if not (lead.furthest > 0 and lead.days[0] is not None
                                                         and lead.days[lead.furthest] < lead.days[0]))
    assume(any(lead.furthest >= 0 for lead in leads))
    funnel = dataclasses.replace(funnel, leads=leads)
    show(funnel, "status")
    # the latest day the status export carries: A's days, stage since (the current stage's day),
    # Lost days. It is the wide export's latest day unless a middle stage was entered out of order.
    day = max(d for lead in funnel.leads if lead.furthest >= 0 for d in (lead.days[0], lead.days[lead.furthest], lead.lost)
              if d is not None)
    say(f"the status export's as-of date: {day}")
    status = conversion(funnel, "status")
    wide = conversion(funnel, "wide", None if day == funnel.max_day() else day)
    assert status["as_of"] == wide["as_of"] == day.isoformat()
    check_invariants(status, "status")
    check_accounting(funnel, "status", status, expected(funnel, day))
    same_tables(wide, status, ("reached", "converted", "exited", "exited:Lost", "stuck", "in_progress", "step_rate",
                               "cumulative_rate"), "wide/status")
    for i, (row, wide_row) in enumerate(zip(stage_rows(status), stage_rows(wide))):
        # own evidence: A's date; the stage the status names
        named = sum(lead.furthest == i for lead in funnel.leads)
        entered = sum(lead.days[0] is not None for lead in funnel.leads) if i == 0 else named
        assert row["entered"] == entered, (row, entered)
        assert row["entered"] <= wide_row["entered"] or i == 0, (row, wide_row)
        assert [row[key] for key in VELOCITY] == [None] * 3, row
    assert status["cycle_time"] == {"leads": 0, "median_days": None, "p75_days": None, "p90_days": None}
    as_of = None if day == funnel.max_day() else day
    same_groups(conversion(funnel, "wide", as_of, by="owner"), conversion(funnel, "status", by="owner"),
                ("reached", "converted", "exited", "stuck", "in_progress"), "wide/status by owner")


def expected_status(funnel: Funnel, as_of: dt.date) -> Expected:
    """Return the status export's stage table replayed as of `as_of` (docs/metrics.md "As-of
    date", "Stages with no own date"): A is dated by its own date; the stages after it have no
    date, so they are judged on the export as it stands (the lead is at the stage the status
    names), unless A is dated after as-of, or the stage the status names is dated by a stage since
    after as-of (the lead moved there later: it is at the stage before); the current stage's age
    runs from stage since when that has come (from A's date when stage since is before it), else
    it is unknown (in progress)."""
    table = [{key: 0 for key in ("reached", "entered", "converted", "exited", "stuck", "in_progress", "age_unknown")} for _ in STAGES]
    out = Expected(table, {})
    for lead in funnel.leads:
        a, f = lead.days[0], lead.furthest
        if f < 0 or (a is not None and a > as_of):
            out.not_reached += 1
            continue
        out.in_report += 1
        since, named = lead.days[f], f
        if f > 0 and since is not None and since > as_of:
            f -= 1  # it moved to the stage its status names after as-of: not there yet
        for i in range(f + 1):
            row = table[i]
            row["reached"] += 1
            row["entered"] += (a is not None) if i == 0 else i == named
            if i < f:
                row["converted"] += 1
            elif lead.lost is not None and lead.lost <= as_of:
                row["exited"] += 1
            else:
                # a stage since before A's date can't be when the lead entered stage i: A's date then
                start = max(since, a) if a is not None and i > 0 else since
                age = (None if a is None else (as_of - a).days) if i == 0 else (as_of - start).days if since <= as_of else None
                sla = funnel.slas[i]
                row["stuck" if sla is not None and age is not None and age > sla else "in_progress"] += 1
                row["age_unknown"] += sla is not None and age is None  # counted where there is an SLA
    table[-1]["converted"] = None
    if funnel.slas[-1] is None:
        table[-1]["stuck"] = table[-1]["in_progress"] = table[-1]["age_unknown"] = None
    return out


@SETTINGS
@given(funnels())
@example(SMALL)
def test_status_replay_judges_undated_stages_as_the_export_stands(funnel: Funnel):
    """The status export replayed as of a day inside its range: A by its date, the later stages
    as the export stands, the current stage's age from stage since (unknown before it)."""
    show(funnel, "status")
    say(f"replay as of {funnel.replay}")
    report = conversion(funnel, "status", funnel.replay)
    check_invariants_status_replay(report, funnel)


def check_invariants_status_replay(report: dict, funnel: Funnel) -> None:
    check_invariants(report, "status replay", ages_known=False)
    want = expected_status(funnel, funnel.replay)
    acc = report["accounting"]
    assert (acc["leads_in_report"], acc["never_reached_first_stage"]) == (want.in_report, want.not_reached), acc
    for row, w in zip(stage_rows(report), want.table):
        for key, value in w.items():
            assert row[key] == value, (row["stage"], key, row[key], value)
        assert [row[key] for key in VELOCITY] == [None] * 3, row


# A deal at C by its status, with no date for A (nor for B and C: the status dates nothing), lost
# on 01-20; another lead dates the export. Replayed as of 01-10, its stages are judged on the
# export as it stands (no earlier stage is dated after 01-10) and its exit has not happened yet:
# reached A, B, C, in progress at C. (funnelcli once counted it as never reached A: the exit
# dated after as-of was taken for a stage dated after it.) The same deal open (no Lost date) is
# in the funnel. The property test above once left such leads out of its examples; it no longer does.
UNDATED_LATER_EXIT = Funnel(
    slas=(None,) * K,
    leads=(Lead("L001", "Ann", (None, None, dt.date(2024, 1, 8), None), lost=dt.date(2024, 1, 20)),
           Lead("L002", "Bob", (dt.date(2024, 1, 5), None, None, None))),
    replay=dt.date(2024, 1, 10),
)


def test_status_replay_undated_lead_with_a_later_exit():
    check_invariants_status_replay(conversion(UNDATED_LATER_EXIT, "status", UNDATED_LATER_EXIT.replay), UNDATED_LATER_EXIT)


# --------------------------------------------------------------------------------------------
# Replaying a log: the funnel as of D is the funnel of the log's rows up to D


def log_as_it_stood(funnel: Funnel, day: dt.date) -> dict:
    """The log with every change after `day` removed (undated rows stay: they are excluded either way)."""
    rows = list(csv.reader(io.StringIO(log_files(funnel)[0]["log.csv"])))
    kept = [r for r in rows[1:] if not r[3] or dt.date.fromisoformat(r[3][:10]) <= day]
    return {"log.csv": csv_text(rows[0], kept)}


def check_log_replay(funnel: Funnel) -> None:
    show(funnel, "log")
    day = funnel.replay
    then = log_as_it_stood(funnel, day)
    say(f"--- the log as it stood on {day} ---\n{then['log.csv']}")
    now = conversion(funnel, "log", day)
    was = report_of(then, log_files(funnel)[1], "log.csv", day)
    assert now["accounting"]["leads_in_report"] == was["accounting"]["leads_in_report"]
    same_tables(now, was, COUNTS + VELOCITY, f"log as of {day} / log up to {day}")
    assert now["cycle_time"] == was["cycle_time"]


# Found by the property above with reopened leads (`funnels(reopen=True)`), reduced: a deal
# entered A on 01-02, was lost on 01-05 and reopened (A again) on 01-10. As of 01-07 its latest
# change was Lost: as it stood then, it was out (the log up to 01-07 says exited at A: 1).
# (funnelcli once took the exit the log's latest change names over the whole log, the reopening:
# replayed as of 01-07 the deal was in progress at A. An exit now holds until the lead comes back.)
REOPENED = Funnel(
    slas=(None,) * K,
    leads=(Lead("L001", "Ann", (dt.date(2024, 1, 2), None, None, None), lost=dt.date(2024, 1, 5), reopened=dt.date(2024, 1, 10)),),
    replay=dt.date(2024, 1, 7),
)


# Lost twice (01-05, and again 01-15 after the reopening of 01-10). As of 01-07 the deal was out
# (the log up to 01-07: A 01-02, Lost 01-05: exited at A 1). funnelcli once dated a log's exit by
# the lead's *last* exit change only (01-15), so as of 01-07 the deal was in progress at A; an
# earlier time out now holds from its exit until the lead's next change.
RELOST = Funnel(
    slas=(None,) * K,
    leads=(Lead("L001", "Ann", (dt.date(2024, 1, 2), None, None, None), lost=dt.date(2024, 1, 5),
                reopened=dt.date(2024, 1, 10), relost=dt.date(2024, 1, 15)),),
    replay=dt.date(2024, 1, 7),
)


@SETTINGS
@given(funnels(reopen=True, relost=True))
@example(SMALL)
@example(REOPENED)
@example(RELOST)
def test_log_replay_is_the_log_as_it_stood(funnel: Funnel):
    """docs/metrics.md "As-of date": events after as-of are ignored, so a log replayed as of D gives
    the report of its rows up to D (leads reopened after an exit among them)."""
    check_log_replay(funnel)


def test_log_replay_before_a_reopening_keeps_the_exit():
    check_log_replay(REOPENED)


def test_log_replay_between_two_exits_keeps_the_first():
    check_log_replay(RELOST)
