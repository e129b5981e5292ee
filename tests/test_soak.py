"""Smoke test of the soak benchmark: a few seconds of pattern -> engine -> null, and a coherent report."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_soak_smoke(tmp_path):
    out = tmp_path / "soak.json"
    p = subprocess.run([sys.executable, str(REPO / "benchmarks" / "soak.py"), "--minutes", "0.1", "--size",
                        "160x96", "--fps", "20", "--json", str(out)],
                       capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "RSS: start" in p.stdout and "stalls >" in p.stdout
    res = json.loads(out.read_text())
    assert res["frames"] > 10 and 4.0 < res["seconds"] < 60
    assert sum(m["frames"] for m in res["per_minute"]) == res["frames"]
    rss = res["rss_mb"]
    assert 0 < rss["start"] <= rss["max"] and 0 < rss["end"] <= rss["max"]
    assert res["interval_ms"]["p50"] <= res["interval_ms"]["p99"] <= res["interval_ms"]["max"]
    # every gap over the threshold is listed, and only those
    assert (res["interval_ms"]["max"] > res["stall_threshold_ms"]) == bool(res["stalls"])
    assert all(s["gap_ms"] > res["stall_threshold_ms"] for s in res["stalls"])
    # per minute: the engine configurations seen and the peak RSS, which can only lie within the run's range
    for m in res["per_minute"]:
        assert m["engine"] and all("x" in c and c.endswith("t") for c in m["engine"])
        assert 0 < m["rss_mb"] <= rss["max"]
    assert rss["after_close"] > 0
    # the collector's pauses: start-up frozen out of its walks at the warm frame, as `vcam run` does
    assert res["gc"]["frozen_objects"] > 0 and set(res["gc"]["collections"]) == {"gen0", "gen1", "gen2"}


def test_drift_is_a_trend_not_a_spread():
    spec = importlib.util.spec_from_file_location("soak_bench", REPO / "benchmarks" / "soak.py")
    soak = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(soak)
    assert soak._trend_pct([10.0, 11.0, 12.0, 13.0]) == pytest.approx(3 / 11.5 * 100, abs=0.1)   # a slowdown
    assert soak._trend_pct([14.0, 20.0, 14.0, 20.0, 14.0, 20.0, 14.0]) == pytest.approx(0.0, abs=0.1)  # rung swaps
    assert soak._trend_pct([10.0, 10.0]) == 0.0   # too short to call


def test_steal_time_is_the_stolen_share_of_cpu_time():
    spec = importlib.util.spec_from_file_location("soak_bench", REPO / "benchmarks" / "soak.py")
    soak = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(soak)
    assert soak.steal_pct((10, 1000), (35, 1100)) == 25.0
    assert soak.steal_pct((10, 1000), (10, 1000)) is None and soak.steal_pct(None, (1, 2)) is None
    now = soak.cpu_times()
    if sys.platform.startswith("linux"):
        assert now is not None and 0 <= now[0] <= now[1]


def test_stalls_are_split_by_the_hosts_steal():
    spec = importlib.util.spec_from_file_location("soak_bench", REPO / "benchmarks" / "soak.py")
    soak = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(soak)
    minutes = [{"stalls": 6, "cpu_steal_pct": 9.0}, {"stalls": 0, "cpu_steal_pct": 0.5},
               {"stalls": 2, "cpu_steal_pct": 3.0}, {"stalls": 1, "cpu_steal_pct": 0.0}, {"stalls": 0}]
    got = soak.stalls_by_steal(minutes)
    assert got["stolen"] == {"minutes": 2, "stalls": 8, "stalls_per_minute": 4.0}
    assert got["quiet"] == {"minutes": 2, "stalls": 1, "stalls_per_minute": 0.5}
    assert soak.stalls_by_steal([{"stalls": 3}]) is None


def test_a_stall_is_split_into_the_frames_work_and_the_wait_before_it():
    spec = importlib.util.spec_from_file_location("soak_bench", REPO / "benchmarks" / "soak.py")
    soak = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(soak)
    # frames leave every 33 ms; the fourth leaves 150 ms after the third, having worked 20 ms of it
    sent = np.array([0.0, 0.033, 0.066, 0.216, 0.249])
    work = np.array([0.010, 0.010, 0.010, 0.020, 0.010])
    res = soak.report(sent, work, [(0.0, 100 << 20)], 100 << 20, 100 << 20, 0.0, 100.0, {})
    assert res["stalls"] == [{"at_s": 0.07, "gap_ms": 150.0, "work_ms": 20.0, "wait_ms": 130.0}]


def test_a_stall_carries_its_frames_stage_times_and_the_collector_pauses_inside_it():
    spec = importlib.util.spec_from_file_location("soak_bench", REPO / "benchmarks" / "soak.py")
    soak = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(soak)
    sent = np.array([0.0, 0.033, 0.066, 0.216, 0.249])
    work = np.array([0.010, 0.010, 0.010, 0.020, 0.010])
    stages = {"infer": np.array([8.0, 8.0, 8.0, 17.5, 8.0], np.float32), "send": np.array([1.0] * 5, np.float32)}
    # one full collection inside the gap, one young one before it
    pauses = [(0.010, 0, 0.4), (0.100, 2, 90.0)]
    res = soak.report(sent, work, [(0.0, 100 << 20)], 100 << 20, 100 << 20, 0.0, 100.0, {}, stages=stages,
                      gc_pauses=pauses)
    (stall,) = res["stalls"]
    assert stall["stages_ms"] == {"infer": 17.5, "send": 1.0}
    assert stall["gc_pauses"] == [{"gen": 2, "ms": 90.0}]
