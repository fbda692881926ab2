"""sayna.audio's converters: G.711 against the ITU values and audioop, resampling, channels."""

from __future__ import annotations

import itertools
import math
import struct
import subprocess
import sys
import warnings
from array import array
from types import ModuleType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sayna import SaynaAudioError, SaynaValidationError
from sayna.audio import (
    Resampler,
    alaw_decode,
    alaw_encode,
    resample,
    to_channels,
    to_mono,
    ulaw_decode,
    ulaw_encode,
)

#: Streaming and one-shot resampling agree to this many least-significant bits
#: per sample (measured: 2, over 8/16/24/44.1/48 kHz, mono and stereo).
STREAM_TOLERANCE = 4
RATES = [8000, 11025, 16000, 22050, 24000, 44100, 48000]
ALL_SAMPLES = struct.pack("<65536h", *range(-32768, 32768))


def _audioop() -> ModuleType | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            import audioop
        except ImportError:  # Python 3.13 removed it
            return None
    return audioop


def _pcm(samples: list[int] | array[int]) -> bytes:
    return struct.pack(f"<{len(samples)}h", *samples)


def _samples(pcm: bytes) -> list[int]:
    return list(struct.unpack(f"<{len(pcm) // 2}h", pcm))


def _sine(rate: int, freq: float, seconds: float, amplitude: float = 16000) -> list[float]:
    return [amplitude * math.sin(2 * math.pi * freq * n / rate) for n in range(int(rate * seconds))]


def _snr_db(got: list[int], want: list[float]) -> float:
    # The middle 80 %: the filter's start-up and tail are not the passband.
    n = min(len(got), len(want))
    lo, hi = n // 10, n - n // 10
    signal = sum(w * w for w in want[lo:hi])
    noise = sum((g - w) ** 2 for g, w in zip(got[lo:hi], want[lo:hi], strict=True))
    return 10 * math.log10(signal / noise)


# --- G.711 --------------------------------------------------------------------


def test_ulaw_known_values() -> None:
    """µ-law: silence is 0xFF, full scale is 0x80/0x00, and they decode to the G.711 values."""
    assert ulaw_encode(_pcm([0, 32767, -32768, 1000])) == bytes([0xFF, 0x80, 0x00, 0xCE])
    # 8031 and 8159 are G.711 µ-law's top decision values in 14-bit units (times 4 here).
    assert _samples(ulaw_decode(bytes([0x80, 0x00, 0xFF, 0x7F]))) == [32124, -32124, 0, 0]


def test_alaw_known_values() -> None:
    """A-law: the smallest steps are 0xD5/0x55 (±8) and full scale 0xAA/0x2A (±32256)."""
    assert alaw_encode(_pcm([0, -1, 32767, -32768, 1000])) == bytes([0xD5, 0x55, 0xAA, 0x2A, 0xFA])
    assert _samples(alaw_decode(bytes([0xD5, 0x55, 0xAA, 0x2A]))) == [8, -8, 32256, -32256]


def test_g711_codes_round_trip() -> None:
    """Every code decodes to a value that encodes back to it (µ-law's -0 becomes 0xFF)."""
    codes = bytes(range(256))
    assert alaw_encode(alaw_decode(codes)) == codes
    ulaw_back = ulaw_encode(ulaw_decode(codes))
    assert ulaw_back == codes.replace(b"\x7f", b"\xff")


def test_g711_is_monotonic() -> None:
    """Larger samples never get a code that decodes smaller (the segment tables are ordered)."""
    for encode, decode in ((ulaw_encode, ulaw_decode), (alaw_encode, alaw_decode)):
        decoded = _samples(decode(encode(ALL_SAMPLES)))
        assert decoded == sorted(decoded)


@pytest.mark.skipif(_audioop() is None, reason="audioop exists up to Python 3.12 only")
def test_g711_equals_audioop_for_every_sample() -> None:
    """All 65536 samples and all 256 codes give audioop's bytes exactly."""
    audioop = _audioop()
    assert audioop is not None
    assert ulaw_encode(ALL_SAMPLES) == audioop.lin2ulaw(ALL_SAMPLES, 2)
    assert alaw_encode(ALL_SAMPLES) == audioop.lin2alaw(ALL_SAMPLES, 2)
    codes = bytes(range(256))
    assert ulaw_decode(codes) == audioop.ulaw2lin(codes, 2)
    assert alaw_decode(codes) == audioop.alaw2lin(codes, 2)


