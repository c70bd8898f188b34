"""Property: `cells.repeats` marks exactly the rows whose key an earlier chosen row holds.

It decides which rows are duplicate ids, so it is checked against the plain definition (walk the
rows in order, remember the keys seen among the chosen rows) on generated keys and masks: all rows
chosen (the common case, where the keys are not copied), some, none.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from funnelcli.sources.cells import _held, repeats


def seen_before(keys: list[int], among: list[bool]) -> list[bool]:
    seen, out = set(), []
    for key, chosen in zip(keys, among):
        out.append(chosen and key in seen)
        if chosen:
            seen.add(key)
    return out


@given(st.lists(st.tuples(st.integers(-3, 6), st.booleans() | st.just(True)), max_size=60))
def test_repeats_marks_the_later_rows_of_a_key(pairs):
    keys = [k for k, _ in pairs]
    among = [a for _, a in pairs]
    got = repeats(np.array(keys, dtype=np.int64), np.array(among, dtype=bool))
    assert got.dtype == bool
    assert got.tolist() == seen_before(keys, among)


def test_every_row_chosen_and_none_chosen():
    keys = np.array([5, 3, 5, 5, -1, 3], dtype=np.int64)
    assert repeats(keys, np.ones(6, dtype=bool)).tolist() == [False, False, True, True, False, True]
    assert not repeats(keys, np.zeros(6, dtype=bool)).any()


@given(st.lists(st.tuples(st.sampled_from([0, 7, 2**31 - 1, 2**31, -2**31, -2**31 - 1, 2**40]), st.booleans()),
                max_size=40))
def test_keys_beyond_int32_stay_distinct(pairs):
    # 2**31 and -2**31 - 1 don't fit int32: narrowed they would wrap onto other keys
    keys = [k for k, _ in pairs]
    among = [a for _, a in pairs]
    got = repeats(np.array(keys, dtype=np.int64), np.array(among, dtype=bool))
    assert got.tolist() == seen_before(keys, among)


@given(st.lists(st.integers(-5, 5), max_size=30), st.lists(st.integers(-5, 5), max_size=8), st.integers(1, 7))
def test_held_in_chunks_is_membership(values, keys, step):
    values, keys = np.array(values, dtype=np.int64), np.unique(np.array(keys, dtype=np.int64))
    assert _held(values, keys, step).tolist() == np.isin(values, keys).tolist()
