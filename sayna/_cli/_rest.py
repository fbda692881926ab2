"""Subcommands that are one REST call each."""

from __future__ import annotations

import datetime
import json
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sayna._audio import AudioResult
from sayna._cli._common import EXIT_OK, Context, UsageError
from sayna._converter import to_wire
from sayna._models import SIPCallConfig, SipHook, TTSConfig

__all__ = [
    "call",
    "check_output_format",
    "health",
    "hooks_delete",
    "hooks_list",
    "hooks_set",
    "participant_mute",
    "participant_remove",
    "recording",
    "report_audio",
    "room",
    "rooms",
    "save_audio",
    "speak",
    "table",
    "token",
    "transfer",
    "tts_config_from",
    "voices",
    "write_bytes",
]


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> list[str]:
    """Left-aligned columns, two spaces apart."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]


def _when(seconds: Any) -> str:
    if not isinstance(seconds, int) or seconds <= 0:
        return "-"
    moment = datetime.datetime.fromtimestamp(seconds, tz=datetime.timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%SZ")


def write_bytes(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` (``-`` is stdout); unwritable paths are usage errors."""
    if path == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    try:
        with open(path, "wb") as fh:
            fh.write(data)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from exc


def save_audio(path: str, result: AudioResult) -> str:
    """Save audio; a ``.wav`` name wraps raw PCM in a WAV header. Returns a summary."""
    if path == "-" or not path.lower().endswith(".wav"):
        write_bytes(path, result.data)
        return f"{path}: {len(result)} bytes of {result.audio_format or 'raw'} audio"
    try:
        result.save(path)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from exc
    if not result.is_pcm:
        return f"{path}: {len(result)} bytes of {result.audio_format or 'WAV'} audio"
    rate = result.sample_rate or 24000
    seconds = len(result) / (2 * rate)
    return f"{path}: {seconds:.2f} s of {rate} Hz 16-bit mono audio ({len(result)} bytes)"


def check_output_format(path: str, audio_format: str) -> None:
    """Refuse, before any request, to write compressed audio under a ``.wav`` name."""
    # AudioResult knows which formats are raw PCM (and so wrapped as WAV on save).
    is_pcm = AudioResult(b"", {"x-audio-format": audio_format}).is_pcm
    if path.lower().endswith(".wav") and not is_pcm and audio_format.lower() != "wav":
        raise UsageError(
            f"--format {audio_format} cannot be saved as {os.path.basename(path)}; "
            "use --format linear16 or another file name"
        )


def tts_config_from(ctx: Context) -> TTSConfig:
    """The TTSConfig described by the TTS options."""
    a = ctx.args
    return TTSConfig(
        provider=a.tts_provider,
        model=a.tts_model,
        voice_id=a.voice,
        audio_format=a.format,
        sample_rate=a.sample_rate,
        speaking_rate=a.speaking_rate,
    )


def health(ctx: Context) -> int:
    """``sayna health``."""
    with ctx.client() as client:
        result = client.health()
    if ctx.json:
        ctx.emit_json(to_wire(result))
    else:
        ctx.out(str(to_wire(result).get("status", "OK")))
    return EXIT_OK


def voices(ctx: Context) -> int:
    """``sayna voices``."""
    with ctx.client() as client:
        catalogue = to_wire(client.get_voices())
    if ctx.args.provider:
        catalogue = {k: v for k, v in catalogue.items() if k == ctx.args.provider}
    if ctx.json:
        ctx.emit_json(catalogue)
        return EXIT_OK
    rows = [
        (provider, v.get("id", ""), v.get("name", ""), v.get("language", ""), v.get("gender", ""))
        for provider, entries in catalogue.items()
        for v in entries
    ]
    if not rows:
        ctx.note("no voices (the server lists only providers it has credentials for)")
        return EXIT_OK
    for line in table(rows, ("PROVIDER", "ID", "NAME", "LANGUAGE", "GENDER")):
        ctx.out(line)
    return EXIT_OK


def speak(ctx: Context) -> int:
    """``sayna speak TEXT -o FILE``: one-shot synthesis over REST."""
    a = ctx.args
    check_output_format(a.output, a.format)
    config = tts_config_from(ctx)
    with ctx.client() as client:
        result = client.speak_rest(a.text, config)
    report_audio(ctx, a.output, result)
    return EXIT_OK


def report_audio(ctx: Context, path: str, result: AudioResult) -> None:
    """Save ``result`` to ``path`` and say what was written."""
    summary = save_audio(path, result)
    if ctx.json:
        info = {
            "path": path,
            "bytes": len(result),
            "audio_format": result.audio_format,
            "sample_rate": result.sample_rate,
            "content_type": result.content_type,
        }
        (ctx.note if path == "-" else ctx.out)(json.dumps(info))
    elif path != "-":
        ctx.out(f"wrote {summary}")


def token(ctx: Context) -> int:
    """``sayna token ROOM IDENTITY``."""
    a = ctx.args
    with ctx.client() as client:
        result = to_wire(client.get_livekit_token(a.room, a.name or a.identity, a.identity))
    if ctx.json:
        ctx.emit_json(result)
    else:
        for key in ("token", "livekit_url", "room_name", "participant_identity"):
            ctx.out(f"{key}: {result.get(key, '')}")
    return EXIT_OK


def rooms(ctx: Context) -> int:
    """``sayna rooms``."""
    with ctx.client() as client:
        result = to_wire(client.get_livekit_rooms())
    if ctx.json:
        ctx.emit_json(result)
        return EXIT_OK
    entries = result.get("rooms", [])
    if not entries:
        ctx.note("no rooms")
        return EXIT_OK
    rows = [
        (r.get("name", ""), r.get("num_participants", 0), _when(r.get("creation_time")))
        for r in entries
    ]
    for line in table(rows, ("NAME", "PARTICIPANTS", "CREATED")):
        ctx.out(line)
    return EXIT_OK


