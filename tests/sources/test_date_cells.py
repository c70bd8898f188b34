"""A date cell reads the same whatever else is in its column: the parser reads a whole column in
one pass when it can, a block at a time when its common-shaped values hold more than a few
non-dates, and the rare forms one by one. Each generated column is read whole, cut into blocks,
and cell by cell; the three must agree (hypothesis)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from funnelcli.sources import cells

# Values as exports write them, well-formed or not: ISO dates and datetimes (T or space, Z, an
# offset, fractions), shapes that are not dates (2026-02-30, 2026-13-01, hour 24), words, blanks.
VALUES = st.one_of(
    st.builds("{:04d}-{:02d}-{:02d}".format, st.integers(1990, 2030), st.integers(0, 13), st.integers(0, 32)),
    st.builds("{:04d}-{:02d}-{:02d} {:02d}:{:02d}".format, st.integers(1990, 2030), st.integers(1, 12),
              st.integers(1, 31), st.integers(0, 25), st.integers(0, 60)),
    st.builds("{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}{}".format, st.integers(1990, 2030), st.integers(1, 12),
              st.integers(1, 31), st.integers(0, 23), st.integers(0, 59), st.integers(0, 59),
              st.sampled_from(["", "Z", "+02:00", ".5", " "])),
    st.sampled_from(["TBD", "n/a", "  ", "2024-1-5", "2024/03/05", " 2024-03-05", "0", "-"]),
    st.none(),
)


def _read(values: list, blocks: list[int]) -> tuple[np.ndarray, np.ndarray]:
    parts, at = [], 0
    for size in blocks:
        parts.append(pa.array(values[at:at + size], type=pa.string()))
        at += size
    times, bad, _ = cells.parse_times(pa.chunked_array(parts, type=pa.string()), None, "Europe/Berlin")
    return times, bad


@settings(max_examples=150, deadline=None)
@given(st.lists(VALUES, min_size=1, max_size=60), st.data())
def test_a_cell_reads_the_same_whatever_its_column_holds(values, data):
    cuts = sorted(data.draw(st.sets(st.integers(1, len(values) - 1), max_size=5))) if len(values) > 1 else []
    blocks = [b - a for a, b in zip([0, *cuts], [*cuts, len(values)])]
    whole = _read(values, [len(values)])
    cut = _read(values, blocks)
    one_by_one = [_read([v], [1]) for v in values]
    alone = (np.array([t[0][0] for t in one_by_one]), np.array([b[1][0] for b in one_by_one]))
    for times, bad in (cut, alone):
        assert np.array_equal(times, whole[0], equal_nan=True)
        assert np.array_equal(bad, whole[1])


def test_a_column_of_many_well_shaped_non_dates_reads_each_date():
    # more than the few the whole-column pass sets aside: the column is read a block at a time
    bad = [f"2024-02-{d}" for d in (30, 31)] + [f"2024-13-{d:02d}" for d in range(1, 9)]
    values = bad + ["2024-02-29", "2023-12-31 23:59", None, "TBD"]
    times, unread = _read(values, [len(values)])
    assert list(unread) == [True] * len(bad) + [False, False, False, True]
    assert times[len(bad)] == np.datetime64("2024-02-29T00:00:00")
    assert times[len(bad) + 1] == np.datetime64("2023-12-31T23:59:00")
