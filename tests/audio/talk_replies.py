"""Reply functions that `sayna talk --respond tests.audio.talk_replies:NAME` loads in the tests."""

from __future__ import annotations

from collections.abc import Iterator

from sayna import Turn

NOT_A_FUNCTION = 42


def echo_back(turn: Turn) -> str:
    """Answers with the heard text in a sentence of its own."""
    return f"Heard {turn.text}"


def streamed(turn: Turn) -> Iterator[str]:
    """Answers in pieces, as an LLM's tokens would come."""
    yield "Streamed "
    yield "answer."


LONG = "This answer goes on for long enough that the caller talks over it before it ends."


def long_answer(turn: Turn) -> str:
    """An answer of several seconds, for the caller to cut off."""
    return LONG


def fails(turn: Turn) -> str:
    """A reply function with a bug in it."""
    raise ValueError(f"cannot answer {turn.text!r}")