@given(st.binary(max_size=2001).filter(lambda b: len(b) % 2 == 1))
def test_g711_encoders_refuse_odd_byte_counts(pcm: bytes) -> None:
    """An odd number of bytes is not 16-bit PCM: a clear SaynaValidationError, naming the count."""
    for encode in (ulaw_encode, alaw_encode):
        with pytest.raises(SaynaValidationError, match=f"{len(pcm)} bytes is an odd count"):
            encode(pcm)


@given(st.binary(max_size=4000))
def test_g711_decode_any_bytes(data: bytes) -> None:
    """Any bytes are G.711 codes; decoding gives two bytes each and re-encoding the same codes."""
    assert len(ulaw_decode(data)) == 2 * len(data)
    assert alaw_encode(alaw_decode(data)) == data
    assert ulaw_encode(ulaw_decode(data)) == data.replace(b"\x7f", b"\xff")


def test_g711_takes_bytearray_and_memoryview() -> None:
    """The converters take any bytes-like object and return bytes."""
    assert ulaw_encode(bytearray(b"\x00\x00")) == b"\xff"
    assert alaw_decode(memoryview(b"\xd5")) == b"\x08\x00"


# --- resampling ---------------------------------------------------------------


@pytest.mark.parametrize(("src", "dst"), [(8000, 16000), (16000, 24000), (48000, 16000)])
def test_resample_keeps_a_sine_clean(src: int, dst: int) -> None:
    """A 1 kHz sine resampled is the same sine at the new rate, above 70 dB SNR (16-bit is ~90)."""
    tone = _sine(src, 1000, 0.5)
    out = _samples(resample(_pcm([round(v) for v in tone]), src, dst))
    assert len(out) == len(tone) * dst // src
    assert _snr_db(out, _sine(dst, 1000, 0.5)) > 70


