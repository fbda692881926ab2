"""The stand-in speech codec: exact round trips at any chunking, and broken audio never passes."""

from __future__ import annotations

import hashlib
import random
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sayna.testing import decode_speech, encode_speech, speech_duration
from sayna.testing._audio import (
    SpeechDecoder,
    _ogg_crc,
    g711,
    mp3_silence,
    ogg_opus_silence,
)

TEXT = "Hello there, how are you today? Ça va très bien, merci. 日本語も。"


def _chunked(data: bytes, rng: random.Random, largest: int = 3001) -> list[bytes]:
    chunks, start = [], 0
    while start < len(data):
        size = rng.randint(1, largest)
        chunks.append(data[start : start + size])
        start += size
    return chunks


def _finals(chunks: list[bytes], rate: int = 16000) -> list[str]:
    decoder = SpeechDecoder(rate)
    events = [event for chunk in chunks for event in decoder.feed(chunk)]
    events += decoder.end_turn()
    return [event[1] for event in events if event[0] == "final"]


def test_encoding_is_stable_across_versions_and_platforms() -> None:
    """The waveform is integer-only; its bytes for a fixed text never change."""
    digest = hashlib.sha256(encode_speech("Hello", 16000)).hexdigest()
    assert digest == "fd760ad52caa800e8ed0a10f56ed1f356d077932006227167c9fb6783996a372"


@pytest.mark.parametrize("rate", [8000, 11025, 16000, 22050, 24000, 44100, 48000])
def test_round_trip_at_every_common_rate(rate: int) -> None:
    """Audio generated at a rate decodes to exactly the text at that rate."""
    assert decode_speech(encode_speech(TEXT, rate), rate) == TEXT


def test_duration_is_about_fifty_to_eighty_ms_per_character() -> None:
    """A sentence lasts like speech: roughly 50-80 ms of audio per character."""
    sentence = "Your order has shipped and will arrive on Tuesday."
    audio = encode_speech(sentence, 16000)
    seconds = len(audio) / 2 / 16000
    assert seconds == pytest.approx(speech_duration(sentence))
    assert 0.05 <= seconds / len(sentence) <= 0.08


def test_odd_chunk_boundaries_decode_exactly() -> None:
    """Any chunking, odd byte counts included, yields the same final transcript."""
    audio = encode_speech(TEXT, 16000)
    rng = random.Random(7)
    for _ in range(25):
        assert _finals(_chunked(audio, rng)) == [TEXT]
    assert _finals([bytes([b]) for b in audio[:5000]] + [audio[5000:]]) == [TEXT]


@settings(max_examples=40, deadline=None)
@given(text=st.text(min_size=1, max_size=40).filter(str.strip), seed=st.integers(0, 2**16))
def test_any_text_survives_any_chunking(text: str, seed: int) -> None:
    """Property: every non-blank text round-trips through random chunking."""
    audio = encode_speech(text, 8000)
    assert _finals(_chunked(audio, random.Random(seed), largest=900), 8000) == [text]


@pytest.mark.parametrize("damage", ["drop", "duplicate", "swap", "flip_bit", "truncate"])
def test_damaged_audio_never_yields_the_text(damage: str) -> None:
    """Dropped, duplicated, reordered, altered or missing chunks never give the original text."""
    rng = random.Random(damage)
    audio = encode_speech(TEXT, 16000)
    for _ in range(30):
        chunks = _chunked(audio, rng, largest=1500)
        index = rng.randrange(len(chunks) - 1)
        if damage == "drop":
            del chunks[index]
        elif damage == "duplicate":
            chunks.insert(index, chunks[index])
        elif damage == "swap":
            chunks[index], chunks[index + 1] = chunks[index + 1], chunks[index]
            if chunks[index] == chunks[index + 1]:
                continue
        elif damage == "flip_bit":
            broken = bytearray(chunks[index])
            broken[rng.randrange(len(broken))] ^= 1 << rng.randrange(8)
            chunks[index] = bytes(broken)
        else:
            chunks = chunks[:-1]
        assert TEXT not in _finals(chunks)


