"""OpenTelemetry spans and metrics against the local server (docs/logging.rst, "Tracing")."""

from __future__ import annotations

import json
import os
import pathlib
import socket
import ssl
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import trustme
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from sayna import (
    AuthenticationError,
    ReconnectPolicy,
    Sayna,
    SaynaConnectionError,
    SaynaHttpError,
    Session,
    TTSPlaybackCompleteEvent,
)
from sayna import _telemetry as telemetry
from sayna.testing import FakeServer, FakeSession
from tests.support.child_processes import in_forked_child
from tests.support.drops import drop_until_reconnected
from tests.support.lone_server import reconnecting_session
from tests.support.polling import wait_until
from tests.support.rawserver import RawServer, read_request_head
from tests.support.speech_configs import STT, TTS_16K
from tests.support.stt_push import say_turn

KEY = "sk-otel-secret-0815"


class Telemetry:
    """What sayna reported: finished spans and collected metrics."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])
        self.tracer = self.tracer_provider.get_tracer("the-application")

    def spans(self, name: str) -> list[ReadableSpan]:
        return [s for s in self.exporter.get_finished_spans() if s.name == name]

    def one(self, name: str) -> ReadableSpan:
        spans = self.spans(name)
        assert len(spans) == 1, [s.name for s in self.exporter.get_finished_spans()]
        return spans[0]

    def metrics(self) -> dict[str, Any]:
        """Metric name -> its one data point (sum, gauge or histogram)."""
        points: dict[str, Any] = {}
        data = self.reader.get_metrics_data()
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                if scope.scope.name != "sayna":
                    continue
                for metric in scope.metrics:
                    points[metric.name] = next(iter(metric.data.data_points))
        return points


@pytest.fixture
def otel() -> Iterator[Telemetry]:
    """sayna reporting to in-memory providers of its own (the global ones stay untouched)."""
    seen = Telemetry()
    telemetry.configure(seen.tracer_provider, seen.meter_provider)
    try:
        yield seen
    finally:
        telemetry.configure()
        seen.tracer_provider.shutdown()
        seen.meter_provider.shutdown()


def attributes(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


def events(span: ReadableSpan) -> list[str]:
    return [event.name for event in span.events]


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    """``code`` in a fresh interpreter started in the repository (for ``tests.support``)."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    )


def no_secret(otel: Telemetry) -> None:
    for span in otel.exporter.get_finished_spans():
        text = json.dumps(
            {"a": attributes(span), "e": [dict(e.attributes or {}) for e in span.events]},
            default=str,
        )
        assert KEY not in text


def test_a_rest_call_is_a_client_span_named_after_its_route(
    sayna_server: FakeServer, otel: Telemetry
) -> None:
    """health(): span 'GET /' with method, route, server and status; the key nowhere."""
    with Sayna(sayna_server.url, api_key=KEY) as client:
        client.health()
    span = otel.one("GET /")
    assert span.kind is SpanKind.CLIENT
    assert attributes(span) == {
        "http.request.method": "GET",
        "http.route": "/",
        "server.address": "127.0.0.1",
        "server.port": sayna_server.port,
        "http.response.status_code": 200,
    }
    assert span.status.status_code is StatusCode.UNSET
    no_secret(otel)


def test_a_rest_span_names_the_route_template_and_the_error(
    sayna_server: FakeServer, otel: Telemetry
) -> None:
    """A room name stays out of the span name; an error answer sets error.type to its status."""
    with Sayna(sayna_server.url) as client, pytest.raises(SaynaHttpError) as info:
        client.get_livekit_room("no-such-room-42")
    span = otel.one("GET /livekit/rooms/{room_name}")
    assert attributes(span)["http.response.status_code"] == info.value.status_code
    assert attributes(span)["error.type"] == str(info.value.status_code)
    assert span.status.status_code is StatusCode.ERROR
    assert "no-such-room-42" not in json.dumps(attributes(span))


def test_rest_retries_are_events_and_a_resend_count() -> None:
    """A GET answered 503 then 200: one span, one retry event, http.request.resend_count=1."""
    answers = [b"503 Service Unavailable", b"200 OK"]

    def handler(conn: socket.socket) -> None:
        while answers:
            if not read_request_head(conn):
                return
            body = b'{"status": "OK"}'
            conn.sendall(
                b"HTTP/1.1 " + answers.pop(0) + b"\r\nContent-Type: application/json\r\n"
                b"Retry-After: 0\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
            )

    seen = Telemetry()
    telemetry.configure(seen.tracer_provider, seen.meter_provider)
    try:
        with RawServer(handler) as server, Sayna(server.url, max_retries=2) as client:
            client.health()
    finally:
        telemetry.configure()
    span = seen.one("GET /")
    assert attributes(span)["http.request.resend_count"] == 1
    assert attributes(span)["http.response.status_code"] == 200
    assert events(span) == ["retry"]


