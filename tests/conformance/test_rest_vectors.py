"""Replay every REST vector of tests/data/protocol/vectors/rest through the client.

Each vector takes one of three paths, chosen explicitly in ``DISPOSITIONS``:

- ``CLIENT``: the client method for the route is called with the vector's
  arguments while ``responses`` serves the vector's answer. The request the
  client sends must be the vector's request, and the outcome must be the one
  the vector records (a strictly decoded model, the audio, or the right
  exception carrying the server's status, message and code).
- ``Refused(field)``: the vector sends input our client refuses before any
  I/O (blank names, malformed numbers, missing fields): we assert the
  ``SaynaValidationError`` and that nothing was sent.
- ``Raw(why)``: the vector exercises an HTTP situation our client cannot
  produce (bad auth header, query-parameter auth, wrong method, unknown
  route, broken body, the server-to-server webhook route). The vector's
  request is sent with plain ``requests`` through the same mock, and a
  non-2xx answer is mapped with ``error_from_response``, as the client would.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

import attrs
import pytest
import requests
import responses

from sayna import (
    AudioResult,
    AuthenticationError,
    BadRequestError,
    HealthResponse,
    LiveKitRoomDetails,
    LiveKitRoomsResponse,
    LiveKitTokenResponse,
    MethodNotAllowedError,
    MuteParticipantResponse,
    NotFoundError,
    PermissionDeniedError,
    RemoveParticipantResponse,
    Sayna,
    SaynaHttpError,
    SaynaServerError,
    SaynaValidationError,
    SIPCallResponse,
    SipHooksResponse,
    SIPTransferResponse,
    UnprocessableEntityError,
    UnsupportedMediaTypeError,
    VoiceDescriptor,
)
from sayna._converter import from_wire, to_wire
from sayna._errors import error_from_response
from tests.support.shared_protocol import assert_valid, load_vectors

BASE = "http://sayna.test"
VECTORS = dict(load_vectors("rest"))


@attrs.frozen
class Client:
    """Replayed through the client method for the route."""


@attrs.frozen
class Refused:
    """Refused by the client before sending; ``same_reason``: our reason text is the server's."""

    field: str
    same_reason: bool = False


@attrs.frozen
class Raw:
    """Sent with plain requests: the client cannot produce this request, for the reason given."""

    why: str


CLIENT = Client()
BAD_HEADER = Raw("the client always sends a well-formed 'Bearer <key>' header")
QUERY_AUTH = Raw("the client authenticates with the header, never with ?api_key")
WEBHOOK = Raw("POST /livekit/webhook is LiveKit's server-to-server route, not a client call")
BAD_BODY = Raw("the client always sends well-formed JSON with Content-Type: application/json")
NO_ROUTE = Raw("the client has no method for an unknown route or a wrong method")

