"""A scripted raw TCP server on loopback for fault tests.

Each accepted connection runs ``handler(conn)`` on its own daemon thread; the
handler writes whatever bytes the test wants (a trickled upgrade, an endless
header, a stalled body, a malformed frame) and may read what the client sent.
``stop()`` closes the listener and every connection, so a handler blocked in
``recv`` or ``sendall`` ends promptly. Use it as a context manager.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable
from types import TracebackType

Handler = Callable[[socket.socket], None]


def read_request_head(conn: socket.socket, limit: int = 1 << 20) -> bytes:
    """Read from ``conn`` up to the blank line ending an HTTP request head."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
        if len(data) > limit:
            break
    return data


class RawServer:
    """Accepts TCP connections on 127.0.0.1 and hands each to ``handler``."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections: list[socket.socket] = []
        self.errors: list[BaseException] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._threads: list[threading.Thread] = []
        self.port: int = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._acceptor = threading.Thread(target=self._accept_loop, daemon=True)
        self._acceptor.start()

    @property
    def accepted(self) -> int:
        """How many connections were accepted so far."""
        with self._lock:
            return len(self.connections)

    def _accept_loop(self) -> None:
        while not self._stopped.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                if self._stopped.is_set():
                    conn.close()
                    return
                self.connections.append(conn)
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            self.handler(conn)
        except OSError:
            pass  # the client or stop() closed the socket under the handler
        except BaseException as exc:
            self.errors.append(exc)
        finally:
            conn.close()

    def stop(self) -> None:
        """Close the listener and every connection, then join the threads."""
        self._stopped.set()
        # close() alone does not wake a thread blocked in accept() on Linux.
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        with self._lock:
            for conn in self.connections:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
                conn.close()
        self._acceptor.join(5)
        for thread in self._threads:
            thread.join(5)

    def __enter__(self) -> RawServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
