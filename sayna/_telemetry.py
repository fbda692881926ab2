"""OpenTelemetry spans and metrics, when ``opentelemetry-api`` is installed.

The rest of sayna calls the few functions below, each once per REST call,
connect, speech, turn, reconnect or session, never per frame. Without the
API (the import below fails) :data:`enabled` is False, each function returns
at its first line, and nothing of OpenTelemetry is imported. With it, spans go
to the tracer provider the application set (``trace.set_tracer_provider``)
and metrics to its meter provider; with none set, the API's no-op providers
make every call cheap. Span and metric names: docs/logging.rst.

No span carries a secret: REST spans name the route, never the query string
or a header; errors are recorded by type (``error.type``), not by message.
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
import time
import urllib.parse
import weakref
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

try:
    from opentelemetry import metrics as _metrics
    from opentelemetry import trace as _trace
except ImportError:  # the optional extra is not installed: nothing to report to
    enabled = False
else:
    enabled = True

if TYPE_CHECKING:
    from sayna._realtime.core import SessionCore
    from sayna._realtime.stats import SessionStats
    from sayna._turns import Turn

__all__ = [
    "configure",
    "enabled",
    "reconnect_span",
    "retry",
    "session_ended",
    "session_started",
    "speech_audio",
    "speech_end",
    "speech_start",
    "step",
    "traced_connect",
    "traced_request",
    "turn",
]

T = TypeVar("T")
P = ParamSpec("P")
_NAME = "sayna"

_tracer: Any = None
# configure() was handed a provider of its own (tests): it records regardless
# of what the global one is.
_explicit_provider = False
_histograms: dict[str, Any] = {}
_global_histograms: dict[str, Any] | None = None

# Routes whose last segment is a name or id: the span names the template.
_TEMPLATES = (
    ("/livekit/rooms/", "/livekit/rooms/{room_name}"),
    ("/recording/", "/recording/{stream_id}"),
)


def configure(tracer_provider: Any = None, meter_provider: Any = None) -> None:
    """Use these providers (None: the global ones, which may be set later)."""
    global _tracer, _histograms, _global_histograms, _explicit_provider
    if not enabled:
        return
    from sayna._version import __version__

    _explicit_provider = tracer_provider is not None
    source = _trace if tracer_provider is None else tracer_provider
    _tracer = source.get_tracer(_NAME, __version__)
    if meter_provider is not None:
        _histograms = _instruments(meter_provider.get_meter(_NAME, __version__))
        return
    # The global meter gets its instruments once: a second set would report
    # every metric twice once the application sets its provider.
    if _global_histograms is None:
        _global_histograms = _instruments(_metrics.get_meter(_NAME, __version__))
    _histograms = _global_histograms


def _nothing_records() -> bool:
    """True while no span could be recorded: the API alone, no SDK provider set yet.

    The global provider stays the API's proxy until the application sets one;
    a span made through it is a no-op that still costs ~30 us per REST call.
    """
    return not _explicit_provider and isinstance(
        _trace.get_tracer_provider(), _trace.ProxyTracerProvider
    )


def _route(path: str) -> str:
    for prefix, template in _TEMPLATES:
        if path.startswith(prefix) and len(path) > len(prefix):
            return template
    return path


def _server(base_url: str) -> dict[str, Any]:
    parts = urllib.parse.urlsplit(base_url)
    attributes: dict[str, Any] = {"server.address": parts.hostname or ""}
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is None:
        port = 443 if parts.scheme in ("https", "wss") else 80
    attributes["server.port"] = port
    return attributes


def _fail(span: Any, error_type: str) -> None:
    span.set_attribute("error.type", error_type)
    span.set_status(_trace.Status(_trace.StatusCode.ERROR, error_type))


# --- REST ------------------------------------------------------------------------


def traced_request(
    send: Callable[Concatenate[Any, str, str, P], T],
) -> Callable[Concatenate[Any, str, str, P], T]:
    """The transport's ``open(method, path, ...)`` in a CLIENT span named ``METHOD route``."""

    @functools.wraps(send)
    def traced(transport: Any, method: str, path: str, /, *args: P.args, **kwargs: P.kwargs) -> T:
        if not enabled or _nothing_records():
            return send(transport, method, path, *args, **kwargs)
        route = _route(path)
        attributes = {
            "http.request.method": method,
            "http.route": route,
            **_server(transport.base_url),
        }
        with _span(f"{method} {route}", attributes) as span:
            response = send(transport, method, path, *args, **kwargs)
            span.set_attribute("http.response.status_code", getattr(response, "status_code", 0))
            return response

    return traced


