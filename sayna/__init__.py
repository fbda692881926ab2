"""Blocking Python client for the Sayna voice server.

REST calls, realtime speech sessions and signed webhooks without an event loop.
The implementation lives in private modules; everything public is re-exported
here and listed in ``__all__`` (a test keeps the two in step).
"""

from sayna._errors import (
    AuthenticationError,
    BadRequestError,
    ConflictError,
    MethodNotAllowedError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    SaynaCallbackError,
    SaynaConfigError,
    SaynaConnectionClosedError,
    SaynaConnectionError,
    SaynaError,
    SaynaHttpError,
    SaynaNotConnectedError,
    SaynaNotReadyError,
    SaynaServerError,
    SaynaTimeoutError,
    SaynaValidationError,
    UnprocessableEntityError,
    UnsupportedMediaTypeError,
    WebhookVerificationError,
)
from sayna._version import __version__

__all__ = [
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "MethodNotAllowedError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "SaynaCallbackError",
    "SaynaConfigError",
    "SaynaConnectionClosedError",
    "SaynaConnectionError",
    "SaynaError",
    "SaynaHttpError",
    "SaynaNotConnectedError",
    "SaynaNotReadyError",
    "SaynaServerError",
    "SaynaTimeoutError",
    "SaynaValidationError",
    "UnprocessableEntityError",
    "UnsupportedMediaTypeError",
    "WebhookVerificationError",
    "__version__",
]
