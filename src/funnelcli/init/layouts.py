"""The CRM exports init recognises by their headers, each written in the shape domain.md gives it.

    HubSpot contacts        wide: a "Became a ... Date" column per lifecycle stage
    HubSpot deals           status: "Deal Stage", with Create Date and Close Date
    Salesforce leads        dates and a flag: Created Date, Converted (Date), exits from Lead Status
    Salesforce opportunities status: "Stage", won and lost dated by Close Date
    Pipedrive deals         status: "Deal - Stage", won and lost from "Deal - Status"
    Pipedrive deal changes  a stage-history log: a row per change of a deal

Anything else goes to `guess.generic`.
"""

from __future__ import annotations

import re
import statistics

from funnelcli.init.columns import Column, by_rows, id_column, id_note, profile
from funnelcli.init.draft import Draft, Entry, Item, value_item
from funnelcli.init.guess import exit_of, finish, generic, is_won, map_dimensions, order_statuses, split_statuses
from funnelcli.init.sample import Sample

HUBSPOT_LIFECYCLE = {  # "Became a X Date" -> the stage's name, in HubSpot's lifecycle order
    "subscriber": "Subscriber", "lead": "Lead", "marketing qualified lead": "MQL", "sales accepted lead": "SAL",
    "sales qualified lead": "SQL", "opportunity": "Opportunity", "customer": "Customer",
}
HUBSPOT_DEAL_STAGES = ("Appointment Scheduled", "Qualified To Buy", "Presentation Scheduled",
                       "Decision Maker Bought-In", "Contract Sent")
SALESFORCE_STAGES = ("Prospecting", "Qualification", "Needs Analysis", "Value Proposition", "Id. Decision Makers",
                     "Perception Analysis", "Proposal/Price Quote", "Negotiation/Review")
PIPEDRIVE_STAGES = ("Qualified", "Contact Made", "Demo Scheduled", "Needs Defined", "Proposal Made", "Negotiations Started")
BECAME = re.compile(r"^Became an? (.+) Date$", re.IGNORECASE)


def build(sample: Sample) -> Draft:
    """Return the definitions init proposes for the sample: a recognised layout's, else guessed."""
    columns = profile(sample)
    headers = {c.header for c in columns}
    for matches, preset in PRESETS:
        if matches(headers):
            draft = preset(columns, {c.header: c for c in columns})
            return finish(draft, sample, columns)
    return generic(sample, columns)


def _intro(draft: Draft, why: str) -> None:
    draft.intro += [f"funnelcli init took this for {draft.layout} ({why}).",
                    "A first draft: check each comment marked 'check', then run funnelcli validate with --data."]


def _id(draft: Draft, columns: list[Column], by: dict[str, Column], names: tuple[str, ...], hint: str = "") -> None:
    for name in names:
        if name in by and len(by[name].counts) >= 0.95 * len(by[name].cells):
            draft.column("id", name, id_note(by[name]))
            return
    column, why = id_column(columns)
    draft.column("id", column.header, f"{why}{hint}")


def _exit_conditions(draft: Draft, status: Column | None, key: str = "status") -> None:
    """Add exits for the status values that look like ways out, as conditions on that column."""
    if status is None:
        return
    draft.column(key, status.header, f"{len(status.counts)} values in the rows read")
    _, exits, _ = split_statuses(by_rows(status))
    for name, values in exits.items():
        draft.exits.append(Item(name, [Entry("when", {key: {"in": values}})], comment="check the values"))
    others = [v for v in by_rows(status) if not exit_of(v)]
    if exits:
        draft.exits_above.append(f"Ways out: the {status.header!r} values that look like one. The other values: "
                                 f"{', '.join(others[:10]) or 'none'}; check none of them is a way out too.")


# --------------------------------------------------------------------------------------------
# HubSpot


def _is_hubspot_contacts(headers: set[str]) -> bool:
    return any(BECAME.match(h) for h in headers)


