"""FakeServer's behaviour object: the keywords build it, the attributes read and write it."""

from __future__ import annotations

import inspect

import attrs
import pytest
import requests

from sayna.testing import Behaviour, FakeServer
from sayna.testing._behaviour import behaviour_field


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


# FakeServer keywords that are not behaviour: where it listens, and state it seeds.
_SERVER_ONLY_KEYWORDS = {"host", "port", "protected_hooks", "recordings", "behaviour"}
# Behaviour fields set through a FakeServer method rather than an attribute.
_SET_BY_METHOD = {"fail_config": "fail_config", "transcripts": "script_transcripts"}
# Behaviour fields that only exist as keywords (fixed for the server's lifetime).
_KEYWORD_ONLY = {"cassette", "pace"}


def _keywords() -> dict[str, inspect.Parameter]:
    parameters = inspect.signature(FakeServer.__init__).parameters
    return {
        name: p
        for name, p in parameters.items()
        if p.kind is inspect.Parameter.KEYWORD_ONLY and name not in _SERVER_ONLY_KEYWORDS
    }


def _attribute_fields() -> set[str]:
    return {name for name, value in vars(FakeServer).items() if isinstance(value, behaviour_field)}


def test_every_behaviour_field_is_reachable_from_the_server() -> None:
    """Each Behaviour field is a FakeServer attribute, keyword or method, and nothing else is."""
    fields = {f.name for f in attrs.fields(Behaviour)}
    attributes = _attribute_fields()
    keywords = set(_keywords())
    assert attributes <= fields, attributes - fields
    assert keywords <= fields, keywords - fields
    assert attributes | keywords | set(_SET_BY_METHOD) == fields
    assert keywords - attributes == _KEYWORD_ONLY
    for method in _SET_BY_METHOD.values():
        assert callable(getattr(FakeServer, method))


def test_keyword_defaults_are_the_behaviour_defaults() -> None:
    """A FakeServer built with no keywords has the default Behaviour, keyword by keyword."""
    defaults = Behaviour()
    for name, parameter in _keywords().items():
        field = getattr(attrs.fields(Behaviour), name)
        converted = (
            parameter.default if field.converter is None else field.converter(parameter.default)
        )
        assert converted == getattr(defaults, name), name
    assert FakeServer().behaviour == defaults


def _other_value(name: str, value: object) -> object:
    """A value for field ``name`` that differs from ``value``, of a kind the field takes."""
    if name == "api_keys":
        return {"k": "t"}
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value + 3
    if isinstance(value, frozenset):
        return frozenset({"deepgram"})
    if isinstance(value, str):
        return value + "-other"
    if value is None:
        return "set"
    raise AssertionError(f"no other value for {value!r}")


# A cassette keyword opens the file: the cassette tests cover it.
@pytest.mark.parametrize("name", sorted(set(_keywords()) - {"cassette"}))
def test_each_keyword_reaches_the_behaviour(name: str) -> None:
    """A non-default keyword shows in server.behaviour and through the attribute of its name."""
    value = _other_value(name, getattr(Behaviour(), name))
    server = FakeServer(**{name: value})  # type: ignore[arg-type]
    assert getattr(server.behaviour, name) == value
    if name in _attribute_fields():
        assert getattr(server, name) == value


def test_each_attribute_writes_its_own_field() -> None:
    """Setting one server attribute changes that Behaviour field and no other."""
    for name in sorted(_attribute_fields()):
        server = FakeServer()
        before = attrs.asdict(server.behaviour)
        value = _other_value(name, before[name])
        setattr(server, name, value)
        after = attrs.asdict(server.behaviour)
        changed = {key for key in before if before[key] != after[key]}
        assert changed == {name}, (name, changed)
