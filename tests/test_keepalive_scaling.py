"""The keep-alive thread checks a newly added session alone, not every open one."""

from __future__ import annotations

import threading
import time

import pytest

from sayna._realtime import keepalive as _keepalive


class Member:
    """A keep-alive member that counts its checks and is never due for a minute."""

    def __init__(self) -> None:
        self.ticks = 0
        self.checked = threading.Event()

    def keepalive_tick(self, now: float) -> float:
        self.ticks += 1
        self.checked.set()
        return now + 60.0


def test_adding_a_member_checks_only_the_new_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ten adds check each new member once; the first is not checked again each time."""
    monkeypatch.setattr(_keepalive, "_MAX_SLEEP", 120.0)
    keepalive = _keepalive._KeepAlive()
    members = [Member() for _ in range(10)]
    try:
        for member in members:
            keepalive.add(member)
            assert member.checked.wait(10)
        time.sleep(0.05)  # room for any further (wrong) rounds to happen
        assert [m.ticks for m in members] == [1] * 10
    finally:
        for member in members:
            keepalive.remove(member)
    assert keepalive._thread is None
