"""How many realtime sessions one process holds: a measurement, not a test.

Runs the local Sayna server in a process of its own, then opens sessions in
this one in steps (each with a callback, so each has its reader and dispatcher
thread), and at each step reports the process's threads and resident memory,
the time to open the step's sessions, and the latency of ``say()`` on a sample
of sessions while all of them stay open. The numbers go in docs/scaling.rst.

    .venv/bin/python tests/integration/measure_sessions.py 50 100 200 400
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from sayna import Sayna, Session, STTConfig, TTSConfig

STT = STTConfig(provider="deepgram", model="nova-3")
TTS = TTSConfig(provider="deepgram", model="aura-asteria-en")


def rss_mb() -> float:
    with open(f"/proc/{os.getpid()}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main(steps: list[int]) -> None:
    port = 18000 + os.getpid() % 1000
    server = subprocess.Popen(  # the server gets a process (and a GIL) of its own
        [sys.executable, "-m", "sayna.testing", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(1.5)
        sessions: list[Session] = []
        heard = [0]
        latencies: list[float] = []

        def timed_say(session: Session) -> None:
            t = time.monotonic()
            session.say("are you still there", timeout=60)
            latencies.append((time.monotonic() - t) * 1000)

        with Sayna(f"http://127.0.0.1:{port}", timeout=60) as client:
            base_rss = rss_mb()
            print("sessions  threads  RSS MB  +MB/session  open s  say p50 ms  say p95 ms")
            for target in steps:
                started = time.monotonic()
                with ThreadPoolExecutor(max_workers=16) as pool:
                    new = list(
                        pool.map(
                            lambda _: client.connect(stt_config=STT, tts_config=TTS, timeout=60),
                            range(target - len(sessions)),
                        )
                    )
                opened = time.monotonic() - started
                for session in new:
                    session.on_any(lambda event: heard.__setitem__(0, heard[0] + 1))
                sessions.extend(new)
                sample = sessions[:: max(1, len(sessions) // 32)]
                latencies.clear()

                with ThreadPoolExecutor(max_workers=8) as pool:
                    list(pool.map(timed_say, sample))
                latencies.sort()
                p95 = latencies[max(0, int(len(latencies) * 0.95) - 1)]
                rss = rss_mb()
                print(
                    f"{len(sessions):8d}  {threading.active_count():7d}  {rss:6.0f}  "
                    f"{(rss - base_rss) / len(sessions):11.2f}  {opened:6.1f}  "
                    f"{statistics.median(latencies):10.0f}  {p95:10.0f}",
                    flush=True,
                )
            # Busy: 64 sessions speaking at once, 4 times each, while all stay open.
            latencies.clear()
            started = time.monotonic()
            with ThreadPoolExecutor(max_workers=64) as pool:
                list(pool.map(lambda s: [timed_say(s) for _ in range(4)], sessions[:64]))
            took = time.monotonic() - started
            latencies.sort()
            print(
                f"busy: {len(latencies)} say() by 64 sessions at once in {took:.1f} s, "
                f"p50 {statistics.median(latencies):.0f} ms, "
                f"p95 {latencies[int(len(latencies) * 0.95) - 1]:.0f} ms; "
                f"{heard[0]} events to callbacks in all"
            )
            started = time.monotonic()
        print(f"closing {len(sessions)} sessions: {time.monotonic() - started:.1f} s")
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main([int(n) for n in sys.argv[1:]] or [50, 100, 200, 400])
