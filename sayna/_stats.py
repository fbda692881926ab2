"""Where :class:`~sayna.SessionStats` lived before the realtime wing (issue 21).

Pickles made then name ``sayna._stats.SessionStats`` and ``SpeechTiming``;
this alias keeps them loading. New pickles name ``sayna.SessionStats``.
"""

# rewrite_imports: keep old paths (this module is the old path)
from sayna._realtime.stats import SessionStats, SpeechTiming

__all__ = ["SessionStats", "SpeechTiming"]
