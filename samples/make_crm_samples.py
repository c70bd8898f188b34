#!/usr/bin/env python3
"""Generate the synthetic Salesforce, Pipedrive and flag samples for funnelcli (one per export shape).

Each sample is laid out like the CRM's own export (its column names, date style and quoting) and
made from a simulated funnel seeded with random.Random(seed), so the same arguments always give
byte-identical files. Events after the export date are dropped: recent leads are still in progress.

    salesforce-leads.csv + salesforce-opportunities.csv   a leads report and an opportunities report,
                                                           joined on the converted opportunity's id
    pipedrive-deals.csv                                    a deals export: a status column ("Deal - Stage")
    pipedrive-deal-changes.csv                             the same deals' change log (stage-history log)
    flag-leads.csv                                         a "Lead Scoring"-style table: a 0/1 flag, no dates

Each sample's injected quirks and true totals go to a JSON manifest next to it
(salesforce.manifest.json, pipedrive.manifest.json, flag-leads.manifest.json).

    python3 samples/make_crm_samples.py                    # every sample, into samples/
    python3 samples/make_crm_samples.py --only pipedrive --out-dir /tmp/x

Standard library only.
"""
import argparse
import csv
import datetime as dt
import json
import math
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
DAY = 86400  # times are whole seconds since the start of the simulated window

CO_A = "Acme Northwind Bluebird Summit Pioneer Evergreen Ironclad Silverline Redwood Harbor Granite " \
       "Brightpath Cobalt Meridian Keystone Lighthouse Orbit Vertex Sterling Juniper Falcon Beacon".split()
CO_B = "Analytics Systems Logistics Health Partners Labs Capital Foods Media Robotics Dynamics " \
       "Solutions Retail Energy Learning Properties Software Manufacturing Consulting Networks".split()
CO_SUFFIX = ["", "", "", "", " Inc.", " Ltd", " GmbH", " Group", " Co.", ", Inc.", ", LLC"]
FIRST = "James Mary Robert Patricia Michael Jennifer David Linda William Elizabeth Richard Susan Joseph " \
        "Jessica Thomas Sarah Chris Karen Daniel Nancy Matthew Lisa Anthony Emily Mark Ashley Steven " \
        "Ravi Ananya Wei Mei Hiroshi Yuki Lukas Anna Pierre Camille Mateo Lucia José Zoë Björn".split()
LAST = "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Lopez Wilson Anderson " \
       "Taylor Moore Jackson Martin Lee Thompson White Harris Clark Lewis Walker Young Allen King Patel " \
       "Sharma Chen Wang Tanaka Sato Schmidt Fischer Dubois Silva Nguyen Kim Murphy O'Brien Müller".split()
TITLES = ["Marketing Manager", "VP of Sales", "Head of Operations", "CFO", "CEO", "Founder", "IT Director",
          "Product Manager", "Sales Director", "Office Manager", "Procurement Lead", "CTO", ""]


def pick(rng, weights):
    """Return a key of {value: weight} (or {value: (weight, ...)}) drawn by weight."""
    keys = list(weights)
    w = [v[0] if isinstance(v, tuple) else v for v in weights.values()]
    return rng.choices(keys, w)[0]


def company(rng):
    return f"{rng.choice(CO_A)} {rng.choice(CO_B)}{rng.choice(CO_SUFFIX)}"


def person(rng):
    return rng.choice(FIRST), rng.choice(LAST)


