"""The CRM exports init recognises by their headers, each written in the shape domain.md gives it.

    HubSpot contacts        wide: a "Became a ... Date" column per lifecycle stage
    HubSpot deals           status: "Deal Stage", with Create Date and Close Date; or wide, by its
                            'Date entered "<stage> (<pipeline>)"' columns where it has them
    Salesforce leads        dates and a flag: Created Date, Converted (Date), exits from Lead Status
    Salesforce opportunities status: "Stage", won and lost dated by Close Date
    Pipedrive deals         status: "Deal - Stage", won and lost from "Deal - Status"
    stage-history logs      Pipedrive deal changes, Salesforce field history, HubSpot property
                            history: a row per change of a record (`logs`)

Anything else goes to `guess.generic`.
"""

from __future__ import annotations

import re
from collections import Counter

from funnelcli.init.columns import Column, by_rows, id_column, id_note, profile
from funnelcli.init.draft import Draft, Entry, Item, value_item
from funnelcli.init.guess import exit_of, finish, generic, is_won, map_dimensions, order_statuses, split_statuses
from funnelcli.init.logs import (
    SALESFORCE_STAGES,
    hubspot_history,
    is_hubspot_history,
    is_pipedrive_log,
    is_salesforce_history,
    pipedrive_log,
    salesforce_history,
)
from funnelcli.init.sample import Sample

HUBSPOT_LIFECYCLE = {  # "Became a X Date" -> the stage's name, in HubSpot's lifecycle order
    "subscriber": "Subscriber", "lead": "Lead", "marketing qualified lead": "MQL", "sales accepted lead": "SAL",
    "sales qualified lead": "SQL", "opportunity": "Opportunity", "customer": "Customer",
}
HUBSPOT_DEAL_STAGES = ("Appointment Scheduled", "Qualified To Buy", "Presentation Scheduled",
                       "Decision Maker Bought-In", "Contract Sent")
PIPEDRIVE_STAGES = ("Qualified", "Contact Made", "Demo Scheduled", "Needs Defined", "Proposal Made", "Negotiations Started")
BECAME = re.compile(r"^Became an? (.+) Date$", re.IGNORECASE)
# a HubSpot deals export's date a deal entered each stage: 'Date entered "Contract Sent (Sales Pipeline)"'
ENTERED = re.compile(r'^Date entered "(.+?)(?: \((.+)\))?"$', re.IGNORECASE)


def build(sample: Sample) -> Draft:
    """Return the definitions init proposes for the sample: a recognised layout's, else guessed."""
    columns = profile(sample)
    headers = {c.header for c in columns}
    for matches, preset in PRESETS:
        if matches(headers):
            draft = preset(columns, {c.header: c for c in columns})
            return finish(draft, sample, columns)
    return generic(sample, columns)


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
    draft.column(key, status.header, f"{len(status.counts)} value{'s' if len(status.counts) != 1 else ''} in the rows read")
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
    draft.recognised("its 'Became a ... Date' lifecycle columns")
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
    entered = any(ENTERED.match(c.header) for c in columns)
    draft.recognised("its Deal Stage and 'Date entered \"<stage> (<pipeline>)\"' columns" if entered
                     else "its Deal Stage, Create Date and Close Date columns")
    _id(draft, columns, by, ("Record ID", "Deal ID"))
    map_dimensions(draft, columns, {"created": "Create Date", "owner": "Deal owner", "source": "Original Source Type",
                                    "amount": "Amount", "last_activity": "Last Activity Date", "pipeline": "Pipeline",
                                    "deal_type": "Deal Type"})
    if entered:
        _entered_dates(draft, columns)
    else:
        _status_funnel(draft, by["Deal Stage"], HUBSPOT_DEAL_STAGES, by.get("Create Date"), by.get("Close Date"), columns=columns)
    _pipelines(draft, by.get("Pipeline"))
    return draft


def _entered_dates(draft: Draft, columns: list[Column]) -> None:
    """Add a wide funnel from a HubSpot deals export's 'Date entered "<stage> (<pipeline>)"'
    columns: a stage per column of the pipeline most deals have dates in, HubSpot's default stages
    in its order and others by how many deals entered them (a funnel narrows; an export of every
    property lists its columns alphabetically), Won and an exit per lost kind dated by their own
    columns. The status column names only where a deal is now (a lost deal's 'Closed Lost'), the
    dates every stage it passed."""
    entered = [(ENTERED.match(c.header), c) for c in columns if ENTERED.match(c.header)]
    filled: Counter = Counter()
    for m, c in entered:
        filled[m.group(2) or ""] += c.filled
    pipeline = max(filled, key=lambda p: filled[p])  # the first of the busiest, in the export's order
    dated = {m.group(1): c for m, c in entered if (m.group(2) or "") == pipeline}
    stages, exits, won = split_statuses(list(dated))
    rank = {s.casefold(): i for i, s in enumerate(HUBSPOT_DEAL_STAGES)}
    known = all(s.casefold() in rank for s in stages)
    stages.sort(key=(lambda s: rank[s.casefold()]) if known else (lambda s: -dated[s].filled))
    how = "in HubSpot's default pipeline order" if known else "in the order of how many deals entered each (a funnel narrows): check"
    draft.stages_above.append("Stages: the 'Date entered' columns of " + (f"the {pipeline} pipeline" if pipeline else "the pipeline")
                              + f", {how}; a deal reached each stage it has a date in, and the earlier ones.")

    def date(name: str, what: str) -> list[Entry]:
        blank = "" if dated[name].counts else f"; check: blank in the {len(dated[name].cells):,} rows read"
        return [Entry("date", dated[name].header, f"{what}{blank}")]

    draft.stages += [Item(s, date(s, "reached when the date is filled")) for s in stages]
    draft.stages += [Item("Won", date(won[0], "the day it was won"))] if won else []
    draft.exits += [Item(name, date(values[0], "the day it was lost")) for name, values in exits.items()]
    others = [p for p in filled if p != pipeline]
    if others:
        draft.outro.append(f"check: the export holds the stage dates of other pipelines too ({', '.join(others)}), whose "
                           "stages differ: export one pipeline per file, with definitions each")


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
    draft.recognised("its Lead Status, Lead Owner and Created Date columns")
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
    draft.recognised("its Stage, Close Date and Opportunity columns")
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
    draft.recognised("its 'Deal - ...' columns")
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


PRESETS = (
    (is_pipedrive_log, pipedrive_log),
    (is_salesforce_history, salesforce_history),
    (is_hubspot_history, hubspot_history),
    (_is_pipedrive_deals, _pipedrive_deals),
    (_is_hubspot_contacts, _hubspot_contacts),
    (_is_hubspot_deals, _hubspot_deals),
    (_is_salesforce_opportunities, _salesforce_opportunities),
    (_is_salesforce_leads, _salesforce_leads),
)
