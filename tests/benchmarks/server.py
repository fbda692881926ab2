"""The loopback benchmark server: ``GET /``, ``POST /speak`` and ``/ws``.

The routes follow docs/protocol.rst §2 and §3-5.

Run as a subprocess by ``run.py`` so that it never shares the GIL with the
client under test. Standard library only: one thread per connection, blocking
reads straight into a buffer. An aiohttp application (and then an asyncio
protocol) were tried first and measured: their per-read event-loop round kept
the server at 80-100 % of a core while the async SDK uploaded audio or called
REST, so the server set those times. Here a client's binary audio frame costs
a header parse (its payload is counted, never unmasked), and bulk server
frames are built once and written in 64 KiB ``sendall`` calls. The runner reads
the server's CPU time around every run (``GET /_bench/cpu``, not a Sayna
endpoint) and keeps it in the JSON.

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
``bench-conversation``
    a caller: each ``speak`` gets one 3200 B audio frame and
    ``tts_playback_complete``, then, 5 ms later, the caller's next turn (a final
    ``stt_result`` and the end-of-turn marker); a ``speak`` whose text starts
    with ``barge`` gets its audio frame and, 2 ms later, the caller talking
    over it (an interim result, a final one, the marker), and no completion.
``bench-push-N``
    right after ``ready``, N ``stt_result`` frames (the last one final) and
    ``tts_playback_complete``, unasked (issue #26's events and many-session
    workloads).
``bench-clear``
    binary audio is counted; ``clear`` is answered with one final
    ``stt_result`` whose transcript is ``"received TOTAL bytes"`` (issue #26's
    upload: the reply comes after every frame before the ``clear``).
anything else (``bench-rtt``, ``bench-connect``...)
    each ``speak`` gets one 3200 B audio frame and ``tts_playback_complete``.

As the real server does (§3.3), a connection's client frames are handled one
at a time, in order; a slow reader holds a burst back through TCP. Usage:
``python server.py [--port 0]``; prints ``PORT <n>`` once listening and exits
when its standard input closes (so it never outlives the runner).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import json
import re
import resource
import socket
import struct
import sys
import threading
import time
import uuid
from typing import Any

# A 16 kHz mono linear16 chunk of 100 ms, and what /speak returns (200 ms at 24 kHz).
CHUNK = bytes(range(256)) * 12 + bytes(128)
SPEAK_AUDIO = bytes(9600)
BATCH_BYTES = 64 * 1024
READ_SIZE = 256 * 1024
MAX_MESSAGE = 16 * 1024 * 1024

STT_INTERIM = {
    "type": "stt_result",
    "transcript": "the quick brown fox jumps over the lazy dog",
    "is_final": False,
    "is_speech_final": False,
    "confidence": 0.97,
}
STT_LAST = {**STT_INTERIM, "is_final": True, "is_speech_final": True}
# The caller of bench-conversation: talking over us, a final segment, the end of turn.
STT_OVER = {**STT_INTERIM, "transcript": "wait a moment"}
STT_TURN = {**STT_INTERIM, "transcript": "wait a moment please", "is_final": True}
STT_TURN_END = {**STT_INTERIM, "transcript": "", "is_final": True, "is_speech_final": True}
CONVERSATION_ID = "bench-conversation"
DISABLED = "Audio processing is disabled. Send config message with audio=true first."
WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

_EVENTS = re.compile(r"bench-events-(\d+)\Z")
_TTS = re.compile(r"bench-tts-(\d+)x(\d+)\Z")
_UPLOAD = re.compile(r"bench-upload-(\d+)\Z")
_PUSH = re.compile(r"bench-push-(\d+)\Z")
CLEAR_ID = "bench-clear"

_OP_CONT, _OP_TEXT, _OP_BINARY, _OP_CLOSE, _OP_PING = 0x0, 0x1, 0x2, 0x8, 0x9


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


def text_frame(message: dict[str, Any]) -> bytes:
    return frame(_OP_TEXT, json.dumps(message, separators=(",", ":")).encode())


def unmask(key: bytes, payload: bytes) -> bytes:
    n = len(payload)
    mask = int.from_bytes((key * (n // 4 + 1))[:n], "little")
    return (int.from_bytes(payload, "little") ^ mask).to_bytes(n, "little")


def http_response(status: str, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def json_response(status: str, message: dict[str, Any]) -> bytes:
    body = json.dumps(message).encode()
    return http_response(status, body, {"Content-Type": "application/json"})


HEALTH = json_response("200 OK", {"status": "OK"})


def speak_response(body: bytes) -> bytes:
    """``POST /speak`` (§2.3): fixed PCM with the real headers."""
    try:
        request = json.loads(body)
        text, tts = request["text"], request["tts_config"]
        if not isinstance(tts["provider"], str) or not isinstance(tts["model"], str):
            raise TypeError("tts_config.provider and tts_config.model must be strings")
    except (ValueError, TypeError, KeyError) as exc:
        return json_response("422 Unprocessable Entity", {"error": f"Invalid request: {exc}"})
    if not isinstance(text, str) or not text.strip():
        return json_response("400 Bad Request", {"error": "Text cannot be empty"})
    fmt = tts.get("audio_format") or "linear16"
    rate = tts.get("sample_rate") or 24000
    mime = "audio/pcm" if fmt in ("linear16", "pcm") else "application/octet-stream"
    headers = {"Content-Type": mime, "x-audio-format": str(fmt), "x-sample-rate": str(rate)}
    return http_response("200 OK", SPEAK_AUDIO, headers)


class Connection:
    """One client connection on its own thread: HTTP/1.1 with keep-alive, then WebSocket.

    Blocking reads straight into one buffer: no event-loop round per read, which
    is what kept an asyncio or aiohttp server busy when a client sends thousands
    of small frames. Client frames are handled one at a time, in order (§3.3).
    """

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = bytearray()
        self.chunk = bytearray(READ_SIZE)
        self.view = memoryview(self.chunk)
        self.closing = False
        # Session state (§3.2).
        self.configured = False
        self.stream_id = ""
        self.received = 0
        self.fragments: list[bytes] = []
        self.fragment_opcode = 0

    def run(self) -> None:
        try:
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            while not self.closing and self.read_requests():
                self.fill()
            while not self.closing:
                self.read_frames()
                if not self.closing:
                    self.fill()
        except (OSError, EOFError):
            pass
        finally:
            self.sock.close()

    def fill(self) -> None:
        n = self.sock.recv_into(self.chunk)
        if not n:
            raise EOFError
        self.buffer += self.view[:n]

    def write(self, data: bytes) -> None:
        if not self.closing:
            self.sock.sendall(data)

    def close(self) -> None:
        self.closing = True

    # --- HTTP ------------------------------------------------------------------------

    def read_requests(self) -> bool:
        """Answer every complete request; False once the connection is a WebSocket."""
        buffer = self.buffer
        while not self.closing:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return True
            lines = bytes(buffer[:end]).decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0"))
            while len(buffer) < end + 4 + length:
                self.fill()
            body = bytes(buffer[end + 4 : end + 4 + length])
            del buffer[: end + 4 + length]
            if self.answer(method, path, headers, body):
                return False
        return True

    def answer(self, method: str, path: str, headers: dict[str, str], body: bytes) -> bool:
        """Answer one request; True when it upgraded the connection to a WebSocket."""
        if "chunked" in headers.get("transfer-encoding", ""):
            self.write(json_response("411 Length Required", {"error": "chunked body"}))
            self.close()
        elif method == "GET" and path == "/":
            self.write(HEALTH)
        elif method == "POST" and path == "/speak":
            self.write(speak_response(body))
        elif method == "GET" and path == "/_bench/cpu":
            # Not Sayna's: how the runner reads this process's CPU time, every thread included.
            usage = resource.getrusage(resource.RUSAGE_SELF)
            cpu = usage.ru_utime + usage.ru_stime
            self.write(json_response("200 OK", {"cpu_seconds": cpu}))
        elif method == "GET" and path.split("?")[0] == "/ws":
            key = headers.get("sec-websocket-key", "")
            if headers.get("upgrade", "").lower() != "websocket" or not key:
                self.write(json_response("400 Bad Request", {"error": "not a WebSocket upgrade"}))
                return False
            digest = hashlib.sha1(key.encode() + WS_GUID, usedforsecurity=False).digest()
            self.write(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Accept: "
                + base64.b64encode(digest)
                + b"\r\n\r\n"
            )
            return True
        else:
            self.write(json_response("404 Not Found", {"error": "Not Found"}))
        if headers.get("connection", "").lower() == "close":
            self.close()
        return False

    # --- WebSocket frames (RFC 6455 §5) ------------------------------------------------

    def read_frames(self) -> None:
        """Handle every complete frame in the buffer, in order."""
        buffer = self.buffer
        unpack_from = struct.unpack_from
        position = 0
        try:
            while not self.closing:
                available = len(buffer) - position
                if available < 2:
                    return
                b1, b2 = buffer[position], buffer[position + 1]
                length = b2 & 0x7F
                start = position + 2
                if length == 126:
                    if available < 4:
                        return
                    length = unpack_from("!H", buffer, start)[0]
                    start += 2
                elif length == 127:
                    if available < 10:
                        return
                    length = unpack_from("!Q", buffer, start)[0]
                    start += 8
                if not b2 & 0x80 or b1 & 0x70 or length > MAX_MESSAGE:
                    self.fail(1002, "unmasked client frame, reserved bits or too large")
                    return
                if len(buffer) < start + 4 + length:
                    return
                opcode, fin = b1 & 0x0F, b1 & 0x80
                position = start + 4 + length
                if opcode == _OP_BINARY and fin:
                    # Audio is only counted: no need to unmask it.
                    self.on_audio(length)
                    continue
                key = bytes(buffer[start : start + 4])
                payload = unmask(key, bytes(buffer[start + 4 : position]))
                if opcode in (_OP_TEXT, _OP_BINARY, _OP_CONT):
                    if opcode != _OP_CONT:
                        self.fragment_opcode, self.fragments = opcode, []
                    self.fragments.append(payload)
                    if fin:
                        whole = b"".join(self.fragments)
                        self.fragments = []
                        if self.fragment_opcode == _OP_TEXT:
                            self.on_text(whole)
                        else:
                            self.on_audio(len(whole))
                elif opcode == _OP_CLOSE:
                    self.write(frame(_OP_CLOSE, payload[:2]))
                    self.close()
                elif opcode == _OP_PING:
                    self.write(frame(0xA, payload))
        finally:
            del buffer[:position]

    def fail(self, code: int, reason: str) -> None:
        self.write(frame(_OP_CLOSE, struct.pack("!H", code) + reason.encode()))
        self.close()

    def send(self, message: dict[str, Any]) -> None:
        self.write(text_frame(message))

    def on_text(self, data: bytes) -> None:
        try:
            message = json.loads(data)
            kind = message["type"]
        except (ValueError, TypeError, KeyError) as exc:
            self.send({"type": "error", "message": f"Invalid message format: {exc}"})
            return
        if kind == "config":
            problem = None
            if message.get("audio", True) is not False:
                if not isinstance(message.get("stt_config"), dict):
                    problem = "STT configuration is required when audio=true"
                elif not isinstance(message.get("tts_config"), dict):
                    problem = "TTS configuration is required when audio=true"
            if problem:
                self.send({"type": "error", "message": problem})
                return
            stream_id = message.get("stream_id")
            self.stream_id = stream_id if isinstance(stream_id, str) else str(uuid.uuid4())
            self.configured = True
            self.received = 0
            ready = {"type": "ready", "stream_id": self.stream_id}
            self.send({**ready, "livekit_url": "ws://127.0.0.1:7880"})
            m = _PUSH.match(self.stream_id)
            if m:
                done = {"type": "tts_playback_complete", "timestamp": int(time.time() * 1000)}
                last = text_frame(STT_LAST) + text_frame(done)
                self.burst(text_frame(STT_INTERIM), int(m[1]) - 1, last)
        elif kind == "speak":
            if not self.configured:
                self.send({"type": "error", "message": DISABLED})
                return
            done = text_frame(
                {"type": "tts_playback_complete", "timestamp": int(time.time() * 1000)}
            )
            m = _TTS.match(self.stream_id)
            if self.stream_id == CONVERSATION_ID:
                self.caller(str(message.get("text", "")))
            elif m:
                self.burst(frame(_OP_BINARY, bytes(int(m[2]))), int(m[1]), done)
            else:
                self.write(frame(_OP_BINARY, CHUNK) + done)
        elif kind == "clear" and self.stream_id == CLEAR_ID:
            ack = {**STT_LAST, "transcript": f"received {self.received} bytes", "confidence": 1.0}
            self.received = 0
            self.send(ack)
        elif kind not in ("clear", "tts_flush", "update_config", "loading_stop"):
            unknown = f"Invalid message format: unknown variant `{kind}`"
            self.send({"type": "error", "message": unknown})

    def on_audio(self, length: int) -> None:
        if not self.configured:
            self.send({"type": "error", "message": DISABLED})
            return
        self.received += length
        m = _EVENTS.match(self.stream_id)
        if m:
            self.burst(text_frame(STT_INTERIM), int(m[1]) - 1, text_frame(STT_LAST))
            return
        m = _UPLOAD.match(self.stream_id)
        if m and self.received >= int(m[1]):
            ack = {**STT_LAST, "transcript": f"received {self.received} bytes", "confidence": 1.0}
            self.received = 0
            self.send(ack)

    def caller(self, text: str) -> None:
        """``bench-conversation``: answer our speech as a caller would (see the docstring)."""
        audio = frame(_OP_BINARY, CHUNK)
        if text.startswith("barge"):
            self.write(audio)
            time.sleep(0.002)
            self.write(text_frame(STT_OVER) + text_frame(STT_TURN) + text_frame(STT_TURN_END))
            return
        done = {"type": "tts_playback_complete", "timestamp": int(time.time() * 1000)}
        self.write(audio + text_frame(done))
        time.sleep(0.005)
        self.write(text_frame(STT_TURN) + text_frame(STT_TURN_END))

    def burst(self, one: bytes, count: int, last: bytes) -> None:
        """Write ``one`` ``count`` times then ``last``, in 64 KiB writes (sendall waits
        while the socket is full: TCP carries a slow client's backpressure)."""
        per = max(1, BATCH_BYTES // len(one))
        batch = one * per
        left = count
        while left > 0 and not self.closing:
            k = min(per, left)
            self.write(batch if k == per else one * k)
            left -= k
        self.write(last)


def serve(port: int) -> None:
    listener = socket.create_server(("127.0.0.1", port), backlog=512)
    print(f"PORT {listener.getsockname()[1]}", flush=True)

    def accept() -> None:
        while True:
            try:
                sock, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=Connection(sock).run, daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    # The runner holds our stdin: when it exits (even killed), so do we.
    with contextlib.suppress(OSError, ValueError, KeyboardInterrupt):
        while sys.stdin.buffer.read(1):
            pass
    listener.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    serve(args.port)


if __name__ == "__main__":
    main()
