"""Callbacks: the handler registry, the dispatcher thread, replay and callback errors.

One dispatcher thread per session (started with the first callback) reads the
session's event log through its own cursor and calls the matching handlers in
arrival order, never on the thread that reads the socket. Until the user's
first send the session is being set up, and a handler registered then is
replayed what arrived before it (``ready`` included).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, Union

from sayna._errors import SaynaCallbackError, SaynaValidationError
from sayna._events import CallbackErrorEvent, CloseEvent, Event, UnknownEvent
from sayna._realtime.cursor import Cursor
from sayna._realtime.eventlog import EventLog
from sayna._realtime.protocol import describe

__all__ = ["Dispatcher", "EventKey", "EventMatch", "callable_name", "check_key", "matcher"]

logger = logging.getLogger("sayna")

EventKey = Union[type[Event], str, None]  # noqa: UP007 - a runtime alias on 3.10
EventMatch = Union[type[Event], str, tuple[Any, ...], Callable[[Event], bool]]  # noqa: UP007


def callable_name(fn: Callable[..., Any]) -> str:
    """The name a log line gives a callback."""
    return str(getattr(fn, "__qualname__", None) or repr(fn))


def matcher(spec: EventMatch) -> Callable[[Event], bool]:
    """A predicate for an event class, a wire type, a tuple of those or a predicate."""
    if isinstance(spec, type):
        if not issubclass(spec, Event):
            raise SaynaValidationError(f"{spec.__name__} is not an event class", field="event")
        cls = spec
        return lambda event: isinstance(event, cls)
    if isinstance(spec, str):
        wire_type = spec
        return lambda event: event.type == wire_type
    if isinstance(spec, tuple):
        matchers = [matcher(item) for item in spec]
        return lambda event: any(match(event) for match in matchers)
    if callable(spec):
        return spec
    raise SaynaValidationError(
        "expected an event class, a type string, a tuple of those or a predicate",
        field="event",
    )


def check_key(key: EventKey) -> None:
    """Refuse what ``Session.on`` cannot register under."""
    if key is None or isinstance(key, str):
        return
    if isinstance(key, type) and issubclass(key, Event):
        return
    raise SaynaValidationError(
        f"expected an event class, a type string or None, not {key!r}", field="event_type"
    )


def _any_event(event: Event) -> bool:
    return True


class _Handler:
    __slots__ = ("fn", "key", "matches", "replayed", "since", "slot")

    def __init__(
        self, key: EventKey, fn: Callable[[Any], Any], slot: str | None, since: int
    ) -> None:
        self.key = key
        self.matches = _any_event if key is None else matcher(key)
        self.fn = fn
        self.slot = slot
        self.since = since  # the first log entry this handler is due
        # Set by the dispatcher once it caught the handler up; a handler
        # registered after the first send is due nothing from before it.
        self.replayed = since > 0


class Dispatcher:
    """The callbacks of one session and the thread that runs them."""

    def __init__(self, log: EventLog, session_id: int) -> None:
        self._log = log
        self._session_id = session_id
        self._lock = threading.Lock()
        # Copy-on-write: the dispatcher reads (handlers, routes) without a lock.
        self._registry: tuple[tuple[_Handler, ...], dict[object, tuple[_Handler, ...]]] = (
            (),
            {},
        )
        self.thread: threading.Thread | None = None
        self._cursor: Cursor | None = None
        self._stopped = False  # the session is closing: start no thread any more
        #: Set by the first send of the user (the config frame does not count).
        self.user_sent = False
        self.errors_lock = threading.Lock()
        self.errors: list[BaseException] = []
        self._unraised: list[BaseException] = []
        #: The log entries the thread is past: every callback due for them returned.
        self.handled = 0
        self._finished = False  # the thread has returned
        # Made by the first wait_handled(): until someone waits, the thread's
        # progress costs one attribute store per batch, no lock.
        self._progress: threading.Condition | None = None

    def stop_starting(self) -> None:
        """The session is closing: a handler registered from now on starts no thread."""
        self._stopped = True

    # --- the registry ----------------------------------------------------------------

    def add(self, key: EventKey, fn: Callable[[Any], Any], slot: str | None) -> None:
        # Until the user first sends, the session is being set up: callbacks
        # registered then also get what arrived before them (ready included),
        # whatever order the registrations and the dispatcher run in.
        with self._lock:
            since = self._log.end if self.user_sent else 0
            handlers = self._registry[0]
            if slot is not None:
                handlers = tuple(h for h in handlers if h.slot != slot)
            handler = _Handler(key, fn, slot, since)
            self._registry = ((*handlers, handler), {})
            if self.thread is None and not self._stopped:
                cursor = self._cursor = self._log.open(iterator=False, start=since)
                self.handled = since
                self.thread = threading.Thread(
                    target=self._run,
                    args=(cursor,),
                    name=f"sayna-dispatch-{self._session_id}",
                    daemon=True,
                )
                self.thread.start()
            elif not handler.replayed and self._cursor is not None:
                # The dispatcher may be waiting for the next event, which may
                # never come: have it replay what this handler is due now.
                self._log.wake(self._cursor)

    def remove(self, key: EventKey, fn: Callable[[Any], Any] | None, slot: str | None) -> bool:
        with self._lock:
            handlers = list(self._registry[0])
            for index, handler in enumerate(handlers):
                if slot is not None:
                    found = handler.slot == slot
                else:
                    found = handler.slot is None and handler.key == key and handler.fn == fn
                if found:
                    del handlers[index]
                    self._registry = (tuple(handlers), {})
                    return True
            return False

    def watches(self, event: Event) -> bool:
        """Whether a registered callback would receive ``event``."""
        return any(handler.matches(event) for handler in self._registry[0])

    def note_user_send(self) -> None:
        """The user sends for the first time: the session's setup is over."""
        if not self.user_sent:
            with self._lock:
                self.user_sent = True
                self._end_setup_if_replayed()

    def _end_setup_if_replayed(self) -> None:
        # Callbacks registered during the setup are due every event from the
        # start (ready included), so the log keeps everything until the first
        # send and until the dispatcher has caught all of those callbacks up.
        if self.user_sent and all(handler.replayed for handler in self._registry[0]):
            self._log.stop_keeping()

    # --- the dispatcher thread -----------------------------------------------------------

    def _run(self, cursor: Cursor) -> None:
        log = self._log
        seen: object = None
        try:
            while True:
                got = log.fetch(cursor)
                if got is None:
                    # Woken: a handler registered during setup is due the
                    # events before cursor.pos, all dispatched already.
                    registry = self._registry
                    if registry is not seen:
                        seen = registry
                        self._catch_up(registry[0], cursor.pos)
                    continue
                missed, first, events = got
                if not events:
                    if missed:
                        continue
                    return
                for seq, event in enumerate(events, first):
                    registry = self._registry
                    if registry is not seen:
                        seen = registry
                        self._catch_up(registry[0], seq)
                    handlers, routes = registry
                    cls = event.__class__
                    # Handlers match on class and wire type, and the type
                    # varies within a class only for unknown messages.
                    key = (cls, event.type) if cls is UnknownEvent else cls
                    matched = routes.get(key)
                    if matched is None:
                        matched = routes[key] = tuple(h for h in handlers if h.matches(event))
                    for handler in matched:
                        if seq >= handler.since:
                            # _call, inlined: this loop runs once per event.
                            try:
                                handler.fn(event)
                            except BaseException as exc:
                                self._failed(handler.fn, event, exc)
                    if cls is CloseEvent:
                        return
                self.handled = first + len(events)
                if self._progress is not None:
                    self._notify_progress()
        finally:
            self._finished = True
            self._notify_progress()
            log.release(cursor)

    def _notify_progress(self) -> None:
        progress = self._progress
        if progress is not None:
            with progress:
                progress.notify_all()

    def wait_handled(self, timeout: float | None) -> bool:
        """Wait until the callbacks due for every event received so far have returned.

        True at once without a dispatcher (no callback was ever registered) or
        once it has stopped; False if ``timeout`` seconds passed first.
        """
        if self.thread is threading.current_thread():
            raise SaynaValidationError(
                "wait_callbacks() cannot be called from a callback: the callbacks run one"
                " after another on one thread, so it would wait for itself"
            )
        target = self._log.end
        if self.thread is None:
            return True

        def done() -> bool:
            if self._finished:
                return True
            return self.handled >= target and all(h.replayed for h in self._registry[0])

        with self._lock:
            if self._progress is None:
                self._progress = threading.Condition()
            progress = self._progress
        with progress:
            return progress.wait_for(done, timeout)

    def _catch_up(self, handlers: tuple[_Handler, ...], seq: int) -> None:
        """Deliver to newly registered handlers what they are due from before ``seq``."""
        replayed = False
        for handler in handlers:
            if handler.replayed:
                continue
            if handler.since < seq:
                for event in self._log.snapshot(handler.since, seq):
                    if handler.matches(event):
                        self._call(handler.fn, event)
            # Only now: wait_handled() counts a handler as done once it was replayed.
            handler.replayed = replayed = True
        if replayed:
            with self._lock:
                self._end_setup_if_replayed()
            self._notify_progress()

    def _call(self, fn: Callable[[Any], Any], event: Event) -> None:
        try:
            fn(event)
        except BaseException as exc:
            self._failed(fn, event, exc)

    # --- callback errors -----------------------------------------------------------------

    def _failed(self, fn: Callable[..., Any], event: Event, exc: BaseException) -> None:
        # Any BaseException, SystemExit and KeyboardInterrupt included: on the
        # dispatcher thread it would otherwise end the thread silently and
        # starve every later callback. close() raises it again (see
        # raise_errors), on the thread that asked to close.
        logger.error(
            "a callback (%s) raised while handling a %s event; the session goes on",
            callable_name(fn),
            event.type,
            exc_info=(type(exc), exc, exc.__traceback__),
        )
        with self.errors_lock:
            self.errors.append(exc)
            self._unraised.append(exc)
        # Iterators see it too; an error raised while handling such an event is
        # not turned into another event (no loops).
        if not isinstance(event, CallbackErrorEvent):
            self._log.append(CallbackErrorEvent(error=exc, event=event, callback=fn), force=True)

    def raise_errors(self) -> None:
        """Raise the callback errors not raised yet (each once)."""
        with self.errors_lock:
            errors, self._unraised = self._unraised, []
        if errors:
            # An exit or interrupt asked for in a callback is honoured as
            # itself, not as a SaynaCallbackError a handler might swallow.
            for error in errors:
                if not isinstance(error, Exception):
                    raise error
            first = errors[0]
            raise SaynaCallbackError(
                f"{len(errors)} callback error(s) during the session; the first: {describe(first)}",
                errors=errors,
            ) from first

    def unraised_count(self) -> int:
        with self.errors_lock:
            return len(self._unraised)
