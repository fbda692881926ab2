"""The public surface: __all__ is sorted, complete and importable."""

from __future__ import annotations

import sayna


def test_all_is_sorted_and_unique() -> None:
    """__all__ is sorted and has no duplicates."""
    assert sayna.__all__ == sorted(set(sayna.__all__))


def test_all_names_resolve() -> None:
    """Every name in __all__ exists on the package."""
    missing = [name for name in sayna.__all__ if not hasattr(sayna, name)]
    assert missing == []


def test_no_public_name_left_out() -> None:
    """Every public attribute that is not a submodule is listed in __all__."""
    import types

    public = {
        name
        for name, value in vars(sayna).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public - set(sayna.__all__) == set()
