"""How a fake server behaves: configuration and fault switches in one attrs object.

:class:`Behaviour` is what the request handlers and sessions read. A
:class:`~sayna.testing.FakeServer` built from keywords builds one; its
attributes (``server.tts_error``, ``server.ready_delay``...) read and write
this object, so a switch flipped on the server reaches every handler at once.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

import attrs

from sayna.testing._providers import ALL_PROVIDERS
from sayna.testing._state import LIVEKIT_API_KEY, LIVEKIT_API_SECRET

if TYPE_CHECKING:
    from sayna.testing._caller import Caller

__all__ = ["Behaviour", "behaviour_field"]


def _names(value: Collection[str]) -> frozenset[str]:
    return frozenset(value)


def _lower_names(value: Iterable[str]) -> frozenset[str]:
    if isinstance(value, str):
        raise TypeError("extra_providers takes a collection of names, not one string")
    return frozenset(name.lower() for name in value)


def _texts(value: Iterable[str]) -> list[str]:
    return list(value)


def _keys(value: Mapping[str, str] | None) -> dict[str, str] | None:
    return None if value is None else dict(value)


@attrs.define(kw_only=True)
class Behaviour:
    """Server configuration and fault switches of a :class:`~sayna.testing.FakeServer`.

    The fields carry the meaning of the :class:`~sayna.testing.FakeServer`
    keywords and attributes of the same names. ``fail_config`` is the message
    of :meth:`~sayna.testing.FakeServer.fail_config` and ``transcripts`` the
    queue of :meth:`~sayna.testing.FakeServer.script_transcripts`. With
    ``cassette`` (a path) the server replays that recording instead of running
    the stand-in providers, at ``pace`` ``"fast"`` or ``"recorded"``.
    """

    api_keys: dict[str, str] | None = attrs.field(default=None, converter=_keys, repr=False)
    livekit_url: str = "wss://livekit.local.test"
    livekit_configured: bool = True
    livekit_api_key: str = LIVEKIT_API_KEY
    livekit_api_secret: str = attrs.field(default=LIVEKIT_API_SECRET, repr=False)
    sip_configured: bool = True
    sip_room_prefix: str = "sip-"
    sip_outbound_address: str | None = "sip.outbound.local.test"
    sip_hooks_persistent: bool = True
    webhook_secret: str | None = attrs.field(default=None, repr=False)
    storage_configured: bool = True
    provider_credentials: frozenset[str] = attrs.field(default=ALL_PROVIDERS, converter=_names)
    extra_providers: frozenset[str] = attrs.field(factory=frozenset, converter=_lower_names)
    tts_chunk_ms: int = 40
    tts_speedup: float = 10.0
    stt_endpoint_ms: int = 500
    turn_detection: bool = True
    record: bool = True
    # Fault switches.
    tts_error: str | None = None
    livekit_error: str | None = None
    sip_transfer_status: str = "completed"
    auth_unavailable: str | None = None
    ready_delay: float = 0.0
    withhold_ready: bool = False
    fail_config: str | None = None
    transcripts: list[str] = attrs.field(factory=list, converter=_texts)
    # Plays each new session's caller once it is ready (FakeServer(caller=...)).
    caller: Callable[[Caller], object] | None = None
    # Replay instead of the stand-in providers.
    cassette: str | os.PathLike[str] | None = None
    pace: str = "fast"


T = TypeVar("T")


class behaviour_field(Generic[T]):
    """A server attribute that reads and writes the field of the same name of ``behaviour``.

    Assignments go through the field's converter (``attrs.define`` runs it on setattr).
    """

    def __init__(self, doc: str) -> None:
        self.__doc__ = doc
        self._name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    @overload
    def __get__(self, obj: None, objtype: type | None = None) -> behaviour_field[T]: ...

    @overload
    def __get__(self, obj: object, objtype: type | None = None) -> T: ...

    def __get__(self, obj: object | None, objtype: type | None = None) -> Any:
        if obj is None:
            return self
        return getattr(obj.behaviour, self._name)  # type: ignore[attr-defined]

    def __set__(self, obj: object, value: T) -> None:
        setattr(obj.behaviour, self._name, value)  # type: ignore[attr-defined]
