"""Ours: ``sayna``, through its public API only.

"Iterator" is ``for event in session.events()`` on the calling thread; "callback"
is ``session.on(EventType, fn)``, run on the session's dispatcher thread.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from _common import (
    API_KEY,
    CHUNK,
    CLEAR_ID,
    CONNECT_ID,
    CONVERSATION_ID,
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

from sayna import (
    Sayna,
    Session,
    STTConfig,
    STTResultEvent,
    TTSAudioEvent,
    TTSConfig,
    TTSPlaybackCompleteEvent,
    Turn,
    converse,
)

_clients: dict[str, Sayna] = {}


def _client(url: str) -> Sayna:
    # One client per server, as an application holds one (pooled HTTP, shared settings).
    client = _clients.get(url)
    if client is None:
        client = _clients[url] = Sayna(url, api_key=API_KEY)
    return client


def open_ready(url: str, stream_id: str) -> Session:
    return _client(url).connect(
        stt_config=STTConfig(**STT), tts_config=TTSConfig(**TTS), stream_id=stream_id
    )


def _events(url: str, n: int, mode: str, watch: RSSWatch | None = None) -> dict[str, Any]:
    session = open_ready(url, events_id(n))
    try:
        if watch is not None:
            watch.start()
        count = 0
        if mode.endswith("iter"):
            slow = mode == "slow_iter"
            events = session.events()
            start = time.perf_counter()
            session.on_audio_input(CHUNK)
            for event in events:
                if event.__class__ is STTResultEvent:
                    count += 1
                    if slow and count % 100 == 0:
                        time.sleep(0.001)
                    if event.is_speech_final:
                        break
        else:
            done = threading.Event()
            seen = [0]

            def on_stt(event: STTResultEvent) -> None:
                seen[0] += 1
                if event.is_speech_final:
                    done.set()

            session.on(STTResultEvent, on_stt)
            start = time.perf_counter()
            session.on_audio_input(CHUNK)
            done.wait()
            count = seen[0]
        elapsed = time.perf_counter() - start
        memory = watch.stop() if watch is not None else {}
    finally:
        session.close()
    return {"seconds": elapsed, "count": count, "expected": n, **memory}


def events(url: str, n: int, mode: str) -> dict[str, Any]:
    return _events(url, n, mode)


def tts(url: str, frames: int, size: int, mode: str) -> dict[str, Any]:
    session = open_ready(url, tts_id(frames, size))
    got = [0, 0]
    try:
        if mode == "iter":
            events = session.events()
            start = time.perf_counter()
            session.speak("benchmark")
            for event in events:
                if event.__class__ is TTSAudioEvent:
                    got[0] += len(event.data)
                    got[1] += 1
                elif event.__class__ is TTSPlaybackCompleteEvent:
                    break
        else:
            done = threading.Event()

            def on_audio(event: TTSAudioEvent) -> None:
                got[0] += len(event.data)
                got[1] += 1

            session.on(TTSAudioEvent, on_audio)
            session.on(TTSPlaybackCompleteEvent, lambda event: done.set())
            start = time.perf_counter()
            session.speak("benchmark")
            done.wait()
        elapsed = time.perf_counter() - start
    finally:
        session.close()
    return {"seconds": elapsed, "count": got[0], "expected": frames * size, "frames": got[1]}


def upload(url: str, frames: int, size: int, then_clear: bool = False) -> dict[str, Any]:
    """FRAMES audio frames (then ``clear``: issue #26's row) until the server's count."""
    total = frames * size
    chunk = (CHUNK * (size // len(CHUNK) + 1))[:size]
    session = open_ready(url, CLEAR_ID if then_clear else upload_id(total))
    try:
        events = session.events()
        start = time.perf_counter()
        send = session.on_audio_input
        for _ in range(frames):
            send(chunk)
        if then_clear:
            session.clear()
        acked = 0
        for event in events:
            if event.__class__ is STTResultEvent:
                acked = int(event.transcript.split()[1])
                break
        elapsed = time.perf_counter() - start
    finally:
        session.close()
    return {"seconds": elapsed, "count": acked, "expected": total}


def rtt(url: str, rounds: int) -> dict[str, Any]:
    session = open_ready(url, RTT_ID)
    samples = []
    try:
        events = session.events()
        for _ in range(rounds):
            start = time.perf_counter()
            session.speak("benchmark")
            first = None
            for event in events:
                if event.__class__ is TTSAudioEvent:
                    if first is None:
                        first = time.perf_counter() - start
                elif event.__class__ is TTSPlaybackCompleteEvent:
                    break
            if first is not None:
                samples.append(first)
    finally:
        session.close()
    return {
        "p50": percentile(samples, 50),
        "p99": percentile(samples, 99),
        "count": len(samples),
        "expected": rounds,
    }


def conversation(url: str, rounds: int) -> dict[str, Any]:
    """The conversation layer's own latency, on timestamps taken inside the client.

    respond: from the reader reading the caller's end of turn to our ``speak``
    frame written, through ``converse`` with a ``respond`` that returns at
    once. clear: from the reader reading an interrupting interim result to
    ``clear`` written (barge-in). The one look inside: the connection's read
    time and its send method, which public API cannot time.
    """
    session = _client(url).connect(
        stt_config=STTConfig(**STT),
        tts_config=TTSConfig(**TTS),
        stream_id=CONVERSATION_ID,
        barge_in=True,
    )
    connection = session._core.connection
    guard = session._core.barge_in
    assert connection is not None
    assert guard is not None
    arrived: list[float] = []
    sent: list[float] = []
    send_raw = connection.send_raw

    def timed_send(data: Any, audio: int = 0) -> None:
        send_raw(data, audio)
        sent.append(time.monotonic())

    def respond(turn: Turn) -> str:
        arrived.append(connection.last_inbound)
        return "Fine."

    try:
        connection.send_raw = timed_send  # type: ignore[method-assign]
        result = converse(session, respond, greeting="Hello.", max_turns=rounds, timeout=600)
        connection.send_raw = send_raw  # type: ignore[method-assign]
        # The first send after each arrival is that turn's speak (the greeting came before).
        respond_s = []
        for at in arrived:
            after = [t for t in sent if t >= at]
            if after:
                respond_s.append(after[0] - at)
        clear_s = []
        for _ in range(rounds):
            audio = session.say("barge in on this", timeout=10)
            if audio.interrupted and guard.last_reaction is not None:
                clear_s.append(guard.last_reaction)
            session.listen(timeout=10)  # the interruption's turn
    finally:
        session.close()
    return {
        "respond_p50": percentile(respond_s, 50),
        "respond_p99": percentile(respond_s, 99),
        "clear_p50": percentile(clear_s, 50),
        "clear_p99": percentile(clear_s, 99),
        "count": min(len(respond_s), len(clear_s)),
        "expected": rounds,
        "ended_by": result.ended_by,
    }


def push(url: str, n: int) -> dict[str, Any]:
    """Issue #26: connect, then N pushed ``stt_result`` read by ``events()`` to the completion."""
    start = time.perf_counter()
    session = open_ready(url, push_id(n))
    count = 0
    try:
        for event in session.events():
            if event.__class__ is STTResultEvent:
                count += 1
            elif event.__class__ is TTSPlaybackCompleteEvent:
                break
        elapsed = time.perf_counter() - start
    finally:
        session.close()
    return {"seconds": elapsed, "count": count, "expected": n}


def rtt_done(url: str, rounds: int, size: int) -> dict[str, Any]:
    """Issue #26: ``speak`` until its one SIZE-byte frame and the completion are read."""
    session = open_ready(url, tts_id(1, size))
    samples = []
    try:
        events = session.events()
        for _ in range(rounds):
            start = time.perf_counter()
            session.speak("benchmark")
            got = 0
            for event in events:
                if event.__class__ is TTSAudioEvent:
                    got += len(event.data)
                elif event.__class__ is TTSPlaybackCompleteEvent:
                    break
            if got == size:
                samples.append(time.perf_counter() - start)
    finally:
        session.close()
    return {"p50": percentile(samples, 50), "count": len(samples), "expected": rounds}


def many_push(url: str, sessions: int, n: int) -> dict[str, Any]:
    """Issue #26: sessions opened one after another, N pushed events each, one ``on_any``."""
    open_ready(url, CONNECT_ID).close()
    settled_rss_bytes()
    watch = RSSWatch()
    watch.start()
    cpu0 = cpu_seconds()
    opened: list[Session] = []
    counts = [0] * sessions
    remaining = threading.Semaphore(0)
    connect_s = 0.0
    try:
        for i in range(sessions):
            start = time.perf_counter()
            session = open_ready(url, push_id(n))
            connect_s += time.perf_counter() - start
            opened.append(session)

            def on_any(event: Any, i: int = i) -> None:
                cls = event.__class__
                if cls is STTResultEvent:
                    counts[i] += 1
                elif cls is TTSPlaybackCompleteEvent:
                    remaining.release()

            session.on_any(on_any)
        for _ in range(sessions):
            remaining.acquire()
        cpu = cpu_seconds() - cpu0
        memory = watch.stop()
    finally:
        for session in opened:
            session.close()
    return many_result(sessions, n, counts, cpu, connect_s, memory)


def rest(url: str, n: int, trust_env: bool = True) -> dict[str, Any]:
    # trust_env is the plain-requests baseline's setting; the client is used as shipped.
    client = Sayna(url, api_key=API_KEY)
    tts_config = TTSConfig(**TTS)
    ok = 0
    try:
        start = time.perf_counter()
        for _ in range(n):
            ok += client.health().status == "OK"
        health_s = time.perf_counter() - start
        start = time.perf_counter()
        for _ in range(n):
            audio, headers = client.speak_rest("benchmark", tts_config)
            ok += len(audio) > 0 and headers["x-sample-rate"] == "24000"
        speak_s = time.perf_counter() - start
    finally:
        client.close()
    return rest_result(health_s, speak_s, ok, n)


def rss(url: str, n: int, mode: str) -> dict[str, Any]:
    # A first small session outside the window: lazy imports and hooks are not growth.
    _events(url, min(n, 1000), "iter" if mode == "slow_iter" else mode)
    return _events(url, n, mode, RSSWatch())


def concurrent(url: str, sessions: int, n: int) -> dict[str, Any]:
    # One session outside the window: imports and the client's pools are not per session.
    open_ready(url, CONNECT_ID).close()
    rss0, threads0, cpu_start = settled_rss_bytes(), thread_count(), cpu_seconds()
    opened: list[Session] = []
    counts = [0] * sessions
    remaining = threading.Semaphore(0)
    try:
        for i in range(sessions):
            session = open_ready(url, events_id(n))
            opened.append(session)

            def on_stt(event: STTResultEvent, i: int = i) -> None:
                counts[i] += 1
                if event.is_speech_final:
                    remaining.release()

            session.on(STTResultEvent, on_stt)
        held = held_per_session(sessions, rss0, threads0, cpu_start, cpu_seconds())
        threads_now = thread_count()
        cpu0, start = cpu_seconds(), time.perf_counter()
        for session in opened:
            session.on_audio_input(CHUNK)
        for _ in range(sessions):
            remaining.acquire()
        end_cpu = cpu_seconds()
        elapsed, cpu = time.perf_counter() - start, end_cpu - cpu0
    finally:
        for session in opened:
            session.close()
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


def connect(url: str, rounds: int) -> dict[str, Any]:
    samples = []
    client = _client(url)
    stt, tts = STTConfig(**STT), TTSConfig(**TTS)
    cpu = 0.0
    for _ in range(rounds):
        cpu0, start = cpu_seconds(), time.perf_counter()
        session = client.connect(stt_config=stt, tts_config=tts, stream_id=CONNECT_ID)
        samples.append(time.perf_counter() - start)
        cpu += cpu_seconds() - cpu0
        session.close()
    return {
        "cpu_per_connect_ms": cpu / rounds * 1e3,
        "p50": percentile(samples, 50),
        "p99": percentile(samples, 99),
        "count": len(samples),
        "expected": rounds,
    }