DISPOSITIONS: dict[str, Client | Refused | Raw] = {
    "auth__auth_service_down": CLIENT,
    "auth__malformed_header": BAD_HEADER,
    "auth__missing_token": CLIENT,
    "auth__query_param": QUERY_AUTH,
    "auth__query_param_fallback_after_bad_header": QUERY_AUTH,
    "auth__wrong_secret": CLIENT,
    "health__ok": CLIENT,
    "livekit_participant_delete__blank": Refused("participant_identity"),
    "livekit_participant_delete__no_such_participant": CLIENT,
    "livekit_participant_delete__not_configured": CLIENT,
    "livekit_participant_delete__ok": CLIENT,
    "livekit_participant_delete__room_masked": CLIENT,
    "livekit_participant_mute__blank_track": Refused("track_sid"),
    "livekit_participant_mute__failed": CLIENT,
    "livekit_participant_mute__missing_muted": Refused("muted"),
    "livekit_participant_mute__not_found": CLIENT,
    "livekit_participant_mute__ok": CLIENT,
    "livekit_room__blank_name": Refused("room_name"),
    "livekit_room__not_found": CLIENT,
    "livekit_room__ok": CLIENT,
    "livekit_room__other_tenant_masked": CLIENT,
    "livekit_rooms__not_configured": CLIENT,
    "livekit_rooms__ok": CLIENT,
    "livekit_token__empty_field": Refused("participant_name"),
    # All three names are blank; the server would first say LiveKit is not
    # configured, the client refuses the first blank field before asking.
    "livekit_token__livekit_not_configured": Refused("room_name"),
    "livekit_token__ok": CLIENT,
    "livekit_token__other_tenant": CLIENT,
    "livekit_webhook__bad_signature": WEBHOOK,
    "livekit_webhook__missing_authorization": WEBHOOK,
    "livekit_webhook__not_configured": WEBHOOK,
    "livekit_webhook__ok": WEBHOOK,
    "recording__invalid_id": Refused("stream_id"),
    "recording__not_found": CLIENT,
    "recording__ok": CLIENT,
    "recording__storage_not_configured": CLIENT,
    "sip_call__blank_participant_name": Refused("participant_name"),
    "sip_call__failed": CLIENT,
    "sip_call__invalid_to": Refused("to_phone_number", same_reason=True),
    "sip_call__no_outbound_address": CLIENT,
    "sip_call__ok": CLIENT,
    "sip_call__ok_with_override": CLIENT,
    "sip_call__room_masked": CLIENT,
    "sip_hooks_delete__empty": Refused("hosts"),
    "sip_hooks_delete__ok": CLIENT,
    "sip_hooks_delete__protected_host": CLIENT,
    "sip_hooks_get__no_sip": CLIENT,
    "sip_hooks_get__ok": CLIENT,
    # auth_id " " is legal on servers without auth, so only the server can refuse it.
    "sip_hooks_post__blank_auth_id": CLIENT,
    "sip_hooks_post__duplicate": CLIENT,
    "sip_hooks_post__missing_auth_id": Refused("hooks[0].auth_id"),
    # An empty upsert changes nothing; the client refuses it as a likely mistake.
    "sip_hooks_post__no_cache_path": Refused("hooks"),
    "sip_hooks_post__ok": CLIENT,
    "sip_hooks_post__protected_host": CLIENT,
    "sip_transfer__blank_participant": Refused("participant_identity"),
    "sip_transfer__blank_room": Refused("room_name"),
    "sip_transfer__completed": CLIENT,
    "sip_transfer__initiated": CLIENT,
    "sip_transfer__invalid_phone": Refused("transfer_to", same_reason=True),
    "sip_transfer__not_configured": CLIENT,
    "sip_transfer__not_sip": CLIENT,
    "sip_transfer__room_masked": CLIENT,
    "speak__empty_text": Refused("text"),
    # Which auth keys a provider needs is the server's knowledge, not the client's.
    "speak__invalid_auth_input": CLIENT,
    "speak__malformed_json": BAD_BODY,
    "speak__missing_model": Refused("tts_config.model"),
    "speak__missing_server_auth": CLIENT,
    "speak__no_content_type": BAD_BODY,
    "speak__ok_linear16": CLIENT,
    "speak__ok_mp3_with_override": CLIENT,
    "speak__provider_failure": CLIENT,
    "speak__unsupported_provider": CLIENT,
    "unknown_route": NO_ROUTE,
    "unknown_route_unauthenticated": NO_ROUTE,
    "voices__empty": CLIENT,
    "voices__ok": CLIENT,
    "wrong_method": NO_ROUTE,
}

