"""Several files (`joins:`): the lead table joined to related files by keys, in chains, with every
row of every file accounted for (docs/metrics.md "Export shapes", 5).

Every test writes real files under tmp_path and reads them with `api.read_export` or the CLI. Row
numbers are each file's spreadsheet rows (header = row 1). The fixture is a chain
    leads -> contacts (one-to-one, by lead id) -> accounts (many-to-one) -> opportunities (one-to-many)
with the expected numbers worked out in the comments next to the files.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from tests.conftest import run

from funnelcli import api, definitions
from funnelcli.errors import FunnelError

# --------------------------------------------------------------------------------------------
# The fixture

LEADS = "id,created_at,source\n1,2024-01-01,Ads\n2,2024-01-02,Web\n3,2024-01-03,Ads\n4,2024-01-04,Web\n5,2024-01-05,Ads\n"
# leads.csv: leads 1-5 at rows 2-6, created 01-01 .. 01-05.

CONTACTS = "lead_id,account_id,region\n1,A,NA\n2,A,EU\n3,B,NA\n5, ,EU\n99,C,NA\n,D,NA\n"
# contacts.csv (one-to-one by lead id):
#   row 2 lead 1 -> A, row 3 lead 2 -> A, row 4 lead 3 -> B, row 5 lead 5 -> ' ' (a blank account)
#   row 6 lead 99: matches no lead; row 7: a blank key
#   lead 4 (leads.csv row 5) has no contact: a notice
#   6 rows = 4 matched + 1 matched no lead (row 6) + 1 blank key (row 7)

ACCOUNTS = "account_id,industry,employees\nA,Software,5000\nB,Retail,50\nE,Software,10\n"
# accounts.csv (many-to-one: leads 1 and 2 share A; keyed on account_id, which contacts brought):
#   3 rows = 2 matched (A, B) + 1 matched no lead (row 4, E)
#   lead 4 has no account_id at all and lead 5 a blank one: no lookup, no notice for them

OPPORTUNITIES = ("account_id,closed_at,is_won,is_closed,amount\n"
                 "A,2024-02-10,TRUE,TRUE,100\n"
                 "A,2024-02-01,FALSE,TRUE,50\n"
                 "B,2024-02-05,FALSE,TRUE,70\n"
                 "Z,2024-02-06,TRUE,TRUE,70\n"
                 "Z,2024-02-07,TRUE,TRUE,80\n")
# opportunities.csv (one-to-many: A has rows 2 (won 02-10) and 3 (lost 02-01)); Z (rows 5, 6)
# repeats but matches no lead.
#   many: last by closed_at -> A's row 2 (02-10, won); many: first -> A's row 3 (02-01, lost)
#   5 rows = 2 matched (A's chosen row, row 4) + 1 not used (A's other row) + 2 matched no lead (5, 6)


def defs_text(many: str = "many: last\n    order_by: closed_at", contacts_path: str = "path: contacts.csv") -> str:
    return f"""\
version: 1
columns: {{id: id, created: created_at, source: source}}
joins:
  - name: contacts
    {contacts_path}
    on: {{id: lead_id}}                  # lead table column: this file's column
    columns: {{account_id: account_id, region: region}}
  - name: accounts
    path: accounts.csv
    on: account_id                     # a column an earlier join brought
    columns: {{industry: industry, employees: employees}}
  - name: opportunities
    path: opportunities.csv
    on: account_id
    columns: {{closed_at: closed_at, is_won: is_won, is_closed: is_closed, amount: amount}}
    {many}
stages:
  - name: Lead
    date: created_at
  - name: Won
    flag: is_won
    date: closed_at
exits:
  - name: Lost
    when: {{all: [{{is_closed: {{in: ["TRUE"]}}}}, {{is_won: {{in: ["FALSE"]}}}}]}}
    date: closed_at
markets:
  - name: Enterprise
    when: {{employees: {{gte: 1000}}}}
