"""The official async SDK (sayna-client) is recorded through the proxy and replays unchanged."""

from __future__ import annotations

import asyncio
import pathlib
from typing import Any

from sayna_client import SaynaClient

from sayna.testing import FakeServer, RecordingProxy, decode_speech
from tests.support.official_sdk import STT, TTS, spoken_turn
from tests.support.server_helpers import wait_until

KEY = "sk-sdk-NOT-IN-CASSETTE"


async def _drive(url: str) -> dict[str, Any]:
    """REST synthesis, then a realtime turn: speak, stream the audio back, hear it."""
    client = SaynaClient(url, STT, TTS, api_key=KEY, stream_id="sdk-cassette")
    try:
        rest_audio, _ = await client.speak_rest("Recorded once.", TTS)
        _, pcm, results = await spoken_turn(client, "Replayed forever.", timeout=10)
        transcripts = [(r.transcript, r.is_final, r.is_speech_final) for r in results]
        return {"rest": rest_audio, "tts": pcm, "stt": transcripts}
    finally:
        await client.disconnect()


def test_the_async_sdk_replays_unchanged(tmp_path: pathlib.Path) -> None:
    """The same SDK code gets the same audio and transcripts from the replay, with no mismatch."""
    path = tmp_path / "sdk.jsonl"
    with (
        FakeServer(api_keys={KEY: "tenant-a"}, tts_speedup=0) as upstream,
        RecordingProxy(upstream.url, path) as proxy,
    ):
        recorded = asyncio.run(_drive(proxy.url))
    assert decode_speech(recorded["tts"], 16000) == "Replayed forever."
    assert KEY.encode() not in path.read_bytes()
    with FakeServer(cassette=path) as replay:
        replayed = asyncio.run(_drive(replay.url))
        wait_until(lambda: all(s.closed.is_set() for s in replay.sessions))
        assert replay.cassette_mismatches == []
    assert replayed == recorded
    assert ("Replayed forever.", True, False) in replayed["stt"]
