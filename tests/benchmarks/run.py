"""Benchmark ``sayna`` against plain websocket-client/requests and the async SDK.

    python tests/benchmarks/run.py [--quick | --smoke] [--only NAME[,NAME...]] [--out FILE.json]

One loopback server (``server.py``, its own process) serves every client in the
same run. Each client runs in its own worker process (``--worker NAME``): a
long-lived one for the throughput and latency scenarios, a fresh one per run
where the process itself is measured (memory, threads). Repeats are interleaved
across clients, in a rotating order, so that a change in machine load hits all
three alike; the table shows medians and the ratios ours÷SDK and ours÷floor
(lower is better everywhere). See README.rst.
"""

from __future__ import annotations

import argparse
import gc
import http.client
import json
import os
import platform
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
# Where the "ours" worker imports sayna from, when not from the working tree.
SAYNA_PATH_ENV = "SAYNA_BENCH_PATH"
CLIENTS = ("ours", "floor", "sdk")
SCENARIOS = (
    "events",
    "tts",
    "upload",
    "rtt",
    "conversation",
    "rest",
    "rss",
    "concurrent",
    "connect",
    "idle",
    "many",
    "issue26",
)

# Issue #26's workload, exactly as its table gives it, three repeats (also in --quick).
ISSUE26_SIZES: dict[str, Any] = {
    "repeats": 3,
    "push": 20_000,
    "upload": (5000, 3200),
    "rtt": (500, 320),
    "many": (1000, 100),
    "rest": 300,
}

# Sizes per mode. "full" is what issue #8 asks for; "quick" keeps the sizes that
# are cheap and cuts the long ones; "smoke" only proves that everything runs.
SIZES: dict[str, dict[str, Any]] = {
    "full": {
        "repeats": 5,
        "fresh_repeats": 3,
        "warmup": True,
        "events": 20_000,
        "tts": (5000, 3200),
        "upload": (5000, 3200),
        "rtt": 500,
        "conversation": 500,
        "rest": 300,
        "rss": 1_000_000,
        "concurrent": (100, 2000),
        "connect": 50,
        "idle": 200,
        "many": (1000, 100),
        "issue26": ISSUE26_SIZES,
    },
    "quick": {
        "repeats": 3,
        "fresh_repeats": 1,
        "warmup": True,
        "events": 20_000,
        "tts": (5000, 3200),
        "upload": (5000, 3200),
        "rtt": 500,
        "conversation": 300,
        "rest": 300,
        "rss": 100_000,
        "concurrent": (100, 300),
        "connect": 20,
        "idle": 200,
        "many": (1000, 100),
        "issue26": ISSUE26_SIZES,
    },
    "smoke": {
        "repeats": 1,
        "fresh_repeats": 1,
        "warmup": False,
        "events": 300,
        "tts": (40, 3200),
        "upload": (40, 3200),
        "rtt": 10,
        "conversation": 10,
        "rest": 10,
        "rss": 2000,
        "concurrent": (4, 50),
        "connect": 3,
        "idle": 5,
        "many": (6, 10),
        "issue26": {
            "repeats": 1,
            "push": 300,
            "upload": (40, 3200),
            "rtt": (10, 320),
            "many": (6, 10),
            "rest": 10,
        },
    },
}

# (unit, how to show it, scale) per metric; every metric is "lower is better".
UNITS = {
    "seconds": ("ms", 1e3),
    "p50": ("ms", 1e3),
    "p99": ("ms", 1e3),
    "health_seconds": ("ms", 1e3),
    "speak_seconds": ("ms", 1e3),
    "peak_growth_mb": ("MB", 1.0),
    "cpu_per_event_us": ("us/event", 1.0),
    "threads": ("threads", 1.0),
    "cpu_per_connect_ms": ("ms", 1.0),
    "cpu_per_event_all_us": ("us/event", 1.0),
    "idle_rss_kb": ("kB", 1.0),
    "threads_per_session": ("threads", 1.0),
    "respond_p50": ("us", 1e6),
    "respond_p99": ("us", 1e6),
    "clear_p50": ("us", 1e6),
    "clear_p99": ("us", 1e6),
    "peak_rss_kb": ("kB", 1.0),
    "connect_mean": ("ms", 1e3),
}

