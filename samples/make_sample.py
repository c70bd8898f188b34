#!/usr/bin/env python3
"""Generate a synthetic HubSpot contacts export (CSV) for funnelcli's samples and benchmarks.

Every lead walks a simulated funnel (MQL -> SAL -> SQL -> Opportunity -> Customer); events after
the export date are dropped, so recent leads are still in progress. A few deterministic quirks
are injected (blank/duplicate ids, unparseable and out-of-order dates, skipped stages), at most
one per row, and their spreadsheet row numbers are written to a JSON manifest as ground truth.

    python3 samples/make_sample.py                       # samples/hubspot-contacts.csv + manifest
    python3 samples/make_sample.py --rows 1000000 --out /tmp/big.csv --no-manifest

Standard library only; the same arguments always produce byte-identical files.
"""
import argparse
import csv
import datetime as dt
import json
import math
import random
from pathlib import Path

HEADER = ["Record ID", "First Name", "Last Name", "Email", "Company Name", "Job Title", "Phone Number",
          "Create Date", "Lifecycle Stage", "Lead Status", "Became a Marketing Qualified Lead Date",
          "Became a Sales Accepted Lead Date", "Became a Sales Qualified Lead Date",
          "Became an Opportunity Date", "Became a Customer Date", "Original Source", "Contact owner",
          "Industry", "Number of Employees", "Country/Region", "Number of Sales Activities",
          "Last Activity Date", "Recent Deal Amount", "Message"]
COL = {name: i for i, name in enumerate(HEADER)}
STAGE_COLS = list(range(COL["Became a Marketing Qualified Lead Date"], COL["Became a Customer Date"] + 1))
MQL_C, SAL_C, SQL_C, OPP_C, WON_C = STAGE_COLS
LAST_C = COL["Last Activity Date"]
STAGE_LABELS = ["Lead", "Marketing Qualified Lead", "Sales Accepted Lead", "Sales Qualified Lead",
                "Opportunity", "Customer"]
DAY = 1440  # timestamps are whole minutes since BASE

# name: (weight, quality). Quality scales the later conversions; weighted means are ~1.0.
SOURCES = {"Organic Search": (22, 1.20), "Paid Search": (14, 1.00), "Direct Traffic": (12, 1.05),
           "Social Media": (8, 0.85), "Paid Social": (14, 0.60), "Email Marketing": (10, 0.95),
           "Referrals": (7, 1.45), "Offline Sources": (6, 1.10), "Other Campaigns": (7, 0.80)}
OWNERS = {"Dana Whitfield": (16, 1.15), "Marcus Oyelaran": (15, 1.05), "Priya Raman": (14, 1.10),
          "Tom Becker": (13, 1.00), "Sofia Lindqvist": (12, 0.95), "Kenji Watanabe": (11, 1.00),
          "Luis Ortega": (10, 0.85), "Hannah Cole": (9, 0.80)}
INDUSTRIES = {"Software": 24, "Financial Services": 13, "Healthcare": 11, "Manufacturing": 12,
              "Retail": 10, "Education": 7, "Media": 6, "Real Estate": 6, "": 11}
# country: (weight, phone prefix)
COUNTRIES = {"United States": (56, "+1"), "Canada": (7, "+1"), "United Kingdom": (9, "+44"),
             "Germany": (6, "+49"), "France": (4, "+33"), "Australia": (5, "+61"), "Brazil": (3, "+55"),
             "India": (4, "+91"), "Netherlands": (3, "+31"), "": (3, "+1")}
FIRST = "James Mary Robert Patricia Michael Jennifer David Linda William Elizabeth Richard Susan Joseph " \
        "Jessica Thomas Sarah Chris Karen Daniel Nancy Matthew Lisa Anthony Emily Mark Ashley Steven " \
        "Michelle Andrew Amanda Kevin Melissa Brian Laura Ravi Ananya Wei Mei Hiroshi Yuki Lukas Anna " \
        "Pierre Camille Mateo Lucia Olivia Noah Liam Emma Ahmed Fatima Sven Ingrid José Zoë Renée Björn".split()
