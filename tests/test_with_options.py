"""client.with_options(): a view with its own timeout, retries and headers over the shared pool."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections import Counter

import pytest

from sayna import (
    Sayna,
    SaynaNotConnectedError,
    SaynaServerError,
    SaynaTimeoutError,
    SaynaValidationError,
)
from sayna.testing import FakeServer
from tests.support.rawserver import RawServer, read_request_head
from tests.support.speech_configs import STT, TTS


def test_a_view_sends_its_headers_on_rest_and_on_the_upgrade(sayna_server: FakeServer) -> None:
    """A view's headers go on its REST calls and its upgrade; the root's calls lack them."""
    with Sayna(sayna_server.url) as client:
        view = client.with_options(headers={"X-Trace": "abc-1"})
        client.health()
        view.health()
        with view.connect(stt_config=STT, tts_config=TTS):
            pass
    traced = [(r.method, r.path, r.headers.get("x-trace")) for r in sayna_server.requests]
    assert traced == [("GET", "/", None), ("GET", "/", "abc-1"), ("GET", "/ws", "abc-1")]


def test_headers_of_a_view_of_a_view_are_merged(sayna_server: FakeServer) -> None:
    """A view made from a view keeps its parent's headers and overrides same-named ones."""
    with Sayna(sayna_server.url) as client:
        inner = client.with_options(headers={"X-A": "1", "X-B": "1"}).with_options(
            headers={"x-b": "2"}
        )
        inner.health()
    got = sayna_server.requests[-1].headers
    assert (got.get("x-a"), got.get("x-b")) == ("1", "2")


def _silent(conn: socket.socket) -> None:
    # Reads the request and never answers: only the client's timeout ends the call.
    read_request_head(conn)
    conn.recv(1)


def test_the_view_timeout_bounds_a_rest_call() -> None:
    """A 0.3 s view gives up on a server that never answers after ~0.3 s, the root's 30 s unused."""
    with RawServer(_silent) as raw, Sayna(raw.url, timeout=30) as client:
        view = client.with_options(timeout=0.3)
        started = time.monotonic()
        with pytest.raises(SaynaTimeoutError, match=r"0\.3s"):
            view.get_livekit_rooms()
        assert time.monotonic() - started < 2.0


def test_the_view_timeout_is_connects_default(server: FakeServer) -> None:
    """connect() on a 0.5 s view waits for ready 0.5 s, not 60 s; an explicit timeout still wins."""
    server.withhold_ready = True
    with Sayna(server.url) as client:
        view = client.with_options(timeout=0.5)
        started = time.monotonic()
        with pytest.raises(SaynaTimeoutError):
            view.connect(stt_config=STT, tts_config=TTS)
        assert time.monotonic() - started < 3.0
        started = time.monotonic()
        with pytest.raises(SaynaTimeoutError):
            view.connect(stt_config=STT, tts_config=TTS, timeout=1.0)
        assert time.monotonic() - started >= 0.9


def test_the_view_max_retries_applies() -> None:
    """A GET answered 503 is tried 3 times by the root (max_retries=2), once by a 0-retry view."""
    with FakeServer(api_keys={"k": "t"}) as server, Sayna(server.url, api_key="k") as client:
        client._sleep = lambda _delay: None
        server.auth_unavailable = "auth service down"
        with pytest.raises(SaynaServerError):
            client.get_livekit_rooms()
        with pytest.raises(SaynaServerError):
            client.with_options(max_retries=0).get_livekit_rooms()
    paths = [r.path for r in server.requests]
    assert paths == ["/livekit/rooms"] * 4


def test_a_view_shares_the_connection_pool(sayna_server: FakeServer) -> None:
    """Calls through the root and two views use one keep-alive connection."""
    with Sayna(sayna_server.url) as client:
        client.health()
        client.with_options(timeout=5).health()
        client.with_options(headers={"X-A": "b"}).get_voices()
        pool = client._http.get_adapter(sayna_server.url).poolmanager
        made = sum(p.num_connections for p in pool.pools._container.values())
    assert made == 1


