"""The reader hands a read's ``stt_result`` events to Hearing in one call; finish() sees the same.

Whatever the results and however a stream of them is cut into reads, the
batched bookkeeping must answer ``finish()``'s question exactly as one call
per result did.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from sayna._events import STTResultEvent
from sayna._realtime.hearing import Hearing

results = st.builds(
    STTResultEvent,
    transcript=st.sampled_from(["", "  ", "hello", "more words"]),
    is_final=st.booleans(),
    is_speech_final=st.booleans(),
    confidence=st.just(0.9),
)
# Reads of results, each received at its own time, with audio sent before some.
reads = st.lists(st.tuples(st.lists(results, max_size=6), st.booleans()), max_size=8)


def one_result(hearing: Hearing, event: STTResultEvent, now: float) -> None:
    """The rule as written for one result at a time: the reference for the batches."""
    hearing._result_at = now
    if event.is_speech_final:
        hearing._open = False
        hearing._ended_at = now
    elif event.transcript.strip():
        hearing._open = True


def _state(hearing: Hearing) -> tuple[bool, float | None]:
    return hearing._open, hearing._answered_at()


@given(reads)
def test_batches_answer_as_one_result_at_a_time(
    stream: list[tuple[list[STTResultEvent], bool]],
) -> None:
    one_by_one, batched = Hearing(), Hearing()
    for now, (read, audio_first) in enumerate(stream, start=1):
        if audio_first:
            one_by_one.audio_sent(now - 0.5)
            batched.audio_sent(now - 0.5)
        for event in read:
            one_result(one_by_one, event, float(now))
        if read:
            batched.results(read, float(now))
        assert _state(batched) == _state(one_by_one)
