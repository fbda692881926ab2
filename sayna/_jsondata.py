"""``to_dict()`` of models and events: the wire's field names, only JSON types.

The converter already gives the wire's names and shapes; what it leaves that
``json.dumps`` cannot take is made JSON-ready here: bytes become base64 text
(as the wire carries them), tuples lists, exceptions ``{"type", "message"}``
and callables their qualified name.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

__all__ = ["WireData", "json_data"]


class WireData:
    """Gives a model or event class ``to_dict()``."""

    __slots__ = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data with the wire's field names (absent optional fields left out)."""
        # Imported here: the converter imports the models that derive from this class.
        from sayna._converter import to_wire

        data: dict[str, Any] = json_data(to_wire(self))
        return data


def json_data(value: Any) -> Any:
    """``value`` (the converter's output) with only JSON types left."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, Mapping):
        return {str(key): json_data(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [json_data(item) for item in value]
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, WireData):  # an event inside an event (CallbackErrorEvent)
        return value.to_dict()
    if isinstance(value, BaseException):
        return {"type": type(value).__name__, "message": str(value)}
    if callable(value):
        return getattr(value, "__qualname__", None) or type(value).__name__
    return str(value)
