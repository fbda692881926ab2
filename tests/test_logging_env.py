"""SAYNA_LOG and the levels of the ``sayna`` loggers (docs/logging.rst)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap

import pytest

from sayna import (
    ReconnectingEvent,
    ReconnectPolicy,
    SaynaConnectionClosedError,
    Session,
)
from sayna.testing import FakeServer, FakeSession
from tests.support.drops import drop_until_reconnected
from tests.support.lone_server import reconnecting_session

FAST = ReconnectPolicy(max_attempts=3, initial_delay=0.05, max_delay=0.2)
KEY = "sk-log-secret-4711"


def run_child(code: str, sayna_log: str | None, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter with SAYNA_LOG set (or unset)."""
    env = {k: v for k, v in os.environ.items() if k != "SAYNA_LOG"}
    if sayna_log is not None:
        env["SAYNA_LOG"] = sayna_log
    return subprocess.run(
        [sys.executable, *args, "-c", textwrap.dedent(code)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


SESSION = """
    import sys
    from sayna import Sayna, STTConfig, TTSConfig
    stt = STTConfig(provider="deepgram", language="en-US", sample_rate=16000, channels=1,
                    punctuation=True, encoding="linear16", model="nova-2")
    tts = TTSConfig(provider="deepgram", model="aura-asteria-en")
    with Sayna(sys.argv[1], api_key=sys.argv[2]) as client:
        client.health()
        with client.connect(stt, tts, timeout=30) as session:
            pass
    print("done")
"""


def test_sayna_log_debug_shows_debug_lines_of_a_session_on_stderr(sayna_server: FakeServer) -> None:
    """SAYNA_LOG=debug in the environment: a session's DEBUG lines reach stderr, no key."""
    code = SESSION.replace("sys.argv[1]", repr(sayna_server.url)).replace("sys.argv[2]", repr(KEY))
    result = run_child(code, "debug")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "done"
    lines = result.stderr.splitlines()
    assert any(line.startswith("DEBUG sayna: GET / -> 200") for line in lines), lines
    assert any(line.startswith("DEBUG sayna: session 1 ready in ") for line in lines), lines
    assert KEY not in result.stderr


def test_without_sayna_log_nothing_is_written(sayna_server: FakeServer) -> None:
    """Unset, the library stays silent on stderr (Python's default: WARNING and up only)."""
    code = SESSION.replace("sys.argv[1]", repr(sayna_server.url)).replace("sys.argv[2]", repr(KEY))
    result = run_child(code, None)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


@pytest.mark.parametrize(("value", "level"), [("DEBUG", 10), ("Info", 20), (" warning ", 30)])
def test_the_value_is_case_insensitive(value: str, level: int) -> None:
    """The level names are read in any case; only the ``sayna`` logger changes, not root."""
    code = """
        import logging
        root = (logging.getLogger().level, list(logging.getLogger().handlers))
        import sayna
        assert (logging.getLogger().level, logging.getLogger().handlers) == root
        print(logging.getLogger("sayna").level)
    """
    result = run_child(code, value)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(level)


def test_an_unknown_value_warns_once_and_is_ignored() -> None:
    """SAYNA_LOG=loud: the import succeeds (even with -W error), one warning, level unset."""
    code = """
        import logging, sayna
        print(logging.getLogger("sayna").level)
    """
    result = run_child(code, "loud", "-W", "error")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "0"
    assert result.stderr.count("SAYNA_LOG") == 1
    assert "'loud' is not one of debug, error, info, warning; ignored" in result.stderr


def test_an_application_handler_takes_over_without_repeating_lines(
    sayna_server: FakeServer,
) -> None:
    """logging.basicConfig after the import: each line once, in the application's format."""
    code = f"""
        import logging
        import sayna
        logging.basicConfig(format="APP %(levelname)s %(message)s")
        with sayna.Sayna({sayna_server.url!r}) as client:
            client.health()
    """
    result = run_child(code, "debug")
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if "GET / -> 200" in line]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("APP DEBUG ")


@pytest.mark.connect(reconnect=FAST)
def test_a_handled_reconnect_logs_at_info_not_warning(
    sayna_server: FakeServer, pair: tuple[Session, FakeSession], caplog: pytest.LogCaptureFixture
) -> None:
    """A real drop the session recovers from: the drop and the recovery are INFO lines."""
    caplog.set_level(logging.DEBUG, logger="sayna")
    session, fake = pair
    drop_until_reconnected(session, fake)
    sayna_records = [
        r for r in caplog.records if r.name.startswith("sayna") and r.name != "sayna.testing"
    ]
    lost = [r for r in sayna_records if "lost its connection" in r.getMessage()]
    back = [r for r in sayna_records if "reconnected (attempt 1)" in r.getMessage()]
    assert [r.levelno for r in lost] == [logging.INFO]
    assert [r.levelno for r in back] == [logging.INFO]
    assert [r.getMessage() for r in sayna_records if r.levelno >= logging.WARNING] == []


def test_a_reconnect_that_gives_up_logs_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    """The server gone for good: the give-up is a WARNING, even with an iterator watching."""
    caplog.set_level(logging.INFO, logger="sayna")
    policy = ReconnectPolicy(max_attempts=2, initial_delay=0.05, max_delay=0.05)
    kinds: list[type] = []
    with reconnecting_session(policy) as (server, session), session.events(timeout=15) as events:
        server.stop()
        with pytest.raises(SaynaConnectionClosedError):
            kinds.extend(type(e) for e in events)
    assert ReconnectingEvent in kinds
    warnings = [
        r.getMessage() for r in caplog.records if r.name == "sayna" and r.levelno == logging.WARNING
    ]
    assert len(warnings) == 1, warnings
    assert "reconnecting failed" in warnings[0]
