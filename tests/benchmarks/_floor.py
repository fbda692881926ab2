"""The floor: plain websocket-client (a ``recv_data()`` loop + ``json.loads``) and plain requests.

websocket-client is set up the way the session sets it up (no UTF-8 check of its
own, since ``json.loads`` checks; no locks), so the floor is what the transport
alone costs. "Iterator" is a generator over ``recv_data()``; "callback" calls a
function from the same loop: there is no thread hand-off in either.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import requests
import websocket
from _common import (
    API_KEY,
    CHUNK,
    CLEAR_ID,
    CONNECT_ID,
    RTT_ID,
    TTS,
    RSSWatch,
    config_message,
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

_TEXT = websocket.ABNF.OPCODE_TEXT
_BINARY = websocket.ABNF.OPCODE_BINARY
_HEADERS = [f"Authorization: Bearer {API_KEY}"]


def _ws_url(url: str) -> str:
    return "ws" + url[4:] + "/ws"


def open_ready(url: str, stream_id: str) -> websocket.WebSocket:
    """Connect, send the config frame, read until ``ready``."""
    ws = websocket.create_connection(
        _ws_url(url),
        header=_HEADERS,
        timeout=30,
        enable_multithread=False,
        skip_utf8_validation=True,
    )
    ws.send(json.dumps(config_message(stream_id)))
    while True:
        opcode, data = ws.recv_data()
        if opcode == _TEXT:
            message = json.loads(data)
            if message["type"] == "ready":
                break
            if message["type"] == "error":
                raise RuntimeError(message["message"])
    ws.settimeout(None)
    return ws


def messages(ws: websocket.WebSocket) -> Iterator[Any]:
    """Every server message: a dict for text frames, bytes for binary frames."""
    recv = ws.recv_data
    loads = json.loads
    while True:
        opcode, data = recv()
        if opcode == _TEXT:
            yield loads(data)
        elif opcode == _BINARY:
            yield data
        else:
            return


def pump(ws: websocket.WebSocket, on_message: Callable[[Any], bool]) -> None:
    """Call ``on_message`` for every message until it returns True."""
    recv = ws.recv_data
    loads = json.loads
    while True:
        opcode, data = recv()
        if opcode == _TEXT:
            if on_message(loads(data)):
                return
        elif opcode == _BINARY:
            if on_message(data):
                return
        else:
            return


def _stt_counter(expected: int) -> tuple[list[int], Callable[[Any], bool]]:
    seen = [0]

    def on_message(message: Any) -> bool:
        if message.__class__ is dict and message["type"] == "stt_result":
            seen[0] += 1
            return message["is_speech_final"]
        return False

    return seen, on_message


def events(url: str, n: int, mode: str) -> dict[str, Any]:
    ws = open_ready(url, events_id(n))
    try:
        count = 0
        start = time.perf_counter()
        ws.send_bytes(CHUNK)
        if mode == "iter":
            for message in messages(ws):
                if message.__class__ is dict and message["type"] == "stt_result":
                    count += 1
                    if message["is_speech_final"]:
                        break
        else:
            seen, on_message = _stt_counter(n)
            pump(ws, on_message)
            count = seen[0]
        elapsed = time.perf_counter() - start
    finally:
        ws.close(timeout=1)
    return {"seconds": elapsed, "count": count, "expected": n}


def tts(url: str, frames: int, size: int, mode: str) -> dict[str, Any]:
    ws = open_ready(url, tts_id(frames, size))
    try:
        got = [0, 0]

        def on_message(message: Any) -> bool:
            if message.__class__ is bytes:
                got[0] += len(message)
                got[1] += 1
                return False
            return message["type"] == "tts_playback_complete"

        start = time.perf_counter()
        ws.send(json.dumps({"type": "speak", "text": "benchmark"}))
        if mode == "iter":
            for message in messages(ws):
                if on_message(message):
                    break
        else:
            pump(ws, on_message)
        elapsed = time.perf_counter() - start
    finally:
        ws.close(timeout=1)
    return {"seconds": elapsed, "count": got[0], "expected": frames * size, "frames": got[1]}


def upload(url: str, frames: int, size: int, then_clear: bool = False) -> dict[str, Any]:
    """FRAMES audio frames (then ``clear``: issue #26's row) until the server's count."""
    total = frames * size
    chunk = (CHUNK * (size // len(CHUNK) + 1))[:size]
    ws = open_ready(url, CLEAR_ID if then_clear else upload_id(total))
    try:
        start = time.perf_counter()
        send_bytes = ws.send_bytes
        for _ in range(frames):
            send_bytes(chunk)
        if then_clear:
            ws.send(json.dumps({"type": "clear"}))
        acked = 0
        for message in messages(ws):
            if message.__class__ is dict and message["type"] == "stt_result":
                acked = int(message["transcript"].split()[1])
                break
        elapsed = time.perf_counter() - start
    finally:
        ws.close(timeout=1)
    return {"seconds": elapsed, "count": acked, "expected": total}


def rtt(url: str, rounds: int) -> dict[str, Any]:
    ws = open_ready(url, RTT_ID)
    samples = []
    speak = json.dumps({"type": "speak", "text": "benchmark"})
    try:
        it = messages(ws)
        for _ in range(rounds):
            start = time.perf_counter()
            ws.send(speak)
            first = None
            for message in it:
                if message.__class__ is bytes:
                    if first is None:
                        first = time.perf_counter() - start
                elif message["type"] == "tts_playback_complete":
                    break
            if first is not None:
                samples.append(first)
    finally:
        ws.close(timeout=1)
    return {
        "p50": percentile(samples, 50),
        "p99": percentile(samples, 99),
        "count": len(samples),
        "expected": rounds,
    }


def push(url: str, n: int) -> dict[str, Any]:
    """Issue #26: connect, then N pushed ``stt_result`` read to the completion."""
    start = time.perf_counter()
    ws = open_ready(url, push_id(n))
    count = 0
    try:
        for message in messages(ws):
            if message.__class__ is dict:
                if message["type"] == "stt_result":
                    count += 1
                elif message["type"] == "tts_playback_complete":
                    break
        elapsed = time.perf_counter() - start
    finally:
        ws.close(timeout=1)
    return {"seconds": elapsed, "count": count, "expected": n}


def rtt_done(url: str, rounds: int, size: int) -> dict[str, Any]:
    ws = open_ready(url, tts_id(1, size))
    samples = []
    speak = json.dumps({"type": "speak", "text": "benchmark"})
    try:
        it = messages(ws)
        for _ in range(rounds):
            start = time.perf_counter()
            ws.send(speak)
            got = 0
            for message in it:
                if message.__class__ is bytes:
                    got += len(message)
                elif message["type"] == "tts_playback_complete":
                    break
            if got == size:
                samples.append(time.perf_counter() - start)
    finally:
        ws.close(timeout=1)
    return {"p50": percentile(samples, 50), "count": len(samples), "expected": rounds}


def many_push(url: str, sessions: int, n: int) -> dict[str, Any]:
    """One reader thread per connection, started after ready, as WebSocketApp does it."""
    open_ready(url, CONNECT_ID).close(timeout=1)
    settled_rss_bytes()
    watch = RSSWatch()
    watch.start()
    cpu0 = cpu_seconds()
    sockets: list[websocket.WebSocket] = []
    counts = [0] * sessions
    remaining = threading.Semaphore(0)
    connect_s = 0.0

    def reader(i: int, ws: websocket.WebSocket) -> None:
        def on_message(message: Any) -> bool:
            if message.__class__ is dict:
                if message["type"] == "stt_result":
                    counts[i] += 1
                elif message["type"] == "tts_playback_complete":
                    remaining.release()
            return False

        try:
            pump(ws, on_message)
        except Exception:  # the socket closed under it at the end
            return

    try:
        for i in range(sessions):
            start = time.perf_counter()
            ws = open_ready(url, push_id(n))
            connect_s += time.perf_counter() - start
            sockets.append(ws)
            threading.Thread(target=reader, args=(i, ws), daemon=True).start()
        for _ in range(sessions):
            remaining.acquire()
        cpu = cpu_seconds() - cpu0
        memory = watch.stop()
    finally:
        for ws in sockets:
            ws.close(timeout=1)
    return many_result(sessions, n, counts, cpu, connect_s, memory)


def rest(url: str, n: int, trust_env: bool = True) -> dict[str, Any]:
    http = requests.Session()
    # Issue 26 measures against a session that skips the per-request environment
    # lookups (proxies, netrc, CA bundle variables) requests does by default.
    http.trust_env = trust_env
    http.headers["Authorization"] = f"Bearer {API_KEY}"
    ok = 0
    try:
        start = time.perf_counter()
        for _ in range(n):
            r = http.get(url + "/", timeout=30)
            r.raise_for_status()
            ok += r.json()["status"] == "OK"
        health_s = time.perf_counter() - start
        start = time.perf_counter()
        for _ in range(n):
            r = http.post(url + "/speak", json={"text": "benchmark", "tts_config": TTS}, timeout=30)
            r.raise_for_status()
            ok += len(r.content) > 0 and r.headers["x-sample-rate"] == "24000"
        speak_s = time.perf_counter() - start
    finally:
        http.close()
    return rest_result(health_s, speak_s, ok, n)


def rss(url: str, n: int, mode: str) -> dict[str, Any]:
    # A first small session outside the window, as for the other clients.
    events(url, min(n, 1000), "cb")
    ws = open_ready(url, events_id(n))
    watch = RSSWatch()
    try:
        watch.start()
        start = time.perf_counter()
        ws.send_bytes(CHUNK)
        count = 0
        if mode == "slow_iter":
            for message in messages(ws):
                if message.__class__ is dict and message["type"] == "stt_result":
                    count += 1
                    if count % 100 == 0:
                        time.sleep(0.001)
                    if message["is_speech_final"]:
                        break
        else:
            seen, on_message = _stt_counter(n)
            pump(ws, on_message)
            count = seen[0]
        elapsed = time.perf_counter() - start
        memory = watch.stop()
    finally:
        ws.close(timeout=1)
    return {"seconds": elapsed, "count": count, "expected": n, **memory}


def concurrent(url: str, sessions: int, n: int) -> dict[str, Any]:
    """One thread per connection, as websocket-client's own WebSocketApp does it."""
    open_ready(url, CONNECT_ID).close(timeout=1)
    rss0, threads0, cpu_start = settled_rss_bytes(), thread_count(), cpu_seconds()
    sockets = [open_ready(url, events_id(n)) for _ in range(sessions)]
    counts = [0] * sessions
    go = threading.Barrier(sessions + 1)

    def reader(i: int, ws: websocket.WebSocket) -> None:
        seen, on_message = _stt_counter(n)
        go.wait()
        pump(ws, on_message)
        counts[i] = seen[0]

    threads = [
        threading.Thread(target=reader, args=(i, ws), daemon=True) for i, ws in enumerate(sockets)
    ]
    try:
        for t in threads:
            t.start()
        go.wait()
        held = held_per_session(sessions, rss0, threads0, cpu_start, cpu_seconds())
        threads_now = thread_count()
        cpu0, start = cpu_seconds(), time.perf_counter()
        for ws in sockets:
            ws.send_bytes(CHUNK)
        for t in threads:
            t.join()
        end_cpu = cpu_seconds()
        elapsed, cpu = time.perf_counter() - start, end_cpu - cpu0
    finally:
        for ws in sockets:
            ws.close(timeout=1)
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
    cpu = 0.0
    for _ in range(rounds):
        cpu0, start = cpu_seconds(), time.perf_counter()
        ws = open_ready(url, CONNECT_ID)
        samples.append(time.perf_counter() - start)
        cpu += cpu_seconds() - cpu0
        ws.close(timeout=1)
    return {
        "cpu_per_connect_ms": cpu / rounds * 1e3,
        "p50": percentile(samples, 50),
        "p99": percentile(samples, 99),
        "count": len(samples),
        "expected": rounds,
    }