# Targets of issue #8, as (row, compared with, bound).
TARGETS = {
    "events_iter": ("sdk", 0.8),
    "events_cb": ("sdk", 0.8),
    "tts_iter": ("sdk", 1.0),
    "tts_cb": ("sdk", 1.0),
    "upload": ("sdk", 1.0),
    "rtt_p50": ("sdk", 1.0),
    "rtt_p99": ("sdk", 1.0),
    # Issue 17 tightened issue 8's 1.1x plain requests.
    "rest_health": ("floor", 0.8),
    "rest_speak": ("floor", 0.8),
    "rss_cb": ("MB", 20.0),
    # Issue 17.
    "connect_p50": ("sdk", 1.0),
    "connect_cpu": ("sdk", 1.0),
    "idle_rss": ("sdk", 2.0),
    "many_cpu": ("sdk", 1.0),
}


# Issue #26's table, in its order: (row, compared with, bound). tts_iter is the
# issue's TTS workload as it stands (one speak, 5000 x 3200 B, read by events()).
ISSUE26 = (
    ("i26_events", "sdk", 0.5),
    ("tts_iter", "sdk", 0.8),
    ("i26_upload", "sdk", 0.75),
    ("i26_rtt_p50", "sdk", 0.9),
    ("i26_many_cpu", "sdk", 1.0),
    ("i26_many_rss", "sdk", 2.0),
    ("i26_many_connect", "sdk", 1.0),
    ("i26_rest", "floor", 1.0),
)


def issue26_jobs(sizes: dict[str, Any]) -> list[dict[str, Any]]:
    """The workloads of issue #26 that no existing scenario already is."""
    i26 = sizes["issue26"]
    frames, size = i26["upload"]
    rounds, rtt_size = i26["rtt"]
    sessions, per_session = i26["many"]
    return [
        job("issue26", "i26_events", {"n": i26["push"]}, {"i26_events": "seconds"}, fn="push"),
        job(
            "issue26",
            "i26_upload",
            {"frames": frames, "size": size, "then_clear": True},
            {"i26_upload": "seconds"},
            fn="upload",
        ),
        job(
            "issue26",
            "i26_rtt",
            {"rounds": rounds, "size": rtt_size},
            {"i26_rtt_p50": "p50"},
            fn="rtt_done",
        ),
        job(
            "issue26",
            "i26_many",
            {"sessions": sessions, "n": per_session},
            {
                "i26_many_cpu": "cpu_per_event_all_us",
                "i26_many_rss": "peak_rss_kb",
                "i26_many_connect": "connect_mean",
            },
            fresh=True,
            fn="many_push",
        ),
        # The plain-requests baseline with trust_env=False; the "rest" job keeps the default.
        job(
            "issue26",
            "i26_rest",
            {"n": i26["rest"], "trust_env": False},
            {"i26_rest": "seconds"},
            fn="rest",
        ),
    ]


def with_repeats(specs: list[dict[str, Any]], repeats: int) -> list[dict[str, Any]]:
    for spec in specs:
        spec["repeats"] = repeats
    return specs


