"""Canonical JSON: the one byte form for hashed identities and artifacts.

Sorted keys, no insignificant whitespace in hashed form, floats in shortest round-trip
``repr`` form (never NaN or inf), UTF-8, a final newline for files. Same value, same bytes,
on every machine::

    canonical_bytes({"b": 1.0, "a": [1, 2]}) == b'{"a":[1,2],"b":1.0}'
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any


def _check_finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"non-finite float {value!r} cannot be written canonically")
    if isinstance(value, dict):
        for v in value.values():
            _check_finite(v)
    elif isinstance(value, list | tuple):
        for v in value:
            _check_finite(v)
    return value


def canonical_bytes(value: Any) -> bytes:
    """Compact canonical JSON, used for hashing."""
    _check_finite(value)
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def canonical_file_bytes(value: Any) -> bytes:
    """Indented canonical JSON with a final newline, used for artifacts people read."""
    _check_finite(value)
    text = json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False)
    return (text + "\n").encode("utf-8")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def canonical_hash(value: Any) -> str:
    """sha256 of the compact canonical JSON of ``value``."""
    return sha256_hex(canonical_bytes(value))
