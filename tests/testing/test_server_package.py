"""The sayna.testing package surface: exports, lazy imports, the pytest plugin."""

from __future__ import annotations

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
    """Without h11/wsproto the plugin and sign_webhook import; FakeServer explains the extra."""
    code = (
        "import sys\n"
        "sys.modules['h11'] = None\n"
        "sys.modules['wsproto'] = None\n"
        "import sayna.testing._pytest_plugin\n"
        "from sayna.testing import sign_webhook, encode_speech\n"
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
