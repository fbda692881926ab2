"""Turning a REST answer's bytes into data, treating them as hostile until then.

Every failure here is a :class:`SaynaProtocolError` naming the request: bytes
that are not JSON, JSON nested deeper than any Sayna answer (``MAX_JSON_DEPTH``),
the non-standard constants ``NaN`` / ``Infinity``, a number too long to
convert, or JSON of the wrong shape for the model. Nothing else escapes, not a
``RecursionError`` from the decoder nor an ``AttributeError`` from structuring
an array where an object belongs.
"""

from __future__ import annotations

import json
from typing import Any, NoReturn

import cattrs

from sayna._converter import from_wire
from sayna._errors import SaynaProtocolError

__all__ = ["MAX_JSON_DEPTH", "decode_json", "json_depth_exceeds", "structure_answer"]

#: Deepest nesting accepted in a JSON answer. Sayna's answers are at most four
#: levels deep; 64 leaves room for growth and stays far from the recursion
#: limit of anything that later walks the data (repr, copy, cattrs).
MAX_JSON_DEPTH = 64

# A message names the problem; the body excerpt shows the data.
_PROBLEM_LIMIT = 1000


def _refuse_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


def json_depth_exceeds(data: Any, limit: int) -> bool:
    """True when containers in ``data`` nest more than ``limit`` levels deep."""
    # Iterative on purpose: the data may be nested as deep as the decoder allowed.
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children: Any = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def _refused(message: str, *, method: str, endpoint: str, body: bytes) -> SaynaProtocolError:
    """The error for an answer we refuse, naming the request and carrying a body excerpt."""
    return SaynaProtocolError(
        f"{method} {endpoint}: {message}",
        method=method,
        endpoint=endpoint,
        body=body[: SaynaProtocolError.BODY_EXCERPT_LIMIT * 4].decode("utf-8", "replace"),
    )


def decode_json(body: bytes, *, method: str, endpoint: str) -> Any:
    """Parse ``body`` as JSON within the limits above, or raise SaynaProtocolError."""

    def refused(problem: str) -> SaynaProtocolError:
        return _refused(problem, method=method, endpoint=endpoint, body=body)

    try:
        data = json.loads(body, parse_constant=_refuse_constant)
    except RecursionError:
        raise refused(f"the answer is JSON nested deeper than {MAX_JSON_DEPTH} levels") from None
    except ValueError as exc:  # also UnicodeDecodeError and over-long integers
        raise refused("the server's answer is not valid JSON") from exc
    # Counting brackets is cheap and bounds the depth from above: most answers
    # skip the walk.
    if body.count(b"[") + body.count(b"{") > MAX_JSON_DEPTH and json_depth_exceeds(
        data, MAX_JSON_DEPTH
    ):
        raise refused(f"the answer is JSON nested deeper than {MAX_JSON_DEPTH} levels")
    return data


def structure_answer(data: Any, cls: Any, *, method: str, endpoint: str, body: bytes) -> Any:
    """Build ``cls`` from decoded JSON, or raise SaynaProtocolError saying what did not fit."""

    def refused(problem: str) -> SaynaProtocolError:
        return _refused(
            f"unexpected answer: {problem}", method=method, endpoint=endpoint, body=body
        )

    try:
        return from_wire(data, cls)
    except cattrs.BaseValidationError as exc:
        details = "; ".join(cattrs.transform_error(exc))
        raise refused(details[:_PROBLEM_LIMIT]) from exc
    except Exception as exc:
        # cattrs assumes the outer shape: an array where an object belongs
        # fails inside it with AttributeError, KeyError or TypeError.
        raise refused(f"{type(exc).__name__}: {str(exc)[:_PROBLEM_LIMIT]}") from exc
