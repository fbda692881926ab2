"""The benchmark runner keeps working: a smoke run over every scenario and client.

Timings are never asserted here; only that every scenario ran for every client
and delivered exactly what the server sent.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import sayna_client  # noqa: F401  (the async SDK is one of the measured clients)

RUNNER = Path(__file__).parent / "benchmarks" / "run.py"
JOBS = {
    "events_iter",
    "events_cb",
    "tts_iter",
    "tts_cb",
    "upload",
    "rtt",
    "conversation",
    "rest",
    "rss_cb",
    "rss_slow_iter",
    "concurrent",
    "connect",
    "idle",
    "many",
    "i26_events",
    "i26_upload",
    "i26_rtt",
    "i26_many",
    "i26_rest",
}
ROWS = {
    "events_iter",
    "events_cb",
    "tts_iter",
    "tts_cb",
    "upload",
    "rtt_p50",
    "rtt_p99",
    "conv_respond_p50",
    "conv_respond_p99",
    "conv_clear_p50",
    "conv_clear_p99",
    "rest_health",
    "rest_speak",
    "rss_cb",
    "rss_slow_iter",
    "concurrent_cpu",
    "concurrent_threads",
    "connect_p50",
    "connect_cpu",
    "idle_rss",
    "idle_threads",
    "many_cpu",
    "many_rss",
    "many_threads",
    "i26_events",
    "i26_upload",
    "i26_rtt_p50",
    "i26_many_cpu",
    "i26_many_rss",
    "i26_many_connect",
    "i26_rest",
}
# Issue #26's table: its own rows and the existing row that is its TTS workload.
ISSUE26_ROWS = {r for r in ROWS if r.startswith("i26_")} | {"tts_iter"}
CLIENTS = ("ours", "floor", "sdk")
# Jobs (and their rows) measured for sayna alone: the others have no such layer.
OURS_ONLY = {"conversation"}


def clients_of(name: str) -> tuple[str, ...]:
    """The clients a job or table row is measured for."""
    return ("ours",) if name in OURS_ONLY or name.startswith("conv_") else CLIENTS


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("bench") / "smoke.json"
    done = subprocess.run(
        [sys.executable, str(RUNNER), "--smoke", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result: dict = json.loads(out.read_text())
    return result


def test_every_scenario_ran_for_every_client(smoke: dict) -> None:
    """Each job has one run per client and no error."""
    assert set(smoke["jobs"]) == JOBS
    for name, job in smoke["jobs"].items():
        for client in clients_of(name):
            assert job["errors"][client] == [], (name, client)
            assert len(job["runs"][client]) == 1, (name, client)


def test_delivered_counts_equal_sent_counts(smoke: dict) -> None:
    """Every client got every event, byte, acknowledgement and round the server sent."""
    for name, job in smoke["jobs"].items():
        for client in clients_of(name):
            for run in job["runs"][client]:
                assert run["expected"] > 0, (name, client)
                assert run["count"] == run["expected"], (name, client, run)


def test_table_has_every_row_and_ratio(smoke: dict) -> None:
    """The table has a value for every client on every row, and both ratio columns."""
    assert set(smoke["table"]) == ROWS
    for name, row in smoke["table"].items():
        for client in clients_of(name):
            assert row[client] is not None, (name, client)
        assert "ours/sdk" in row
        assert "ours/floor" in row


def test_issue26_table_has_its_rows_and_targets(smoke: dict) -> None:
    """Issue #26's table lists its eight rows, each with a target and both ratios."""
    assert set(smoke["issue26"]) == ISSUE26_ROWS
    for name, row in smoke["issue26"].items():
        assert row["target"].startswith("<= "), name
        assert row["ours/sdk"] is not None, name
        assert row["ours/floor"] is not None, name
