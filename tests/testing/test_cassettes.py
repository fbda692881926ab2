"""Cassettes: record through RecordingProxy, replay with FakeServer(cassette=...)."""

from __future__ import annotations

import base64
import json
import pathlib
import time
from typing import Any

import pytest
import requests

from sayna import AuthenticationError, ErrorEvent, Sayna, STTConfig, TTSConfig
from sayna.testing import CassetteMismatch, FakeServer, RecordingProxy, decode_speech
from tests.support.server_helpers import connect, wait_until

KEY = "sk-live-KEEP-OUT-OF-CASSETTES"
STT_SECRET = "dg-stt-SECRET-4711"
TTS_SECRET = "dg-tts-SECRET-0815"
STT = STTConfig(provider="deepgram", model="nova-3", sample_rate=16000)
TTS = TTSConfig(provider="deepgram", model="aura-2", sample_rate=16000)


def _session_results(url: str, text: str, *, key: str | None = KEY) -> dict[str, Any]:
    """One REST call and one realtime round trip, as application code would make them."""
    with Sayna(url, api_key=key) as client:
        results: dict[str, Any] = {"voices": client.get_voices()}
        results["speak_rest"] = client.speak_rest("Hello Ada", TTS).data
        with client.connect(stt_config=STT, tts_config=TTS, timeout=10) as session:
            results["stream_id"] = session.stream_id
            audio = session.say(text, timeout=10)
            results["audio"] = audio.data
            results["transcript"] = session.transcribe(audio.data, timeout=10, speed=50)
    return results


def _record(path: pathlib.Path, text: str = "two tickets please") -> dict[str, Any]:
    with (
        FakeServer(api_keys={KEY: "tenant-a"}, tts_speedup=0) as upstream,
        RecordingProxy(upstream.url, path) as proxy,
    ):
        return _session_results(proxy.url, text)


