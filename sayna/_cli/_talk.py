"""``sayna talk``: a conversation on the laptop's microphone and speaker.

:func:`sayna.converse` does the listening and answering; this module adds the
devices around it (the microphone streamed on a daemon thread, the speech
played with barge-in) and the ``--respond module:function`` loading. The
devices, the extra and ``--respond`` are all checked before connecting, so a
refusal is one line and exit 2 with no session opened.
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from sayna._cli._common import EXIT_OK, CommandError, Context, UsageError
from sayna._conveniences import stream_audio
from sayna._converse import Respond, converse
from sayna._devices import Microphone, Speaker, open_check
from sayna._errors import SaynaError
from sayna._models import STTConfig, TTSConfig
from sayna._turns import Turn

if TYPE_CHECKING:
    from sayna._realtime.session import Session

__all__ = ["load_respond", "repeat", "talk"]

CONNECT_TIMEOUT = 60.0
# How long the end waits for the last answer to leave the speaker and for the
# microphone thread to notice it was closed.
_DRAIN_TIMEOUT = 30.0
_JOIN_TIMEOUT = 5.0
_STT_RATE = 16000


def repeat(turn: Turn) -> str | None:
    """The default answer: says back what was heard."""
    return f"You said: {turn.text}"


def load_respond(spec: str) -> Respond:
    """The callable ``spec`` ("module:function") names, or a one-line UsageError."""
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise UsageError(f"--respond needs MODULE:FUNCTION, got {spec!r}")
    # As gunicorn and uvicorn do: a module beside the user is importable by
    # name even when the `sayna` script (not `python -m`) was run.
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # whatever the user's module raises while importing
        raise UsageError(
            f"--respond: cannot import {module_name!r}: {type(exc).__name__}: {exc}"
        ) from exc
    target: Any = module
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise UsageError(f"--respond: {module_name!r} has no {attribute!r}") from None
    if not callable(target):
        raise UsageError(f"--respond: {spec} is a {type(target).__name__}, not a function")
    function: Respond = target
    return function


class _Transcript:
    """Wraps ``respond``: keeps every turn and answer, printed as they come unless --json."""

    def __init__(self, ctx: Context, respond: Respond) -> None:
        self._ctx = ctx
        self._respond = respond
        self.lines: list[dict[str, str]] = []

    def _add(self, role: str, text: str) -> None:
        self.lines.append({"role": role, "text": text})
        if not self._ctx.json:
            self._ctx.out(f"{'you' if role == 'user' else 'sayna'}: {text}")

    def __call__(self, turn: Turn) -> str | Iterable[str] | None:
        self._add("user", turn.text)
        reply = self._respond(turn)
        if isinstance(reply, str):
            self._add("agent", reply)
            return reply
        given: object = reply
        if reply is None or not isinstance(given, Iterable) or isinstance(given, bytes):
            return reply  # None ends the conversation; converse refuses the rest itself
        return self._streamed(reply)

    def _streamed(self, pieces: Iterable[str]) -> Iterator[str]:
        said: list[str] = []
        for piece in pieces:
            said.append(piece)
            yield piece
        self._add("agent", "".join(said))


def _feeder(session: Session, mic: Microphone, failed: list[SaynaError]) -> Callable[[], None]:
    def feed() -> None:
        try:
            stream_audio(session, mic, realtime=True)
        except SaynaError as exc:
            # The session ended under it (the conversation then ends too).
            failed.append(exc)

    return feed


def talk(ctx: Context) -> int:
    """``sayna talk``: listen on the microphone, answer on the speaker, until Ctrl-C."""
    a = ctx.args
    respond = load_respond(a.respond) if a.respond else repeat
    mic_name = open_check("input", a.mic)
    speaker_name = open_check("output", a.speaker)
    stt = STTConfig(
        provider=a.stt_provider,
        model=a.stt_model,
        language=a.language,
        sample_rate=_STT_RATE,
        channels=1,
    )
    # One provider for both directions (as `say` does): one credential on the server.
    tts = TTSConfig(provider=a.stt_provider, model="", voice_id=a.voice, sample_rate=a.speaker_rate)
    mic = Microphone(sample_rate=a.mic_rate, device=a.mic)
    ended_by = "interrupted"
    failed: list[SaynaError] = []
    transcript = _Transcript(ctx, respond)
    with (
        ctx.client() as client,
        client.connect(
            stt_config=stt,
            tts_config=tts,
            barge_in=True,
            timeout=ctx.timeout or CONNECT_TIMEOUT,
        ) as session,
        Speaker(sample_rate=a.speaker_rate, device=a.speaker) as speaker,
        session.play_on(speaker) as playback,
        mic,
    ):
        ctx.note(f"talking on {mic_name} and {speaker_name}; Ctrl-C ends")
        sender = threading.Thread(
            target=_feeder(session, mic, failed), name="sayna-talk-microphone", daemon=True
        )
        sender.start()
        interrupted = False
        try:
            conversation = converse(session, transcript, greeting=a.greeting, max_turns=a.max_turns)
            ended_by = conversation.ended_by
        except KeyboardInterrupt:
            # The first Ctrl-C ends the conversation, like `sayna listen`'s;
            # a second one, during the teardown below, exits 130.
            interrupted = True
            speaker.clear()
        except SaynaError:
            raise
        except Exception as exc:
            # Only the user's reply function raises anything else out of
            # converse: one line, like every other failure (--debug shows where).
            speaker.clear()
            raise CommandError(f"--respond {a.respond}: {type(exc).__name__}: {exc}") from exc
        finally:
            mic.close()
            sender.join(_JOIN_TIMEOUT)
        if not interrupted:
            # The last answer plays out; a device that failed meanwhile raises here.
            playback.drain(timeout=_DRAIN_TIMEOUT)
    if failed and ended_by == "closed":
        raise failed[0]
    if ctx.json:
        ctx.emit_json(
            {
                "microphone": mic_name,
                "speaker": speaker_name,
                "lines": transcript.lines,
                "ended_by": ended_by,
            }
        )
    else:
        ctx.note(f"conversation ended ({ended_by})")
    return EXIT_OK
