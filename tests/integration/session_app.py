"""A WSGI app whose views open a realtime session per request, for real gunicorn workers.

Written as a user would under ``gunicorn -k gevent`` or ``-k gthread``: one
module-level client (made at import, before any monkey patching of a
``--preload`` master would matter) serves REST calls and opens one session per
request. ``/session?text=`` connects, speaks, reads events until
``tts_playback_complete`` and closes, then says what the audio said and how
many events arrived, so the test can tell a lost or mixed-up event from a right
answer. ``/rest?text=`` does the same through ``speak_rest``. ``/alive`` counts
the sayna threads (greenlets under gevent) still running in the worker.
"""

from __future__ import annotations

import gc
import json
import os
import threading
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

from sayna import (
    Sayna,
    SaynaError,
    STTConfig,
    TTSAudioEvent,
    TTSConfig,
    TTSPlaybackCompleteEvent,
)
from sayna.testing import decode_speech

RATE = 16000
STT = STTConfig(
    provider="deepgram", model="nova-3", sample_rate=RATE, channels=1, encoding="linear16"
)
TTS = TTSConfig(provider="deepgram", model="aura-asteria-en", sample_rate=RATE)

CLIENT = Sayna(timeout=60)


def _session(text: str) -> dict[str, Any]:
    chunks: list[bytes] = []
    kinds: list[str] = []
    with CLIENT.connect(stt_config=STT, tts_config=TTS, timeout=60) as session:
        session.speak(text)
        for event in session.events(timeout=60):
            kinds.append(type(event).__name__)
            if isinstance(event, TTSAudioEvent):
                chunks.append(event.data)
            elif isinstance(event, TTSPlaybackCompleteEvent):
                break
    return {"text": decode_speech(b"".join(chunks), RATE), "chunks": len(chunks), "kinds": kinds}


def _rest(text: str) -> dict[str, Any]:
    return {"text": decode_speech(CLIENT.speak_rest(text, TTS).data, RATE)}


def _alive() -> dict[str, Any]:
    threads = sorted(t.name for t in threading.enumerate() if t.name.startswith("sayna-"))
    greenlets = 0
    try:
        import greenlet
    except ImportError:
        pass
    else:
        # Greenlets that are started and not yet finished (the hub and the
        # request's own included): sayna's must not add to them after close.
        greenlets = sum(
            1 for g in gc.get_objects() if isinstance(g, greenlet.greenlet) and g and not g.dead
        )
    return {"threads": threads, "greenlets": greenlets}


VIEWS: dict[str, Callable[[str], dict[str, Any]]] = {"/session": _session, "/rest": _rest}


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """``/session``, ``/rest`` and ``/alive``, each answering JSON with the worker's pid."""
    path = environ.get("PATH_INFO", "")
    text = parse_qs(environ.get("QUERY_STRING", "")).get("text", [""])[0]
    status = "200 OK"
    try:
        if path == "/alive":
            answer = _alive()
        elif path in VIEWS:
            answer = VIEWS[path](text)
        else:
            answer, status = {"error": "not found"}, "404 Not Found"
    except SaynaError as exc:
        answer, status = {"error": repr(exc)}, "502 Bad Gateway"
    answer["pid"] = os.getpid()
    body = json.dumps(answer).encode()
    start_response(status, [("Content-Type", "application/json")])
    return [body]
