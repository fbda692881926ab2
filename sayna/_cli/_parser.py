"""The argument parser: every subcommand, its options and its handler.

One function per command group adds its commands; each command's handler is
the function itself (``set_defaults(handler=_rest.health)``), so a renamed or
mistyped handler fails the type check, not a user's run.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from typing import Any, NoReturn

from sayna._cli import _audio, _local, _realtime, _rest, _talk, _webhook
from sayna._cli._common import (
    DEFAULT_LANGUAGE,
    DEFAULT_STT_MODEL,
    DEFAULT_STT_PROVIDER,
    DEFAULT_TTS_MODEL,
    DEFAULT_TTS_PROVIDER,
    Context,
)
from sayna._version import __version__

__all__ = ["ArgumentError", "Handler", "build_parser"]

#: What a command runs: takes the run's context, returns the exit code.
Handler = Callable[[Context], int]

EPILOG = """\
environment:
  SAYNA_URL             server URL when --url is not given
  SAYNA_API_KEY         API key when --api-key is not given
  SAYNA_WEBHOOK_SECRET  secret for `webhook verify` when --secret is not given

exit codes: 0 success, 1 server or connection error (or a webhook that fails
verification, or a demo whose transcript does not match), 2 usage error or
unsuitable input or output (an option a command cannot use is refused),
130 interrupted, 141 output closed early.
"""


# The commands that start a local server would otherwise ignore a --url.
_RUNS_ITS_OWN_SERVER = (
    "takes no --url: it runs its own local server"
    " (`sayna say` and `sayna transcribe` talk to a server you name)"
)


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


class _TopParser(_Parser):
    """The ``sayna`` parser: also refuses a global option the chosen command has no use for."""

    def parse_args(self, args: Any = None, namespace: Any = None) -> Any:
        parsed = super().parse_args(args, namespace)
        refused: Mapping[str, str] = getattr(parsed, "refused_globals", {})
        for dest, why in refused.items():
            # Only what was typed counts: url/api-key/timeout default to None, json to False.
            if getattr(parsed, dest, None) not in (None, False):
                raise ArgumentError(parsed.command_parser, why)
        return parsed


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


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0 to 65535, not {value}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return value


def _add_synthesis_arguments(p: argparse.ArgumentParser, *, output_required: bool = True) -> None:
    """TEXT, -o FILE and the TTS options, shared by ``speak`` (REST) and ``say`` (realtime)."""
    p.add_argument("text", metavar="TEXT")
    p.add_argument(
        "-o",
        "--output",
        required=output_required,
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


class _Commands:
    """Adds subcommands that share the global options, each with its handler."""

    def __init__(self, sub: Any, common: argparse.ArgumentParser) -> None:
        self._sub = sub
        self.common = common

    def add(
        self,
        name: str,
        help: str,
        handler: Handler,
        *,
        refuses: Mapping[str, str] | None = None,
        **kw: Any,
    ) -> argparse.ArgumentParser:
        """A command that runs ``handler``; ``refuses`` maps global options it ignores to why."""
        p: argparse.ArgumentParser = self._sub.add_parser(
            name, help=help, description=kw.pop("description", help), parents=[self.common], **kw
        )
        p.set_defaults(handler=handler, refused_globals=dict(refuses or {}), command_parser=p)
        return p

    def group(self, name: str, help: str) -> _Commands:
        """A command whose actions are subcommands (``sayna hooks list``)."""
        p = self._sub.add_parser(name, help=help, description=help, parents=[self.common])
        actions = p.add_subparsers(title="actions", metavar="ACTION", required=True)
        return _Commands(actions, self.common)


def build_parser() -> argparse.ArgumentParser:
    """The whole command line."""
    parser = _TopParser(
        prog="sayna",
        description="Command line for the Sayna voice server.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[_global_options(suppress=False)],
    )
    parser.add_argument("--version", action="version", version=f"sayna {__version__}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    commands = _Commands(sub, _global_options(suppress=True))
    _add_speech_commands(commands)
    _add_realtime_commands(commands)
    _add_audio_commands(commands)
    _add_talk_command(commands)
    _add_livekit_commands(commands)
    _add_sip_commands(commands)
    _add_webhook_commands(commands)
    _add_fake_server(commands)
    _add_demo(commands)
    return parser


def _add_speech_commands(commands: _Commands) -> None:
    """REST: health, voices, speak, recording."""
    commands.add("health", "check that the server answers", _rest.health)

    p = commands.add("voices", "list the TTS voices, by provider", _rest.voices)
    p.add_argument("--provider", help="only this provider's voices")

    p = commands.add("speak", "synthesize TEXT over REST and save the audio", _rest.speak)
    _add_synthesis_arguments(p)

    p = commands.add("recording", "download a session recording (OGG)", _rest.recording)
    p.add_argument("stream_id", metavar="STREAM_ID")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="- for stdout")


def _add_realtime_commands(commands: _Commands) -> None:
    """One exchange over a realtime session: say, transcribe."""
    p = commands.add(
        "say", "speak TEXT over a realtime session: save it, play it, or both", _audio.say
    )
    _add_synthesis_arguments(p, output_required=False)
    p.add_argument(
        "--play", action="store_true", help="play the speech on the speaker (needs sayna[audio])"
    )
    p.add_argument("--device", default=None, metavar="DEVICE", help="output device name or index")

    p = commands.add("transcribe", "send a WAV file and print its transcript", _realtime.transcribe)
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
        "--realtime",
        action="store_true",
        help="send at the pace the audio was spoken (default: as fast as the server reads)",
    )
    pace.add_argument(
        "--speed",
        type=_positive_float,
        default=None,
        metavar="X",
        help="send at X times the pace it was spoken",
    )
    pace.add_argument(
        "--fast", action="store_true", help="send as fast as the server reads (the default)"
    )


def _add_audio_commands(commands: _Commands) -> None:
    """The microphone: listen (``say --play`` is with say)."""
    p = commands.add(
        "listen",
        "transcribe the microphone live; Ctrl-C ends and prints the text (needs sayna[audio])",
        _audio.listen,
    )
    _add_stt_options(p)
    p.add_argument("--device", default=None, metavar="DEVICE", help="input device name or index")
    p.add_argument(
        "--sample-rate",
        type=_positive_int,
        default=16000,
        metavar="HZ",
        help="the microphone's rate (default: %(default)s; converted to 16 kHz for the server)",
    )
    p.add_argument(
        "--channels", type=_positive_int, default=1, metavar="N", help="microphone channels"
    )
    p.add_argument(
        "--seconds",
        type=_positive_float,
        default=None,
        metavar="S",
        help="stop after S seconds (default: at Ctrl-C)",
    )


def _add_talk_command(commands: _Commands) -> None:
    """A conversation on the microphone and speaker: talk."""
    p = commands.add(
        "talk",
        "a conversation on the microphone and speaker; Ctrl-C ends (needs sayna[audio])",
        _talk.talk,
    )
    p.add_argument(
        "--respond",
        metavar="MODULE:FUNCTION",
        default=None,
        help="the reply function, called with each turn (default: repeat what was heard)",
    )
    p.add_argument("--greeting", default=None, metavar="TEXT", help="say TEXT first")
    p.add_argument(
        "--max-turns",
        type=_positive_int,
        default=None,
        metavar="N",
        help="end after answering N turns (default: at Ctrl-C)",
    )
    _add_stt_options(p)
    p.add_argument("--voice", default=None, help="TTS voice id (default: the server's)")
    p.add_argument("--mic", default=None, metavar="DEVICE", help="input device name or index")
    p.add_argument("--speaker", default=None, metavar="DEVICE", help="output device name or index")
    p.add_argument(
        "--mic-rate",
        type=_positive_int,
        default=16000,
        metavar="HZ",
        help="the microphone's rate (default: %(default)s; converted to 16 kHz for the server)",
    )
    p.add_argument(
        "--speaker-rate",
        type=_positive_int,
        default=24000,
        metavar="HZ",
        help="the speaker's rate, asked of the TTS too (default: %(default)s)",
    )


def _add_livekit_commands(commands: _Commands) -> None:
    """LiveKit: token, rooms, room, participant remove/mute."""
    p = commands.add("token", "issue a LiveKit token for ROOM", _rest.token)
    p.add_argument("room", metavar="ROOM")
    p.add_argument("identity", metavar="IDENTITY", help="participant identity")
    p.add_argument("--name", help="display name (default: IDENTITY)")

    commands.add("rooms", "list LiveKit rooms", _rest.rooms)

    p = commands.add("room", "show one LiveKit room and its participants", _rest.room)
    p.add_argument("name", metavar="NAME")

    participant = commands.group("participant", "remove or mute a LiveKit participant")
    p = participant.add("remove", "remove IDENTITY from ROOM", _rest.participant_remove)
    p.add_argument("room", metavar="ROOM")
    p.add_argument("identity", metavar="IDENTITY")
    p = participant.add("mute", "mute (or --unmute) a published track", _rest.participant_mute)
    p.add_argument("room", metavar="ROOM")
    p.add_argument("identity", metavar="IDENTITY")
    p.add_argument("track", metavar="TRACK_SID")
    p.add_argument("--unmute", action="store_true", help="unmute instead")


def _add_sip_commands(commands: _Commands) -> None:
    """SIP: hooks list/set/delete, call, transfer."""
    hooks = commands.group("hooks", "list, set or delete SIP webhook hooks")
    hooks.add("list", "list the hooks", _rest.hooks_list)
    p = hooks.add("set", "add or replace the hook for HOST", _rest.hooks_set)
    p.add_argument("host", metavar="HOST", help="SIP domain")
    p.add_argument("hook_url", metavar="URL", help="where the signed webhooks go")
    p.add_argument("--auth-id", default="", help="tenant id that owns the calls' rooms")
    p = hooks.add("delete", "delete the hooks for HOST...", _rest.hooks_delete)
    p.add_argument("hosts", nargs="+", metavar="HOST")

    p = commands.add("call", "place an outbound SIP call into a room", _rest.call)
    p.add_argument("--room", required=True)
    p.add_argument("--to", required=True, dest="to_number", metavar="NUMBER")
    p.add_argument("--from", required=True, dest="from_number", metavar="NUMBER")
    p.add_argument("--identity", required=True, help="identity of the SIP participant")
    p.add_argument("--name", help="display name (default: IDENTITY)")
    p.add_argument("--outbound-address", metavar="HOST[:PORT]")
    p.add_argument("--auth-username", metavar="USER")
    p.add_argument("--auth-password", metavar="PASSWORD")

    p = commands.add("transfer", "transfer a SIP participant to another number", _rest.transfer)
    p.add_argument("--room", required=True)
    p.add_argument("--identity", required=True, help="the SIP participant")
    p.add_argument("--to", required=True, dest="to_number", metavar="NUMBER")


def _add_webhook_commands(commands: _Commands) -> None:
    """Signed SIP webhooks: webhook verify."""
    webhook = commands.group("webhook", "work with signed SIP webhooks")
    p = webhook.add(
        "verify",
        "verify a webhook's signature and print its payload",
        _webhook.webhook_verify,
        description="Verify a signed SIP webhook (exit 0) or say why it fails (exit 1).",
        refuses={
            "url": "takes no --url: it checks the webhook here, with no server",
            "api_key": "takes no --api-key: the signing secret is --secret",
            "timeout": "takes no --timeout: it makes no request",
        },
    )
    p.add_argument(
        "-H",
        "--header",
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help="a request header (repeatable)",
    )
    p.add_argument("--headers-file", metavar="FILE.json", help="headers as a JSON object")
    p.add_argument(
        "--body", default="-", metavar="FILE", help="the raw body (default: - for stdin)"
    )
    p.add_argument("--secret", help="signing secret (default: $SAYNA_WEBHOOK_SECRET)")


def _add_fake_server(commands: _Commands) -> None:
    """The local server: fake-server."""
    p = commands.add(
        "fake-server",
        "run a local stand-in Sayna server until Ctrl-C",
        _local.fake_server,
        refuses={
            "url": _RUNS_ITS_OWN_SERVER,
            "api_key": "takes no --api-key (a client's key): --require-key KEY turns auth on",
            "timeout": "takes no --timeout: it serves until Ctrl-C",
            "json": "takes no --json: its output is the URL, one line",
        },
    )
    p.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: %(default)s)"
    )
    p.add_argument("--port", type=_port, default=0, help="port to listen on (default: any free)")
    p.add_argument(
        "--require-key",
        action="append",
        default=[],
        metavar="KEY[=TENANT]",
        help="turn auth on and accept this key (repeatable)",
    )
    p.add_argument("--cassette", metavar="FILE", help="replay this recorded session (a cassette)")


def _add_demo(commands: _Commands) -> None:
    """The offline round trip: demo."""
    p = commands.add(
        "demo",
        "round trip offline: say a sentence, transcribe it back",
        _local.demo,
        refuses={
            "url": _RUNS_ITS_OWN_SERVER,
            "api_key": "takes no --api-key: its own local server runs with auth off",
        },
    )
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
        help="send the audio back at X times the pace it was spoken (default: %(default)s)",
    )
