"""FakeServer's behaviour object: the keywords build it, the attributes read and write it."""

from __future__ import annotations

import pytest
import requests

from sayna.testing import Behaviour, FakeServer


def test_keywords_build_the_behaviour() -> None:
    """The historical constructor keywords end up in server.behaviour."""
    server = FakeServer(api_keys={"k": "t"}, tts_speedup=0, provider_credentials=["deepgram"])
    assert server.behaviour.api_keys == {"k": "t"}
    assert server.behaviour.tts_speedup == 0
    assert server.behaviour.provider_credentials == frozenset({"deepgram"})


def test_attributes_write_through_to_the_behaviour() -> None:
    """Flipping a switch on the server changes the behaviour, and reading follows it."""
    server = FakeServer()
    server.tts_error = "quota exceeded"
    server.behaviour.livekit_error = "room service down"
    server.fail_config("nope")
    server.script_transcripts(["one", "two"])
    assert server.behaviour.tts_error == "quota exceeded"
    assert server.livekit_error == "room service down"
    assert server.behaviour.fail_config == "nope"
    assert server.behaviour.transcripts == ["one", "two"]


def test_a_behaviour_object_configures_a_server() -> None:
    """FakeServer(behaviour=...) serves with it: a locked server answers 401 without a key."""
    with FakeServer(behaviour=Behaviour(api_keys={"sk": "tenant"})) as server:
        assert requests.get(server.url + "/voices", timeout=5).status_code == 401
        answer = requests.get(
            server.url + "/voices", headers={"Authorization": "Bearer sk"}, timeout=5
        )
        assert answer.status_code == 200


def test_behaviour_and_keywords_do_not_mix() -> None:
    """Passing both a behaviour and a behaviour keyword is refused."""
    with pytest.raises(TypeError, match="either behaviour= or"):
        FakeServer(behaviour=Behaviour(), tts_speedup=0)


def test_behaviour_repr_hides_secrets() -> None:
    """API keys, the webhook secret and the LiveKit secret stay out of the repr."""
    text = repr(
        Behaviour(
            api_keys={"sk-do-not-print": "tenant"},
            webhook_secret="whsec-do-not-print",
            livekit_api_secret="lk-do-not-print",
        )
    )
    assert "do-not-print" not in text
    assert "tts_speedup=10.0" in text
