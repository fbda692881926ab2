"""docs/notebooks/session.ipynb runs headless against the local server, cell re-runs included."""

from __future__ import annotations

import pathlib
import re
from collections.abc import Iterator
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

from sayna.testing import FakeServer

NOTEBOOK = pathlib.Path(__file__).resolve().parent.parent / "docs" / "notebooks" / "session.ipynb"

#: How many times the test re-runs the session cell, as a user pressing Shift-Enter.
RERUNS = 3


def _tagged(nb: Any, tag: str) -> tuple[int, Any]:
    found = [(i, c) for i, c in enumerate(nb.cells) if tag in c.metadata.get("tags", [])]
    assert len(found) == 1, f"expected one cell tagged {tag!r}"
    return found[0]


def _text(cell: Any) -> str:
    """Every output of a cell as one string (text, HTML, stream and error outputs)."""
    parts = []
    for output in cell.get("outputs", []):
        parts.append(output.get("text", ""))
        for value in output.get("data", {}).values():
            parts.append(value if isinstance(value, str) else "")
        parts.extend(output.get("traceback", []))
    return "\n".join(parts)


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The notebook after running every cell, re-running the session cell, then cleaning up."""
    nb = nbformat.read(NOTEBOOK, as_version=4)
    session_index, session_cell = _tagged(nb, "session")
    check_index, check_cell = _tagged(nb, "check-threads")
    cleanup_index, cleanup_cell = _tagged(nb, "cleanup")
    with pytest.MonkeyPatch.context() as mp, FakeServer() as server:
        # The kernel is a child process: it inherits this environment.
        mp.setenv("SAYNA_URL", server.url)
        mp.delenv("SAYNA_API_KEY", raising=False)
        mp.setenv("JUPYTER_PLATFORM_DIRS", "1")  # silences jupyter_core's path warning
        client = NotebookClient(
            nb,
            timeout=60,
            kernel_name="python3",
            # The kernel's working directory: files the notebook saves land there.
            resources={"metadata": {"path": str(tmp_path_factory.mktemp("notebook"))}},
        )
        with client.setup_kernel():
            for index, cell in enumerate(nb.cells):
                if index in (check_index, cleanup_index):
                    continue
                client.execute_cell(cell, index)
            first_session = _text(session_cell)
            for _ in range(RERUNS):
                client.execute_cell(session_cell, session_index)
            client.execute_cell(check_cell, check_index)
            client.execute_cell(cleanup_cell, cleanup_index)
        nb.metadata["first_session_output"] = first_session
        nb.metadata["sessions_opened"] = len(server.sessions)
        yield nb


def test_committed_notebook_has_no_outputs() -> None:
    """The notebook is stored without outputs or execution counts."""
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code
    assert all(c.outputs == [] and c.execution_count is None for c in code)


def test_notebook_shows_a_ready_session(executed: Any) -> None:
    """The session cell displays an open session, on its first run and on every re-run."""
    _, cell = _tagged(executed, "session")
    for shown in (executed.metadata["first_session_output"], _text(cell)):
        assert "<sayna.Session stream_id=" in shown
        assert "ready>" in shown
    assert executed.metadata["sessions_opened"] == 1 + RERUNS


def test_notebook_shows_audio_players(executed: Any) -> None:
    """AudioResult and IPython.display.Audio both render as HTML audio players."""
    players = [
        c
        for c in executed.cells
        if c.cell_type == "code"
        and any("<audio" in o.get("data", {}).get("text/html", "") for o in c.outputs)
    ]
    sources = [c.source for c in players]
    assert any("speak_rest(" in s for s in sources), "no AudioResult player for REST audio"
    assert any(".say(" in s for s in sources), "no AudioResult player for session audio"
    assert any("Audio(filename=" in s for s in sources), "no IPython.display.Audio player"


def test_rerunning_the_session_cell_leaks_no_threads(executed: Any) -> None:
    """After re-running the session cell, the in-notebook thread count matches one session."""
    _, cell = _tagged(executed, "check-threads")
    output = _text(cell)
    counts = re.search(r"(\d+) threads now; (\d+) with one session open", output)
    assert counts is not None, output
    assert counts.group(1) == counts.group(2)
    # Exactly one session's threads: its reader and the process's keep-alive.
    assert re.search(r"\['sayna-keepalive', 'sayna-reader-\d+'\]", output), output
    assert "Error" not in output


def test_cleanup_closes_the_session(executed: Any) -> None:
    """Closing the client in the last cell closes the session it opened."""
    _, cell = _tagged(executed, "cleanup")
    assert _text(cell).strip() == "False"


def test_transcript_comes_back(executed: Any) -> None:
    """The transcription cell shows the words the stand-in audio encodes."""
    shown = [_text(c).strip() for c in executed.cells if "transcribe(" in c.source]
    assert shown == ["'notebooks are handy'"]
