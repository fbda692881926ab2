"""``stt_result`` frames decode through a direct path that gives exactly the converter's result."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sayna import _events
from sayna._events import MalformedEvent, STTResultEvent, decode_text

BASE: dict[str, Any] = {
    "type": "stt_result",
    "transcript": "hello",
    "is_final": False,
    "is_speech_final": False,
    "confidence": 0.9,
}


def converter_result(frame: dict[str, Any]) -> Any:
    """What the converter alone makes of the frame (the reference)."""
    data = {k: v for k, v in frame.items() if k != "type"}
    cls, hook = _events._lenient_hook("stt_result")  # type: ignore[misc]
    try:
        return hook(data, cls)
    except Exception:
        return None


@pytest.mark.parametrize(
    "change",
    [
        {},
        {"is_final": True, "is_speech_final": True, "transcript": ""},
        {"confidence": 1},  # an int: the converter makes it 1.0
        {"confidence": True},
        {"confidence": "0.9"},
        {"is_final": 1},
        {"transcript": None},
        {"extra": "ignored"},
        {"transcript": "caf\\u00e9 \\ud83d\\ude00"},
    ],
)
def test_same_event_as_the_converter(change: dict[str, Any]) -> None:
    """Every variant decodes to what the converter gives, or to MalformedEvent where it refuses."""
    frame = {**BASE, **change}
    event = decode_text(json.dumps(frame))
    expected = converter_result(json.loads(json.dumps(frame)))
    if expected is None:
        assert isinstance(event, MalformedEvent)
        assert event.wire_type == "stt_result"
    else:
        assert event == expected
        assert type(event.confidence) is float  # type: ignore[attr-defined]


def test_missing_field_still_malformed() -> None:
    """A frame without a field is refused as before, with the raw text kept."""
    frame = {k: v for k, v in BASE.items() if k != "confidence"}
    event = decode_text(json.dumps(frame))
    assert isinstance(event, MalformedEvent)
    assert "confidence" in event.error


def test_well_typed_results_skip_the_converter(monkeypatch: pytest.MonkeyPatch) -> None:
    """The usual frame never reaches the converter's hook (issue 26: ~2.5 us per event)."""
    calls: list[str] = []

    def spy(wire_type: str) -> Any:
        calls.append(wire_type)
        return None

    monkeypatch.setattr(_events, "_lenient_hook", spy)
    event = decode_text(json.dumps(BASE))
    assert event == STTResultEvent(
        transcript="hello", is_final=False, is_speech_final=False, confidence=0.9
    )
    assert calls == []
