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
    parser.add_argument(
        "--api-key",
        action="append",
        default=[],
        metavar="KEY[=TENANT]",
        help="accept this API key (repeatable; auth is off when none is given)",
    )
    parser.add_argument(
        "--cassette", metavar="FILE", help="replay this recorded session instead of the stand-ins"
    )
    args = parser.parse_args(argv)

    from sayna.testing._server import FakeServer

    keys: dict[str, str] | None = None
    if args.api_key:
        keys = {}
        for index, item in enumerate(args.api_key, 1):
            key, _, tenant = item.partition("=")
            keys[key] = tenant or f"tenant-{index}"
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
    print(
        f"Sayna fake server on {server.url} (WebSocket {server.ws_url}), {auth}. Ctrl-C stops it."
    )
    sys.stdout.flush()
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
