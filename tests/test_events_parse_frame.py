"""decode_text's JSON fast path gives exactly what json.loads gives, errors included."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial

import pytest

from sayna._events import MalformedEvent, STTResultEvent, _parse, decode_text
from sayna._wirejson import refuse_constant

TEXTS = [
    '{"type":"stt_result","transcript":"hi","is_final":true,"is_speech_final":false,"confidence":1}',
    '{"a":[1,2.5,null,"\\u00e9",{"b":{}}],"a2":"x"}',
    '{"k":"v","k":"w"}',
    ' {"a":1}',
    '{"a":1} ',
    '{"a":1}\n',
    '\ufeff{"a":1}',
    '{"a":1}{"b":2}',
    '{"a":1',
    "",
    "   ",
    "[1,2]",
    '"text"',
    "NaN",
    "-Infinity",
    "12",
    "{'a':1}",
]


@pytest.mark.parametrize("text", TEXTS)
def test_parse_matches_json_loads(text: str) -> None:
    """Every text parses to json.loads's value or raises its error, the constants refused."""

    def outcome(parse: Callable[[str], object]) -> str:
        try:
            return f"value {parse(text)!r}"
        except ValueError as exc:
            return f"{type(exc).__name__}: {exc}"

    assert outcome(_parse) == outcome(partial(json.loads, parse_constant=refuse_constant))


def test_decode_text_uses_the_fast_path_and_keeps_errors() -> None:
    """A frame decodes to its event, and trailing data still makes a MalformedEvent."""
    good = (
        b'{"type":"stt_result","transcript":"a",'
        b'"is_final":true,"is_speech_final":true,"confidence":0.5}'
    )
    event = decode_text(good)
    assert event == STTResultEvent(
        transcript="a", is_final=True, is_speech_final=True, confidence=0.5
    )
    bad = decode_text(good + b"x")
    assert isinstance(bad, MalformedEvent)
    assert "Extra data" in bad.error
