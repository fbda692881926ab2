"""Every Python example in the documentation runs, page by page, against the local server.

The mechanism, in one place:

* every ``.. code-block:: python`` block of every ``docs/**/*.rst`` page runs,
  in page order, in one namespace per page (so a later block may use what an
  earlier one defined), with ``__name__ == "docs_example"``: a script's
  ``if __name__ == "__main__":`` guard stays off (it would parse pytest's
  command line), and pages call the script's ``main([...])`` themselves;
* a block with the option ``:class: no-run`` is shown but not run (keep these
  rare: snippets that need a real Sayna server or a real framework process);
* a reST comment ``.. invisible-code-block: python`` runs but is not rendered:
  the place for set-up a reader does not need to see (configuring Django);
* every ``.. code-block:: console`` block runs too, in the same page order:
  each line starting with ``$ `` is a shell command (the ``sayna`` command
  line, for instance) that must exit with status 0; the other lines show its
  output and are not compared;
* a block with the option ``:class: pytest-module`` is a test file for users:
  the page's ``pytest-module`` blocks are written to one file and run with
  pytest in a subprocess, so the ``sayna_server`` fixture is exercised as users
  get it;
* each page runs with ``SAYNA_URL`` pointing at a fresh
  :class:`sayna.testing.FakeServer`, no ``SAYNA_API_KEY``, the working
  directory in a temporary folder, and must not leave a thread behind.
"""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator

import attrs
import pytest

from sayna.testing import FakeServer

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
README = ROOT / "README.rst"
PAGES = sorted(p for p in DOCS.rglob("*.rst") if "_build" not in p.parts)

#: The secret the examples' webhook receivers read from the environment.
WEBHOOK_SECRET = "docs-example-secret-0123456789abcdef"

_DIRECTIVE = re.compile(
    r"^(?P<indent>[ \t]*)\.\. (?:code-block|code|sourcecode)::\s*(?P<lang>\S*)\s*$"
)
_INVISIBLE = re.compile(r"^(?P<indent>[ \t]*)\.\. invisible-code-block: python\s*$")
_OPTION = re.compile(r"^\s*:(?P<name>[\w-]+):\s*(?P<value>.*)$")


@attrs.frozen
class Block:
    """One Python block of a page: where it starts, its code and how it runs."""

    path: pathlib.Path
    line: int  # 1-based line of the first code line
    code: str
    classes: frozenset[str]
    language: str = "python"

    @property
    def kind(self) -> str:
        if "no-run" in self.classes:
            return "no-run"
        if self.language == "console":
            return "console"
        if "pytest-module" in self.classes:
            return "pytest-module"
        return "run"

    @property
    def where(self) -> str:
        path = self.path.relative_to(ROOT) if self.path.is_relative_to(ROOT) else self.path
        return f"{path}:{self.line}"


def _indent_of(line: str) -> int:
    return len(line) - len(line.lstrip())


def extract_blocks(path: pathlib.Path) -> list[Block]:
    """The Python and console blocks of one reST file, in order (others are skipped)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        directive = _DIRECTIVE.match(lines[i])
        invisible = _INVISIBLE.match(lines[i])
        if not (directive or invisible):
            i += 1
            continue
        match = directive or invisible
        assert match is not None
        base = len(match.group("indent"))
        language = "python" if invisible is not None else match.group("lang")
        if language in ("python3", "py"):
            language = "python"
        i += 1
        classes: set[str] = set()
        # Options come right after the directive line, before the blank line.
        while i < len(lines) and lines[i].strip() and _OPTION.match(lines[i]):
            option = _OPTION.match(lines[i])
            assert option is not None
            if option.group("name") == "class":
                classes.update(option.group("value").split())
            i += 1
        body: list[str] = []
        start = None
        while i < len(lines) and (not lines[i].strip() or _indent_of(lines[i]) > base):
            if start is None and lines[i].strip():
                start = i + 1
            if start is not None:
                body.append(lines[i])
            i += 1
        if language in ("python", "console") and start is not None:
            code = textwrap.dedent("\n".join(body)).rstrip() + "\n"
            blocks.append(Block(path, start, code, frozenset(classes), language))
    return blocks


def _run_blocks(blocks: list[Block], namespace: dict[str, object]) -> None:
    for block in blocks:
        if block.kind == "console":
            _run_console(block)
            continue
        # Pad with newlines so a traceback names the documentation's own line.
        source = "\n" * (block.line - 1) + block.code
        code = compile(source, str(block.path), "exec")
        exec(code, namespace)  # noqa: S102 - running the documentation is the point


def _run_console(block: Block) -> None:
    """Run each ``$ `` line of a console block in a shell; each must exit with 0."""
    env = dict(os.environ)
    # The venv's scripts (``sayna``) first, whether or not the venv is activated.
    env["PATH"] = os.pathsep.join([str(pathlib.Path(sys.executable).parent), env["PATH"]])
    for offset, line in enumerate(block.code.splitlines()):
        if not line.startswith("$ "):
            continue
        done = subprocess.run(  # noqa: S602 - the documented command, run as a user would
            line[2:],
            shell=True,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, (
            f"{block.where.rsplit(':', 1)[0]}:{block.line + offset}: {line[2:]!r} exited with "
            f"{done.returncode}\n{done.stdout}\n{done.stderr}"
        )


def _run_pytest_module(blocks: list[Block], tmp: pathlib.Path) -> None:
    source = "\n\n".join(b.code for b in blocks)
    test_file = tmp / "test_docs_pytest_module.py"
    test_file.write_text(source, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(test_file)],
        cwd=tmp,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    where = ", ".join(b.where for b in blocks)
    assert done.returncode == 0, f"pytest examples at {where} failed:\n{done.stdout}\n{done.stderr}"


def _wait_for_threads(before: set[threading.Thread], grace: float = 5.0) -> list[str]:
    deadline = time.monotonic() + grace
    while True:
        extra = [t for t in threading.enumerate() if t not in before and t.is_alive()]
        if not extra or time.monotonic() > deadline:
            return [t.name for t in extra]
        time.sleep(0.05)


@pytest.fixture
def docs_env(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[pathlib.Path]:
    """A fresh local server named by SAYNA_URL, and a scratch working directory."""
    with FakeServer() as server:
        monkeypatch.setenv("SAYNA_URL", server.url)
        monkeypatch.delenv("SAYNA_API_KEY", raising=False)
        monkeypatch.setenv("SAYNA_WEBHOOK_SECRET", WEBHOOK_SECRET)
        monkeypatch.chdir(tmp_path)
        yield tmp_path


def _page_id(path: pathlib.Path) -> str:
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("path", [*PAGES, README], ids=_page_id)
def test_page_examples_run(path: pathlib.Path, docs_env: pathlib.Path) -> None:
    """A page's Python and console blocks run in order without failing or leaking threads."""
    blocks = extract_blocks(path)
    before = set(threading.enumerate())
    namespace: dict[str, object] = {"__name__": "docs_example"}
    _run_blocks([b for b in blocks if b.kind in ("run", "console")], namespace)
    namespace.clear()
    modules = [b for b in blocks if b.kind == "pytest-module"]
    if modules:
        _run_pytest_module(modules, docs_env)
    leaked = _wait_for_threads(before)
    assert leaked == [], f"{_page_id(path)} left threads running: {leaked}"


