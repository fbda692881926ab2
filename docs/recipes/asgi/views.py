"""views.py of a Django project served by an ASGI server (uvicorn, daphne, hypercorn).

``sayna`` blocks, so an ``async def`` view hands each call to a worker thread
with ``asyncio.to_thread``: the event loop keeps serving other requests while
the call waits on the network. One client serves every request; it is
thread-safe, and its connection pool is shared by the threads.
"""

import asyncio
import functools

from django.http import HttpRequest, HttpResponse, JsonResponse

from sayna import Sayna, SaynaError, STTConfig, TTSConfig

VOICE = TTSConfig(provider="deepgram", model="aura-asteria-en", sample_rate=16000)
HEARING = STTConfig(
    provider="deepgram", model="nova-3", sample_rate=16000, channels=1, encoding="linear16"
)


@functools.cache
def sayna_client() -> Sayna:
    return Sayna(timeout=10)  # SAYNA_URL and SAYNA_API_KEY from the environment


async def voices(request: HttpRequest) -> JsonResponse:
    """A REST call: the providers and how many voices each has."""
    try:
        by_provider = await asyncio.to_thread(sayna_client().get_voices)
    except SaynaError:
        return JsonResponse({"error": "voice service unavailable"}, status=502)
    return JsonResponse({name: len(found) for name, found in by_provider.items()})


def _greet(name: str) -> bytes:
    # The whole session runs in the worker thread: connect, speak, close.
    with sayna_client().connect(stt_config=HEARING, tts_config=VOICE, timeout=10) as session:
        return session.say(f"Hello {name}, thanks for calling.", timeout=10).data


async def greeting(request: HttpRequest) -> HttpResponse:
    """A short realtime session: the greeting's audio (16 kHz linear16)."""
    name = request.GET.get("name", "there")
    try:
        audio = await asyncio.to_thread(_greet, name)
    except SaynaError:
        return JsonResponse({"error": "voice service unavailable"}, status=502)
    return HttpResponse(audio, content_type="audio/L16; rate=16000; channels=1")
