"""The loopback benchmark server: ``GET /``, ``POST /speak`` and ``/ws`` (PROTOCOL.md §2, §3-5).

Run as a subprocess by ``run.py`` so that it never shares the GIL with the
client under test. aiohttp reads frames and unmasks uploads in compiled code;
bulk server frames are pre-built once and written to the transport in 64 KiB
batches, so the server spends far less CPU per frame than any client does.

The ``config`` frame's ``stream_id`` (free-form, echoed in ``ready``) picks the
scenario, which every client can set:

``bench-events-N``
    each binary audio frame is answered with N ``stt_result`` frames, the last
    one ``is_final`` and ``is_speech_final``.
``bench-tts-FxB``
    each ``speak`` is answered with F binary frames of B bytes, then
    ``tts_playback_complete``.
``bench-upload-TOTAL``
    binary audio is counted; each time TOTAL bytes have arrived, one final
    ``stt_result`` whose transcript is ``"received TOTAL bytes"``.
anything else (``bench-rtt``, ``bench-connect``...)
    each ``speak`` gets one 3200 B audio frame and ``tts_playback_complete``.

Usage: ``python server.py [--port 0]``; prints ``PORT <n>`` once listening and
exits when its standard input closes (so it never outlives the runner).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import socket
import struct
import sys
import threading
import time
import uuid

from aiohttp import WSMsgType, web

# A 16 kHz mono linear16 chunk of 100 ms, and what /speak returns (200 ms at 24 kHz).
CHUNK = bytes(range(256)) * 12 + bytes(128)
SPEAK_AUDIO = bytes(9600)
BATCH_BYTES = 64 * 1024

STT_INTERIM = {
    "type": "stt_result",
    "transcript": "the quick brown fox jumps over the lazy dog",
    "is_final": False,
    "is_speech_final": False,
    "confidence": 0.97,
}
STT_LAST = {**STT_INTERIM, "is_final": True, "is_speech_final": True}

DISABLED = "Audio processing is disabled. Send config message with audio=true first."

_EVENTS = re.compile(r"bench-events-(\d+)\Z")
_TTS = re.compile(r"bench-tts-(\d+)x(\d+)\Z")
_UPLOAD = re.compile(r"bench-upload-(\d+)\Z")


def frame(opcode: int, payload: bytes) -> bytes:
    """One unmasked, unfragmented server frame (RFC 6455 §5.2)."""
    n = len(payload)
    if n < 126:
        header = struct.pack("!BB", 0x80 | opcode, n)
    elif n < 65536:
        header = struct.pack("!BBH", 0x80 | opcode, 126, n)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 127, n)
    return header + payload


def text_frame(message: dict[str, object]) -> bytes:
    return frame(0x1, json.dumps(message, separators=(",", ":")).encode())


async def stream(request: web.Request, one: bytes, count: int, last: bytes) -> None:
    """Write ``one`` ``count`` times, then ``last``, with transport flow control."""
    transport = request.transport
    if transport is None or transport.is_closing():
        return
    protocol = request.protocol
    per = max(1, BATCH_BYTES // len(one))
    batch = one * per
    left = count
    while left > 0:
        k = min(per, left)
        transport.write(batch if k == per else one * k)
        left -= k
        if transport.is_closing():
            return
        # aiohttp's own writer waits the same way (WebSocketWriter.send_frame).
        if getattr(protocol, "_paused", False):
            await protocol._drain_helper()
    transport.write(last)


def _config_error(message: dict[str, object]) -> str | None:
    if message.get("audio", True) is not False:
        if not isinstance(message.get("stt_config"), dict):
            return "STT configuration is required when audio=true"
        if not isinstance(message.get("tts_config"), dict):
            return "TTS configuration is required when audio=true"
    return None


async def websocket(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(compress=False, max_msg_size=64 * 1024 * 1024)
    await ws.prepare(request)
    stream_id = ""
    received = 0
    configured = False
    async for msg in ws:
        if msg.type is WSMsgType.TEXT:
            try:
                message = json.loads(msg.data)
                kind = message["type"]
            except (ValueError, TypeError, KeyError) as exc:
                await ws.send_json({"type": "error", "message": f"Invalid message format: {exc}"})
                continue
            if kind == "config":
                problem = _config_error(message)
                if problem:
                    await ws.send_json({"type": "error", "message": problem})
                    continue
                stream_id = message.get("stream_id")
                if not isinstance(stream_id, str):
                    stream_id = str(uuid.uuid4())
                configured = True
                received = 0
                await ws.send_json(
                    {
                        "type": "ready",
                        "stream_id": stream_id,
                        "livekit_url": "ws://127.0.0.1:7880",
                    }
                )
            elif kind == "speak":
                if not configured:
                    await ws.send_json({"type": "error", "message": DISABLED})
                    continue
                complete = text_frame(
                    {"type": "tts_playback_complete", "timestamp": int(time.time() * 1000)}
                )
                m = _TTS.match(stream_id)
                if m:
                    count, size = int(m[1]), int(m[2])
                    await stream(request, frame(0x2, bytes(size)), count, complete)
                else:
                    await stream(request, frame(0x2, CHUNK), 1, complete)
            elif kind in ("clear", "tts_flush", "update_config", "loading_stop"):
                pass
            else:
                unknown = f"Invalid message format: unknown variant `{kind}`"
                await ws.send_json({"type": "error", "message": unknown})
        elif msg.type is WSMsgType.BINARY:
            if not configured:
                await ws.send_json({"type": "error", "message": DISABLED})
                continue
            received += len(msg.data)
            m = _EVENTS.match(stream_id)
            if m:
                n = int(m[1])
                await stream(request, text_frame(STT_INTERIM), n - 1, text_frame(STT_LAST))
                continue
            m = _UPLOAD.match(stream_id)
            if m and received >= int(m[1]):
                ack = {**STT_LAST, "transcript": f"received {received} bytes", "confidence": 1.0}
                received = 0
                await ws.send_json(ack)
        elif msg.type is WSMsgType.ERROR:
            break
    return ws


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "OK"})


async def speak(request: web.Request) -> web.Response:
    try:
        body = await request.json()
        text = body["text"]
        tts = body["tts_config"]
        if not isinstance(tts["provider"], str) or not isinstance(tts["model"], str):
            raise TypeError("tts_config.provider and tts_config.model must be strings")
    except (ValueError, TypeError, KeyError) as exc:
        return web.json_response({"error": f"Invalid request: {exc}"}, status=422)
    if not isinstance(text, str) or not text.strip():
        return web.json_response({"error": "Text cannot be empty"}, status=400)
    fmt = tts.get("audio_format") or "linear16"
    rate = tts.get("sample_rate") or 24000
    mime = "audio/pcm" if fmt in ("linear16", "pcm") else "application/octet-stream"
    return web.Response(
        body=SPEAK_AUDIO,
        headers={
            "Content-Type": mime,
            "x-audio-format": str(fmt),
            "x-sample-rate": str(rate),
        },
    )


def make_app() -> web.Application:
    app = web.Application()
    app.router.add_get("/", health)
    app.router.add_post("/speak", speak)
    app.router.add_get("/ws", websocket)
    return app


async def serve(port: int) -> None:
    runner = web.AppRunner(make_app(), access_log=None, handle_signals=False)
    await runner.setup()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    site = web.SockSite(runner, sock, backlog=512)
    await site.start()
    print(f"PORT {sock.getsockname()[1]}", flush=True)

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def watch_stdin() -> None:
        # The runner holds our stdin: when it exits (even killed), so do we.
        with contextlib.suppress(OSError, ValueError):
            while sys.stdin.buffer.read(1):
                pass
        loop.call_soon_threadsafe(stop.set)

    threading.Thread(target=watch_stdin, daemon=True).start()
    await stop.wait()
    await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.port))


if __name__ == "__main__":
    main()