ERROR_CLASSES: dict[int, type[SaynaHttpError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    405: MethodNotAllowedError,
    415: UnsupportedMediaTypeError,
    422: UnprocessableEntityError,
    500: SaynaServerError,
    503: SaynaServerError,
}

# The model each JSON success answer decodes into, by route.
ANSWER_TYPES: dict[tuple[str, str], Any] = {
    ("GET", "/"): HealthResponse,
    ("GET", "/voices"): dict[str, list[VoiceDescriptor]],
    ("POST", "/livekit/token"): LiveKitTokenResponse,
    ("GET", "/livekit/rooms"): LiveKitRoomsResponse,
    ("GET", "/livekit/rooms/{}"): LiveKitRoomDetails,
    ("DELETE", "/livekit/participant"): RemoveParticipantResponse,
    ("POST", "/livekit/participant/mute"): MuteParticipantResponse,
    ("GET", "/sip/hooks"): SipHooksResponse,
    ("POST", "/sip/hooks"): SipHooksResponse,
    ("DELETE", "/sip/hooks"): SipHooksResponse,
    ("POST", "/sip/transfer"): SIPTransferResponse,
    ("POST", "/sip/call"): SIPCallResponse,
}


def _route(method: str, path: str) -> tuple[str, str]:
    for prefix in ("/livekit/rooms/", "/recording/"):
        if path.startswith(prefix):
            return method, prefix + "{}"
    return method, path


def _call_client(client: Sayna, request: dict[str, Any]) -> Any:
    """Call the client method for the vector's route with the vector's arguments."""
    method, path = request["method"], request["path"]
    body: dict[str, Any] = request.get("body", {})
    route = _route(method, path)
    segment = unquote(path.rsplit("/", 1)[-1])
    calls: dict[tuple[str, str], Any] = {
        ("GET", "/"): lambda: client.health(),
        ("GET", "/voices"): lambda: client.get_voices(),
        ("POST", "/speak"): lambda: client.speak_rest(body["text"], body["tts_config"]),
        ("POST", "/livekit/token"): lambda: client.get_livekit_token(**body),
        ("GET", "/livekit/rooms"): lambda: client.get_livekit_rooms(),
        ("GET", "/livekit/rooms/{}"): lambda: client.get_livekit_room(segment),
        ("DELETE", "/livekit/participant"): lambda: client.remove_livekit_participant(**body),
        ("POST", "/livekit/participant/mute"): lambda: client.mute_livekit_participant_track(
            body["room_name"], body["participant_identity"], body["track_sid"], body.get("muted")
        ),
        ("GET", "/recording/{}"): lambda: client.get_recording(segment),
        ("GET", "/sip/hooks"): lambda: client.get_sip_hooks(),
        ("POST", "/sip/hooks"): lambda: client.set_sip_hooks(body.get("hooks", [])),
        ("DELETE", "/sip/hooks"): lambda: client.delete_sip_hooks(body.get("hosts", [])),
        ("POST", "/sip/transfer"): lambda: client.sip_transfer_rest(**body),
        ("POST", "/sip/call"): lambda: client.sip_call(**body),
    }
    return calls[route]()


def _serve(mock: responses.RequestsMock, vector: dict[str, Any]) -> None:
    request, answer = vector["request"], vector["response"]
    headers = dict(answer["headers"])
    content_type = headers.pop("content-type", None)
    headers.pop("content-length", None)  # computed from the body
    encoding = answer["body_encoding"]
    if encoding == "json":
        body: bytes = json.dumps(answer["body"], separators=(",", ":")).encode()
    elif encoding == "text":
        body = answer["body"].encode()
    elif encoding == "base64":
        body = base64.b64decode(answer["body"])
    else:
        body = b""
    mock.add(
        request["method"],
        BASE + request["path"],
        body=body,
        status=answer["status"],
        headers=headers,
        content_type=content_type,
    )


def _without_nulls(value: Any) -> Any:
    # The server treats null like absent and an absent list like []; the
    # client omits both, so compare bodies with those removed.
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None and v != []}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def _stable(message: str, notes: str | None) -> str:
    """The part of ``message`` the vector's notes call stable (all of it without notes)."""
    if not notes:
        return message
    marker = re.search(r"'([^']+)'", notes)
    assert marker is not None, f"notes name no stable prefix: {notes}"
    end = message.index(marker.group(1)) + len(marker.group(1))
    return message[:end]


def _assert_error(exc: SaynaHttpError, vector: dict[str, Any]) -> None:
    answer = vector["response"]
    status = answer["status"]
    assert type(exc) is ERROR_CLASSES[status]
    assert exc.status_code == status
    if answer["body_encoding"] == "json":
        body = answer["body"]
        if "message" in body:  # auth middleware: error is the code
            message, code = body["message"], body["error"]
        else:
            message, code = body["error"], body.get("code")
    elif answer["body_encoding"] == "text":
        message, code = answer["body"], None
    else:
        message, code = "", None
    stable = _stable(message, vector.get("notes"))
    assert exc.server_message.startswith(stable)
    assert exc.code == code
    assert exc.endpoint == vector["request"]["path"]
    assert exc.method == vector["request"]["method"]


@pytest.fixture
def mock() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