def test_connect_is_a_span_with_its_steps_under_the_callers_span(
    sayna_server: FakeServer, otel: Telemetry
) -> None:
    """sayna.connect: a child of the application's span, events tcp, upgrade, ready."""
    with (
        Sayna(sayna_server.url, api_key=KEY) as client,
        otel.tracer.start_as_current_span("handle-call") as parent,
        client.connect(STT, TTS_16K),
    ):
        pass
    span = otel.one("sayna.connect")
    assert span.parent is not None
    assert span.parent.span_id == parent.get_span_context().span_id
    assert events(span) == ["tcp", "upgrade", "ready"]
    assert attributes(span)["server.port"] == sayna_server.port
    no_secret(otel)


def test_a_refused_connect_is_an_error_span(otel: Telemetry) -> None:
    """Nothing listening: the connect span ends with error.type, no step after tcp."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with Sayna(f"http://127.0.0.1:{port}") as client, pytest.raises(SaynaConnectionError):
        client.connect(STT, TTS_16K, timeout=5)
    span = otel.one("sayna.connect")
    assert attributes(span)["error.type"] == "SaynaConnectionError"
    assert events(span) == []


def test_a_tls_upgrade_refused_shows_tls_and_names_the_status(
    otel: Telemetry, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """wss answered 401: events tcp and tls, then error.type '401' with the status code."""
    authority = trustme.CA()
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    authority.issue_cert("127.0.0.1").configure_cert(server_context)
    ca_file = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(ca_file))

    def handler(conn: socket.socket) -> None:
        try:
            tls = server_context.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError):
            return
        with tls:
            if read_request_head(tls):
                tls.sendall(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n")

    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    http = requests.Session()
    http.verify = str(ca_file)
    with (
        RawServer(handler) as raw,
        http,
        Sayna(f"https://127.0.0.1:{raw.port}", api_key=KEY, session=http) as client,
        pytest.raises(AuthenticationError),
    ):
        client.connect(STT, TTS_16K, timeout=10)
    span = otel.one("sayna.connect")
    assert events(span) == ["tcp", "tls"]
    assert attributes(span)["error.type"] == "401"
    assert attributes(span)["http.response.status_code"] == 401
    no_secret(otel)


def test_a_speech_is_one_span_from_speak_to_complete_under_the_callers_span(
    session: Session, otel: Telemetry
) -> None:
    """speak() under a span: sayna.speech is its child, with first_audio, ended at completion."""
    with session.events(timeout=10) as stream:
        with otel.tracer.start_as_current_span("reply") as parent:
            session.speak("Hello there")
        for event in stream:
            if isinstance(event, TTSPlaybackCompleteEvent):
                break
    span = otel.one("sayna.speech")
    assert span.parent is not None
    assert span.parent.span_id == parent.get_span_context().span_id
    assert events(span) == ["first_audio"]
    assert attributes(span) == {
        "sayna.speech.characters": len("Hello there"),
        "sayna.session.id": session._core.id,
    }
    assert span.status.status_code is StatusCode.UNSET
    first_audio = span.events[0].timestamp
    assert span.start_time is not None
    assert span.end_time is not None
    assert span.start_time <= first_audio <= span.end_time
    metrics = otel.metrics()
    assert metrics["sayna.speech.first_audio"].count == 1
    assert metrics["sayna.speech.duration"].count == 1


def test_a_speech_cut_by_close_ends_as_an_error(sayna_server: FakeServer, otel: Telemetry) -> None:
    """A session closed before completion: the speech span still ends, error.type session_closed."""
    with Sayna(sayna_server.url) as client:
        session = client.connect(STT, TTS_16K)
        session.speak("cut short " * 50)  # the local server takes a while to answer it all
        session.close()
    span = otel.one("sayna.speech")
    assert span.status.status_code is StatusCode.ERROR
    assert attributes(span)["error.type"] in ("session_closed", "connection_lost")


def test_a_turn_is_a_span_of_its_length(pair: tuple[Session, FakeSession], otel: Telemetry) -> None:
    """listen(): the assembled turn is a sayna.turn span with its segment count."""
    session, fake = pair
    say_turn(fake, "book a table", "for two")
    turn = session.listen(timeout=10)
    assert turn.text == "book a table for two"
    span = otel.one("sayna.turn")
    assert attributes(span) == {
        "sayna.session.id": session._core.id,
        "sayna.turn.segments": 2,
        "sayna.turn.characters": len(turn.text),
        "sayna.turn.barged_in": False,
    }
    assert span.start_time is not None
    assert span.end_time is not None
    assert span.end_time >= span.start_time


@pytest.mark.connect(reconnect=ReconnectPolicy(max_attempts=3, initial_delay=0.05, max_delay=0.2))
def test_a_reconnect_is_a_span_with_its_attempts(
    pair: tuple[Session, FakeSession], otel: Telemetry
) -> None:
    """A real drop: sayna.reconnect with an attempt event and the new connection's steps."""
    session, fake = pair
    before = otel.metrics()["sayna.session.reconnects"].value  # the process's total so far
    drop_until_reconnected(session, fake)
    wait_until(lambda: otel.spans("sayna.reconnect"))
    span = otel.one("sayna.reconnect")
    assert events(span) == ["attempt", "tcp", "upgrade"]
    assert dict(span.events[0].attributes or {}) == {"sayna.attempt": 1}
    assert attributes(span)["sayna.session.id"] == session._core.id
    assert span.status.status_code is StatusCode.UNSET
    assert otel.metrics()["sayna.session.reconnects"].value == before + 1


