"""JSON from the network, read by one set of rules on every Python we support.

Two rules on top of the :mod:`json` module's own:

- **Nesting is bounded by us.** ``json``'s C scanner recurses once per nesting
  level, and where it gives up moved between versions: ``RecursionError`` at
  about 1,000 levels on 3.10 and 3.11, past 1,100 on 3.12 and past 5,000 on
  3.13. Every JSON text that comes from the network (REST answers, error
  bodies, WebSocket frames, webhook bodies) is measured here first, so the
  same text is refused for the same reason everywhere, and the decoder never
  recurses deeper than :data:`MAX_JSON_DEPTH`.
- **``NaN``, ``Infinity`` and ``-Infinity`` are refused.** They are not JSON
  (RFC 8259), the server's encoder never writes them, and ``json`` accepts
  them by default: a confidence of ``NaN`` would pass every type check and
  compare unequal to itself in user code.
"""

from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any, NoReturn

__all__ = ["DECODER", "MAX_JSON_DEPTH", "TOO_DEEP", "loads", "nested_too_deep", "refuse_constant"]

#: Deepest nesting accepted in any JSON from the server. Sayna's messages are
#: at most four levels deep; 64 leaves room for growth and stays far from the
#: recursion limit of anything that later walks the data (repr, copy, cattrs).
MAX_JSON_DEPTH = 64

#: How refusals say it, in exceptions and in MalformedEvent.error.
TOO_DEEP = f"JSON nested deeper than {MAX_JSON_DEPTH} levels"

# Brackets inside strings do not nest. The string pattern is the unrolled form
# (no nested quantifier over one character class), so it runs in linear time;
# an unterminated string runs to the end of the text, as the decoder reads it.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\Z)', re.DOTALL)
_NOT_A_BRACKET = re.compile(r"[^\[\]{}]+")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}.__getitem__


def nested_too_deep(text: str, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when containers in the JSON ``text`` open more than ``limit`` levels deep.

    Balanced or not, valid JSON or not: the question is only how deep the
    decoder would have to go.
    """
    # No array, and no object but one at the start: one level at most. An
    # stt_result frame stops here, after two memchr scans (0.16 us against
    # the counts' 0.29 us below; its whole decoding takes about 2.5 us).
    if limit > 0 and "[" not in text and text.find("{", 1) < 0:
        return False
    # Fewer opening brackets than the limit cannot nest past it: the usual
    # frame or answer stops here after two C-speed scans.
    if len(text) <= limit or text.count("[") + text.count("{") <= limit:
        return False
    brackets = _NOT_A_BRACKET.sub("", _STRING.sub("", text))
    # The running depth, computed by C iterators (about 30 ns a bracket).
    return max(accumulate(map(_STEP, brackets)), default=0) > limit


def refuse_constant(name: str) -> NoReturn:
    """The decoders' ``parse_constant``: every non-JSON constant is refused."""
    raise ValueError(f"{name} is not JSON")


def loads(text: str) -> Any:
    """``json.loads`` with the constants refused (the caller bounds the nesting first)."""
    return json.loads(text, parse_constant=refuse_constant)


#: The same configuration as a decoder: its ``scan_once`` is the WebSocket
#: frame fast path's parser.
DECODER = json.JSONDecoder(parse_constant=refuse_constant)
