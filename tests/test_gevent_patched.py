"""sayna imported before gevent patches, then used by greenlets (gunicorn --preload -k gevent).

Each check runs in a child process (patching cannot be undone) against the
local server in this process, over a real socket.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from sayna.testing import FakeServer

pytest.importorskip("gevent")

# The child: sayna first (as a --preload master imports the app), then the
# patching (as gunicorn's gevent worker does), then sessions in greenlets.
CHILD = textwrap.dedent(
    """
    import json, sys
    import sayna
    from sayna._realtime import keepalive
    from gevent import monkey
    monkey.patch_all()
    import gevent
    from sayna import Sayna, TTSConfig
    from tests.support.speech_configs import STT

    TTS = TTSConfig(provider="deepgram", model="aura-asteria-en", sample_rate=16000)
    client = Sayna(sys.argv[1], timeout=30)

    def one(n):
        with client.connect(stt_config=STT, tts_config=TTS, timeout=30) as session:
            return len(session.say(f"greenlet {n} speaking", timeout=30).data) > 0

    locks = []
    def watch():
        with client.connect(stt_config=STT, tts_config=TTS, timeout=30) as session:
            # The shared pinger exists while a session is open.
            locks.append(type(keepalive._keepalive._lock).__module__)
            return session.say("watching", timeout=30).data != b""

    jobs = [gevent.spawn(one, n) for n in range(4)] + [gevent.spawn(watch)]
    gevent.joinall(jobs, timeout=60, raise_error=True)
    client.close()
    print(json.dumps({"done": [job.value for job in jobs], "lock": locks}))
    """
)


def test_keepalive_uses_the_patched_lock(sayna_server: FakeServer) -> None:
    """The shared pinger's lock is gevent's (made after patching); five greenlet sessions speak."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    result = subprocess.run(
        [sys.executable, "-c", CHILD, sayna_server.url],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["done"] == [True] * 5
    # A real (C) lock here blocks the whole event loop in the pinger's waits.
    assert len(answer["lock"]) == 1
    assert answer["lock"][0].startswith("gevent"), answer["lock"]