@pytest.fixture
def make_client(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.delenv("SAYNA_API_KEY", raising=False)
    made: list[Sayna] = []

    def make(vector: dict[str, Any]) -> Sayna:
        header = vector["request"]["headers"].get("Authorization", "")
        key = header[len("Bearer ") :] if header.startswith("Bearer ") else None
        client = Sayna(BASE, api_key=key)
        client._sleep = lambda _: None  # 503 vectors are retried; do not wait
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


def test_every_vector_has_a_disposition() -> None:
    """Each vector file is listed exactly once, so a new vector cannot be skipped silently."""
    assert set(DISPOSITIONS) == set(VECTORS)


def _names(kind: type) -> list[str]:
    return [name for name, how in DISPOSITIONS.items() if isinstance(how, kind)]


@pytest.mark.parametrize("name", _names(Client))
def test_vector_through_the_client(
    name: str, mock: responses.RequestsMock, make_client: Any
) -> None:
    """The client sends the vector's request and turns the vector's answer into its outcome."""
    vector = VECTORS[name]
    request, answer = vector["request"], vector["response"]
    _serve(mock, vector)
    client = make_client(vector)

    outcome: Any
    try:
        outcome = _call_client(client, request)
    except SaynaHttpError as exc:
        outcome = exc

    assert mock.calls, "nothing was sent"
    for call in mock.calls:  # retried GETs resend the same request
        sent = call.request
        assert sent.method == request["method"]
        assert sent.path_url == request["path"]
        for header, value in request["headers"].items():
            assert sent.headers[header] == value
        if "Authorization" not in request["headers"]:
            assert "Authorization" not in sent.headers
        if "body" in request:
            assert json.loads(sent.body) == _without_nulls(request["body"])
        else:
            assert sent.body is None

    if answer["status"] >= 300:
        assert isinstance(outcome, SaynaHttpError), f"expected an error, got {outcome!r}"
        _assert_error(outcome, vector)
        return
    assert not isinstance(outcome, Exception), outcome
    if answer["body_encoding"] == "base64":
        assert isinstance(outcome, AudioResult)
        assert outcome.data == base64.b64decode(answer["body"])
        for header, value in answer["headers"].items():
            if header == "content-length":  # the mock does not send one
                assert len(outcome) == int(value)
            else:
                assert outcome.headers[header] == value
        if "x-sample-rate" in answer["headers"]:
            assert outcome.sample_rate == int(answer["headers"]["x-sample-rate"])
        return
    cls = ANSWER_TYPES[_route(request["method"], request["path"])]
    assert outcome == from_wire(answer["body"], cls, strict=True)
    assert json.loads(json.dumps(to_wire(outcome))) == answer["body"]
    component = vector.get("openapi", {}).get("response")
    if component:
        assert_valid(to_wire(outcome), component)


@pytest.mark.parametrize("name", _names(Refused))
def test_vector_refused_by_the_client(
    name: str, mock: responses.RequestsMock, make_client: Any
) -> None:
    """Input the server would reject is refused client-side, naming the field, with nothing sent."""
    vector = VECTORS[name]
    how = DISPOSITIONS[name]
    assert isinstance(how, Refused)
    _serve(mock, vector)
    client = make_client(vector)
    with pytest.raises(SaynaValidationError) as info:
        _call_client(client, vector["request"])
    assert not isinstance(info.value, SaynaHttpError)
    assert info.value.field == how.field
    assert len(mock.calls) == 0
    if how.same_reason:
        server_reason = vector["response"]["body"]["error"].split(": ", 1)[1]
        assert str(info.value).split(": ", 1)[1] == server_reason


@pytest.mark.parametrize("name", _names(Raw))
def test_vector_sent_raw(name: str, mock: responses.RequestsMock) -> None:
    """Requests the client cannot make are sent raw; answers map as the client would map them."""
    vector = VECTORS[name]
    request, answer = vector["request"], vector["response"]
    _serve(mock, vector)
    kwargs: dict[str, Any] = {"headers": request["headers"], "params": request.get("query")}
    if "body_raw" in request:
        kwargs["data"] = request["body_raw"].encode()
    elif "body" in request:
        kwargs["json"] = request["body"]
    with requests.Session() as session:
        response = session.request(request["method"], BASE + request["path"], **kwargs)

    sent = mock.calls[0].request
    assert sent.path_url.split("?")[0] == request["path"]
    for header, value in request["headers"].items():
        assert sent.headers[header] == value
    for key, value in (request.get("query") or {}).items():
        assert f"{key}={value}" in sent.url

    assert response.status_code == answer["status"]
    if answer["status"] >= 300:
        exc = error_from_response(
            response.status_code,
            response.content,
            method=request["method"],
            endpoint=request["path"],
            headers=response.headers,
        )
        _assert_error(exc, vector)
        if "allow" in answer["headers"]:
            assert response.headers["Allow"] == answer["headers"]["allow"]
        return
    body = response.json()
    assert body == answer["body"]
    cls = ANSWER_TYPES.get(_route(request["method"], request["path"]))
    if cls is not None:
        assert json.loads(json.dumps(to_wire(from_wire(body, cls, strict=True)))) == body
