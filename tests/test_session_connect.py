"""Sayna.connect(): handshake, config frame, ready, and every way it can fail."""

from __future__ import annotations

import base64
import contextlib
import select
import socket
import ssl
import threading
import time

import attrs
import pytest
import requests

from sayna import (
    AuthenticationError,
    LiveKitConfig,
    LoadingAudioConfig,
    Sayna,
    SaynaConfigError,
    SaynaConnectionClosedError,
    SaynaConnectionError,
    SaynaNotConnectedError,
    SaynaTimeoutError,
    SaynaValidationError,
)
from sayna._realtime.opening import network_plan
from sayna.testing import FakeServer
from tests.support.speech_configs import STT, TTS


def our_threads() -> list[threading.Thread]:
    return [
        t for t in threading.enumerate() if t.name.startswith("sayna-") and "fake" not in t.name
    ]


def test_connect_returns_a_ready_session_with_the_ready_data(
    sayna_server: FakeServer, client: Sayna
) -> None:
    """connect() blocks until ready and exposes stream id and LiveKit URL."""
    sayna_server.ready_delay = 0.2
    started = time.monotonic()
    with client.connect(STT, TTS, stream_id="call-7") as session:
        assert time.monotonic() - started >= 0.2
        assert session.ready
        assert session.connected
        assert session.received_stream_id == session.stream_id == "call-7"
        assert session.livekit_url == sayna_server.livekit_url
        assert session.livekit_room_name is None
        assert session.sayna_participant_identity is None
        assert "call-7" in repr(session)
        assert "ready" in repr(session)
    assert not session.connected
    assert not session.ready


def test_config_frame_carries_audio_and_omits_absent_options(
    sayna_server: FakeServer, client: Sayna
) -> None:
    """The config frame has audio=true, both provider configs, and nothing unset."""
    with client.connect(stt_config=STT, tts_config=TTS):
        config = sayna_server.wait_for_session().config
    assert config is not None
    assert config["type"] == "config"
    assert config["audio"] is True
    assert config["stt_config"]["model"] == "nova-3"
    assert config["tts_config"] == {"provider": "deepgram", "model": "aura-asteria-en"}
    assert not {"stream_id", "livekit", "loading_audio"} & set(config)


def test_without_audio_needs_no_provider_configs(sayna_server: FakeServer, client: Sayna) -> None:
    """without_audio=True sends audio=false and no provider configs."""
    with client.connect(without_audio=True) as session:
        config = sayna_server.wait_for_session().config
        assert session.without_audio
    assert config == {"type": "config", "audio": False}


def test_livekit_session_exposes_room_and_agent(sayna_server: FakeServer, client: Sayna) -> None:
    """A LiveKit config is sent as 'livekit' and the ready's room data become properties."""
    livekit = LiveKitConfig(room_name="room-1", sayna_participant_identity="agent-9")
    with client.connect(STT, TTS, livekit_config=livekit) as session:
        config = sayna_server.wait_for_session().config
        assert session.livekit_room_name == "room-1"
        assert session.sayna_participant_identity == "agent-9"
        assert session.sayna_participant_name
    assert config is not None
    assert config["livekit"]["room_name"] == "room-1"


def test_loading_audio_is_sent_as_base64(sayna_server: FakeServer, client: Sayna) -> None:
    """loading_audio bytes travel as standard base64 in the config frame."""
    pcm = b"\x00\x01" * 8000
    clip = LoadingAudioConfig(data=pcm, format="pcm", sample_rate=16000)
    with client.connect(STT, TTS, LiveKitConfig(room_name="r"), loading_audio=clip):
        config = sayna_server.wait_for_session().config
    assert config is not None
    assert base64.b64decode(config["loading_audio"]["data"]) == pcm