def _events(path: pathlib.Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


def _wait_closed(server: FakeServer) -> None:
    wait_until(lambda: all(s.closed.is_set() for s in server.sessions))


def test_record_then_replay_gives_the_same_results(tmp_path: pathlib.Path) -> None:
    """A session recorded from the stand-ins replays into a fresh server: same results and audio."""
    path = tmp_path / "session.jsonl"
    recorded = _record(path)
    assert recorded["transcript"] == "two tickets please"
    with FakeServer(cassette=path) as replay:
        replayed = _session_results(replay.url, "two tickets please", key=None)
        _wait_closed(replay)
        assert replay.cassette_mismatches == []
    assert replayed["audio"] == recorded["audio"]  # byte-identical TTS audio
    assert replayed["speak_rest"] == recorded["speak_rest"]
    assert decode_speech(replayed["speak_rest"], 16000) == "Hello Ada"
    assert replayed == recorded


def test_the_cassette_is_versioned_json_lines(tmp_path: pathlib.Path) -> None:
    """Every line is JSON; the header names format and version; frames are in causal order."""
    path = tmp_path / "session.jsonl"
    _record(path)
    events = _events(path)
    assert events[0] == {"format": "sayna-cassette", "version": 1}
    kinds = [e["kind"] for e in events[1:]]
    assert kinds[:3] == ["http", "http", "ws_open"]
    frames = [e for e in events[1:] if e["kind"] == "ws"]
    assert (frames[0]["from"], frames[0]["json"]["type"]) == ("client", "config")
    assert (frames[1]["from"], frames[1]["json"]["type"]) == ("server", "ready")
    audio = [e for e in frames if "audio" in e and e["from"] == "server"]
    assert base64.b64decode(audio[0]["audio"])  # binary frames as base64
    stamps = [e["t"] for e in events[1:]]
    assert stamps == sorted(stamps)


def test_secrets_never_reach_the_cassette(tmp_path: pathlib.Path) -> None:
    """Neither the API key nor provider auth credentials appear anywhere in the cassette bytes."""
    path = tmp_path / "secret.jsonl"
    stt = STTConfig(provider="deepgram", model="nova-3", auth={"api_key": STT_SECRET})
    tts = TTSConfig(provider="deepgram", model="aura-2", auth={"api_key": TTS_SECRET})
    with (
        FakeServer(api_keys={KEY: "tenant-a"}, tts_speedup=0) as upstream,
        RecordingProxy(upstream.url, path) as proxy,
        Sayna(proxy.url, api_key=KEY) as client,
    ):
        client.speak_rest("Hi", tts)
        requests.get(f"{proxy.url}/voices?api_key={KEY}", timeout=5).raise_for_status()
        raw = connect(f"{proxy.ws_url}?api_key={KEY}")  # a client that cannot set headers
        raw.close()
        with client.connect(stt_config=stt, tts_config=tts, timeout=10) as session:
            session.say("secret stuff", timeout=10)
        # The upstream did get the key and the credentials.
        assert upstream.requests[0].headers["authorization"] == f"Bearer {KEY}"
        assert upstream.sessions[-1].config["tts_config"]["auth"] == {"api_key": TTS_SECRET}
    data = path.read_bytes()
    for secret in (KEY, STT_SECRET, TTS_SECRET):
        assert secret.encode() not in data
        assert base64.b64encode(secret.encode()) not in data
    config = next(e for e in _events(path) if e.get("json", {}).get("type") == "config")
    assert config["json"]["stt_config"]["auth"] == "<redacted>"


def test_a_deliberate_deviation_is_a_mismatch(tmp_path: pathlib.Path) -> None:
    """Speaking other text and asking other REST questions show up, with readable diffs."""
    path = tmp_path / "session.jsonl"
    _record(path)
    with FakeServer(cassette=path) as replay, Sayna(replay.url) as client:
        client.get_voices()
        client.speak_rest("Hello Bob", TTS)  # recorded: "Hello Ada"
        with client.connect(stt_config=STT, tts_config=TTS, timeout=10) as session:
            session.speak("three tickets please")  # recorded: "two tickets please"
            replay.wait_for_session().wait_for_frame("speak")
        _wait_closed(replay)
        mismatches = replay.cassette_mismatches
    where = [m.where for m in mismatches]
    assert where[0] == "POST /speak"
    assert "session 1, client text frame 2" in where
    speak = next(m for m in mismatches if m.where == "session 1, client text frame 2")
    assert isinstance(speak, CassetteMismatch)
    assert '-  "text": "two tickets please",' in speak.diff()
    assert '+  "text": "three tickets please",' in speak.diff()
    assert "Hello Bob" in str(mismatches[0])
    # The audio the recording streamed back never came: reported when the session ended.
    assert any("client audio" in w for w in where)


def test_frames_the_client_never_sent_are_reported(tmp_path: pathlib.Path) -> None:
    """A client that stops early leaves the rest of the recording as 'never sent' mismatches."""
    path = tmp_path / "session.jsonl"
    _record(path)
    with FakeServer(cassette=path) as replay, Sayna(replay.url) as client:
        client.get_voices()
        client.speak_rest("Hello Ada", TTS)
        with client.connect(stt_config=STT, tts_config=TTS, timeout=10):
            pass
        _wait_closed(replay)
        where = [m.where for m in replay.cassette_mismatches]
    assert where[0] == "session 1, client text frame 2 (never sent)"
    assert where[1].startswith("session 1, client audio: 0 of ")


def test_a_refused_handshake_replays_as_refused(tmp_path: pathlib.Path) -> None:
    """A recorded 401 on the upgrade is answered again on replay, body and all."""
    path = tmp_path / "refused.jsonl"
    with (
        FakeServer(api_keys={KEY: "tenant-a"}) as upstream,
        RecordingProxy(upstream.url, path) as proxy,
        Sayna(proxy.url, api_key="wrong-key") as client,
        pytest.raises(AuthenticationError) as recorded,
    ):
        client.connect(stt_config=STT, tts_config=TTS, timeout=10)
    assert "wrong-key" not in path.read_text("utf-8")
    with (
        FakeServer(cassette=path) as replay,
        Sayna(replay.url, api_key="wrong-key") as client,
        pytest.raises(AuthenticationError) as replayed,
    ):
        client.connect(stt_config=STT, tts_config=TTS, timeout=10)
    assert str(replayed.value) == str(recorded.value)


def test_server_frames_wait_for_what_preceded_them(tmp_path: pathlib.Path) -> None:
    """A recorded error answering the client's speak is not sent before the client speaks."""
    path = tmp_path / "error.jsonl"
    with FakeServer(tts_speedup=0) as upstream, RecordingProxy(upstream.url, path) as proxy:
        upstream.tts_error = "quota exceeded"
        with (
            Sayna(proxy.url) as client,
            client.connect(stt_config=STT, tts_config=TTS, timeout=10) as session,
        ):
            session.speak("Hello")
            recorded = session.wait_for(ErrorEvent, timeout=5).message
    with FakeServer(cassette=path) as replay, Sayna(replay.url) as client:
        with client.connect(stt_config=STT, tts_config=TTS, timeout=10) as session:
            time.sleep(0.2)  # give a wrongly eager replay the chance to send the error
            early = []
            while (event := session.next_event(timeout=0)) is not None:
                early.append(event)
            assert not any(isinstance(e, ErrorEvent) for e in early)
            session.speak("Hello")
            assert session.wait_for(ErrorEvent, timeout=5).message == recorded
        _wait_closed(replay)
        assert replay.cassette_mismatches == []


def test_recorded_pace_keeps_the_gaps(tmp_path: pathlib.Path) -> None:
    """pace="recorded" waits as long before ``ready`` as the recorded server did."""
    path = tmp_path / "slow.jsonl"
    with FakeServer() as upstream, RecordingProxy(upstream.url, path) as proxy:
        upstream.ready_delay = 0.6
        with Sayna(proxy.url) as client:
            client.connect(stt_config=STT, tts_config=TTS, timeout=10).close()
    frames = [e for e in _events(path)[1:] if e["kind"] == "ws"]
    gap = frames[1]["t"] - frames[0]["t"]
    assert gap >= 0.5
    with FakeServer(cassette=path, pace="recorded") as replay, Sayna(replay.url) as client:
        started = time.monotonic()
        client.connect(stt_config=STT, tts_config=TTS, timeout=10).close()
        assert time.monotonic() - started >= gap * 0.8


def test_unknown_requests_get_a_clear_500(tmp_path: pathlib.Path) -> None:
    """A request the cassette never saw is answered 500 naming the cassette, and listed."""
    path = tmp_path / "session.jsonl"
    _record(path)
    with FakeServer(cassette=path) as replay:
        answer = requests.get(replay.url + "/livekit/rooms", timeout=5)
        assert answer.status_code == 500
        assert answer.json() == {
            "error": "cassette session.jsonl has no recorded answer for GET /livekit/rooms"
        }
        assert [m.where for m in replay.cassette_mismatches] == [
            "GET /livekit/rooms (not in the recording)"
        ]


def test_gzip_cassettes_record_and_replay(tmp_path: pathlib.Path) -> None:
    """A cassette path ending in .gz is written and read gzip-compressed."""
    path = tmp_path / "session.jsonl.gz"
    recorded = _record(path)
    assert path.read_bytes()[:2] == b"\x1f\x8b"
    with FakeServer(cassette=path) as replay:
        assert _session_results(replay.url, "two tickets please") == recorded


def test_bad_cassettes_are_refused_by_name(tmp_path: pathlib.Path) -> None:
    """A missing file, a foreign file and a future version fail naming the file."""
    with pytest.raises(FileNotFoundError, match=r"nowhere\.jsonl"):
        FakeServer(cassette=tmp_path / "nowhere.jsonl")
    foreign = tmp_path / "foreign.jsonl"
    foreign.write_text('{"hello": 1}\n')
    with pytest.raises(ValueError, match=r"foreign\.jsonl.*not a Sayna cassette"):
        FakeServer(cassette=foreign)
    future = tmp_path / "future.jsonl"
    future.write_text('{"format": "sayna-cassette", "version": 99}\n')
    with pytest.raises(ValueError, match="version 99"):
        FakeServer(cassette=future)
    with pytest.raises(ValueError, match="pace"):
        FakeServer(cassette=future, pace="slow")


def test_proxy_binds_loopback_and_stops_cleanly(tmp_path: pathlib.Path) -> None:
    """The proxy listens on 127.0.0.1 and writes the cassette only when stopped."""
    path = tmp_path / "c.jsonl"
    with FakeServer() as upstream:
        proxy = RecordingProxy(upstream.url, path).start()
        try:
            assert proxy.url.startswith("http://127.0.0.1:")
            assert requests.get(proxy.url + "/", timeout=5).json() == {"status": "OK"}
            assert not path.exists()
        finally:
            proxy.stop()
        proxy.stop()  # idempotent
    assert [e.get("kind") for e in _events(path)[1:]] == ["http"]


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ('{"kind": "http", "method": "GET", "target": "/"}', "'status' between 100 and 599"),
        ('{"kind": "ws", "session": 1, "from": "server", "audio": "%%%"}', "not base64"),
        ('{"kind": "ws", "session": 1, "from": "nobody", "text": "x"}', "'from'"),
        ('{"kind": "tape"}', "unknown kind 'tape'"),
        ("[1, 2]", "not an object with a 'kind'"),
    ],
)
def test_broken_cassette_lines_are_refused_with_their_line(
    tmp_path: pathlib.Path, line: str, problem: str
) -> None:
    """A hand-edited cassette with a broken event fails at load, naming the line and the problem."""
    path = tmp_path / "edited.jsonl"
    path.write_text('{"format": "sayna-cassette", "version": 1}\n' + line + "\n")
    with pytest.raises(ValueError, match="line 2") as info:
        FakeServer(cassette=path)
    assert problem in str(info.value)


def test_proxy_repr_shows_no_credentials(tmp_path: pathlib.Path) -> None:
    """Credentials in the upstream URL's user part never reach the repr."""
    proxy = RecordingProxy("https://user:hunter2@sayna.example.com/", tmp_path / "c.jsonl")
    assert "hunter2" not in repr(proxy)
    assert "sayna.example.com" in repr(proxy)
