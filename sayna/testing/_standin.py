"""The stand-in behaviour of a WebSocket session: config, commands, STT, TTS, LiveKit room.

:class:`StandIn` answers a client the way the server does with the
deterministic stand-in providers (docs/protocol.rst §3 to §5). It reads the server
through a :class:`~sayna.testing._context.ServerContext` and writes through
its session (the outgoing FIFO, the received-frame record, the public fields).
A TTS thread synthesizes utterances one after another; everything else runs on
the session's connection thread.
"""

from __future__ import annotations

import base64
import collections
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from sayna.testing._audio import SpeechDecoder, ogg_opus_silence
from sayna.testing._caller import Caller
from sayna.testing._mixdown import Mixdown
from sayna.testing._outbox import BINARY, CLOSE, PAUSE
from sayna.testing._providers import (
    ProviderError,
    TTSSettings,
    check_loading_audio,
    chunks,
    resolve_provider,
    synthesize,
    tts_settings,
)
from sayna.testing._records import PublishedData, ReceivedFrame
from sayna.testing._schemas import FrameError, decode_incoming
from sayna.testing._state import Participant, PhoneError, Track, check_phone

if TYPE_CHECKING:
    from sayna.testing._context import ServerContext
    from sayna.testing._ws import SessionLink

__all__ = ["StandIn"]

_AUDIO_DISABLED = "Audio processing is disabled. Send config message with audio=true first."
_NO_VOICE = "Voice manager not configured. Send config message with audio=true first."
_NO_LIVEKIT = "LiveKit client not configured. Send config message with livekit configuration first."
_LINEAR16 = frozenset({"linear16", "pcm", "pcm_s16le", "s16le", "pcm16", "l16", "linear_16"})


def _now_ms() -> int:
    return int(time.time() * 1000)


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class _Voice:
    """The configured speech pipeline of a session: STT decoder and TTS settings."""

    def __init__(self, stt: Mapping[str, Any], tts: TTSSettings, endpoint_ms: int) -> None:
        self.stt_rate: int = stt["sample_rate"] or 16000
        decodable = stt["encoding"].strip().lower() in _LINEAR16
        self.decoder = SpeechDecoder(self.stt_rate, decodable=decodable)
        # Socket audio carries the configured channels; room audio is mono.
        self.mixdown = Mixdown(stt.get("channels") or 1)
        self.tts = tts
        self.endpoint = endpoint_ms / 1000


