"""Row keys: built and read in one place, their text the CSV and JSON column names users see."""

from __future__ import annotations

import pytest

from funnelcli.measures import keys


def test_keys_keep_their_text():
    assert keys.step("MQL", "SQL") == "MQL->SQL"
    assert keys.rate_key("MQL", "SQL") == "rate:MQL->SQL"
    assert keys.reached_key("SQL") == "reached:SQL"
    assert keys.entered_key("SQL") == "entered:SQL"
    assert keys.exited_key("Lost") == "exited:Lost"
    assert keys.share_key("Lost") == "share:Lost"
    assert keys.stuck_key("SAL") == "stuck:SAL"
    assert keys.median_days_key("MQL", "SQL") == "median_days:MQL->SQL"
    assert keys.change_key(keys.rate_key("MQL", "SQL")) == "change:rate:MQL->SQL"
    assert keys.change_key("MQL") == "change:MQL"  # a flow table's change of the stage's entries
    assert (keys.COHORT, keys.CUMULATIVE_RATE, keys.IMMATURE_CUMULATIVE) == ("cohort", "cumulative_rate", "immature:cumulative")


def test_a_rate_key_parses_back():
    assert keys.parse_rate_key(keys.rate_key("Sales Qualified", "Closed Won")) == ("Sales Qualified", "Closed Won")


@pytest.mark.parametrize("key", ["cohort", "reached:SQL", "rate:MQL", "cumulative_rate", "immature:MQL->SQL"])
def test_other_keys_are_not_rate_keys(key):
    with pytest.raises(ValueError, match="not a rate key"):
        keys.parse_rate_key(key)


def test_immature_keys():
    assert keys.immature_key(keys.rate_key("MQL", "SQL")) == "immature:MQL->SQL"
    assert keys.immature_key(keys.CUMULATIVE_RATE) == keys.IMMATURE_CUMULATIVE
    with pytest.raises(ValueError):
        keys.immature_key("reached:SQL")
