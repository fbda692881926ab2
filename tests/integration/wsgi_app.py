"""A WSGI app that gunicorn serves with ``--preload``: its views make REST calls.

The client is created and used at import time, in gunicorn's master process,
before it forks the workers: the case where forked processes must never share
a pooled connection. ``/speak?text=...`` answers with what the synthesized
audio says, decoded, so the test can tell a mixed-up answer from a right one.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

from sayna import Sayna, SaynaError, TTSConfig
from sayna.testing import decode_speech

RATE = 16000
TTS = TTSConfig(provider="deepgram", model="aura-asteria-en", sample_rate=RATE)

CLIENT = Sayna()
CLIENT.health()


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """``/speak?text=``: synthesize the text over REST and say what the audio says."""
    if environ.get("PATH_INFO") != "/speak":
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found"]
    text = parse_qs(environ.get("QUERY_STRING", "")).get("text", [""])[0]
    try:
        audio = CLIENT.speak_rest(text, TTS)
        answer = {"text": decode_speech(audio.data, RATE), "pid": os.getpid()}
        status = "200 OK"
    except SaynaError as exc:
        answer, status = {"error": repr(exc)}, "502 Bad Gateway"
    body = json.dumps(answer).encode()
    start_response(status, [("Content-Type", "application/json")])
    return [body]
