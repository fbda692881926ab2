"""The conformance helpers read the shared protocol and validate against it."""

from __future__ import annotations

import pytest

from tests.support.shared_protocol import assert_valid, load_vectors


def test_vectors_load() -> None:
    """Every vector folder has files."""
    for kind in ("rest", "webhook", "ws_incoming", "ws_outgoing", "ws_sequences"):
        assert load_vectors(kind)


def test_validator_accepts_and_rejects() -> None:
    """A schema accepts a known-good frame and rejects a broken one."""
    assert_valid({"type": "clear"}, "IncomingMessage")
    with pytest.raises(AssertionError):
        assert_valid({"type": "speak"}, "IncomingMessage")
