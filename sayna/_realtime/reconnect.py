"""Reconnecting a session after an abnormal end: the policy and the attempts.

The session (its handlers, event log, iterators) outlives the connection: on
a drop the core switches to ``reconnecting`` and hands the work to one thread
running :func:`reconnect`, which opens new sockets with the policy's backoff,
re-sends the session's config (with the stream id of the first ``ready``) and
stops at the first ``ready``, a refusal of the credentials, the user closing
the session or the last attempt.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

import attrs

from sayna._errors import SaynaValidationError
from sayna._events import CloseEvent, ReconnectingEvent
from sayna._realtime.protocol import describe_close
from sayna._validation import require_positive_seconds

if TYPE_CHECKING:
    from sayna._realtime.core import SessionCore

__all__ = ["RESUMABLE_CLOSE_CODES", "ReconnectPolicy", "reconnect", "resolve_policy"]

# Server Close codes after which a session may resume on a new connection:
# going away, abnormal, internal error, restart, try again later, bad gateway.
RESUMABLE_CLOSE_CODES = frozenset({1001, 1006, 1011, 1012, 1013, 1014})


def _positive_int(instance: object, attribute: attrs.Attribute[int], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SaynaValidationError(
            f"{attribute.name} must be a positive integer", field=attribute.name
        )


def _positive_seconds(instance: object, attribute: attrs.Attribute[float], value: object) -> None:
    require_positive_seconds(value, attribute.name)


@attrs.frozen
class ReconnectPolicy:
    """How a session reconnects: up to ``max_attempts`` tries, with exponential backoff.

    Attempt *n* waits ``min(max_delay, initial_delay * 2 ** (n - 1))`` seconds,
    scaled by a random factor between 0.5 and 1 (jitter, so that many clients
    dropped at once do not return at once). Each attempt is bounded by the
    ``timeout`` given to ``connect()``.
    """

    max_attempts: int = attrs.field(default=5, validator=_positive_int)
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


def reconnect(core: SessionCore, policy: ReconnectPolicy, ended: CloseEvent) -> None:
    """Run the attempts for ``core`` (on its reconnect thread) after ``ended``."""
    if ended.initiator == "server":
        reason = f"the server closed the connection ({describe_close(ended)})"
    else:
        reason = ended.reason or describe_close(ended)
    last = reason
    for attempt in range(1, policy.max_attempts + 1):
        delay = policy.delay(attempt)
        core.log.append(ReconnectingEvent(attempt, delay, last), force=True)
        if not core.sleep_while_reconnecting(delay):
            core.finish_if_closing()
            return
        outcome = core.try_reconnect(attempt)
        if outcome.done:
            core.finish_if_closing()
            return
        last = f"attempt {attempt} failed: {outcome.failure}"
        if outcome.refused:
            core.give_up(ended, reason, f"the server refused the credentials ({outcome.failure})")
            return
    core.give_up(ended, reason, f"{policy.max_attempts} attempt(s) failed; the {last}")
