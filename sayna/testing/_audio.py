"""The stand-in speech codec, and the audio containers the stand-in TTS can emit.

Speech is 16-bit little-endian mono PCM that *encodes* the text: a sync symbol,
then every byte of ``length (2 bytes) + UTF-8 text + CRC-32 (4 bytes)`` as two
4-bit symbols. A symbol is 26 ms of a soft triangle tone whose pitch names its
value, so a sentence sounds like a short modem melody and lasts as long as
speech would (about 52 ms per ASCII character). Waveforms use integer arithmetic
only, so the same text gives the same bytes on every platform.

The decoder recognises symbols by exact byte comparison with the templates for
*its* sample rate, so audio generated at another rate, chunks that were dropped,
duplicated, reordered or altered never yield the original text: a misaligned
symbol is unknown, and anything else fails the CRC.
"""

from __future__ import annotations

import functools
import struct
import sys
import zlib
from array import array
from collections.abc import Iterator

__all__ = [
    "SpeechDecoder",
    "decode_speech",
    "encode_speech",
    "speech_duration",
]

SYMBOL_MS = 26
_AMPLITUDE = 9000
_PHASE = 1 << 16
_SYNC = 16  # template index of the sync symbol
_FREQUENCIES = (*tuple(600 + 110 * n for n in range(16)), 2700)
_MAX_FRAME_PAYLOAD = 0xFFFF


