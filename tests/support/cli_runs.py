"""The ``sayna`` command line run in-process, as the CLI tests run it."""

from __future__ import annotations

import pytest

from sayna.cli import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run the CLI; return (exit code, stdout, stderr)."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err
