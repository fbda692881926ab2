"""What every subcommand shares: the run context, output, exit codes, secrets."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from sayna._client import Sayna

__all__ = [
    "EXIT_ERROR",
    "EXIT_OK",
    "EXIT_USAGE",
    "Context",
    "StatusLine",
    "UsageError",
    "required_keys",
    "scrub",
]

# The provider settings of the commands that open sessions or synthesize.
DEFAULT_TTS_PROVIDER = "deepgram"
DEFAULT_TTS_MODEL = ""
DEFAULT_STT_PROVIDER = "deepgram"
DEFAULT_STT_MODEL = "nova-3"
DEFAULT_LANGUAGE = "en-US"

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
# What a shell reports for a program stopped by SIGPIPE (128 + 13).
EXIT_BROKEN_PIPE = 141

# Options and variables whose values must never reach the terminal.
SECRET_OPTIONS = ("--api-key", "--secret", "--auth-password")
SECRET_VARIABLES = ("SAYNA_API_KEY", "SAYNA_WEBHOOK_SECRET")


class UsageError(Exception):
    """The command line or its input cannot work (exit code 2)."""


class CommandError(Exception):
    """Code the command ran for the user failed, e.g. ``talk --respond`` (exit code 1)."""


def required_keys(items: Iterable[str]) -> dict[str, str]:
    """``--require-key KEY[=TENANT]`` values as the local server's ``api_keys`` mapping.

    Shared by ``sayna fake-server`` and ``python -m sayna.testing``; a key
    without a tenant gets ``tenant-N`` (N counts from 1).
    """
    keys: dict[str, str] = {}
    for index, item in enumerate(items, 1):
        key, _, tenant = item.partition("=")
        if not key.strip():
            raise UsageError("--require-key needs a non-empty KEY")
        keys[key.strip()] = tenant.strip() or f"tenant-{index}"
    return keys


def secrets_in(argv: Iterable[str], environ: Mapping[str, str]) -> list[str]:
    """Every secret value that the arguments or the environment hold."""
    found = [environ.get(name, "") for name in SECRET_VARIABLES]
    args = list(argv)
    for i, arg in enumerate(args):
        for option in SECRET_OPTIONS:
            if arg == option and i + 1 < len(args):
                found.append(args[i + 1])
            elif arg.startswith(option + "="):
                found.append(arg[len(option) + 1 :])
    # Very short values would blank out ordinary words; such keys are not real ones.
    return sorted({s for s in found if len(s) >= 4}, key=len, reverse=True)


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret replaced by ``***``."""
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


class Context:
    """One run of the command: parsed arguments, streams and the client factory."""

    def __init__(
        self,
        args: argparse.Namespace,
        *,
        stdout: TextIO | None = None,
        stderr: TextIO | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.args = args
        self.stdout = stdout if stdout is not None else sys.stdout
        self.stderr = stderr if stderr is not None else sys.stderr
        self.environ = environ if environ is not None else os.environ
        self.json: bool = args.json
        self.debug: bool = args.debug
        self.timeout: float | None = args.timeout

    @property
    def interactive(self) -> bool:
        """Whether stderr is a terminal (live status lines and progress bars)."""
        isatty = getattr(self.stderr, "isatty", None)
        return bool(isatty and isatty())

    def url(self) -> str:
        """The server URL from ``--url`` or ``SAYNA_URL``; a usage error when neither."""
        url: str | None = self.args.url or self.environ.get("SAYNA_URL")
        if not url:
            raise UsageError(
                "no server URL: pass --url URL or set SAYNA_URL "
                "(`sayna fake-server` runs a local one)"
            )
        return url

    def api_key(self) -> str | None:
        """The API key from ``--api-key`` or ``SAYNA_API_KEY`` (``None`` when unset)."""
        key: str | None = self.args.api_key or self.environ.get("SAYNA_API_KEY")
        return key or None

    def client(self) -> Sayna:
        """A client for the configured server."""
        from sayna._client import Sayna

        if self.timeout is None:
            return Sayna(url=self.url(), api_key=self.api_key())
        return Sayna(url=self.url(), api_key=self.api_key(), timeout=self.timeout)

    def out(self, line: str = "") -> None:
        """One line of normal output (stdout)."""
        print(line, file=self.stdout, flush=True)

    def note(self, line: str) -> None:
        """One line of commentary (stderr), kept out of pipelines."""
        print(line, file=self.stderr, flush=True)

    def emit_json(self, data: Any) -> None:
        """Machine-readable output: one JSON document on stdout."""
        self.out(json.dumps(data, indent=2, ensure_ascii=False, sort_keys=False))

    @contextmanager
    def status(self) -> Iterator[StatusLine]:
        """A live, rewritten stderr line; silent unless stderr is a terminal."""
        line = StatusLine(self.stderr if self.interactive else None)
        try:
            yield line
        finally:
            line.clear()


class StatusLine:
    """One stderr line rewritten in place (progress bars, interim transcripts)."""

    def __init__(self, stream: TextIO | None) -> None:
        self._stream = stream
        self._width = 0
        self.enabled = stream is not None

    def show(self, text: str, tail: str = "") -> None:
        """Replace the line's content: ``text``, then as much of the end of ``tail`` as fits.

        A live transcript grows at its end, so its newest words are the ones kept.
        """
        if self._stream is None:
            return
        text = text.replace("\n", " ")
        tail = tail.replace("\n", " ")
        columns = _columns()
        if tail:
            gap = "  " if text else ""
            room = columns - len(text) - len(gap)
            if len(tail) > room:
                tail = "..." + tail[len(tail) - room + 3 :] if room > 3 else ""
            text = f"{text}{gap}{tail}" if tail else text
        text = text[:columns]
        pad = max(0, self._width - len(text))
        self._stream.write("\r" + text + " " * pad)
        self._stream.flush()
        self._width = len(text)

    def clear(self) -> None:
        """Erase the line so that normal output starts on a clean line."""
        if self._stream is None or not self._width:
            return
        self._stream.write("\r" + " " * self._width + "\r")
        self._stream.flush()
        self._width = 0


def _columns() -> int:
    return max(20, shutil.get_terminal_size().columns - 1)


def progress_bar(done: int, total: int | None, width: int = 24) -> str:
    """``[#######.........]  42%`` (or a byte count when the total is unknown)."""
    if not total:
        return f"{done} bytes"
    fraction = min(1.0, done / total)
    filled = int(fraction * width)
    return f"[{'#' * filled}{'.' * (width - filled)}] {fraction:4.0%}"