def symbol_samples(sample_rate: int) -> int:
    """Samples per symbol at ``sample_rate``."""
    return max(16, sample_rate * SYMBOL_MS // 1000)


@functools.lru_cache(maxsize=32)
def _templates(sample_rate: int) -> tuple[tuple[bytes, ...], dict[bytes, int]]:
    n = symbol_samples(sample_rate)
    ramp = max(1, n // 8)
    out: list[bytes] = []
    for freq in _FREQUENCIES:
        samples = array("h")
        for i in range(n):
            phase = (i * freq * _PHASE // sample_rate) % _PHASE
            tri = phase * 4 - _PHASE if phase < _PHASE // 2 else 3 * _PHASE - phase * 4
            env = min(i + 1, ramp, n - i)
            samples.append(tri * _AMPLITUDE * env // (_PHASE * ramp))
        if sys.byteorder == "big":
            samples.byteswap()
        out.append(samples.tobytes())
    table = {template: index for index, template in enumerate(out[:_SYNC])}
    if len(table) != _SYNC or out[_SYNC] in table:
        raise ValueError(f"stand-in speech is not supported at {sample_rate} Hz")
    return tuple(out), table


def _frames(text: str) -> Iterator[bytes]:
    raw = text.encode("utf-8")
    # 65535 bytes per frame; longer texts become several utterances.
    while raw:
        cut = min(len(raw), _MAX_FRAME_PAYLOAD)
        while cut < len(raw) and (raw[cut] & 0xC0) == 0x80:
            cut -= 1  # never split a UTF-8 sequence
        head, raw = raw[:cut], raw[cut:]
        body = struct.pack(">H", len(head)) + head
        yield body + struct.pack(">I", zlib.crc32(body))


def encode_speech(text: str, sample_rate: int = 16000) -> bytes:
    """16-bit LE mono PCM that the stand-in STT at ``sample_rate`` hears as ``text``."""
    if sample_rate <= 0:
        raise ValueError("sample_rate must be positive")
    templates, _ = _templates(sample_rate)
    parts: list[bytes] = []
    for frame in _frames(text):
        parts.append(templates[_SYNC])
        for byte in frame:
            parts.append(templates[byte >> 4])
            parts.append(templates[byte & 0x0F])
    return b"".join(parts)


def speech_duration(text: str) -> float:
    """Seconds of audio :func:`encode_speech` produces for ``text``."""
    symbols = sum(1 + 2 * len(frame) for frame in _frames(text))
    return symbols * SYMBOL_MS / 1000


# Decoder events: ("interim", text), ("final", text), ("noise",) for a turn of
# loud audio that did not decode (the session answers it with a scripted text).
Event = tuple[str, ...]


class SpeechDecoder:
    """Streaming recogniser for :func:`encode_speech` audio at one sample rate.

    Feed raw bytes in any chunking. Loud audio that is not stand-in speech is
    tracked as a *noise turn*, which ends after ``endpoint_ms`` of silence in
    the audio, when stand-in speech starts, or when :meth:`end_turn` is called
    (the session does that when audio stops arriving). Speech cut off before
    its end (the audio stopped mid-sentence) is finalised by :meth:`end_turn`
    with the words heard whole, as a recogniser does when the speaker stops.
    """

    def __init__(
        self,
        sample_rate: int,
        *,
        decodable: bool = True,
        endpoint_ms: int = 300,
        threshold: int = 400,
    ) -> None:
        self._rate = sample_rate
        self._decodable = decodable
        try:
            templates, self._table = _templates(sample_rate)
            self._sync = templates[_SYNC]
        except ValueError:
            self._decodable = False
            self._table, self._sync = {}, b"\x00" * 4
        self._symbol_bytes = len(self._sync)
        self._buf = bytearray()
        self._threshold = threshold
        self._block = max(1, sample_rate // 100)  # 10 ms energy blocks
        self._endpoint = sample_rate * endpoint_ms // 1000
        self._min_speech = sample_rate // 10
        self._max_turn = sample_rate * 15
        self._loud = 0
        self._quiet = 0
        self._in_frame = False
        self._frame = bytearray()
        self._high: int | None = None
        self._interim = ""

    @property
    def speech_pending(self) -> bool:
        """Whether an utterance has started and not ended (its audio stopped mid-way)."""
        return self._in_frame

    @property
    def noise_pending(self) -> bool:
        """Whether loud undecoded audio is waiting for its turn to end."""
        return self._loud > 0 and not self._in_frame

    def feed(self, data: bytes) -> list[Event]:
        """Consume audio bytes; return the recognition events they complete."""
        events: list[Event] = []
        self._buf += data
        if not self._decodable:
            self._noise(bytes(self._buf), events)
            self._buf.clear()
            return events
        while True:
            if self._in_frame:
                if not self._read_symbols(events):
                    return events
                continue
            index = self._buf.find(self._sync)
            if index < 0:
                keep = self._symbol_bytes - 1
                if len(self._buf) > keep:
                    cut = len(self._buf) - keep
                    self._noise(bytes(self._buf[:cut]), events)
                    del self._buf[:cut]
                return events
            if index:
                self._noise(bytes(self._buf[:index]), events)
            self._end_noise(events)
            del self._buf[: index + self._symbol_bytes]
            self._in_frame = True
            self._frame.clear()
            self._high = None
            self._interim = ""

    def end_turn(self) -> list[Event]:
        """End a pending turn now (audio stopped arriving): noise, or speech cut off."""
        events: list[Event] = []
        if self._in_frame:
            # The words completed so far are the last interim; the word being
            # spoken when the audio stopped is never whole, so it is not heard
            # (and a cut-off utterance never yields its full text).
            self._in_frame = False
            self._buf.clear()
            if self._interim:
                events.append(("final", self._interim))
            self._interim = ""
        else:
            self._end_noise(events)
        return events

    def _read_symbols(self, events: list[Event]) -> bool:
        size = self._symbol_bytes
        while len(self._buf) >= size:
            value = self._table.get(bytes(self._buf[:size]))
            if value is None:
                self._abandon_frame()
                return True
            del self._buf[:size]
            if self._high is None:
                self._high = value
                continue
            byte = (self._high << 4) | value
            self._high = None
            self._frame.append(byte)
            if self._frame_complete(events):
                return True
            if byte == 0x20 and 2 < len(self._frame) <= self._payload_end():
                self._emit_interim(events)
        return False

    def _payload_end(self) -> int:
        return ((self._frame[0] << 8) | self._frame[1]) + 2

    def _frame_complete(self, events: list[Event]) -> bool:
        if len(self._frame) < 2:
            return False
        length = (self._frame[0] << 8) | self._frame[1]
        if len(self._frame) < length + 6:
            return False
        body = bytes(self._frame[: length + 2])
        (crc,) = struct.unpack(">I", self._frame[length + 2 : length + 6])
        try:
            if crc != zlib.crc32(body):
                raise ValueError("checksum mismatch")
            text = body[2:].decode("utf-8")
        except ValueError:
            self._abandon_frame()
            return True
        self._in_frame = False
        if text.strip():
            if text.strip() != self._interim:
                events.append(("interim", text.strip()))
            events.append(("final", text))
        return True

    def _emit_interim(self, events: list[Event]) -> None:
        partial = bytes(self._frame[2:]).decode("utf-8", errors="ignore").strip()
        if partial and partial != self._interim:
            self._interim = partial
            events.append(("interim", partial))

    def _abandon_frame(self) -> None:
        # A broken frame was loud speech nobody can understand: a noise turn.
        self._loud += (1 + 2 * len(self._frame)) * (self._symbol_bytes // 2)
        self._quiet = 0
        self._in_frame = False

    def _noise(self, data: bytes, events: list[Event]) -> None:
        usable = len(data) & ~1
        if not usable:
            return
        samples = array("h", data[:usable])
        if sys.byteorder == "big":
            samples.byteswap()
        block = self._block
        for start in range(0, len(samples), block):
            part = samples[start : start + block]
            if max(part) > self._threshold or min(part) < -self._threshold:
                self._loud += len(part)
                self._quiet = 0
                if self._loud >= self._max_turn:
                    self._end_noise(events)
            elif self._loud:
                self._quiet += len(part)
                if self._quiet >= self._endpoint:
                    self._end_noise(events)

    def _end_noise(self, events: list[Event]) -> None:
        if self._loud >= self._min_speech:
            events.append(("noise",))
        self._loud = 0
        self._quiet = 0


def decode_speech(pcm: bytes, sample_rate: int = 16000) -> str | None:
    """The text encoded in ``pcm`` (all final utterances joined by a space), or None."""
    decoder = SpeechDecoder(sample_rate)
    finals = [event[1] for event in decoder.feed(pcm) if event[0] == "final"]
    return " ".join(finals) if finals else None


# --- containers and encodings for the TTS output formats ----------------------


def wav_header(data_len: int, sample_rate: int, channels: int = 1, bits: int = 16) -> bytes:
    """A canonical 44-byte PCM WAV header."""
    block = channels * bits // 8
    return (
        b"RIFF"
        + struct.pack("<I", 36 + data_len)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, channels, sample_rate, sample_rate * block, block, bits)
        + b"data"
        + struct.pack("<I", data_len)
    )


def _samples(pcm: bytes) -> array[int]:
    samples = array("h", pcm[: len(pcm) & ~1])
    if sys.byteorder == "big":
        samples.byteswap()
    return samples


_ULAW_END = (0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF)
_ALAW_END = (0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF)


def _segment(value: int, ends: tuple[int, ...]) -> int:
    for index, end in enumerate(ends):
        if value <= end:
            return index
    return len(ends)


def _ulaw(sample: int) -> int:
    value = sample >> 2
    mask = 0xFF
    if value < 0:
        value, mask = -value, 0x7F
    value = min(value, 8159) + 0x21
    seg = _segment(value, _ULAW_END)
    if seg >= 8:
        return 0x7F ^ mask
    return ((seg << 4) | ((value >> (seg + 1)) & 0x0F)) ^ mask


def _alaw(sample: int) -> int:
    value = sample >> 3
    mask = 0xD5
    if value < 0:
        value, mask = -value - 1, 0x55
    seg = _segment(value, _ALAW_END)
    if seg >= 8:
        return 0x7F ^ mask
    shift = 1 if seg < 2 else seg
    return ((seg << 4) | ((value >> shift) & 0x0F)) ^ mask


@functools.lru_cache(maxsize=2)
def _g711_table(kind: str) -> bytes:
    encode = _ulaw if kind == "ulaw" else _alaw
    return bytes(encode(s - 65536 if s >= 32768 else s) for s in range(65536))


def g711(pcm: bytes, kind: str) -> bytes:
    """G.711 µ-law (``kind="ulaw"``) or A-law (``"alaw"``) bytes of 16-bit PCM."""
    table = _g711_table(kind)
    return bytes(table[s & 0xFFFF] for s in _samples(pcm))


_MP3_RATES = {  # sample rate -> (version bits, rate index, samples per frame)
    44100: (3, 0, 1152),
    48000: (3, 1, 1152),
    32000: (3, 2, 1152),
    22050: (2, 0, 576),
    24000: (2, 1, 576),
    16000: (2, 2, 576),
    11025: (0, 0, 576),
    12000: (0, 1, 576),
    8000: (0, 2, 576),
}


def mp3_silence(seconds: float, sample_rate: int) -> bytes:
    """Valid mono MPEG Layer III frames that decode as ``seconds`` of silence.

    The stand-in does not encode MP3; it uses the MPEG rate nearest to
    ``sample_rate``. All-zero side information means "no audio data".
    """
    rate = min(_MP3_RATES, key=lambda r: (abs(r - sample_rate), r))
    version, rate_index, per_frame = _MP3_RATES[rate]
    if version == 3:
        bitrate_index, kbps, side, factor = 9, 128, 17, 144
    else:
        bitrate_index, kbps, side, factor = 8, 64, 9, 72
    size = factor * kbps * 1000 // rate
    header = bytes(
        (0xFF, 0xE0 | (version << 3) | 0x03, (bitrate_index << 4) | (rate_index << 2), 0xC4)
    )
    frame = header + bytes(size - 4)
    assert side < size
    count = max(1, -(-round(seconds * rate) // per_frame))
    return frame * count


def _ogg_crc_table() -> list[int]:
    table = []
    for index in range(256):
        crc = index << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else (crc << 1)
        table.append(crc & 0xFFFFFFFF)
    return table


_OGG_CRC = _ogg_crc_table()


def _ogg_crc(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ _OGG_CRC[((crc >> 24) & 0xFF) ^ byte]
    return crc


def _ogg_page(packets: list[bytes], *, granule: int, seq: int, flags: int) -> bytes:
    lacing = bytearray()
    for packet in packets:
        lacing += b"\xff" * (len(packet) // 255) + bytes((len(packet) % 255,))
    header = (
        b"OggS"
        + struct.pack("<BBqIII", 0, flags, granule, 0x5A594E41, seq, 0)
        + bytes((len(lacing),))
        + bytes(lacing)
    )
    page = header + b"".join(packets)
    crc = _ogg_crc(page)
    return page[:22] + struct.pack("<I", crc) + page[26:]


_OPUS_SILENCE = b"\xf8\xff\xfe"  # CELT fullband 20 ms frame flagged silent
_OPUS_PRESKIP = 312


def ogg_opus_silence(seconds: float, sample_rate: int) -> bytes:
    """A valid mono Ogg Opus stream of ``seconds`` of silence.

    The stand-in does not encode Opus; it writes silent 20 ms packets, so a
    player plays (and a probe measures) the right duration.
    """
    head = b"OpusHead" + struct.pack("<BBHIhB", 1, 1, _OPUS_PRESKIP, sample_rate, 0, 0)
    vendor = b"sayna.testing"
    tags = b"OpusTags" + struct.pack("<I", len(vendor)) + vendor + struct.pack("<I", 0)
    pages = [
        _ogg_page([head], granule=0, seq=0, flags=0x02),
        _ogg_page([tags], granule=0, seq=1, flags=0),
    ]
    count = max(1, round(seconds * 50))
    seq, done = 2, 0
    while done < count:
        batch = min(50, count - done)
        done += batch
        granule = _OPUS_PRESKIP + done * 960
        flags = 0x04 if done == count else 0
        pages.append(_ogg_page([_OPUS_SILENCE] * batch, granule=granule, seq=seq, flags=flags))
        seq += 1
    return b"".join(pages)