def retry(attempt: int, delay: float) -> None:
    """A REST call or a first connection is tried again: an event on the current span."""
    if not enabled:
        return
    span = _trace.get_current_span()
    span.set_attribute("http.request.resend_count", attempt)
    span.add_event("retry", {"sayna.attempt": attempt, "sayna.delay": delay})


# --- connecting ------------------------------------------------------------------


def traced_connect(connect: Callable[Concatenate[Any, P], T]) -> Callable[Concatenate[Any, P], T]:
    """``Sayna.connect`` in a CLIENT span ``sayna.connect``; its steps are events (:func:`step`)."""

    @functools.wraps(connect)
    def traced(client: Any, /, *args: P.args, **kwargs: P.kwargs) -> T:
        if not enabled:
            return connect(client, *args, **kwargs)
        with _span("sayna.connect", _server(client.base_url)):
            return connect(client, *args, **kwargs)

    return traced


@contextlib.contextmanager
def _span(name: str, attributes: dict[str, Any]) -> Iterator[Any]:
    with _tracer.start_as_current_span(
        name,
        kind=_trace.SpanKind.CLIENT,
        attributes=attributes,
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        try:
            yield span
        except BaseException as exc:
            # An HTTP refusal is named by its status (semantic conventions).
            status = getattr(exc, "status_code", None)
            if status is not None:
                span.set_attribute("http.response.status_code", status)
            _fail(span, type(exc).__name__ if status is None else str(status))
            raise


def step(name: str, attributes: dict[str, Any] | None = None) -> None:
    """An event on the current span: a step of connecting (``tcp``, ``tls``, ``upgrade``,
    ``ready``) just ended, or a reconnect ``attempt`` starts."""
    if enabled:
        _trace.get_current_span().add_event(name, attributes)


@contextlib.contextmanager
def reconnect_span(session_id: int, succeeded: Callable[[], bool]) -> Iterator[None]:
    """A session's reconnect as one span; an error (``gave_up``) unless ``succeeded()``."""
    if not enabled:
        yield
        return
    with _span("sayna.reconnect", {"sayna.session.id": session_id}) as span:
        yield
        if not succeeded():
            _fail(span, "gave_up")


# --- speech and turns ----------------------------------------------------------------


def speech_start(text: str, session_id: int) -> Any:
    """``speak()``: a span parented to the caller's current span (None when disabled)."""
    if not enabled:
        return None
    return _tracer.start_span(
        "sayna.speech",
        attributes={"sayna.speech.characters": len(text), "sayna.session.id": session_id},
    )


def speech_audio(span: Any, started: float, now: float) -> None:
    """The first audio frame of one speech (``started``/``now``: monotonic)."""
    span.add_event("first_audio")
    _record("sayna.speech.first_audio", now - started)


def speech_end(span: Any, started: float, now: float, failure: str | None = None) -> None:
    """``tts_playback_complete`` (or ``failure``: why the speech did not complete)."""
    if failure is None:
        _record("sayna.speech.duration", now - started)
    else:
        _fail(span, failure)
    span.end()


def turn(value: Turn, session_id: int) -> None:
    """A user turn the session's turn reader assembled, as a span of its real length."""
    if not enabled:
        return
    # Turn times are monotonic; spans want wall-clock nanoseconds.
    offset = time.time_ns() - int(time.monotonic() * 1e9)
    span = _tracer.start_span(
        "sayna.turn",
        start_time=offset + int(value.started_at * 1e9),
        attributes={
            "sayna.session.id": session_id,
            "sayna.turn.segments": len(value.segments),
            "sayna.turn.characters": len(value.text),
            "sayna.turn.barged_in": value.barged_in,
        },
    )
    span.end(end_time=offset + int(value.ended_at * 1e9))


# --- metrics: SessionStats of live sessions, read when the metrics are collected ----

_lock = threading.Lock()
_live: weakref.WeakSet[SessionCore] = weakref.WeakSet()
# Totals of the sessions that ended: counters stay monotonic when one closes.
_ended = {"received": 0, "sent": 0, "audio_received": 0, "audio_sent": 0, "reconnects": 0}


def _reset_after_fork() -> None:
    # The parent's sessions and totals are not the child's to report.
    global _lock, _live
    _lock = threading.Lock()
    _live = weakref.WeakSet()
    for key in _ended:
        _ended[key] = 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


def session_started(core: SessionCore) -> None:
    """A session is ready: its stats count in the metrics from now on."""
    if enabled:
        with _lock:
            _live.add(core)


def session_ended(core: SessionCore) -> None:
    """A session ended: its totals stay in the counters; its open speech spans end."""
    if not enabled:
        return
    core.speech.end_spans("session_closed")
    stats = core.stats()
    with _lock:
        if core not in _live:
            return
        _live.discard(core)
        _add(_ended, stats)


def _add(totals: dict[str, int], stats: SessionStats) -> None:
    """Add one session's counters to ``totals`` (keys as in ``_ended``)."""
    totals["received"] += stats.messages_received
    totals["sent"] += stats.messages_sent
    totals["audio_received"] += stats.audio_bytes_received
    totals["audio_sent"] += stats.audio_bytes_sent
    totals["reconnects"] += stats.reconnects


def _totals() -> tuple[dict[str, int], int]:
    with _lock:
        totals = dict(_ended)
        live = [core for core in _live if core.in_this_process]
    for core in live:
        _add(totals, core.stats())
    return totals, len(live)


def _observe(key: str) -> Callable[[Any], Iterable[Any]]:
    def callback(_options: Any) -> Iterable[Any]:
        return [_metrics.Observation(_totals()[0][key])]

    return callback


def _active(_options: Any) -> Iterable[Any]:
    return [_metrics.Observation(_totals()[1])]


_COUNTERS = (
    ("sayna.session.messages.received", "received", "{message}", "WebSocket messages received"),
    ("sayna.session.messages.sent", "sent", "{message}", "WebSocket messages sent"),
    ("sayna.session.audio.received", "audio_received", "By", "TTS audio bytes received"),
    ("sayna.session.audio.sent", "audio_sent", "By", "audio bytes sent"),
    ("sayna.session.reconnects", "reconnects", "{reconnect}", "reconnects that succeeded"),
)


def _instruments(meter: Any) -> dict[str, Any]:
    """Create the instruments on ``meter``; return its histograms by name."""
    for name, key, unit, description in _COUNTERS:
        meter.create_observable_counter(
            name, callbacks=[_observe(key)], unit=unit, description=description
        )
    meter.create_observable_up_down_counter(
        "sayna.session.active",
        callbacks=[_active],
        unit="{session}",
        description="sessions ready or reconnecting",
    )
    return {
        "sayna.speech.first_audio": meter.create_histogram(
            "sayna.speech.first_audio", unit="s", description="speak() to its first audio frame"
        ),
        "sayna.speech.duration": meter.create_histogram(
            "sayna.speech.duration", unit="s", description="speak() to tts_playback_complete"
        ),
    }


def _record(name: str, value: float) -> None:
    _histograms[name].record(value)


configure()
