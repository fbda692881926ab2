"""A chunked webhook POST with no Content-Length is refused at the size limit under gunicorn.

Each adapter runs in a real gunicorn sync worker on loopback; the test streams
an endless-looking chunked body (up to 64 MiB) and reads the worker's peak
resident set before and after. Reading such a body in full before checking
its size (``request.get_data()`` in the Flask adapter) took the worker's peak
up by the whole body; the limit now applies while reading.
"""

from __future__ import annotations

import json
import pathlib
import socket
import threading
import urllib.request
from collections.abc import Iterator

import pytest

from tests.integration.processes import BIN, HERE, Process, free_port

SENT_AT_MOST = 64 * 1024 * 1024
CHUNK = 64 * 1024
# The receivers' limit is 1 MiB; the rest is the worker's own noise.
ALLOWED_GROWTH_KIB = 12 * 1024


@pytest.fixture(params=["flask_app", "wsgi_app", "django_app"])
def worker(request: pytest.FixtureRequest, workdir: pathlib.Path) -> Iterator[tuple[str, int]]:
    """One gunicorn sync worker serving ``webhook_apps:<param>``; yields (name, port)."""
    port = free_port()
    server = Process(
        f"gunicorn {request.param}",
        [
            str(BIN / "gunicorn"),
            f"--bind=127.0.0.1:{port}",
            "--worker-class=sync",
            "--workers=1",
            "--timeout=60",
            f"webhook_apps:{request.param}",
        ],
        log=workdir / f"gunicorn-webhook-{request.param}.log",
        cwd=HERE,
    )
    try:
        server.wait_for_output("Booting worker", timeout=60)
        server.wait_until(lambda: _peak(port) > 0, "an answer to GET /peak", timeout=30)
        yield request.param, port
    finally:
        server.stop()


def _peak(port: int) -> int:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"http://127.0.0.1:{port}/peak", timeout=10) as answer:
            peak: int = json.loads(answer.read())["peak_kib"]
    except OSError:
        return 0
    return peak


def _post_chunked(port: int) -> tuple[bytes, int]:
    """Stream a chunked POST until the server stops reading; return (answer head, bytes sent)."""
    answer = bytearray()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:

        def read_answer() -> None:
            try:
                while data := conn.recv(65536):
                    answer.extend(data)
            except OSError:
                pass  # reset by the worker closing with our body unread

        reader = threading.Thread(target=read_answer, daemon=True)
        reader.start()
        conn.sendall(
            b"POST /hooks/sayna HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        chunk = f"{CHUNK:x}\r\n".encode() + b"x" * CHUNK + b"\r\n"
        sent = 0
        try:
            while sent < SENT_AT_MOST:
                conn.sendall(chunk)
                sent += CHUNK
            conn.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # the worker answered and closed: the point of the test
        reader.join(30)
    return bytes(answer), sent


def test_chunked_body_over_the_limit_is_refused_while_reading(worker: tuple[str, int]) -> None:
    """A 64 MiB chunked POST is refused and raises the worker's peak RSS by under 12 MiB."""
    name, port = worker
    before = _peak(port)
    answer, sent = _post_chunked(port)
    after = _peak(port)
    print(
        f"\n{name}: sent {sent / 2**20:.1f} MiB, peak RSS {before / 1024:.1f} -> "
        f"{after / 1024:.1f} MiB, answer {answer[:12]!r}"
    )
    if name == "django_app":
        # Django reads no body without a Content-Length (it never sees a
        # chunked one): the request is refused as unsigned, unread.
        assert answer.startswith(b"HTTP/1.1 4"), answer[:200]
    else:
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
        assert b"body_too_large" in answer
    assert after - before < ALLOWED_GROWTH_KIB
