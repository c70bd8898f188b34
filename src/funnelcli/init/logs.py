"""The stage-history logs init recognises by their columns, each drafted with a `history:` block.

    Pipedrive deal changes      deal_id, changed_field_key, new_value, change_time
    Salesforce field history    OpportunityId (or LeadId), Field, NewValue, CreatedDate
                                (OpportunityFieldHistory, LeadHistory; a field history report's
                                Opportunity ID, Field / Event, New Value, Edit Date too)
    HubSpot property history    a record id, the property, its value, a timestamp

A log has a row per change of a record: the id is the record's (not the row's), `only:` selects
the rows that change the stage field, and the stages are the values those rows hold, in the order
the records enter them (a CRM's default stages in its own order).
"""

from __future__ import annotations

import re
import statistics
from collections import Counter

from funnelcli.init.columns import Column
from funnelcli.init.draft import Draft, Entry, Item, value_item
from funnelcli.init.guess import split_statuses

# --------------------------------------------------------------------------------------------
# Shared


def _key(text: str) -> str:
    """Return a header or value compared loosely: 'Property name', 'property_name' -> 'propertyname'."""
    return re.sub(r"[\s_\-/.]+", "", text).casefold()


def _loose(headers, names: tuple[str, ...]) -> str | None:
    """Return the first header that is one of `names` compared loosely (`_key`), or None."""
    keyed = {}
    for h in headers:
        keyed.setdefault(_key(h), h)
    return next((keyed[_key(n)] for n in names if _key(n) in keyed), None)


def _field_key(field: Column, wanted: tuple[str, ...]) -> tuple[str, str]:
    """Return the value of the log's field column that marks a stage change (the first of `wanted`
    it holds, compared loosely), and a comment: a check when none of them is there."""
    found = _loose([k for k, _ in field.counts.most_common()], wanted)  # of two spellings, the one most rows have
    if found is not None:
        return found, "the rows that are stage changes"
    common = max(field.counts, key=lambda k: field.counts[k], default=wanted[0])
    return common, f"check: no {wanted[0]} rows in the rows read; the most common field taken for the stage"


def log_stage_order(rows: list[int], ident: Column, value: Column, time: Column, old: Column | None = None) -> list[str]:
    """Return the stage values of a log's stage rows ordered by where they come in each record's
    changes; with `old` (the value before each change), its values too, each just before its row's."""
    days = time.dates.days if time.dates else [None] * len(time.cells)
    by_record: dict[str, list[tuple]] = {}
    for i in rows:
        if old is not None:
            by_record.setdefault(ident.cells[i], []).append((days[i] or 0, time.cells[i], i - 0.5, old.cells[i]))
        by_record.setdefault(ident.cells[i], []).append((days[i] or 0, time.cells[i], i, value.cells[i]))
    positions: dict[str, list[int]] = {}
    before: Counter = Counter()  # (a, b): the records that entered a before b
    for changes in by_record.values():
        seen: list[str] = []
        for *_, v in sorted(changes, key=lambda c: (str(c[0]), _numeric(c[1]), c[2])):
            if v and v not in seen:
                seen.append(v)
        for p, v in enumerate(seen):
            positions.setdefault(v, []).append(p)
            before.update((v, w) for w in seen[p + 1:])

    # by the pairs the records hold both of (one that starts mid-funnel says nothing of the stages
    # before it, where a mean position would pull its first value forward): each next value one no
    # other left comes before in most records holding both, the earliest by mean position
    def mean(v: str) -> tuple:
        return statistics.mean(positions[v]), _numeric(v)

    if len(positions) > 60:  # no stage field has that many values (an owner field, taken for want of one): by mean
        return sorted(positions, key=mean)
    after: dict[str, set] = {v: set() for v in positions}  # v -> the values most records holding both enter before v
    for (a, b), n in before.items():
        if n > before[b, a]:
            after[b].add(a)
    left, order = set(positions), []
    while left:
        free = [v for v in left if not after[v] & left]
        order.append(min(free or left, key=mean))
        left.remove(order[-1])
    return order


def _numeric(value: str) -> tuple:
    return (0, int(value), "") if value.isdigit() else (1, 0, value)


def _in_crm_order(ordered: list[str], known: tuple[str, ...]) -> list[str]:
    """Return the log's order with the CRM's own values put in the CRM's order, in the places the
    log gives them: a custom stage keeps its place among them."""
    rank = {_key(k): i for i, k in enumerate(known)}
    places = [i for i, v in enumerate(ordered) if _key(v) in rank]
    mine = sorted((ordered[i] for i in places), key=lambda v: rank[_key(v)])
    out = list(ordered)
    for i, v in zip(places, mine):
        out[i] = v
    return out


def _values_in(rows: list[int], column: Column) -> list[str]:
    return list(dict.fromkeys(column.cells[i] for i in rows if column.cells[i]))


