"""Names of the async SDK (sayna-client 0.0.18) that we spell differently fail with a pointer."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
import sayna_client

import sayna
from sayna import RenamedAttributeError, Sayna, Session
from sayna._renamed import CLIENT_METHODS, MODULE_NAMES, SESSION_METHODS
from sayna.testing import FakeServer


@pytest.mark.parametrize(
    ("old", "new"),
    [("health_check", "health()")],
)
def test_an_old_client_method_names_its_replacement(client: Sayna, old: str, new: str) -> None:
    """client.health_check raises an AttributeError subclass that names client.health()."""
    with pytest.raises(RenamedAttributeError, match=rf"use Sayna\.{new.replace('()', '')}") as info:
        getattr(client, old)
    assert isinstance(info.value, AttributeError)
    assert (info.value.old, info.value.new) == (old, new)
    assert not hasattr(client, old)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("send_speak", "speak"),
        ("send_clear", "clear"),
        ("register_on_audio", "register_on_tts_audio"),
    ],
)
def test_an_old_session_method_names_its_replacement(session: Session, old: str, new: str) -> None:
    """A ready session's send_speak / send_clear / register_on_audio name the method to use."""
    with pytest.raises(RenamedAttributeError, match=rf"use Session\.{new}\(\)"):
        getattr(session, old)


def test_a_realtime_name_on_the_client_points_at_the_session(client: Sayna) -> None:
    """client.send_speak explains that realtime calls live on the Session from connect()."""
    with pytest.raises(RenamedAttributeError, match=r"Session\.speak\(\).*Sayna\.connect\(\)"):
        client.send_speak  # type: ignore[attr-defined]  # noqa: B018


def test_an_unknown_name_stays_a_plain_attribute_error(client: Sayna, session: Session) -> None:
    """A misspelling that is no old SDK name gets the usual message and class."""
    for obj in (client, session):
        with pytest.raises(AttributeError, match="has no attribute 'helth'") as info:
            obj.helth  # type: ignore[attr-defined]  # noqa: B018
        assert type(info.value) is AttributeError


def test_sip_call_with_sip_config_names_sip(client: Sayna) -> None:
    """sip_call(sip_config=...) is a TypeError naming sip=."""
    with pytest.raises(TypeError, match=r"'sip_config'; use sip= instead"):
        client.sip_call(
            "room",
            "caller",
            "caller-1",
            "+15550001111",
            "+15550002222",
            sip_config={"outbound_address": "sip.example.com"},  # type: ignore[call-arg]
        )


def test_sip_call_with_sip_config_reaches_no_server(sayna_server: FakeServer) -> None:
    """The refused keyword leaves the server's request log without a /sip/call."""
    with Sayna(sayna_server.url) as client, pytest.raises(TypeError):
        client.sip_call(
            "room",
            "caller",
            "caller-1",
            "+15550001111",
            "+15550002222",
            sip_config={},  # type: ignore[call-arg]
        )
    assert [r.path for r in sayna_server.requests if r.path == "/sip/call"] == []


def test_sip_call_with_another_unknown_keyword_is_the_usual_type_error(client: Sayna) -> None:
    """Only the renamed keyword gets a pointer; any other is Python's usual wording."""
    with pytest.raises(TypeError, match="unexpected keyword argument 'bogus'"):
        client.sip_call("room", "c", "c-1", "+15550001111", "+15550002222", bogus=1)  # type: ignore[call-arg]


@pytest.mark.parametrize("old", sorted(MODULE_NAMES))
def test_an_old_top_level_name_names_its_replacement(old: str) -> None:
    """from sayna import SaynaClient (or another old name) is an ImportError with a pointer."""
    with pytest.raises(ImportError, match=rf"sayna\.{old} is the sayna-client name; use "):
        exec(f"from sayna import {old}", {})  # noqa: S102 - the statement is what we test
    assert old not in sayna.__all__


def _sdk_methods() -> dict[str, Any]:
    return {
        name: value
        for name, value in vars(sayna_client.SaynaClient).items()
        if not name.startswith("_")
    }


def test_every_async_sdk_method_exists_or_names_its_replacement() -> None:
    """Each public SaynaClient name is ours (on Sayna or Session) or in a renamed table."""
    ours = set(dir(Sayna)) | set(dir(Session))
    missing = sorted(
        name
        for name in _sdk_methods()
        if name not in ours and name not in CLIENT_METHODS and name not in SESSION_METHODS
    )
    assert missing == []


def test_every_renamed_method_points_at_a_real_one() -> None:
    """Each replacement in the tables exists where the message says it does."""
    for table, cls in ((CLIENT_METHODS, Sayna), (SESSION_METHODS, Session)):
        for new in table.values():
            assert callable(getattr(cls, new.removesuffix("()")))


def test_every_async_sdk_keyword_is_ours_or_renamed() -> None:
    """Keywords of SaynaClient methods we share exist here, except sip_call's sip_config."""
    ours = {**vars(Sayna), **vars(Session)}
    unexplained = []
    for name, value in _sdk_methods().items():
        if name not in ours or not callable(value):
            continue
        theirs = set(inspect.signature(value).parameters) - {"self"}
        mine = set(inspect.signature(ours[name]).parameters)
        unexplained += [f"{name}({p}=)" for p in sorted(theirs - mine)]
    assert unexplained == ["sip_call(sip_config=)"]