LAST = "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez " \
       "Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Thompson White Harris Clark " \
       "Lewis Walker Young Allen King Wright Scott Patel Sharma Chen Wang Tanaka Sato Schmidt Fischer " \
       "Dubois Moreau Silva Santos Nguyen Kim Murphy O'Brien Jansen Visser Müller Peña Sørensen".split()
TITLES = ["Marketing Manager", "VP of Sales", "Head of Operations", "CFO", "CEO", "Founder", "IT Director",
          "Software Engineer", "Product Manager", "Sales Director", "Office Manager", "Procurement Lead",
          "Director of Marketing", "CTO", "Operations Analyst", "Account Manager", "HR Manager", ""]
CO_A = "Acme Northwind Bluebird Summit Pioneer Evergreen Ironclad Silverline Redwood Harbor Granite " \
       "Brightpath Cobalt Meridian Keystone Lighthouse Orbit Vertex Sterling Juniper Falcon Beacon".split()
CO_B = "Analytics Systems Logistics Health Partners Labs Capital Foods Media Robotics Dynamics " \
       "Solutions Retail Energy Learning Properties Software Manufacturing Consulting Networks".split()
CO_SUFFIX = ["", "", "", "", "", " Inc.", " Ltd", " GmbH", " Group", " Co.", ", Inc.", ", LLC"]
PERSONAL = ["gmail.com", "outlook.com", "yahoo.com", "icloud.com"]
MESSAGES = ["Interested in a demo for our team.", "Please send pricing for 25 seats.",
            "Can you integrate with Salesforce?", "We are evaluating tools for next quarter.",
            "Looking for an annual plan.", "Need help migrating from spreadsheets.",
            'Saw your "Pipeline Health" webinar and want to learn more.',
            'Our current tool keeps saying "sync failed" - can yours import CSVs?']
MULTILINE = ["Need pricing for 50 seats.\nPlease call after 2pm ET.",
             "Hi, we met at the expo.\nFollow up with our CFO, cc me.",
             "Two questions:\n1) SSO support? 2) EU data residency?"]
BAD_DATES = ["31/04/2026", "n/a", "2026-13-01 09:00", "TBD"]
BAD_DATE_COLS = [SAL_C, LAST_C, OPP_C, MQL_C, SQL_C, WON_C]  # cycled; 4 per 5,000 rows -> 4 columns
QUIRKS_PER_5000 = {"blank_id": 2, "duplicate_id": 3, "unparseable_date": 4, "out_of_order": 3}


def table(weights):
    """Expand {value: weight} (or weight tuples) into a list for O(1) weighted picks by index."""
    return [v for v, w in weights.items() for _ in range(w[0] if isinstance(w, tuple) else w)]


def scaled(count, rows):
    n = round(count * rows / 5000)
    return max(n, 1) if rows >= 500 else n


def ascii_fold(s):
    return s.translate(str.maketrans("éëèüöøñ", "eeeuoon")).replace("'", "").replace(" ", "").lower()


