"""connect() under uWSGI: refused, before any socket, when uWSGI runs without threads."""

from __future__ import annotations

import pickle
import sys
import types

import pytest

from sayna import Sayna, SaynaError, SaynaThreadsDisabledError
from sayna.testing import FakeServer
from tests.support.speech_configs import STT, TTS


def _uwsgi(**attributes: object) -> types.ModuleType:
    module = types.ModuleType("uwsgi")
    for name, value in attributes.items():
        setattr(module, name, value)
    return module


def test_refused_without_threads(
    monkeypatch: pytest.MonkeyPatch, sayna_server: FakeServer, client: Sayna
) -> None:
    """uwsgi.has_threads == 0: the error names the option and the server sees no connection."""
    monkeypatch.setitem(sys.modules, "uwsgi", _uwsgi(has_threads=0, opt={}))
    with pytest.raises(SaynaThreadsDisabledError) as caught:
        client.connect(stt_config=STT, tts_config=TTS)
    assert isinstance(caught.value, SaynaError)
    message = str(caught.value)
    assert "--enable-threads" in message
    assert "enable-threads = true" in message
    assert "--threads N" in message
    assert sayna_server.sessions == []
    # Like every SaynaError, it crosses a process boundary intact.
    assert str(pickle.loads(pickle.dumps(caught.value))) == message


@pytest.mark.parametrize(
    "module",
    [
        _uwsgi(has_threads=1, opt={}),
        _uwsgi(opt={"enable-threads": True}),  # a uWSGI without has_threads
        _uwsgi(opt={"threads": b"4"}),
        _uwsgi(),  # some other module called uwsgi
    ],
    ids=["has_threads", "enable-threads", "threads", "not-uwsgi"],
)
def test_connects_with_threads(
    monkeypatch: pytest.MonkeyPatch, client: Sayna, module: types.ModuleType
) -> None:
    """Threads on (however uWSGI says so), or no uWSGI at all: the session opens."""
    monkeypatch.setitem(sys.modules, "uwsgi", module)
    with client.connect(stt_config=STT, tts_config=TTS) as session:
        assert session.say("threads run here", timeout=30).data


def test_options_say_threads_off(monkeypatch: pytest.MonkeyPatch, client: Sayna) -> None:
    """A uWSGI without has_threads whose options enable no threads is refused too."""
    monkeypatch.setitem(sys.modules, "uwsgi", _uwsgi(opt={"master": True}))
    with pytest.raises(SaynaThreadsDisabledError):
        client.connect(stt_config=STT, tts_config=TTS)