def room(ctx: Context) -> int:
    """``sayna room NAME``."""
    with ctx.client() as client:
        result = to_wire(client.get_livekit_room(ctx.args.name))
    if ctx.json:
        ctx.emit_json(result)
        return EXIT_OK
    ctx.out(f"name: {result.get('name', '')}")
    ctx.out(f"sid: {result.get('sid', '')}")
    limit = result.get("max_participants", 0)
    count = result.get("num_participants", 0)
    ctx.out(f"participants: {count}" + (f" of {limit}" if limit else ""))
    ctx.out(f"created: {_when(result.get('creation_time'))}")
    ctx.out(f"recording: {'yes' if result.get('active_recording') else 'no'}")
    participants = result.get("participants", [])
    if participants:
        ctx.out()
        rows = [
            (p.get("identity", ""), p.get("name", ""), p.get("kind", ""), p.get("state", ""))
            for p in participants
        ]
        for line in table(rows, ("IDENTITY", "NAME", "KIND", "STATE")):
            ctx.out(line)
    return EXIT_OK


def participant_remove(ctx: Context) -> int:
    """``sayna participant remove ROOM IDENTITY``."""
    a = ctx.args
    with ctx.client() as client:
        result = to_wire(client.remove_livekit_participant(a.room, a.identity))
    if ctx.json:
        ctx.emit_json(result)
    else:
        ctx.out(f"removed {a.identity} from {a.room}")
    return EXIT_OK


def participant_mute(ctx: Context) -> int:
    """``sayna participant mute ROOM IDENTITY TRACK_SID [--unmute]``."""
    a = ctx.args
    with ctx.client() as client:
        result = to_wire(
            client.mute_livekit_participant_track(a.room, a.identity, a.track, not a.unmute)
        )
    if ctx.json:
        ctx.emit_json(result)
    else:
        state = "muted" if result.get("muted", not a.unmute) else "unmuted"
        ctx.out(f"{a.track} of {a.identity} in {a.room}: {state}")
    return EXIT_OK


def _print_hooks(ctx: Context, result: Any) -> None:
    data = to_wire(result)
    if ctx.json:
        ctx.emit_json(data)
        return
    hooks: Iterable[Mapping[str, str]] = data.get("hooks", [])
    rows = [(h.get("host", ""), h.get("url", ""), h.get("auth_id", "")) for h in hooks]
    if not rows:
        ctx.note("no hooks")
        return
    for line in table(rows, ("HOST", "URL", "AUTH_ID")):
        ctx.out(line)


def hooks_list(ctx: Context) -> int:
    """``sayna hooks list``."""
    with ctx.client() as client:
        _print_hooks(ctx, client.get_sip_hooks())
    return EXIT_OK


def hooks_set(ctx: Context) -> int:
    """``sayna hooks set HOST URL [--auth-id ID]``: prints the whole table after the change."""
    a = ctx.args
    hook = SipHook(host=a.host, url=a.hook_url, auth_id=a.auth_id)
    with ctx.client() as client:
        _print_hooks(ctx, client.set_sip_hooks([hook]))
    return EXIT_OK


def hooks_delete(ctx: Context) -> int:
    """``sayna hooks delete HOST...``: prints the remaining table."""
    with ctx.client() as client:
        _print_hooks(ctx, client.delete_sip_hooks(ctx.args.hosts))
    return EXIT_OK


def recording(ctx: Context) -> int:
    """``sayna recording STREAM_ID -o FILE``: streamed, so any size fits in bounded memory."""
    a = ctx.args
    to_stdout = a.output == "-"
    with ctx.client() as client:
        if to_stdout:
            size = client.save_recording(a.stream_id, sys.stdout.buffer)
            sys.stdout.buffer.flush()
        else:
            size = client.save_recording(a.stream_id, a.output)
    if ctx.json:
        info = {"path": a.output, "bytes": size, "audio_format": "ogg"}
        (ctx.note if to_stdout else ctx.out)(json.dumps(info))
    elif not to_stdout:
        ctx.out(f"wrote {a.output}: {size} bytes of ogg audio")
    return EXIT_OK


def call(ctx: Context) -> int:
    """``sayna call --room R --from N --to N --identity ID``."""
    a = ctx.args
    sip = None
    if a.outbound_address or a.auth_username or a.auth_password:
        sip = SIPCallConfig(
            outbound_address=a.outbound_address,
            auth_username=a.auth_username,
            auth_password=a.auth_password,
        )
    with ctx.client() as client:
        result = to_wire(
            client.sip_call(
                a.room,
                a.name or a.identity,
                a.identity,
                a.from_number,
                a.to_number,
                sip,
            )
        )
    if ctx.json:
        ctx.emit_json(result)
    else:
        ctx.out(
            f"call {result.get('status', 'initiated')}: {a.to_number} into {a.room} "
            f"(sip_call_id {result.get('sip_call_id', '?')})"
        )
    return EXIT_OK


def transfer(ctx: Context) -> int:
    """``sayna transfer --room R --identity ID --to N``."""
    a = ctx.args
    with ctx.client() as client:
        result = to_wire(client.sip_transfer_rest(a.room, a.identity, a.to_number))
    if ctx.json:
        ctx.emit_json(result)
    else:
        ctx.out(
            f"transfer {result.get('status', 'initiated')}: {a.identity} in {a.room} "
            f"to {result.get('transfer_to', a.to_number)}"
        )
    return EXIT_OK