def test_session_stats_are_metrics_that_stay_after_close(
    sayna_server: FakeServer, otel: Telemetry
) -> None:
    """Counters read the live sessions' stats at collection and keep a closed session's totals."""

    def value(points: dict[str, Any], name: str) -> int:
        # The counters are the process's totals: earlier tests' sessions count too.
        return int(points[name].value) - int(base[name].value)

    base = otel.metrics()
    with Sayna(sayna_server.url) as client:
        session = client.connect(STT, TTS_16K)
        session.send_audio(b"\x00\x00" * 1600)
        while_open = otel.metrics()
        stats = session.stats()
        session.close()
    after = otel.metrics()
    assert value(while_open, "sayna.session.active") == 1
    assert value(after, "sayna.session.active") == 0
    assert value(while_open, "sayna.session.audio.sent") == 3200
    assert value(after, "sayna.session.audio.sent") == 3200
    assert value(after, "sayna.session.messages.sent") >= stats.messages_sent >= 2
    assert value(after, "sayna.session.messages.received") >= 1


def test_without_opentelemetry_nothing_of_it_is_imported(sayna_server: FakeServer) -> None:
    """opentelemetry unimportable: REST and a session work, and no opentelemetry module loads."""
    code = f"""
        import sys
        sys.modules["opentelemetry"] = None  # as if the API were not installed
        import sayna
        from sayna import _telemetry
        from tests.support.speech_configs import STT, TTS_16K
        with sayna.Sayna({sayna_server.url!r}) as client:
            client.health()
            with client.connect(STT, TTS_16K) as session:
                session.speak("hi")
        loaded = sorted(
            m for m, v in sys.modules.items() if m.startswith("opentelemetry") and v is not None
        )
        print(_telemetry.enabled, loaded)
    """
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False []"


def test_with_the_global_providers_spans_reach_the_application() -> None:
    """By default sayna reports to whatever provider the application sets globally."""
    code = """
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        import sayna
        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(provider)  # after sayna's import: the proxy tracer follows
        from sayna.testing import FakeServer
        with FakeServer() as server, sayna.Sayna(server.url) as client:
            client.health()
        print([s.name for s in exporter.get_finished_spans()])
    """
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['GET /']"


def test_with_no_provider_set_a_rest_call_makes_no_span() -> None:
    """The API alone (no SDK provider yet): REST calls skip the no-op span and its cost."""
    code = """
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        import sayna
        from sayna import _telemetry
        from sayna.testing import FakeServer
        started = []
        start = _telemetry._tracer.start_as_current_span
        def counting(name, *args, **kwargs):
            started.append(name)
            return start(name, *args, **kwargs)
        _telemetry._tracer.start_as_current_span = counting
        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        with FakeServer() as server, sayna.Sayna(server.url) as client:
            client.health()
            before = list(started)
            trace.set_tracer_provider(provider)
            client.health()
        print(before, started, [s.name for s in exporter.get_finished_spans()])
    """
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[] ['GET /'] ['GET /']"


def test_a_reconnect_that_gives_up_is_an_error_span(otel: Telemetry) -> None:
    """The server gone for good: sayna.reconnect ends with error.type gave_up after its attempts."""
    policy = ReconnectPolicy(max_attempts=2, initial_delay=0.05, max_delay=0.05)
    with reconnecting_session(policy) as (server, session):
        server.stop()
        wait_until(lambda: session.close_event is not None, timeout=15)
    wait_until(lambda: otel.spans("sayna.reconnect"))
    span = otel.one("sayna.reconnect")
    assert [e.name for e in span.events if e.name == "attempt"] == ["attempt", "attempt"]
    assert attributes(span)["error.type"] == "gave_up"
    assert span.status.status_code is StatusCode.ERROR


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork() exists on POSIX only")
def test_a_forked_child_reports_none_of_the_parents_sessions(
    pair: tuple[Session, FakeSession], otel: Telemetry
) -> None:
    """After fork() the child's metrics count no session of the parent; the parent's still do."""
    session, _ = pair

    def child() -> bytes:
        points = otel.metrics()
        active = points["sayna.session.active"].value
        return f"{active} {points['sayna.session.messages.sent'].value}".encode()

    outcome = in_forked_child(child)
    assert outcome == b"0 0"
    assert session.connected
    assert otel.metrics()["sayna.session.active"].value >= 1
