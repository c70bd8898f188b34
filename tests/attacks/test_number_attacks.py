"""Numbers (issue 11, item 6): what is unambiguous is read, the rest is reported per row and read
as blank, and no number, however large, breaks an output format.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from tests.conftest import run

from funnelcli import api, definitions
from funnelcli.definitions.model import read_number
from funnelcli.measures.model import cell

DEFS = """\
version: 1
columns: {id: Id, touches: Touches, amount: Amount, owner: Owner}
stages:
  - {name: MQL, date: MQL, sla_days: 3}
  - {name: SAL, date: SAL}
"""


def load(write, values: list[str]):
    rows = "".join(f'{i},Ann,2024-01-02,,"{v}","{v}"\n' for i, v in enumerate(values, 1))
    defs = definitions.load([str(write("defs.yml", DEFS))])
    return api.read_export(str(write("export.csv", "Id,Owner,MQL,SAL,Touches,Amount\n" + rows)), defs)


# value -> what it reads as (None: not read), worked out by the rules in docs/metrics.md
CASES = [
    ("1,200", 1200.0), ("1,234,567.5", 1234567.5), ("1.200,50", 1200.5), ("12,5", 12.5),
    ("1.234.567", 1234567.0), ("0.125", 0.125), ("$ 35", 35.0), ("€ 1.234,00", 1234.0), ("2e3", 2000.0),
    ("1,2,3", None), ("1,23,456", None), ("€1.200", None), ("1.200", None), ("12.34.56", None),
    ("1e28", None), ("999999999999999", 999999999999999.0), ("1000000000000000", None), ("inf", None), ("nan", None),
    # a currency code (Salesforce multi-currency), a no-break or thin space between thousands (French Excel)
    ("USD 1,200.00", 1200.0), ("1,200.00 USD", 1200.0), ("EUR 1.200,50", 1200.5), ("1\u00a0200,50 €", 1200.5),
    ("1\u202f200,50", 1200.5), ("¥ 1,200", 1200.0), ("ABC123", None), ("USD", None), ("USDT 5", None),
]


@pytest.mark.parametrize("text, expected", CASES)
def test_condition_operands_and_cells_read_numbers_alike(write, text, expected):
    assert read_number(text) == expected
    got = load(write, [text]).leads["amount"].iloc[0]
    assert (math.isnan(got) and expected is None) or got == expected


def test_each_number_not_read_is_reported_with_its_reason_and_row(write):
    # rows 2-8: 'lots', '1,2,3', '€1.200', '1e28', '-5', '7', blank
    loaded = load(write, ["lots", "1,2,3", "€1.200", "1e28", "-5", "7", ""])
    found = {n.reason: (n.count, n.rows, n.examples) for n in loaded.notices if n.reason.startswith("whose amount")}
    assert found == {
        "whose amount is not a number": (2, [2, 3], ["'lots'", "'1,2,3'"]),
        "whose amount is ambiguous ('1.200' is 1.2 or 1200: write 1200, 1,200 or 1.2)": (1, [4], ["'€1.200'"]),
        "whose amount is 10^15 or more": (1, [5], ["'1e28'"]),
        "whose amount is negative": (1, [6], ["'-5'"]),
    }
    np.testing.assert_array_equal(loaded.leads["amount"].to_numpy(), [np.nan] * 5 + [7.0, np.nan])
    assert loaded.usable.all()  # notices, not exclusions


@pytest.mark.parametrize("fmt", ["text", "table", "markdown", "csv", "json", "html"])
def test_no_amount_breaks_a_format(write, fmt):
    # the largest amount that is read, on every stuck lead, summed in 'value at risk'
    export = write("export.csv", "Id,Owner,MQL,SAL,Touches,Amount\n"
                   + "".join(f"{i},Ann,2024-01-02,,1,999999999999999\n" for i in range(1, 6)))
    result = run("purgatory", export, "-d", write("defs.yml", DEFS), "-f", fmt, "-q", "--as-of", "2024-02-01")
    assert result.exit_code == 0, result.output
    assert "internal error" not in result.output and "inf" not in result.stdout.lower().replace("info", "")
    if fmt == "json":
        stages = json.loads(result.stdout)["tables"]["stages"]
        assert stages[0]["value_at_risk"] == 5 * 999999999999999


@pytest.mark.parametrize("value, kind, shown", [
    (1e28, "money", "10,000,000,000,000,000,000,000,000,000"),
    (1.5e300, "money", "1" + "5" + "0" * 299),
    (1e20, "days", "100,000,000,000,000,000,000"),
    (0.123456, "rate", "12.3%"),
    (1e300, "number", "1" + "0" * 300),
])
def test_cells_format_any_float(value, kind, shown):
    # rounding half up once needed more digits than Decimal's default 28 (1e28 crashed every format)
    assert cell(value, kind).replace(",", "") == shown.replace(",", "")


@pytest.mark.parametrize("value, shown", [
    (1234567.0, "1,234,567"), (12345.67, "12,345.67"), (1e8, "100,000,000"), (999999.5, "999,999.5"),
    (3, "3"), (0.125, "0.13"), (-4.0, "-4"),
])
def test_an_amount_in_a_list_is_shown_whole(value, shown):
    # a stuck list's amount (kind number) read '1.23457e+06' and '1e+06' for 999,999.5: a deal
    # of a million shown as ten, or rounded away
    assert cell(value, "number") == shown


def test_a_chunk_with_no_text_at_all():
    # a column read in chunks where one chunk holds only blanks has a data buffer of no bytes:
    # the check for '1.200' found it at 5,000,000 rows (an internal error then)
    import pyarrow as pa

    from funnelcli.sources.cells import numbers, quantities

    column = pa.chunked_array([pa.array(["1", "2.5"]), pa.array([None, None], pa.string())])
    values, bad = numbers(column)
    assert list(values[:2]) == [1.0, 2.5] and not bad.any()
    assert not any(mask.any() for mask in quantities(column)[1].values())


def test_ne_holds_for_a_value_that_is_no_number_or_date_as_not_in_does(write):
    # 'abc', the ambiguous '1.200' and a blank are missing numbers: they equal nothing, so ne 1200
    # holds for them (docs/metrics.md), as not_in [1200] and not: {eq: 1200} do; ne put only the 50
    # in the market. The same for a date that doesn't parse, and a blank one.
    export = write("e.csv", "Id,Employees,Signed\n1,1200,2024-01-02\n2,abc,soon\n3,1.200,\n4,50,2024-01-03\n5,,2024-01-02\n")
    markets = {}
    for rule in ("{employees: {ne: 1200}}", "{employees: {not_in: [1200]}}", "{not: {employees: {eq: 1200}}}",
                 "{signed: {ne: 2024-01-02}}", "{not: {signed: {eq: 2024-01-02}}}"):
        defs = write("d.yml", "version: 1\ncolumns: {id: Id, employees: Employees, signed: Signed}\nstages:\n  - name: Lead\n"
                              f"markets:\n  - name: M\n    when: {rule}\n")
        data = json.loads(run("markets", export, "-d", defs, "-f", "json", "-q").stdout)
        markets[rule] = next(r["reached:Lead"] for r in data["tables"]["markets"] if r["market"] == "M")
    assert list(markets.values()) == [4, 4, 4, 3, 3]  # leads 2, 3, 4, 5; then 2, 3, 4
