"""Reconnecting a session after an abnormal end: the policy, as a value.

:class:`ReconnectPolicy` says how many attempts and how long to wait before
each; :func:`is_resumable` says which ends are worth an attempt. The attempts
themselves are transitions of the session and live with them, in
:func:`sayna._realtime.recovery._reconnect`
(the way urllib3 keeps ``Retry`` a value and its loop in ``urlopen``).
Two small values the loop uses live here too: :class:`Attempt`, how one
attempt went, and :func:`is_advisory_config_error`, which pre-``ready``
errors do not fail a config.
"""

from __future__ import annotations

import random

import attrs

from sayna._errors import SaynaValidationError
from sayna._events import CloseEvent
from sayna._validation import int_at_least, require_positive_seconds

__all__ = [
    "RESUMABLE_CLOSE_CODES",
    "STABLE_AFTER",
    "Attempt",
    "ReconnectPolicy",
    "is_advisory_config_error",
    "is_resumable",
    "resolve_policy",
]

# Server Close codes after which a session may resume on a new connection:
# going away, abnormal, internal error, restart, try again later, bad gateway.
RESUMABLE_CLOSE_CODES = frozenset({1001, 1006, 1011, 1012, 1013, 1014})

#: Seconds a connection must stay up after its ``ready`` before its drop starts
#: the attempts over at 1; a sooner drop continues the count, so a server that
#: answers ``ready`` and drops every time is given up on after ``max_attempts``.
STABLE_AFTER = 5.0


def _positive_seconds(instance: object, attribute: attrs.Attribute[float], value: object) -> None:
    require_positive_seconds(value, attribute.name)


@attrs.frozen
class ReconnectPolicy:
    """How a session reconnects: up to ``max_attempts`` tries, with exponential backoff.

    Attempt *n* waits ``min(max_delay, initial_delay * 2 ** (n - 1))`` seconds,
    scaled by a random factor between 0.5 and 1 (jitter, so that many clients
    dropped at once do not return at once). Each attempt is bounded by the
    ``timeout`` given to ``connect()``. The count starts over only after a
    connection that stayed up 5 seconds past its ``ready``.
    """

    max_attempts: int = attrs.field(default=5, validator=int_at_least(1))
    initial_delay: float = attrs.field(default=0.5, validator=_positive_seconds)
    max_delay: float = attrs.field(default=10.0, validator=_positive_seconds)

    def __attrs_post_init__(self) -> None:
        if self.max_delay < self.initial_delay:
            raise SaynaValidationError(
                "max_delay must not be smaller than initial_delay", field="max_delay"
            )

    def delay(self, attempt: int) -> float:
        """The wait before attempt ``attempt`` (1-based), jitter included."""
        base = min(self.max_delay, self.initial_delay * 2.0 ** min(attempt - 1, 62))
        return base * (0.5 + 0.5 * random.random())


# Pickles name the public path, which survives moves of this module (see
# sayna/_reconnect.py for the one it had before).
ReconnectPolicy.__module__ = "sayna"


def resolve_policy(reconnect: object) -> ReconnectPolicy | None:
    """``connect(reconnect=...)``: False, True (the default policy) or a policy."""
    if reconnect is True:
        return ReconnectPolicy()
    if reconnect is False:
        return None
    if isinstance(reconnect, ReconnectPolicy):
        return reconnect
    raise SaynaValidationError(
        f"reconnect must be True, False or a ReconnectPolicy, not {type(reconnect).__name__}",
        field="reconnect",
    )


def is_resumable(close: CloseEvent, *, protocol_violation: bool) -> bool:
    """Whether a connection's end is a blip to reconnect after (issue: B).

    A drop without a Close frame, an unanswered ping, or a server Close with a
    code of :data:`RESUMABLE_CLOSE_CODES`. Never our own close, a normal close
    (1000, no code), or a server that broke the protocol.
    """
    if close.initiator == "network":
        return not protocol_violation
    return close.initiator == "server" and close.code in RESUMABLE_CLOSE_CODES


class Attempt:
    """How one reconnect attempt went."""

    __slots__ = ("done", "failure", "refused")

    def __init__(self, *, done: bool = False, failure: str = "", refused: bool = False) -> None:
        self.done = done  # ready again, or the session is closing: stop trying
        self.failure = failure
        self.refused = refused  # 401/403: trying again cannot help


def is_advisory_config_error(message: str) -> bool:
    """Whether a pre-``ready`` error is one the server sends without failing the config.

    The loading clip is checked while configuring, but a bad clip only disables
    the loading indicator (docs/protocol.rst §4.2 steps 3 and 6, §4.3.5): the server
    goes on to ``ready``, so these must not fail ``connect()``.
    """
    return "loading_audio" in message or "loading audio" in message.lower()
