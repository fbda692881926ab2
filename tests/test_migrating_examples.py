"""Code written for the async SDK runs here, ported the way docs/migrating.rst says.

Two halves, both from files in the repository:

* The names. ``tests/data/async_sdk/api.json`` lists, as facts, the members the
  async SDK's documentation names (its signatures as written, its properties,
  the methods it mentions in prose); every one exists here with the same
  parameters. ``.ci/check-reference`` keeps that list equal to the
  documentation while the reference folder is present.
* The examples. ``ASYNC_EXAMPLES`` below are our own, written in the async SDK's
  idiom (``await``, ``from sayna_client import``, one ``client`` for REST and
  realtime) over every documented member. Each is ported mechanically by the
  rules of the page's "Porting an example" section, nothing else:

  1. delete ``await``;
  2. ``from sayna_client import ...`` becomes ``from sayna import ...``;
  3. ``client.<name>`` of a realtime member (the page's realtime table) becomes
     ``session.<name>``: ``client`` is a :class:`sayna.Sayna`, ``session`` the
     :class:`sayna.Session` that ``client.connect(...)`` returned;
  4. a ``TTSConfig(...)`` without ``model`` gets ``model=""``.

  Then each runs against the local server.

The names sayna-client 0.0.18 keeps only as deprecated aliases (its
documentation no longer shows them) have no alias here: the page's table
gives the name to use, and ``test_deprecated_names_have_a_table_row`` keeps
that table and this decision in step.
"""

from __future__ import annotations

import inspect
import json
import pathlib
import re
from collections.abc import Iterator

import pytest

from sayna import Sayna, Session, STTConfig, TTSConfig, WebhookReceiver
from sayna.testing import FakeServer, encode_speech, sign_webhook

ROOT = pathlib.Path(__file__).resolve().parent.parent
FACTS = json.loads((ROOT / "tests" / "data" / "async_sdk" / "api.json").read_text("utf-8"))
MIGRATING = ROOT / "docs" / "migrating.rst"
SECRET = "a-webhook-secret-of-32-characters"
STREAM_ID = "call-2024-0042"

#: Members of the async SDK's client that belong to the session here (rule 3).
REALTIME = (
    "disconnect",
    "speak",
    "on_audio_input",
    "send_message",
    "clear",
    "tts_flush",
    "register_on_stt_result",
    "register_on_tts_audio",
    "register_on_error",
    "register_on_message",
    "register_on_participant_disconnected",
    "register_on_tts_playback_complete",
    "ready",
    "connected",
    "livekit_room_name",
    "livekit_url",
    "sayna_participant_identity",
    "sayna_participant_name",
    "received_stream_id",
)

#: Our examples in the async SDK's idiom, one feature each (see the module docstring).
ASYNC_EXAMPLES = [
    # REST: health and the voice catalogue.
    """\
status = (await client.health()).status
catalogue = await client.get_voices()
for provider, voices in catalogue.items():
    print(provider, [v.name for v in voices][:3])
assert status == "OK"
""",
    # REST: synthesis over HTTP, unpacked as a pair.
    """\
from sayna_client import TTSConfig

pcm, info = await client.speak_rest("Good morning", TTSConfig(provider="deepgram", voice_id="v1"))
assert len(pcm) > 0 and info.get("Content-Type")
""",
    # REST: the rooms this key may see, each in detail.
    """\\
listing = await client.get_livekit_rooms()
details = [await client.get_livekit_room(room.name) for room in listing.rooms]
assert len(details) == len(listing.rooms)
""",
    # REST: a LiveKit token for a participant.
    """\
grant = await client.get_livekit_token(
    room_name="front-desk", participant_name="Robin", participant_identity="robin-7"
)
assert grant.token and grant.room_name == "front-desk"
""",
    # REST: the SIP hooks table, read then extended.
    """\
from sayna_client import SipHook

before = await client.get_sip_hooks()
after = await client.set_sip_hooks(
    [SipHook(host="pbx.example.org", url="https://app.example.org/sip", auth_id="acme")]
)
assert len(after.hooks) == len(before.hooks) + 1
""",
    # REST: an outbound call, with and without per-call SIP settings.
    """\
placed = await client.sip_call(
    room_name="outbound-1",
    participant_name="Dispatcher",
    participant_identity="dispatch-1",
    from_phone_number="+15550001111",
    to_phone_number="+15550002222",
)
again = await client.sip_call(
    room_name="outbound-2",
    participant_name="Dispatcher",
    participant_identity="dispatch-2",
    from_phone_number="+15550001111",
    to_phone_number="+15550003333",
    sip={"outbound_address": "trunk.example.org:5060", "auth_username": "dispatch"},
)
assert placed.sip_call_id and again.sip_call_id
""",
    # Realtime: callbacks, then speech, then the audio it produced.
    """\
heard, chunks, finished = [], [], []
client.register_on_stt_result(lambda result: heard.append(result.transcript))
client.register_on_tts_audio(chunks.append)
client.register_on_tts_playback_complete(lambda event: finished.append(event))
client.register_on_error(lambda error: print("server error:", error.message))
client.register_on_message(lambda message: print("message:", message))
client.register_on_participant_disconnected(lambda who: print("left:", who))
await client.speak("Thanks for calling", flush=True, allow_interruption=False)
""",
    # Realtime: audio in, data-channel messages, queue control.
    """\
await client.on_audio_input(audio_bytes)
await client.send_message("caller verified", role="assistant", topic="notes", debug={"step": 2})
await client.clear()
await client.tts_flush(allow_interruption=True)
""",
    # Realtime: the state and the ready message's data, then the end.
    """\
assert client.ready and client.connected
print(client.livekit_room_name, client.livekit_url)
print(client.sayna_participant_identity, client.sayna_participant_name)
assert client.received_stream_id == "call-2024-0042"
await client.disconnect()
""",
    # REST: the session's recording, written to a file.
    """\
recording, _headers = await client.get_recording(client.received_stream_id)
with open("call.ogg", "wb") as out:
    out.write(recording)
""",
    # Webhooks: a receiver with an explicit secret and one from the environment.
    """\
import os
from sayna_client import WebhookReceiver

explicit = WebhookReceiver(os.environ["SAYNA_WEBHOOK_SECRET"])
from_env = WebhookReceiver()
assert type(explicit) is type(from_env)
""",
    # Webhooks: a Flask endpoint that verifies, then answers.
    """\
from flask import Flask, jsonify, request
from sayna_client import WebhookReceiver

app = Flask("sip_events")
receiver = WebhookReceiver()

@app.post("/webhook")
def sip_event():
    call = receiver.receive(dict(request.headers), request.get_data(as_text=True))
    print("call from", call.from_phone_number, "in", call.room.name)
    return jsonify({"received": True})
""",
]


