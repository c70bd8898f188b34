"""funnelcli init on a column of Unix times: the date formats `epoch` and `epoch_ms` (seconds and
milliseconds since 1970-01-01 UTC), as HubSpot's API-based exports write them.

Days worked out by hand: 2024-06-01 is 19,875 days after 1970-01-01, 1,717,200,000 seconds.
"""

from __future__ import annotations

from tests.conftest import run

from funnelcli.init.dates import guess_dates

T0 = 1_717_200_000_000  # 2024-06-01 00:00 UTC in milliseconds
DAY = 86_400_000


def test_init_reads_unix_times_in_a_date_column_and_not_in_others():
    seconds = [str(1_717_200_000 + i * 86_400) for i in range(3)] + ["", "0"]
    found = guess_dates("Created at", seconds)
    assert found.formats == ("epoch",) and [str(d) for d in found.days] == ["2024-06-01", "2024-06-02", "2024-06-03",
                                                                            "None", "None"]
    assert guess_dates("Timestamp", [str(T0), str(T0 + DAY)]).formats == ("epoch_ms",)
    assert guess_dates("Phone", ["4155550123", "4155550199"]) is None  # ten digits, but no date by name
    assert guess_dates("Timestamp", [str(T0), "1717200000"]) is None  # milliseconds and seconds: no one unit
    assert guess_dates("Timestamp", ["9999999999999"]) is None  # 2286 in milliseconds, 318,857 in seconds: neither
    # a value that is no number, past the first 50 looked at: counted as failed, not an internal error
    later = guess_dates("Created at", [str(1_717_200_000 + i * 86_400) for i in range(60)] + ["soon"])
    assert later.formats == ("epoch",) and (later.failed, later.example_failed, later.read) == (1, "soon", 60)
    # numbers a guess should not take for moments: compact yyyyMMddHHmm (202403011200 read as
    # milliseconds is 1976, before 2000), and lengths of time however they are named
    assert guess_dates("Created Date", ["202403011200", "202403021330"]) is None
    assert guess_dates("Time in Lead Stage (ms)", ["1500000000", "1600000000"]) is None  # 17 and 18 days, not 2017
    assert guess_dates("Days to close time", ["1500000000"]) is None


def test_init_writes_the_format_of_a_column_of_epoch_milliseconds(write, tmp_path):
    # Four leads, each created on a day of June 2024 (in milliseconds); two won (their Won Date)
    rows = [(1, T0, T0 + 3 * DAY), (2, T0 + DAY, ""), (3, T0 + 2 * DAY, T0 + 9 * DAY), (4, T0 + 2 * DAY, "")]
    export = write("leads.csv", "id,Created Date,Won Date\n" + "".join(f"{i},{c},{w}\n" for i, c, w in rows))
    result = run("init", str(export), "-o", "-")
    assert result.exit_code == 0, result.stderr
    assert "date_formats: {Created Date: [epoch_ms], Won Date: [epoch_ms]}" in result.stdout
    assert "epoch_ms: Unix time in milliseconds" in result.stdout
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "funnel.yml").write_text(result.stdout, encoding="utf-8")
    assert run("validate", str(tmp_path / "d"), "--data", str(export)).exit_code == 0
    report = run("conversion", str(export), "-d", str(tmp_path / "d"), "-q")
    assert report.exit_code == 0, report.stderr
    assert "As of        2024-06-10" in report.stdout  # the latest date: lead 3 won on 06-01 + 9 days
