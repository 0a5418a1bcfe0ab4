"""The fast canonical JSON encoder renders exactly what the reference encoder does."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quantrun.canonical import _reference_file_bytes, canonical_bytes, canonical_file_bytes

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=6)
        | st.dictionaries(st.text(max_size=8), inner, max_size=6)
        # Same-keyed records take the column-at-a-time path.
        | st.lists(st.fixed_dictionaries({"a": inner, "b": scalars, "é": scalars}), max_size=5)
    ),
    max_leaves=40,
)


@settings(max_examples=400, deadline=None, derandomize=True, database=None)
@given(values)
def test_fast_encoder_equals_the_reference(value: Any) -> None:
    assert canonical_file_bytes(value) == _reference_file_bytes(value)


@pytest.mark.parametrize("bad", [math.nan, [1.0, math.inf], {"x": [-math.inf]}])
def test_non_finite_floats_are_refused_by_both(bad: Any) -> None:
    for encode in (canonical_file_bytes, canonical_bytes):
        with pytest.raises(ValueError, match="non-finite"):
            encode(bad)


def test_examples() -> None:
    assert canonical_bytes({"b": 1.0, "a": [1, 2]}) == b'{"a":[1,2],"b":1.0}'
    assert canonical_file_bytes({"k": [0.1, 2]}) == b'{\n  "k": [\n    0.1,\n    2\n  ]\n}\n'