def jobs(sizes: dict[str, Any]) -> list[dict[str, Any]]:
    """Every measured job: scenario, worker function, parameters, table rows."""
    n, (tf, tb), (uf, ub) = sizes["events"], sizes["tts"], sizes["upload"]
    sessions, per_session = sizes["concurrent"]
    return [
        job("events", "events_iter", {"n": n, "mode": "iter"}, {"events_iter": "seconds"}),
        job("events", "events_cb", {"n": n, "mode": "cb"}, {"events_cb": "seconds"}),
        job("tts", "tts_iter", {"frames": tf, "size": tb, "mode": "iter"}, {"tts_iter": "seconds"}),
        job("tts", "tts_cb", {"frames": tf, "size": tb, "mode": "cb"}, {"tts_cb": "seconds"}),
        job("upload", "upload", {"frames": uf, "size": ub}, {"upload": "seconds"}),
        job("rtt", "rtt", {"rounds": sizes["rtt"]}, {"rtt_p50": "p50", "rtt_p99": "p99"}),
        job(
            "conversation",
            "conversation",
            {"rounds": sizes["conversation"]},
            {
                "conv_respond_p50": "respond_p50",
                "conv_respond_p99": "respond_p99",
                "conv_clear_p50": "clear_p50",
                "conv_clear_p99": "clear_p99",
            },
            only=("ours",),  # neither websocket-client nor the SDK has a conversation layer
        ),
        job(
            "rest",
            "rest",
            {"n": sizes["rest"]},
            {"rest_health": "health_seconds", "rest_speak": "speak_seconds"},
        ),
        job(
            "rss",
            "rss_cb",
            {"n": sizes["rss"], "mode": "cb"},
            {"rss_cb": "peak_growth_mb"},
            fresh=True,
            repeats=1,
        ),
        job(
            "rss",
            "rss_slow_iter",
            {"n": sizes["rss"], "mode": "slow_iter"},
            {"rss_slow_iter": "peak_growth_mb"},
            fresh=True,
            repeats=1,
        ),
        job(
            "concurrent",
            "concurrent",
            {"sessions": sessions, "n": per_session},
            {"concurrent_cpu": "cpu_per_event_us", "concurrent_threads": "threads"},
            fresh=True,
            repeats=sizes["fresh_repeats"],
        ),
        job(
            "connect",
            "connect",
            {"rounds": sizes["connect"]},
            {"connect_p50": "p50", "connect_cpu": "cpu_per_connect_ms"},
        ),
        job(
            "idle",
            "idle",
            {"sessions": sizes["idle"], "n": 1},
            {"idle_rss": "idle_rss_kb", "idle_threads": "threads_per_session"},
            fresh=True,
            repeats=sizes["fresh_repeats"],
            fn="concurrent",
        ),
        job(
            "many",
            "many",
            {"sessions": sizes["many"][0], "n": sizes["many"][1]},
            {
                "many_cpu": "cpu_per_event_all_us",
                "many_rss": "idle_rss_kb",
                "many_threads": "threads",
            },
            fresh=True,
            repeats=1,
            fn="concurrent",
        ),
        *with_repeats(issue26_jobs(sizes), sizes["issue26"]["repeats"]),
    ]


def job(
    scenario: str,
    name: str,
    params: dict[str, Any],
    rows: dict[str, str],
    *,
    fresh: bool = False,
    repeats: int | None = None,
    fn: str | None = None,
    only: tuple[str, ...] | None = None,
) -> dict[str, Any]:
    return {
        "only": only,
        "scenario": scenario,
        "name": name,
        "fn": fn or scenario,
        "params": params,
        "rows": rows,
        "fresh": fresh,
        "repeats": repeats,
    }


def warmup_params(params: dict[str, Any]) -> dict[str, Any]:
    """A tenth of the work: imports, lazily built hooks and pools are ready after it."""
    small = dict(params)
    for key in ("n", "frames", "rounds"):
        if key in small:
            small[key] = max(3, small[key] // 10)
    return small


# --- worker side ------------------------------------------------------------------


def worker(client: str) -> None:
    """Run commands read from stdin (one JSON object per line), answer on stdout."""
    # This script's folder is sys.path[0] (the _<client> modules); Worker put a
    # checked-out sayna, if any, on PYTHONPATH.
    module = __import__(f"_{client}")
    library = {"ours": "sayna", "floor": "websocket", "sdk": "sayna_client"}[client]
    origin = str(Path(sys.modules[library].__file__ or "").parent)
    out = sys.stdout
    # Nothing else may write to the answer channel.
    sys.stdout = sys.stderr
    for line in sys.stdin:
        command = json.loads(line)
        gc.collect()
        try:
            result = getattr(module, command["fn"])(command["url"], **command["params"])
            answer = {"ok": True, "result": result, "origin": origin}
        except Exception:
            answer = {"ok": False, "error": traceback.format_exc()}
        out.write(json.dumps(answer) + "\n")
        out.flush()


# --- runner side ------------------------------------------------------------------


class Worker:
    """One worker process for one client."""

    def __init__(self, client: str) -> None:
        self.client = client
        env = None
        tree = os.environ.get(SAYNA_PATH_ENV)
        if client == "ours" and tree:
            # PYTHONPATH comes before site-packages and the editable install's finder.
            paths = [tree, *filter(None, [os.environ.get("PYTHONPATH")])]
            env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--worker", client],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )

    def call(self, url: str, fn: str, params: dict[str, Any], timeout: float) -> dict[str, Any]:
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"url": url, "fn": fn, "params": params}) + "\n")
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            self.kill()
            return {"ok": False, "error": f"no answer within {timeout:g} s (worker killed)"}
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait()
            return {"ok": False, "error": f"worker exited with {self.proc.returncode}"}
        answer: dict[str, Any] = json.loads(line)
        return answer

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


