"""The Celery recipe (docs/recipes/celery.rst) runs as written: Django, Celery, Sayna.

The project in docs/recipes/celery_project is copied to a temporary folder and
served as a user would run it: ``manage.py migrate``, gunicorn for the views,
``celery worker`` for the task, a real redis-server between them. The local
Sayna server plays the phone call: it sends the signed inbound-call webhook,
hosts the LiveKit room, carries the caller's words and their hanging up.
"""

from __future__ import annotations

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
from processes import BIN, Process, free_port, start_worker

from sayna.testing import FakeServer, FakeSession, decode_speech

PROJECT = pathlib.Path(__file__).resolve().parents[2] / "docs" / "recipes" / "celery_project"
SECRET = "recipe-webhook-secret-0123456789abcdef"
HOST = "callcenter.example.com"
CALLER, NUMBER = "+15550100", "+15550199"
ROOM = f"sip-{NUMBER}"
GREETING = "Thanks for calling. How can I help you today?"
CALLER_SAYS = ["I would like to move my delivery to Friday.", "The order number is 4417."]


@pytest.fixture
def callcenter(workdir: pathlib.Path, broker: str) -> Iterator[tuple[FakeServer, str]]:
    """The recipe's project running (gunicorn + celery worker); yields Sayna and the site URL."""
    site = workdir / "callcenter"
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
                log=workdir / "callcenter-web.log",
                cwd=site,
                env=env,
            )
            started.append(web)
            started.append(
                start_worker(
                    "callcenter",
                    "callcenter",
                    cwd=site,
                    env=env,
                    log=workdir / "callcenter-worker.log",
                    concurrency=2,
                )
            )
            web.wait_for_output("Booting worker", timeout=60)
            yield sayna, f"http://127.0.0.1:{port}"
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


def test_recipe_answers_a_phone_call_and_stores_its_transcript(
    callcenter: tuple[FakeServer, str],
) -> None:
    """Webhook, task, session in the call's room: greeting heard, transcript stored and shown."""
    sayna, site = callcenter
    status, _ = sayna.simulate_inbound_call(
        host=HOST, from_phone_number=CALLER, to_phone_number=NUMBER, event_id="EV_recipe_1"
    )
    assert status == 204

    _wait(lambda: _agent_in(sayna, ROOM) is not None, "agent session in the call's room")
    live = _agent_in(sayna, ROOM)
    assert live is not None
    # The agent greets the caller: its speech is published into the room.
    _wait(lambda: decode_speech(live.published_audio, 24000) == GREETING, "greeting")
    assert _get_json(f"{site}/calls/{ROOM}/") == {
        "room": ROOM,
        "caller": CALLER,
        "status": "answered",
        "transcript": "",
    }

    # The caller speaks (Sayna's speech-to-text hears it), then hangs up.
    for words in CALLER_SAYS:
        live.send_event(
            {
                "type": "stt_result",
                "transcript": words,
                "is_final": True,
                "is_speech_final": True,
                "confidence": 0.93,
            }
        )
    assert sayna.remove_participant(ROOM, f"sip_{CALLER}")

    _wait(lambda: (_get_json(f"{site}/calls/{ROOM}/") or {}).get("status") == "done", "stored call")
    assert _get_json(f"{site}/calls/{ROOM}/") == {
        "room": ROOM,
        "caller": CALLER,
        "status": "done",
        "transcript": " ".join(CALLER_SAYS),
    }
    assert live.closed.wait(10)