def test_resample_passband_is_flat() -> None:
    """A tone at 90 % of the lower Nyquist frequency keeps its level within 0.1 dB."""
    tone = _sine(16000, 7200, 0.5)  # 90 % of 8 kHz, the Nyquist frequency at 16 kHz
    out = _samples(resample(_pcm([round(v) for v in tone]), 16000, 24000))
    mid = out[len(out) // 10 : -len(out) // 10]
    rms = math.sqrt(sum(v * v for v in mid) / len(mid))
    assert abs(20 * math.log10(rms / (16000 / math.sqrt(2)))) < 0.1


def test_resample_same_rate_and_empty_are_identity() -> None:
    """Same rate or no audio: the bytes come back unchanged."""
    pcm = _pcm([1, 2, 3, 4])
    assert resample(pcm, 16000, 16000) == pcm
    assert resample(b"", 8000, 16000) == b""


@given(
    st.integers(min_value=1, max_value=2).flatmap(
        lambda ch: st.tuples(
            st.just(ch), st.binary(max_size=999).filter(lambda b: len(b) % (2 * ch))
        )
    )
)
def test_resample_refuses_partial_frames(case: tuple[int, bytes]) -> None:
    """PCM that is not whole frames is refused by resample, Resampler and to_mono alike."""
    channels, pcm = case
    with pytest.raises(SaynaValidationError, match=f"{len(pcm)} bytes is not"):
        resample(pcm, 8000, 16000, channels=channels)
    with pytest.raises(SaynaValidationError, match="whole frames"):
        Resampler(8000, 16000, channels).process(pcm)
    if channels == 2:
        with pytest.raises(SaynaValidationError, match="whole frames"):
            to_mono(pcm, 2)


@pytest.mark.parametrize("bad", [0, -8000, 1.5, True, "16000"])
def test_resample_refuses_bad_rates(bad: object) -> None:
    """Rates and channel counts must be positive whole numbers, named in the error."""
    with pytest.raises(SaynaValidationError, match="from_rate must be a positive whole number"):
        resample(b"", bad, 16000)  # type: ignore[arg-type]
    with pytest.raises(SaynaValidationError, match="channels must be"):
        Resampler(8000, 16000, bad)  # type: ignore[arg-type]


@settings(max_examples=60, deadline=None)
@given(
    src=st.sampled_from(RATES),
    dst=st.sampled_from(RATES),
    channels=st.integers(min_value=1, max_value=2),
    samples=st.lists(st.integers(-32768, 32767), max_size=3000),
    cuts=st.lists(st.integers(min_value=0, max_value=3000), max_size=8),
)
def test_streaming_equals_one_shot(
    src: int, dst: int, channels: int, samples: list[int], cuts: list[int]
) -> None:
    """Cut on any frame edges, a Resampler gives resample()'s length and samples, within 4 LSB."""
    frames = len(samples) // channels
    pcm = _pcm(samples[: frames * channels])
    edges = sorted({min(c, frames) * 2 * channels for c in cuts} | {0, len(pcm)})
    stream = Resampler(src, dst, channels)
    parts = [stream.process(pcm[a:b]) for a, b in itertools.pairwise(edges)]
    parts.append(stream.flush())
    streamed, whole = (
        _samples(b"".join(parts)),
        _samples(resample(pcm, src, dst, channels=channels)),
    )
    assert len(streamed) == len(whole)
    assert all(abs(a - b) <= STREAM_TOLERANCE for a, b in zip(streamed, whole, strict=True))


def test_resampler_refuses_input_after_flush() -> None:
    """A flushed Resampler says so instead of silently starting a new stream."""
    stream = Resampler(8000, 16000)
    stream.process(b"\x00\x00" * 80)
    stream.flush()
    with pytest.raises(SaynaValidationError, match="flushed"):
        stream.process(b"\x00\x00")
    assert repr(stream) == "<Resampler 8000 Hz -> 16000 Hz, 1 ch>"


def test_without_soxr_resampling_names_the_extra_and_g711_still_works() -> None:
    """Without soxr, resampling raises SaynaAudioError naming the extra; G.711 needs nothing."""
    code = (
        "import sys; sys.modules['soxr'] = None\n"
        "from sayna import SaynaAudioError\n"
        "from sayna.audio import resample, ulaw_encode, Resampler\n"
        "assert ulaw_encode(b'\\x00\\x00') == b'\\xff'\n"
        "assert resample(b'\\x00\\x00', 8000, 8000) == b'\\x00\\x00'\n"
        "calls = (lambda: resample(b'\\x00\\x00', 8000, 16000), lambda: Resampler(8000, 16000))\n"
        "for call in calls:\n"
        "    try:\n"
        "        call()\n"
        "    except SaynaAudioError as exc:\n"
        "        print(exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    lines = done.stdout.splitlines()
    assert len(lines) == 2
    assert all("pip install 'sayna[resample]'" in line for line in lines)
    assert SaynaAudioError.__mro__[1].__name__ == "SaynaError"


# --- channels -----------------------------------------------------------------


def test_to_mono_averages_channels() -> None:
    """Stereo frames become their average, rounding down as integer division does."""
    assert _samples(to_mono(_pcm([100, 300, -1, 0, 32767, 32767]), 2)) == [200, -1, 32767]
    assert to_mono(_pcm([5, 6]), 1) == _pcm([5, 6])


def test_to_channels_copies_mono_and_refuses_ambiguous_changes() -> None:
    """Mono is copied to every channel; stereo to three channels has no one answer: refused."""
    assert _samples(to_channels(_pcm([1, -2]), 1, 2)) == [1, 1, -2, -2]
    assert _samples(to_channels(_pcm([1, 3]), 2, 1)) == [2]
    with pytest.raises(SaynaValidationError, match="cannot turn 2-channel audio into 3"):
        to_channels(_pcm([1, 3]), 2, 3)


@given(st.integers(min_value=1, max_value=6), st.lists(st.integers(-32768, 32767), max_size=600))
def test_to_mono_stays_in_range(channels: int, samples: list[int]) -> None:
    """Mixing any number of channels keeps every sample within 16 bits, one per frame."""
    frames = len(samples) // channels
    mono = _samples(to_mono(_pcm(samples[: frames * channels]), channels))
    assert len(mono) == frames
    assert all(-32768 <= v <= 32767 for v in mono)
