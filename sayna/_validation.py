"""Call-site checks shared by the REST client, the models and the realtime session.

Each helper either returns the value to send or raises
:class:`~sayna.SaynaValidationError` naming the field. Messages describe the
problem, never echo the value (it may be a secret or personal data).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, Literal, overload

import attrs

from sayna._errors import SaynaValidationError

__all__ = [
    "MAX_TIMEOUT",
    "int_at_least",
    "is_finite_number",
    "normalize_phone_number",
    "phone_number_problem",
    "require_bool",
    "require_int",
    "require_positive_seconds",
    "require_str",
    "require_text",
    "require_text_list",
    "require_wait",
]

#: The longest timeout any call accepts, in seconds (about 11.6 days). Longer
#: ones overflow the operating system's waits (``poll`` takes milliseconds in
#: a C int); ``None`` waits without limit where a call allows it.
MAX_TIMEOUT = 1_000_000.0


def _type_name(value: Any) -> str:
    return type(value).__name__


def require_str(value: Any, field: str) -> str:
    """Return ``value`` if it is a string (possibly empty), else raise."""
    if not isinstance(value, str):
        raise SaynaValidationError(
            f"{field} must be a string, not {_type_name(value)}", field=field
        )
    return value


def require_text(value: Any, field: str) -> str:
    """Return ``value`` unchanged if it is a string that is not blank, else raise.

    Blank means empty after trimming whitespace, the server's own rule.
    """
    require_str(value, field)
    if not value.strip():
        raise SaynaValidationError(f"{field} must not be empty or blank", field=field)
    return str(value)


def require_bool(value: Any, field: str) -> bool:
    """Return ``value`` if it is exactly ``True`` or ``False``, else raise."""
    if not isinstance(value, bool):
        raise SaynaValidationError(
            f"{field} must be True or False, not {_type_name(value)}", field=field
        )
    return value


def require_int(value: Any, field: str, *, minimum: int) -> int:
    """Return ``value`` if it is an ``int`` (``bool`` is not) of at least ``minimum``, else raise.

    The one integer check: connect()'s buffer bounds, the client's retries,
    the reconnect policy, the models' counts and the webhook receiver's limits.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise SaynaValidationError(
            f"{field} must be {_int_kind(minimum)}, not {_type_name(value)}", field=field
        )
    if value < minimum:
        raise SaynaValidationError(f"{field} must be {_int_kind(minimum)}", field=field)
    return value


def _int_kind(minimum: int) -> str:
    if minimum == 0:
        return "a non-negative integer"
    if minimum == 1:
        return "a positive integer"
    return f"an integer of at least {minimum}"


def int_at_least(minimum: int) -> Callable[[object, attrs.Attribute[Any], Any], None]:
    """:func:`require_int` as an ``attrs`` validator; ``None`` passes (an omitted option)."""

    def validate(_: object, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is not None:
            require_int(value, attribute.name, minimum=minimum)

    return validate


def is_finite_number(value: Any) -> bool:
    """An int or float (not a bool) that is neither infinite nor NaN."""
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def _seconds(value: Any, field: str, *, zero_ok: bool) -> float:
    # The one timeout check: REST, connect, the consumers and the conveniences.
    if not is_finite_number(value):
        raise SaynaValidationError(
            f"{field} must be a number of seconds, not {_type_name(value)}"
            if not isinstance(value, (int, float)) or isinstance(value, bool)
            else f"{field} must be a finite number of seconds",
            field=field,
        )
    if value < 0 or (value == 0 and not zero_ok):
        least = "zero or more" if zero_ok else "above zero"
        raise SaynaValidationError(f"{field} must be {least} seconds", field=field)
    if value > MAX_TIMEOUT:
        raise SaynaValidationError(
            f"{field} must be at most {MAX_TIMEOUT:,.0f} seconds", field=field
        )
    return float(value)


def require_positive_seconds(value: Any, field: str) -> float:
    """A timeout or interval: a finite number of seconds above zero, at most ``MAX_TIMEOUT``."""
    return _seconds(value, field, zero_ok=False)


@overload
def require_wait(
    value: Any, field: str = ..., *, allow_none: Literal[True] = ...
) -> float | None: ...
@overload
def require_wait(value: Any, field: str = ..., *, allow_none: Literal[False]) -> float: ...
def require_wait(value: Any, field: str = "timeout", *, allow_none: bool = True) -> float | None:
    """A wait: ``None`` (no limit, where allowed), or 0 (do not wait) up to ``MAX_TIMEOUT``."""
    if value is None and allow_none:
        return None
    return _seconds(value, field, zero_ok=True)


def require_text_list(value: Any, field: str, *, allow_empty: bool = False) -> list[str]:
    """Return a list copy of a sequence of non-blank strings, else raise.

    A bare string is refused: iterating it would send one entry per character.
    """
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise SaynaValidationError(
            f"{field} must be a list of strings, not {_type_name(value)}", field=field
        )
    items = list(value)
    if not items and not allow_empty:
        raise SaynaValidationError(f"{field} must not be empty", field=field)
    for index, item in enumerate(items):
        require_text(item, f"{field}[{index}]")
    return items


def phone_number_problem(value: str) -> str | None:
    """The server's reason for refusing ``value`` as a phone number, or ``None``.

    Rule (docs/protocol.rst §2.11): after trimming, an optional single leading ``+``
    followed by ASCII digits only, at least one. The reasons are the server's
    own texts, with 0-based positions in the trimmed value.
    """
    trimmed = value.strip()
    if not trimmed:
        return "Phone number cannot be empty"
    for index, char in enumerate(trimmed):
        if char == "+":
            if index != 0:
                return (
                    f"Invalid character '+' at position {index}"
                    " - plus sign is only allowed at the beginning"
                )
        elif not ("0" <= char <= "9"):
            return (
                f"Invalid character '{char}' at position {index}"
                " - only digits (0-9) and optional leading '+' are allowed"
            )
    if trimmed == "+":
        return "Phone number must contain at least one digit"
    return None


def normalize_phone_number(value: Any, field: str) -> str:
    """Return the trimmed phone number the server will accept, else raise.

    The server itself turns the accepted value into ``tel:<value>``; we send
    the trimmed digits and let it do so.
    """
    require_str(value, field)
    problem = phone_number_problem(value)
    if problem is not None:
        raise SaynaValidationError(f"invalid {field}: {problem}", field=field)
    return str(value).strip()
