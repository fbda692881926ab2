"""``python -m sayna.testing``: run a FakeServer in the foreground until Ctrl-C."""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, serve until interrupted, return the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m sayna.testing",
        description="A local Sayna server with stand-in speech providers, for tests and demos.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port (default: any free port)")
    # The same spelling as `sayna fake-server` (where --api-key is the client's key).
    parser.add_argument(
        "--require-key",
        action="append",
        default=[],
        metavar="KEY[=TENANT]",
        help="turn auth on and accept this key (repeatable)",
    )
    # The former spelling, still accepted so that existing scripts keep working.
    parser.add_argument("--api-key", action="append", dest="require_key", help=argparse.SUPPRESS)
    parser.add_argument(
        "--cassette", metavar="FILE", help="replay this recorded session instead of the stand-ins"
    )
    args = parser.parse_args(argv)

    from sayna._cli._common import UsageError, required_keys
    from sayna.testing._server import FakeServer

    try:
        keys = required_keys(args.require_key) or None
    except UsageError as exc:
        parser.error(str(exc))
    # A foreground server may run for hours: do not keep every request and frame.
    try:
        server = FakeServer(
            host=args.host, port=args.port, api_keys=keys, record=False, cassette=args.cassette
        )
    except (OSError, ValueError) as exc:
        parser.error(str(exc))
    server.start()
    auth = f"auth on ({len(keys)} key(s))" if keys else "auth off"
    if args.cassette:
        auth += f", replaying {args.cassette}"
    try:
        # Inside the try: a script that read the line may interrupt at once.
        print(
            f"Sayna fake server on {server.url} (WebSocket {server.ws_url}), {auth}."
            " Ctrl-C stops it."
        )
        sys.stdout.flush()
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
