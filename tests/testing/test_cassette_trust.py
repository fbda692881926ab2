"""Cassettes that cannot lie: half recordings dropped, one upstream, hostile files refused, 0600."""

from __future__ import annotations

import base64
import gzip
import json
import math
import os
import pathlib
import signal
import socket
import stat
import subprocess
import sys
import textwrap
import time
import zlib
from collections.abc import Iterator

import pytest
import requests

from sayna import Sayna
from sayna.testing import CassetteError, FakeServer, RecordingProxy
from sayna.testing._cassette import MAX_CASSETTE_DEPTH, SECRET_KEYS, read_cassette
from tests.support.rawserver import RawServer, read_request_head

HEADER = '{"format":"sayna-cassette","version":1}\n'
NO_PROXY = {"http": "", "https": ""}


@pytest.fixture
def upstream() -> Iterator[FakeServer]:
    """The server that recordings come from."""
    with FakeServer() as server:
        yield server


def _record_health(upstream: FakeServer, path: pathlib.Path) -> None:
    with RecordingProxy(upstream.url, path) as proxy, Sayna(proxy.url) as client:
        client.health()


# --- item 14: a recording that did not end cleanly never becomes a cassette ---------------


def test_exception_inside_the_proxy_block_keeps_no_cassette(
    upstream: FakeServer, tmp_path: pathlib.Path
) -> None:
    """An exception inside ``with RecordingProxy`` drops the recording and its .partial file."""
    path = tmp_path / "half.jsonl"

    class Boom(Exception):
        pass

    def record_then_fail() -> None:
        with RecordingProxy(upstream.url, path) as proxy, Sayna(proxy.url) as client:
            client.health()
            raise Boom

    with pytest.raises(Boom):
        record_then_fail()
    assert not path.exists()
    assert list(tmp_path.iterdir()) == []


def test_a_dropped_recording_leaves_the_older_cassette_as_it_was(
    upstream: FakeServer, tmp_path: pathlib.Path
) -> None:
    """A failed re-recording leaves the previous cassette byte for byte."""
    path = tmp_path / "kept.jsonl"
    _record_health(upstream, path)
    before = path.read_bytes()

    def record_then_interrupt() -> None:
        with RecordingProxy(upstream.url, path) as proxy, Sayna(proxy.url) as client:
            client.get_voices()
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        record_then_interrupt()
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.jsonl"]


INTERRUPTED_TEST = """
import pathlib
import time

from sayna import Sayna


def test_interrupted(sayna_cassette):
    with Sayna() as client:
        client.health()
    pathlib.Path("recorded.flag").write_text("yes")
    time.sleep(60)
"""


