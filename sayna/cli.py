"""The ``sayna`` command line (also ``python -m sayna``).

``main(argv)`` returns the exit code: 0 success, 1 an error from the server or
the connection (or a webhook that fails verification), 2 a usage error
(bad arguments, missing URL, unreadable or unsuitable input, no audio device
or no ``sayna[audio]``). Errors are one
line on stderr; with ``--json`` also one ``{"error": {...}}`` object on
stdout; ``--debug`` adds the traceback and the library's debug log.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import traceback
from collections.abc import Sequence

from sayna._cli._common import (
    EXIT_BROKEN_PIPE,
    EXIT_ERROR,
    EXIT_OK,
    EXIT_USAGE,
    CommandError,
    Context,
    UsageError,
    scrub,
    secrets_in,
)
from sayna._cli._parser import ArgumentError, Handler, build_parser
from sayna._errors import (
    SaynaAudioError,
    SaynaError,
    SaynaHttpError,
    SaynaValidationError,
    WebhookVerificationError,
)

__all__ = ["main"]


def _exit_code(exc: SaynaError) -> int:
    # A 400 from the server is also a SaynaValidationError, but it is the
    # server's answer, not bad command-line input; a failed webhook check is
    # a result (like grep finding nothing), not a usage mistake.
    if isinstance(exc, (SaynaHttpError, WebhookVerificationError)):
        return EXIT_ERROR
    # No device or no sayna[audio]: the machine cannot do what was asked.
    if isinstance(exc, (SaynaValidationError, SaynaAudioError)):
        return EXIT_USAGE
    return EXIT_ERROR


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); return the exit code."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    secrets = secrets_in(args_list, os.environ)
    parser = build_parser()
    try:
        args = parser.parse_args(args_list)
    except ArgumentError as exc:
        exc.parser.print_usage(sys.stderr)
        message = scrub(exc.message, secrets)
        print(f"{exc.parser.prog}: error: {message}", file=sys.stderr)
        if "--json" in args_list:
            _print_json_error("UsageError", message, None)
        return EXIT_USAGE
    except SystemExit as exc:  # --help and --version
        return exc.code if isinstance(exc.code, int) else EXIT_OK
    if args.debug:
        logging.basicConfig(level=logging.DEBUG, format="%(name)s: %(message)s")
    ctx = Context(args)
    handler: Handler = args.handler
    try:
        code = handler(ctx)
    except KeyboardInterrupt:
        print("sayna: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (``sayna ... | head``): stop quietly, and point
        # stdout at /dev/null so the interpreter's final flush cannot fail too.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return EXIT_BROKEN_PIPE
    except (UsageError, CommandError, SaynaError) as exc:
        if args.debug:
            print(scrub(traceback.format_exc(), secrets), file=sys.stderr, end="")
        message = scrub((str(exc) or type(exc).__name__) + _hint(exc, ctx), secrets)
        print(f"sayna: error: {message}", file=sys.stderr)
        if ctx.json:
            _print_json_error(type(exc).__name__, message, getattr(exc, "status_code", None))
        if isinstance(exc, UsageError):
            return EXIT_USAGE
        if isinstance(exc, CommandError):
            return EXIT_ERROR
        return _exit_code(exc)
    return code


def _print_json_error(kind: str, message: str, status: int | None) -> None:
    """The ``--json`` form of a failure: one object on stdout (``status`` null without one)."""
    error = {"type": kind, "message": message, "status": status}
    print(json.dumps({"error": error}, indent=2, ensure_ascii=False), flush=True)


def _hint(exc: BaseException, ctx: Context) -> str:
    """A short suggestion for the mistakes people make most."""
    if isinstance(exc, SaynaHttpError) and exc.status_code == 401 and not ctx.api_key():
        return " (no API key: pass --api-key KEY or set SAYNA_API_KEY)"
    return ""


if __name__ == "__main__":  # pragma: no cover - `python -m sayna.cli`
    sys.exit(main())
