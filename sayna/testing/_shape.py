"""Request-shape checks that fail with the server's (serde's) wording.

The real server deserializes every JSON body and WebSocket text frame into Rust
structs; a body of the wrong shape is rejected before any handler logic with a
message such as ``tts_config: missing field `model```. These small shape objects
reproduce the stable part of those messages (docs/protocol.rst §1.6, §3.1).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = [
    "ANY",
    "BOOL",
    "F32",
    "STR",
    "U16",
    "U32",
    "U64",
    "Field",
    "ListOf",
    "MapOf",
    "ShapeError",
    "Struct",
    "describe_json_error",
    "unexpected",
]


class ShapeError(Exception):
    """A value does not fit a shape; ``str()`` is the serde-style message."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.message = message


def unexpected(value: Any) -> str:
    """serde's ``Unexpected`` rendering of a JSON value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean `{'true' if value else 'false'}`"
    if isinstance(value, int):
        return f"integer `{value}`"
    if isinstance(value, float):
        return f"floating point `{value!r}`"
    if isinstance(value, str):
        return f"string {json.dumps(value, ensure_ascii=False)}"
    if isinstance(value, list):
        return "sequence"
    return "map"


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


class Shape:
    """Base: checks a decoded JSON value, raising :class:`ShapeError`."""

    expected = "a value"

    def check(self, value: Any, path: str) -> None:
        raise NotImplementedError

    def _fail(self, value: Any, path: str) -> ShapeError:
        return ShapeError(path, f"invalid type: {unexpected(value)}, expected {self.expected}")


class _Any(Shape):
    def check(self, value: Any, path: str) -> None:
        return None


class _Str(Shape):
    expected = "a string"

    def check(self, value: Any, path: str) -> None:
        if not isinstance(value, str):
            raise self._fail(value, path)


class _Bool(Shape):
    expected = "a boolean"

    def check(self, value: Any, path: str) -> None:
        if not isinstance(value, bool):
            raise self._fail(value, path)


class _Unsigned(Shape):
    def __init__(self, name: str, bits: int) -> None:
        self.expected = name
        self.limit = 1 << bits

    def check(self, value: Any, path: str) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._fail(value, path)
        if not 0 <= value < self.limit:
            raise ShapeError(path, f"invalid value: integer `{value}`, expected {self.expected}")


class _Float(Shape):
    expected = "f32"

    def check(self, value: Any, path: str) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self._fail(value, path)


class ListOf(Shape):
    """A JSON array whose items all fit ``item``."""

    expected = "a sequence"

    def __init__(self, item: Shape) -> None:
        self.item = item

    def check(self, value: Any, path: str) -> None:
        if not isinstance(value, list):
            raise self._fail(value, path)
        for index, item in enumerate(value):
            self.item.check(item, f"{path}[{index}]")


class MapOf(Shape):
    """A JSON object with arbitrary keys whose values fit ``value``."""

    expected = "a map"

    def __init__(self, value: Shape) -> None:
        self.value = value

    def check(self, value: Any, path: str) -> None:
        if not isinstance(value, dict):
            raise self._fail(value, path)
        for key, item in value.items():
            self.value.check(item, _join(path, key))


class Field:
    """One struct field; optional fields accept ``null`` like absent."""

    __slots__ = ("required", "shape")

    def __init__(self, shape: Shape, *, required: bool = False) -> None:
        self.shape = shape
        self.required = required


class Struct(Shape):
    """A JSON object with known fields; unknown keys are ignored like serde does."""

    def __init__(self, name: str, fields: Mapping[str, Field]) -> None:
        self.expected = f"struct {name}"
        self.fields = dict(fields)

    def check(self, value: Any, path: str) -> None:
        if not isinstance(value, dict):
            raise self._fail(value, path)
        # serde reports type errors in document order, missing fields at the end.
        for key, item in value.items():
            field = self.fields.get(key)
            if field is None or (item is None and not field.required):
                continue
            field.shape.check(item, _join(path, key))
        for key, field in self.fields.items():
            if field.required and key not in value:
                raise ShapeError(path, f"missing field `{key}`")


ANY: Shape = _Any()
STR: Shape = _Str()
BOOL: Shape = _Bool()
U16: Shape = _Unsigned("u16", 16)
U32: Shape = _Unsigned("u32", 32)
U64: Shape = _Unsigned("u64", 64)
F32: Shape = _Float()


def describe_json_error(exc: json.JSONDecodeError) -> str:
    """serde_json's wording for a syntax error (the tail is informative only)."""
    at_end = exc.pos >= len(exc.doc.rstrip())
    if at_end:
        what = "an object" if exc.doc.lstrip().startswith("{") else "a value"
        text = f"EOF while parsing {what}"
    elif exc.msg.startswith("Expecting value"):
        text = "expected value"
    elif exc.msg.startswith("Extra data"):
        text = "trailing characters"
    elif exc.msg.startswith("Expecting property name"):
        text = "key must be a string"
    elif exc.msg.startswith("Expecting ',' delimiter"):
        text = "expected `,` or `}`"
    elif exc.msg.startswith("Expecting ':' delimiter"):
        text = "expected `:`"
    else:
        text = exc.msg[:1].lower() + exc.msg[1:]
    return f"{text} at line {exc.lineno} column {exc.colno}"
