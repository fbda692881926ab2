"""Turning a REST answer's bytes into data, treating them as hostile until then.

Every failure here is a :class:`SaynaProtocolError` naming the request: bytes
that are not JSON, JSON nested deeper than any Sayna answer (the bound in
``sayna._wirejson``, checked on the text before decoding),
the non-standard constants ``NaN`` / ``Infinity``, a number too long to
convert, or JSON of the wrong shape for the model. Nothing else escapes, not a
``RecursionError`` from a decoder nor an ``AttributeError`` from structuring
an array where an object belongs.
"""

from __future__ import annotations

import json
from typing import Any

import cattrs

from sayna._converter import from_wire
from sayna._errors import SaynaProtocolError
from sayna._wirejson import TOO_DEEP, loads, nested_too_deep

__all__ = ["decode_json", "structure_answer"]

# A message names the problem; the body excerpt shows the data.
_PROBLEM_LIMIT = 1000


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
        # What json.loads(bytes) does first, done here so that the depth is
        # measured on the same text the decoder reads.
        text = body.decode(json.detect_encoding(body), "surrogatepass")
    except UnicodeDecodeError as exc:
        raise refused("the server's answer is not valid JSON") from exc
    if nested_too_deep(text):
        raise refused(f"the answer is {TOO_DEEP}")
    try:
        data = loads(text)
    except ValueError as exc:  # also over-long integers
        raise refused("the server's answer is not valid JSON") from exc
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
