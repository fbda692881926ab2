"""A WSGI app that uWSGI serves: ``/connect`` opens a session and speaks, or says why not.

Loaded by module name from this folder (uWSGI's ``--module uwsgi_app``); the
client is made at import, as a user's would be.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable
from typing import Any

from sayna import Sayna, SaynaError, STTConfig, TTSConfig
from sayna.testing import decode_speech

RATE = 16000
STT = STTConfig(
    provider="deepgram", model="nova-3", sample_rate=RATE, channels=1, encoding="linear16"
)
TTS = TTSConfig(provider="deepgram", model="aura-asteria-en", sample_rate=RATE)

CLIENT = Sayna(timeout=30)


def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """``/connect``: a session that says one sentence, or the SaynaError connect() raised."""
    uwsgi = sys.modules.get("uwsgi")
    answer: dict[str, Any] = {"has_threads": getattr(uwsgi, "has_threads", None)}
    try:
        with CLIENT.connect(stt_config=STT, tts_config=TTS, timeout=30) as session:
            audio = session.say("served by uWSGI", timeout=30)
        answer["text"] = decode_speech(audio.data, RATE)
    except SaynaError as exc:
        answer["error"] = type(exc).__name__
        answer["message"] = str(exc)
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(answer).encode()]
