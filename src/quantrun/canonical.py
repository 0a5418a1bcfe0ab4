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
from dataclasses import dataclass
from itertools import starmap
from operator import itemgetter
from pathlib import Path
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


def _reference_file_bytes(value: Any) -> bytes:
    """The standard library's rendering that :func:`canonical_file_bytes` reproduces."""
    _check_finite(value)
    text = json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False)
    return (text + "\n").encode("utf-8")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def canonical_hash(value: Any) -> str:
    """sha256 of the compact canonical JSON of ``value``."""
    return sha256_hex(canonical_bytes(value))


# -- canonical JSON files, fast ----------------------------------------------------------
# The reference rendering goes through the standard library's pure-Python encoder (the C one
# does no indentation), about 1 µs per value: seconds for a 1m run's timeline or a registry of
# 10,000 runs. :func:`canonical_file_bytes` builds the very same text column by column.

_encode_str = json.encoder.encode_basestring  # ensure_ascii=False, as canonical_file_bytes
_float_text = float.__repr__
_int_text = int.__repr__
_INDENT = "  "


class _Unusual(Exception):
    """A value the fast path does not handle exactly like the standard encoder."""


@dataclass(frozen=True)
class Records:
    """A list of JSON objects that share their keys, held as one list per key (all of one
    length, at least one key). :func:`canonical_file_bytes` writes it exactly as it writes
    :meth:`rows`, the list of dicts, without building them: e.g. a 5M-bar run's 300,000
    timeline events."""

    columns: dict[str, list[Any]]

    def __post_init__(self) -> None:
        if not self.columns or len({len(c) for c in self.columns.values()}) != 1:
            raise ValueError("Records needs at least one column, all of one length")

    def __len__(self) -> int:
        return len(next(iter(self.columns.values())))

    def rows(self) -> list[dict[str, Any]]:
        names = list(self.columns)
        rows = zip(*self.columns.values(), strict=True)
        return [dict(zip(names, row, strict=True)) for row in rows]


def _plain(value: Any) -> Any:
    """``value`` with every :class:`Records` as its list of dicts (for the reference path)."""
    if isinstance(value, Records):
        return value.rows()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def canonical_file_bytes(value: Any) -> bytes:
    """Byte for byte what :func:`_reference_file_bytes` returns (sorted
    keys, two-space indent, shortest-repr floats, UTF-8, final newline), built faster: lists of
    floats, strings and same-keyed dicts are encoded a column at a time, and :class:`Records`
    are columns already. Anything unusual (non-finite floats, non-string keys, unknown types)
    goes to the reference rendering itself, so errors are its errors too."""
    try:
        text = _encode(value, 0)
    except (_Unusual, RecursionError):
        return _reference_file_bytes(_plain(value))
    return (text + "\n").encode("utf-8")


def _encode(value: Any, level: int) -> str:
    """One value's JSON text at indentation ``level`` (its first line is not indented)."""
    if isinstance(value, str):
        return _encode_str(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return _int_text(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _Unusual
        return _float_text(value)
    if isinstance(value, list | tuple):
        if not value:
            return "[]"
        return _block("[", _encode_column(list(value), level + 1), level, "]")
    if isinstance(value, Records):
        if not len(value):
            return "[]"
        keys = sorted(_checked_keys(value.columns))
        columns = [value.columns[k] for k in keys]
        return _block("[", _encode_columns(columns, keys, level + 1), level, "]")
    if isinstance(value, dict):
        if not value:
            return "{}"
        keys = sorted(_checked_keys(value))
        # The values as a column: an index's thousands of same-shaped entries go columnar too.
        texts = _encode_column([value[k] for k in keys], level + 1)
        items = [_encode_str(k) + ": " + text for k, text in zip(keys, texts, strict=True)]
        return _block("{", items, level, "}")
    raise _Unusual


def _block(opening: str, items: list[str], level: int, closing: str) -> str:
    """A non-empty array or object: one item a line at ``level + 1``, the closing bracket at
    ``level``."""
    inner = "\n" + _INDENT * (level + 1)
    return opening + inner + ("," + inner).join(items) + "\n" + _INDENT * level + closing


def _checked_keys(mapping: dict[Any, Any]) -> list[str]:
    keys = list(mapping)
    if not all(type(k) is str for k in keys):
        raise _Unusual
    return keys


def _encode_column(values: list[Any], level: int) -> list[str]:
    """The JSON text of each of ``values``, all at indentation ``level``."""
    kinds = set(map(type, values))
    if kinds == {float}:
        return _finite(list(map(_float_text, values)))
    if kinds == {str}:
        return list(map(_encode_str, values))
    if kinds == {int}:
        return list(map(_int_text, values))
    if kinds == {float, type(None)}:
        return _finite(["null" if v is None else _float_text(v) for v in values])
    if kinds == {dict} and len(values) > 1:
        keys = _checked_keys(values[0])
        key_set = set(keys)
        if keys and all(v.keys() == key_set for v in values):
            return _encode_records(values, sorted(keys), level)
    return [_encode(v, level) for v in values]


def _finite(texts: list[str]) -> list[str]:
    """``texts`` of floats, refused if one is NaN or infinite (``repr`` spells those so)."""
    if "nan" in texts or "inf" in texts or "-inf" in texts:
        raise _Unusual
    return texts


def _encode_records(rows: list[dict[str, Any]], keys: list[str], level: int) -> list[str]:
    """Dicts that share one key set: each key's values are encoded as a column."""
    return _encode_columns([list(map(itemgetter(k), rows)) for k in keys], keys, level)


def _encode_columns(values: list[list[Any]], keys: list[str], level: int) -> list[str]:
    """The JSON text of each object whose ``keys`` (sorted) hold ``values`` (one list per key,
    all of one length), at indentation ``level``."""
    inner = "\n" + _INDENT * (level + 1)
    columns = [_encode_column(column, level + 1) for column in values]
    fields = [_encode_str(k).replace("{", "{{").replace("}", "}}") + ": {}" for k in keys]
    template = "{{" + inner + ("," + inner).join(fields) + "\n" + _INDENT * level + "}}"
    return list(starmap(template.format, zip(*columns, strict=True)))


def read_index_file(path: Path, schema_version: int, key: str) -> tuple[int, dict[str, Any]] | None:
    """A derived index file (``{"schema_version", "generation", key: {id: entry}}``): its
    generation and entries, or None when it is missing, unreadable or of another shape (the
    caller rebuilds it from the records it derives from)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    if (
        not isinstance(data, dict)
        or data.get("schema_version") != schema_version
        or not isinstance(data.get("generation"), int)
        or not isinstance(data.get(key), dict)
    ):
        return None
    return data["generation"], data[key]
