"""Tools for testing code that uses ``sayna``, with no real server or key."""

from sayna._signing import sign_webhook

__all__ = ["sign_webhook"]