def test_closing_a_view_closes_nothing_shared(sayna_server: FakeServer) -> None:
    """After view.close(), the view refuses calls; the client and the view's session still work."""
    with Sayna(sayna_server.url) as client:
        view = client.with_options(timeout=5)
        with view:
            session = view.connect(stt_config=STT, tts_config=TTS)
        assert view.closed
        assert not client.closed
        with pytest.raises(SaynaNotConnectedError):
            view.health()
        assert client.health().status == "OK"
        assert session.connected
        session.speak("still here")
        client.close()
        # The session belongs to the client: its close() ended it, and the view.
        assert not session.connected
        live = client.with_options  # a closed client makes no views
        with pytest.raises(SaynaNotConnectedError):
            live(timeout=1)


def test_a_view_of_a_closed_client_refuses_calls(sayna_server: FakeServer) -> None:
    """Closing the client stops its views too (their pool is gone)."""
    client = Sayna(sayna_server.url)
    view = client.with_options(timeout=5)
    client.close()
    assert view.closed
    with pytest.raises(SaynaNotConnectedError):
        view.health()


def test_a_view_repr_shows_header_names_not_values(sayna_server: FakeServer) -> None:
    """A header value may be a secret: the repr names it only."""
    with Sayna(sayna_server.url) as client:
        view = client.with_options(timeout=2, headers={"X-Gateway-Key": "s3cret-value"})
        assert "s3cret" not in repr(view)
        assert "X-Gateway-Key" in repr(view)
        assert "timeout=2" in repr(view)


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({"Authorization": "Bearer x"}, "pass api_key="),
        ({"sec-websocket-key": "x"}, "set by the client"),
        ({"X-Bad": "a\r\nInjected: yes"}, "printable ASCII"),
        ({"Bad Name": "x"}, "valid HTTP header name"),
        ({"X-N": 5}, "must be a string"),
        ({"X-A": "1", "x-a": "2"}, "given twice"),
    ],
)
def test_bad_headers_are_refused_without_their_value(headers: dict, message: str) -> None:
    """Headers the client sets, injection and non-strings are refused; the value is never shown."""
    client = Sayna("http://127.0.0.1:9")
    with client, pytest.raises(SaynaValidationError, match=message) as info:
        client.with_options(headers=headers)
    assert "Injected" not in str(info.value)
    assert "Bearer x" not in str(info.value)


@pytest.mark.parametrize(
    ("options", "field"), [({"timeout": 0}, "timeout"), ({"max_retries": -1}, "max_retries")]
)
def test_bad_settings_are_refused(options: dict, field: str) -> None:
    """A view's timeout and retries are checked as the constructor's are."""
    with Sayna("http://127.0.0.1:9") as client, pytest.raises(SaynaValidationError) as info:
        client.with_options(**options)
    assert info.value.field == field


def test_views_are_safe_across_threads(sayna_server: FakeServer) -> None:
    """8 threads x 15 calls, each through its own view: every request carries its view's header."""
    errors: list[BaseException] = []
    with Sayna(sayna_server.url) as client:

        def work(n: int) -> None:
            view = client.with_options(headers={"X-Worker": str(n)}, timeout=10)
            try:
                for _ in range(15):
                    view.health()
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    assert errors == []
    counts = Counter(r.headers.get("x-worker") for r in sayna_server.requests)
    assert counts == {str(n): 15 for n in range(8)}


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_view_used_in_forked_children_gets_only_its_own_answers() -> None:
    """A view made before fork() serves forked children on connections of their own."""
    from tests.faults.test_fork_rest import _run_forked_children

    with FakeServer() as server, Sayna(server.url, timeout=10) as client:
        view = client.with_options(headers={"X-View": "1"})
        assert view.health().status == "OK"  # a live pooled socket before the fork
        wrong = _run_forked_children(view, 0)
    assert wrong == []
    assert {r.headers.get("x-view") for r in server.requests} == {"1"}
