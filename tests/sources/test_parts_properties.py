"""Property: an export read in parts loads the same lead table as read whole.

The generated exports of tests/test_properties.py (stages, exits, markets, bad and placeholder
dates, blank and duplicate ids, rows blank in every column, notes with quotes and line breaks,
CRLF or LF, a BOM) are loaded twice through the real code, whole and in parts of a generated size
(a few bytes to a few KB, so that parts fall anywhere, inside quoted notes too), and every part of
the lead table and its accounting is compared: the frame, the stage matrices, the exits, the
rows excluded and noticed with their reasons, counts, row numbers and examples, the as-of date.
"""

from __future__ import annotations

import tempfile

import numpy as np
import pandas as pd
from hypothesis import given
from hypothesis import strategies as st
from tests.test_properties import SETTINGS, scenarios

from funnelcli import api, definitions
from funnelcli.errors import FunnelError
from funnelcli.sources import csvfile


def load(scn, parts_above: int, part_bytes: int):
    old = csvfile.PARTS_ABOVE, csvfile.PART_BYTES
    csvfile.PARTS_ABOVE, csvfile.PART_BYTES = parts_above, part_bytes
    try:
        with tempfile.TemporaryDirectory() as folder:
            data_path, defs_path = scn.write(folder)
            defs = definitions.load([defs_path])
            try:
                return api.read_export(data_path, defs)
            except FunnelError as exc:
                return str(exc)
    finally:
        csvfile.PARTS_ABOVE, csvfile.PART_BYTES = old


def issues(found) -> list:
    return [(i.reason, i.count, i.rows, i.examples, i.detail) for i in found]


@SETTINGS
@given(scenarios(), st.integers(1, 3000))
def test_an_export_read_in_parts_loads_as_read_whole(scn, part_bytes):
    whole = load(scn, 1 << 40, part_bytes)
    parts = load(scn, 0, part_bytes)
    if isinstance(whole, str):  # an error names the same problem either way
        assert parts == whole
        return
    pd.testing.assert_frame_equal(parts.leads, whole.leads)
    for name in ("usable", "reached", "date", "implied", "dated"):
        assert np.array_equal(getattr(parts, name), getattr(whole, name), equal_nan=name == "date"), name
    assert all(np.array_equal(a, b) for a, b in zip(parts.exit_met, whole.exit_met, strict=True))
    assert parts.exit_dates.keys() == whole.exit_dates.keys()
    assert all(np.array_equal(parts.exit_dates[j], whole.exit_dates[j], equal_nan=True) for j in whole.exit_dates)
    assert issues(parts.excluded) == issues(whole.excluded)
    assert issues(parts.notices) == issues(whole.notices)
    assert (parts.rows_read, parts.latest_date) == (whole.rows_read, whole.latest_date)