def _hubspot_contacts(columns: list[Column], by: dict[str, Column]) -> Draft:
    draft = Draft("a HubSpot contacts export")
    _intro(draft, "its 'Became a ... Date' lifecycle columns")
    _id(draft, columns, by, ("Record ID", "Contact ID", "Contact id"))
    map_dimensions(draft, columns, {"created": "Create Date", "owner": "Contact owner", "source": "Original Source",
                                    "industry": "Industry", "employees": "Number of Employees", "country": "Country/Region",
                                    "lifecycle": "Lifecycle Stage", "touches": "Number of Sales Activities",
                                    "last_activity": "Last Activity Date", "amount": "Recent Deal Amount"})
    became = [(BECAME.match(c.header).group(1).casefold(), c) for c in columns if BECAME.match(c.header)]
    order = list(HUBSPOT_LIFECYCLE)
    known = sorted((b for b in became if b[0] in HUBSPOT_LIFECYCLE), key=lambda b: order.index(b[0]))
    for stage, column in known:
        blank = "" if column.counts else f"; check: blank in the {len(column.cells):,} rows read"
        draft.stages.append(Item(HUBSPOT_LIFECYCLE[stage], [Entry("date", column.header, f"reached when the date is filled{blank}")]))
    draft.stages_above.append("Stages: HubSpot's lifecycle dates, in its lifecycle order. Keep the ones your funnel counts "
                              "(many start at MQL and drop Subscriber and Lead).")
    rest = [c.header for s, c in became if s not in HUBSPOT_LIFECYCLE]
    if rest:
        draft.outro.append(f"Lifecycle dates left out (not funnel stages, or custom: add them where they belong): {', '.join(rest)}")
    _exit_conditions(draft, by.get("Lead Status"))
    return draft


def _is_hubspot_deals(headers: set[str]) -> bool:
    return "Deal Stage" in headers and bool({"Close Date", "Create Date"} & headers)


def _hubspot_deals(columns: list[Column], by: dict[str, Column]) -> Draft:
    draft = Draft("a HubSpot deals export")
    _intro(draft, "its Deal Stage, Create Date and Close Date columns")
    _id(draft, columns, by, ("Record ID", "Deal ID"))
    map_dimensions(draft, columns, {"created": "Create Date", "owner": "Deal owner", "source": "Original Source Type",
                                    "amount": "Amount", "last_activity": "Last Activity Date", "pipeline": "Pipeline",
                                    "deal_type": "Deal Type"})
    _status_funnel(draft, by["Deal Stage"], HUBSPOT_DEAL_STAGES, by.get("Create Date"), by.get("Close Date"), columns=columns)
    _pipelines(draft, by.get("Pipeline"))
    return draft


def _status_funnel(draft: Draft, status: Column, known: tuple[str, ...], created: Column | None,
                   closed: Column | None, since: Column | None = None, columns: list[Column] = ()) -> None:
    """Add a status-column funnel: the column's stage values in order, the won value last (dated by
    `closed`), and an exit per kind of lost value (dated by `closed` too)."""
    draft.column("stage_now", status.header, "a status column: where each deal is now")
    draft.settings.append(Entry("stage_column", "stage_now", "a deal reached every stage up to the one it names"))
    values, exits, won = split_statuses(by_rows(status))
    ordered, how = order_statuses(values, status, known, created, since, columns)
    draft.stages_above.append(f"Stages: the values of {status.header!r}, {how}.")
    for i, value in enumerate(ordered):
        item = value_item(value, draft.stages)
        if item is None:
            continue
        if i == 0 and created is not None and created.dates:
            item.entries.append(Entry("date", created.header, "every deal created (reached by its date)"))
        draft.stages.append(item)
    if won:
        entries = [Entry("when", {"stage_now": {"in": won}})]
        if closed is not None and closed.dates:
            entries.append(Entry("date", closed.header, "the day it was won"))
        draft.stages.append(Item("Won", entries))
    dated = [Entry("date", closed.header, "the day it was lost")] if closed is not None and closed.dates else []
    for name, names in exits.items():
        draft.exits.append(Item(name, [Entry("values", names)] + dated))


def _pipelines(draft: Draft, pipeline: Column | None) -> None:
    if pipeline is not None and len(pipeline.counts) > 1:
        draft.outro.append(f"check: the export holds {len(pipeline.counts)} pipelines ({', '.join(by_rows(pipeline)[:5])}), "
                           "whose stages differ: export one pipeline per file, with definitions each")


# --------------------------------------------------------------------------------------------
# Salesforce


def _is_salesforce_leads(headers: set[str]) -> bool:
    return "Lead Status" in headers and bool({"Lead Owner", "Lead ID"} & headers) and "Created Date" in headers


