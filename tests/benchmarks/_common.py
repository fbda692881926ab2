"""What the three benchmarked clients share: configs, scenario names, process probes."""

from __future__ import annotations

import os
import resource
import threading
import time

API_KEY = "bench-key"
STT = {
    "provider": "deepgram",
    "model": "nova-3",
    "language": "en-US",
    "sample_rate": 16000,
    "channels": 1,
    "punctuation": True,
    "encoding": "linear16",
}
TTS = {"provider": "deepgram", "model": "aura-2", "voice_id": "aura-asteria-en"}
# 100 ms of 16 kHz mono linear16; also the trigger of the events scenario.
CHUNK = bytes(range(256)) * 12 + bytes(128)
assert len(CHUNK) == 3200


def events_id(n: int) -> str:
    return f"bench-events-{n}"


def tts_id(frames: int, size: int) -> str:
    return f"bench-tts-{frames}x{size}"


def upload_id(total: int) -> str:
    return f"bench-upload-{total}"


def push_id(n: int) -> str:
    """N ``stt_result`` then ``tts_playback_complete``, sent unasked right after ``ready``."""
    return f"bench-push-{n}"


RTT_ID = "bench-rtt"
# Audio counted; ``clear`` answered with the count (issue #26's upload).
CLEAR_ID = "bench-clear"
CONVERSATION_ID = "bench-conversation"
CONNECT_ID = "bench-connect"


def config_message(stream_id: str) -> dict[str, object]:
    """The config frame a plain websocket-client user writes by hand (docs/protocol.rst §4.2)."""
    return {
        "type": "config",
        "stream_id": stream_id,
        "audio": True,
        "stt_config": STT,
        "tts_config": TTS,
    }


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def cpu_seconds() -> float:
    """User + system CPU time of this process, every thread included."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _status_field(name: str) -> int:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(name):
                return int(line.split()[1])
    raise LookupError(name)


def thread_count() -> int:
    """Kernel threads of this process (``Threads:`` in /proc/self/status)."""
    return _status_field("Threads:")


def rss_bytes() -> int:
    with open("/proc/self/statm", encoding="ascii") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def settled_rss_bytes() -> int:
    """RSS after a full collection, so freed garbage does not count as held memory."""
    import gc

    gc.collect()
    return rss_bytes()


def held_per_session(
    sessions: int, rss0: int, threads0: int, cpu0: float, opened_cpu: float
) -> dict[str, float]:
    """What N open, idle sessions hold: RSS and threads per session, CPU per connect."""
    count = max(sessions, 1)
    return {
        "idle_rss_kb": (settled_rss_bytes() - rss0) / 1024 / count,
        "threads_per_session": (thread_count() - threads0) / count,
        "cpu_per_connect_ms": (opened_cpu - cpu0) / count * 1e3,
    }


class RSSWatch:
    """Peak RSS growth from ``start()`` on: kernel high-water mark, sampled as a fallback."""

    def __init__(self, interval: float = 0.02) -> None:
        self._interval = interval
        self._stop = threading.Event()
        self.baseline = 0
        self.peak = 0
        self._hwm_reset = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        try:
            # "5" resets VmHWM to the current RSS (Linux >= 4.0).
            with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
                f.write("5")
            self._hwm_reset = True
        except OSError:
            self._hwm_reset = False
        self.baseline = self.peak = rss_bytes()
        self._thread = threading.Thread(target=self._sample, name="rss-watch", daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(self._interval):
            self.peak = max(self.peak, rss_bytes())

    def stop(self) -> dict[str, float]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        end = rss_bytes()
        peak = max(self.peak, end)
        if self._hwm_reset:
            peak = max(peak, _status_field("VmHWM:") * 1024)
        mb = 1024 * 1024
        return {
            "baseline_mb": self.baseline / mb,
            "peak_growth_mb": (peak - self.baseline) / mb,
            "end_growth_mb": (end - self.baseline) / mb,
            "hwm_exact": self._hwm_reset,
        }


def many_result(
    sessions: int, n: int, counts: list[int], cpu: float, connect_s: float, memory: dict[str, float]
) -> dict[str, float]:
    """Issue #26's many-session figures: CPU per event (connects in), kB and connect per session."""
    total = sum(counts)
    return {
        "cpu_per_event_all_us": cpu / max(total, 1) * 1e6,
        "peak_rss_kb": memory["peak_growth_mb"] * 1024 / max(sessions, 1),
        "connect_mean": connect_s / max(sessions, 1),
        "count": total,
        "expected": sessions * n,
    }


def rest_result(health_s: float, speak_s: float, ok: int, n: int) -> dict[str, float]:
    """The REST scenario's figures: N ``health`` and N ``speak_rest`` calls, OK of them right."""
    return {
        "health_seconds": health_s,
        "speak_seconds": speak_s,
        "seconds": health_s + speak_s,
        "count": ok,
        "expected": 2 * n,
    }


class Stopwatch:
    __slots__ = ("elapsed", "start")

    def __enter__(self) -> Stopwatch:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.elapsed = time.perf_counter() - self.start
