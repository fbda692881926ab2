"""Cross-check: the official async SDK (sayna-client 0.0.18) drives the FakeServer.

A client nobody here wrote agrees with the server on REST shapes, the WebSocket
handshake and config, and the stand-in speech loop: TTS audio streamed back is
recognised as the same text. The coroutines run with ``asyncio.run`` per test.
"""

from __future__ import annotations

import asyncio
import http.server
import threading
from typing import Any

import pytest
from sayna_client import SaynaClient, SipHook, WebhookReceiver

from sayna.testing import FakeServer, decode_speech
from tests.support.official_sdk import STT, TTS, spoken_turn

KEY = "sk_official"


pytestmark = pytest.mark.fake_server(api_keys={KEY: "tenant-a"}, tts_speedup=0)


async def _closed(client: SaynaClient) -> None:
    # disconnect() skips the HTTP session when the socket was never opened.
    if client.connected:
        await client.disconnect()
    else:
        await client._http_client.close()


def test_official_sdk_rest_calls(server: FakeServer) -> None:
    """health, voices, speak_rest, token, rooms and SIP hooks work through the official SDK."""

    async def drive() -> dict[str, Any]:
        client = SaynaClient(server.url, STT, TTS, api_key=KEY)
        try:
            results: dict[str, Any] = {"health": await client.health()}
            results["voices"] = await client.get_voices()
            results["speak"] = await client.speak_rest("Official client here.", TTS)
            results["token"] = await client.get_livekit_token("sdk-room", "Ann", "ann")
            results["rooms"] = await client.get_livekit_rooms()
            results["room"] = await client.get_livekit_room("sdk-room")
            hooks = [SipHook(host="SDK.example", url="https://sdk.example/h", auth_id="tenant-a")]
            results["set"] = await client.set_sip_hooks(hooks)
            results["get"] = await client.get_sip_hooks()
            results["delete"] = await client.delete_sip_hooks(["sdk.example"])
            return results
        finally:
            await _closed(client)

    results = asyncio.run(drive())
    assert results["health"].status == "OK"
    assert results["voices"]["deepgram"][0].id == "aura-asteria-en"
    audio, raw_headers = results["speak"]
    headers = {name.lower(): value for name, value in raw_headers.items()}
    assert decode_speech(audio, 16000) == "Official client here."
    assert headers["content-type"] == "audio/pcm"
    assert headers["x-sample-rate"] == "16000"
    token = results["token"]
    assert (token.room_name, token.participant_identity) == ("sdk-room", "ann")
    assert token.livekit_url == server.livekit_url
    assert token.token.count(".") == 2
    assert [r.name for r in results["rooms"].rooms] == ["sdk-room"]
    assert results["room"].metadata == '{"auth_id":"tenant-a"}'
    assert [(h.host, h.url) for h in results["set"].hooks] == [
        ("sdk.example", "https://sdk.example/h")
    ]
    assert [h.host for h in results["get"].hooks] == ["sdk.example"]
    assert results["delete"].hooks == []


def test_official_sdk_realtime_round_trip(server: FakeServer) -> None:
    """The SDK gets ready, receives TTS audio, streams it back and hears the same text."""
    text = "The official SDK hears what it said."

    async def drive() -> tuple[Any, bytes, list[Any]]:
        client = SaynaClient(server.url, STT, TTS, api_key=KEY, stream_id="sdk-stream")
        try:
            ready_messages, pcm, results = await spoken_turn(client, text, timeout=5)
            return ready_messages[0], pcm, results
        finally:
            await _closed(client)

    ready, pcm, results = asyncio.run(drive())
    assert ready.stream_id == "sdk-stream"
    assert ready.livekit_url == server.livekit_url
    assert decode_speech(pcm, 16000) == text
    finals = [r.transcript for r in results if r.is_final and not r.is_speech_final]
    assert finals == [text]
    assert results[-1].transcript == ""
    session = server.wait_for_session()
    assert session.tenant == "tenant-a"
    assert session.wait_for_frame("speak").data["allow_interruption"] is True
    assert session.closed.wait(2)


def test_official_webhook_receiver_accepts_simulated_calls() -> None:
    """The official WebhookReceiver verifies and parses what simulate_inbound_call posts."""
    secret = "official-receiver-secret-0123456789"
    receiver = WebhookReceiver(secret)
    parsed: list[Any] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"])).decode()
            parsed.append(receiver.receive(dict(self.headers.items()), body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    )
    thread.start()
    try:
        hook = {
            "host": "sip.example.com",
            "url": f"http://127.0.0.1:{httpd.server_address[1]}/",
            "auth_id": "tenant-a",
        }
        with FakeServer(protected_hooks=[hook], webhook_secret=secret) as server:
            status, _ = server.simulate_inbound_call(
                host="sip.example.com",
                from_phone_number="+15559876543",
                to_phone_number="+15551234567",
            )
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()
    assert status == 204
    event = parsed[0]
    assert event.from_phone_number == "+15559876543"
    assert event.to_phone_number == "+15551234567"
    assert event.room.name == "sip-+15551234567"
    assert event.sip_host == "sip.example.com"
    assert event.participant.identity == "sip_+15559876543"
