"""Pushing speech-to-text results from the local server, as a caller's speech would produce.

Until the local server plays a scripted caller itself, the conversation tests
push the frames a provider sends: interim results as words arrive, a final
result per segment and the end-of-turn marker (docs/protocol.rst §5.2).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest

from sayna import Sayna, Session
from sayna.testing import FakeServer, FakeSession
from tests.support.speech_configs import STT, TTS_16K

__all__ = ["interim", "open_call", "say_turn", "stt_frame"]


def stt_frame(text: str, *, final: bool = False, speech_final: bool = False) -> dict[str, Any]:
    """One ``stt_result`` frame."""
    return {
        "type": "stt_result",
        "transcript": text,
        "is_final": final,
        "is_speech_final": speech_final,
        "confidence": 0.9,
    }


def interim(fake: FakeSession, text: str) -> None:
    """An interim result (the caller is still speaking)."""
    fake.send_event(stt_frame(text))


def say_turn(fake: FakeSession, *segments: str, interims: bool = True) -> None:
    """A whole turn: per segment its growing interim results and a final; then the marker."""
    for segment in segments:
        if interims:
            words = segment.split()
            for count in range(1, len(words) + 1):
                fake.send_event(stt_frame(" ".join(words[:count])))
        fake.send_event(stt_frame(segment, final=True))
    fake.send_event(stt_frame("", speech_final=True))


@contextlib.contextmanager
def open_call(
    server: FakeServer, request: pytest.FixtureRequest
) -> Iterator[tuple[Session, FakeSession]]:
    """A session on ``server`` and its server side."""
    marker = request.node.get_closest_marker("connect")
    keywords = {"stt_config": STT, "tts_config": TTS_16K, **(marker.kwargs if marker else {})}
    with Sayna(server.url) as client, client.connect(**keywords) as session:
        session.turns()  # turns are kept from here on, as a conversation would start
        yield session, server.wait_for_session()
