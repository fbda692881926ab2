"""`sayna talk --respond MODULE:FUNCTION`: what is loaded, and one-line refusals (issue 24)."""

from __future__ import annotations

import pytest

from sayna import Turn
from sayna._cli._common import UsageError
from sayna._cli._talk import load_respond, repeat
from sayna.cli import main
from sayna.testing import FakeServer
from tests.audio import talk_replies


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("no_colon", "sayna: error: --respond needs MODULE:FUNCTION, got 'no_colon'\n"),
        (
            "no_such_module_here:f",
            "sayna: error: --respond: cannot import 'no_such_module_here':"
            " ModuleNotFoundError: No module named 'no_such_module_here'\n",
        ),
        (
            "tests.audio.talk_replies:missing",
            "sayna: error: --respond: 'tests.audio.talk_replies' has no 'missing'\n",
        ),
        (
            "tests.audio.talk_replies:NOT_A_FUNCTION",
            "sayna: error: --respond: tests.audio.talk_replies:NOT_A_FUNCTION is a int,"
            " not a function\n",
        ),
    ],
)
def test_a_bad_respond_is_one_line_and_exit_2(
    server: FakeServer, capsys: pytest.CaptureFixture[str], spec: str, message: str
) -> None:
    """--respond that cannot be imported or called: one line, exit 2, no session opened."""
    assert main(["--url", server.url, "talk", "--respond", spec]) == 2
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("", message)
    assert server.sessions == []


def test_a_module_that_fails_to_import_is_reported() -> None:
    """An exception raised while importing the user's module becomes the one-line refusal."""
    with pytest.raises(UsageError, match=r"cannot import 'tests\.audio\.talk_broken'"):
        load_respond("tests.audio.talk_broken:anything")


def test_respond_names_the_function_itself() -> None:
    """A good MODULE:FUNCTION gives back that very function; the default repeats the turn."""
    assert load_respond("tests.audio.talk_replies:echo_back") is talk_replies.echo_back
    turn = Turn(text="Is it on?", segments=(), started_at=0.0, ended_at=0.0)
    assert repeat(turn) == "You said: Is it on?"
