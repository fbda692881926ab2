"""``sayna.typing`` names the aliases the public signatures use."""

from __future__ import annotations

import inspect
import typing

import sayna
import sayna.typing


def test_all_is_sorted_and_complete() -> None:
    """Every alias in ``__all__`` exists, and ``__all__`` is sorted."""
    assert sayna.typing.__all__ == sorted(sayna.typing.__all__)
    for name in sayna.typing.__all__:
        assert getattr(sayna.typing, name) is not None


def test_aliases_are_the_ones_in_the_signatures() -> None:
    """The aliases are the very objects public methods are annotated with."""
    hints = typing.get_type_hints(sayna.Session.transcribe)
    assert hints["audio"] == sayna.typing.AudioSource
    assert hints["progress"] == sayna.typing.ProgressCallback | None
    assert typing.get_type_hints(sayna.Session.wait_for)["event"] == sayna.typing.EventMatch
    assert typing.get_type_hints(sayna.Session.off)["event_type"] == sayna.typing.EventKey
    on = inspect.signature(sayna.Session.on).parameters["event_type"].annotation
    assert on in ("EventKey", sayna.typing.EventKey)


def test_aliases_accept_what_the_docs_say() -> None:
    """A value of each documented kind is an instance of the alias's members."""
    assert "network" in typing.get_args(sayna.typing.CloseInitiator)
    assert bytes in typing.get_args(sayna.typing.AudioSource)
