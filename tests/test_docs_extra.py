"""The documented names of sayna.testing load with only the ``docs`` extra installed."""

from __future__ import annotations

import subprocess
import sys


def test_every_documented_testing_name_loads_without_pytest() -> None:
    """With pytest absent (a docs host), every name in sayna.testing.__all__ resolves."""
    code = (
        "import sys\n"
        "sys.modules['pytest'] = None\n"
        "import sayna.testing as t\n"
        "for name in t.__all__: getattr(t, name)\n"
        "print(t.SaynaCassette.__module__)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "sayna.testing._cassette_handle"


def test_the_pytest_plugin_still_yields_the_same_class() -> None:
    """The fixture's class is the documented one, wherever it is defined."""
    from sayna.testing import SaynaCassette
    from sayna.testing._pytest_plugin import SaynaCassette as FromPlugin

    assert FromPlugin is SaynaCassette
