"""Call-site checks: text, booleans, lists and the server's phone-number rule."""

from __future__ import annotations

import pytest

from sayna import SaynaValidationError
from sayna._validation import (
    normalize_phone_number,
    phone_number_problem,
    require_bool,
    require_text,
    require_text_list,
)


@pytest.mark.parametrize("value", ["", " ", "\t\n"])
def test_require_text_refuses_blank(value: str) -> None:
    """Empty and whitespace-only strings are refused, naming the field."""
    with pytest.raises(SaynaValidationError) as info:
        require_text(value, "room_name")
    assert info.value.field == "room_name"
    assert "room_name" in str(info.value)


def test_require_text_refuses_non_strings() -> None:
    """A non-string is refused with its type named, not its value."""
    with pytest.raises(SaynaValidationError, match="must be a string, not int"):
        require_text(42, "text")


def test_require_text_returns_value_untrimmed() -> None:
    """Accepted text is returned exactly as given (the server receives it as-is)."""
    assert require_text("  room 1 ", "room_name") == "  room 1 "


@pytest.mark.parametrize("value", [1, 0, "true", None])
def test_require_bool_refuses_non_bools(value: object) -> None:
    """Only True and False pass: 1, 0, strings and None are refused."""
    with pytest.raises(SaynaValidationError) as info:
        require_bool(value, "muted")
    assert info.value.field == "muted"


def test_require_text_list_rules() -> None:
    """A list of non-blank strings passes; a bare string, empty list or blank item does not."""
    assert require_text_list(("a", "b"), "hosts") == ["a", "b"]
    with pytest.raises(SaynaValidationError, match="list of strings"):
        require_text_list("a.example.com", "hosts")
    with pytest.raises(SaynaValidationError, match="must not be empty"):
        require_text_list([], "hosts")
    with pytest.raises(SaynaValidationError) as info:
        require_text_list(["ok", " "], "hosts")
    assert info.value.field == "hosts[1]"
    assert require_text_list([], "hosts", allow_empty=True) == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [("+15551234567", "+15551234567"), (" 1001 ", "1001"), ("07123456789", "07123456789")],
)
def test_phone_numbers_accepted(value: str, expected: str) -> None:
    """Digits with an optional leading plus are accepted and returned trimmed."""
    assert normalize_phone_number(value, "transfer_to") == expected


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("", "Phone number cannot be empty"),
        ("   ", "Phone number cannot be empty"),
        ("+", "Phone number must contain at least one digit"),
        (
            "1+2",
            "Invalid character '+' at position 1 - plus sign is only allowed at the beginning",
        ),
        (
            "+1-555-000",
            "Invalid character '-' at position 2 - only digits (0-9) and optional leading '+'"
            " are allowed",
        ),
        (
            " +1 555",
            "Invalid character ' ' at position 2 - only digits (0-9) and optional leading '+'"
            " are allowed",
        ),
        (
            "\u0661\u0662\u0663",
            "Invalid character '\u0661' at position 0 - only digits (0-9) and optional leading '+'"
            " are allowed",
        ),
    ],
)
def test_phone_number_reasons_match_the_server(value: str, reason: str) -> None:
    """Refusals carry the server's own reason text, with positions in the trimmed value."""
    assert phone_number_problem(value) == reason
    with pytest.raises(SaynaValidationError) as info:
        normalize_phone_number(value, "to_phone_number")
    assert info.value.field == "to_phone_number"
    assert str(info.value) == f"invalid to_phone_number: {reason}"


def test_phone_number_must_be_a_string() -> None:
    """An int phone number is refused rather than silently converted."""
    with pytest.raises(SaynaValidationError, match="must be a string"):
        normalize_phone_number(15551234567, "transfer_to")