def test_ctrl_c_during_a_once_recording_keeps_no_cassette(
    upstream: FakeServer, tmp_path: pathlib.Path
) -> None:
    """SIGINT to a --sayna-record-mode=once run: no cassette, so the next run cannot replay it."""
    (tmp_path / "test_interrupted.py").write_text(textwrap.dedent(INTERRUPTED_TEST), "utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAYNA_")}
    env["SAYNA_URL"] = upstream.url
    args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_interrupted.py"]
    run = subprocess.Popen(
        [*args, "--sayna-record-mode=once"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "recorded.flag").exists():
            assert run.poll() is None, run.communicate()[0]
            assert time.monotonic() < deadline, "the recording never started"
            time.sleep(0.05)
        run.send_signal(signal.SIGINT)
        output, _ = run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
            run.communicate()
    assert run.returncode != 0, output
    folder = tmp_path / "cassettes" / "test_interrupted"
    leftovers = sorted(p.name for p in folder.iterdir()) if folder.exists() else []
    assert leftovers == [], output
    # The next replay-only run says the cassette is missing, at once.
    started = time.monotonic()
    again = subprocess.run(
        args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert again.returncode == 1
    assert "does not exist" in again.stdout
    assert time.monotonic() - started < 30


# --- item 15: the proxy talks only to its upstream ------------------------------------------


@pytest.fixture
def elsewhere() -> Iterator[RawServer]:
    """A server the proxy must never reach; it records what it is sent."""

    def handler(conn: socket.socket) -> None:
        read_request_head(conn)

    with RawServer(handler) as server:
        yield server


@pytest.mark.parametrize(
    "target",
    [
        "@127.0.0.1:{port}/ws",
        ":{port}@127.0.0.1:{port}/ws",
        "http://127.0.0.1:{port}/ws",
        "127.0.0.1:{port}",
    ],
)
def test_a_request_target_cannot_steer_the_proxy(
    upstream: FakeServer, elsewhere: RawServer, tmp_path: pathlib.Path, target: str
) -> None:
    """An upgrade whose target names another host:port is refused 400; nothing goes there."""
    wanted = target.format(port=elsewhere.port)
    with RecordingProxy(upstream.url, tmp_path / "steer.jsonl") as proxy:
        port = int(proxy.url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
            conn.sendall(
                f"GET {wanted} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                "Authorization: Bearer sk-never-forwarded-elsewhere\r\n\r\n".encode()
            )
            answer = read_request_head(conn)
    assert answer.startswith(b"HTTP/1.1 400"), answer
    assert elsewhere.accepted == 0


def test_the_proxy_still_forwards_paths_to_its_upstream(
    upstream: FakeServer, tmp_path: pathlib.Path
) -> None:
    """Ordinary paths (REST and /ws) still reach the upstream through the proxy."""
    with RecordingProxy(upstream.url, tmp_path / "ok.jsonl") as proxy, Sayna(proxy.url) as client:
        assert client.health().status == "OK"
        with client.connect(without_audio=True, timeout=10) as session:
            assert session.stream_id


# --- item 16: a hostile cassette is bounded and refused with CassetteError ------------------


def _event(**fields: object) -> str:
    return json.dumps({"kind": "ws_open", "session": 1, "target": "/ws", **fields}) + "\n"


HOSTILE = {
    "nested 100k deep": '{"kind":"ws","session":1,"from":"server","json":'
    + "[" * 100_000
    + "]" * 100_000
    + "}\n",
    f"nested {MAX_CASSETTE_DEPTH + 1} deep": '{"kind":"ws","session":1,"from":"server","json":'
    + "[" * MAX_CASSETTE_DEPTH
    + "]" * MAX_CASSETTE_DEPTH
    + "}\n",
    "t NaN": '{"t":NaN,"kind":"ws_open","session":1,"target":"/ws"}\n',
    "t 1e300": _event(t=1e300),
    "t negative": _event(t=-1),
    "t as a string": _event(t="soon"),
    "close code 70000": json.dumps(
        {"kind": "ws_close", "session": 1, "from": "server", "code": 70000}
    )
    + "\n",
    "Infinity in a body": '{"kind":"ws","session":1,"from":"server","json":{"x":Infinity}}\n',
    "a 17 MiB line": json.dumps(
        {"kind": "ws", "session": 1, "from": "server", "text": "x" * (17 * 1024 * 1024)}
    )
    + "\n",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_cassette_is_refused_with_cassette_error(tmp_path: pathlib.Path, name: str) -> None:
    """Deep nesting, non-finite or huge stamps, bad close codes, NaN, huge lines: CassetteError."""
    path = tmp_path / "hostile.jsonl"
    path.write_text(HEADER + _event(t=0.0) + HOSTILE[name], "utf-8")
    with pytest.raises(CassetteError, match="line 3"):
        read_cassette(path)
    with pytest.raises(CassetteError):
        FakeServer(cassette=path, pace="recorded")


def test_a_gzip_bomb_cassette_is_refused_in_bounded_memory(tmp_path: pathlib.Path) -> None:
    """A ~400 KB .gz inflating to 400 MiB is refused; the reading process stays under 100 MiB."""
    path = tmp_path / "bomb.jsonl.gz"
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = b"A" * (1024 * 1024)
    with path.open("wb") as out:
        out.write(packer.compress(HEADER.encode() + b'{"kind":"ws_open","session":1,"target":"'))
        for _ in range(400):
            out.write(packer.compress(block))
        out.write(packer.compress(b'"}\n') + packer.flush())
    assert path.stat().st_size < 1024 * 1024
    with gzip.open(path) as inflated:
        assert inflated.read(len(HEADER)) == HEADER.encode()
    probe = (
        "import resource, sys\n"
        "from sayna.testing._cassette import CassetteError, read_cassette\n"
        "base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "try:\n"
        "    read_cassette(sys.argv[1])\n"
        "except CassetteError as exc:\n"
        "    print('refused', exc)\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("refused"), done.stdout
    growth_kib = int(lines[-1])
    print(f"\npeak RSS growth reading a 400 MiB gzip bomb: {growth_kib / 1024:.1f} MiB")
    assert growth_kib < 100 * 1024


def test_a_well_formed_cassette_still_loads(tmp_path: pathlib.Path) -> None:
    """Stamps, codes and nesting within the bounds load as before."""
    path = tmp_path / "fine.jsonl"
    audio = base64.b64encode(b"\x00\x01").decode()
    path.write_text(
        HEADER
        + _event(t=0.0)
        + json.dumps({"t": 0.5, "kind": "ws", "session": 1, "from": "server", "audio": audio})
        + "\n"
        + json.dumps({"t": 1, "kind": "ws_close", "session": 1, "from": "client", "code": 1000})
        + "\n",
        "utf-8",
    )
    events = read_cassette(path)
    assert [e["kind"] for e in events] == ["ws_open", "ws", "ws_close"]
    assert not math.isnan(events[1]["t"])


# --- item 17: credentials redacted (the documented list), files 0600 ------------------------

SPELLINGS = {
    "access_token": "S-access",
    "client_secret": "S-client",
    "api-key": "S-dash",
    "apiKey": "S-camel",
    "refresh_token": "S-refresh",
    "X-Api-Key": "S-header-style",
    "private_key": "S-private",
}


def test_credentials_are_redacted_and_the_file_is_owner_only(
    upstream: FakeServer, tmp_path: pathlib.Path
) -> None:
    """Credential JSON keys and query parameters never reach the file, which is 0600."""
    path = tmp_path / "secrets.jsonl"
    old_umask = os.umask(0o022)
    try:
        with RecordingProxy(upstream.url, path) as proxy, requests.Session() as http:
            http.trust_env = False
            http.post(
                proxy.url + "/speak",
                json={"text": "hi", "tts_config": {"provider": "deepgram", **SPELLINGS}},
                timeout=10,
            ).close()
            http.get(
                proxy.url + "/voices?access_token=Q-access&key=Q-key&api-key=Q-dash&lang=en",
                timeout=10,
            ).close()
    finally:
        os.umask(old_umask)
    text = path.read_text("utf-8")
    for secret in [*SPELLINGS.values(), "Q-access", "Q-key", "Q-dash"]:
        assert secret not in text
    assert "lang=en" in text
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_the_documented_list_is_the_code_list() -> None:
    """docs/cassettes.rst names exactly the keys the code redacts."""
    docs = pathlib.Path(__file__).parents[2] / "docs" / "cassettes.rst"
    listed = docs.read_text("utf-8").split(".. redacted-keys-start", 1)[1]
    listed = listed.split(".. redacted-keys-end", 1)[0]
    named = {word.strip("`,. \n") for word in listed.split("``")[1::2]}
    assert named == set(SECRET_KEYS)