#: Documented members no example uses, and why (the constructor and ``connect``
#: are the fixture's; ``receive`` is called on a receiver, not the client).
NOT_IN_EXAMPLES = {
    "remove_livekit_participant": "needs a participant in a room (tests/test_client_rest.py)",
    "mute_livekit_participant_track": "needs a published track (tests/test_client_rest.py)",
    "sip_transfer_rest": "needs a SIP participant (tests/test_client_rest.py)",
}


def port(example: str) -> str:
    """The example ported by the page's four rules."""
    code = example.replace("await ", "")
    code = code.replace("from sayna_client import", "from sayna import")
    names = "|".join(REALTIME)
    code = re.sub(rf"\bclient\.({names})\b", r"session.\1", code)

    def add_model(match: re.Match[str]) -> str:
        call = match.group(0)
        return call if "model=" in call else call.replace("TTSConfig(", 'TTSConfig(model="", ', 1)

    return re.sub(r"TTSConfig\((?:[^()]|\([^()]*\))*\)", add_model, code)


@pytest.fixture
def namespace(
    monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path
) -> Iterator[dict[str, object]]:
    """``client`` and ``session`` on a local server, and the names the examples assume."""
    monkeypatch.setenv("SAYNA_WEBHOOK_SECRET", SECRET)
    monkeypatch.chdir(tmp_path)
    with (
        FakeServer(tts_speedup=50, recordings={STREAM_ID: b"OggS recording"}) as server,
        Sayna(server.url) as client,
        client.connect(
            stt_config=STTConfig(provider="deepgram", model="nova-3"),
            tts_config=TTSConfig(provider="deepgram", model=""),
            stream_id=STREAM_ID,
        ) as session,
    ):
        yield {
            "__name__": "async_style_example",
            "client": client,
            "session": session,
            "audio_bytes": encode_speech("hello", 16000),
        }


@pytest.mark.parametrize("example", ASYNC_EXAMPLES, ids=lambda e: e.strip().splitlines()[0][:48])
def test_async_style_example_runs_ported(example: str, namespace: dict[str, object]) -> None:
    """The example, ported by the page's rules, runs against the local server."""
    code = port(example)
    assert "await" not in code
    assert "sayna_client" not in code
    exec(compile(code, "<async-style example>", "exec"), namespace)  # noqa: S102
    app = namespace.get("app")
    if app is not None:  # the Flask receiver: a signed webhook gets its 200
        body = json.dumps(
            {
                "participant": {"identity": "sip_+1555", "sid": "PA_1"},
                "room": {"name": "sip-room", "sid": "RM_1"},
                "from_phone_number": "+15550100",
                "to_phone_number": "+15550199",
                "room_prefix": "sip-",
                "sip_host": "sip.example.com",
            }
        )
        reply = app.test_client().post(  # type: ignore[attr-defined]
            "/webhook", data=body, headers=sign_webhook(SECRET, body)
        )
        assert (reply.status_code, reply.get_json()) == (200, {"received": True})


