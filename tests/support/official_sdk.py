"""The official async SDK (sayna-client) as the cross-check tests drive it.

The same 16 kHz linear16 mono configurations as ``speech_configs``, in the
SDK's own classes, and one spoken turn: speak, stream the audio back, hear it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sayna_client import SaynaClient, STTConfig, TTSConfig

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


async def spoken_turn(
    client: SaynaClient, text: str, *, timeout: float
) -> tuple[list[Any], bytes, list[Any]]:
    """Connect, speak ``text``, send its audio back; the ready messages, the audio, the STT results.

    Each wait (ready, playback complete, end of the turn) has ``timeout`` seconds.
    The caller closes the client.
    """
    ready, complete, turn_end = asyncio.Event(), asyncio.Event(), asyncio.Event()
    audio = bytearray()
    ready_messages: list[Any] = []
    results: list[Any] = []

    def on_ready(message: Any) -> None:
        ready_messages.append(message)
        ready.set()

    def on_stt(message: Any) -> None:
        results.append(message)
        if message.is_speech_final:
            turn_end.set()

    client.register_on_ready(on_ready)
    client.register_on_tts_audio(audio.extend)
    client.register_on_tts_playback_complete(lambda _: complete.set())
    client.register_on_stt_result(on_stt)
    await client.connect()  # returns before ready
    await asyncio.wait_for(ready.wait(), timeout)
    await client.speak(text)
    await asyncio.wait_for(complete.wait(), timeout)
    pcm = bytes(audio)
    for start in range(0, len(pcm), 3200):
        await client.on_audio_input(pcm[start : start + 3200])
    await asyncio.wait_for(turn_end.wait(), timeout)
    return ready_messages, pcm, results
