"""Property: a funnel that takes the lead table over (take_over, what `run` does: the frame and
matrices cut to the selected leads, the rest let go) is the funnel made beside the lead table, at
any as-of date and selection.

The generated exports of tests/test_properties.py are loaded through the real code twice, and
the funnel at a generated as-of date (before the export's latest, so that stages and exits are
replayed) is compared matrix by matrix, with its accounting and conversion table.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import tempfile

import numpy as np
import pandas as pd
import pyarrow as pa
from hypothesis import given
from hypothesis import strategies as st
from tests.test_properties import SETTINGS, scenarios

from funnelcli import api, definitions
from funnelcli.engine import funnel
from funnelcli.errors import FunnelError


def funnels(scn, day: dt.date):
    with tempfile.TemporaryDirectory() as folder:
        data_path, defs_path = scn.write(folder)
        defs = definitions.load([defs_path])
        made = []
        for take_over in (False, True):
            try:
                loaded = api.read_export(data_path, defs)
                made.append(funnel.at_as_of(loaded, defs, as_of=day, since=scn.since, until=scn.until,
                                            markets=scn.market_filter, take_over=take_over))
            except FunnelError as exc:
                made.append(str(exc))
    return made


@SETTINGS
@given(scenarios(), st.dates(dt.date(2024, 1, 1), dt.date(2025, 2, 28)))
def test_a_funnel_made_in_place_is_the_funnel_made_beside(scn, day):
    beside, in_place = funnels(dataclasses.replace(scn, as_of=day), day)
    if isinstance(beside, str):
        assert beside == in_place
        return
    # the lead table taken over is cut to the selected leads: its rows are 0..n-1 of their own
    assert in_place.selected_only and not beside.selected_only
    assert np.array_equal(in_place.rows, np.arange(beside.n))
    pd.testing.assert_frame_equal(in_place.frame, beside.frame.take(beside.rows).reset_index(drop=True))
    for key in in_place.frame.columns:
        pd.testing.assert_series_equal(in_place.column(key), beside.column(key))
    for name in ("reached", "date", "implied", "exit_codes", "exited", "dated"):
        want, got = getattr(beside, name), getattr(in_place, name)
        assert got.shape == want.shape, name
        if name == "date":  # int32 days, no date the same number on both sides
            got, want = got.days, want.days
        assert np.array_equal(got, want), name
    assert in_place.accounting == beside.accounting
    assert (in_place.unplaced, in_place.after_as_of) == (beside.unplaced, beside.after_as_of)
    assert funnel.conversion(in_place) == funnel.conversion(beside)


@given(st.lists(st.integers(0, 5), min_size=1, max_size=6), st.data())
def test_selected_rows_of_ids_read_in_parts(sizes, data):
    # the ids come in the parts they were read in (some empty): each part's rows are taken from it
    ids = pa.chunked_array([pa.array([f"L{sum(sizes[:i]) + j}" for j in range(n)], pa.large_string())
                            for i, n in enumerate(sizes)], pa.large_string())
    frame = pd.DataFrame({"id": ids.to_pandas(), "_row": np.arange(len(ids), dtype=np.int32) + 2}, copy=False)
    want = frame.copy()
    idx = np.array(sorted(data.draw(st.sets(st.integers(0, max(len(ids) - 1, 0)), max_size=len(ids)))), dtype=np.int64)
    got = funnel._selected(frame, idx)
    assert list(frame.columns) == []  # taken over: the lead table's columns are let go
    pd.testing.assert_frame_equal(got, want.take(idx).reset_index(drop=True))


@given(st.lists(st.booleans(), max_size=40), st.integers(1, 9))
def test_positions_found_a_few_rows_at_a_time(keep, step):
    keep = np.array(keep, dtype=bool)
    got = funnel._positions(keep, step)
    assert got.dtype == np.int32
    assert got.tolist() == np.flatnonzero(keep).tolist()


@given(st.lists(st.integers(-50, 50), min_size=1, max_size=30), st.data(), st.integers(1, 7))
def test_gather_a_few_positions_at_a_time(values, data, step):
    values = np.array(values, dtype=np.int64)
    idx = np.array(data.draw(st.lists(st.integers(0, len(values) - 1), max_size=40)), dtype=np.int32)
    assert funnel._gather(values, idx, step=step).tolist() == values[idx].tolist()
