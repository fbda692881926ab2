"""The one place where attrs models meet the wire.

Two converters share one configuration: the lenient one (production) ignores
keys it does not know, because the server may add fields; the strict one
(tests over recorded vectors) rejects them, so schema drift fails a test
instead of a user. Absent optional fields (``None`` defaults) are omitted on
the wire, as the server treats ``null`` and absent alike.

Models register hooks here, never on themselves: see ``register`` below.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Any, TypeVar

import cattrs

__all__ = ["converter", "from_wire", "register", "strict_converter", "to_wire"]

T = TypeVar("T")

_Hook = Callable[[cattrs.Converter], None]
_registrations: list[_Hook] = []


def _structure_base64(value: Any, _: type) -> bytes:
    if isinstance(value, bytes):
        return value
    if not isinstance(value, str):
        raise TypeError(f"expected base64 text, got {type(value).__name__}")
    try:
        return base64.b64decode(value, validate=True)
    except binascii.Error as exc:
        raise ValueError(f"invalid base64: {exc}") from None


def _unstructure_base64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def _make(*, strict: bool) -> cattrs.Converter:
    conv = cattrs.Converter(omit_if_default=True, forbid_extra_keys=strict)
    # The wire carries binary payloads as standard base64 (loading audio,
    # undecodable data packets); cattrs' own bytes handling would not.
    conv.register_structure_hook(bytes, _structure_base64)
    conv.register_unstructure_hook(bytes, _unstructure_base64)
    return conv


converter = _make(strict=False)
strict_converter = _make(strict=True)


def register(hook: _Hook) -> _Hook:
    """Apply ``hook`` to both converters (usable as a decorator).

    Hand-built hooks do not inherit ``omit_if_default``; a hook that builds
    attrs hooks must pass it explicitly.
    """
    hook(converter)
    hook(strict_converter)
    _registrations.append(hook)
    return hook


def to_wire(obj: Any) -> Any:
    """Unstructure a model (or a container of models) into JSON-ready data."""
    return converter.unstructure(obj)


def from_wire(data: Any, cls: type[T], *, strict: bool = False) -> T:
    """Structure JSON data into ``cls``; ``strict`` rejects unknown keys."""
    return (strict_converter if strict else converter).structure(data, cls)
