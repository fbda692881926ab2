"""``connect(retry=...)``: try the first WebSocket upgrade again when the server is busy.

Only the opening is retried, and only for what a later try can fix: a refused
or reset connection, and a ``429`` or ``5xx`` answer to the upgrade. Never a
``401``/``403`` (the key will not improve), a redirect, a TLS failure, or a
config the server refused after the upgrade. The policy is a value
(:class:`~sayna.ReconnectPolicy`: attempts and backoff); the loop lives here.
Every try and every pause fits in the ``deadline`` of the whole ``connect()``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from sayna import _telemetry as telemetry
from sayna._errors import (
    SaynaConnectionError,
    SaynaError,
    SaynaHttpError,
    SaynaValidationError,
)
from sayna._realtime.reconnect import ReconnectPolicy

__all__ = ["RETRY_AFTER_MAX", "open_with_retries", "resolve_retry", "retryable"]

logger = logging.getLogger("sayna")

#: The longest ``Retry-After`` waited for, as for REST calls; longer raises at once.
RETRY_AFTER_MAX = 10.0

_BUSY = frozenset({429, 500, 502, 503, 504})
_NETWORK = (ConnectionRefusedError, ConnectionResetError, ConnectionAbortedError, BrokenPipeError)


def resolve_retry(retry: object) -> ReconnectPolicy | None:
    """``connect(retry=...)``: False, True (the default policy) or a policy."""
    if retry is True:
        return ReconnectPolicy()
    if retry is False:
        return None
    if isinstance(retry, ReconnectPolicy):
        return retry
    raise SaynaValidationError(
        f"retry must be True, False or a ReconnectPolicy, not {type(retry).__name__}",
        field="retry",
    )


def retryable(error: SaynaError) -> bool:
    """Whether another try could succeed: busy answers and refused or reset connections."""
    if isinstance(error, SaynaHttpError):
        return error.status_code in _BUSY
    if isinstance(error, SaynaConnectionError):
        cause: BaseException | None = error.__cause__
        while cause is not None:
            if isinstance(cause, _NETWORK):
                return True
            cause = cause.__cause__ or cause.__context__
    return False


def open_with_retries(
    open_once: Callable[[], Any],
    policy: ReconnectPolicy | None,
    deadline: float,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> Any:
    """``open_once()``, tried again under ``policy`` until it works or must give up."""
    attempt = 1
    while True:
        try:
            return open_once()
        except SaynaError as error:
            if policy is None or attempt >= policy.max_attempts or not retryable(error):
                raise
            waited = getattr(error, "retry_after", None)
            if waited is not None and waited > RETRY_AFTER_MAX:
                raise  # the caller schedules it: exc.retry_after
            delay = policy.delay(attempt) if waited is None else waited
            if time.monotonic() + delay >= deadline:
                raise  # no time left for another try within connect's timeout
            logger.info(
                "connect: attempt %d of %d failed (%s); retrying in %.2f s",
                attempt,
                policy.max_attempts,
                error,
                delay,
            )
            telemetry.retry(attempt, delay)
            sleep(delay)
            attempt += 1
