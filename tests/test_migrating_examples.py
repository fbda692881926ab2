"""The async SDK's documented examples run here, ported the way docs/migrating.rst says.

The examples are read from the async SDK's documentation in ``../shared/seeds/``
(its README's fenced ``python`` blocks, and the Python snippets of its REST
guide) and ported mechanically by the rules of the page's "Porting an
example" section, nothing else:

1. delete ``await``;
2. ``from sayna_client import ...`` becomes ``from sayna import ...``;
3. ``client.<name>`` of a realtime member (the page's realtime table) becomes
   ``session.<name>``: ``client`` is a :class:`sayna.Sayna`, ``session`` the
   :class:`sayna.Session` that ``client.connect(...)`` returned;
4. a ``TTSConfig(...)`` without ``model`` gets ``model=""``.

Then each runs against the local server. An example left out is listed in
``NOT_RUN`` with the reason, and the test fails if the list and the seeds drift
apart. The names sayna-client 0.0.18 keeps only as deprecated aliases (its
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

from sayna import Sayna, Session, STTConfig, TTSConfig
from sayna.testing import FakeServer, encode_speech, sign_webhook

ROOT = pathlib.Path(__file__).resolve().parent.parent
SEEDS = ROOT.parent / "shared" / "seeds"
MIGRATING = ROOT / "docs" / "migrating.rst"
SECRET = "your-secret-key-min-16-chars"
STREAM_ID = "support-call-789"

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

#: Examples not run, by their first line, and why.
NOT_RUN = {
    # Builds SaynaClient and runs an event loop: the page's side-by-side
    # example is this one ported, and test_docs_examples runs it.
    "import asyncio": "the quick start, ported side by side on the page",
    # An ASGI app: await request.body() is the framework's, not the SDK's.
    "from fastapi import FastAPI, Request, HTTPException": "FastAPI is async and not installed",
}

#: The Python snippets of the REST guide (not fenced): first and last line of each.
GUIDE_SNIPPETS = [
    ("health = await client.health()", "print(health.status)"),
    ("voices = await client.get_voices()", "print(next(iter(voices.values()))[0])"),
    (
        "audio_bytes, headers = await client.speak_rest(",
        'print(len(audio_bytes), "bytes of", headers.get("Content-Type"))',
    ),
    (
        'token = await client.get_livekit_token("support-42", "alex", "alex-support")',
        "print(token.token, token.livekit_url)",
    ),
    ("stream_id = client.received_stream_id", "f.write(audio_bytes)"),
    ("result = await client.sip_call(", "Cache-aware behavior"),
]


def _fenced_python(text: str) -> list[str]:
    return [m.group(1) for m in re.finditer(r"```python\n(.*?)```", text, re.DOTALL)]


def _guide_snippet(text: str, first: str, last: str) -> str:
    lines = text.splitlines()
    start = lines.index(first)
    end = next(i for i in range(start, len(lines)) if lines[i].startswith(last))
    # The last marker is either the snippet's last line or the heading after it.
    stop = end + 1 if lines[end] == last and not last[0].isupper() else end
    snippet = lines[start:stop]
    # The page was stored as text without indentation: the one block in these
    # snippets (a ``with`` of one line) gets it back.
    for i in range(1, len(snippet)):
        if snippet[i - 1].rstrip().endswith(":") and snippet[i - 1].startswith("with "):
            snippet[i] = "    " + snippet[i]
    return "\n".join(snippet) + "\n"


def documented_examples() -> list[str]:
    """Every Python example of the seeds, in order, without duplicates."""
    examples: list[str] = []
    for path in sorted(SEEDS.glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        found = _fenced_python(text)
        if "GET /voices" in text:  # the REST guide: its snippets are not fenced
            found = [_guide_snippet(text, first, last) for first, last in GUIDE_SNIPPETS]
        for example in found:
            if example not in examples:
                examples.append(example)
    return examples


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


def _first_line(example: str) -> str:
    return example.strip().splitlines()[0]


EXAMPLES = documented_examples()


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
            "__name__": "seed_example",
            "client": client,
            "session": session,
            "TTSConfig": TTSConfig,
            "audio_bytes": encode_speech("hello", 16000),
        }


def test_the_seeds_hold_the_examples_we_expect() -> None:
    """The seeds give 20 distinct examples, and every one left out is still in them."""
    firsts = [_first_line(e) for e in EXAMPLES]
    assert len(EXAMPLES) == 20, firsts
    assert set(NOT_RUN) <= set(firsts)


@pytest.mark.parametrize(
    "example",
    [e for e in EXAMPLES if _first_line(e) not in NOT_RUN],
    ids=lambda e: _first_line(e)[:48],
)
def test_documented_example_runs_ported(example: str, namespace: dict[str, object]) -> None:
    """The example, ported by the page's rules, runs against the local server."""
    code = port(example)
    exec(compile(code, "<seed example>", "exec"), namespace)  # noqa: S102
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