def test_a_bad_loading_clip_does_not_fail_connect(sayna_server: FakeServer, client: Sayna) -> None:
    """The server's non-fatal loading_audio error before ready is an event, not a failure."""
    clip = LoadingAudioConfig(data=b"\x00\x01" * 100, format="pcm", sample_rate=16000)
    with client.connect(STT, TTS, LiveKitConfig(room_name="r"), loading_audio=clip) as session:
        assert session.ready
        error = session.wait_for("error", timeout=5)
    assert error.message.startswith("loading_audio is too short")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"tts_config": TTS}, "stt_config"),
        ({"stt_config": STT}, "tts_config"),
        ({"stt_config": {"provider": "deepgram"}, "tts_config": TTS}, "stt_config"),
        ({"stt_config": STT, "tts_config": STT}, "tts_config"),
        ({"without_audio": "yes"}, "without_audio"),
        ({"without_audio": True, "stream_id": 5}, "stream_id"),
        (
            {"stt_config": STT, "tts_config": TTS, "loading_audio": LoadingAudioConfig(data=b"x")},
            "loading_audio",
        ),
        ({"without_audio": True, "timeout": 0}, "timeout"),
        ({"without_audio": True, "timeout": float("inf")}, "timeout"),
        ({"without_audio": True, "max_buffered_events": 0}, "max_buffered_events"),
        ({"without_audio": True, "max_buffered_audio_bytes": 0}, "max_buffered_audio_bytes"),
        ({"without_audio": True, "max_buffered_audio_bytes": 1.5}, "max_buffered_audio_bytes"),
    ],
)
def test_invalid_arguments_are_refused_before_connecting(
    sayna_server: FakeServer, client: Sayna, kwargs: dict[str, object], field: str
) -> None:
    """Arguments that cannot be valid raise SaynaValidationError and open no socket."""
    with pytest.raises(SaynaValidationError) as info:
        client.connect(**kwargs)  # type: ignore[arg-type]
    assert info.value.field == field
    assert sayna_server.sessions == []
    assert sayna_server.requests == []


def test_the_api_key_goes_in_the_upgrade_request() -> None:
    """The handshake carries Authorization: Bearer and the client's User-Agent."""
    with (
        FakeServer(api_keys={"sk-right": "tenant-a"}) as server,
        Sayna(server.url, api_key="sk-right") as client,
        client.connect(STT, TTS),
    ):
        fake = server.wait_for_session()
    assert fake.request_headers["authorization"] == "Bearer sk-right"
    assert fake.request_headers["user-agent"].startswith("sayna-python/")
    assert fake.tenant == "tenant-a"


def test_a_wrong_key_is_refused_with_authentication_error() -> None:
    """A 401 on the upgrade raises AuthenticationError with the server's message, no key."""
    with (
        FakeServer(api_keys={"sk-right": "tenant-a"}) as server,
        Sayna(server.url, api_key="sk-wrong-secret") as client,
    ):
        with pytest.raises(AuthenticationError) as info:
            client.connect(STT, TTS)
        assert server.sessions == []
    error = info.value
    assert error.status_code == 401
    assert error.code == "unauthorized"
    assert error.server_message == "Unauthorized: Invalid API secret"
    assert error.endpoint == "/ws"
    assert "sk-wrong-secret" not in str(error)
    assert our_threads() == []