def _stage_items(draft: Draft, ordered: list[str], names: dict[str, str], record: str) -> None:
    """Add a stage per value in order, named from `names` (by `_key`) or after the value; `values:`
    only where the name doesn't say the value (a stage's values default to its name, in any case).
    The first stage keeps no `values:` where it can: every record of the log then reaches it."""
    for value in ordered:
        name = names.get(_key(value))
        if name is None:
            item = value_item(value, draft.stages)
            if item is None:
                continue
            if value.strip().isdigit():  # a custom stage the CRM names by its id (HubSpot: 91735412)
                item.comment = "check: a stage named by its id; rename it (its values: keep the id)"
                item.entries = item.entries or [Entry("values", [value.strip()])]
                item.name = f"Stage {value.strip()}"
        elif any(s.name == name for s in draft.stages):
            continue
        else:
            item = Item(name, [] if name.casefold() == value.strip().casefold() else [Entry("values", [value])])
        if not draft.stages and not item.entries:
            item.comment = f"no values: every {record} of the log reaches it, by its first row"
        draft.stages.append(item)


def _exit_items(draft: Draft, exits: dict[str, list[str]], checked: dict[str, str] | None = None) -> None:
    for name, values in exits.items():
        draft.exits.append(Item(name, [Entry("values", values)], comment=(checked or {}).get(name, "check the values")))


def _order_note(known: tuple[str, ...], ordered: list[str], order: str, record: str) -> str:
    """Return how the stages were ordered: in `order` (the CRM's), or partly by the log (to check)."""
    custom = [v for v in ordered if _key(v) not in {_key(k) for k in known}]
    if not custom:
        return f"in {order}"
    listed = ", ".join(custom[:5]) + (", ..." if len(custom) > 5 else "")
    ours = f"the CRM's own in {order}; " if len(custom) < len(ordered) else ""
    return f"{ours}check: {listed} ordered by where they come in each {record}'s changes"


# --------------------------------------------------------------------------------------------
# Pipedrive deal changes

LOG_ID = ("deal_id", "Deal ID", "item_id")
LOG_FIELD = ("changed_field_key", "field_key", "Field")
LOG_VALUE = ("new_value", "New value")
LOG_TIME = ("change_time", "log_time", "Time", "Update time", "timestamp")


def is_pipedrive_log(headers: set[str]) -> bool:
    return all(_loose(headers, names) for names in (LOG_ID, LOG_FIELD, LOG_VALUE, LOG_TIME))


def pipedrive_log(columns: list[Column], by: dict[str, Column]) -> Draft:
    draft = Draft("a Pipedrive deal changes log")
    draft.recognised("its deal id, field key, new value and change time columns")
    ident, field, value, time = (_loose(by, names) for names in (LOG_ID, LOG_FIELD, LOG_VALUE, LOG_TIME))
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
    stages = log_stage_order([i for i in rows if by[field].cells[i] == stage_key], by[ident], by[value], by[time])
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


# --------------------------------------------------------------------------------------------
# Salesforce field history (OpportunityFieldHistory, LeadHistory, a field history report)

SALESFORCE_STAGES = ("Prospecting", "Qualification", "Needs Analysis", "Value Proposition", "Id. Decision Makers",
                     "Perception Analysis", "Proposal/Price Quote", "Negotiation/Review")
SALESFORCE_LEAD_STATUSES = ("Open - Not Contacted", "Working - Contacted")
SF_ID = ("OpportunityId", "Opportunity ID", "LeadId", "Lead ID")
SF_FIELD = ("Field", "Field / Event", "Field/Event")
SF_VALUE = ("NewValue", "New Value")
SF_TIME = ("CreatedDate", "Edit Date", "Created Date")
SF_OLD = ("OldValue", "Old Value")
SF_STAGE_FIELDS = ("StageName", "Stage", "Status", "Lead Status")  # the API's names, then a report's labels


def is_salesforce_history(headers: set[str]) -> bool:
    return all(_loose(headers, names) for names in (SF_ID, SF_FIELD, SF_VALUE, SF_TIME))


def salesforce_history(columns: list[Column], by: dict[str, Column]) -> Draft:
    ident, field, value, time = (_loose(by, names) for names in (SF_ID, SF_FIELD, SF_VALUE, SF_TIME))
    leads = ident.casefold().startswith("lead")
    record = "lead" if leads else "opportunity"
    draft = Draft(f"a Salesforce {'lead' if leads else 'opportunity'} field history")
    draft.recognised(f"its {ident}, {field}, {value} and {time} columns")
    own_id = _loose(by, ("Id",))
    own = f"; {own_id} is the change's own" if own_id else ""
    draft.column("id", ident, f"the {record} each change belongs to (one has many rows{own})")
    stage_key, why = _field_key(by[field], SF_STAGE_FIELDS[2:] if leads else SF_STAGE_FIELDS)
    draft.history += [Entry("stage", value, "the column holding the stage entered"), Entry("at", time, "when"),
                      Entry("only", {field: {"in": [stage_key]}}, why)]
    rows = [i for i, k in enumerate(by[field].cells) if k == stage_key]
    _, exits, won = split_statuses(_values_in(rows, by[value]))
    known = SALESFORCE_LEAD_STATUSES if leads else SALESFORCE_STAGES
    # the stage a record was created in shows only as the old value of its first change
    old = by.get(_loose(by, SF_OLD))
    stages, _, _ = split_statuses(log_stage_order(rows, by[ident], by[value], by[time], old))
    stages = _in_crm_order(stages, known)
    how = _order_note(known, stages, "Salesforce's default order", record)
    draft.stages_above.append(f"Stages: the {stage_key} values of the log, {how}; "
                              f"a later stage's row implies the earlier ones. Salesforce may log no {stage_key} row for the "
                              f"stage {'a lead' if leads else 'an opportunity'} is created in: the first stage, with no "
                              "values:, is every one of the log.")
    _stage_items(draft, stages, {}, record)
    if won:
        draft.stages.append(Item("Converted" if leads else "Won", [Entry("values", won)],
                                 comment="the last stage" + ("" if leads else ": closed won")))
    _exit_items(draft, exits, {"Lost": "closed lost"} if "Closed Lost" in exits.get("Lost", []) else None)
    if not leads:
        draft.outro.append("Owners, amounts and close dates are in the opportunities report: join it by Opportunity ID "
                           "for --by owner (joins:, see the README's Salesforce session and definitions/salesforce/).")
    return draft


