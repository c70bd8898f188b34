"""Golden outputs: whole reports as people read them, compared byte for byte.

Regenerate on purpose only: FUNNELCLI_REGENERATE_GOLDEN=1 pytest tests/test_golden.py, then read
the diff. Every number in them is derived by hand from its fixture:

- conversion-small.txt: tests/fixtures/small.csv; the table is derived in tests/test_funnel.py
  (reached 7/4/2/1, converted 4/2/1, exits, stuck, velocity between own dates 1 / 10 / 15.4
  days for MQL->SAL, 7 for SAL->SQL, 29 for SQL->Won; no cycle time: the one winner skipped
  MQL); targets from small.yml on the leads mature for each rate: MQL->SAL needs 3 days, so
  lead 5 (MQL 03-10) is too young: 4 of 6 = 66.7% < 80% missed; MQL->SQL needs 3 + 14 = 17
  days (MQL by 02-22): 2 of the same 6 = 33.3% >= 30% met; MQL stuck 1 of 7 = 14.3% > 10%
  missed; 11 rows = 7 + 1 never reached MQL + 3 excluded.
- purgatory-by-owner.md: tests/fixtures/purgatory.csv; every table is derived in
  tests/test_purgatory.py (stuck by stage, the two purgatories, age bands, leakage, owners).
- trends.html: tests/fixtures/trends.csv; the cohort, velocity and change numbers are derived in
  tests/test_trends.py. The latest changes: entered MQL 2 in 2024-04 against 0 in 2024-03 (+2);
  MQL->SQL 100% (2024-02) against 50% (2024-01); SQL->Won and MQL->Won 100% (2024-02, 61 days
  old >= 50) against 0% (2024-01). Sparklines: each series scaled from its min to its max over
  8 blocks (trends.sparkline), a gap where a value isn't usable.
- report.txt, report.html: tests/fixtures/purgatory.csv with tests/golden/report.yml (its
  definitions plus two targets), monthly, as of 2024-06-30:
    headline, entries in June: MQL 9 (L1-L4 and L8-L11 by date, L16 implied on 06-28), SAL 5
      (L8-L11, L16), SQL 0, Won 0; in May: MQL 3 (L5-L7), SAL 1 (L7), SQL 0, Won 1 (L14);
    cohorts by MQL month: April {L12, L13, L14}: SAL 3, SQL 3, Won 1; May {L5, L6, L7}: SAL 1;
      June (9 leads): SAL 5. Maturity along the path: MQL->SAL 3 days, SAL->SQL 3+10 = 13,
      SQL->Won and MQL->Won 3+10+20 = 33. Days since the cohort's end: April 61, May 30,
      June 0. Latest mature: MQL->SAL May 1/3 = 33.3% vs April 3/3 (-66.7 pp); SAL->SQL May
      0/1 vs April 3/3 (-100 pp); SQL->Won and MQL->Won April 1/3 = 33.3%, nothing before (the
      numerators and denominators are the Leads and Of columns, the previous cohort's Of 3 and 3);
    stage-by-stage and purgatory as in test_purgatory.py, days between own dates: MQL->SAL
      median 7.5 (see test_mail.py), SAL->SQL 8, SQL->Won 21; top owners as `by_group`;
    targets: MQL stuck 3/15 = 20% > 10%; MQL->SQL in the May cohort 0/3 < 10%: both missed.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from tests.conftest import ROOT, run

GOLDEN = Path(__file__).resolve().parent / "golden"
CASES = {
    "conversion-small.txt": ["conversion", "tests/fixtures/small.csv", "-d", "tests/fixtures/small.yml", "-f", "text"],
    "purgatory-by-owner.md": ["purgatory", "tests/fixtures/purgatory.csv", "-d", "tests/fixtures/purgatory.yml",
                              "--by", "owner", "-f", "markdown"],
    "trends.html": ["trends", "tests/fixtures/trends.csv", "-d", "tests/fixtures/trends.yml", "-f", "html"],
    "report.txt": ["report", "tests/fixtures/purgatory.csv", "-d", "tests/golden/report.yml", "--period", "month", "-f", "text"],
    "report.html": ["report", "tests/fixtures/purgatory.csv", "-d", "tests/golden/report.yml", "--period", "month", "-f", "html"],
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden(name, monkeypatch):
    monkeypatch.chdir(ROOT)  # the reports print the paths as given: keep them relative
    result = run(*CASES[name], "-q")
    assert result.exit_code == 0, result.stderr
    path = GOLDEN / name
    if os.environ.get("FUNNELCLI_REGENERATE_GOLDEN"):
        path.write_text(result.stdout, encoding="utf-8")
    assert result.stdout == path.read_text(encoding="utf-8")