def test_an_unreachable_server_raises_connection_error() -> None:
    """A refused TCP connection is a SaynaConnectionError naming the URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with Sayna(f"http://127.0.0.1:{port}") as client, pytest.raises(SaynaConnectionError) as info:
        client.connect(STT, TTS)
    assert not isinstance(info.value, SaynaTimeoutError)
    assert f"127.0.0.1:{port}" in str(info.value)
    assert isinstance(info.value.__cause__, OSError)


def test_no_ready_within_the_timeout_raises_and_closes(
    sayna_server: FakeServer, client: Sayna
) -> None:
    """Without ready, connect() raises SaynaTimeoutError on time and leaves nothing open."""
    sayna_server.withhold_ready = True
    started = time.monotonic()
    with pytest.raises(SaynaTimeoutError, match="ready"):
        client.connect(STT, TTS, timeout=0.3)
    elapsed = time.monotonic() - started
    assert 0.3 <= elapsed < 2.0
    assert sayna_server.wait_for_session().closed.wait(5)
    assert our_threads() == []


def test_an_error_before_ready_is_a_config_error(sayna_server: FakeServer, client: Sayna) -> None:
    """The first error frame while waiting for ready raises SaynaConfigError verbatim."""
    sayna_server.fail_config("Failed to start voice manager: model not found")
    with pytest.raises(SaynaConfigError) as info:
        client.connect(STT, TTS)
    assert info.value.server_message == "Failed to start voice manager: model not found"
    assert "model not found" in str(info.value)
    assert sayna_server.wait_for_session().closed.wait(5)
    assert our_threads() == []


def test_the_servers_own_config_validation_is_a_config_error(
    sayna_server: FakeServer, client: Sayna
) -> None:
    """A provider the server has no credentials for fails connect() with its message."""
    with pytest.raises(SaynaConfigError, match="Unsupported provider"):
        client.connect(attrs.evolve(STT, provider="nobody"), TTS)


@pytest.mark.parametrize("how", ["close", "drop"])
def test_a_close_before_ready_raises_connection_closed(
    sayna_server: FakeServer, client: Sayna, how: str
) -> None:
    """The server closing or dropping the socket before ready fails connect() at once."""
    sayna_server.withhold_ready = True

    def end_it() -> None:
        fake = sayna_server.wait_for_session()
        fake.wait_for_frame("config")
        fake.close(4001, "maintenance") if how == "close" else fake.drop()

    killer = threading.Thread(target=end_it)
    killer.start()
    started = time.monotonic()
    with pytest.raises(SaynaConnectionClosedError) as info:
        client.connect(STT, TTS, timeout=10)
    killer.join(5)
    assert time.monotonic() - started < 5
    assert info.value.code == (4001 if how == "close" else None)
    assert our_threads() == []


def test_a_closed_client_refuses_to_connect(sayna_server: FakeServer) -> None:
    """connect() on a closed client raises SaynaNotConnectedError."""
    client = Sayna(sayna_server.url)
    client.close()
    with pytest.raises(SaynaNotConnectedError):
        client.connect(STT, TTS)


def test_closing_the_client_closes_its_sessions(sayna_server: FakeServer) -> None:
    """Sayna.close() ends every session it opened."""
    client = Sayna(sayna_server.url)
    first = client.connect(STT, TTS)
    second = client.connect(without_audio=True)
    client.close()
    assert not first.connected
    assert not second.connected
    assert first.close_event is not None
    assert first.close_event.initiator == "client"
    assert our_threads() == []


# --- network settings shared with requests ----------------------------------------------


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    return monkeypatch


def test_env_proxy_is_used_for_the_websocket(clean_env: pytest.MonkeyPatch) -> None:
    """HTTPS_PROXY applies to wss URLs, with its credentials, like for requests."""
    clean_env.setenv("HTTPS_PROXY", "http://user:p%40ss@proxy.test:3128")
    plan = network_plan(requests.Session(), "wss://sayna.test/ws")
    assert plan.proxy is not None
    assert plan.proxy["http_proxy_host"] == "proxy.test"
    assert plan.proxy["http_proxy_port"] == 3128
    assert plan.proxy["http_proxy_auth"] == ("user", "p@ss")
    assert plan.proxy["proxy_type"] == "http"
    assert "p@ss" not in repr(plan)


def test_no_proxy_and_trust_env_are_honoured(clean_env: pytest.MonkeyPatch) -> None:
    """NO_PROXY excludes a host and trust_env=False ignores the environment."""
    clean_env.setenv("HTTP_PROXY", "http://proxy.test:3128")
    clean_env.setenv("NO_PROXY", "sayna.test")
    assert network_plan(requests.Session(), "ws://sayna.test/ws").proxy is None
    assert network_plan(requests.Session(), "ws://other.test/ws").proxy is not None
    untrusting = requests.Session()
    untrusting.trust_env = False
    assert network_plan(untrusting, "ws://other.test/ws").proxy is None


def test_session_proxies_and_socks_are_translated(clean_env: pytest.MonkeyPatch) -> None:
    """Proxies set on the requests.Session are used, SOCKS included."""
    http = requests.Session()
    http.proxies = {"http": "socks5h://127.0.0.1:1080"}
    plan = network_plan(http, "ws://sayna.test/ws")
    assert plan.proxy is not None
    assert plan.proxy["proxy_type"] == "socks5h"
    assert plan.proxy["http_proxy_port"] == 1080


def test_an_https_proxy_is_refused_clearly(clean_env: pytest.MonkeyPatch) -> None:
    """A TLS-to-proxy URL, which the WebSocket library cannot use, is a clear error."""
    clean_env.setenv("HTTPS_PROXY", "https://proxy.test:443")
    with pytest.raises(SaynaConnectionError, match="proxy"):
        network_plan(requests.Session(), "wss://sayna.test/ws")


def test_tls_settings_follow_verify_and_the_ca_bundle(
    clean_env: pytest.MonkeyPatch, tmp_path: object
) -> None:
    """verify=False disables checks; REQUESTS_CA_BUNDLE and bad paths are honoured."""
    http = requests.Session()
    http.verify = False
    clean_env.delenv("REQUESTS_CA_BUNDLE", raising=False)
    clean_env.delenv("CURL_CA_BUNDLE", raising=False)
    context = network_plan(http, "wss://sayna.test/ws").ssl_context
    assert context is not None
    assert context.verify_mode == ssl.CERT_NONE
    assert not context.check_hostname
    default = network_plan(requests.Session(), "wss://sayna.test/ws").ssl_context
    assert default is not None
    assert default.verify_mode == ssl.CERT_REQUIRED
    assert network_plan(requests.Session(), "ws://sayna.test/ws").ssl_context is None
    clean_env.setenv("REQUESTS_CA_BUNDLE", "/nonexistent/ca.pem")
    with pytest.raises(SaynaConnectionError, match="certificates"):
        network_plan(requests.Session(), "wss://sayna.test/ws")


class _ConnectProxy:
    """A minimal HTTP CONNECT proxy on loopback that records what it was asked."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.requests: list[bytes] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        with contextlib.suppress(OSError):
            client, _ = self.listener.accept()
            with client:
                head = b""
                while b"\r\n\r\n" not in head:
                    head += client.recv(4096)
                self.requests.append(head)
                target = head.split()[1].decode()
                host, port = target.rsplit(":", 1)
                with socket.create_connection((host, int(port))) as upstream:
                    client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    self._pipe(client, upstream)

    @staticmethod
    def _pipe(a: socket.socket, b: socket.socket) -> None:
        peers = {a: b, b: a}
        while True:
            readable, _, _ = select.select([a, b], [], [], 5)
            if not readable:
                return
            for sock in readable:
                data = sock.recv(65536)
                if not data:
                    return
                peers[sock].sendall(data)

    def close(self) -> None:
        self.listener.close()
        self.thread.join(5)


