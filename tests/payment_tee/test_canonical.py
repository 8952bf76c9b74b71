"""Our stdlib JCS encoder agrees with the `rfc8785` package on everything receipts hold."""

import pytest
import rfc8785
from hypothesis import given
from hypothesis import strategies as st

from services.payment_tee.core.canonical import canonical_json

SAFE = 2**53 - 1
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-SAFE, max_value=SAFE) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)


@given(json_values)
def test_matches_rfc8785(value):
    assert canonical_json(value) == rfc8785.dumps(value)


def test_keys_sort_by_utf16_code_units_not_code_points():
    value = {"\ue000": 1, "\U0001f600": 2, "a": 3}
    assert canonical_json(value) == rfc8785.dumps(value)
    assert canonical_json(value).startswith(b'{"a":3,"\xf0\x9f\x98\x80"')


@pytest.mark.parametrize("bad", [1.5, {"a": 0.1}, 2**53, -(2**53), [2**60]])
def test_refuses_floats_and_unsafe_integers(bad):
    with pytest.raises((TypeError, ValueError)):
        canonical_json(bad)
