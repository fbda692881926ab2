"""The Celery recipe (docs/recipes/celery.rst) runs as written: Django, Celery, Sayna.

The project in docs/recipes/celery_project is copied to a temporary folder and
served as a user would run it: ``manage.py migrate``, gunicorn for the views,
``celery worker`` for the task, a real redis-server between them. The local
Sayna server plays the phone call: it sends the signed inbound-call webhook,
hosts the LiveKit room, carries the caller's words and their hanging up.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from sayna.testing import FakeServer, FakeSession, decode_speech
from tests.integration.processes import BIN, Process, free_port, start_worker

PROJECT = pathlib.Path(__file__).resolve().parents[2] / "docs" / "recipes" / "celery_project"
SECRET = "recipe-webhook-secret-0123456789abcdef"
HOST = "callcenter.example.com"
CALLER, NUMBER = "+15550100", "+15550199"
ROOM = f"sip-{NUMBER}"
GREETING = "Thanks for calling. How can I help you today?"
CALLER_SAYS = ["I would like to move my delivery to Friday.", "The order number is 4417."]


@dataclasses.dataclass
class Callcenter:
    """The recipe's project, running: the local Sayna, the site's URL, the Celery worker."""

    sayna: FakeServer
    url: str
    worker: Process

    def call(self, room: str) -> dict[str, str] | None:
        """What the transcript view answers for ``room`` (None for a 404)."""
        return _get_json(f"{self.url}/calls/{room}/")


@pytest.fixture
def center(tmp_path: pathlib.Path, broker: str) -> Iterator[Callcenter]:
    """The recipe's project served by gunicorn, with a celery worker, on a copy of its files."""
    site = tmp_path / "callcenter"
    shutil.copytree(PROJECT, site, ignore=shutil.ignore_patterns("__pycache__", "*.sqlite3"))
    port = free_port()
    started: list[Process] = []
    with FakeServer(
        webhook_secret=SECRET,
        protected_hooks=[{"host": HOST, "url": f"http://127.0.0.1:{port}/sayna/incoming-call/"}],
    ) as sayna:
        env = {
            "SAYNA_URL": sayna.url,
            "SAYNA_API_KEY": "",
            "SAYNA_WEBHOOK_SECRET": SECRET,
            # A database of its own on the broker: the other tests' workers use /0.
            "CELERY_BROKER_URL": broker.rsplit("/", 1)[0] + "/1",
            "CALLCENTER_DB": str(site / "db.sqlite3"),
            "DJANGO_SETTINGS_MODULE": "callcenter.settings",
        }
        migrate = subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput"],
            cwd=site,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert migrate.returncode == 0, migrate.stdout + migrate.stderr
        try:
            web = Process(
                "gunicorn callcenter",
                [
                    str(BIN / "gunicorn"),
                    f"--bind=127.0.0.1:{port}",
                    "--workers=2",
                    "callcenter.wsgi",
                ],
                log=tmp_path / "web.log",
                cwd=site,
                env=env,
            )
            started.append(web)
            worker = start_worker(
                "callcenter",
                "callcenter",
                cwd=site,
                env=env,
                log=tmp_path / "worker.log",
                concurrency=2,
            )
            started.append(worker)
            web.wait_for_output("Booting worker", timeout=60)
            yield Callcenter(sayna, f"http://127.0.0.1:{port}", worker)
        finally:
            for process in started:
                process.stop()


def _get_json(url: str) -> dict[str, str] | None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=10) as response:
            answer: dict[str, str] = json.loads(response.read())
            return answer
    except urllib.error.HTTPError as exc:
        exc.close()
        return None


def _agent_in(sayna: FakeServer, room: str) -> FakeSession | None:
    return next((s for s in sayna.sessions if s.livekit_room == room and s.ready), None)


def _wait(predicate: object, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"no {what} within {timeout} s"
        time.sleep(0.05)


def _say(live: FakeSession, words: str) -> None:
    """The caller says ``words``: Sayna's speech-to-text sends them to the agent."""
    live.send_event(
        {
            "type": "stt_result",
            "transcript": words,
            "is_final": True,
            "is_speech_final": True,
            "confidence": 0.93,
        }
    )


def _answered_call(center: Callcenter, event_id: str) -> FakeSession:
    """Place the call; return the agent's session once its greeting reached the room."""
    status, _ = center.sayna.simulate_inbound_call(
        host=HOST, from_phone_number=CALLER, to_phone_number=NUMBER, event_id=event_id
    )
    assert status == 204
    _wait(lambda: _agent_in(center.sayna, ROOM) is not None, "agent session in the call's room")
    live = _agent_in(center.sayna, ROOM)
    assert live is not None
    _wait(lambda: decode_speech(live.published_audio, 24000) == GREETING, "greeting")
    return live


def test_recipe_answers_a_phone_call_and_stores_its_transcript(center: Callcenter) -> None:
    """Webhook, task, session in the call's room: greeting heard, transcript stored and shown."""
    live = _answered_call(center, "EV_recipe_1")
    assert center.call(ROOM) == {
        "room": ROOM,
        "caller": CALLER,
        "status": "answered",
        "transcript": "",
    }

    # The caller speaks, then hangs up.
    for words in CALLER_SAYS:
        _say(live, words)
    assert center.sayna.remove_participant(ROOM, f"sip_{CALLER}")

    _wait(lambda: (center.call(ROOM) or {}).get("status") == "done", "stored call")
    assert center.call(ROOM) == {
        "room": ROOM,
        "caller": CALLER,
        "status": "done",
        "transcript": " ".join(CALLER_SAYS),
    }
    assert live.closed.wait(10)


def test_recipe_marks_a_call_cut_by_a_worker_shutdown(center: Callcenter) -> None:
    """SIGTERM mid-call: the worker exits fast, the call is stored as interrupted, not done."""
    live = _answered_call(center, "EV_recipe_2")
    _say(live, CALLER_SAYS[0])

    seconds = center.worker.terminate(timeout=30)
    assert seconds is not None
    assert seconds < 15
    assert live.closed.wait(10)
    assert live.client_close_code == 1000
    _wait(lambda: (center.call(ROOM) or {}).get("status") == "interrupted", "interrupted call")
    # What was heard before the shutdown is kept, marked as interrupted (the
    # words may or may not have reached the agent before SIGTERM).
    stored = center.call(ROOM)
    assert stored is not None
    assert stored["transcript"] in ("", CALLER_SAYS[0])
