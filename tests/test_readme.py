"""The README's two set-up commands are the ones CI runs."""

from __future__ import annotations

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _readme_commands() -> list[str]:
    text = (ROOT / "README.rst").read_text(encoding="utf-8")
    quick = text.split("Quick start", 1)[1]
    return [m.strip() for m in re.findall(r"::\n\n    (.+)\n", quick)][:2]


def test_readme_has_two_setup_commands() -> None:
    """The quick start names exactly one demo command and one test command."""
    demo, tests = _readme_commands()
    assert demo.endswith("sayna demo")
    assert "pytest" in tests


def test_ci_runs_the_readme_test_command() -> None:
    """.ci/run contains the README's test command word for word."""
    _, tests = _readme_commands()
    assert tests in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
