"""Cutting streamed text into utterances (sayna._sentences), no I/O."""

from __future__ import annotations

import pytest

from sayna._sentences import SentenceCutter


def cut(pieces: list[str]) -> list[str]:
    cutter = SentenceCutter()
    out: list[str] = []
    for piece in pieces:
        out += cutter.feed(piece)
    rest = cutter.flush()
    return out + ([rest] if rest else [])


def test_sentences_are_cut_at_their_ends() -> None:
    """Two sentences fed whole come out as two utterances."""
    assert cut(["Hello there. How are you today?"]) == ["Hello there.", "How are you today?"]


def test_a_sentence_is_released_only_once_the_next_piece_shows_its_end() -> None:
    """A period at the end of a piece waits: it might be the start of "3.5"."""
    cutter = SentenceCutter()
    assert cutter.feed("It costs 3.") == []
    assert cutter.feed("5 dollars. Then") == ["It costs 3.5 dollars."]
    assert cutter.flush() == "Then"


@pytest.mark.parametrize(
    "text",
    [
        "Ask Dr. Smith about it",
        "Fruit, e.g. apples and pears",
        "Written by J. R. Tolkien himself",
        "The value is 3.5 today",
        "Compare this vs. that option",
    ],
)
def test_abbreviations_initials_and_numbers_end_nothing(text: str) -> None:
    """Dots inside abbreviations, initials and decimals are not sentence ends."""
    assert cut([text]) == [text]


def test_a_word_split_across_pieces_is_never_cut() -> None:
    """Token boundaries fall inside words; utterances only break at whitespace."""
    pieces = ["Good", " morn", "ing. I am", " your assis", "tant. Let us be", "gin."]
    assert cut(pieces) == ["Good morning.", "I am your assistant.", "Let us begin."]


def test_the_first_utterance_ends_early_at_a_clause_mark() -> None:
    """The first utterance may end at a comma once it has a few words; later ones do not."""
    text = "Well, my dear friend, that is a long story, and it goes on. And on, and on, forever."
    assert cut([text]) == [
        "Well, my dear friend,",
        "that is a long story, and it goes on.",
        "And on, and on, forever.",
    ]


def test_a_long_run_without_an_end_is_cut_at_whitespace() -> None:
    """Text without punctuation is cut before max_chars, at a space."""
    cutter = SentenceCutter(max_chars=40)
    out = cutter.feed("word " * 20)
    assert out
    assert all(len(u) <= 40 for u in out)
    assert all(not u.endswith("wor") for u in out)


def test_exclamations_questions_and_blank_lines_end_sentences() -> None:
    """ "!", "?" and a newline end an utterance; blank pieces produce nothing."""
    assert cut(["Stop! Why?", " ", "\n", "Because\nI said so"]) == [
        "Stop!",
        "Why?",
        "Because",
        "I said so",
    ]