def test_the_websocket_really_goes_through_the_env_proxy(
    sayna_server: FakeServer, clean_env: pytest.MonkeyPatch
) -> None:
    """With HTTP_PROXY set, the session tunnels through that proxy and still works."""
    proxy = _ConnectProxy()
    try:
        clean_env.setenv("HTTP_PROXY", f"http://agent:secret@127.0.0.1:{proxy.port}")
        with Sayna(sayna_server.url) as client, client.connect(STT, TTS) as session:
            assert session.ready
    finally:
        proxy.close()
    assert len(proxy.requests) == 1
    head = proxy.requests[0].decode()
    assert head.startswith(f"CONNECT 127.0.0.1:{sayna_server.port} ")
    assert "Proxy-Authorization: Basic " + base64.b64encode(b"agent:secret").decode() in head


def test_connects_of_one_client_build_the_network_plan_once(
    sayna_server: FakeServer, clean_env: pytest.MonkeyPatch
) -> None:
    """Three connects with unchanged settings scan the environment (build the plan) once."""
    built: list[str] = []

    def counting(http: requests.Session, ws_url: str) -> object:
        built.append(ws_url)
        return network_plan(http, ws_url)

    clean_env.setattr("sayna._realtime.opening.network_plan", counting)
    with Sayna(sayna_server.url) as client:
        for _ in range(3):
            with client.connect(STT, TTS) as session:
                assert session.ready
    assert len(built) == 1


def test_a_change_of_session_proxies_applies_to_the_next_connect(
    sayna_server: FakeServer, clean_env: pytest.MonkeyPatch
) -> None:
    """A proxy set on the requests.Session after a direct connect carries the next one."""
    proxy = _ConnectProxy()
    http = requests.Session()
    try:
        with Sayna(sayna_server.url, session=http) as client:
            with client.connect(STT, TTS) as session:
                assert session.ready
            assert proxy.requests == []
            http.proxies["http"] = f"http://127.0.0.1:{proxy.port}"
            with client.connect(STT, TTS) as session:
                assert session.ready
    finally:
        proxy.close()
        http.close()
    assert len(proxy.requests) == 1


def test_a_session_class_merging_settings_itself_is_asked_on_every_connect(
    sayna_server: FakeServer, clean_env: pytest.MonkeyPatch
) -> None:
    """A requests.Session subclass overriding merge_environment_settings decides each time."""
    asked: list[str] = []

    class Deciding(requests.Session):
        def merge_environment_settings(self, url, proxies, stream, verify, cert):  # type: ignore[no-untyped-def]
            asked.append(url)
            return super().merge_environment_settings(url, proxies, stream, verify, cert)

    http = Deciding()
    try:
        with Sayna(sayna_server.url, session=http) as client:
            for _ in range(2):
                with client.connect(STT, TTS) as session:
                    assert session.ready
    finally:
        http.close()
    assert len([url for url in asked if url.endswith("/ws")]) == 2