def test_extractor_finds_blocks_options_and_invisible_setup(tmp_path: pathlib.Path) -> None:
    """The extractor returns Python blocks with their classes and first line, and nothing else."""
    page = tmp_path / "page.rst"
    page.write_text(
        textwrap.dedent(
            """\
            Title
            =====

            .. code-block:: python

                x = 1

            .. code-block:: text

                not python

            .. code-block:: console

                $ true
                output

            .. invisible-code-block: python

               y = x + 1

            * item

              .. code-block:: python
                 :class: no-run

                 raise SystemExit("never")

            .. code-block:: python
               :caption: test_it.py
               :class: pytest-module

               def test_it():
                   pass
            """
        ),
        encoding="utf-8",
    )
    blocks = extract_blocks(page)
    assert [(b.line, b.kind, b.code.splitlines()[0]) for b in blocks] == [
        (6, "run", "x = 1"),
        (14, "console", "$ true"),
        (19, "run", "y = x + 1"),
        (26, "no-run", 'raise SystemExit("never")'),
        (32, "pytest-module", "def test_it():"),
    ]


def test_a_failing_block_is_reported_at_its_documentation_line(tmp_path: pathlib.Path) -> None:
    """An exception raised by an example carries the page's file name and line in its traceback."""
    page = tmp_path / "bad.rst"
    page.write_text(
        "Bad\n===\n\n.. code-block:: python\n\n    a = 1\n    1 / 0\n", encoding="utf-8"
    )
    with pytest.raises(ZeroDivisionError) as info:
        _run_blocks(extract_blocks(page), {"__name__": "docs_example"})
    last = info.traceback[-1]
    assert (pathlib.Path(str(last.path)).name, last.lineno + 1) == ("bad.rst", 7)


def test_a_failing_console_command_fails_the_page(tmp_path: pathlib.Path) -> None:
    """A ``$`` command that exits non-zero fails with the page's file and line."""
    page = tmp_path / "cli.rst"
    page.write_text(
        "CLI\n===\n\n.. code-block:: console\n\n    $ true\n    $ exit 3\n", encoding="utf-8"
    )
    with pytest.raises(AssertionError, match=r"cli\.rst:7: 'exit 3' exited with 3"):
        _run_blocks(extract_blocks(page), {})


def test_docs_use_one_example_mechanism() -> None:
    """No page relies on doctest-style examples that this runner would silently skip."""
    offenders = []
    for path in [*PAGES, README]:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            stripped = line.strip()
            if stripped.startswith((">>>", ".. testcode::", ".. doctest::", ".. testsetup::")):
                offenders.append(f"{_page_id(path)}:{number}")
    assert offenders == []


def test_no_run_blocks_stay_rare() -> None:
    """Fewer than one Python block in five is exempt from running."""
    blocks = [b for p in [*PAGES, README] for b in extract_blocks(p)]
    skipped = [b.where for b in blocks if b.kind == "no-run"]
    assert len(skipped) * 5 < len(blocks), skipped


def test_examples_see_the_local_server(docs_env: pathlib.Path) -> None:
    """The environment the examples run in names a live local server, not a real one."""
    url = os.environ["SAYNA_URL"]
    assert url.startswith("http://127.0.0.1:")


def test_api_page_documents_every_public_name() -> None:
    """docs/api.rst documents every name of sayna.__all__ and sayna.testing.__all__, no more."""
    import sayna
    import sayna.testing

    module, documented = "sayna", set()
    for line in (DOCS / "api.rst").read_text(encoding="utf-8").splitlines():
        if found := re.match(r"\.\. (?:module|currentmodule|automodule):: (\S+)", line):
            module = found.group(1)
        elif found := re.match(r"\.\. (?:auto)?(?:class|exception|function|data):: (\w+)", line):
            documented.add(f"{module}.{found.group(1)}")
    public = {f"sayna.{name}" for name in sayna.__all__ if name != "__version__"}
    public |= {f"sayna.testing.{name}" for name in sayna.testing.__all__}
    assert sorted(public - documented) == []
    assert sorted(documented - public) == []
