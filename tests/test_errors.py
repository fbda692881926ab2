"""The exception tree: status mapping, body shapes, pickling, no secrets."""

from __future__ import annotations

import pickle

import pytest

import sayna
from sayna._errors import error_from_response


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, sayna.BadRequestError),
        (401, sayna.AuthenticationError),
        (403, sayna.PermissionDeniedError),
        (404, sayna.NotFoundError),
        (405, sayna.MethodNotAllowedError),
        (409, sayna.ConflictError),
        (415, sayna.UnsupportedMediaTypeError),
        (422, sayna.UnprocessableEntityError),
        (429, sayna.RateLimitError),
        (500, sayna.SaynaServerError),
        (502, sayna.SaynaServerError),
        (503, sayna.SaynaServerError),
        (418, sayna.SaynaHttpError),
    ],
)
def test_status_maps_to_class(status: int, cls: type[sayna.SaynaHttpError]) -> None:
    """Each status becomes its own class, all under SaynaHttpError and SaynaError."""
    exc = error_from_response(status, b"", method="GET", endpoint="/x")
    assert type(exc) is cls
    assert isinstance(exc, sayna.SaynaHttpError)
    assert isinstance(exc, sayna.SaynaError)
    assert exc.status_code == status == exc.status


def test_input_errors_are_validation_errors() -> None:
    """400, 415 and 422 are also SaynaValidationError and ValueError, as callers expect."""
    for status in (400, 415, 422):
        exc = error_from_response(status, "nope")
        assert isinstance(exc, sayna.SaynaValidationError)
        assert isinstance(exc, ValueError)
    assert not isinstance(error_from_response(401, ""), ValueError)


def test_auth_body_shape() -> None:
    """The auth middleware's {error: code, message: text} gives message and code."""
    body = b'{"error":"missing_auth_header","message":"Missing authentication token"}'
    exc = error_from_response(401, body, method="GET", endpoint="/voices")
    assert exc.server_message == "Missing authentication token"
    assert exc.code == "missing_auth_header"
    assert exc.method == "GET"
    assert exc.endpoint == "/voices"
    assert exc.body == body.decode()
    assert str(exc) == (
        "401 Unauthorized on GET /voices: Missing authentication token [missing_auth_header]"
    )


def test_error_only_body_shape() -> None:
    """The plain {error: text} shape gives the text and no code."""
    exc = error_from_response(404, '{"error":"Room \'r\' not found"}')
    assert exc.server_message == "Room 'r' not found"
    assert exc.code is None


def test_error_and_code_body_shape() -> None:
    """The {error, code} shape of the participant and SIP routes keeps both."""
    exc = error_from_response(
        404, '{"error":"Participant \'p\' not found","code":"PARTICIPANT_NOT_FOUND"}'
    )
    assert exc.server_message == "Participant 'p' not found"
    assert exc.code == "PARTICIPANT_NOT_FOUND"


def test_plain_text_and_empty_bodies() -> None:
    """Framework plain-text rejections and empty bodies still give a readable message."""
    text = "Expected request with `Content-Type: application/json`"
    exc = error_from_response(415, text.encode(), method="POST", endpoint="/speak")
    assert exc.server_message == text
    assert text in str(exc)
    empty = error_from_response(405, b"", method="PUT", endpoint="/voices")
    assert empty.server_message == ""
    assert str(empty) == "405 Method Not Allowed on PUT /voices: (empty body)"


def test_non_object_json_body_is_kept_as_text() -> None:
    """A JSON body that is not an object is reported verbatim."""
    exc = error_from_response(500, "[1, 2]")
    assert exc.server_message == "[1, 2]"


def test_request_id_header_is_kept() -> None:
    """A request id header, in any case, lands on the exception."""
    exc = error_from_response(500, "", headers={"X-Request-ID": "abc"})
    assert exc.request_id == "abc"


@pytest.mark.parametrize(
    "exc",
    [
        error_from_response(404, '{"error":"x","code":"C"}', method="GET", endpoint="/a"),
        sayna.SaynaValidationError("bad", field="text"),
        sayna.WebhookVerificationError("bad sig", reason="signature_mismatch"),
        sayna.SaynaConnectionClosedError("gone", code=1006, reason="r"),
        sayna.SaynaConfigError("refused", server_message="STT configuration is required"),
        sayna.SaynaCallbackError("boom", errors=[RuntimeError("x")]),
        sayna.SaynaTimeoutError("slow"),
    ],
)
def test_exceptions_pickle_round_trip(exc: sayna.SaynaError) -> None:
    """Every exception survives pickling with its class, message and attributes."""
    clone = pickle.loads(pickle.dumps(exc))
    assert type(clone) is type(exc)
    assert str(clone) == str(exc)
    plain = {k: v for k, v in vars(exc).items() if k != "errors"}
    assert {k: v for k, v in vars(clone).items() if k != "errors"} == plain


def test_timeout_is_also_builtin_timeout() -> None:
    """SaynaTimeoutError is catchable as TimeoutError and as a connection error."""
    exc = sayna.SaynaTimeoutError("slow")
    assert isinstance(exc, TimeoutError)
    assert isinstance(exc, sayna.SaynaConnectionError)
