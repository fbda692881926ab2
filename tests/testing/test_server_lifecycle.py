"""FakeServer lifecycle: fast start, prompt stop from any state, nothing left behind."""

from __future__ import annotations

import json
import socket
import sys
import threading
import time

import pytest
import requests
import websocket

from sayna.testing import FakeServer
from tests.support.child_processes import started
from tests.support.server_helpers import (
    audio_config,
    configure,
    connect,
    fake_threads,
    recv_json,
    send,
    wait_until,
)


def test_start_is_fast_and_url_points_at_it() -> None:
    """A server starts in well under a second and answers on its url."""
    started = time.perf_counter()
    server = FakeServer().start()
    try:
        assert time.perf_counter() - started < 0.5
        assert server.url == f"http://127.0.0.1:{server.port}"
        assert server.ws_url == f"ws://127.0.0.1:{server.port}/ws"
        assert requests.get(server.url + "/", timeout=5).json() == {"status": "OK"}
    finally:
        server.stop()


def test_stop_leaves_no_threads_and_frees_the_port() -> None:
    """After stop, no server thread is alive and the port can be bound again."""
    with FakeServer() as server:
        port = server.port
        with requests.Session() as http:
            http.get(server.url + "/", timeout=5)
        ws = connect(server.ws_url)
        configure(ws)
    ws.close()
    assert fake_threads() == []
    probe = socket.socket()
    try:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", port))
    finally:
        probe.close()


def test_stop_is_prompt_with_idle_clients_connected() -> None:
    """stop() returns quickly while HTTP keep-alive and WebSocket clients stay connected."""
    server = FakeServer().start()
    http = requests.Session()
    http.get(server.url + "/", timeout=5)
    sockets = [connect(server.ws_url) for _ in range(3)]
    server.wait_for_session()
    started = time.perf_counter()
    server.stop()
    assert time.perf_counter() - started < 1.0
    assert fake_threads() == []
    for ws in sockets:
        with pytest.raises((websocket.WebSocketException, OSError)):
            ws.recv()
        ws.close()
    http.close()


def test_stop_is_prompt_when_the_client_does_not_read() -> None:
    """stop() returns quickly even while the writer is blocked on a client that never reads."""
    server = FakeServer().start()
    ws = connect(server.ws_url)
    session = server.wait_for_session()
    events = ({"type": "message", "n": i, "pad": "x" * 200} for i in range(20_000))
    # The FIFO is bounded, so the producer blocks too; stop() must release it.
    producer = threading.Thread(target=session.send_events, args=(events,))
    producer.start()
    wait_until(lambda: session._outbox._size > 700 or not producer.is_alive())
    assert producer.is_alive()
    started = time.perf_counter()
    server.stop()
    assert time.perf_counter() - started < 1.0
    producer.join(1)
    assert not producer.is_alive()
    assert fake_threads() == []
    ws.close()


def test_stop_is_prompt_during_a_slow_ready() -> None:
    """A session waiting out ready_delay does not hold stop() up."""
    server = FakeServer().start()
    server.ready_delay = 30.0
    ws = connect(server.ws_url)
    send(ws, audio_config())
    server.wait_for_session().wait_for_frame("config")
    started = time.perf_counter()
    server.stop()
    assert time.perf_counter() - started < 1.0
    assert fake_threads() == []
    ws.close()


def test_stop_is_idempotent_and_restart_is_refused() -> None:
    """stop() may be called twice; a stopped server cannot be started again."""
    server = FakeServer().start()
    server.stop()
    server.stop()
    with pytest.raises(RuntimeError):
        server.start()


def test_stop_before_start_is_harmless() -> None:
    """Stopping a server that never started does nothing and does not raise."""
    FakeServer().stop()


def test_sessions_close_when_the_client_closes() -> None:
    """A client Close ends the session: closed is set and the client's code recorded."""
    with FakeServer() as server:
        ws = connect(server.ws_url)
        session = server.wait_for_session()
        ws.close(status=4001)
        assert session.closed.wait(2)
        assert session.client_close_code == 4001


def test_requests_are_recorded_in_order() -> None:
    """Every HTTP request, the WebSocket handshake included, is recorded with its parts."""
    with FakeServer() as server:
        requests.post(
            server.url + "/sip/hooks?x=1&x=2&y=%20z",
            json={"hooks": []},
            headers={"X-Test": "yes"},
            timeout=5,
        )
        connect(server.ws_url).close()
        recorded = server.requests
    assert [r.method for r in recorded] == ["POST", "GET"]
    first = recorded[0]
    assert first.path == "/sip/hooks"
    assert first.query == {"x": "1", "y": " z"}
    assert first.headers["x-test"] == "yes"
    assert first.json() == {"hooks": []}
    assert recorded[1].path == "/ws"
    assert recorded[1].headers["upgrade"].lower() == "websocket"


def test_wait_for_session_hands_out_sessions_in_connect_order() -> None:
    """wait_for_session returns each session once, oldest first, and times out when none is new."""
    with FakeServer() as server:
        first = connect(server.ws_url)
        a = server.wait_for_session()
        second = connect(server.ws_url)
        b = server.wait_for_session()
        assert server.sessions == [a, b]
        assert (a.index, b.index) == (1, 2)
        with pytest.raises(TimeoutError):
            server.wait_for_session(timeout=0.05)
        first.close()
        second.close()


def test_concurrent_clients_are_served_independently() -> None:
    """Several WebSocket sessions at once each get their own ready and stream ids."""
    with FakeServer() as server:
        sockets = [connect(server.ws_url) for _ in range(4)]
        for index, ws in enumerate(sockets):
            send(ws, {"type": "config", "audio": False, "stream_id": f"s{index}"})
        assert [recv_json(ws)["stream_id"] for ws in sockets] == ["s0", "s1", "s2", "s3"]
        for ws in sockets:
            ws.close()


def test_pytest_fixture_yields_a_started_server(sayna_server: FakeServer) -> None:
    """The sayna_server fixture is a started FakeServer with auth off."""
    assert requests.get(sayna_server.url + "/voices", timeout=5).status_code == 200


@pytest.mark.parametrize("option", ["--require-key", "--api-key"])
def test_command_line_serves_until_interrupted(option: str) -> None:
    """python -m sayna.testing prints its URL, serves with the given key, and stops on SIGINT.

    The key option is spelled --require-key, like sayna fake-server; the old --api-key still works.
    """
    with started([sys.executable, "-m", "sayna.testing", option, "k1=tenant-x"]) as process:
        assert process.stdout is not None
        line = process.stdout.readline()
        url = line.split(" on ", 1)[1].split(" ", 1)[0]
        assert requests.get(url + "/voices", timeout=5).status_code == 401
        reply = requests.get(url + "/voices", headers={"Authorization": "Bearer k1"}, timeout=5)
        assert reply.status_code == 200
        assert json.loads(reply.text)
        process.send_signal(2)
        assert process.wait(timeout=5) == 0
