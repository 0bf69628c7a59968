"""Counting a JSON list's items before decoding it: exact up to the limit, stops just past it."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from meshcore.tracer.counting import more_items_than

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=10,
)


@given(st.lists(JSON_VALUES, max_size=12), st.integers(min_value=0, max_value=12), st.booleans())
def test_the_count_agrees_with_a_full_decode(items, limit, spaced):
    body = json.dumps(items, indent=1 if spaced else None).encode()
    assert more_items_than(body, limit) is (len(items) > limit)


def test_millions_of_empty_objects_are_counted_only_past_the_limit():
    body = b"[" + b"{}," * 1_700_000 + b"{}]"
    assert more_items_than(body, 10_000) is True


def test_what_is_not_a_well_formed_list_is_left_to_the_decoder():
    for body in (b"{}", b"[1,2", b"[1 2]", b"\xff[]", b"", b"[1,]"):
        assert more_items_than(body, 10) is None, body
