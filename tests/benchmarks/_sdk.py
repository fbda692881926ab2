"""The async SDK, ``sayna-client`` 0.0.18 (aiohttp), driven the way its docs show.

Its ``connect()`` returns before ``ready``, so every scenario waits for the
``register_on_ready`` callback first. It has callbacks only (one per type, run
inline by its receive task); its "iterator" here is the asyncio idiom, an async
callback that awaits ``put`` on a bounded ``asyncio.Queue`` (the same bound as
our session's default buffer) drained by a consumer loop.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from _common import (
    API_KEY,
    CHUNK,
    CLEAR_ID,
    CONNECT_ID,
    RTT_ID,
    STT,
    TTS,
    RSSWatch,
    cpu_seconds,
    events_id,
    held_per_session,
    many_result,
    percentile,
    push_id,
    rest_result,
    settled_rss_bytes,
    thread_count,
    tts_id,
    upload_id,
)
from sayna_client import SaynaClient, STTConfig, TTSConfig

QUEUE_BOUND = 10_000


def _client(url: str, stream_id: str) -> SaynaClient:
    return SaynaClient(
        url,
        stt_config=STTConfig(**STT),
        tts_config=TTSConfig(**TTS),
        api_key=API_KEY,
        stream_id=stream_id,
    )


async def _ready(client: SaynaClient) -> SaynaClient:
    ready = asyncio.get_running_loop().create_future()
    client.register_on_ready(lambda m: ready.done() or ready.set_result(m))
    await client.connect()
    await asyncio.wait_for(ready, 30)
    return client


async def open_ready(url: str, stream_id: str) -> SaynaClient:
    return await _ready(_client(url, stream_id))


def _queue_into(client: SaynaClient, names: tuple[str, ...]) -> asyncio.Queue[Any]:
    queue: asyncio.Queue[Any] = asyncio.Queue(QUEUE_BOUND)

    async def put(message: Any) -> None:
        await queue.put(message)

    for name in names:
        getattr(client, f"register_on_{name}")(put)
    return queue


async def _events(url: str, n: int, mode: str, watch: RSSWatch | None = None) -> dict[str, Any]:
    client = await open_ready(url, events_id(n))
    slow = mode == "slow_iter"
    try:
        if watch is not None:
            watch.start()
        count = 0
        if mode.endswith("iter"):
            queue = _queue_into(client, ("stt_result",))
            start = time.perf_counter()
            await client.on_audio_input(CHUNK)
            while True:
                message = await queue.get()
                count += 1
                if slow and count % 100 == 0:
                    await asyncio.sleep(0.001)
                if message.is_speech_final:
                    break
        else:
            done = asyncio.get_running_loop().create_future()
            seen = [0]

            def on_stt(message: Any) -> None:
                seen[0] += 1
                if message.is_speech_final:
                    done.set_result(None)

            client.register_on_stt_result(on_stt)
            start = time.perf_counter()
            await client.on_audio_input(CHUNK)
            await done
            count = seen[0]
        elapsed = time.perf_counter() - start
        memory = watch.stop() if watch is not None else {}
    finally:
        await client.disconnect()
    return {"seconds": elapsed, "count": count, "expected": n, **memory}


def events(url: str, n: int, mode: str) -> dict[str, Any]:
    return asyncio.run(_events(url, n, mode))


async def _tts(url: str, frames: int, size: int, mode: str) -> dict[str, Any]:
    client = await open_ready(url, tts_id(frames, size))
    got = [0, 0]
    try:
        if mode == "iter":
            queue = _queue_into(client, ("tts_audio", "tts_playback_complete"))
            start = time.perf_counter()
            await client.speak("benchmark")
            while True:
                message = await queue.get()
                if message.__class__ is bytes:
                    got[0] += len(message)
                    got[1] += 1
                else:
                    break
        else:
            done = asyncio.get_running_loop().create_future()

            def on_audio(data: bytes) -> None:
                got[0] += len(data)
                got[1] += 1

            client.register_on_tts_audio(on_audio)
            client.register_on_tts_playback_complete(lambda m: done.set_result(None))
            start = time.perf_counter()
            await client.speak("benchmark")
            await done
        elapsed = time.perf_counter() - start
    finally:
        await client.disconnect()
    return {"seconds": elapsed, "count": got[0], "expected": frames * size, "frames": got[1]}


def tts(url: str, frames: int, size: int, mode: str) -> dict[str, Any]:
    return asyncio.run(_tts(url, frames, size, mode))


async def _upload(url: str, frames: int, size: int, then_clear: bool) -> dict[str, Any]:
    total = frames * size
    chunk = (CHUNK * (size // len(CHUNK) + 1))[:size]
    client = await open_ready(url, CLEAR_ID if then_clear else upload_id(total))
    try:
        acked = asyncio.get_running_loop().create_future()
        client.register_on_stt_result(lambda m: acked.set_result(int(m.transcript.split()[1])))
        start = time.perf_counter()
        send = client.on_audio_input
        for _ in range(frames):
            await send(chunk)
        if then_clear:
            await client.clear()
        count = await acked
        elapsed = time.perf_counter() - start
    finally:
        await client.disconnect()
    return {"seconds": elapsed, "count": count, "expected": total}


def upload(url: str, frames: int, size: int, then_clear: bool = False) -> dict[str, Any]:
    """FRAMES audio frames (then ``clear``: issue #26's row) until the server's count."""
    return asyncio.run(_upload(url, frames, size, then_clear))


async def _rtt(url: str, rounds: int) -> dict[str, Any]:
    client = await open_ready(url, RTT_ID)
    loop = asyncio.get_running_loop()
    samples = []
    state: dict[str, Any] = {}

    def on_audio(data: bytes) -> None:
        first = state["first"]
        if not first.done():
            first.set_result(time.perf_counter())

    def on_complete(message: Any) -> None:
        state["complete"].set_result(None)

    client.register_on_tts_audio(on_audio)
    client.register_on_tts_playback_complete(on_complete)
    try:
        for _ in range(rounds):
            state["first"] = loop.create_future()
            state["complete"] = loop.create_future()
            start = time.perf_counter()
            await client.speak("benchmark")
            samples.append(await state["first"] - start)
            await state["complete"]
    finally:
        await client.disconnect()
    return {
        "p50": percentile(samples, 50),
        "p99": percentile(samples, 99),
        "count": len(samples),
        "expected": rounds,
    }


def rtt(url: str, rounds: int) -> dict[str, Any]:
    return asyncio.run(_rtt(url, rounds))


async def _push(url: str, n: int) -> dict[str, Any]:
    start = time.perf_counter()
    client = _client(url, push_id(n))
    queue: asyncio.Queue[Any] = asyncio.Queue(QUEUE_BOUND)

    async def put(message: Any) -> None:
        await queue.put(message)

    async def put_end(message: Any) -> None:
        await queue.put(None)

    client.register_on_stt_result(put)
    client.register_on_tts_playback_complete(put_end)
    count = 0
    try:
        await _ready(client)
        while await queue.get() is not None:
            count += 1
        elapsed = time.perf_counter() - start
    finally:
        await client.disconnect()
    return {"seconds": elapsed, "count": count, "expected": n}


def push(url: str, n: int) -> dict[str, Any]:
    """Issue #26: connect, then N pushed ``stt_result`` through a queue to the completion."""
    return asyncio.run(_push(url, n))


async def _rtt_done(url: str, rounds: int, size: int) -> dict[str, Any]:
    client = await open_ready(url, tts_id(1, size))
    loop = asyncio.get_running_loop()
    samples = []
    state: dict[str, Any] = {"got": 0}

    def on_audio(data: bytes) -> None:
        state["got"] += len(data)

    def on_complete(message: Any) -> None:
        state["complete"].set_result(None)

    client.register_on_tts_audio(on_audio)
    client.register_on_tts_playback_complete(on_complete)
    try:
        for _ in range(rounds):
            state["complete"] = loop.create_future()
            state["got"] = 0
            start = time.perf_counter()
            await client.speak("benchmark")
            await state["complete"]
            if state["got"] == size:
                samples.append(time.perf_counter() - start)
    finally:
        await client.disconnect()
    return {"p50": percentile(samples, 50), "count": len(samples), "expected": rounds}


def rtt_done(url: str, rounds: int, size: int) -> dict[str, Any]:
    return asyncio.run(_rtt_done(url, rounds, size))


async def _many_push(url: str, sessions: int, n: int) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    await (await open_ready(url, CONNECT_ID)).disconnect()
    settled_rss_bytes()
    watch = RSSWatch()
    watch.start()
    cpu0 = cpu_seconds()
    clients = []
    dones = []
    counts = [0] * sessions
    connect_s = 0.0
    try:
        for i in range(sessions):
            start = time.perf_counter()
            client = _client(url, push_id(n))
            done = loop.create_future()
            dones.append(done)

            # The SDK has no catch-all registration: one function under both names.
            def on_any(message: Any, i: int = i, done: asyncio.Future[None] = done) -> None:
                if hasattr(message, "transcript"):
                    counts[i] += 1
                else:
                    done.set_result(None)

            client.register_on_stt_result(on_any)
            client.register_on_tts_playback_complete(on_any)
            await _ready(client)
            connect_s += time.perf_counter() - start
            clients.append(client)
        await asyncio.gather(*dones)
        cpu = cpu_seconds() - cpu0
        memory = watch.stop()
    finally:
        for client in clients:
            await client.disconnect()
    return many_result(sessions, n, counts, cpu, connect_s, memory)


def many_push(url: str, sessions: int, n: int) -> dict[str, Any]:
    return asyncio.run(_many_push(url, sessions, n))


async def _rest(url: str, n: int) -> dict[str, Any]:
    client = _client(url, CONNECT_ID)
    tts_config = TTSConfig(**TTS)
    ok = 0
    try:
        start = time.perf_counter()
        for _ in range(n):
            ok += (await client.health()).status == "OK"
        health_s = time.perf_counter() - start
        start = time.perf_counter()
        for _ in range(n):
            audio, headers = await client.speak_rest("benchmark", tts_config)
            ok += len(audio) > 0 and headers["x-sample-rate"] == "24000"
        speak_s = time.perf_counter() - start
    finally:
        await client._http_client.close()  # what disconnect() would do; no socket here
    return rest_result(health_s, speak_s, ok, n)


def rest(url: str, n: int, trust_env: bool = True) -> dict[str, Any]:
    # trust_env is the plain-requests baseline's setting; the SDK is used as shipped.
    return asyncio.run(_rest(url, n))


def rss(url: str, n: int, mode: str) -> dict[str, Any]:
    async def run() -> dict[str, Any]:
        # A first small session outside the window: lazy imports and hooks are not growth.
        await _events(url, min(n, 1000), "iter" if mode == "slow_iter" else mode)
        return await _events(url, n, mode, RSSWatch())

    return asyncio.run(run())


async def _concurrent(url: str, sessions: int, n: int) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    # One session outside the window: imports and lazily built state are not per session.
    await (await open_ready(url, CONNECT_ID)).disconnect()
    rss0, threads0, cpu_start = settled_rss_bytes(), thread_count(), cpu_seconds()
    clients = []
    dones = []
    counts = [0] * sessions
    try:
        for i in range(sessions):
            client = await open_ready(url, events_id(n))
            clients.append(client)
            done = loop.create_future()
            dones.append(done)

            def on_stt(message: Any, i: int = i, done: asyncio.Future[None] = done) -> None:
                counts[i] += 1
                if message.is_speech_final:
                    done.set_result(None)

            client.register_on_stt_result(on_stt)
        held = held_per_session(sessions, rss0, threads0, cpu_start, cpu_seconds())
        threads_now = thread_count()
        cpu0, start = cpu_seconds(), time.perf_counter()
        for client in clients:
            await client.on_audio_input(CHUNK)
        await asyncio.gather(*dones)
        end_cpu = cpu_seconds()
        elapsed, cpu = time.perf_counter() - start, end_cpu - cpu0
    finally:
        for client in clients:
            await client.disconnect()
    total = sum(counts)
    return {
        "cpu_per_event_us": cpu / max(total, 1) * 1e6,
        "cpu_per_event_all_us": (end_cpu - cpu_start) / max(total, 1) * 1e6,
        "seconds": elapsed,
        "threads": threads_now,
        "count": total,
        "expected": sessions * n,
        **held,
    }


def concurrent(url: str, sessions: int, n: int) -> dict[str, Any]:
    return asyncio.run(_concurrent(url, sessions, n))


async def _connect(url: str, rounds: int) -> dict[str, Any]:
    samples = []
    cpu = 0.0
    for _ in range(rounds):
        cpu0 = cpu_seconds()
        client = _client(url, CONNECT_ID)
        start = time.perf_counter()
        await _ready(client)
        samples.append(time.perf_counter() - start)
        cpu += cpu_seconds() - cpu0
        await client.disconnect()
    return {
        "cpu_per_connect_ms": cpu / rounds * 1e3,
        "p50": percentile(samples, 50),
        "p99": percentile(samples, 99),
        "count": len(samples),
        "expected": rounds,
    }


def connect(url: str, rounds: int) -> dict[str, Any]:
    return asyncio.run(_connect(url, rounds))
