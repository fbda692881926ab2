"""The official async SDK (sayna-client) is recorded through the proxy and replays unchanged."""

from __future__ import annotations

import asyncio
import pathlib
from typing import Any

from sayna_client import SaynaClient, STTConfig, TTSConfig
from server_helpers import wait_until

from sayna.testing import FakeServer, RecordingProxy, decode_speech

KEY = "sk-sdk-NOT-IN-CASSETTE"
STT = STTConfig(
    provider="deepgram",
    language="en-US",
    sample_rate=16000,
    channels=1,
    punctuation=True,
    encoding="linear16",
    model="nova-3",
)
TTS = TTSConfig(
    provider="deepgram",
    model="aura-asteria-en",
    voice_id="aura-asteria-en",
    audio_format="linear16",
    sample_rate=16000,
)


async def _drive(url: str) -> dict[str, Any]:
    """REST synthesis, then a realtime turn: speak, stream the audio back, hear it."""
    client = SaynaClient(url, STT, TTS, api_key=KEY, stream_id="sdk-cassette")
    ready, complete, turn_end = asyncio.Event(), asyncio.Event(), asyncio.Event()
    audio = bytearray()
    transcripts: list[tuple[str, bool, bool]] = []

    def on_stt(message: Any) -> None:
        transcripts.append((message.transcript, message.is_final, message.is_speech_final))
        if message.is_speech_final:
            turn_end.set()

    client.register_on_ready(lambda _: ready.set())
    client.register_on_tts_audio(audio.extend)
    client.register_on_tts_playback_complete(lambda _: complete.set())
    client.register_on_stt_result(on_stt)
    try:
        rest_audio, _ = await client.speak_rest("Recorded once.", TTS)
        await client.connect()
        await asyncio.wait_for(ready.wait(), 10)
        await client.speak("Replayed forever.")
        await asyncio.wait_for(complete.wait(), 10)
        pcm = bytes(audio)
        for start in range(0, len(pcm), 3200):
            await client.on_audio_input(pcm[start : start + 3200])
        await asyncio.wait_for(turn_end.wait(), 10)
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
