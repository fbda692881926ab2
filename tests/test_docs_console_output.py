"""Every output a console example shows is what the command prints (issue 15, point 8).

``tests/test_docs_examples.py`` runs each ``$`` line of the pages' ``console``
blocks and checks its exit status; this module compares what the lines under
it show with what it printed (standard output and error, interleaved as on a
terminal). In the shown text, ``...`` stands for any text within a line, and
a line that is only ``...`` for any number of lines.
"""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys
from collections.abc import Iterator

import pytest

from sayna.testing import FakeServer
from tests.support.child_processes import started
from tests.test_docs_examples import README, ROOT, WEBHOOK_SECRET, extract_blocks

PAGES = [ROOT / "docs" / "cli.rst", ROOT / "docs" / "quickstart.rst", README]


def shown_pattern(lines: list[str]) -> re.Pattern[str]:
    """A regex for the shown output: ``...`` matches any text, a ``...`` line any lines."""
    parts = []
    for line in lines:
        if line.strip() == "...":
            parts.append(r"(?:[^\n]*\n)*?")
        else:
            parts.append("[^\\n]*?".join(map(re.escape, line.split("..."))) + r"\n")
    return re.compile("".join(parts))


def commands_and_outputs(code: str) -> list[tuple[str, list[str]]]:
    """Each ``$`` command of a console block with the lines shown under it."""
    pairs: list[tuple[str, list[str]]] = []
    for line in code.splitlines():
        if line.startswith("$ "):
            pairs.append((line[2:], []))
        elif pairs:
            pairs[-1][1].append(line)
    return pairs


@pytest.fixture
def console_env(tmp_path: pathlib.Path) -> Iterator[dict[str, str]]:
    """The environment of test_docs_examples: a fresh local server, a scratch directory."""
    with FakeServer() as server:
        env = dict(os.environ)
        env.pop("SAYNA_API_KEY", None)
        env.update(SAYNA_URL=server.url, SAYNA_WEBHOOK_SECRET=WEBHOOK_SECRET)
        env["PATH"] = os.pathsep.join([str(pathlib.Path(sys.executable).parent), env["PATH"]])
        yield env


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_console_blocks_show_what_the_commands_print(
    page: pathlib.Path, console_env: dict[str, str], tmp_path: pathlib.Path
) -> None:
    """Each command's shown output matches what it prints, line for line."""
    namespace: dict[str, object] = {"__name__": "docs_example"}
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        for block in extract_blocks(page):
            if block.kind == "run":
                # Set-up the page does in Python (files a later command reads).
                os.environ.update(console_env)
                exec(compile(block.code, str(page), "exec"), namespace)  # noqa: S102
                continue
            if block.kind != "console":
                continue
            for command, shown in commands_and_outputs(block.code):
                done = subprocess.run(  # noqa: S602 - the documented command, as a user runs it
                    command,
                    shell=True,
                    env=console_env,
                    cwd=tmp_path,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                    timeout=60,
                    check=False,
                )
                printed = done.stdout
                assert shown_pattern(shown).fullmatch(printed), (
                    f"{block.where}: {command!r} printed:\n{printed}\nbut the page shows:\n"
                    + "\n".join(shown)
                )
    finally:
        os.chdir(cwd)


def test_the_pattern_needs_every_shown_line() -> None:
    """A stale number fails the comparison; ``...`` lines and inline ``...`` do not."""
    pattern = shown_pattern(["wrote a.wav: 1.21 s (58080 bytes)"])
    assert not pattern.fullmatch("wrote a.wav: 1.38 s (66144 bytes)\n")
    assert shown_pattern(["a ...", "...", "z"]).fullmatch("a b\nc\nd\nz\n")
    assert shown_pattern(["a", "...", "z"]).fullmatch("a\nz\n")
    assert not shown_pattern(["a", "z"]).fullmatch("a\nb\nz\n")


def _shown_server_block(page: pathlib.Path, command: str) -> list[str]:
    """The lines a ``text`` block shows under ``$ command`` (a server that runs until Ctrl-C)."""
    lines = page.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == f"$ {command}")
    shown = []
    for line in lines[start + 1 :]:
        if not line.strip():
            break
        shown.append(line.strip())
    return shown


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.mark.parametrize(
    ("page", "command"),
    [
        ("cli.rst", "sayna fake-server --port 3001"),
        ("testing.rst", "python -m sayna.testing --port 3001"),
    ],
)
def test_local_server_commands_print_what_the_pages_show(
    page: str, command: str, console_env: dict[str, str]
) -> None:
    """The local server's start-up lines are the ones shown, on the port asked for."""
    shown = _shown_server_block(ROOT / "docs" / page, command)
    port = str(_free_port())
    argv = command.replace("3001", port).split()
    argv[0:1] = [sys.executable, "-m", "sayna"] if argv[0] == "sayna" else [sys.executable]
    with started(argv, stderr=subprocess.STDOUT, env=console_env) as process:
        try:
            assert process.stdout is not None
            printed = "".join(process.stdout.readline() for _ in shown)
            expected = [line.replace("3001", port) for line in shown]
            assert shown_pattern(expected).fullmatch(printed), printed
        finally:
            process.send_signal(2)
            process.wait(timeout=10)