"""


@pytest.fixture
def files(write):
    """Write the four files and the definitions (many: last by closed_at) in one folder; return their paths."""
    paths = {name: write(name, text) for name, text in (
        ("leads.csv", LEADS), ("contacts.csv", CONTACTS), ("accounts.csv", ACCOUNTS), ("opportunities.csv", OPPORTUNITIES))}
    paths["defs.yml"] = write("defs.yml", defs_text())
    return paths


def read(paths, defs: str | None = None, **joins):
    """Read leads.csv under the definitions (text written to defs.yml, or the fixture's)."""
    if defs is not None:
        paths["defs.yml"].write_text(defs)
    loaded_defs = definitions.load([str(paths["defs.yml"])])
    return api.read_export(str(paths["leads.csv"]), loaded_defs, joins=joins or None)


def cli(paths, *args: str):
    return run("conversion", paths["leads.csv"], "-d", paths["defs.yml"], "-f", "json", *args)


def report_of(result) -> dict:
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def account_of(loaded, role: str):
    (account,) = [a for a in loaded.files if a.role == role]
    return account


def parts(account) -> dict[str, int]:
    return {what: count for count, what in account.parts}


def column(loaded, name: str) -> list:
    return list(loaded.leads[name].astype(object).where(loaded.leads[name].notna(), "-"))


def stage_rows(report: dict) -> dict[str, dict]:
    return {row["stage"]: row for row in report["tables"]["stages"]}


def assert_fails(result, *needles: str) -> None:
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    assert result.stdout == ""
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr, result.stderr
    for needle in needles:
        assert needle in result.stderr, (needle, result.stderr)


# --------------------------------------------------------------------------------------------
# 1. What each lead gets


def test_one_to_one_and_many_to_one_columns(files):
    # contacts: 1 A NA, 2 A EU, 3 B NA, 4 -, 5 ' ' EU; accounts by account_id: A Software 5000
    # (leads 1 and 2: many-to-one), B Retail 50 (lead 3); none for 4 (no contact) and 5 (blank).
    loaded = read(files)
    assert column(loaded, "account_id") == ["A", "A", "B", "-", "-"]  # ' ' is blank
    assert column(loaded, "region") == ["NA", "EU", "NA", "-", "EU"]
    assert column(loaded, "industry") == ["Software", "Software", "Retail", "-", "-"]
    assert column(loaded, "employees") == ["5000", "5000", "50", "-", "-"]
    assert loaded.rows_read == 5 and loaded.usable.all()


def test_one_to_many_last_by_order_by(files):
    # many: last by closed_at: A's 02-10 row (won, 100) for leads 1 and 2; B's row (lost) for 3.
    loaded = read(files)
    assert column(loaded, "is_won") == ["TRUE", "TRUE", "FALSE", "-", "-"]
    assert [str(d)[:10] for d in loaded.leads["closed_at"]] == ["2024-02-10", "2024-02-10", "2024-02-05", "NaT", "NaT"]
    np.testing.assert_array_equal(loaded.leads["amount"].to_numpy(), [100.0, 100.0, 70.0, np.nan, np.nan])
    # Won by the flag (dated 02-10) for 1 and 2; Lost by the condition for 3
    assert [str(d) for d in loaded.date[:, 1]] == ["2024-02-10", "2024-02-10", "NaT", "NaT", "NaT"]
    assert column(loaded, "exit") == ["-", "-", "Lost", "-", "-"]


def test_one_to_many_first_by_order_by(files):
    # many: first by closed_at: A's 02-01 row (lost, 50) for leads 1 and 2: both Lost, nobody won.
    loaded = read(files, defs_text(many="many: first\n    order_by: closed_at"))
    assert column(loaded, "is_won") == ["FALSE", "FALSE", "FALSE", "-", "-"]
    assert column(loaded, "exit") == ["Lost", "Lost", "Lost", "-", "-"]
    assert not loaded.reached[:, 1].any()
    assert parts(account_of(loaded, "join opportunities"))["not used (another row of the same key won, many: first)"] == 1
    assert account_of(loaded, "join opportunities").first_rows["not used (another row of the same key won, many: first)"] == [2]


@pytest.mark.parametrize("many, won", [("many: first", "TRUE"), ("many: last", "FALSE")])
def test_first_and_last_without_order_by_follow_file_order(files, many, won):
    # Without order_by, A's rows in file order are row 2 (TRUE) then row 3 (FALSE).
    loaded = read(files, defs_text(many=many))
    assert column(loaded, "is_won")[:2] == [won, won]


@pytest.mark.parametrize("many, won, unused", [("first", [False, False], [2, 5]), ("last", [True, True], [3, 4])])
def test_order_by_the_time_of_day_and_ties_by_file_order(write, many, won, unused):
    # L1 closes twice on 2025-03-01: a win at 13:00 (row 2) and a loss at 11:00 (row 3), so first
    # is the loss and last the win; by the day alone both took row 2. L2's two rows (4: lost,
    # 5: won) tie: first takes the first of them in the file, last the last; both took row 4.
    leads = write("leads.csv", "id,created_at\nL1,2025-01-02\nL2,2025-01-03\n")
    write("opps.csv", "lead_id,closed_at,is_won\nL1,2025-03-01 13:00,TRUE\nL1,2025-03-01 11:00,FALSE\n"
                      "L2,2025-03-02,FALSE\nL2,2025-03-02,TRUE\n")
    defs = write("defs.yml", "version: 1\ncolumns: {id: id}\njoins:\n  - {name: opps, path: opps.csv, on: {id: lead_id}, "
                             f"columns: {{is_won: is_won}}, many: {many}, order_by: closed_at}}\n"
                             "stages:\n  - {name: Lead, date: created_at}\n")
    loaded = api.read_export(str(leads), definitions.load([str(defs)]))
    assert column(loaded, "is_won") == ["TRUE" if w else "FALSE" for w in won]
    (account,) = loaded.files
    assert account.first_rows[f"not used (another row of the same key won, many: {many})"] == unused


def test_order_by_numbers_not_text(files, write):
    # order_by amount: '1,000' (row 2, won) and '200' (row 3, lost) for A. As numbers 1000 > 200:
    # many: last takes row 2. (As text '200' > '1,000' would take row 3.)
    write("opportunities.csv", 'account_id,closed_at,is_won,is_closed,amount\nA,2024-02-10,TRUE,TRUE,"1,000"\n'
                               "A,2024-02-01,FALSE,TRUE,200\nB,2024-02-05,FALSE,TRUE,70\n")
    loaded = read(files, defs_text(many="many: last\n    order_by: amount"))
    assert column(loaded, "is_won")[:2] == ["TRUE", "TRUE"]


def test_order_by_blank_never_wins(files, write):
    # A's third row (row 4) has no closed_at: under many: last it does not count as the latest.
    write("opportunities.csv", OPPORTUNITIES.replace("B,2024-02-05", "A,,FALSE,TRUE,1\nB,2024-02-05"))
    loaded = read(files)
    assert column(loaded, "is_won")[:2] == ["TRUE", "TRUE"]  # row 2 (02-10), not row 4 (blank)
    assert parts(account_of(loaded, "join opportunities"))["not used (another row of the same key won, many: last)"] == 2


def test_a_joined_name_that_hides_a_column_of_the_export_is_told_by_validate_and_the_run(write):
    # the join brings in 'Created' (the opportunity's CloseDate) and the export has a 'Created' of
    # its own: Lead's date reads the joined one (02-01 for A; none for B, which has no opportunity,
    # so B's Lead is implied by Converted 01-06). Nothing said it; validate said the definitions
    # were valid. Now validate warns at the join and the run says so
    leads = write("leads.csv", "Id,Created,Converted,OppId\nA,2026-01-01,2026-01-05,K1\nB,2026-01-02,2026-01-06,\n")
    write("opps.csv", "OppId,CloseDate,Won\nK1,2026-02-01,true\n")
    defs = write("f.yml", "version: 1\ncolumns: {id: Id}\njoins:\n  - {name: opps, path: opps.csv, on: OppId, "
                          "columns: {Created: CloseDate, won: Won}}\nstages:\n  - {name: Lead, date: Created}\n"
                          "  - {name: Converted, date: Converted}\n")
    checked = run("validate", defs, "--data", leads)
    assert checked.exit_code == 0, checked.output
    assert f"{defs}:4:5: warning: join 'opps' brings in 'Created' (its file's column 'CloseDate'), and {leads} has a column " \
           "'Created' too" in checked.stdout and "(hidden-column)" in checked.stdout
    result = run("conversion", leads, "-d", defs, "-f", "json")
    assert result.exit_code == 0, result.stderr
    assert "1 column of the export, 'Created', hidden by join 'opps'; every use of 'Created' reads the joined " \
           "file's column 'CloseDate', never the export's" in result.stderr
    # renamed as the message says, the export's Created is read: both leads dated by it, 4 days each
    write("f.yml", defs.read_text().replace("Created: CloseDate", "opps_Created: CloseDate"))
    renamed = run("conversion", leads, "-d", defs, "-f", "json")
    assert "hidden by join" not in renamed.stderr
    lead = stage_rows(report_of(renamed))["Lead"]
    assert (lead["reached"], lead["entered"], lead["median_days"]) == (2, 2, 4)


@pytest.mark.parametrize("many, placeholder", [("last", "9999-12-31"), ("first", "1900-01-01")])
def test_order_by_a_placeholder_date_never_wins(write, many, placeholder):
    # D's opportunity K4: a lost row at the placeholder (row 2) and a won one on 2026-02-01 (row 3).
    # A placeholder is no date (as the stage's own date reads it): it ranks as a blank, so both
    # first and last take row 3 and D is won (24 days after 01-08). The placeholder won before
    leads = write("leads.csv", "Id,Created,OppId\nD,2026-01-08,K4\n")
    write("opps.csv", f"OppId,CloseDate,Won\nK4,{placeholder},false\nK4,2026-02-01,true\n")
    defs = write("defs.yml", "version: 1\ncolumns: {id: Id, created: Created}\njoins:\n  - {name: opps, path: opps.csv, "
                             f"on: OppId, columns: {{close: CloseDate, won: Won}}, many: {many}, order_by: CloseDate}}\n"
                             "stages:\n  - {name: Lead, date: Created}\n  - {name: Won, flag: won, date: close}\n")
    result = run("conversion", leads, "-d", defs, "--as-of", "2026-03-31", "-f", "json", "-q")
    rows = stage_rows(report_of(result))
    assert (rows["Lead"]["reached"], rows["Won"]["reached"], rows["Lead"]["median_days"]) == (1, 1, 24)


def test_order_by_one_unreadable_date_elsewhere_keeps_the_date_order(files, write):
    # US dates: A's rows 10/15/2024 (row 2, won) and 9/30/2024 (row 3, lost); Z's row 4 reads 'TBD'
    # and matches no lead. As dates 10/15 is the latest: many: last takes row 2 for leads 1 and 2.
    # (funnelcli once read the whole column as text for Z's one bad value: '9/30/2024' sorted after
    # '10/15/2024' and both leads were lost.)
    write("opportunities.csv", "account_id,closed_at,is_won,is_closed,amount\nA,10/15/2024,TRUE,TRUE,100\n"
                               "A,9/30/2024,FALSE,TRUE,50\nZ,TBD,TRUE,TRUE,1\n")
    loaded = read(files, defs_text().replace("version: 1\n", "version: 1\ndate_format: '%m/%d/%Y'\n"))
    assert column(loaded, "is_won")[:2] == ["TRUE", "TRUE"]
    assert [str(d)[:10] for d in loaded.leads["closed_at"]][:2] == ["2024-10-15", "2024-10-15"]
    assert not [n for n in loaded.notices if "can't be read" in n.reason]  # Z's row picks nothing


def test_order_by_dates_in_a_format_not_given_are_refused_not_sorted_as_text(files, write):
    # order_by 'updated': US dates, no date_format. As text '9/30/2024' (A's row 3, lost) sorts
    # after '10/15/2024' (row 2, won) and many: last would count leads 1 and 2 lost: refused, with
    # the format that reads them.
    write("opportunities.csv", "account_id,closed_at,is_won,is_closed,amount,updated\n"
                               "A,2024-02-10,TRUE,TRUE,100,10/15/2024\nA,2024-02-01,FALSE,TRUE,50,9/30/2024\n"
                               "B,2024-02-05,FALSE,TRUE,70,10/1/2024\n")
    paths = dict(files)
    paths["defs.yml"].write_text(defs_text(many="many: last\n    order_by: updated"))
    assert_fails(cli(paths), "join 'opportunities': order_by 'updated' of", "holds dates that are not ISO dates",
                 "such as '10/15/2024'", "the format '%m/%d/%Y' reads all of them")
    # with the format given, the dates order the rows: row 2 (10/15) is the latest of A's
    loaded = read(paths, defs_text(many="many: last\n    order_by: updated").replace(
        "version: 1\n", "version: 1\ndate_formats: {updated: '%m/%d/%Y'}\n"))
    assert column(loaded, "is_won")[:2] == ["TRUE", "TRUE"]


def test_an_unreadable_order_by_among_a_leads_rows_ranks_last_and_is_reported(files, write):
    # A's rows: 2024-02-10 (row 2, won), 'soon' (row 3, lost), 2024-02-01 (row 4, lost). Under
    # many: last, 'soon' can't be the latest (as a blank can't): row 2 wins; a notice names row 3.
    write("opportunities.csv", "account_id,closed_at,is_won,is_closed,amount\nA,2024-02-10,TRUE,TRUE,100\n"
                               "A,soon,FALSE,TRUE,50\nA,2024-02-01,FALSE,TRUE,40\nB,2024-02-05,FALSE,TRUE,70\n")
    loaded = read(files)
    assert column(loaded, "is_won")[:2] == ["TRUE", "TRUE"]
    (notice,) = [n for n in loaded.notices if "can't be read" in n.reason]
    assert (notice.count, notice.rows) == (1, [3])
    assert notice.reason.endswith("opportunities.csv (join 'opportunities') whose 'closed_at' can't be read")


def test_a_file_row_that_only_an_excluded_lead_row_matched_is_counted_apart(files, write):
    # lead 3 (leads.csv row 4) has an unparseable created date: excluded. Its contact (contacts.csv
    # row 4, account B), B's account row (accounts.csv row 3) and B's opportunity (row 4) gave no
    # lead its values: each file counts them apart, not as "matched a lead"; the accounts still add up.
    write("leads.csv", LEADS.replace("3,2024-01-03", "3,2024-01-33"))
    loaded = read(files)
    assert [i.reason for i in loaded.excluded if i.rows == [4]]
    only = "matched only rows of the export that are excluded"
    for role, matched, rows in (("join contacts", 3, [4]), ("join accounts", 1, [3]), ("join opportunities", 1, [4])):
        account = account_of(loaded, role)
        assert (parts(account)["matched a lead"], parts(account)[only], account.first_rows[only]) == (matched, 1, rows), role
        assert account.balanced()


def test_many_error_names_the_key_rows_and_how_to_choose(files):
    # The default (many: error): A repeats (rows 2, 3) and matches leads 1 and 2 -> an error.
    # Z also repeats but matches no lead: it is not the one named.
    files["defs.yml"].write_text(defs_text(many=""))
    result = cli(files)
    assert_fails(result, "join 'opportunities'", "several rows for one lead", "'A' in rows 2, 3",
                 "many: first", "many: last", "order_by")
    assert "'Z'" not in result.stderr


def test_many_error_only_when_the_repeated_key_matches_a_lead(files, write):
    # Only Z repeats now (A once): Z matches no lead, so no error; its 2 rows are "matched no lead".
    write("opportunities.csv", OPPORTUNITIES.replace("A,2024-02-01,FALSE,TRUE,50\n", ""))
    loaded = read(files, defs_text(many=""))
    account = account_of(loaded, "join opportunities")
    assert parts(account) == {"matched a lead": 2, "not used (another row of the same key won, many: error)": 0,
                              "matched no lead": 2, "excluded with a blank key": 0}
    assert account.first_rows == {"matched no lead": [4, 5]}
    assert column(loaded, "is_won")[:3] == ["TRUE", "TRUE", "FALSE"]


def test_many_error_not_when_only_rows_the_export_excludes_hold_the_repeated_key(files, write):
    # A (opportunities rows 2, 3) is held by leads 1 and 2 only, through their contacts; with both
    # excluded (an unparseable created date), no lead holds a key of several rows: the run goes on,
    # and A's two rows matched only excluded rows. It stopped there, for leads that are no leads.
    write("leads.csv", LEADS.replace("1,2024-01-01", "1,2024-01-41").replace("2,2024-01-02", "2,2024-01-42"))
    loaded = read(files, defs_text(many=""))
    assert [(i.count, i.rows) for i in loaded.excluded if "unparseable date" in i.reason] == [(2, [2, 3])]
    account = account_of(loaded, "join opportunities")
    assert parts(account) == {"matched a lead": 1, "matched only rows of the export that are excluded": 2,
                              "not used (another row of the same key won, many: error)": 0,
                              "matched no lead": 2, "excluded with a blank key": 0}
    assert account.first_rows["matched only rows of the export that are excluded"] == [2, 3]
    assert account.balanced()
    assert column(loaded, "is_won")[2] == "FALSE"  # lead 3: B's row 4
    # explain says why lead 1 took no row: not "its key matches no row", which the account contradicts
    trace = next(t for t in loaded.joined if t.name == "opportunities").of(0)
    assert trace["row"] is None and trace["not_used"] == [2, 3]
    assert trace["why"].startswith("its key has several rows of ") and "many: error takes none" in trace["why"]
    # one of them a lead again: the error, counting the keys leads hold
    write("leads.csv", LEADS.replace("1,2024-01-01", "1,2024-01-41"))
    with pytest.raises(FunnelError, match=r"several rows for one lead \(1 key repeats, such as 'A' in rows 2, 3\)"):
        read(files, defs_text(many=""))


# --------------------------------------------------------------------------------------------
# 2. Every row of every file accounted for


def test_every_files_accounting_balances_and_matches_the_hand_count(files):
    loaded = read(files)
    assert [a.role for a in loaded.files] == ["join contacts", "join accounts", "join opportunities"]
    assert all(a.balanced() for a in loaded.files)
    contacts, accounts, opportunities = loaded.files
    assert contacts.rows_read == 6 and parts(contacts) == {
        "matched a lead": 4, "not used (another row of the same key won, many: error)": 0,
        "matched no lead": 1, "excluded with a blank key": 1}
    assert contacts.first_rows == {"matched no lead": [6], "excluded with a blank key": [7]}
    assert accounts.rows_read == 3 and parts(accounts)["matched a lead"] == 2 and parts(accounts)["matched no lead"] == 1
    assert accounts.first_rows == {"matched no lead": [4]}
    assert opportunities.rows_read == 5 and parts(opportunities) == {
        "matched a lead": 2, "not used (another row of the same key won, many: last)": 1,
        "matched no lead": 2, "excluded with a blank key": 0}
    assert opportunities.first_rows == {"not used (another row of the same key won, many: last)": [3], "matched no lead": [5, 6]}


def test_leads_with_no_row_are_a_notice(files):
    # Lead 4 (leads.csv row 5) has no contact. Leads 4 and 5 are not reported again for accounts
    # and opportunities: they have no account key to look up.
    loaded = read(files)
    missing = [i for i in loaded.notices if "matches no row of join" in i.reason]
    assert len(missing) == 1
    assert missing[0].reason.startswith("whose lead matches no row of join 'contacts'")
    assert (missing[0].count, missing[0].rows) == (1, [5])


def test_an_excluded_lead_row_is_not_also_a_lead_with_no_match(files):
    # Lead 4 (row 5) has no contact, and now an unparseable created_at too: it is counted once,
    # excluded for its date, not also among the leads the join left blank (it was counted in both)
    paths = files
    paths["leads.csv"].write_text(LEADS.replace("4,2024-01-04,Web", "4,TBD,Web"))
    loaded = read(paths)
    assert [i for i in loaded.notices if "matches no row of join" in i.reason] == []
    assert [(i.count, i.rows) for i in loaded.excluded if "unparseable date" in i.reason] == [(1, [5])]


def test_cli_states_each_files_account(files):
    result = cli(files)
    assert result.exit_code == 0, result.stderr
    err = result.stderr
    assert "(join contacts): 6 rows read = 4 matched a lead + 1 matched no lead (row 6) + 1 excluded with a blank key (row 7)" in err
    assert "(join accounts): 3 rows read = 2 matched a lead + 1 matched no lead (row 4)" in err
    assert ("(join opportunities): 5 rows read = 2 matched a lead + 1 not used (another row of the same key won, many: last) "
            "(row 3) + 2 matched no lead (rows 5, 6)") in err
    assert "leads.csv: 1 row whose lead matches no row of join 'contacts'" in err and "(row 5)" in err


def test_a_key_that_matches_nothing_is_an_error_naming_both_columns(files, write):
    # No contact's lead_id is a lead id: the join's key is wrong, not a few leads missing.
    other = write("other.csv", "lead_id,account_id,region\nx1,A,NA\nx2,B,EU\n")
    result = cli(files, "--join", f"contacts={other}")
    assert_fails(result, "join 'contacts'", "no row of", "'id'", "'1', '2', '3'", "'lead_id'", "'x1', 'x2'", "on:")


def test_blank_key_rows_only_are_not_a_mismatch(write):
    # Control for the error above: a file whose keys are all blank matches nothing, but is no key
    # mismatch: its 2 rows are "excluded with a blank key" and all 3 leads are reported missing.
    leads = write("leads.csv", "id,created_at\n1,2024-01-01\n2,2024-01-02\n3,2024-01-03\n")
    write("contacts.csv", "lead_id,region\n,NA\n ,EU\n")
    defs = write("defs.yml", "version: 1\ncolumns: {id: id}\njoins:\n  - {name: contacts, path: contacts.csv, on: {id: lead_id}, "
                             "columns: {region: region}}\nstages:\n  - {name: Lead, date: created_at}\n")
    loaded = api.read_export(str(leads), definitions.load([str(defs)]))
    (account,) = loaded.files
    assert parts(account)["excluded with a blank key"] == 2 and account.balanced()
    assert account.first_rows == {"excluded with a blank key": [2, 3]}
    (missing,) = [i for i in loaded.notices if "matches no row of join" in i.reason]
    assert (missing.count, missing.rows) == (3, [2, 3, 4])


def test_a_ragged_row_of_a_joined_file_is_accounted_for(write):
    # contacts' row 3 has three fields where the header has two: left out (counted, named); rows 2
    # and 4 match leads 1 and 3; lead 2 has no row.
    leads = write("leads.csv", "id,created_at\n1,2024-01-01\n2,2024-01-02\n3,2024-01-03\n")
    write("contacts.csv", "lead_id,region\n1,NA\n2,EU,extra\n3,APAC\n")
    defs = write("defs.yml", "version: 1\ncolumns: {id: id}\njoins:\n  - {name: contacts, path: contacts.csv, on: {id: lead_id}, "
                             "columns: {region: region}}\nstages:\n  - {name: Lead, date: created_at}\n")
    loaded = api.read_export(str(leads), definitions.load([str(defs)]))
    (account,) = loaded.files
    assert account.rows_read == 3 and account.balanced()
    assert parts(account)["excluded with 3 fields where the header has 2"] == 1
    assert account.first_rows["excluded with 3 fields where the header has 2"] == [3]
    assert column(loaded, "region") == ["NA", "-", "APAC"]


def with_opps(write, leads: str, opps: str, columns: str, on: str, brought: str):
    """Return leads.csv joined to opps.csv (`on`, bringing `brought`), as read under blank_values: [--None--]."""
    export = write("leads.csv", leads)
    write("opps.csv", opps)
    defs = write("defs.yml", f"version: 1\ncolumns: {{{columns}}}\nblank_values: [--None--]\njoins:\n"
                             f"  - {{name: opps, path: opps.csv, on: {{{on}}}, columns: {{{brought}}}}}\n"
                             "stages:\n  - {name: Lead, date: created_at}\n")
    return api.read_export(str(export), definitions.load([str(defs)]))


def test_a_joined_files_left_out_rows_are_accounted_for_with_blank_values(write):
    # blank_values (set by every reference definition) remade the joined file's table and dropped
    # what it had left out: its short row 3, long row 4 and footer (rows 6 and 7, after a blank line)
    # went unsaid ("2 rows read = 2 matched a lead" of 6). Leads 1 and 4 match rows 2 and 5.
    loaded = with_opps(write, "id,created_at\n1,2024-01-01\n2,2024-01-02\n3,2024-01-03\n4,2024-01-04\n",
                       'lead_id,stage\n1,Won\n2\n3,Lost,x\n4,--None--\n\n"Grand Totals (4 records)"\n',
                       "id: id", "id: lead_id", "stage: stage")
    (account,) = loaded.files
    assert account.rows_read == 6 and account.balanced()
    assert parts(account) == {"matched a lead": 2, "not used (another row of the same key won, many: error)": 0,
                              "matched no lead": 0, "excluded with a blank key": 0,
                              "excluded with 1 field where the header has 2": 1, "excluded with 3 fields where the header has 2": 1,
                              "in the report footer": 2}
    assert account.first_rows["in the report footer"] == [6, 7]
    assert column(loaded, "stage") == ["Won", "-", "-", "-"]  # lead 4's --None-- read as blank


def test_chained_join_with_no_key_for_any_lead(write):
    # contacts gives leads 1 and 2 a blank account_id (lead 3 no contact): accounts has nothing to
    # look up. Expected: the accounts columns are blank, and the file's one row matched no lead.
    leads = write("leads.csv", "id,created_at\n1,2024-01-01\n2,2024-01-02\n3,2024-01-03\n")
    write("contacts.csv", "lead_id,account_id\n1,\n2,\n")
    write("accounts.csv", "account_id,industry\nA,Software\n")
    defs = write("defs.yml", "version: 1\ncolumns: {id: id}\njoins:\n"
                             "  - {name: contacts, path: contacts.csv, on: {id: lead_id}, columns: {account_id: account_id}}\n"
                             "  - {name: accounts, path: accounts.csv, on: account_id, columns: {industry: industry}}\n"
                             "stages:\n  - {name: Lead, date: created_at}\n")
    loaded = api.read_export(str(leads), definitions.load([str(defs)]))
    assert column(loaded, "industry") == ["-", "-", "-"]
    accounts = account_of(loaded, "join accounts")
    assert parts(accounts)["matched no lead"] == 1 and accounts.balanced()


# --------------------------------------------------------------------------------------------
# 3. Binding the files


def test_default_path_is_relative_to_the_definitions_folder(write, tmp_path):
    # The definitions live in conf/ with contacts.csv beside them; the run's working folder is
    # elsewhere (the test runner's): the default path still finds conf/contacts.csv.
    write("conf/contacts.csv", CONTACTS)
    write("conf/accounts.csv", ACCOUNTS)
    write("conf/opportunities.csv", OPPORTUNITIES)
    defs = write("conf/defs.yml", defs_text())
    leads = write("data/leads.csv", LEADS)
    assert os.getcwd() != str(tmp_path / "conf")
    loaded = api.read_export(str(leads), definitions.load([str(defs)]))
    assert column(loaded, "account_id")[:3] == ["A", "A", "B"]
    assert account_of(loaded, "join contacts").name == str(tmp_path / "conf" / "contacts.csv")


def test_join_option_overrides_the_default_path(files, write):
    # --join contacts=alt.csv: leads 4 and 5 get accounts B and A; leads 1-3 have no contact now.
    # With many: last, lead 5 (A) wins on 02-10, lead 4 (B) is lost.
    alt = write("alt/contacts.csv", "lead_id,account_id,region\n4,B,NA\n5,A,EU\n")
    report = report_of(cli(files, "--join", f"contacts={alt}"))
    rows = stage_rows(report)
    assert (rows["Lead"]["reached"], rows["Won"]["reached"], rows["Lead"]["exited:Lost"]) == (5, 1, 1)
    loaded = read(files, None, contacts=alt)
    assert column(loaded, "account_id") == ["-", "-", "-", "B", "A"]
    assert account_of(loaded, "join contacts").name == str(alt)


def test_unknown_join_name_is_an_error(files, write):
    other = write("x.csv", "lead_id\n1\n")
    result = cli(files, "--join", f"contakts={other}")
    assert_fails(result, "--join contakts=", "no join 'contakts'", "contacts, accounts, opportunities")
    with pytest.raises(FunnelError, match="no join 'contakts'"):
        read(files, None, contakts=files["contacts.csv"])


def test_join_with_no_file_is_an_error(files):
    # No path: and no --join: the run stops and says how to bind it.
    files["defs.yml"].write_text(defs_text(contacts_path="description: no default file"))
    assert_fails(cli(files), "join 'contacts' has no file", "--join contacts=PATH")


def test_join_file_that_does_not_exist(files, tmp_path):
    missing = tmp_path / "nope.csv"
    assert_fails(cli(files, "--join", f"contacts={missing}"), "join 'contacts'", str(missing), "no such file")


def test_join_file_missing_a_column_is_an_error_before_reading(files, write):
    bad = write("bad.csv", "lead_id,account,region\n1,A,NA\n")
    assert_fails(cli(files, "--join", f"contacts={bad}"), "'account_id'")


# --------------------------------------------------------------------------------------------
# 4. The joined columns feed stages, exits, markets and --by


def test_end_to_end_conversion(files):
    # many: last. As-of: the latest date, 02-10 (closed_at of leads 1 and 2).
    #   Lead: reached 5 = converted 2 (1, 2) + exited 1 (3, Lost via the joined condition)
    #         + in progress 2 (4, 5)
    #   Won:  reached 2 (the joined flag)
    # velocity Lead -> Won: 01-01 -> 02-10 = 40 days, 01-02 -> 02-10 = 39 days: median 39.5
    report = report_of(cli(files))
    assert report["as_of"] == "2024-02-10"
    rows = stage_rows(report)
    assert (rows["Lead"]["reached"], rows["Lead"]["converted"], rows["Lead"]["exited:Lost"], rows["Lead"]["in_progress"]) == (5, 2, 1, 2)
    assert rows["Lead"]["reached"] == rows["Lead"]["converted"] + rows["Lead"]["exited"] + rows["Lead"]["stuck"] + rows["Lead"]["in_progress"]
    assert rows["Won"]["reached"] == 2
    assert rows["Lead"]["median_days"] == 39.5
    acc = report["accounting"]
    assert (acc["rows_read"], acc["leads_in_report"], acc["rows_excluded"]) == (5, 5, 0)


def test_joined_fields_feed_markets(files):
    # Enterprise = employees >= 1000 (from accounts): leads 1 and 2 (A, 5000); the rest out of market.
    loaded = read(files)
    assert list(loaded.leads["market"]) == ["Enterprise", "Enterprise", "out of market", "out of market", "out of market"]
    report = report_of(cli(files, "--by", "market"))
    lead = {r["group"]: r["reached"] for r in report["tables"]["stages"] if r["stage"] == "Lead"}
    won = {r["group"]: r["reached"] for r in report["tables"]["stages"] if r["stage"] == "Won"}
    assert lead == {"Enterprise": 2, "out of market": 3}
    assert won == {"Enterprise": 2, "out of market": 0}


def test_joined_fields_feed_by(files):
    # --by industry (two joins away): Software 1, 2; Retail 3; blank 4, 5. Won: Software 2.
    report = report_of(cli(files, "--by", "industry"))
    lead = {r["group"]: r["reached"] for r in report["tables"]["stages"] if r["stage"] == "Lead"}
    won = {r["group"]: r["reached"] for r in report["tables"]["stages"] if r["stage"] == "Won"}
    assert lead == {"Software": 2, "Retail": 1, "(blank)": 2}
    assert won == {"Software": 2, "Retail": 0, "(blank)": 0}


def test_joined_column_as_a_status_column(write):
    # stage_column may be a joined field: the deal stage comes from deals.csv.
    # lead 1 -> Proposal (Lead, Demo implied), lead 2 -> Demo, lead 3 -> no deal: Lead only.
    leads = write("leads.csv", "id\n1\n2\n3\n")
    write("deals.csv", "lead,stage\n1,Proposal\n2,demo\n")
    defs = write("defs.yml", """\
version: 1
columns: {id: id}
joins:
  - {name: deals, path: deals.csv, on: {id: lead}, columns: {deal_stage: stage}}
stage_column: deal_stage
stages:
  - name: Lead
  - name: Demo
  - name: Proposal
""")
    loaded = api.read_export(str(leads), definitions.load([str(defs)]))
    assert ["".join(str(int(v)) for v in r) for r in loaded.reached] == ["111", "110", "100"]
    assert ["".join(str(int(v)) for v in r) for r in loaded.implied] == ["010", "000", "000"]


# --------------------------------------------------------------------------------------------
# 5. blank_values in joined files


def test_blank_values_notice_of_a_joined_file_names_that_file(files, write):
    # contacts row 2 holds 'N/A' (read as blank): lead 1 has no account. leads.csv itself has no
    # blank value, so a notice naming leads.csv row 2 would send the user to the wrong file.
    write("contacts.csv", CONTACTS.replace("1,A,NA", "1,N/A,NA"))
    files["defs.yml"].write_text(defs_text().replace("version: 1\n", "version: 1\nblank_values: [N/A]\n"))
    result = cli(files)
    assert result.exit_code == 0, result.stderr
    (line,) = [x for x in result.stderr.splitlines() if "the definitions read as blank" in x]
    assert "contacts.csv" in line


def test_blank_values_apply_to_joined_files(files, write):
    # The same file: contacts' 'N/A' is blank, so lead 1 has no account_id and no account.
    write("contacts.csv", CONTACTS.replace("1,A,NA", "1,N/A,NA"))
    loaded = read(files, defs_text().replace("version: 1\n", "version: 1\nblank_values: [N/A]\n"))
    assert column(loaded, "account_id")[:3] == ["-", "A", "B"]
    assert column(loaded, "industry")[:3] == ["-", "Software", "Retail"]


# --------------------------------------------------------------------------------------------
# 6. validate --data checks the joined files' headers


def validate_json(*args: str) -> tuple[int, list[dict]]:
    result = run("validate", *args, "-f", "json")
    return result.exit_code, json.loads(result.stdout)


def test_validate_data_checks_joined_headers(files):
    code, problems = validate_json(str(files["defs.yml"]), "--data", str(files["leads.csv"]))
    assert (code, problems) == (0, [])


def test_validate_data_reports_a_missing_column_of_a_joined_file(files, write):
    # accounts.csv says 'staff' where the join wants 'employees': missing-column, against that
    # file's header (the nearest header named), at the join's position (defs.yml line 8, 'name:').
    write("accounts.csv", "account_id,industry,staff\nA,Software,5000\n")
    code, problems = validate_json(str(files["defs.yml"]), "--data", str(files["leads.csv"]))
    assert code == 1
    (problem,) = problems
    assert problem["rule"] == "missing-column" and problem["level"] == "error"
    assert "'employees'" in problem["message"] and "accounts.csv" in problem["message"]
    assert "join accounts columns.employees" in problem["message"]
    assert (problem["path"], problem["line"], problem["col"]) == (str(files["defs.yml"]), 8, 5)


def test_validate_data_reports_several_rows_for_a_lead_as_an_error_at_the_join(files):
    # many: error (the default) with A twice for leads 1 and 2: the definitions' choice to make,
    # so an error at the join (opportunities, line 12, col 5), exit 1; it stopped validate (exit 2)
    files["defs.yml"].write_text(defs_text(many=""))
    code, problems = validate_json(str(files["defs.yml"]), "--data", str(files["leads.csv"]))
    assert code == 1
    (problem,) = problems
    assert (problem["rule"], problem["level"], problem["line"], problem["col"]) == ("several-rows", "error", 12, 5)
    assert "1 key repeats, such as 'A' in rows 2, 3" in problem["message"] and "many: first" in problem["message"]


def test_validate_data_reports_a_join_with_no_file(files):
    # contacts has no path: and no --join: missing-file at the join (line 4, col 5).
    files["defs.yml"].write_text(defs_text(contacts_path="description: no default file"))
    code, problems = validate_json(str(files["defs.yml"]), "--data", str(files["leads.csv"]))
    assert code == 1
    (problem,) = problems
    assert problem["rule"] == "missing-file"
    assert "join 'contacts'" in problem["message"] and "--join contacts=PATH" in problem["message"]
    assert (problem["line"], problem["col"]) == (4, 5)


def test_validate_data_with_join_option(files, write):
    # The same join bound with --join: clean; bound to a file lacking 'region': missing-column.
    files["defs.yml"].write_text(defs_text(contacts_path="description: no default file"))
    code, problems = validate_json(str(files["defs.yml"]), "--data", str(files["leads.csv"]), "--join", f"contacts={files['contacts.csv']}")
    assert (code, problems) == (0, [])
    thin = write("thin.csv", "lead_id,account_id\n1,A\n")
    code, problems = validate_json(str(files["defs.yml"]), "--data", str(files["leads.csv"]), "--join", f"contacts={thin}")
    assert code == 1 and [p["rule"] for p in problems] == ["missing-column"]
    assert "'region'" in problems[0]["message"] and "thin.csv" in problems[0]["message"]


def test_validate_data_reports_the_exports_own_missing_column_against_the_export(files, write):
    # The export lacks 'source' (columns.source): reported against leads2.csv, not a joined file;
    # the joined files themselves are fine.
    leads = write("leads2.csv", "id,created_at\n1,2024-01-01\n")
    code, problems = validate_json(str(files["defs.yml"]), "--data", str(leads))
    assert code == 1
    assert [p["rule"] for p in problems] == ["missing-column"]
    assert "'source'" in problems[0]["message"] and "leads2.csv" in problems[0]["message"]


@pytest.mark.parametrize("as_parquet", [False, True])
def test_a_joined_file_with_no_rows_yet_leaves_every_lead_unmatched(files, as_parquet):
    # No opportunities yet: the file has its header only. Every lead runs, with the join's
    # columns blank: 5 leads reach Lead, none is won or lost (was: "header but no data rows").
    header = OPPORTUNITIES.splitlines()[0] + "\n"
    files["opportunities.csv"].write_text(header)
    joins = {}
    if as_parquet:
        import pyarrow as pa
        import pyarrow.parquet as pq

        target = files["opportunities.csv"].with_suffix(".parquet")
        pq.write_table(pa.table({h: pa.array([], pa.string()) for h in header.strip().split(",")}), target)
        joins = {"opportunities": str(target)}
    loaded = read(files, **joins)
    assert account_of(loaded, "join opportunities").rows_read == 0
    assert column(loaded, "closed_at") == ["-"] * 5
    result = cli(files, *(f"--join=opportunities={p}" for p in joins.values()))
    stages = stage_rows(report_of(result))
    assert (stages["Lead"]["reached"], stages["Won"]["reached"], stages["Lead"]["exited"]) == (5, 0, 0)
    assert "(join opportunities): 0 rows read (the file has a header only)" in result.stderr


# --------------------------------------------------------------------------------------------
# date_formats of a joined column (found by trying joins as users write them)

FORMATS_LEADS = "id,created_at\nL1,2025-01-02\nL2,2025-01-03\n"
FORMATS_OPPS = "lead,Close Date,won\nL2,01.02.2025,true\nL1,15.02.2025,true\n"


def formats_defs(key: str, join_extra: str = "") -> str:
    return f"""version: 1
columns: {{id: id, created: created_at}}
date_formats: {{{key}: ['%d.%m.%Y']}}
joins:
  - name: opps
    path: opps.csv
    on: {{id: lead}}
    columns: {{close_date: Close Date, is_won: won}}{join_extra}
stages:
  - {{name: Lead, date: created_at}}
  - {{name: Won, flag: is_won, date: close_date}}
"""


@pytest.mark.parametrize("key", ["Close Date", "close_date"])
def test_date_formats_of_a_joined_column_by_header_or_canonical_name(write, key):
    # L1: 01-02 -> 02-15 = 44 days; L2: 01-03 -> 02-01 = 29 days; median 36.5
    write("opps.csv", FORMATS_OPPS)
    result = run("conversion", write("leads.csv", FORMATS_LEADS), "-d", write("f.yml", formats_defs(key)), "-f", "json")
    assert result.exit_code == 0, result.stderr
    rows = stage_rows(json.loads(result.stdout))
    assert (rows["Lead"]["reached"], rows["Won"]["reached"], rows["Lead"]["median_days"]) == (2, 2, 36.5)


@pytest.mark.parametrize("key", ["Close Date", "close_date"])
def test_order_by_reads_dates_with_the_columns_own_formats(write, key):
    # L1's rows: 28.02.2025 lost (row 2), 01.03.2025 won (row 3): many: last by date takes row 3
    # (as text, '28.02' sorts after '01.03' and the lost row would win)
    write("opps.csv", "lead,Close Date,won\nL1,28.02.2025,false\nL1,01.03.2025,true\n")
    defs = write("f.yml", formats_defs(key, "\n    many: last\n    order_by: Close Date"))
    result = run("conversion", write("leads.csv", "id,created_at\nL1,2025-01-02\n"), "-d", defs, "-f", "json")
    assert result.exit_code == 0, result.stderr
    rows = stage_rows(json.loads(result.stdout))
    assert (rows["Won"]["reached"], rows["Lead"]["median_days"]) == (1, 58)
    assert "1 not used (another row of the same key won, many: last) (row 2)" in result.stderr


def test_a_bad_date_in_a_joined_file_names_the_join_and_its_column(write):
    write("opps.csv", "lead,close,won\nL2,TBD,true\nL1,2025-02-01,true\n")
    defs = write("f.yml", """version: 1
columns: {id: id, created: created_at}
joins:
  - {name: opps, path: opps.csv, on: {id: lead}, columns: {close_date: close, is_won: won}}
stages:
  - {name: Lead, date: created_at}
  - {name: Won, flag: is_won, date: close_date}
""")
    result = run("conversion", write("leads.csv", FORMATS_LEADS), "-d", defs)
    assert result.exit_code == 0, result.stderr
    # the row is the lead's (L2, leads.csv row 3); the value is in opps.csv's column 'close'
    assert "such as 'TBD' in 'close_date' (column 'close' of join opps) (row 3)" in result.stderr
    assert "unless the definitions set date_format" in result.stderr


def test_the_unparseable_date_detail_names_the_definitions_formats_when_they_give_some(write):
    write("opps.csv", FORMATS_OPPS.replace("15.02.2025", "45.02.2025"))
    result = run("conversion", write("leads.csv", FORMATS_LEADS), "-d", write("f.yml", formats_defs("Close Date")))
    assert "such as '45.02.2025' in 'close_date' (column 'Close Date' of join opps)" in result.stderr
    assert "or in the formats the definitions give (date_format, date_formats)" in result.stderr
    assert "unless the definitions set date_format" not in result.stderr


def test_a_joined_files_missing_column_names_its_use_and_the_file(write):
    write("opps.csv", "lead,close,won\nL1,2025-02-01,true\n")
    defs = write("f.yml", formats_defs("close_date", "\n    many: last\n    order_by: close_dt").replace("Close Date", "close"))
    leads = write("leads.csv", FORMATS_LEADS)
    result = run("conversion", leads, "-d", defs)
    assert result.exit_code == 2
    assert "opps.csv: 1 column join 'opps' uses is not in the file's header:" in result.stderr
    assert "'close_dt' (used by join opps order_by) (nearest: 'close')" in result.stderr
    assert "The file's columns are: 'lead', 'close', 'won'" in result.stderr
    assert "Fix the names under 'joins:' in the definitions." in result.stderr
    # the lead file bound by mistake: every column the join reads is named with its use
    wrong = run("conversion", leads, "-d", defs, "--join", f"opps={leads}")
    assert "4 columns join 'opps' uses are not in the file's header" in wrong.stderr
    assert "'lead' (used by join opps key)" in wrong.stderr and "'won' (used by join opps columns.is_won)" in wrong.stderr
    folder = run("conversion", leads, "-d", defs, "--join", f"opps={leads.parent}")
    assert folder.exit_code == 2
    assert f"join 'opps': {leads.parent}: is a folder, not a file; pass --join opps=PATH" in folder.stderr


def test_the_stuck_list_carries_the_joined_columns(write):
    # L1 (Lead since 01-02, SLA 30) is stuck at the as-of date 03-01: 58 days, 28 over
    write("acc.csv", "lead,amount,industry\nL1,500,Software\n")
    defs = write("f.yml", """version: 1
columns: {id: id, created: created_at, owner: owner}
joins:
  - {name: acc, path: acc.csv, on: {id: lead}, columns: {amount: amount, industry: industry}}
stages:
  - {name: Lead, date: created_at, sla_days: 30}
  - {name: Won, date: won_at}
""")
    leads = write("leads.csv", "id,created_at,owner,won_at\nL1,2025-01-02,Ann,\nL2,2025-03-01,Bob,\n")
    result = run("purgatory", leads, "-d", defs, "--list", "-f", "csv")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == ["id,stage,entered,days_in_stage,days_over_sla,why,owner,created,amount,industry",
                                          "L1,Lead,2025-01-02,58,28,past SLA,Ann,2025-01-02,500,Software"]


def test_validate_data_reads_the_joined_files_values(write):
    # Close Date in day.month.year with no format: the run would exclude both leads
    write("opps.csv", FORMATS_OPPS)
    leads = str(write("leads.csv", FORMATS_LEADS))
    no_format = str(write("f.yml", formats_defs("Nope").replace("date_formats: {Nope: ['%d.%m.%Y']}\n", "")))
    code, problems = validate_json(no_format, "--data", leads)
    assert code == 0
    assert [(p["level"], p["rule"]) for p in problems] == [("warning", "unparseable-date")]
    assert "join opps columns.close_date: 2 of 2 values of column 'Close Date' of " in problems[0]["message"]
    assert ("opps.csv don't parse as dates (such as '01.02.2025' in row 2): the run excludes the leads they join to, "
            "and refuses the export when no lead's date there reads") in problems[0]["message"]
    assert "date_formats: {Close Date: ['%d.%m.%Y']}" in problems[0]["message"]
    # with the format, nothing to say; a blank joined column, and a file with no rows, are warned of
    assert validate_json(str(write("g.yml", formats_defs("Close Date"))), "--data", leads) == (0, [])
    write("opps.csv", "lead,Close Date,won\nL1,,true\nL2,,false\n")
    _, problems = validate_json(str(write("g.yml", formats_defs("Close Date"))), "--data", leads)
    assert [p["rule"] for p in problems] == ["blank-column"]
    assert "column 'Close Date' is blank in all 2 rows of " in problems[0]["message"]
    assert "opps.csv; check that the file has its values" in problems[0]["message"]
    write("opps.csv", "lead,Close Date,won\n")
    _, problems = validate_json(str(write("g.yml", formats_defs("Close Date"))), "--data", leads)
    assert [p["rule"] for p in problems] == ["no-rows"]
    assert problems[0]["message"].startswith("join 'opps': ")
    assert problems[0]["message"].endswith("opps.csv has no rows: the columns it brings (close_date, is_won) are blank for every lead")


def test_joined_columns_named_like_the_stuck_lists_own_do_not_replace_them(write):
    write("acc.csv", "lead,amount,stage,why\nL1,500,Prospecting,because\n")
    defs = write("f.yml", """version: 1
columns: {id: id, created: created_at}
joins:
  - {name: acc, path: acc.csv, on: {id: lead}, columns: {amount: amount, stage: stage, why: why}}
stages:
  - {name: Lead, date: created_at, sla_days: 30}
  - {name: Won, date: won_at}
""")
    leads = write("leads.csv", "id,created_at,won_at\nL1,2025-01-02,\nL2,2025-03-01,\n")
    result = run("purgatory", leads, "-d", defs, "--list", "-f", "csv")
    assert result.stdout.splitlines() == ["id,stage,entered,days_in_stage,days_over_sla,why,created,amount",
                                          "L1,Lead,2025-01-02,58,28,past SLA,2025-01-02,500"]


def test_validate_data_refuses_what_the_run_refuses_in_a_joined_file(write):
    # one account row, unreadable, joined to six leads: the run judges the leads (six with no
    # readable date: a setting, not rows) and refuses; validate reads the export as the run does
    write("acc.csv", "acc_id,Signed\nA1,15.02.2025\n")
    defs = str(write("f.yml", """version: 1
columns: {id: id, created: created_at, account: account}
joins:
  - {name: acc, path: acc.csv, on: {account: acc_id}, columns: {signed_date: Signed}}
stages:
  - {name: Lead, date: created_at}
  - {name: Signed, date: signed_date}
"""))
    leads = str(write("leads.csv", "id,created_at,account\n" + "".join(f"L{i},2025-01-0{i},A1\n" for i in range(1, 7))))
    for command in (["conversion", leads, "-d", defs], ["validate", defs, "--data", leads]):
        result = run(*command)
        assert result.exit_code == 2
        assert ("column 'signed_date' (column 'Signed' of join acc): no value parses as a date (such as '15.02.2025')"
                in result.stderr)


def test_the_lead_files_own_left_out_rows_are_counted_with_joins(files):
    # leads.csv with lead 3 (row 4) cut short and a report footer after two blank lines (rows 7-10,
    # counted as the footer): 9 rows read = 4 leads + 1 ragged + 4 footer. The joins took the
    # lead file's table and dropped the rows it left out: "4 rows read", and no word of them.
    paths = files
    paths["leads.csv"].write_text(LEADS.replace("3,2024-01-03,Ads\n", "3,2024-01-03\n")
                                  + "\n\nGenerated By: Jane\nAcme Corp - Confidential\n")
    report = report_of(cli(paths))
    acc = report["accounting"]
    assert (acc["rows_read"], acc["rows_excluded"], acc["leads_in_report"] + acc["never_reached_first_stage"]) == (9, 5, 4)
    reasons = {item["reason"]: item["first_rows"] for item in acc["excluded"]}
    assert reasons == {"with 2 fields where the header has 3": [4], "in the report footer": [7, 8, 9, 10]}


def test_a_joined_file_in_another_encoding_names_its_own(write):
    # leads.csv is UTF-8 (Zoë); the contacts file is cp1252, as Excel on Windows saves it (Müller).
    # --encoding cp1252 would misread the leads without a word (ZoÃ«): the error for the joined file
    # says to give the join its own encoding, and with it both read right.
    leads = write("leads.csv", "id,created_at,name\n1,2024-01-01,Zoë\n2,2024-01-02,Ann\n")
    write("contacts.csv", "lead_id,region\n1,Müller GmbH\n2,EU\n".encode("cp1252"))
    join = "  - {name: contacts, path: contacts.csv, on: {id: lead_id}, columns: {region: region}%s}\n"
    text = "version: 1\ncolumns: {id: id, name: name}\njoins:\n%sstages:\n  - {name: Lead, date: created_at}\n"
    plain = write("plain.yml", text % (join % ""))
    result = run("conversion", leads, "-d", plain)
    assert_fails(result, "contacts.csv: the file is not UTF-8 text (line 2 has bytes it cannot decode)",
                 "give join 'contacts' its own encoding in the definitions, e.g. encoding: cp1252")
    assert "--encoding cp1252" not in result.stderr
    own = write("own.yml", text % (join % ", encoding: cp1252"))
    loaded = api.read_export(str(leads), definitions.load([str(own)]))
    assert column(loaded, "region") == ["Müller GmbH", "EU"]
    assert list(loaded.leads["name"]) == ["Zoë", "Ann"]
    assert run("validate", own, "--data", leads).exit_code == 0
    # a join's encoding its file's bytes can't be: said for the join, not as --encoding advice
    utf16 = write("utf16.yml", text % (join % ", encoding: utf-16"))
    write("contacts.csv", "lead_id,region\n1,NA\n2,EU\n")
    said = run("conversion", leads, "-d", utf16)
    assert_fails(said, "contacts.csv: the file has no byte-order mark and no zero bytes in its start: it is not utf-16 text; "
                       "set the encoding of join 'contacts' to the file's in the definitions (encoding: utf-8 for a UTF-8 file")
    # and --encoding utf-16-le for the export reads this UTF-8 contacts file as no text, not as
    # other letters (its header read as '敬摡...', and a list of missing columns followed)
    export16 = write("leads16.csv", "id,created_at,name\n1,2024-01-01,Zoë\n2,2024-01-02,Ann\n".encode("utf-16-le"))
    garbled = run("conversion", export16, "-d", plain, "--encoding", "utf-16-le")
    assert_fails(garbled, "contacts.csv: the file has no byte-order mark and no zero bytes in its start: it is not utf-16-le "
                          "text; set the encoding of join 'contacts' to the file's")
    wrong = write("wrong.yml", text % (join % ", encoding: klingon"))
    checked = run("validate", wrong)
    assert checked.exit_code == 1
    assert "join 'contacts': encoding 'klingon' is not a text encoding a file is written in" in checked.stdout


def test_a_blank_value_as_a_leads_key_is_no_mismatch(write):
    # blank_values make '--None--' blank in every column: lead 2's opportunity id (row 3) is no
    # key, as lead 3's empty one (row 4) is; only lead 4's 'O9' (row 5) matches no row. It had
    # counted lead 2 too, while the file's own '--none--' (row 3) was a blank key.
    loaded = with_opps(write, "id,created_at,opp\n1,2024-01-01,O1\n2,2024-01-02,--None--\n3,2024-01-03,\n4,2024-01-04,O9\n",
                       "opp_id,amount\nO1,100\n--none--,5\n", "id: id, opportunity: opp", "opportunity: opp_id", "amount: amount")
    (missing,) = [i for i in loaded.notices if "matches no row of join" in i.reason]
    assert (missing.count, missing.rows) == (1, [5])
    (account,) = loaded.files
    assert parts(account)["matched a lead"] == 1 and parts(account)["excluded with a blank key"] == 1 and account.balanced()


def test_a_joined_name_that_hides_a_column_of_a_log_is_told_too(write):
    # a log with its own 'state' column, joined to deals that bring 'state' from their 'status':
    # Won reads the deals' state; validate warned, the run said nothing (the log's header was lost
    # when it was pivoted to a row per lead)
    log = write("log.csv", "deal_id,new_value,change_time,state\n1,A,2026-01-01,open\n1,B,2026-01-05,open\n2,A,2026-01-02,open\n")
    write("deals.csv", "id,status\n1,won\n2,lost\n")
    defs = write("f.yml", "version: 1\ncolumns: {id: deal_id}\nhistory: {stage: new_value, at: change_time}\njoins:\n"
                          "  - {name: deals, path: deals.csv, on: {deal_id: id}, columns: {state: status}}\n"
                          "stages:\n  - {name: A}\n  - {name: B}\n  - {name: Won, when: {state: {in: [won]}}}\n")
    result = run("conversion", log, "-d", defs, "-f", "json")
    assert "1 column of the export, 'state', hidden by join 'deals'; every use of 'state' reads the joined" in result.stderr
    rows = stage_rows(report_of(result))
    assert (rows["A"]["reached"], rows["Won"]["reached"]) == (2, 1)


def test_a_line_break_in_a_joined_header_or_path_starts_no_line_of_its_own_on_stderr(write, tmp_path):
    # stderr's messages are written a line at a time, each line's controls written out: a value put
    # in unquoted ('(say j_amount: HEADER)', a join's path in its account line) started a line of
    # its own, 'funnelcli: error: forged'
    export = write("e.csv", "id,created,amount\n1,2025-01-01,5\n2,2025-01-02,6\n")
    forged = "Amt\nfunnelcli: error: forged"
    (tmp_path / "k\nfunnelcli: error: forged2.csv").write_text(f'id,"{forged}"\n1,7\n2,8\n', encoding="utf-8")
    defs = write("f.yml", "version: 1\ncolumns: {id: id, created: created}\njoins:\n  - name: j\n"
                          '    path: "k\\nfunnelcli: error: forged2.csv"\n    on: id\n'
                          '    columns: {amount: "Amt\\nfunnelcli: error: forged"}\nstages:\n  - {name: Lead, date: created}\n')
    result = run("conversion", export, "-d", defs, "-f", "json")
    assert result.exit_code == 0, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 2 and not any(line.startswith("funnelcli: error") for line in lines), result.stderr
    assert "(say j_amount: Amt\\x0afunnelcli: error: forged)" in result.stderr
    assert "k\\x0afunnelcli: error: forged2.csv (join j): 2 rows read" in result.stderr
