"""The argument parser: every subcommand, its options and its handler."""

from __future__ import annotations

import argparse
from typing import Any, NoReturn

from sayna._version import __version__

__all__ = ["ArgumentError", "build_parser"]

DEFAULT_TTS_PROVIDER = "deepgram"
DEFAULT_TTS_MODEL = ""
DEFAULT_STT_PROVIDER = "deepgram"
DEFAULT_STT_MODEL = "nova-3"
DEFAULT_LANGUAGE = "en-US"

EPILOG = """\
environment:
  SAYNA_URL             server URL when --url is not given
  SAYNA_API_KEY         API key when --api-key is not given
  SAYNA_WEBHOOK_SECRET  secret for `webhook verify` when --secret is not given

exit codes: 0 success, 1 server or connection error (or a webhook that fails
verification), 2 usage error or unsuitable input.
"""


class ArgumentError(Exception):
    """argparse rejected the command line; ``main`` prints it (secrets scrubbed)."""

    def __init__(self, parser: argparse.ArgumentParser, message: str) -> None:
        super().__init__(message)
        self.parser = parser
        self.message = message


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # Raise instead of printing, so main can scrub secrets from the message.
        raise ArgumentError(self, message)


def _global_options(*, suppress: bool) -> _Parser:
    """Options accepted before and after the subcommand.

    The copy attached to subcommands defaults to SUPPRESS so that a value
    given before the subcommand is not overwritten by the subparser's default.
    """
    default: Any = argparse.SUPPRESS if suppress else None
    flag_default: Any = argparse.SUPPRESS if suppress else False
    common = _Parser(add_help=False)
    group = common.add_argument_group("global options")
    group.add_argument("--url", default=default, help="server URL (default: $SAYNA_URL)")
    group.add_argument(
        "--api-key", default=default, metavar="KEY", help="API key (default: $SAYNA_API_KEY)"
    )
    group.add_argument(
        "--json", action="store_true", default=flag_default, help="machine-readable output"
    )
    group.add_argument(
        "--timeout",
        type=_positive_float,
        default=default,
        metavar="SECONDS",
        help="timeout for each request or wait",
    )
    group.add_argument(
        "--debug",
        action="store_true",
        default=flag_default,
        help="show tracebacks and the library's debug log",
    )
    return common


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return value


def _add_synthesis_arguments(p: argparse.ArgumentParser) -> None:
    """TEXT, -o FILE and the TTS options, shared by ``speak`` (REST) and ``say`` (realtime)."""
    p.add_argument("text", metavar="TEXT")
    p.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="FILE",
        help="where to write the audio (.wav wraps PCM in a WAV header; - for stdout)",
    )
    g = p.add_argument_group("text-to-speech")
    g.add_argument(
        "--provider",
        dest="tts_provider",
        metavar="NAME",
        default=DEFAULT_TTS_PROVIDER,
        help="TTS provider (default: %(default)s)",
    )
    g.add_argument(
        "--model",
        dest="tts_model",
        metavar="NAME",
        default=DEFAULT_TTS_MODEL,
        help="TTS model (default: none, for providers that need none)",
    )
    g.add_argument("--voice", help="voice id (default: the server's)")
    g.add_argument(
        "--format",
        default="linear16",
        metavar="FORMAT",
        help="audio format (default: %(default)s, 16-bit PCM)",
    )
    g.add_argument(
        "--sample-rate",
        type=_positive_int,
        default=24000,
        metavar="HZ",
        help="output sample rate (default: %(default)s)",
    )
    g.add_argument(
        "--speaking-rate",
        type=_positive_float,
        default=None,
        metavar="X",
        help="speed factor, 1.0 is normal",
    )


def _add_stt_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("speech-to-text")
    g.add_argument(
        "--provider",
        dest="stt_provider",
        metavar="NAME",
        default=DEFAULT_STT_PROVIDER,
        help="STT provider (default: %(default)s)",
    )
    g.add_argument(
        "--model",
        dest="stt_model",
        metavar="NAME",
        default=DEFAULT_STT_MODEL,
        help="STT model (default: %(default)s)",
    )
    g.add_argument("--language", default=DEFAULT_LANGUAGE, help="language (default: %(default)s)")


