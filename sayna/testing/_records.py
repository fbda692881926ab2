"""What the fake server records of its clients: requests, frames and published data.

These are plain values shared by the transport (:mod:`sayna.testing._http`,
:mod:`sayna.testing._ws`) and the behaviours that fill them in (the stand-in
providers, a replayed cassette), so none of those has to import another for them.
"""

from __future__ import annotations

import json
from typing import Any

import attrs

__all__ = ["PublishedData", "ReceivedFrame", "RecordedRequest", "decode_json"]


def decode_json(body: bytes) -> Any:
    """Decode a JSON body as the server does (``NaN`` and ``Infinity`` refused)."""

    def refuse(name: str) -> Any:
        raise ValueError(f"invalid number `{name}`")

    return json.loads(body.decode("utf-8"), parse_constant=refuse)


@attrs.frozen(kw_only=True)
class RecordedRequest:
    """One HTTP request as the server received it.

    ``path`` is the raw (still percent-encoded) path without the query;
    ``query`` maps each decoded parameter name to its first decoded value;
    ``headers`` maps lower-case names to values (repeats joined by ``", "``).
    """

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body decoded as JSON."""
        return decode_json(self.body)


@attrs.frozen(kw_only=True)
class ReceivedFrame:
    """A frame the client sent, decoded.

    ``kind`` is ``"text"`` or ``"binary"``; ``data`` is a dict for JSON-object
    text, the raw string for other text, and bytes for binary frames; ``type``
    is the JSON ``type`` field when it is a string, else None.
    """

    kind: str
    data: Any
    type: str | None = None


@attrs.frozen(kw_only=True)
class PublishedData:
    """A LiveKit data packet the agent published (from ``send_message``)."""

    topic: str
    payload: bytes

    def json(self) -> Any:
        """The payload decoded as JSON."""
        return json.loads(self.payload)
