"""funnelcli init on stage-history logs: the draft's `history:` block, and what it leaves unused.

Each test reads a log laid out as its CRM writes it; the expected notes are worked out by hand.
"""

from __future__ import annotations

from tests.conftest import FIXTURES, run


def said(text: str) -> str:
    """Return the draft's comment lines (those starting with #) as one line."""
    return " ".join(line.lstrip("# ") for line in text.splitlines() if line.startswith("#"))


def unused(text: str) -> str:
    """Return the draft's 'Columns not used yet' note, its lines joined."""
    return said(text)[said(text).index("Columns not used yet"):]


def test_the_pipedrive_log_names_only_the_columns_history_does_not_read(tmp_path):
    result = run("init", str(FIXTURES / "init" / "pipedrive-deal-changes.csv"), "-o", "-")
    assert result.exit_code == 0, result.stderr
    assert unused(result.stdout).endswith("'old_value', 'user_id'")  # not new_value or changed_field_key
