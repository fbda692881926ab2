"""The sayna.testing package surface: exports, lazy imports, the pytest plugin."""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

import pytest

import sayna.testing


def test_all_is_sorted_and_resolves() -> None:
    """__all__ is sorted, unique, and every name in it can be imported."""
    names = sayna.testing.__all__
    assert names == sorted(set(names))
    for name in names:
        assert getattr(sayna.testing, name) is not None
    assert set(names) <= set(dir(sayna.testing))


def test_unknown_attribute_is_an_attribute_error() -> None:
    """A missing name raises AttributeError, not ImportError."""
    with pytest.raises(AttributeError):
        _ = sayna.testing.NoSuchThing


def test_plugin_and_helpers_load_without_the_testing_extra() -> None:
    """Without h11/wsproto the plugin and webhook helpers import; FakeServer explains why not."""
    code = (
        "import sys\n"
        "sys.modules['h11'] = None\n"
        "sys.modules['wsproto'] = None\n"
        "import sayna.testing._pytest_plugin\n"
        "from sayna.testing import sign_webhook, encode_speech\n"
        "from sayna.testing import make_webhook_request, sip_webhook_payload\n"
        "try:\n"
        "    from sayna.testing import FakeServer\n"
        "except ImportError as exc:\n"
        "    print('ImportError', exc)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert "ImportError" in result.stdout
    assert "pip install 'sayna[testing]'" in result.stdout


def _imported_modules(path: pathlib.Path) -> set[str]:
    """Every module an import statement of ``path`` names, wherever the statement sits."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


@pytest.mark.parametrize("transport", ["_ws", "_http"])
def test_the_transport_never_names_a_behaviour(transport: str) -> None:
    """The WebSocket and HTTP transports never import the stand-in or the replayer, even lazily."""
    package = pathlib.Path(sayna.testing.__file__).parent
    imported = _imported_modules(package / f"{transport}.py")
    behaviours = {"sayna.testing._standin", "sayna.testing._replay"}
    assert imported & behaviours == set()
    assert "sayna.testing._records" in imported  # the walk sees this file's imports


def _private_uses_of_the_session(path: pathlib.Path) -> list[str]:
    """``session._x`` / ``self._session._x`` attribute accesses in ``path``."""
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Attribute) or not node.attr.startswith("_"):
            continue
        owner = node.value
        name = owner.id if isinstance(owner, ast.Name) else getattr(owner, "attr", None)
        if name in ("session", "_session"):
            found.append(f"{path.name}:{node.lineno} {name}.{node.attr}")
    return found


@pytest.mark.parametrize("behaviour", ["_standin", "_replay"])
def test_a_behaviour_uses_only_the_public_session_and_its_link(behaviour: str) -> None:
    """The stand-in and the replayer reach the session's internals only through SessionLink."""
    package = pathlib.Path(sayna.testing.__file__).parent
    assert _private_uses_of_the_session(package / f"{behaviour}.py") == []
    # The check sees such accesses where they exist (the link itself makes them).
    assert _private_uses_of_the_session(package / "_ws.py") != []
