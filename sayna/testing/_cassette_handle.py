"""What the ``sayna_cassette`` fixture yields, importable without pytest.

The fixture itself lives in the pytest plugin; this class is apart from it so
that ``sayna.testing.SaynaCassette`` (documented, and read by autodoc on a docs
host that installs only the ``docs`` extra) never imports pytest.
"""

from __future__ import annotations

import pathlib
from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
    from sayna.testing._proxy import RecordingProxy
    from sayna.testing._replay import CassetteMismatch
    from sayna.testing._server import FakeServer

__all__ = ["SaynaCassette"]


@attrs.define(kw_only=True)
class SaynaCassette:
    """What the ``sayna_cassette`` fixture yields: where to point the client.

    ``url`` is the replaying :class:`~sayna.testing.FakeServer`, or the
    :class:`~sayna.testing.RecordingProxy` in front of ``$SAYNA_URL`` while
    recording; ``SAYNA_URL`` is set to it for the test. ``recording`` says which.
    """

    url: str
    path: pathlib.Path
    recording: bool
    server: FakeServer | None = None
    proxy: RecordingProxy | None = None

    @property
    def mismatches(self) -> list[CassetteMismatch]:
        """How the client differed from the cassette so far (always empty while recording)."""
        return [] if self.server is None else self.server.cassette_mismatches
