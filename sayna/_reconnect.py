"""Where :class:`~sayna.ReconnectPolicy` lived before the realtime wing (issue 21).

Pickles made then name ``sayna._reconnect.ReconnectPolicy``; this alias keeps
them loading. New pickles name ``sayna.ReconnectPolicy``.
"""

# rewrite_imports: keep old paths (this module is the old path)
from sayna._realtime.reconnect import ReconnectPolicy

__all__ = ["ReconnectPolicy"]