def generate(rows, seed, export_date, out_path):
    rng = random.Random(seed)
    rnd = rng.random
    cutoff_day = export_date + dt.timedelta(days=1)  # events on the export date itself are kept
    start_day = cutoff_day - dt.timedelta(days=730)  # 24 months
    base_day = start_day - dt.timedelta(days=30)  # room for duplicates created a little earlier
    start, now = (start_day - base_day).days * DAY, (cutoff_day - base_day).days * DAY - 1
    # Formatting via two lookup tables is much faster than strftime per date.
    days = [(base_day + dt.timedelta(days=d)).strftime("%Y-%m-%d ") for d in range(now // DAY + 1)]
    hhmm = [f"{m // 60:02d}:{m % 60:02d}" for m in range(DAY)]

    def fmt(m):
        d, r = divmod(m, DAY)
        return days[d] + hhmm[r]

    # Company pool: contacts at one company share its industry, size and country.
    countries, industries = table(COUNTRIES), table(INDUSTRIES)
    companies = []
    for _ in range(min(50000, max(200, rows // 4))):
        a, b, suffix = rng.choice(CO_A), rng.choice(CO_B), rng.choice(CO_SUFFIX)
        country = countries[int(rnd() * len(countries))]
        # log-normal size: median ~45 employees, ~5% with 1,000+; 6% left blank
        emp = "" if rnd() < 0.06 else str(min(20000, max(1, int(math.exp(rng.gauss(3.8, 1.9))))))
        companies.append((f"{a} {b}{suffix}", f"{a}{b}.com".lower(), industries[int(rnd() * len(industries))],
                          emp, country, COUNTRIES[country][1]))
    first_names = [(n, ascii_fold(n)) for n in FIRST]
    last_names = [(n, ascii_fold(n)) for n in LAST]
    sources, owners = table(SOURCES), table(OWNERS)

    # Create dates: density rises linearly from 1.0 to 1.5 over the window (inverse CDF), sorted so
    # that Record IDs, which HubSpot hands out in creation order, increase with them.
    n_dup = scaled(QUIRKS_PER_5000["duplicate_id"], rows)
    span = now - start
    creates = sorted(start + int(2 * (math.sqrt(1 + 1.25 * rnd()) - 1) * span) for _ in range(rows - n_dup))
    gaps = [1] * 6 + [2, 2, 3, 5, 8, 13, 40, 150]

    # Injected quirks: each slot is applied to the first eligible, still-clean row at or after it;
    # slots lie in the first 85% of rows so that an eligible row always follows.
    hi = max(1, int(rows * 0.85))
    slots = {q: sorted(rng.sample(range(hi), scaled(n, rows))) for q, n in QUIRKS_PER_5000.items()
             if q != "duplicate_id"}
    dup_at = sorted(rng.sample(range(rows // 10, hi), n_dup)) if n_dup else []
    capture_at = sorted(rng.randrange(0, max(1, d - 20)) for d in dup_at)  # originals come earlier
    bad_k = 0
    captured = []  # (row, create minute) of clean rows kept to be repeated later
    man = {f"{q}_rows": [] for q in ("blank_id", "duplicate_id", "unparseable_date", "out_of_order", "multiline",
                                      "skipped_mql", "skipped_sal", "skipped_opportunity")}

    f = open(out_path, "w", encoding="utf-8-sig", newline="")  # utf-8-sig writes the BOM
    w = csv.writer(f, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    w.writerow(HEADER)
    buf, rid, li = [], 51000000 + int(rnd() * 5000), 0
    for i in range(rows):
        line = i + 2  # spreadsheet row: header is row 1
        if dup_at and dup_at[0] <= i and captured:
            dup_at.pop(0)
            row, created = captured.pop(0)
            row = row[:]
            row[COL["Create Date"]] = fmt(created - 60 - int(rnd() * 10 * DAY))  # re-created earlier
            man["duplicate_id_rows"].append(line)
            buf.append(row)
            continue
        create = creates[li]
        li += 1
        rid += gaps[int(rnd() * len(gaps))]
        src = sources[int(rnd() * len(sources))]
        qs = SOURCES[src][1]
        # --- simulate the funnel in full, then keep only the events up to the export date ---
        t = [0] * 5
        sim = 0
        if rnd() < 0.675:
            t[0] = create + int(rnd() ** 2 * 7 * DAY)
            sim = 1
            if rnd() < 0.75 * (0.85 + 0.15 * qs):
                owner = owners[int(rnd() * len(owners))]
                qo = OWNERS[owner][1]
                lag = rnd() ** 2 * 3 if rnd() < 0.85 else 3 + rnd() * 22
                t[1], sim = t[0] + int(lag * DAY), 2
                if rnd() < min(0.9, 0.45 * qs * qo):
                    t[2], sim = t[1] + int((3 + rnd() ** 1.5 * 37) * DAY), 3
                    if rnd() < min(0.9, 0.60 * qs ** 0.5):
                        t[3], sim = t[2] + int((2 + rnd() * 28) * DAY), 4
                        if rnd() < min(0.9, 0.30 * qs * qo):
                            t[4], sim = t[3] + int((15 + rnd() ** 1.3 * 105) * DAY), 5
            else:  # MQLs sales never accepted: unassigned far more often
                owner = "" if rnd() < 0.45 else owners[int(rnd() * len(owners))]
        else:
            owner = "" if rnd() < 0.25 else owners[int(rnd() * len(owners))]
        k = 0
        while k < sim and t[k] <= now:
            k += 1
        later = sim > k  # the lead would move on after the export date: still being worked
        acts, last, amount = 0, 0, ""
        if k == 0:
            if rnd() < 0.35:
                life, status = "Subscriber", ""
            else:
                life, status = "Lead", ("New" if rnd() < 0.4 else "")
        else:
            life = STAGE_LABELS[k]
            age = now - t[k - 1]  # minutes since the furthest stage was reached
            if k == 1:
                status = "New" if rnd() < 0.6 else "Open"
            elif k == 2:
                sal = t[1]
                if later or age < 30 * DAY:
                    status = ("Attempted to Contact", "Connected", "In Progress")[int(rnd() * 3)]
                    acts, last = 1 + int(rnd() * 6), max(sal, now - int(rnd() * 7 * DAY))
                elif (u := rnd()) < 0.5:  # touched once or twice, then dropped; looks in progress
                    status = ("Attempted to Contact", "Attempted to Contact", "In Progress",
                              "Connected")[int(rnd() * 4)]
                    top = min(60 * DAY, age - 14 * DAY)
                    acts, last = 1 + (rnd() < 0.4), sal + 10 * DAY + int(rnd() * (top - 10 * DAY))
                elif u < 0.8:
                    status, acts, last = "Unqualified", 1 + int(rnd() * 5), sal + int((0.5 + rnd() * 19.5) * DAY)
                else:
                    status, acts, last = "Bad Timing", 2 + int(rnd() * 5), sal + int((3 + rnd() * 37) * DAY)
            elif k == 3:
                acts = 3 + int(rnd() * 10)
                if later or age < 30 * DAY:
                    status, last = ("Connected", "In Progress")[rnd() < 0.7], max(t[2], now - int(rnd() * 10 * DAY))
                else:
                    u = rnd()
                    status = "Unqualified" if u < 0.4 else "Bad Timing" if u < 0.75 else "In Progress"
                    last = t[2] + int((1 + rnd() * 29) * DAY)
            elif k == 4:
                acts = 5 + int(rnd() * 16)
                if not later and rnd() < (0.8 if age > 90 * DAY else 0.2):
                    status, last = "Closed Lost", t[3] + int((5 + rnd() * 85) * DAY)
                else:
                    status, last = "Open Deal", max(t[3], now - int(rnd() * 14 * DAY))
            else:
                status, acts, last = "", 8 + int(rnd() * 28), t[4] + int(rnd() * 60 * DAY)
            last = min(last, now)
            if k >= 4:
                amt = math.exp(rng.gauss(9.9, 0.8))
                amount = str(int(amt / 500 + 1) * 500) if rnd() < 0.8 else f"{amt:.2f}"
        cname, domain, industry, emp, country, pfx = companies[int(rnd() * len(companies))]
        fn, fe = first_names[int(rnd() * len(first_names))]
        ln, le = last_names[int(rnd() * len(last_names))]
        u = rnd()
        email = (f"{fe}.{le}{int(u * 900)}@{PERSONAL[int(u * 400) % 4]}" if u < 0.15 else
                 f"{fe}.{le}@{domain}" if u < 0.7 else f"{fe[0]}{le}@{domain}" if u < 0.9 else f"{fe}@{domain}")
        phone = "" if rnd() < 0.2 else \
            f"{pfx} {200 + int(rnd() * 800)} {100 + int(rnd() * 900)} {int(rnd() * 10000):04d}"
        row = [str(rid), fn, ln, email, cname, TITLES[int(rnd() * len(TITLES))], phone, fmt(create), life,
               status, "", "", "", "", "", src, owner, industry, emp, country,
               str(acts), fmt(last) if acts else "", amount, ""]
        for j in range(k):
            row[MQL_C + j] = fmt(t[j])
        # --- quirks: at most one per row ---
        quirk = True
        if slots["blank_id"] and slots["blank_id"][0] <= i:
            slots["blank_id"].pop(0)
            row[0] = ""
            man["blank_id_rows"].append(line)
        elif slots["unparseable_date"] and slots["unparseable_date"][0] <= i \
                and row[BAD_DATE_COLS[bad_k % 6]]:
            slots["unparseable_date"].pop(0)
            col, value = BAD_DATE_COLS[bad_k % 6], BAD_DATES[bad_k % 4]
            row[col] = value
            bad_k += 1
            man["unparseable_date_rows"].append({"row": line, "column": HEADER[col], "value": value})
        elif slots["out_of_order"] and slots["out_of_order"][0] <= i and k >= 3:
            slots["out_of_order"].pop(0)
            row[SAL_C], row[SQL_C] = row[SQL_C], row[SAL_C]  # SQL lags SAL by >= 3 days, so now earlier
            man["out_of_order_rows"].append(line)
        elif k >= 3 and (u := rnd()) < 0.17 and (u < 0.12 or k == 5):
            # Skipped stages (2% of SQL+ lose MQL, 10% lose SAL, 5% of customers lose Opportunity):
            # the cell is just blank, as when someone sets the lifecycle stage by hand.
            col, q = (MQL_C, "mql") if u < 0.02 else (SAL_C, "sal") if u < 0.12 else (OPP_C, "opportunity")
            row[col] = ""
            man[f"skipped_{q}_rows"].append(line)
        else:
            quirk = False
        u = rnd()
        if u < 0.14:
            if u < 0.003 and not quirk:
                row[-1] = MULTILINE[int(u * 1000)]
                man["multiline_rows"].append(line)
            else:
                row[-1] = MESSAGES[int(u * 1000) % len(MESSAGES)]
        if not quirk and row[-1] not in MULTILINE and capture_at and capture_at[0] <= i:
            capture_at.pop(0)
            captured.append((row, create))
        buf.append(row)
        if len(buf) >= 20000:
            w.writerows(buf)
            buf.clear()
    w.writerows(buf)
    f.close()
    left = {q: len(s) for q, s in slots.items() if s}
    if left or dup_at:
        raise RuntimeError(f"could not place all quirks: {left}, duplicates left: {len(dup_at)}")
    return man


def write_manifest(path, manifest):
    """JSON with one key per line; row lists on one line, unparseable-date entries one per line."""
    lines = []
    for key, value in manifest.items():
        if value and isinstance(value, list) and isinstance(value[0], dict):
            body = "[\n" + ",\n".join("    " + json.dumps(v, ensure_ascii=False) for v in value) + "\n  ]"
        else:
            body = json.dumps(value)
        lines.append(f"  {json.dumps(key)}: {body}")
    Path(path).write_text("{\n" + ",\n".join(lines) + "\n}\n", encoding="utf-8")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=5000, help="data rows to write (default 5000)")
    p.add_argument("--seed", type=int, default=20261116)
    p.add_argument("--out", default=str(Path(__file__).resolve().parent / "hubspot-contacts.csv"))
    p.add_argument("--export-date", type=dt.date.fromisoformat, default=dt.date(2026, 11, 16),
                   help="YYYY-MM-DD; nothing happens after this day (UTC)")
    p.add_argument("--manifest", help="default: OUT with .manifest.json for .csv; '-' to skip")
    p.add_argument("--no-manifest", action="store_true")
    a = p.parse_args()
    if a.rows < 0:
        p.error("--rows must be >= 0")
    man = generate(a.rows, a.seed, a.export_date, a.out)
    if a.no_manifest or a.manifest == "-":
        return
    path = a.manifest or (a.out[:-4] if a.out.endswith(".csv") else a.out) + ".manifest.json"
    write_manifest(path, {"rows": a.rows, "export_date": a.export_date.isoformat(), "seed": a.seed, **man})


if __name__ == "__main__":
    main()