class Server:
    """The benchmark server subprocess."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "server.py"), "--port", "0"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], 30)
        line = self.proc.stdout.readline() if ready else ""
        if not line.startswith("PORT "):
            self.close()
            raise RuntimeError(f"the benchmark server did not start: {line!r}")
        self.port = int(line.split()[1])
        self.url = f"http://127.0.0.1:{self.port}"

    def cpu_seconds(self) -> float:
        """CPU time of the whole server process so far (its own getrusage, every thread)."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request("GET", "/_bench/cpu")
            seconds: float = json.loads(connection.getresponse().read())["cpu_seconds"]
        finally:
            connection.close()
        return seconds

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def _git(*args: str) -> str:
    try:
        done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=False)
    except OSError:
        return ""
    return done.stdout.strip()


def checkout_sayna(rev: str) -> Path:
    """Extract ``sayna/`` as of ``rev`` into a temporary directory (the index is untouched)."""
    commit = _git("rev-parse", "--verify", f"{rev}^{{commit}}")
    if not commit:
        raise SystemExit(f"--sayna-rev: unknown revision {rev!r}")
    where = Path(tempfile.mkdtemp(prefix="sayna-bench-"))
    archive = subprocess.Popen(
        ["git", "archive", commit, "sayna"], cwd=REPO, stdout=subprocess.PIPE
    )
    subprocess.run(["tar", "-x", "-C", str(where)], stdin=archive.stdout, check=True)
    if archive.wait() != 0:
        raise SystemExit(f"--sayna-rev: git archive {rev} failed")
    return where


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_jobs(
    server: Server,
    selected: list[dict[str, Any]],
    clients: tuple[str, ...],
    mode: str,
    origins: dict[str, str],
) -> dict[str, Any]:
    sizes = SIZES[mode]
    timeout = 120.0 if mode == "smoke" else 1800.0
    pool: dict[str, Worker] = {}
    results: dict[str, Any] = {}

    def persistent(client: str) -> Worker:
        w = pool.get(client)
        if w is None or not w.alive():
            w = pool[client] = Worker(client)
        return w

    def call(client: str, spec: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        if spec["fresh"]:
            w = Worker(client)
            try:
                return timed(w, spec["fn"], params)
            finally:
                w.close()
        return timed(persistent(client), spec["fn"], params)

    def timed(w: Worker, fn: str, params: dict[str, Any]) -> dict[str, Any]:
        cpu0 = server.cpu_seconds()
        answer = w.call(server.url, fn, params, timeout)
        answer["server_cpu_seconds"] = server.cpu_seconds() - cpu0
        return answer

    try:
        for spec in selected:
            repeats = spec["repeats"] or sizes["repeats"]
            entry = results[spec["name"]] = {
                "scenario": spec["scenario"],
                "params": spec["params"],
                "fresh_process": spec["fresh"],
                "load_before": os.getloadavg()[0],
                "runs": {c: [] for c in clients},
                "errors": {c: [] for c in clients},
            }
            ran = [c for c in clients if spec["only"] is None or c in spec["only"]]
            if sizes["warmup"] and not spec["fresh"]:
                for client in ran:
                    answer = call(client, spec, warmup_params(spec["params"]))
                    if not answer["ok"]:
                        entry["errors"][client].append(answer["error"])
            for r in range(repeats):
                order = ran[r % len(ran) :] + ran[: r % len(ran)]
                for client in order:
                    answer = call(client, spec, spec["params"])
                    if answer["ok"]:
                        origins[client] = answer["origin"]
                        run = answer["result"]
                        run["repeat"] = r
                        run["server_cpu_seconds"] = answer["server_cpu_seconds"]
                        entry["runs"][client].append(run)
                    else:
                        entry["errors"][client].append(answer["error"])
                        _log(f"  {spec['name']} {client}: FAILED\n{answer['error']}")
            summary = ", ".join(
                f"{c} {_fmt_first(entry['runs'][c], spec['rows'])}" for c in clients
            )
            _log(f"{spec['name']:<14} {summary}")
    finally:
        for w in pool.values():
            w.close()
    return results


def _fmt_first(runs: list[dict[str, Any]], rows: dict[str, str]) -> str:
    if not runs:
        return "-"
    metric = next(iter(rows.values()))
    unit, scale = UNITS[metric]
    return f"{statistics.median(r[metric] for r in runs) * scale:.4g} {unit}"


def table_rows(results: dict[str, Any], selected: list[dict[str, Any]]) -> dict[str, Any]:
    rows: dict[str, Any] = {}
    for spec in selected:
        entry = results[spec["name"]]
        for row, metric in spec["rows"].items():
            unit, scale = UNITS[metric]
            values: dict[str, float | None] = {}
            for client, runs in entry["runs"].items():
                values[client] = (
                    statistics.median(r[metric] for r in runs) * scale if runs else None
                )
            line: dict[str, Any] = {"unit": unit, "metric": metric, **values}
            # The server's CPU per run, to show it is never what limits a client.
            line["server_cpu_ms"] = {
                client: statistics.median(r["server_cpu_seconds"] for r in runs) * 1e3
                for client, runs in entry["runs"].items()
                if runs
            }
            ours = values.get("ours")
            for other in ("sdk", "floor"):
                line[f"ours/{other}"] = paired_ratio(entry["runs"], metric, other)
            target = TARGETS.get(row)
            if target is not None:
                against, bound = target
                value = ours if against == "MB" else line.get(f"ours/{against}")
                line["target"] = (
                    f"< {bound:g} MB" if against == "MB" else f"<= {bound:g}x {against}"
                )
                line["target_met"] = None if value is None else value <= bound
            rows[row] = line
    return rows


def paired_ratio(runs: dict[str, list[dict[str, Any]]], metric: str, other: str) -> float | None:
    """Median over repeats of ours÷other, each repeat compared with itself.

    Both ran back to back in the same repeat, so a change of machine load
    between repeats cancels out, which a ratio of medians would not do.
    """
    theirs = {run["repeat"]: run[metric] for run in runs.get(other, [])}
    ratios = [
        mine[metric] / theirs[mine["repeat"]]
        for mine in runs.get("ours", [])
        if theirs.get(mine["repeat"])
    ]
    return statistics.median(ratios) if ratios else None


def issue26_rows(rows: dict[str, Any]) -> dict[str, Any]:
    """Issue #26's table: its rows that ran, with its targets."""
    table: dict[str, Any] = {}
    for name, against, bound in ISSUE26:
        if name not in rows:
            continue
        line = {k: v for k, v in rows[name].items() if k not in ("target", "target_met")}
        value = line.get(f"ours/{against}")
        line["target"] = f"<= {bound:g}x {against}"
        line["target_met"] = None if value is None else value <= bound
        table[name] = line
    return table


def print_table(rows: dict[str, Any], clients: tuple[str, ...]) -> None:
    head = f"{'scenario':<19}{'unit':>9}" + "".join(f"{c:>11}" for c in clients)
    head += f"{'ours/sdk':>10}{'ours/floor':>11}  target"
    print(head)
    print("-" * len(head) + "-" * 18)

    def num(v: float | None, width: int, digits: int = 4) -> str:
        return f"{'-':>{width}}" if v is None else f"{v:>{width}.{digits}g}"

    for name, line in rows.items():
        text = f"{name:<19}{line['unit']:>9}"
        text += "".join(num(line.get(c), 11) for c in clients)
        text += num(line.get("ours/sdk"), 10, 3) + num(line.get("ours/floor"), 11, 3)
        if "target" in line:
            met = {True: "met", False: "MISSED", None: "?"}[line["target_met"]]
            text += f"  {line['target']} {met}"
        print(text)


def meta(mode: str, clients: tuple[str, ...]) -> dict[str, Any]:
    def version(dist: str) -> str | None:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return None

    return {
        "mode": mode,
        "clients": list(clients),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "loadavg_start": os.getloadavg(),
        "git_head": _git("rev-parse", "--short", "HEAD"),
        # Uncommitted changes under sayna/ are part of what "ours" measured.
        "sayna_modified": bool(_git("status", "--porcelain", "--", "sayna")),
        "versions": {
            d: version(d)
            for d in ("sayna", "websocket-client", "requests", "aiohttp", "sayna-client")
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="3 repeats, 100k RSS events")
    size.add_argument("--smoke", action="store_true", help="tiny sizes, 1 repeat (for the tests)")
    parser.add_argument("--only", help=f"comma-separated scenarios out of {','.join(SCENARIOS)}")
    parser.add_argument("--clients", default=",".join(CLIENTS), help="default: ours,floor,sdk")
    parser.add_argument("--repeats", type=int, help="override the repeats of the mode")
    parser.add_argument(
        "--many-sessions",
        type=int,
        metavar="N",
        help="sessions of the 'many' scenario (default 1000; fewer on a busy machine)",
    )
    parser.add_argument(
        "--sayna-rev",
        metavar="REV",
        help="measure sayna as of this git revision (default: the working tree)",
    )
    parser.add_argument(
        "--out", type=Path, default=HERE / "results" / "latest.json", help="JSON written here"
    )
    parser.add_argument("--worker", choices=CLIENTS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker)
        return 0

    mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    sizes = dict(SIZES[mode])
    if args.repeats:
        sizes["repeats"] = args.repeats
    if args.many_sessions:
        sizes["many"] = (args.many_sessions, sizes["many"][1])
        i26 = sizes["issue26"] = dict(sizes["issue26"])
        i26["many"] = (args.many_sessions, i26["many"][1])
    SIZES[mode] = sizes
    clients = tuple(c for c in args.clients.split(",") if c)
    unknown = set(clients) - set(CLIENTS)
    if unknown:
        parser.error(f"unknown clients: {', '.join(sorted(unknown))}")
    wanted = set(args.only.split(",")) if args.only else set(SCENARIOS)
    if wanted - set(SCENARIOS):
        parser.error(f"unknown scenarios: {', '.join(sorted(wanted - set(SCENARIOS)))}")
    selected = [j for j in jobs(sizes) if j["scenario"] in wanted]

    info = meta(mode, clients)
    info["imported_from"] = {}
    tree = None
    if args.sayna_rev:
        tree = checkout_sayna(args.sayna_rev)
        os.environ[SAYNA_PATH_ENV] = str(tree)
        info["sayna_source"] = f"{args.sayna_rev} ({_git('rev-parse', '--short', args.sayna_rev)})"
    else:
        dirty = " + uncommitted changes" if info["sayna_modified"] else ""
        info["sayna_source"] = f"working tree (HEAD {info['git_head']}{dirty})"
    _log(
        f"mode {mode}, sayna from {info['sayna_source']},"
        f" load average {info['loadavg_start'][0]:.2f} on {info['cpus']} CPUs"
    )
    started = time.perf_counter()
    try:
        server = Server()
        try:
            results = run_jobs(server, selected, clients, mode, info["imported_from"])
        finally:
            server.close()
    finally:
        if tree is not None:
            shutil.rmtree(tree, ignore_errors=True)
    info["loadavg_end"] = os.getloadavg()
    info["wall_seconds"] = time.perf_counter() - started
    rows = table_rows(results, selected)
    issue = issue26_rows(rows)
    print()
    print_table({k: v for k, v in rows.items() if not k.startswith("i26_")}, clients)
    if issue:
        print("\nIssue #26, its workloads as written (REST 'floor': requests, trust_env=False)")
        print_table(issue, clients)
    print(
        f"\nsayna: {info['sayna_source']}; load average {info['loadavg_start'][0]:.2f}"
        f" -> {info['loadavg_end'][0]:.2f} on {info['cpus']} CPUs;"
        f" medians of {sizes['repeats']} repeats"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps({"meta": info, "table": rows, "issue26": issue, "jobs": results}, indent=2)
    )
    print(f"written: {args.out}")
    failed = any(errors for entry in results.values() for errors in entry["errors"].values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
