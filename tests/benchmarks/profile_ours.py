"""Profile one scenario of ``sayna`` with cProfile in every thread (reader, dispatcher, caller).

    python tests/benchmarks/profile_ours.py events_iter [--repeats 5] [--sort tottime] [--top 30]

Starts the benchmark server, runs the scenario once to warm up, then ``--repeats``
times under cProfile; the threads' statistics are merged and printed. cProfile
adds a cost per Python call, so read it for *where* the time goes, and take
timings from ``run.py`` only. For a sampling view (syscalls, GIL holder) use
py-spy: ``py-spy record --threads --gil -f raw -o out.txt -- python this_script.py ...``.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import _ours  # this folder is sys.path[0] when the script runs

HERE = Path(__file__).resolve().parent

SCENARIOS: dict[str, Any] = {
    "events_iter": lambda url: _ours.events(url, 20_000, "iter"),
    "events_cb": lambda url: _ours.events(url, 20_000, "cb"),
    "tts_iter": lambda url: _ours.tts(url, 5000, 3200, "iter"),
    "tts_cb": lambda url: _ours.tts(url, 5000, 3200, "cb"),
    "upload": lambda url: _ours.upload(url, 5000, 3200),
    "rtt": lambda url: _ours.rtt(url, 500),
    "rest": lambda url: _ours.rest(url, 300),
    "connect": lambda url: _ours.connect(url, 50),
    # Issue #26's workloads.
    "i26_events": lambda url: _ours.push(url, 20_000),
    "i26_upload": lambda url: _ours.upload(url, 5000, 3200, then_clear=True),
    "i26_rtt": lambda url: _ours.rtt_done(url, 500, 320),
    "i26_many": lambda url: _ours.many_push(url, 1000, 100),
    "i26_rest": lambda url: _ours.rest(url, 300),
}

_profiles: list[cProfile.Profile] = []
_lock = threading.Lock()


def _profiled_run(original: Any) -> Any:
    def run(self: threading.Thread) -> None:
        profile = cProfile.Profile()
        with _lock:
            _profiles.append(profile)
        profile.enable()
        try:
            original(self)
        finally:
            profile.disable()

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sort", default="tottime")
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()

    server = subprocess.Popen(
        [sys.executable, str(HERE / "server.py")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    assert server.stdin is not None
    try:
        url = f"http://127.0.0.1:{int(server.stdout.readline().split()[1])}"
        scenario = SCENARIOS[args.scenario]
        scenario(url)  # warm-up, unprofiled
        threading.Thread.run = _profiled_run(threading.Thread.run)  # type: ignore[method-assign]
        main_profile = cProfile.Profile()
        main_profile.enable()
        for _ in range(args.repeats):
            scenario(url)
        main_profile.disable()
    finally:
        server.stdin.close()
        server.wait()
    stats = pstats.Stats(main_profile)
    with _lock:
        for profile in _profiles:
            stats.add(profile)
    stats.sort_stats(args.sort).print_stats(args.top)


if __name__ == "__main__":
    main()