# --------------------------------------------------------------------------------------------
# HubSpot property history

HUBSPOT_LIFECYCLE_VALUES = {  # a lifecycle stage's internal name -> the stage's name, in HubSpot's lifecycle order
    "subscriber": "Subscriber", "lead": "Lead", "marketingqualifiedlead": "MQL", "salesqualifiedlead": "SQL",
    "opportunity": "Opportunity", "customer": "Customer", "evangelist": "Evangelist",
}
HUBSPOT_DEAL_STAGE_VALUES = {  # the default sales pipeline's stages, by internal name, in its order
    "appointmentscheduled": "Appointment Scheduled", "qualifiedtobuy": "Qualified To Buy",
    "presentationscheduled": "Presentation Scheduled", "decisionmakerboughtin": "Decision Maker Bought-In",
    "contractsent": "Contract Sent", "closedwon": "Won",
}
HS_KINDS = {  # the stage property -> its values' names, what a record is, the order of the names
    "lifecyclestage": (HUBSPOT_LIFECYCLE_VALUES, "contact", "HubSpot's lifecycle order"),
    "dealstage": (HUBSPOT_DEAL_STAGE_VALUES, "deal", "HubSpot's default pipeline order"),
}
HS_ID = ("Record ID", "Contact ID", "contact_id", "vid", "hs_object_id", "objectId", "Object ID", "Deal ID", "Company ID")
HS_PROPERTY = ("Property", "Property name", "Property internal name", "propertyName")
HS_VALUE = ("Value", "Property value", "New value")
HS_TIME = ("Timestamp", "Updated at", "Change date", "Date", "Time")
HS_STAGE_PROPERTIES = ("lifecyclestage", "dealstage", "hs_pipeline_stage", "hs_lead_status")


def is_hubspot_history(headers: set[str]) -> bool:
    return all(_loose(headers, names) for names in (HS_ID, HS_PROPERTY, HS_VALUE, HS_TIME))


def hubspot_history(columns: list[Column], by: dict[str, Column]) -> Draft:
    ident, prop, value, time = (_loose(by, names) for names in (HS_ID, HS_PROPERTY, HS_VALUE, HS_TIME))
    draft = Draft("a HubSpot property history")
    draft.recognised(f"its {ident}, {prop}, {value} and {time} columns")
    stage_key, why = _field_key(by[prop], HS_STAGE_PROPERTIES)
    names, record, order = HS_KINDS.get(_key(stage_key), ({}, "record", ""))
    lifecycle = _key(stage_key) == "lifecyclestage"
    draft.column("id", ident, f"the {record} each change belongs to (one has many rows)")
    draft.history += [Entry("stage", value, "the column holding the stage entered"), Entry("at", time, "when"),
                      Entry("only", {prop: {"in": [stage_key]}}, why)]
    rows = [i for i, k in enumerate(by[prop].cells) if k == stage_key]
    values = _values_in(rows, by[value])
    others = [v for v in values if _key(v) == "other"] if lifecycle else []
    _, exits, _ = split_statuses(values)  # exit_of('other') is None: HubSpot's 'other' is apart
    out = {v for vs in exits.values() for v in vs} | set(others)
    stages = _in_crm_order([v for v in log_stage_order(rows, by[ident], by[value], by[time]) if v not in out], tuple(names))
    how = _order_note(tuple(names), stages, order, record) if names else \
        f"check: ordered by where they come in each {record}'s changes"
    draft.stages_above.append(f"Stages: the {stage_key} values of the log, {how}; a later stage's row implies the earlier "
                              "ones. Keep the ones your funnel counts.")
    _stage_items(draft, stages, names, record)
    if others:
        exits = {"Other": others, **exits}
    _exit_items(draft, exits, {"Other": "check: HubSpot's lifecycle stage 'other', taken for a way out"})
    status = {_key(k) for k in by[prop].counts}
    if lifecycle and "hsleadstatus" in status:
        draft.outro.append("The log's hs_lead_status rows (UNQUALIFIED and the like) are left out: only: selects the "
                           "lifecycle stage changes.")
    return draft
