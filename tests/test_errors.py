"""The exception tree: status mapping, body shapes, pickling, no secrets."""

from __future__ import annotations

import pathlib
import pickle

import pytest

import sayna
from sayna._errors import error_from_response

ROOT = pathlib.Path(__file__).resolve().parent.parent


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
    """SaynaTimeoutError is a TimeoutError, and not a connection error (waits raise it too)."""
    exc = sayna.SaynaTimeoutError("slow")
    assert isinstance(exc, TimeoutError)
    assert isinstance(exc, sayna.SaynaError)
    assert not isinstance(exc, sayna.SaynaConnectionError)


def test_api_reference_draws_the_tree_as_it_is() -> None:
    """Each class in the tree drawn in docs/api.rst sits under the parent it is drawn under."""
    page = (ROOT / "docs" / "api.rst").read_text(encoding="utf-8")
    drawing = page[page.index(".. _exception-tree:") :]
    tree = drawing[drawing.index("    SaynaError\n") :].split("\n\n")[0].splitlines()
    parents: dict[int, str] = {}
    checked = 0
    for line in tree:
        name = line.lstrip(" │├└─")
        depth = (len(line) - len(name)) // 4 - 1  # the tree is indented by 4
        name = name.split()[0]
        parents[depth] = name
        if depth:
            assert issubclass(getattr(sayna, name), getattr(sayna, parents[depth - 1])), name
            checked += 1
    assert checked == len(_EXPORTED) - 1


def _samples() -> dict[type[sayna.SaynaError], sayna.SaynaError]:
    """One instance of every exported exception class, every field set to a non-default."""
    http = {
        "status_code": 0,
        "server_message": "Room 'r' not found",
        "code": "ROOM_NOT_FOUND",
        "method": "GET",
        "endpoint": "/livekit/rooms/r",
        "body": '{"error":"Room \'r\' not found","code":"ROOM_NOT_FOUND"}',
        "request_id": "req-42",
        "retry_after": 2.5,
    }
    samples: dict[type[sayna.SaynaError], sayna.SaynaError] = {
        sayna.SaynaError: sayna.SaynaError("plain"),
        sayna.SaynaValidationError: sayna.SaynaValidationError("bad", field="text"),
        sayna.WebhookVerificationError: sayna.WebhookVerificationError(
            "stale", reason="timestamp_out_of_range", field="x-sayna-timestamp"
        ),
        sayna.SaynaConnectionError: sayna.SaynaConnectionError("refused"),
        sayna.SaynaTimeoutError: sayna.SaynaTimeoutError("slow"),
        sayna.SaynaConnectionClosedError: sayna.SaynaConnectionClosedError(
            "gone", code=1011, reason="internal error"
        ),
        sayna.SaynaNotConnectedError: sayna.SaynaNotConnectedError("closed"),
        sayna.SaynaNotReadyError: sayna.SaynaNotReadyError("not ready"),
        sayna.SaynaAudioError: sayna.SaynaAudioError("no audio device"),
        sayna.SaynaThreadsDisabledError: sayna.SaynaThreadsDisabledError("no threads"),
        sayna.SaynaConfigError: sayna.SaynaConfigError(
            "refused", server_message="STT configuration is required"
        ),
        sayna.SaynaProtocolError: sayna.SaynaProtocolError(
            "not an object", method="GET", endpoint="/voices", body="[1, 2]"
        ),
        sayna.SaynaCallbackError: sayna.SaynaCallbackError(
            "1 callback raised", errors=["RuntimeError('x')"]
        ),
    }
    for name in sayna.__all__:
        cls = getattr(sayna, name)
        if isinstance(cls, type) and issubclass(cls, sayna.SaynaHttpError):
            status = {"SaynaHttpError": 418, "SaynaServerError": 503}.get(name)
            if status is None:
                status = next(s for s, c in _STATUS_CLASSES.items() if c is cls)
            samples[cls] = cls(f"{status} on GET /x", **{**http, "status_code": status})
    return samples


_STATUS_CLASSES = {
    400: sayna.BadRequestError,
    401: sayna.AuthenticationError,
    403: sayna.PermissionDeniedError,
    404: sayna.NotFoundError,
    405: sayna.MethodNotAllowedError,
    409: sayna.ConflictError,
    415: sayna.UnsupportedMediaTypeError,
    422: sayna.UnprocessableEntityError,
    429: sayna.RateLimitError,
}
_EXPORTED = sorted(
    (
        getattr(sayna, name)
        for name in sayna.__all__
        if isinstance(getattr(sayna, name), type)
        and issubclass(getattr(sayna, name), sayna.SaynaError)
    ),
    key=lambda cls: cls.__name__,
)


def _assert_same(clone: BaseException, exc: sayna.SaynaError) -> None:
    assert type(clone) is type(exc)
    assert str(clone) == str(exc) == exc.message
    assert vars(clone) == vars(exc)
    assert clone.args == exc.args


def test_every_exported_exception_has_a_sample() -> None:
    """The round-trip tests below cover every exception class sayna exports."""
    assert set(_samples()) == set(_EXPORTED)


@pytest.mark.parametrize("cls", _EXPORTED, ids=lambda cls: cls.__name__)
def test_args_rebuild_the_exception(cls: type[sayna.SaynaError]) -> None:
    """type(exc)(*exc.args) gives an equal exception: args carry the message and every field."""
    exc = _samples()[cls]
    assert exc.args[0] == exc.message
    _assert_same(type(exc)(*exc.args), exc)


@pytest.mark.parametrize("cls", _EXPORTED, ids=lambda cls: cls.__name__)
def test_pickle_keeps_type_and_fields(cls: type[sayna.SaynaError]) -> None:
    """pickle round-trips every exception with its class, message and fields."""
    exc = _samples()[cls]
    exc.__notes__ = ["seen in a worker"]  # what add_note() sets (3.11+)
    _assert_same(pickle.loads(pickle.dumps(exc)), exc)


@pytest.mark.parametrize("cls", _EXPORTED, ids=lambda cls: cls.__name__)
def test_celery_json_result_backend_keeps_type_and_fields(cls: type[sayna.SaynaError]) -> None:
    """Celery's JSON result serialization rebuilds the same class with every field."""
    import celery
    from celery.backends.base import Backend

    backend = Backend(app=celery.Celery(set_as_current=False), serializer="json")
    exc = _samples()[cls]
    stored = backend.encode(backend.prepare_exception(exc))
    clone = backend.exception_to_python(backend.decode(stored))
    _assert_same(clone, exc)
    assert isinstance(clone, cls)


def test_callback_errors_survive_celery_json_as_text() -> None:
    """Exception objects in SaynaCallbackError.errors come back from JSON as their text."""
    import celery
    from celery.backends.base import Backend

    backend = Backend(app=celery.Celery(set_as_current=False), serializer="json")
    exc = sayna.SaynaCallbackError("2 callbacks raised", errors=[RuntimeError("x"), KeyError(1)])
    clone = backend.exception_to_python(
        backend.decode(backend.encode(backend.prepare_exception(exc)))
    )
    assert type(clone) is sayna.SaynaCallbackError
    assert str(clone) == "2 callbacks raised"
    assert clone.errors == ["[RuntimeError('x'), KeyError(1)]"]
    pickled = pickle.loads(pickle.dumps(exc))
    assert [repr(e) for e in pickled.errors] == ["RuntimeError('x')", "KeyError(1)"]
