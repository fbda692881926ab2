"""A REST client used before fork() works in every child on connections of its own."""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import warnings
from collections.abc import Iterator

import pytest
import requests

from sayna import Sayna, TTSConfig
from sayna.testing import FakeServer, decode_speech

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")

CHILDREN = 4
CALLS = 40
ROUNDS = 3
TTS = TTSConfig(provider="deepgram", model="aura-asteria-en")


@contextlib.contextmanager
def _fork_allowed() -> Iterator[None]:
    # Python 3.12+ warns about fork() in a process with threads (the fake
    # server's): that is exactly the situation under test.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


def _child_calls(client: Sayna, tag: str, calls: int) -> list[str]:
    """Make ``calls`` REST calls whose answers name ``tag``; return every wrong one."""
    wrong: list[str] = []
    for n in range(calls):
        try:
            if n % 4 == 3:
                text = f"speech for {tag} number {n}"
                audio = client.speak_rest(text, TTS)
                heard = decode_speech(audio.data, audio.sample_rate or 24000)
                if heard != text:
                    wrong.append(f"{tag}#{n}: heard {heard!r}")
            else:
                room = f"room-{tag}-{n}"
                token = client.get_livekit_token(room, "caller", f"id-{tag}-{n}")
                if (token.room_name, token.participant_identity) != (room, f"id-{tag}-{n}"):
                    wrong.append(f"{tag}#{n}: got {token.room_name}/{token.participant_identity}")
        except Exception as exc:  # every failure counts, whatever its type
            wrong.append(f"{tag}#{n}: {type(exc).__name__}: {exc}")
    return wrong


def _run_forked_children(client: Sayna, round_no: int) -> list[str]:
    """Fork CHILDREN children that call through ``client``; the parent calls meanwhile."""
    pids: dict[int, int] = {}
    for child in range(CHILDREN):
        read_end, write_end = os.pipe()
        with _fork_allowed():
            pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            status = 1
            try:
                os.close(read_end)
                wrong = _child_calls(client, f"r{round_no}c{child}", CALLS)
                with os.fdopen(write_end, "w") as out:
                    json.dump(wrong, out)
                status = 0
            finally:
                os._exit(status)
        os.close(write_end)
        pids[pid] = read_end
    # The parent keeps using its own pooled connection while the children run.
    wrong = _child_calls(client, f"r{round_no}parent", CALLS // 2)
    for pid, read_end in pids.items():
        with os.fdopen(read_end) as answers:
            report = answers.read()
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, f"child {pid} died: {report!r}"
        wrong += json.loads(report)
    return wrong


def test_forked_children_only_see_their_own_answers() -> None:
    """Several forked children x many calls, repeated: every answer is the caller's own."""
    with FakeServer() as server, Sayna(server.url, timeout=10) as client:
        # One call before the fork so that the pool holds a live keep-alive socket.
        assert client.health().status == "OK"
        wrong: list[str] = []
        for round_no in range(ROUNDS):
            wrong += _run_forked_children(client, round_no)
        assert wrong == []


def test_user_session_pools_are_reset_in_the_child() -> None:
    """A requests.Session passed by the user also gets fresh pools in the child, settings kept."""
    http = requests.Session()
    http.headers["X-Team"] = "voice"
    with FakeServer() as server, Sayna(server.url, session=http, timeout=10) as client:
        assert client.health().status == "OK"
        wrong: list[str] = []
        for round_no in range(2):
            wrong += _run_forked_children(client, round_no)
        assert wrong == []
        assert {r.headers.get("x-team") for r in server.requests} == {"voice"}
    http.close()


def _pool_worker(job: tuple[str, int]) -> tuple[int, list[str]]:
    return os.getpid(), _child_calls(_POOL_CLIENT, *job)


_POOL_CLIENT: Sayna


def test_multiprocessing_fork_pool() -> None:
    """multiprocessing with the 'fork' start method: a module-level client serves every worker."""
    global _POOL_CLIENT
    with FakeServer() as server, Sayna(server.url, timeout=10) as client:
        _POOL_CLIENT = client
        assert client.health().status == "OK"
        context = multiprocessing.get_context("fork")
        jobs = [(f"job{n}", 20) for n in range(16)]
        with _fork_allowed(), context.Pool(4) as pool:
            pending = pool.map_async(_pool_worker, jobs, chunksize=1)
            # The parent keeps using its pooled connection meanwhile.
            parent_wrong = _child_calls(client, "parent", 20)
            results = pending.get(timeout=60)
        assert [wrong for _, wrong in results if wrong] == parent_wrong == []
        # The jobs really ran in several forked workers, not in the parent.
        workers = {pid for pid, _ in results}
        assert len(workers) > 1
        assert os.getpid() not in workers
