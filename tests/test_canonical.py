"""The fast canonical JSON encoder renders exactly what the reference encoder does."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quantrun.canonical import (
    Records,
    _reference_file_bytes,
    canonical_bytes,
    canonical_file_bytes,
)

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


#: Columns of one length for Records: each key's values drawn from the scalars or from values.
record_columns = st.integers(min_value=0, max_value=6).flatmap(
    lambda n: st.dictionaries(
        st.text(max_size=8),
        st.lists(scalars | values, min_size=n, max_size=n),
        min_size=1,
        max_size=5,
    )
)


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(record_columns, st.sampled_from(["top", "nested"]))
def test_records_are_written_as_the_rows_they_stand_for(
    columns: dict[str, list[Any]], where: str
) -> None:
    records = Records(columns)
    rows = records.rows()
    wrap = (lambda v: v) if where == "top" else (lambda v: {"events": v, "n": 1})
    assert canonical_file_bytes(wrap(records)) == _reference_file_bytes(wrap(rows))
    assert len(records) == len(rows)


def test_records_with_an_unusual_value_take_the_reference_path() -> None:
    with pytest.raises(ValueError, match="non-finite"):
        canonical_file_bytes({"events": Records({"x": [1.0, math.nan]})})
    assert canonical_file_bytes(Records({"x": [1, 2], "y": [{1: 2}, None]})) == (
        _reference_file_bytes([{"x": 1, "y": {"1": 2}}, {"x": 2, "y": None}])
    )
    with pytest.raises(ValueError, match="one length"):
        Records({"x": [1], "y": []})
