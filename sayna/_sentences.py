"""Cutting streamed text into utterances, for ``Session.speak_stream``.

A TTS provider speaks best a sentence at a time, and the caller hears
nothing until the first utterance is sent, so :class:`SentenceCutter` cuts
at sentence ends and the first utterance earlier, at a clause mark. A cut is
made only at whitespace that has arrived: a word split across two pieces is
never cut, and "3." waits for the next piece to tell "3.5" from a sentence
end. Abbreviations ("Dr.", "e.g.") and initials ("J.") end nothing.
"""

from __future__ import annotations

import re

__all__ = ["SentenceCutter"]

# Words that take a period without ending a sentence (compared lower-cased,
# without their dots).
_ABBREVIATIONS = frozenset(
    {
        "approx",
        "apt",
        "ave",
        "ca",
        "cf",
        "co",
        "corp",
        "dept",
        "dr",
        "eg",
        "esp",
        "est",
        "etc",
        "fig",
        "ie",
        "inc",
        "jr",
        "lt",
        "ltd",
        "mr",
        "mrs",
        "ms",
        "mt",
        "no",
        "nr",
        "prof",
        "rd",
        "sr",
        "st",
        "vol",
        "vs",
    }
)
# A sentence mark, closing quotes or brackets, then whitespace.
_END = re.compile(r"[.!?\u2026]+[\"'\u201d\u2019)\]]*(?=\s)|\n")
# A clause mark, for the early first utterance.
_CLAUSE = re.compile(r"[,;:\u2014][\"'\u201d\u2019)\]]*(?=\s)")
_LAST_TOKEN = re.compile(r"(\S+)$")


def _is_sentence_end(text: str, end: int) -> bool:
    """Whether the mark that ends at ``end`` in ``text`` ends a sentence."""
    mark = text[end - 1]
    if mark == "\n":
        return bool(text[:end].strip())
    found = _LAST_TOKEN.search(text, 0, end)
    if found is None:
        return False
    token = found.group(1).rstrip("\"'\u201d\u2019)]")
    if not token.endswith("."):
        return True  # "!", "?" and "…" always end one
    word = token.rstrip(".").lstrip("\"'\u201c\u2018([")
    if not word:
        return False
    if word.replace(".", "").lower() in _ABBREVIATIONS:
        return False
    if len(word) == 1 and word.isalpha() and word.isupper():
        return False  # an initial: "J. Smith"
    if "." in word and word.replace(".", "").isalpha():
        return False  # "e.g", "U.S"
    # A bare number that is all there is ("1." of a list) starts a sentence.
    return not (word.isdigit() and not text[: found.start()].strip())


class SentenceCutter:
    """Feed text pieces; get back the utterances that are complete.

    ``first_words``: the first utterance may end at a clause mark (",", ";",
    ":", "—") once it has that many words, for a short time to first audio.
    ``max_chars``: a longer utterance without a sentence end is cut at the
    last whitespace before it.
    """

    __slots__ = ("_buffer", "_emitted", "_first_words", "_max", "_scanned")

    def __init__(self, *, first_words: int = 4, max_chars: int = 250) -> None:
        self._buffer = ""
        self._scanned = 0
        self._emitted = 0
        self._first_words = first_words
        self._max = max_chars

    def feed(self, piece: str) -> list[str]:
        """Add ``piece``; return the utterances it completed (maybe none)."""
        self._buffer += piece
        out: list[str] = []
        while True:
            cut = self._next_cut()
            if cut is None:
                break
            utterance = self._buffer[:cut].strip()
            self._buffer = self._buffer[cut:]
            self._scanned = 0
            if utterance:
                out.append(utterance)
                self._emitted += 1
        return out

    def flush(self) -> str | None:
        """The text left when the stream ends (``None`` if blank)."""
        rest, self._buffer, self._scanned = self._buffer.strip(), "", 0
        if rest:
            self._emitted += 1
            return rest
        return None

    def _next_cut(self) -> int | None:
        text = self._buffer
        # A mark at the very end may still grow ("3." -> "3.5"): the lookahead
        # needs the whitespace after it, so only scan up to what is known.
        end = next(
            (
                m.end()
                for m in _END.finditer(text, self._scanned)
                if _is_sentence_end(text, m.end())
            ),
            None,
        )
        if self._emitted == 0:
            # The first utterance: a clause mark before the sentence end will do.
            for match in _CLAUSE.finditer(text, 0, len(text) if end is None else end):
                if len(text[: match.end()].split()) >= self._first_words:
                    return match.end()
        if end is not None:
            return end
        if len(text) > self._max:
            space = text.rfind(" ", 0, self._max)
            if space > 0:
                return space
        # Nothing before the last whitespace can end a sentence any more.
        last_space = max(text.rfind(" "), text.rfind("\n"), 0)
        self._scanned = max(0, last_space - 8)
        return None
