"""``sayna webhook verify``: check a signed SIP webhook offline."""

from __future__ import annotations

import json
import sys

from sayna._cli._common import EXIT_ERROR, EXIT_OK, Context, UsageError
from sayna._converter import to_wire
from sayna._errors import SaynaValidationError, WebhookVerificationError
from sayna._webhooks import WebhookReceiver

__all__ = ["parse_headers", "webhook_verify"]


def parse_headers(lines: list[str], headers_file: str | None) -> dict[str, str]:
    """Headers from ``--headers-file`` (a JSON object), then ``-H 'Name: value'`` options."""
    headers: dict[str, str] = {}
    if headers_file:
        try:
            with open(headers_file, encoding="utf-8") as fh:
                data = json.load(fh)
        except OSError as exc:
            raise UsageError(f"cannot read {headers_file}: {exc.strerror or exc}") from exc
        except ValueError as exc:
            raise UsageError(f"{headers_file} is not valid JSON: {exc}") from exc
        if not isinstance(data, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in data.items()
        ):
            raise UsageError(f"{headers_file} must hold a JSON object of strings")
        headers.update(data)
    for line in lines:
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            raise UsageError(f"-H expects 'Name: value', got {line!r}")
        headers[name.strip()] = value.strip()
    return headers


def _read_body(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from exc


def webhook_verify(ctx: Context) -> int:
    """``sayna webhook verify``: exit 0 and print the payload, or exit 1 and say why."""
    a = ctx.args
    secret = a.secret or ctx.environ.get("SAYNA_WEBHOOK_SECRET")
    if not secret:
        raise UsageError("no webhook secret: pass --secret or set SAYNA_WEBHOOK_SECRET")
    try:
        receiver = WebhookReceiver(secret)
    except SaynaValidationError as exc:  # a secret that is too short: fix the command line
        raise UsageError(str(exc)) from exc
    headers = parse_headers(a.header, a.headers_file)
    body = _read_body(a.body)
    try:
        payload = receiver.receive(headers, body)
    except WebhookVerificationError as exc:
        if ctx.json:
            error = {"type": type(exc).__name__, "message": str(exc), "status": None}
            ctx.emit_json({"valid": False, "reason": exc.reason, "error": error})
        ctx.note(f"sayna: webhook rejected: {exc}")
        return EXIT_ERROR
    data = to_wire(payload)
    if ctx.json:
        ctx.emit_json({"valid": True, "payload": data})
        return EXIT_OK
    participant = data.get("participant", {})
    ctx.out("webhook verified")
    ctx.out(f"from: {data.get('from_phone_number', '')}")
    ctx.out(f"to: {data.get('to_phone_number', '')}")
    ctx.out(f"room: {data.get('room', {}).get('name', '')}")
    ctx.out(f"participant: {participant.get('identity', '')}")
    ctx.out(f"sip_host: {data.get('sip_host', '')}")
    return EXIT_OK