def _salesforce_leads(columns: list[Column], by: dict[str, Column]) -> Draft:
    draft = Draft("a Salesforce leads report")
    _intro(draft, "its Lead Status, Lead Owner and Created Date columns")
    _id(draft, columns, by, ("Lead ID",), "; add Lead ID to the report's columns to be sure")
    map_dimensions(draft, columns, {"created": "Created Date", "owner": "Lead Owner", "source": "Lead Source",
                                    "industry": "Industry", "employees": "Employees", "country": "Country",
                                    "rating": "Rating", "last_activity": "Last Activity",
                                    "opportunity_id": "Converted Opportunity ID"})
    draft.stages.append(Item("Lead", [Entry("date", "Created Date", "every lead, by its creation date")]))
    converted = [Entry("flag", "Converted", "the Converted checkbox")] if "Converted" in by and by["Converted"].flag else []
    if "Converted Date" in by and by["Converted Date"].dates:
        converted.append(Entry("date", "Converted Date", "the day it was converted to an opportunity"))
    status = by["Lead Status"]
    if not converted:
        values = [v for v in by_rows(status) if is_won(v)]
        converted = [Entry("when", {"status": {"in": values or ["Closed - Converted"]}}, "check the value")]
    draft.stages.append(Item("Converted", converted))
    _exit_conditions(draft, status)
    draft.outro.append("To follow converted leads to won deals, join the opportunities report by Converted Opportunity ID "
                       "(joins:, see the README's Salesforce session and definitions/salesforce/).")
    return draft


def _is_salesforce_opportunities(headers: set[str]) -> bool:
    return "Stage" in headers and "Close Date" in headers and bool({"Opportunity ID", "Opportunity Name", "Won"} & headers)


def _salesforce_opportunities(columns: list[Column], by: dict[str, Column]) -> Draft:
    draft = Draft("a Salesforce opportunities report")
    _intro(draft, "its Stage, Close Date and Opportunity columns")
    _id(draft, columns, by, ("Opportunity ID",), "; add Opportunity ID to the report's columns to be sure")
    map_dimensions(draft, columns, {"created": "Created Date", "owner": "Opportunity Owner", "source": "Lead Source",
                                    "amount": "Amount", "type": "Type", "account": "Account Name"})
    _status_funnel(draft, by["Stage"], SALESFORCE_STAGES, by.get("Created Date"), by.get("Close Date"), columns=columns)
    draft.outro.append("An open opportunity's Close Date is its expected close: it dates only won and lost ones here.")
    return draft


# --------------------------------------------------------------------------------------------
# Pipedrive


def _is_pipedrive_deals(headers: set[str]) -> bool:
    return "Deal - Stage" in headers and bool({"Deal - ID", "Deal - Title"} & headers)


def _pipedrive_deals(columns: list[Column], by: dict[str, Column]) -> Draft:
    draft = Draft("a Pipedrive deals export")
    _intro(draft, "its 'Deal - ...' columns")
    _id(draft, columns, by, ("Deal - ID",))
    map_dimensions(draft, columns, {"state": "Deal - Status", "stage_since": "Deal - Last stage change",
                                    "created": "Deal - Deal created", "owner": "Deal - Owner", "source": "Deal - Source",
                                    "amount": "Deal - Value", "currency": "Deal - Currency",
                                    "organization": "Organization - Name", "lost_reason": "Deal - Lost reason"})
    created, since = by.get("Deal - Deal created"), by.get("Deal - Last stage change")
    _status_funnel(draft, by["Deal - Stage"], PIPEDRIVE_STAGES, created, None, since, columns)
    state = by.get("Deal - Status")
    if state is not None and {"won", "lost"} & {v.casefold() for v in state.counts}:
        _state_rules(draft, state, by)
    _pipelines(draft, by.get("Deal - Pipeline"))
    return draft


def _state_rules(draft: Draft, state: Column, by: dict[str, Column]) -> None:
    """Won and Lost from "Deal - Status" (open / won / lost): the deal's stage column holds the stage
    it was won or lost in."""
    values = {v.casefold(): v for v in state.counts}
    if "won" in values:
        won = Item("Won", [Entry("when", {"state": {"in": [values["won"]]}}, "won from whichever stage the deal was in")])
        if "Deal - Won time" in by and by["Deal - Won time"].dates:
            won.entries.append(Entry("date", "Deal - Won time"))
        draft.stages = [s for s in draft.stages if s.name != "Won"] + [won]
    if "lost" in values:
        lost = Item("Lost", [Entry("when", {"state": {"in": [values["lost"]]}})])
        if "Deal - Lost time" in by and by["Deal - Lost time"].dates:
            lost.entries.append(Entry("date", "Deal - Lost time"))
        draft.exits = [e for e in draft.exits if e.name != "Lost"] + [lost]