def build_parser() -> argparse.ArgumentParser:
    """The whole command line.

    Each subcommand sets ``handler`` to ``"_module:function"`` in
    :mod:`sayna._cli`, imported only when that command runs: ``--help`` and
    REST commands never load the realtime session or the local server.
    """
    parser = _Parser(
        prog="sayna",
        description="Command line for the Sayna voice server.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[_global_options(suppress=False)],
    )
    parser.add_argument("--version", action="version", version=f"sayna {__version__}")
    common = _global_options(suppress=True)
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)

    def add(name: str, help: str, handler: str | None, **kw: Any) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help, parents=[common], **kw)
        p.set_defaults(handler=handler)
        return p

    add("health", "check that the server answers", "_rest:health")

    p = add("voices", "list the TTS voices, by provider", "_rest:voices")
    p.add_argument("--provider", help="only this provider's voices")

    p = add("speak", "synthesize TEXT over REST and save the audio", "_rest:speak")
    _add_synthesis_arguments(p)

    p = add("say", "speak TEXT over a realtime session and save the audio", "_realtime:say")
    _add_synthesis_arguments(p)

    p = add("transcribe", "stream a WAV file and print its transcript", "_realtime:transcribe")
    p.add_argument("file", metavar="FILE.wav", help="16-bit PCM WAV file")
    _add_stt_options(p)
    p.add_argument(
        "--chunk-ms",
        type=_positive_int,
        default=100,
        metavar="MS",
        help="audio per frame (default: %(default)s)",
    )
    pace = p.add_mutually_exclusive_group()
    pace.add_argument(
        "--speed",
        type=_positive_float,
        default=1.0,
        metavar="X",
        help="send X times faster than real time (default: %(default)s)",
    )
    pace.add_argument("--fast", action="store_true", help="send as fast as possible")

    p = add("token", "issue a LiveKit token for ROOM", "_rest:token")
    p.add_argument("room", metavar="ROOM")
    p.add_argument("identity", metavar="IDENTITY", help="participant identity")
    p.add_argument("--name", help="display name (default: IDENTITY)")

    add("rooms", "list LiveKit rooms", "_rest:rooms")

    p = add("room", "show one LiveKit room and its participants", "_rest:room")
    p.add_argument("name", metavar="NAME")

    p = add("participant", "remove or mute a LiveKit participant", None)
    psub = p.add_subparsers(title="actions", metavar="ACTION", required=True)
    q = psub.add_parser("remove", help="remove IDENTITY from ROOM", parents=[common])
    q.set_defaults(handler="_rest:participant_remove")
    q.add_argument("room", metavar="ROOM")
    q.add_argument("identity", metavar="IDENTITY")
    q = psub.add_parser("mute", help="mute (or --unmute) a published track", parents=[common])
    q.set_defaults(handler="_rest:participant_mute")
    q.add_argument("room", metavar="ROOM")
    q.add_argument("identity", metavar="IDENTITY")
    q.add_argument("track", metavar="TRACK_SID")
    q.add_argument("--unmute", action="store_true", help="unmute instead")

    p = add("hooks", "list, set or delete SIP webhook hooks", None)
    hsub = p.add_subparsers(title="actions", metavar="ACTION", required=True)
    q = hsub.add_parser("list", help="list the hooks", parents=[common])
    q.set_defaults(handler="_rest:hooks_list")
    q = hsub.add_parser("set", help="add or replace the hook for HOST", parents=[common])
    q.set_defaults(handler="_rest:hooks_set")
    q.add_argument("host", metavar="HOST", help="SIP domain")
    q.add_argument("hook_url", metavar="URL", help="where the signed webhooks go")
    q.add_argument("--auth-id", default="", help="tenant id that owns the calls' rooms")
    q = hsub.add_parser("delete", help="delete the hooks for HOST...", parents=[common])
    q.set_defaults(handler="_rest:hooks_delete")
    q.add_argument("hosts", nargs="+", metavar="HOST")

    p = add("recording", "download a session recording (OGG)", "_rest:recording")
    p.add_argument("stream_id", metavar="STREAM_ID")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="- for stdout")

    p = add("call", "place an outbound SIP call into a room", "_rest:call")
    p.add_argument("--room", required=True)
    p.add_argument("--to", required=True, dest="to_number", metavar="NUMBER")
    p.add_argument("--from", required=True, dest="from_number", metavar="NUMBER")
    p.add_argument("--identity", required=True, help="identity of the SIP participant")
    p.add_argument("--name", help="display name (default: IDENTITY)")
    p.add_argument("--outbound-address", metavar="HOST[:PORT]")
    p.add_argument("--auth-username", metavar="USER")
    p.add_argument("--auth-password", metavar="PASSWORD")

    p = add("transfer", "transfer a SIP participant to another number", "_rest:transfer")
    p.add_argument("--room", required=True)
    p.add_argument("--identity", required=True, help="the SIP participant")
    p.add_argument("--to", required=True, dest="to_number", metavar="NUMBER")

    p = add("webhook", "work with signed SIP webhooks", None)
    wsub = p.add_subparsers(title="actions", metavar="ACTION", required=True)
    q = wsub.add_parser(
        "verify",
        help="verify a webhook's signature and print its payload",
        description="Verify a signed SIP webhook (exit 0) or say why it fails (exit 1).",
        parents=[common],
    )
    q.set_defaults(handler="_webhook:webhook_verify")
    q.add_argument(
        "-H",
        "--header",
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help="a request header (repeatable)",
    )
    q.add_argument("--headers-file", metavar="FILE.json", help="headers as a JSON object")
    q.add_argument(
        "--body", default="-", metavar="FILE", help="the raw body (default: - for stdin)"
    )
    q.add_argument("--secret", help="signing secret (default: $SAYNA_WEBHOOK_SECRET)")

    p = add("fake-server", "run a local stand-in Sayna server until Ctrl-C", "_local:fake_server")
    p.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: any free)")
    p.add_argument(
        "--require-key",
        action="append",
        default=[],
        metavar="KEY[=TENANT]",
        help="turn auth on and accept this key (repeatable)",
    )
    p.add_argument("--cassette", metavar="FILE", help="replay this recorded session (a cassette)")

    p = add("demo", "round trip offline: say a sentence, transcribe it back", "_local:demo")
    p.add_argument(
        "-o",
        "--output",
        default="sayna-demo.wav",
        metavar="FILE",
        help="where to write the spoken audio (default: %(default)s)",
    )
    p.add_argument("--text", default=None, help="the sentence to say")
    p.add_argument(
        "--speed",
        type=_positive_float,
        default=2.0,
        metavar="X",
        help="stream the audio back X times faster than real time (default: %(default)s)",
    )
    return parser
