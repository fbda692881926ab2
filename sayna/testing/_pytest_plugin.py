"""pytest plugin registered through the ``pytest11`` entry point.

Provides the ``sayna_server`` and ``sayna_cassette`` fixtures and the
``--sayna-record-mode`` option. h11/wsproto are imported only when a fixture
is used, so the plugin loads even without the ``testing`` extra.
"""

from __future__ import annotations

import os
import pathlib
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from sayna.testing._cassette_handle import SaynaCassette

if TYPE_CHECKING:
    from sayna.testing._server import FakeServer

__all__ = ["SaynaCassette"]

RECORD_MODES = ("none", "once", "all")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("sayna", "Sayna recorded sessions (cassettes)")
    group.addoption(
        "--sayna-record-mode",
        choices=RECORD_MODES,
        default="none",
        dest="sayna_record_mode",
        help=(
            "sayna_cassette: 'none' replays only (a missing cassette is an error), 'once' records"
            " missing cassettes from $SAYNA_URL, 'all' records every cassette again"
        ),
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "sayna_cassette(name): the cassette file of this test (in cassettes/<module>/)"
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    if call.when == "call":
        # sayna_cassette's teardown reads it: a failed test's recording is
        # moved aside. No report at all (Ctrl-C) means the test never ended.
        report = outcome.get_result()  # type: ignore[attr-defined]
        item.stash[_CALL_FAILED] = bool(getattr(report, "failed", False))


_CALL_FAILED = pytest.StashKey[bool]()


@pytest.fixture
def sayna_server() -> Iterator[FakeServer]:
    """A started :class:`sayna.testing.FakeServer` (auth off), stopped after the test."""
    from sayna.testing._server import FakeServer

    with FakeServer() as server:
        yield server


def _cassette_path(request: pytest.FixtureRequest) -> pathlib.Path:
    node = request.node
    folder = pathlib.Path(str(node.path)).parent / "cassettes" / pathlib.Path(str(node.path)).stem
    marker = node.get_closest_marker("sayna_cassette")
    if marker is not None and marker.args:
        return folder / str(marker.args[0])
    return folder / (re.sub(r"[^A-Za-z0-9_.-]+", "_", node.name).strip("_") + ".jsonl")


@pytest.fixture
def sayna_cassette(request: pytest.FixtureRequest) -> Iterator[SaynaCassette]:
    """Replays this test's cassette, or records it through a proxy to ``$SAYNA_URL``.

    The cassette is ``cassettes/<test module>/<test name>.jsonl`` beside the
    test file (``@pytest.mark.sayna_cassette("name.jsonl")`` renames it). The
    ``--sayna-record-mode`` option decides: ``none`` (the default) replays and
    fails when the cassette is missing, ``once`` records missing cassettes,
    ``all`` records every one again. A replayed test fails when the client
    differed from the recording; the recording of a failed test is moved
    aside to ``<name>.failed``.
    """
    mode = request.config.getoption("sayna_record_mode", "none")
    path = _cassette_path(request)
    record = mode == "all" or (mode == "once" and not path.is_file())
    if not record and not path.is_file():
        pytest.fail(
            f"cassette {str(path)!r} does not exist (--sayna-record-mode={mode}); record it with"
            " --sayna-record-mode=once and SAYNA_URL set to a Sayna server",
            pytrace=False,
        )
    with pytest.MonkeyPatch.context() as env:
        if record:
            upstream = os.environ.get("SAYNA_URL", "").strip()
            if not upstream:
                pytest.fail(
                    f"recording cassette {str(path)!r} needs SAYNA_URL (the server to record)",
                    pytrace=False,
                )
            from sayna.testing._proxy import RecordingProxy

            proxy = RecordingProxy(upstream, path).start()
            ended = False
            try:
                env.setenv("SAYNA_URL", proxy.url)
                yield SaynaCassette(url=proxy.url, path=path, recording=True, proxy=proxy)
                # Only a test whose call phase ended (passed or failed) has a
                # report; an interrupted one (Ctrl-C, a crash) keeps no file.
                ended = _CALL_FAILED in request.node.stash
            finally:
                proxy.stop(keep=ended)
            if not ended:
                return
            if request.node.stash.get(_CALL_FAILED, False):
                # Never leave a failed session where the next run would replay it.
                path.replace(path.with_name(path.name + ".failed"))
            return
        from sayna.testing._server import FakeServer

        with FakeServer(cassette=path) as server:
            env.setenv("SAYNA_URL", server.url)
            yield SaynaCassette(url=server.url, path=path, recording=False, server=server)
        mismatches = server.cassette_mismatches
    if mismatches:
        shown = "\n\n".join(str(m) for m in mismatches)
        pytest.fail(
            f"the client differed from cassette {str(path)!r} ({len(mismatches)} difference(s));"
            f" re-record with --sayna-record-mode=all if that is intended:\n\n{shown}",
            pytrace=False,
        )