LOG_ID = ("deal_id", "Deal ID", "item_id")
LOG_FIELD = ("changed_field_key", "field_key", "Field")
LOG_VALUE = ("new_value", "New value")
LOG_TIME = ("change_time", "log_time", "Time", "Update time", "timestamp")


def _pick(headers, names: tuple[str, ...]) -> str | None:
    return next((n for n in names if n in headers), None)


def _is_pipedrive_log(headers: set[str]) -> bool:
    return all(_pick(headers, names) for names in (LOG_ID, LOG_FIELD, LOG_VALUE, LOG_TIME))


def _pipedrive_log(columns: list[Column], by: dict[str, Column]) -> Draft:
    draft = Draft("a Pipedrive deal changes log")
    _intro(draft, "its deal id, field key, new value and change time columns")
    ident, field, value, time = (_pick(by, names) for names in (LOG_ID, LOG_FIELD, LOG_VALUE, LOG_TIME))
    draft.column("id", ident, "the deal each change belongs to (a deal has many rows)")
    keys = {k.casefold(): k for k in by[field].counts}
    stage_key = keys.get("stage_id") or keys.get("stage") or next(iter(keys), "stage_id")
    status_key = keys.get("status")
    rows = [i for i, k in enumerate(by[field].cells) if k in (stage_key, status_key)]
    statuses = {by[value].cells[i].casefold(): by[value].cells[i] for i in rows if by[field].cells[i] == status_key}
    only = [stage_key] + ([status_key] if status_key and {"won", "lost"} & set(statuses) else [])
    draft.history += [Entry("stage", value, "the column holding the stage entered"), Entry("at", time, "when"),
                      Entry("only", {field: {"in": only}}, "the rows that are stage (and won/lost) changes")]
    if len(only) > 1:  # Pipedrive's statuses are open, won and lost: open again after a loss reopens the deal
        draft.history.append(Entry("reopen", [statuses.get("open", "open")], "a status back to open: the deal is out no more"))
    stages = _log_stage_order([i for i in rows if by[field].cells[i] == stage_key], by[ident], by[value], by[time])
    draft.stages_above.append("Stages: the stage ids the log names, in the order deals entered them. Pipedrive logs ids: "
                              "name each stage as in Pipedrive (Settings > Pipelines) and keep its values.")
    for stage_id in stages:
        draft.stages.append(Item(f"Stage {stage_id}", [Entry("values", [stage_id])], comment="check: rename it"))
    if len(only) > 1 and "won" in statuses:
        draft.stages.append(Item("Won", [Entry("values", [statuses["won"]])], comment="status changed to won"))
    if len(only) > 1 and "lost" in statuses:
        draft.exits.append(Item("Lost", [Entry("values", [statuses["lost"]])], comment="status changed to lost"))
    draft.outro.append("Owners, amounts and won/lost times are in the deals export: join it by deal id for --by owner "
                       "(joins:, see definitions/pipedrive-log/).")
    return draft


def _log_stage_order(rows: list[int], ident: Column, value: Column, time: Column) -> list[str]:
    """Return the stage values of a log's stage rows ordered by where they come in each deal's changes."""
    days = time.dates.days if time.dates else [None] * len(time.cells)
    by_deal: dict[str, list[tuple]] = {}
    for i in rows:
        by_deal.setdefault(ident.cells[i], []).append((days[i] or 0, time.cells[i], i, value.cells[i]))
    positions: dict[str, list[int]] = {}
    for changes in by_deal.values():
        seen: list[str] = []
        for *_, v in sorted(changes, key=lambda c: (str(c[0]), c[1], c[2])):
            if v and v not in seen:
                seen.append(v)
        for p, v in enumerate(seen):
            positions.setdefault(v, []).append(p)
    return sorted(positions, key=lambda v: (statistics.mean(positions[v]), _numeric(v)))


def _numeric(value: str) -> tuple:
    return (0, int(value), "") if value.isdigit() else (1, 0, value)


PRESETS = (
    (_is_pipedrive_log, _pipedrive_log),
    (_is_pipedrive_deals, _pipedrive_deals),
    (_is_hubspot_contacts, _hubspot_contacts),
    (_is_hubspot_deals, _hubspot_deals),
    (_is_salesforce_opportunities, _salesforce_opportunities),
    (_is_salesforce_leads, _salesforce_leads),
)
