"""Pickles of the public value classes survive the move into ``sayna._realtime``."""

from __future__ import annotations

import pickle

import sayna

# rewrite_imports: keep old paths
# Made by ``pickle.dumps`` on main at ba9c4eb, before the realtime wing
# (issue 21), when the classes lived in sayna._reconnect and sayna._stats.
POLICY_BEFORE_WING = (
    b"\x80\x04\x95o\x00\x00\x00\x00\x00\x00\x00\x8c\x10sayna._reconnect\x94\x8c\x0f"
    b"ReconnectPolicy\x94\x93\x94)\x81\x94}\x94(\x8c\x0cmax_attempts\x94K\x03\x8c\r"
    b"initial_delay\x94G?\xd0\x00\x00\x00\x00\x00\x00\x8c\tmax_delay\x94G@\x10\x00\x00"
    b"\x00\x00\x00\x00ub."
)
STATS_BEFORE_WING = (
    b"\x80\x04\x95\x15\x01\x00\x00\x00\x00\x00\x00\x8c\x0csayna._stats\x94\x8c\x0c"
    b"SessionStats\x94\x93\x94)\x81\x94}\x94(\x8c\nreconnects\x94K\x02\x8c\x11"
    b"messages_received\x94K\n\x8c\rmessages_sent\x94K\x05\x8c\x14audio_bytes_received"
    b"\x94M\xe8\x03\x8c\x10audio_bytes_sent\x94M\xd0\x07\x8c\x08ping_rtt\x94G?\xb0\x00"
    b"\x00\x00\x00\x00\x00\x8c\x06speech\x94h\x00\x8c\x0cSpeechTiming\x94\x93\x94)\x81"
    b"\x94}\x94(\x8c\x04text\x94\x8c\x05hello\x94\x8c\x0bfirst_audio\x94G?\xc0\x00\x00"
    b"\x00\x00\x00\x00\x8c\x08complete\x94G?\xe0\x00\x00\x00\x00\x00\x00\x8c\x0b"
    b"audio_bytes\x94M\x80\x0cub\x85\x94ub."
)


def test_policy_pickled_before_the_move_loads() -> None:
    """A ReconnectPolicy pickled under its old module path loads as the public class."""
    policy = pickle.loads(POLICY_BEFORE_WING)
    assert type(policy) is sayna.ReconnectPolicy
    assert policy == sayna.ReconnectPolicy(max_attempts=3, initial_delay=0.25, max_delay=4.0)


def test_stats_pickled_before_the_move_load() -> None:
    """SessionStats and its SpeechTiming pickled under the old module path load."""
    stats = pickle.loads(STATS_BEFORE_WING)
    assert type(stats) is sayna.SessionStats
    timing = sayna.SpeechTiming("hello", 0.125, 0.5, 3200)
    assert stats == sayna.SessionStats(2, 10, 5, 1000, 2000, 0.0625, (timing,))
    assert type(stats.speech[0]) is sayna.SpeechTiming


def test_new_pickles_name_the_public_path() -> None:
    """New pickles name ``sayna.X``, so later moves of private modules cannot break them."""
    values = [
        sayna.ReconnectPolicy(),
        sayna.SessionStats(0, 0, 0, 0, 0, None, (sayna.SpeechTiming("x", None, None, 0),)),
    ]
    for value in values:
        data = pickle.dumps(value)
        assert b"sayna._" not in data
        assert pickle.loads(data) == value
