"""Callbacks on a session: ``on``/``off`` and the official SDK's ``register_on_*`` names.

A base class of :class:`~sayna.Session` (its methods render as the session's
own): registration is the dispatcher's business (:mod:`sayna._realtime.dispatch`);
this face only checks what the user hands it and picks the registry slot.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from sayna._errors import SaynaValidationError
from sayna._events import (
    ErrorEvent,
    Event,
    MessageEvent,
    ParticipantConnectedEvent,
    ParticipantDisconnectedEvent,
    ReadyEvent,
    SIPTransferErrorEvent,
    STTResultEvent,
    TrackSubscribedEvent,
    TTSAudioEvent,
    TTSPlaybackCompleteEvent,
)
from sayna._realtime.dispatch import EventKey, callable_name, check_key

if TYPE_CHECKING:
    from sayna._realtime.core import SessionCore

__all__ = ["Callbacks"]

H = TypeVar("H", bound=Callable[..., Any])


class Callbacks:
    """The callback face of :class:`~sayna.Session`."""

    __slots__ = ()

    _core: SessionCore

    def on(self, event_type: EventKey, handler: H | None = None) -> Any:
        """Call ``handler(event)`` for every event of ``event_type``.

        ``event_type`` is an event class (subclasses match), a wire type string
        (``"stt_result"``, or a type this client does not know), or ``None`` for
        every event. Without ``handler`` it returns a decorator. Several
        handlers per type run in registration order. Handlers registered before
        the first send also receive the earlier events (``ready`` included).
        """
        self._core.check_process()
        check_key(event_type)

        def register(fn: H) -> H:
            if not callable(fn):
                raise SaynaValidationError("the handler must be callable", field="handler")
            self._core.dispatcher.add(event_type, fn, None)
            return fn

        return register if handler is None else register(handler)

    def on_any(self, handler: H) -> H:
        """Call ``handler(event)`` for every event."""
        return self.on(None, handler)  # type: ignore[no-any-return]

    def off(self, event_type: EventKey, handler: Callable[..., Any]) -> bool:
        """Remove one registration made with :meth:`on`; False if there was none."""
        self._core.check_process()
        return self._core.dispatcher.remove(event_type, handler, None)

    def wait_callbacks(self, timeout: float | None = None) -> bool:
        """Wait until the callbacks have handled every event received so far.

        Callbacks run on the session's dispatcher thread, which may still be
        behind when :meth:`say`, :meth:`wait_for` or an iterator has already
        seen a later event. True once every callback due for those events has
        returned (at once if there are none), False if ``timeout`` seconds
        passed first. Not from a callback (it would wait for itself).
        """
        self._core.check_process()
        return self._core.dispatcher.wait_handled(timeout)

    def _register_slot(
        self, slot: str, key: type[Event], callback: Callable[[Any], Any] | None
    ) -> None:
        # The official SDK keeps one callback per register_on_* name: registering
        # again replaces it, None removes it.
        core = self._core
        core.check_process()
        if callback is None:
            core.dispatcher.remove(key, None, slot)
            return
        if not callable(callback):
            raise SaynaValidationError("the callback must be callable", field="callback")
        core.dispatcher.add(key, callback, slot)

    def register_on_ready(self, callback: Callable[[ReadyEvent], Any] | None) -> None:
        """Set the one ``ready`` callback (replaces the previous one)."""
        self._register_slot("ready", ReadyEvent, callback)

    def register_on_stt_result(self, callback: Callable[[STTResultEvent], Any] | None) -> None:
        """Set the one transcript callback (replaces the previous one)."""
        self._register_slot("stt_result", STTResultEvent, callback)

    def register_on_tts_audio(self, callback: Callable[[bytes], Any] | None) -> None:
        """Set the one TTS audio callback; it receives the chunk's ``bytes``."""
        if callback is None or not callable(callback):
            self._register_slot("tts_audio", TTSAudioEvent, callback)
            return
        audio_callback = callback

        def deliver(event: TTSAudioEvent) -> None:
            audio_callback(event.data)

        deliver.__qualname__ = callable_name(callback)
        self._register_slot("tts_audio", TTSAudioEvent, deliver)

    def register_on_error(self, callback: Callable[[ErrorEvent], Any] | None) -> None:
        """Set the one server ``error`` callback (replaces the previous one)."""
        self._register_slot("error", ErrorEvent, callback)

    def register_on_message(self, callback: Callable[[MessageEvent], Any] | None) -> None:
        """Set the one data-packet callback (replaces the previous one)."""
        self._register_slot("message", MessageEvent, callback)

    def register_on_participant_connected(
        self, callback: Callable[[ParticipantConnectedEvent], Any] | None
    ) -> None:
        """Set the one participant-joined callback (replaces the previous one)."""
        self._register_slot("participant_connected", ParticipantConnectedEvent, callback)

    def register_on_participant_disconnected(
        self, callback: Callable[[ParticipantDisconnectedEvent], Any] | None
    ) -> None:
        """Set the one participant-left callback (replaces the previous one)."""
        self._register_slot("participant_disconnected", ParticipantDisconnectedEvent, callback)

    def register_on_track_subscribed(
        self, callback: Callable[[TrackSubscribedEvent], Any] | None
    ) -> None:
        """Set the one track-subscribed callback (replaces the previous one)."""
        self._register_slot("track_subscribed", TrackSubscribedEvent, callback)

    def register_on_tts_playback_complete(
        self, callback: Callable[[TTSPlaybackCompleteEvent], Any] | None
    ) -> None:
        """Set the one playback-complete callback (replaces the previous one)."""
        self._register_slot("tts_playback_complete", TTSPlaybackCompleteEvent, callback)

    def register_on_sip_transfer_error(
        self, callback: Callable[[SIPTransferErrorEvent], Any] | None
    ) -> None:
        """Set the one SIP-transfer-error callback (replaces the previous one)."""
        self._register_slot("sip_transfer_error", SIPTransferErrorEvent, callback)
