"""Row keys: the names of the values in a row that one module writes and another reads.

The keys are the column names of the CSV and JSON output, so their text never changes: a rate
is `rate:MQL->SQL`, the leads reaching a stage `reached:SQL`, and so on. Build them here and
read them back here; nothing else spells them out. (The engine's conversion table writes
`exited:{exit}` itself, as the engine comes before the measures; tests check it matches.)
Stage names never contain "->" (the definitions refuse them), so a rate key parses back.
"""

from __future__ import annotations

COHORT = "cohort"  # a cohort row's size: the leads entering its first stage in the period
CUMULATIVE_RATE = "cumulative_rate"
IMMATURE_CUMULATIVE = "immature:cumulative"

_ARROW = "->"
_RATE = "rate:"
_IMMATURE = "immature:"


def step(a: str, b: str) -> str:
    """Return the label of the step from stage a to stage b: 'A->B'."""
    return f"{a}{_ARROW}{b}"


def rate_key(a: str, b: str) -> str:
    """Return the key of the rate from stage a to stage b: 'rate:A->B'."""
    return _RATE + step(a, b)


def parse_rate_key(key: str) -> tuple[str, str]:
    """Return the stages (a, b) of a rate_key; raise ValueError for any other key."""
    a, arrow, b = key.removeprefix(_RATE).partition(_ARROW)
    if not key.startswith(_RATE) or not arrow:
        raise ValueError(f"not a rate key: {key!r}")
    return a, b


def immature_key(rate: str) -> str:
    """Return the key of the flag that marks a rate immature, for a rate_key or CUMULATIVE_RATE."""
    if rate == CUMULATIVE_RATE:
        return IMMATURE_CUMULATIVE
    return _IMMATURE + step(*parse_rate_key(rate))


def reached_key(stage: str) -> str:
    """Return the key of the leads that reached a stage: 'reached:STAGE'."""
    return f"reached:{stage}"


def entered_key(stage: str) -> str:
    """Return the key of the leads entering a stage in a period (flow): 'entered:STAGE'."""
    return f"entered:{stage}"


def exited_key(exit_name: str) -> str:
    """Return the key of the leads that left through an exit: 'exited:EXIT'."""
    return f"exited:{exit_name}"


def share_key(exit_name: str) -> str:
    """Return the key of an exit's share of a stage's leads: 'share:EXIT'."""
    return f"share:{exit_name}"


def risk_key(currency: str) -> str:
    """Return the key of the value at risk in one currency: 'value_at_risk:USD'."""
    return f"value_at_risk:{currency}"


def stuck_key(stage: str) -> str:
    """Return the key of the leads stuck at a stage: 'stuck:STAGE'."""
    return f"stuck:{stage}"


def median_days_key(a: str, b: str) -> str:
    """Return the key of the median days from stage a to stage b: 'median_days:A->B'."""
    return f"median_days:{step(a, b)}"


def change_key(key: str) -> str:
    """Return the key of a value's change from the previous period: 'change:KEY'.

    A flow table's change of a stage's entries is change_key(stage), not change_key(entered_key(stage)).
    """
    return f"change:{key}"