def test_symbol_aligned_damage_is_caught_by_the_checksum() -> None:
    """Swapping whole symbols keeps every symbol valid; the CRC still rejects the utterance."""
    audio = encode_speech("abcdefgh", 16000)
    symbol = 16000 * 26 // 1000 * 2
    symbols = [audio[i : i + symbol] for i in range(0, len(audio), symbol)]
    symbols[10], symbols[12] = symbols[12], symbols[10]  # low nibbles of 'c' and 'd'
    assert symbols[10] != symbols[12]
    assert _finals(symbols) == []


def test_wrong_sample_rate_is_not_understood() -> None:
    """24 kHz audio means nothing to a 16 kHz recogniser: no resampling, as on the server."""
    assert decode_speech(encode_speech("Hello", 24000), 16000) is None


def test_interims_grow_word_by_word() -> None:
    """Interim results appear at each word boundary before the final."""
    decoder = SpeechDecoder(16000)
    events = decoder.feed(encode_speech("one two three", 16000))
    assert events == [
        ("interim", "one"),
        ("interim", "one two"),
        ("interim", "one two three"),
        ("final", "one two three"),
    ]


def test_two_utterances_in_one_stream() -> None:
    """Back-to-back utterances are recognised separately."""
    audio = encode_speech("first", 16000) + bytes(3200) + encode_speech("second", 16000)
    assert _finals([audio]) == ["first", "second"]


def test_very_long_text_is_split_into_utterances() -> None:
    """Texts beyond one frame's 65535 bytes become several utterances, none of them broken."""
    text = "x" * 70000
    finals = _finals([encode_speech(text, 8000)], 8000)
    assert "".join(finals) == text
    assert len(finals) == 2


def test_blank_text_is_no_audio() -> None:
    """Empty text encodes to nothing."""
    assert encode_speech("", 16000) == b""


def test_g711_reference_points() -> None:
    """µ-law and A-law encode silence and extremes to their standard code points."""
    pcm = struct.pack("<3h", 0, 32767, -32768)
    assert g711(pcm, "ulaw") == bytes([0xFF, 0x80, 0x00])
    assert g711(pcm, "alaw") == bytes([0xD5, 0xAA, 0x2A])


def test_mp3_silence_frames() -> None:
    """Silent MP3 output is a run of identical, correctly sized MPEG frames."""
    data = mp3_silence(1.0, 44100)
    frame = 144 * 128000 // 44100
    assert len(data) % frame == 0
    assert len(data) // frame == -(-44100 // 1152)
    assert data[:4] == bytes([0xFF, 0xFB, 0x90, 0xC4])
    assert mp3_silence(1.0, 16000)[:2] == b"\xff\xf3"  # MPEG-2 at 16 kHz


def test_ogg_opus_silence_pages_are_valid() -> None:
    """Every Ogg page has a correct CRC; headers are OpusHead/OpusTags; the last page ends it."""
    data = ogg_opus_silence(1.3, 24000)
    pos, pages = 0, []
    while pos < len(data):
        assert data[pos : pos + 4] == b"OggS"
        count = data[pos + 26]
        size = 27 + count + sum(data[pos + 27 : pos + 27 + count])
        page = data[pos : pos + size]
        zeroed = page[:22] + b"\0\0\0\0" + page[26:]
        assert struct.unpack("<I", page[22:26])[0] == _ogg_crc(zeroed)
        pages.append(page)
        pos += size
    assert pages[0][28:36] == b"OpusHead"
    assert pages[1][28:36] == b"OpusTags"
    assert pages[0][5] == 0x02
    assert pages[-1][5] == 0x04
    granule = struct.unpack("<q", pages[-1][6:14])[0]
    assert granule == 312 + 65 * 960
