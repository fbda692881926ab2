"""``SAYNA_LOG``: the ``sayna`` loggers' level from the environment, read once at import.

``SAYNA_LOG=debug`` (or ``info``, ``warning``, ``error``; any case) sets the
level of the ``sayna`` logger, which its children (``sayna.webhooks``,
``sayna.testing``) inherit unless the application set theirs. The root logger
is never touched. A stderr handler is added to ``sayna`` that writes only
while the application has no handler of its own on the ``sayna`` loggers or
on the root logger, decided per record: configuring logging after the import
(``logging.basicConfig``, Django's ``LOGGING``) takes over without a line
shown twice. An unknown value is ignored with one warning on that logger.
"""

from __future__ import annotations

import logging
import os
import sys

__all__ = ["LEVELS", "apply_environment"]

#: The values ``SAYNA_LOG`` takes (lower case) and their levels.
LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


class _FallbackHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """stderr, only while the application configured no handler that would show the record."""

    def emit(self, record: logging.LogRecord) -> None:
        # sys.stderr looked up per record, as logging.lastResort does: a
        # test's or a notebook's replaced stderr is the one written to.
        self.stream = sys.stderr
        super().emit(record)

    def handle(self, record: logging.LogRecord) -> bool:
        if _configured(logging.getLogger(record.name)):
            return False
        return super().handle(record)


def _configured(logger: logging.Logger) -> bool:
    """Whether a handler other than ours will see a record of ``logger``."""
    current: logging.Logger | None = logger
    while current is not None:
        if any(not isinstance(h, _FallbackHandler) for h in current.handlers):
            return True
        if not current.propagate:
            return False
        current = current.parent
    return False


def apply_environment(environ: dict[str, str] | os._Environ[str] = os.environ) -> int | None:
    """Apply ``SAYNA_LOG`` from ``environ``; return the level set (None: unset or unknown)."""
    raw = environ.get("SAYNA_LOG", "").strip()
    if not raw:
        return None
    logger = logging.getLogger("sayna")
    level = LEVELS.get(raw.lower())
    if level is None:
        # A warning, not an exception nor warnings.warn (which -W error turns
        # into one): a typo in the environment must not stop an import.
        logger.warning(
            "SAYNA_LOG=%r is not one of %s; ignored", raw[:40], ", ".join(sorted(LEVELS))
        )
        return None
    logger.setLevel(level)
    if not any(isinstance(h, _FallbackHandler) for h in logger.handlers):
        handler = _FallbackHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
    return level
