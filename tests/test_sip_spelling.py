"""Our own SIP names are spelled in capitals; the old spellings still resolve, with a warning."""

from __future__ import annotations

import pytest

import sayna


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("SipCallConfig", "SIPCallConfig"),
        ("SipCallResponse", "SIPCallResponse"),
        ("SipTransferResponse", "SIPTransferResponse"),
    ],
)
def test_an_old_spelling_is_the_new_class_with_a_deprecation_warning(old: str, new: str) -> None:
    """sayna.SipCallConfig is sayna.SIPCallConfig, and says so once asked for."""
    with pytest.warns(DeprecationWarning, match=f"sayna.{old} is now sayna.{new}"):
        assert getattr(sayna, old) is getattr(sayna, new)
    assert old not in sayna.__all__


def test_our_own_names_spell_sip_one_way() -> None:
    """Every public name with SIP in it is capitalised, except the async SDK's own names."""
    seeds = {"SipHook", "SipHooksResponse"}
    mixed = [name for name in sayna.__all__ if "Sip" in name and name not in seeds]
    assert mixed == []


def test_an_unknown_name_is_still_an_attribute_error() -> None:
    """The alias hook does not swallow misspelled names."""
    with pytest.raises(AttributeError, match="no attribute 'SipNothing'"):
        sayna.SipNothing  # noqa: B018