class StandIn:
    """Serves one session with the stand-in providers and the simulated LiveKit room."""

    def __init__(self, link: SessionLink, context: ServerContext) -> None:
        self._link = link
        self._session = link.session
        self._context = context
        self._script: collections.deque[str] = collections.deque(context.behaviour.transcripts)
        self._published_audio = bytearray()
        self._audio: bool | None = None
        self._voice: _Voice | None = None
        self._stt_deadline: float | None = None
        self._stt_lock = threading.Lock()
        self._room: str | None = None
        self._agent_identity = "sayna-ai"
        self._agent_name = "Sayna AI"
        self._listen: frozenset[str] = frozenset()
        self._recording = False
        self._loading_ok = False
        self._loading_error: str | None = None
        self._interrupt_blocked = False
        self._interrupt_until: float | None = None

        self._tts_cond = threading.Condition()
        self._tts_queue: collections.deque[tuple[str, TTSSettings, int, bool]] = collections.deque()
        self._tts_generation = 0
        self._tts_thread: threading.Thread | None = None
        # Utterances whose audio is flowing right now (for the caller's during_reply).
        self._tts_playing = 0
        self._tts_started = 0
        self.caller = Caller(self)

    # --- what the session asks of its behaviour -----------------------------------------

    @property
    def livekit_room(self) -> str | None:
        return self._room

    @property
    def published_audio(self) -> bytes:
        return bytes(self._published_audio)

    def deadline(self) -> float | None:
        """When :meth:`on_timer` wants to run next (monotonic seconds), if ever."""
        return self._stt_deadline

    def stop(self) -> None:
        """The session is ending: cancel queued speech and let the TTS thread finish."""
        with self._tts_cond:
            self._tts_generation += 1
            self._tts_queue.clear()
            self._tts_cond.notify_all()
        self.caller.stop()

    def wake(self) -> None:
        """The session was aborted: wake the TTS thread so that it notices."""
        with self._tts_cond:
            self._tts_cond.notify_all()

    def join(self, timeout: float) -> None:
        if self._tts_thread is not None:
            self._tts_thread.join(timeout)
        self.caller.join(timeout)

    def _send(self, event: Mapping[str, Any]) -> None:
        self._link.send(event)

    def _error(self, message: str) -> None:
        self._link.send({"type": "error", "message": message})

    def participant_leaves(self, identity: str = "caller", name: str = "Caller") -> None:
        """A remote participant leaves: ``participant_disconnected``, ~100 ms, Close (no code)."""
        room = self._room
        if room is not None and self._context.state.remove_participant(room, identity):
            return  # the room told every session in it, this one included
        self._participant_left(identity, name, room or "")

    def deliver_data(
        self,
        payload: bytes | str | Mapping[str, Any],
        *,
        identity: str | None = "caller",
        topic: str | None = None,
    ) -> None:
        """A data packet arrives from the room: a ``message`` frame (§5.3) unless filtered."""
        if identity is not None and self._listen and identity not in self._listen:
            return
        if isinstance(payload, Mapping):
            payload = _dumps(payload)
        raw = payload.encode("utf-8") if isinstance(payload, str) else bytes(payload)
        body: dict[str, Any] = {}
        try:
            body["message"] = raw.decode("utf-8")
        except UnicodeDecodeError:
            body["data"] = base64.b64encode(raw).decode("ascii")
        body.update(
            identity=identity or "server",
            topic=topic or "default",
            room="livekit",
            timestamp=_now_ms(),
        )
        self._send({"type": "message", "message": body})

    def inject_room_audio(self, pcm: bytes, *, identity: str = "caller") -> None:
        """Audio from a room participant reaches STT (§4.3.4 ``listen_participants`` applies)."""
        if self._listen and identity not in self._listen:
            return
        self._stt_feed(pcm)

    def script_transcripts(self, transcripts: Iterable[str]) -> None:
        """Queue transcripts for audio this session's stand-in STT cannot decode."""
        self._script.extend(transcripts)

    # --- the caller (sayna.testing._caller.CallerSide) ------------------------------------

    def _caller_identity(self) -> tuple[str, str]:
        """The remote party in the room (a SIP participant first), else ``caller``."""
        room = self._room
        if room is not None:
            with self._context.state.lock:
                found = self._context.state.rooms.get(room)
                others = [
                    p
                    for p in (found.participants.values() if found else ())
                    if p.identity != self._agent_identity
                ]
            others.sort(key=lambda p: p.kind != "SIP")
            if others:
                return others[0].identity, others[0].name
        return "caller", "Caller"

    def caller_hears(self) -> str | None:
        if self._voice is None:
            return "the session has no speech-to-text (no audio config yet, or audio=false)"
        identity, _ = self._caller_identity()
        if self._listen and identity not in self._listen:
            return f"listen_participants does not include {identity!r}"
        return None

    def caller_result(self, transcript: str, *, final: bool, speech_final: bool) -> None:
        with self._stt_lock:  # never between the frames of a decoded utterance
            self._send(
                {
                    "type": "stt_result",
                    "transcript": transcript,
                    "is_final": final,
                    "is_speech_final": speech_final,
                    "confidence": 1.0 if speech_final else (0.98 if final else 0.8),
                }
            )

    def caller_vad(self, event: str, silence_ms: int | None) -> None:
        frame: dict[str, Any] = {"type": "vad_event", "event": event, "timestamp_ms": _now_ms()}
        if silence_ms is not None:
            frame["silence_duration_ms"] = silence_ms
        self._send(frame)

    def caller_audio(self, pcm: bytes) -> None:
        self._stt_feed(pcm)

    def caller_sample_rate(self) -> int:
        voice = self._voice
        return voice.stt_rate if voice is not None else 16000

    def caller_leaves(self) -> None:
        self.participant_leaves(*self._caller_identity())

    def wait_tts_playing(self, stop: Callable[[], bool]) -> bool:
        with self._tts_cond:
            seen = self._tts_started
            while not self._tts_playing and self._tts_started == seen:
                if stop():
                    return False
                self._tts_cond.wait(0.25)
        return True

    def caller_stopped(self) -> bool:
        return self._link.finished or self._link.aborted

    def caller_sleep(self, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while True:
            if self.caller_stopped():
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            # Short slices: the session's end is a flag, not an event to wait on.
            if self._link.wait_aborted(min(remaining, 0.05)):
                return True

    def caller_thread(self, target: Callable[[], None]) -> threading.Thread:
        return self._link.thread(target, "caller")

    def on_timer(self) -> None:
        deadline = self._stt_deadline
        voice = self._voice
        if deadline is not None and time.monotonic() >= deadline and voice is not None:
            with self._stt_lock:
                self._stt_deadline = None
                self._handle_stt(voice.decoder.end_turn(), voice)

    def _stt_feed(self, data: bytes) -> None:
        voice = self._voice
        if voice is not None:
            # Socket audio and injected room audio share one recogniser.
            with self._stt_lock:
                self._handle_stt(voice.decoder.feed(data), voice)

    def on_text(self, text: str) -> None:
        try:
            message = decode_incoming(text)
        except FrameError as exc:
            self._link.record_text(text)
            self._error(f"Invalid message format: {exc}")
            return
        kind = message["type"]
        self._link.record(ReceivedFrame(kind="text", data=message, type=kind))
        handler = getattr(self, f"_on_{kind}")
        handler(message)

    def on_binary(self, data: bytes) -> None:
        self._link.record(ReceivedFrame(kind="binary", data=data))
        if not self._audio:
            self._error(_AUDIO_DISABLED)
            return
        voice = self._voice
        if voice is None:
            self._error(_NO_VOICE)
            return
        self._stt_feed(voice.mixdown.feed(data))

    def _handle_stt(self, events: list[tuple[str, ...]], voice: _Voice) -> None:
        for event in events:
            if event[0] == "interim":
                self._stt(event[1], final=False, confidence=0.8)
            elif event[0] == "final":
                self._stt(event[1], final=True, confidence=0.98)
                self._turn_end()
            elif self._script:
                words = self._script.popleft().split()
                for count in range(1, len(words) + 1):
                    self._stt(" ".join(words[:count]), final=False, confidence=0.8)
                if words:  # the server suppresses blank finals, but still ends the turn
                    self._stt(" ".join(words), final=True, confidence=0.9)
                self._turn_end()
        if voice.decoder.noise_pending or voice.decoder.speech_pending:
            self._stt_deadline = time.monotonic() + voice.endpoint
        else:
            self._stt_deadline = None

    def _stt(self, transcript: str, *, final: bool, confidence: float) -> None:
        self._send(
            {
                "type": "stt_result",
                "transcript": transcript,
                "is_final": final,
                "is_speech_final": False,
                "confidence": confidence,
            }
        )

    def _turn_end(self) -> None:
        # The server synthesizes this marker when the provider reports no speech end.
        self._send(
            {
                "type": "stt_result",
                "transcript": "",
                "is_final": True,
                "is_speech_final": True,
                "confidence": 1.0,
            }
        )

    def _on_config(self, message: dict[str, Any]) -> None:
        server = self._context
        self._session.config = message
        audio = message.get("audio")
        audio = True if audio is None else bool(audio)
        stt, tts = message.get("stt_config"), message.get("tts_config")
        if audio and stt is None:
            self._error("STT configuration is required when audio=true")
            return
        if audio and tts is None:
            self._error("TTS configuration is required when audio=true")
            return
        stream_id = message.get("stream_id")
        self._session.stream_id = str(uuid.uuid4()) if stream_id is None else stream_id
        self._audio = audio
        livekit = message.get("livekit")
        loading = message.get("loading_audio")
        self._loading_ok, self._loading_error = False, None
        if loading is not None:
            if not (audio and livekit is not None):
                self._error(
                    "loading_audio requires audio to be enabled and a livekit configuration"
                )
            else:
                problem = check_loading_audio(loading)
                if problem:
                    self._error(problem)
                    self._loading_error = problem
                else:
                    self._loading_ok = True
        settings: TTSSettings | None = None
        if audio:
            assert stt is not None
            assert tts is not None
            try:
                credentials = server.behaviour.provider_credentials
                more = server.behaviour.extra_providers
                resolve_provider(stt["provider"], stt.get("auth"), credentials, more)
                tts_provider = resolve_provider(tts["provider"], tts.get("auth"), credentials, more)
            except ProviderError as exc:
                self._error(str(exc))
                return
            settings = tts_settings(tts, tts_provider)
        if self._session.fail_config_message is not None:
            self._error(self._session.fail_config_message)
            return
        if audio:
            assert stt is not None
            assert settings is not None
            self._voice = _Voice(stt, settings, server.behaviour.stt_endpoint_ms)
            self._start_tts()
        if livekit is not None and not self._join_room(livekit):
            return
        if self._session.ready_delay > 0 and self._link.wait_aborted(self._session.ready_delay):
            return
        if self._session.withhold_ready:
            return
        ready: dict[str, Any] = {"type": "ready", "stream_id": self._session.stream_id}
        if self._room is not None:
            ready["livekit_room_name"] = self._room
        ready["livekit_url"] = server.behaviour.livekit_url
        if self._room is not None:
            ready["sayna_participant_identity"] = self._agent_identity
            ready["sayna_participant_name"] = self._agent_name
        self._send(ready)
        self._link.mark_ready()
        play = server.behaviour.caller
        if play is not None:
            self.caller.run_script(play)
        if self._room is not None and self._audio:
            # Auto-subscribe to the audio of everyone already in the room.
            with server.state.lock:
                room = server.state.rooms.get(self._room)
                present = list(room.participants.values()) if room else []
            for participant in present:
                if participant.identity != self._agent_identity:
                    self._subscribe_tracks(participant)

    def _join_room(self, livekit: Mapping[str, Any]) -> bool:
        server, state = self._context, self._context.state
        if not server.behaviour.livekit_configured:
            self._error("LiveKit room handler not initialized. Check API keys configuration.")
            return False
        name: str = livekit["room_name"]
        with state.lock:
            if state.ensure_room(name, self._session.tenant) is None:
                self._error(f"Access denied: room '{name}' belongs to a different tenant")
                return False
        self._room = name
        self._agent_identity = livekit.get("sayna_participant_identity") or "sayna-ai"
        self._agent_name = livekit.get("sayna_participant_name") or "Sayna AI"
        self._listen = frozenset(livekit.get("listen_participants") or ())
        agent = Participant(identity=self._agent_identity, name=self._agent_name, kind="AGENT")
        if self._audio:
            agent.tracks.append(Track(kind="audio"))
        self._recording = bool(livekit.get("enable_recording"))
        state.add_participant(name, agent)
        if self._recording:
            with state.lock:
                room = state.rooms.get(name)
                if room is not None:
                    room.active_recording = True
        return True

    def leave_room(self) -> None:
        room_name = self._room
        if room_name is None:
            return
        state = self._context.state
        # The server deletes the room when the session ends (§3.2), after the agent left.
        state.remove_participant(room_name, self._agent_identity)
        with state.lock:
            state.rooms.pop(room_name, None)
            if self._recording and self._session.stream_id is not None:
                voice = self._voice
                rate = voice.tts.sample_rate if voice else 24000
                seconds = max(0.5, len(self._published_audio) / 2 / rate)
                state.recordings[self._session.stream_id] = ogg_opus_silence(seconds, rate)

    def room_event(self, what: str, participant: Participant) -> None:
        """A participant joined or left this session's room."""
        if participant.identity == self._agent_identity or self._link.finished:
            return
        if what == "joined":
            self._send(
                {
                    "type": "participant_connected",
                    "participant": {
                        "identity": participant.identity,
                        "name": participant.name,
                        "room": self._room or "",
                        "timestamp": _now_ms(),
                    },
                }
            )
            if self._audio and self._session.ready:
                self._subscribe_tracks(participant)
        else:
            self._participant_left(participant.identity, participant.name, self._room or "")

    def _subscribe_tracks(self, participant: Participant) -> None:
        for track in participant.tracks:
            self._send(
                {
                    "type": "track_subscribed",
                    "track": {
                        "identity": participant.identity,
                        "name": participant.name,
                        "track_kind": track.kind,
                        "track_sid": track.sid,
                        "room": self._room or "",
                        "timestamp": _now_ms(),
                    },
                }
            )

    def _participant_left(self, identity: str, name: str, room: str) -> None:
        self._send(
            {
                "type": "participant_disconnected",
                "participant": {
                    "identity": identity,
                    "name": name,
                    "room": room,
                    "timestamp": _now_ms(),
                },
            }
        )
        self._link.put(PAUSE, 0.1)
        self._link.put(CLOSE, (None, ""))

    def _on_speak(self, message: dict[str, Any]) -> None:
        if not self._audio:
            self._error(_AUDIO_DISABLED)
            return
        voice = self._voice
        if voice is None:
            self._error(_NO_VOICE)
            return
        allow = message.get("allow_interruption")
        protect = allow is False
        text: str = message["text"]
        with self._tts_cond:
            # Every speak sets the session-wide interruption switch (§4.4).
            self._interrupt_blocked = protect
            self._interrupt_until = None
            if text.strip():
                self._tts_queue.append((text, voice.tts, self._tts_generation, protect))
                self._tts_cond.notify_all()

    def _on_clear(self, message: dict[str, Any]) -> None:
        if not self._audio:
            return
        if self._voice is None:
            self._error(_NO_VOICE)
            return
        with self._tts_cond:
            if self._interrupt_blocked and (
                self._interrupt_until is None or time.monotonic() < self._interrupt_until
            ):
                return
            self._tts_generation += 1
            self._tts_queue.clear()
            self._tts_cond.notify_all()

    def _on_send_message(self, message: dict[str, Any]) -> None:
        if self._room is None:
            self._error(_NO_LIVEKIT)
            return
        failure = self._context.behaviour.livekit_error
        if failure is not None:
            self._error(f"Failed to send message via LiveKit: {failure}")
            return
        payload = {
            "message": message["message"],
            "role": message["role"],
            "debug": message.get("debug"),
        }
        topic = message.get("topic") or "messages"
        self._session.published_data.append(
            PublishedData(topic=topic, payload=_dumps(payload).encode("utf-8"))
        )

    def _on_sip_transfer(self, message: dict[str, Any]) -> None:
        def fail(text: str) -> None:
            self._send({"type": "sip_transfer_error", "message": text})

        try:
            check_phone(message["transfer_to"])
        except PhoneError as exc:
            fail(f"Invalid phone number: {exc}")
            return
        room_name = self._room
        if room_name is None:
            fail("Room name not available. Ensure LiveKit is configured.")
            return
        server, state = self._context, self._context.state
        if not server.behaviour.livekit_configured:
            fail(_NO_LIVEKIT)
            return
        with state.lock:
            room = state.rooms.get(room_name)
            tenant = self._session.tenant
            if tenant is not None and room is None:
                fail("SIP transfer failed: Room not found")
                return
            if tenant is not None and room is not None and room.owner != tenant:
                fail("SIP transfer failed: Room not accessible")
                return
            caller = next(
                (
                    p
                    for p in (room.participants.values() if room else ())
                    if p.kind == "SIP" and p.identity != self._agent_identity
                ),
                None,
            )
        if caller is None:
            fail("No SIP participant found in room to transfer")
            return
        failure = server.behaviour.livekit_error
        if failure is not None:
            # The transfer itself runs in the background on the server.
            fail(f"SIP transfer failed: {failure}")
            return
        server.transfer_leaves(room_name, caller.identity)

    def _on_update_config(self, message: dict[str, Any]) -> None:
        if not self._context.behaviour.turn_detection:
            return
        threshold = (message.get("turn_detect") or {}).get("threshold")
        if threshold is not None and not 0.0 <= threshold <= 1.0:
            shown = str(int(threshold)) if float(threshold).is_integer() else repr(float(threshold))
            self._error(f"Invalid turn detection threshold: {shown}. Must be between 0.0 and 1.0")

    def _on_loading_start(self, message: dict[str, Any]) -> None:
        if self._audio is None:
            self._error("Send a config message first before using loading_start.")
        elif not self._audio:
            self._error(
                "Loading indicator requires audio to be enabled."
                " Send a config message with audio=true."
            )
        elif self._loading_error is not None:
            self._error(self._loading_error)
        elif self._session.config is None or self._session.config.get("livekit") is None:
            self._error(
                "Loading indicator requires a LiveKit room. "
                "Include a livekit configuration in your config message."
            )
        elif self._room is None:
            self._error(
                "loading indicator requires an active LiveKit connection; connect to a room first"
            )
        elif not self._loading_ok:
            self._error("no loading audio configured")
        else:
            self._session.loading = True

    def _on_loading_stop(self, message: dict[str, Any]) -> None:
        self._session.loading = False

    def _start_tts(self) -> None:
        if self._tts_thread is None:
            self._tts_thread = self._link.thread(self._tts_loop, "tts")
            self._tts_thread.start()

    def _tts_loop(self) -> None:
        server = self._context
        link = self._link
        while True:
            with self._tts_cond:
                while not self._tts_queue and not link.finished and not link.aborted:
                    self._tts_cond.wait()
                if link.finished or link.aborted:
                    return
                text, settings, generation, protect = self._tts_queue.popleft()
                if generation != self._tts_generation:
                    continue
            failure = server.behaviour.tts_error
            if failure is not None:
                self._error(f"TTS error: {failure}")
                self._maybe_complete(generation)
                continue
            audio = synthesize(text, settings)
            rate = settings.sample_rate or 24000
            speed = server.behaviour.tts_speedup
            started = time.monotonic()
            produced = 0.0
            cancelled = False
            playing = False
            for chunk in chunks(audio, settings, server.behaviour.tts_chunk_ms):
                with self._tts_cond:
                    if generation != self._tts_generation or self._link.finished:
                        cancelled = True
                        break
                if self._room is not None:
                    self._published_audio += chunk
                else:
                    self._link.put(BINARY, chunk)
                if not playing:
                    playing = True
                    with self._tts_cond:
                        self._tts_playing += 1
                        self._tts_started += 1
                        self._tts_cond.notify_all()
                produced += server.behaviour.tts_chunk_ms / 1000
                if speed and speed > 0:
                    delay = started + produced / speed - time.monotonic()
                    if delay > 0:
                        with self._tts_cond:
                            self._tts_cond.wait(delay)
            if playing:
                with self._tts_cond:
                    self._tts_playing -= 1
            if cancelled:
                continue
            if protect:
                with self._tts_cond:
                    # Protected from clear until the audio has played out.
                    if self._interrupt_blocked and self._interrupt_until is None:
                        self._interrupt_until = started + len(audio) / 2 / rate
            self._maybe_complete(generation)

    def _maybe_complete(self, generation: int) -> None:
        with self._tts_cond:
            if self._tts_queue or generation != self._tts_generation:
                return
        self._send({"type": "tts_playback_complete", "timestamp": _now_ms()})