def _parameters(signature: str) -> list[str]:
    inside = signature.split("(", 1)[1].rsplit(")", 1)[0]
    return [p.split("=", 1)[0].strip() for p in inside.split(",") if p.strip()]


def _owner(name: str) -> type:
    return Session if name in REALTIME else Sayna


def test_every_documented_member_exists_with_its_parameters() -> None:
    """Each signature the async SDK documents has its counterpart here, parameter for parameter."""
    assert len(FACTS["signatures"]) == 22
    for signature in FACTS["signatures"]:
        head, params = signature.split("(", 1)[0], _parameters(signature)
        if head == "SaynaClient":  # split here: Sayna(url, api_key) + connect(configs)
            ours = set(inspect.signature(Sayna).parameters)
            ours |= set(inspect.signature(Sayna.connect).parameters)
        elif head == "WebhookReceiver":
            ours = set(inspect.signature(WebhookReceiver).parameters)
        elif head == "receiver.receive":
            ours = set(inspect.signature(WebhookReceiver.receive).parameters)
        else:
            name = head.split(".", 1)[1]
            method = getattr(_owner(name), name)
            ours = set(inspect.signature(method).parameters)
        assert set(params) <= ours, signature


def test_every_documented_name_exists() -> None:
    """The documented properties and the methods named only in prose exist here too."""
    for name in FACTS["properties"]:
        assert isinstance(inspect.getattr_static(Session, name), property), name
    for name in FACTS["other_methods"]:
        assert callable(getattr(Sayna, name)), name


def test_examples_cover_every_documented_member() -> None:
    """Every member the async SDK documents is used by at least one of our examples."""
    text = "\n".join(ASYNC_EXAMPLES)
    names = [s.split("(", 1)[0].rsplit(".", 1)[-1] for s in FACTS["signatures"]]
    names += FACTS["properties"] + FACTS["other_methods"]
    missing = [
        n
        for n in names
        if n not in ("SaynaClient", "connect", "receive", "WebhookReceiver", *NOT_IN_EXAMPLES)
        and not re.search(rf"\bclient\.{n}\b", text)
    ]
    assert not missing, missing


def test_porting_rules_are_the_pages() -> None:
    """The rules applied here are the ones docs/migrating.rst states."""
    page = MIGRATING.read_text(encoding="utf-8")
    section = page.split("Porting an example", 1)[1].split("Name by name", 1)[0]
    for rule in ("``await``", "``from sayna_client import", "``session.", '``model=""``'):
        assert rule in section, rule
    for name in REALTIME:
        assert f"``client.{name}" in page or f"client.{name}(" in page, name


def test_port_rewrites_exactly_the_documented_forms() -> None:
    """The porting function changes awaits, imports, realtime members and model-less TTSConfigs."""
    assert port("x = await client.health()\nawait client.speak('a')\n") == (
        "x = client.health()\nsession.speak('a')\n"
    )
    assert port('TTSConfig(provider="d", voice_id="v")') == (
        'TTSConfig(model="", provider="d", voice_id="v")'
    )
    assert port('TTSConfig(provider="d", model="m")') == 'TTSConfig(provider="d", model="m")'


#: sayna-client 0.0.18's deprecated (or undocumented) spellings and ours.
DEPRECATED: dict[str, tuple[str, type | str, str]] = {
    "health_check()": ("health()", Sayna, "health"),
    "send_speak(text)": ("speak(text)", "session", "speak"),
    "send_clear()": ("clear()", "session", "clear"),
    "register_on_audio(callback)": (
        "register_on_tts_audio(callback)",
        "session",
        "register_on_tts_audio",
    ),
    "sip_call(..., sip_config=config)": ("sip_call(..., sip=config)", Sayna, "sip_call"),
}


def test_deprecated_names_have_a_table_row() -> None:
    """Each deprecated spelling has its row on the page, and ours is the replacement only."""
    page = MIGRATING.read_text(encoding="utf-8")
    for old, (new, owner, method) in DEPRECATED.items():
        cls = Session if owner == "session" else owner
        assert f"client.{old}``" in page, old
        assert new in page, new
        assert hasattr(cls, method)
        old_name = old.split("(", 1)[0]
        if old_name != method:
            assert not hasattr(cls, old_name), f"{old_name} was chosen not to be an alias"
    parameters = inspect.signature(Sayna.sip_call).parameters
    assert "sip" in parameters
    assert "sip_config" not in parameters
