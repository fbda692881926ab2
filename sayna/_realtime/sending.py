"""The send rules of a session: where a user's frame goes, and what a drop does to it.

Without a reconnect policy a frame goes to the one connection or fails. With
one, a command (JSON) found in the gap waits for the next connection (or the
end), while audio is dropped and counted: audio is real time, a late frame
would be heard late. The waiting itself is a transition of the core
(:meth:`SessionCore.await_connection`); these rules only pick the connection.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from sayna._errors import SaynaError
from sayna._realtime.connection import Connection, binary_frame, text_frame

if TYPE_CHECKING:
    from sayna._realtime.core import SessionCore

__all__ = ["send_binary", "send_json", "speak"]


def send_json(core: SessionCore, payload: dict[str, Any]) -> None:
    """A user's command: ends the setup (see the dispatcher), then goes out.

    While reconnecting it waits for the new connection (or the end).
    """
    if not core.dispatcher.user_sent:
        core.dispatcher.note_user_send()
    frame = text_frame(payload)
    if core.policy is None:
        _current(core).send_raw(frame)
        return
    while True:
        connection = core.connection
        if core.is_ready and connection is not None:
            try:
                connection.send_raw(frame)
                return
            except SaynaError:
                if not core.is_ready or core.connection is not connection:
                    continue
                # The drop is not noticed yet: make the reader notice it.
                connection.shutdown_socket()
        core.await_connection(connection)


def speak(core: SessionCore, text: str, payload: dict[str, Any]) -> None:
    """``speak()``: timed from now (see :mod:`sayna._realtime.stats`)."""
    token = core.speech.spoke(text, time.monotonic())
    try:
        send_json(core, payload)
    except BaseException:
        core.speech.withdraw(token)
        raise


def send_binary(core: SessionCore, data: bytes | bytearray | memoryview) -> None:
    """User audio: ends the setup, then goes out; dropped (counted) while reconnecting."""
    if not core.dispatcher.user_sent:
        core.dispatcher.note_user_send()
    size = len(data) if not isinstance(data, memoryview) else data.nbytes
    if core.policy is None:
        _current(core).send_raw(binary_frame(data), size)
        core.hearing.audio_sent(time.monotonic())
        return
    connection = core.connection
    if core.is_ready and connection is not None:
        try:
            connection.send_raw(binary_frame(data), size)
            core.hearing.audio_sent(time.monotonic())
            return
        except SaynaError:
            if not core.is_live:
                raise
            connection.shutdown_socket()  # the reader notices the drop
    elif not core.is_reconnecting:
        raise core.closed_error()
    # Never sent late: audio is real time, a late frame would be heard late.
    core.drop_audio(size)


def _current(core: SessionCore) -> Connection:
    connection = core.connection
    if connection is None:
        raise core.closed_error()
    return connection
