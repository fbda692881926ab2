"""The Celery app the integration tests run in real ``celery worker`` processes.

Written as a user would: a module-level client that is used at import time (in
the worker's main process, before the pool forks) for REST, and
``sayna.contrib.celery.session`` for realtime sessions. Every task returns what
it heard or received so that the test can check every answer.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from celery import Celery, signals

from sayna import Sayna, STTConfig, STTResultEvent, TTSConfig
from sayna.contrib.celery import SessionInterrupted, session
from sayna.testing import decode_speech

BROKER = os.environ["SAYNA_TEST_BROKER"]

app = Celery("worker_app", broker=BROKER, backend=BROKER)
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    result_expires=600,
    # One task at a time per pool process, and a task whose worker dies is
    # delivered again instead of lost.
    worker_prefetch_multiplier=1,
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)

RATE = 16000
STT = STTConfig(
    provider="deepgram", model="nova-3", sample_rate=RATE, channels=1, encoding="linear16"
)
TTS = TTSConfig(provider="deepgram", model="aura-asteria-en", sample_rate=RATE)

# The fork case: made and used here, in the main process, before the pool forks;
# every pool process then makes its REST calls with it.
CLIENT = Sayna()
CLIENT.health()
VOICES_AT_IMPORT = len(CLIENT.get_voices())


def _sayna_threads() -> list[str]:
    return sorted(t.name for t in threading.enumerate() if t.name.startswith("sayna-"))


@app.task
def speak_rest(text: str) -> dict[str, Any]:
    """Synthesize ``text`` over REST with the module-level client; return what it says."""
    audio = CLIENT.speak_rest(text, TTS)
    return {"text": decode_speech(audio.data, RATE), "pid": os.getpid()}


@app.task(autoretry_for=(SessionInterrupted,), max_retries=3, default_retry_delay=0)
def round_trip(text: str) -> dict[str, Any]:
    """Speak ``text`` in a realtime session, then transcribe that audio in the same session."""
    with session(stt_config=STT, tts_config=TTS, timeout=30) as call:
        spoken = call.say(text)
        heard = call.transcribe(spoken.data, realtime=False, timeout=30)
    return {"spoken": decode_speech(spoken.data, RATE), "heard": heard, "pid": os.getpid()}


def _listen(tag: str) -> str:
    words: list[str] = []
    with session(stt_config=STT, tts_config=TTS, stream_id=tag, timeout=30) as call:
        call.speak(f"Hello, this is {tag}.")
        for event in call.events():
            if isinstance(event, STTResultEvent) and event.is_final and event.transcript:
                words.append(event.transcript)
    # The server ended the session normally: everything was heard.
    return " ".join(words)


@app.task(bind=True, autoretry_for=(SessionInterrupted,), max_retries=3, default_retry_delay=0)
def listen(self: Any, tag: str) -> dict[str, Any]:
    """Hold a session until the server ends it; return every final transcript heard."""
    return {"tag": tag, "transcript": _listen(tag), "node": self.request.hostname}


@app.task
def listen_once(tag: str) -> dict[str, Any]:
    """As listen, without retries (for the soft-time-limit test)."""
    return {"tag": tag, "transcript": _listen(tag)}


@signals.task_postrun.connect
def _report_threads(task_id: str, **_: Any) -> None:
    """Log the sayna threads still alive once a task is over (the tests read the log)."""
    logging.getLogger("worker_app").warning("after %s sayna threads: %s", task_id, _sayna_threads())


@app.task
def sayna_threads() -> dict[str, Any]:
    """The sayna threads alive in this pool process right now."""
    return {"threads": _sayna_threads(), "pid": os.getpid()}


@app.task
def close_under_limit(tag: str) -> dict[str, Any]:
    """Hold a session until the server sends a final result, then leave the block.

    For the test whose server never answers our Close: the close waits its
    whole 2 s (not half a second), so the soft time limit strikes inside it.
    """
    from sayna._realtime import connection

    connection.CLOSE_HANDSHAKE_TIMEOUT = 30.0
    with session(stt_config=STT, tts_config=TTS, stream_id=tag, timeout=30) as call:
        call.wait_for(STTResultEvent, timeout=60)
        logging.getLogger("worker_app").warning("closing %s", tag)
    return {"tag": tag}