def creation_times(rng, n, start, span):
    """n sorted times in [start, start + span): density rises from 1.0 to 1.5 over the window,
    mostly in working hours."""
    out = []
    for _ in range(n):
        day = int(2 * (math.sqrt(1 + 1.25 * rng.random()) - 1) * (span // DAY))
        out.append(start + day * DAY + int((7.5 + rng.random() ** 1.2 * 11) * 3600) + rng.randrange(60))
    return sorted(out)


def write_csv(path, header, rows, quoting=csv.QUOTE_MINIMAL, newline="\n"):
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, quoting=quoting, lineterminator=newline)
        w.writerow(header)
        w.writerows(rows)


def write_manifest(path, manifest):
    """JSON with one key per line (lists of rows on one line), like hubspot-contacts.manifest.json."""
    lines = [f"  {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}" for k, v in manifest.items()]
    Path(path).write_text("{\n" + ",\n".join(lines) + "\n}\n", encoding="utf-8")


class Clock:
    """Seconds since the window's start <-> datetimes; `now` is the end of the export date."""

    def __init__(self, export_date, days):
        self.base = dt.datetime.combine(export_date - dt.timedelta(days=days), dt.time())
        self.now = days * DAY + DAY - 1  # events on the export date itself are kept
        self.span = days * DAY

    def at(self, t):
        return self.base + dt.timedelta(seconds=t)


# --------------------------------------------------------------------------------------------
# Salesforce: a Leads report and an Opportunities report

SF_LEAD_HEADER = ["Lead ID", "First Name", "Last Name", "Title", "Company / Account", "Lead Owner", "Lead Source",
                  "Lead Status", "Rating", "Industry", "Employees", "Country", "Created Date", "Last Activity",
                  "Converted Date", "Converted Opportunity ID"]
SF_OPP_HEADER = ["Opportunity ID", "Opportunity Name", "Account Name", "Opportunity Owner", "Type", "Lead Source",
                 "Stage", "Probability (%)", "Amount", "Created Date", "Close Date", "Closed", "Won"]
# name: (weight, quality)
SF_SOURCES = {"Web": (30, 1.0), "Phone Inquiry": (8, 1.3), "Partner Referral": (9, 1.6), "Purchased List": (14, 0.45),
              "Advertisement": (12, 0.8), "Employee Referral": (4, 1.7), "Trade Show": (10, 1.1),
              "Seminar - Internal": (5, 1.2), "Other": (4, 0.9), "": (4, 0.8)}
SF_OWNERS = {"Olivia Grant": (18, 1.15), "Noah Becker": (16, 1.0), "Amelia Rossi": (15, 1.1), "Ethan Park": (14, 0.9),
             "Isabella Cruz": (12, 1.0), "Lucas Meyer": (11, 0.8)}
SF_QUEUE = "Web Leads Queue"  # leads nobody has picked up are owned by the queue
SF_INDUSTRIES = {"Technology": 22, "Banking": 8, "Finance": 6, "Healthcare": 11, "Manufacturing": 12, "Retail": 9,
                 "Education": 6, "Telecommunications": 5, "Media": 4, "Energy": 4, "Consulting": 5, "": 8}
# Country is free text in many orgs: the same country is written several ways.
SF_COUNTRIES = {"United States": 38, "USA": 10, "US": 6, "Canada": 7, "United Kingdom": 7, "UK": 3, "Germany": 7,
                "France": 4, "Australia": 5, "India": 4, "Brazil": 3, "": 6}
SF_OPP_STAGES = [("Prospecting", 10), ("Qualification", 10), ("Needs Analysis", 20), ("Proposal/Price Quote", 75),
                 ("Negotiation/Review", 90)]


def sf_datetime(d):
    """6/3/2024 1:39 AM: a Salesforce report's date/time in the US locale (no leading zeros)."""
    h = d.hour % 12 or 12
    return f"{d.month}/{d.day}/{d.year} {h}:{d.minute:02d} {'AM' if d.hour < 12 else 'PM'}"


def sf_date(d):
    return f"{d.month}/{d.day}/{d.year}"


def sf_id(prefix, n):
    """A 15-character Salesforce id: key prefix, pod, then a base-62 sequence number."""
    digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    s = ""
    for _ in range(5):
        n, r = divmod(n, 62)
        s = digits[r] + s
    return f"{prefix}8c00000{s}"


def make_salesforce(out_dir, seed, export_date, n_leads=2000, n_direct_opps=60):
    rng = random.Random(seed)
    clock = Clock(export_date, 730)
    now = clock.now
    creates = creation_times(rng, n_leads, 0, clock.span)
    leads, opps = [], []
    lead_seq, opp_seq = 180000 + rng.randrange(5000), 90000 + rng.randrange(3000)
    man = {"converted_without_opportunity_rows": [], "opportunity_missing_rows": [], "queue_owned_rows": []}
    deleted_opps = set()
    for i, created in enumerate(creates):
        line = i + 2  # spreadsheet row: header is row 1
        lead_seq += rng.choice([1, 1, 1, 2, 3, 7])
        src = pick(rng, SF_SOURCES)
        qs = SF_SOURCES[src][1]
        owner = pick(rng, SF_OWNERS)
        qo = SF_OWNERS[owner][1]
        fn, ln = person(rng)
        cname = company(rng)
        industry = pick(rng, SF_INDUSTRIES)
        emp = "" if rng.random() < 0.12 else str(min(50000, max(1, int(math.exp(rng.gauss(4.2, 1.9))))))
        country = pick(rng, SF_COUNTRIES)
        rating = rng.choice(["Hot", "Warm", "Warm", "Cold", "Cold", "", ""])
        # The lead's fate, simulated in full; only what happened by the export date is written.
        u = rng.random()
        p_convert = min(0.6, 0.2 * qs * qo)
        converted_at = disq_at = None
        if u < p_convert:
            converted_at = created + int((1 + rng.random() ** 1.6 * 75) * DAY)
        elif u < p_convert + 0.55:
            disq_at = created + int((2 + rng.random() ** 1.4 * 60) * DAY)
        # else: nobody ever works it to a close; it stays open (purgatory once past the SLA)
        status, conv, opp_id, last_act = "", "", "", None
        if converted_at is not None and converted_at <= now:
            status, conv = "Closed - Converted", sf_date(clock.at(converted_at))
            last_act = converted_at
            if rng.random() < 0.05:  # converted with "Do not create an opportunity upon conversion"
                man["converted_without_opportunity_rows"].append(line)
            else:
                opp_seq += rng.choice([1, 1, 2, 4])
                opp_id = sf_id("006", opp_seq)
                opps.append(sf_opportunity(rng, clock, opp_id, cname, owner, src, qs * qo, converted_at))
                if rng.random() < 0.012:  # deleted since (or private): no row in the opportunities report
                    deleted_opps.add(opp_id)
                    man["opportunity_missing_rows"].append(line)
        elif disq_at is not None and disq_at <= now:
            status, last_act = "Closed - Not Converted", disq_at - int(rng.random() * 2 * DAY)
        else:
            worked = rng.random() < (0.55 if converted_at or disq_at else 0.35)
            status = "Working - Contacted" if worked else "Open - Not Contacted"
            if worked:
                last_act = min(now, created + int(rng.random() * 20 * DAY))
            if not worked and rng.random() < 0.5:
                owner = SF_QUEUE  # never picked up
                man["queue_owned_rows"].append(line)
        last = sf_date(clock.at(max(created, last_act))) if last_act is not None else ""
        leads.append([sf_id("00Q", lead_seq), fn, ln, rng.choice(TITLES), cname, owner, src, status, rating,
                      industry, emp, country, sf_datetime(clock.at(created)), last, conv, opp_id])

    # Opportunities created on existing accounts (upsells, renewals): no lead converted into them.
    for _ in range(n_direct_opps):
        opp_seq += rng.choice([1, 2, 3])
        t = int(rng.random() * clock.span)
        opp = sf_opportunity(rng, clock, sf_id("006", opp_seq), company(rng), pick(rng, SF_OWNERS), "", 1.3, t)
        opp[4] = rng.choice(["Existing Customer - Upgrade", "Existing Customer - Renewal"])
        opps.append(opp)
    # The report is sorted by Close Date, then Opportunity Name, as a user would sort it.
    opps = [o for o in opps if o[0] not in deleted_opps]
    opps.sort(key=lambda o: (o[-1]["close"], o[1]))
    direct = {o[0] for o in opps if o[4].startswith("Existing")}
    man["opportunity_without_lead_rows"] = [j + 2 for j, o in enumerate(opps) if o[0] in direct]
    truth = [o.pop() for o in opps]

    write_csv(out_dir / "salesforce-leads.csv", SF_LEAD_HEADER, leads, quoting=csv.QUOTE_ALL)
    write_csv(out_dir / "salesforce-opportunities.csv", SF_OPP_HEADER, opps, quoting=csv.QUOTE_ALL)
    from_leads = {r[15] for r in leads if r[15]}
    by_id = {o[0]: t for o, t in zip(opps, truth)}
    linked = [by_id[i] for i in from_leads if i in by_id]
    statuses = {}
    for r in leads:
        statuses[r[7]] = statuses.get(r[7], 0) + 1
    return {
        "leads": len(leads), "opportunities": len(opps), "export_date": export_date.isoformat(), "seed": seed,
        "lead_status_counts": dict(sorted(statuses.items())),
        "converted": sum(1 for r in leads if r[14]),
        "won": sum(1 for t in linked if t["won"]),
        "lost": sum(1 for t in linked if t["closed"] and not t["won"]),
        "open_opportunities_of_leads": sum(1 for t in linked if not t["closed"]),
        "open_opportunities_closing_after_export_date": sum(1 for t in truth if not t["closed"] and t["future"]),
        **man,
    }


def sf_opportunity(rng, clock, opp_id, account, owner, src, quality, created):
    """One row of the opportunities report (plus its truth as a last element, removed before writing)."""
    amount = int(math.exp(rng.gauss(9.6, 0.9)) / 100 + 1) * 100
    close_at = created + int((10 + rng.random() ** 1.3 * 140) * DAY)
    won = rng.random() < min(0.75, 0.38 * quality)
    future = False
    if close_at <= clock.now:
        closed = True
        stage, prob = ("Closed Won", 100) if won else ("Closed Lost", 0)
        close_day = clock.at(close_at)
    else:
        closed, won = False, False
        done = (clock.now - created) / (close_at - created)
        stage, prob = SF_OPP_STAGES[min(4, int(done * 5))]
        if rng.random() < 0.25:  # a slipped deal: its expected close date has passed
            close_day = clock.at(clock.now - int(rng.random() * 40 * DAY))
        else:  # the expected close date, after the export date
            close_day = clock.at(clock.now + int((1 + rng.random() * 120) * DAY))
            future = True
    name = f"{account} - {rng.choice(['Platform', 'Analytics', 'Enterprise', 'Starter', 'Pro'])} " \
           f"{rng.choice([5, 10, 25, 50, 100, 250])} seats"
    return [opp_id, name, account, owner, "New Business", src, stage, str(prob), f"{amount:.2f}",
            sf_date(clock.at(created)), sf_date(close_day), "true" if closed else "false",
            "true" if won else "false",
            {"close": close_day, "closed": closed, "won": won, "future": future}]


# --------------------------------------------------------------------------------------------
# Pipedrive: a deals export and the deals' change log

PD_STAGES = ["Qualified", "Contact Made", "Demo Scheduled", "Proposal Made", "Negotiations Started"]  # stage_id 1..5
PD_DEAL_HEADER = ["Deal - ID", "Deal - Title", "Deal - Creator", "Deal - Owner", "Deal - Value", "Deal - Currency",
                  "Deal - Pipeline", "Deal - Stage", "Deal - Status", "Deal - Deal created", "Deal - Update time",
                  "Deal - Last stage change", "Deal - Won time", "Deal - Lost time", "Deal - Lost reason",
                  "Deal - Expected close date", "Deal - Source", "Organization - Name", "Person - Name"]
PD_LOG_HEADER = ["deal_id", "changed_field_key", "old_value", "new_value", "change_time", "user_id"]
# user id: (name, weight, quality)
PD_USERS = {11: ("Ava Thompson", 20, 1.15), 12: ("Ben Okafor", 18, 1.0), 13: ("Chloe Martin", 16, 1.05),
            14: ("Diego Alvarez", 14, 0.9), 15: ("Elif Yilmaz", 12, 1.0), 16: ("Farid Haddad", 10, 0.8)}
PD_SOURCES = {"Inbound": (30, 1.1), "Outbound": (25, 0.8), "Referral": (12, 1.4), "Event": (10, 1.0),
              "Partner": (10, 1.2), "": (8, 0.9), "N/A": (1.5, 0.9)}  # "N/A" is typed by hand: a placeholder
PD_LOST_REASONS = {"Price too high": 20, "Went with a competitor": 18, "No budget": 16, "No response": 20, "Timing": 10,
                   "": 13, "N/A": 3}
PD_ADVANCE = [0.72, 0.68, 0.62, 0.66]  # chance to move on from stage 1..4 (times owner and source quality)


def pd_time(clock, t):
    return clock.at(t).strftime("%Y-%m-%d %H:%M:%S")


def make_pipedrive(out_dir, seed, export_date, n_deals=900):
    rng = random.Random(seed)
    clock = Clock(export_date, 730)
    now = clock.now
    creates = creation_times(rng, n_deals, 0, clock.span)
    users = {uid: (w, q) for uid, (_, w, q) in PD_USERS.items()}
    deals, log = [], []
    man = {"created_in_contact_made_deal_ids": [], "backward_move_deal_ids": [], "won_from_proposal_deal_ids": [],
           "reopened_deal_ids": [], "owner_changed_deal_ids": [], "never_moved_deal_ids": []}
    deal_id = 1000 + rng.randrange(200)
    for created in creates:
        deal_id += rng.choice([1, 1, 1, 1, 2, 3])  # gaps: deleted deals
        owner = pick(rng, users)
        creator = owner if rng.random() < 0.8 else pick(rng, users)
        src = pick(rng, PD_SOURCES)
        q = users[owner][1] * PD_SOURCES[src][1]
        value = int(math.exp(rng.gauss(8.9, 0.9)) / 50 + 1) * 50
        # --- the deal's whole story as events (time, field, old, new, by); cut at the export date later
        ev = []
        stage = 2 if rng.random() < 0.08 else 1  # some deals are added straight into Contact Made
        ev.append((created, "stage_id", "", str(stage), creator))
        t = created
        status = "open"
        while True:
            if stage < 5 and rng.random() < min(0.93, PD_ADVANCE[stage - 1] * q):
                if stage == 3 and rng.random() < 0.08:  # the demo is rescheduled: back to Contact Made, then on
                    t += int((1 + rng.random() * 10) * DAY)
                    ev.append((t, "stage_id", "3", "2", owner))
                    t += int((1 + rng.random() * 12) * DAY)
                    ev.append((t, "stage_id", "2", "3", owner))
                t += int((1 + rng.random() ** 1.5 * 30) * DAY)
                ev.append((t, "stage_id", str(stage), str(stage + 1), owner))
                stage += 1
                continue
            # no further move: won, lost, or left open
            t += int((2 + rng.random() ** 1.4 * 45) * DAY)
            if stage >= 4 and rng.random() < min(0.85, (0.5 if stage == 5 else 0.2) * q):
                status = "won"
            elif rng.random() < 0.82:
                status = "lost"
            else:
                status = "open"  # forgotten in the pipeline
            if status != "open":
                ev.append((t, "status", "open", status, owner))
            if status == "lost" and rng.random() < 0.04:  # reopened later, back into an earlier stage
                t += int((10 + rng.random() * 60) * DAY)
                ev.append((t, "status", "lost", "open", owner))
                back = max(1, stage - 1)
                t += int(rng.random() * 2 * DAY)
                ev.append((t, "stage_id", str(stage), str(back), owner))
            break
        end = t
        if rng.random() < 0.08:  # reassigned to another owner somewhere along the way
            others = {u: w for u, w in users.items() if u != owner}
            new = pick(rng, others)
            t_own = created + int(rng.random() * max(DAY, end - created))
            ev.append((t_own, "user_id", str(owner), str(new), 11))  # the sales manager (user 11) reassigns
        if rng.random() < 0.2:
            t_val = created + int(rng.random() * max(DAY, end - created))
            new_value = int(value * rng.choice([0.5, 0.8, 1.25, 1.5, 2]) / 50) * 50
            ev.append((t_val, "value", str(value), str(new_value), owner))
        ev.sort(key=lambda e: e[0])
        ev = [e for e in ev if e[0] <= now]  # what happened by the export date
        # --- the deal as the export shows it on the export date
        cur_stage, cur_status, cur_owner, cur_value = None, "open", owner, value
        won_t = lost_t = last_stage_t = None
        for e in ev:
            tt, field, old, new, _ = e
            if field == "stage_id":
                cur_stage = int(new)
                if old:
                    last_stage_t = tt
            elif field == "status":
                cur_status = new
                won_t = tt if new == "won" else None
                lost_t = tt if new == "lost" else None
            elif field == "user_id":
                cur_owner = int(new)
            elif field == "value":
                cur_value = int(new)
        if cur_owner != owner:  # reassigned: later changes are by the new owner
            t_own = next(e[0] for e in ev if e[1] == "user_id")
            ev = [(e[0], e[1], e[2], e[3], cur_owner if e[0] > t_own and e[4] == owner else e[4]) for e in ev]
        stage_moves = [(int(e[2]), int(e[3])) for e in ev if e[1] == "stage_id" and e[2]]
        if any(new < old for old, new in stage_moves):
            man["backward_move_deal_ids"].append(deal_id)
        if cur_status == "won" and not any(e[1] == "stage_id" and e[3] == "5" for e in ev):
            man["won_from_proposal_deal_ids"].append(deal_id)
        if any(e[1] == "status" and e[3] == "open" for e in ev):
            man["reopened_deal_ids"].append(deal_id)
        if any(e[1] == "user_id" for e in ev):
            man["owner_changed_deal_ids"].append(deal_id)
        if ev[0][3] == "2":
            man["created_in_contact_made_deal_ids"].append(deal_id)
        if last_stage_t is None:
            man["never_moved_deal_ids"].append(deal_id)
        org = company(rng)
        fn, ln = person(rng)
        expected = clock.at(created + int((30 + rng.random() * 90) * DAY)).strftime("%Y-%m-%d")
        deals.append([
            str(deal_id), f"{org} deal", PD_USERS[creator][0], PD_USERS[cur_owner][0], str(cur_value),
            "EUR" if rng.random() < 0.2 else "USD", "Sales pipeline", PD_STAGES[cur_stage - 1], cur_status,
            pd_time(clock, created), pd_time(clock, ev[-1][0]),
            pd_time(clock, last_stage_t) if last_stage_t is not None else "",
            pd_time(clock, won_t) if won_t is not None else "",
            pd_time(clock, lost_t) if lost_t is not None else "",
            pick(rng, PD_LOST_REASONS) if cur_status == "lost" else "",
            expected, src, org, f"{fn} {ln}",
        ])
        log += [(e[0], deal_id, e[1], e[2], e[3], e[4]) for e in ev]
    log.sort(key=lambda r: (r[0], r[1]))
    log_rows = [[str(d), f, o, n, pd_time(clock, t), str(u)] for t, d, f, o, n, u in log]
    write_csv(out_dir / "pipedrive-deals.csv", PD_DEAL_HEADER, deals)
    write_csv(out_dir / "pipedrive-deal-changes.csv", PD_LOG_HEADER, log_rows)

    status_counts, stage_counts = {}, {}
    for r in deals:
        status_counts[r[8]] = status_counts.get(r[8], 0) + 1
        stage_counts[r[7]] = stage_counts.get(r[7], 0) + 1
    field_counts = {}
    for r in log_rows:
        field_counts[r[1]] = field_counts.get(r[1], 0) + 1
    entered = {s: set() for s in "12345"}
    seen, previous, reentry_rows, backward_rows = set(), {}, [], []
    for j, r in enumerate(log_rows):
        if r[1] != "stage_id":
            continue
        entered[r[3]].add(r[0])
        if (r[0], r[3]) in seen and previous.get(r[0]) != int(r[3]):  # naming the stage it is in is no re-entry
            reentry_rows.append(j + 2)
        if r[0] in previous and int(r[3]) < previous[r[0]]:
            backward_rows.append(j + 2)
        seen.add((r[0], r[3]))
        previous[r[0]] = int(r[3])
    return {
        "deals": len(deals), "log_rows": len(log_rows), "export_date": export_date.isoformat(), "seed": seed,
        "status_counts": dict(sorted(status_counts.items())),
        "current_stage_counts": {s: stage_counts.get(s, 0) for s in PD_STAGES},
        "log_rows_by_field": dict(sorted(field_counts.items())),
        "deals_entering_stage_id": {s: len(v) for s, v in entered.items()},
        "na_placeholder_deal_rows": [j + 2 for j, r in enumerate(deals) if "N/A" in r],
        "log_reentry_rows": reentry_rows,
        "log_backward_move_rows": backward_rows,
        **man,
    }


# --------------------------------------------------------------------------------------------
# A flag export: a row per lead, a 0/1 "Converted" column, no dates (a public "Lead Scoring"
# dataset's layout: its column names, its "Select" placeholders)

FLAG_HEADER = ["Prospect ID", "Lead Number", "Lead Origin", "Lead Source", "Do Not Email", "Do Not Call", "Converted",
               "TotalVisits", "Total Time Spent on Website", "Page Views Per Visit", "Last Activity", "Country",
               "Specialization", "How did you hear about X Education", "What is your current occupation", "Tags",
               "Lead Quality", "City", "Lead Profile", "A free copy of Mastering The Interview",
               "Last Notable Activity"]
# origin: (weight, conversion odds factor)
FL_ORIGINS = {"Landing Page Submission": (53, 1.0), "API": (39, 0.8), "Lead Add Form": (7, 12.0),
              "Lead Import": (1, 0.5)}
FL_SOURCES = {"Google": (30, 1.0), "Direct Traffic": (27, 0.85), "Olark Chat": (19, 0.7), "Organic Search": (12, 1.0),
              "Reference": (5, 4.0), "Welingak Website": (2, 8.0), "Referral Sites": (1, 0.8), "Facebook": (1, 0.6),
              "google": (1, 1.0), "bing": (1, 0.5), "": (1, 1.0)}  # "google": the same source, lower case
FL_OCCUPATIONS = {"Unemployed": (60, 1.0), "Working Professional": (8, 12.0), "Student": (2, 0.8),
                  "Other": (1, 1.5), "Businessman": (1, 3.0), "Housewife": (1, 10.0), "": (27, 0.5)}
FL_ACTIVITIES = {"Email Opened": 37, "SMS Sent": 30, "Olark Chat Conversation": 11, "Page Visited on Website": 7,
                 "Converted to Lead": 5, "Email Bounced": 4, "Email Link Clicked": 3, "Form Submitted on Website": 1,
                 "Unreachable": 1, "": 1}
FL_SPECIAL = {"Select": 21, "": 16, "Finance Management": 11, "Human Resource Management": 9,
              "Marketing Management": 9, "Operations Management": 6, "Business Administration": 4,
              "IT Projects Management": 4, "Supply Chain Management": 4, "Banking, Investment And Insurance": 4,
              "Media and Advertising": 2, "Travel and Tourism": 2, "International Business": 2}
FL_CITIES = {"Mumbai": 35, "Select": 24, "": 15, "Thane & Outskirts": 8, "Other Cities": 7,
             "Other Cities of Maharashtra": 5, "Other Metro Cities": 4, "Tier II Cities": 1}
FL_HEARD = {"Select": 55, "": 24, "Online Search": 9, "Word Of Mouth": 4, "Student of SomeSchool": 3, "Other": 2,
            "Multiple Sources": 1, "Advertisements": 1, "Social Media": 1}
FL_PROFILE = {"Select": 45, "": 29, "Potential Lead": 17, "Other Leads": 5, "Student of SomeSchool": 3,
              "Lateral Student": 1}
FL_COUNTRIES = {"India": 70, "": 27, "United States": 1, "United Arab Emirates": 1, "Singapore": 1, "unknown": 1}
FL_TAGS_WON = {"Will revert after reading the email": 60, "Closed by Horizzon": 20, "": 15, "Busy": 3,
               "Lost to EINS": 0, "Already a student": 0, "Interested in full time MBA": 0, "Ringing": 2}
FL_TAGS_LOST = {"": 40, "Ringing": 18, "Interested in other courses": 10, "Already a student": 8, "Busy": 5,
                "Not doing further education": 4, "Interested in full time MBA": 3, "Lost to EINS": 2,
                "switched off": 4, "Will revert after reading the email": 6}


def make_flag(out_dir, seed, n_rows=1500):
    rng = random.Random(seed)
    rows = []
    lead_no = 660737 - n_rows * 4  # counts down in the public file; here it counts up
    for _ in range(n_rows):
        lead_no += rng.choice([1, 2, 3, 4, 6])
        origin = pick(rng, FL_ORIGINS)
        src = "Reference" if origin == "Lead Add Form" and rng.random() < 0.6 else \
            "Welingak Website" if origin == "Lead Add Form" else pick(rng, FL_SOURCES)
        occ = pick(rng, FL_OCCUPATIONS)
        odds = 0.45 * FL_ORIGINS[origin][1] * FL_SOURCES[src][1] * FL_OCCUPATIONS[occ][1]
        visits = 0 if origin in ("Lead Add Form", "Lead Import") else min(40, int(rng.expovariate(1 / 3.3)))
        seconds = 0 if visits == 0 else int(rng.expovariate(1 / 480))
        if seconds > 900:
            odds *= 2.5
        converted = rng.random() < odds / (1 + odds)
        activity = pick(rng, FL_ACTIVITIES)
        if converted and activity == "Email Bounced":
            activity = "SMS Sent"
        tags = pick(rng, FL_TAGS_WON if converted else FL_TAGS_LOST)
        quality = rng.choice(["Might be", "Not Sure", "High in Relevance", "Low in Relevance", "Worst", ""] +
                             ([""] * 4 if not converted else ["High in Relevance", "Might be"]))
        views = "" if visits == 0 else f"{round(max(1.0, visits / max(1, rng.randrange(1, 4)) + rng.random()), 2):g}"
        # the public file has blank TotalVisits and Page Views for about 1.5% of leads
        blank_visits = rng.random() < 0.015
        rows.append([
            str(rnd_uuid(rng)), str(lead_no), origin, src,
            "Yes" if rng.random() < 0.08 else "No", "Yes" if rng.random() < 0.002 else "No",
            "1" if converted else "0",
            "" if blank_visits else str(visits), str(seconds), "" if blank_visits else (views or "0"),
            activity, "" if origin in ("Lead Add Form", "Lead Import") and rng.random() < 0.8 else pick(rng, FL_COUNTRIES),
            pick(rng, FL_SPECIAL), pick(rng, FL_HEARD), occ, tags, quality, pick(rng, FL_CITIES), pick(rng, FL_PROFILE),
            "Yes" if rng.random() < 0.31 else "No",
            activity if activity and rng.random() < 0.7 else "Modified",
        ])
    # Two rows appear twice (a later copy, as after a bad merge of two downloads): same Prospect ID.
    dup_rows = []
    for k in sorted(rng.sample(range(100, n_rows - 100), 2)):
        copy = rows[k][:]
        at = k + 50 + rng.randrange(40)
        rows.insert(at, copy)
        dup_rows.append(at)
    write_csv(out_dir / "flag-leads.csv", FLAG_HEADER, rows)
    unique = {}
    for r in rows:
        unique.setdefault(r[0], r)
    col = {h: i for i, h in enumerate(FLAG_HEADER)}
    lost_tags = {"Interested in other courses", "Not doing further education", "Lost to EINS", "Already a student",
                 "Interested in full time MBA"}
    return {
        "rows": len(rows), "leads": len(unique), "seed": seed,
        "converted": sum(1 for r in unique.values() if r[col["Converted"]] == "1"),
        "lost_by_tags_not_converted": sum(1 for r in unique.values()
                                          if r[col["Converted"]] == "0" and r[col["Tags"]] in lost_tags),
        "duplicate_id_rows": [i + 2 for i in dup_rows],  # the later copies
        "select_placeholder_cells": {h: sum(1 for r in rows if r[col[h]] == "Select") for h in
                                     ("Specialization", "How did you hear about X Education", "City", "Lead Profile")},
        "blank_total_visits_rows": [i + 2 for i, r in enumerate(rows) if r[col["TotalVisits"]] == ""],
    }


def rnd_uuid(rng):
    """A version-4 UUID from the seeded generator (uuid.uuid4 would not be reproducible)."""
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) % 4]}{h[17:20]}-{h[20:32]}"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seed", type=int, default=20261116, help="base seed; each sample adds its own offset")
    p.add_argument("--export-date", type=dt.date.fromisoformat, default=dt.date(2026, 11, 16),
                   help="YYYY-MM-DD; nothing happens after this day")
    p.add_argument("--out-dir", type=Path, default=HERE)
    p.add_argument("--only", choices=["salesforce", "pipedrive", "flag"], action="append",
                   help="make only this sample (repeatable)")
    p.add_argument("--no-manifest", action="store_true")
    a = p.parse_args()
    a.out_dir.mkdir(parents=True, exist_ok=True)
    wanted = a.only or ["salesforce", "pipedrive", "flag"]
    for name in wanted:
        if name == "salesforce":
            man, path = make_salesforce(a.out_dir, a.seed + 1, a.export_date), "salesforce.manifest.json"
        elif name == "pipedrive":
            man, path = make_pipedrive(a.out_dir, a.seed + 2, a.export_date), "pipedrive.manifest.json"
        else:
            man, path = make_flag(a.out_dir, a.seed + 3), "flag-leads.manifest.json"
        if not a.no_manifest:
            write_manifest(a.out_dir / path, man)


if __name__ == "__main__":
    main()
