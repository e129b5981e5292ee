"""Soak: stream the test pattern through the engine into the null sink for M minutes and watch for leaks, stalls
and drift.

    python benchmarks/soak.py --minutes 30 --json runs/soak.json

Reports RSS at the start (after the first frame), after warm-up and at the end (the last sample while streaming);
per minute the frame interval (what a viewer sees), the work time per frame (prep + engine + send), median and p99,
and the engine's network sizes and thread counts, and the hypervisor's CPU steal time (a shared cloud host's other
tenants; Linux); every gap between frames longer than --stall-ms, with the stage times of the frame that ended it
and any garbage-collector pause inside it; the collector's pauses over the whole run. Target for a
30-minute run: RSS growth after warm-up < 5%, no stall, per-minute medians flat.
The style defaults to the first installed one; with no model installed it runs passthrough.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import threading
import time
from pathlib import Path

import numpy as np

from vcam.capture import open_feed
from vcam.config import RunConfig, Size
from vcam.engines import create_engine
from vcam.errors import VcamError
from vcam.gc_pauses import GcPauses, freeze_long_lived
from vcam.pipeline import Pipeline
from vcam.runner import prepare
from vcam.sinks.base import FrameInfo
from vcam.sinks.null import NullSink
from vcam.stats import STAGES, PipelineStats
from vcam.styles import load_manifest


def rss_bytes() -> int:
    """Resident set size now (Linux /proc; elsewhere the peak, which is all the stdlib offers)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


def cpu_times() -> tuple[int, int] | None:
    """(steal, total) CPU jiffies since boot (Linux /proc/stat), or None elsewhere. Steal is time the hypervisor
    gave this VM's CPUs to someone else: on a shared cloud host it, not vcam, explains a minute with fewer frames."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    return (fields[7] if len(fields) > 7 else 0), sum(fields[:8])


def steal_pct(a: tuple[int, int] | None, b: tuple[int, int] | None) -> float | None:
    if a is None or b is None or b[1] <= a[1]:
        return None
    return round((b[0] - a[0]) / (b[1] - a[1]) * 100, 1)


class TimingSink(NullSink):
    """The null sink, noting when each frame left the pipeline."""

    def __init__(self, capacity: int) -> None:
        super().__init__()
        # full, not zeros: zeros maps pages lazily, and the soak must not measure its own growth
        self.sent = np.full(capacity, np.nan, np.float64)

    def send(self, image: np.ndarray, info: FrameInfo) -> None:
        if self.frames < self.sent.size:
            self.sent[self.frames] = time.perf_counter()
        super().send(image, info)


class TimingFeed:
    """Wraps the feed to note when the pipeline took each frame: work time = sent - taken (prep, engine, send)."""

    def __init__(self, inner, capacity: int) -> None:
        self.inner = inner
        self.taken = np.full(capacity, np.nan, np.float64)
        self.n = 0

    def __getattr__(self, name: str):
        return getattr(self.inner, name)

    def start(self) -> None:
        self.inner.start()

    def stop(self) -> None:
        self.inner.stop()

    def next_frame(self, timeout: float):
        frame = self.inner.next_frame(timeout)
        if frame is not None:
            if self.n < self.taken.size:
                self.taken[self.n] = time.perf_counter()
            self.n += 1
        return frame


def default_style(model_dir: Path | None) -> str:
    try:
        return load_manifest(model_dir).styles[0]
    except VcamError:
        return "none"


def soak(minutes: float, size: Size, fps: float, style: str | None, engine: str, model_dir: Path | None,
         stall_ms: float, warmup_s: float, say=print) -> dict:
    style = style or default_style(model_dir)
    cfg = RunConfig(input="pattern", outputs=("null",), style=style, size=size, fps=fps, engine=engine,
                    model_dir=model_dir, realtime=True, quiet=True, hud=False, transition_s=0.0)
    cfg, manifest, controls = prepare(cfg, say)
    capacity = int(minutes * 60 * fps * 1.5) + 1000
    eng = create_engine(cfg, manifest, say)
    sink = TimingSink(capacity)
    sink.open(cfg.size, cfg.fps)
    rss_samples: list[tuple[float, int]] = []
    feed = TimingFeed(open_feed(cfg), capacity)
    stats = PipelineStats(keep=capacity)
    pipeline = Pipeline(feed, eng, [sink], controls, cfg.size, stats=stats)
    pipeline.on_warm = freeze_long_lived   # as `vcam run` does
    gc_pauses = GcPauses().start()
    t_start = time.perf_counter()
    duration = minutes * 60.0
    stop = threading.Event()

    configs: list[set[str]] = [set()]   # per minute: the engine configurations seen (network size, threads)
    steal: list[float | None] = []      # per minute: the hypervisor's steal time, % of all CPU time
    proc_cpu: list[float] = []          # per minute: vcam's process CPU seconds per wall second (the --cpu-share)

    def sample_rss() -> None:
        minute, frames_before = 0, 0
        cpu_before = cpu_times()
        proc_before = (time.process_time(), time.perf_counter())
        while not stop.wait(1.0):
            t, rss = time.perf_counter() - t_start, rss_bytes()
            rss_samples.append((t, rss))
            configs[-1].add(engine_config(eng))
            if t >= (minute + 1) * 60:   # one progress line a minute: a 30-minute run must not look hung
                minute += 1
                frames = sink.frames
                cpu_now = cpu_times()
                steal.append(steal_pct(cpu_before, cpu_now))
                cpu_before = cpu_now
                proc_now = (time.process_time(), time.perf_counter())
                proc_cpu.append((proc_now[0] - proc_before[0]) / (proc_now[1] - proc_before[1]))
                proc_before = proc_now
                stolen = "" if steal[-1] is None else f", CPU steal {steal[-1]:.0f}%"
                say(f"minute {minute}/{int(np.ceil(minutes))}: {frames - frames_before} frames, "
                    f"RSS {rss / 2**20:.0f} MB, vcam CPU {proc_cpu[-1]:.2f} s/s, "
                    f"engine {', '.join(sorted(configs[-1]))}{stolen}")
                frames_before = frames
                configs.append(set())
            if t >= duration:
                pipeline.stop()

    first_rss: list[int] = []
    pipeline.on_frame = lambda n: first_rss.append(rss_bytes()) if n == 1 else None
    sampler = threading.Thread(target=sample_rss, daemon=True)
    sampler.start()
    try:
        summary = pipeline.run()
    finally:
        gc_pauses.stop()
        stop.set()
        sampler.join(timeout=5)
        feed.stop()
        eng.close()
    # The end is the last sample taken while streaming: after close the engine's memory is gone, leaks included.
    rss_closed = rss_bytes()
    rss_end = rss_samples[-1][1] if rss_samples else rss_closed
    n = min(sink.frames, feed.n, capacity)
    res = report(sink.sent[:n] - t_start, sink.sent[:n] - feed.taken[:n],
                 rss_samples, first_rss[0] if first_rss else rss_end, rss_end, warmup_s, stall_ms,
                 {"style": style, "engine": str(eng.info().get("engine", eng.name)), "size": str(cfg.size),
                  "fps": fps, "minutes": minutes, "dropped_frames": summary.get("dropped_frames", 0),
                  "python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count()},
                 stages={k: stats.series(k)[:n] for k in STAGE_KEYS},
                 gc_pauses=[(t - t_start, g, ms) for t, g, ms in gc_pauses.pauses])
    res["gc"] = gc_pauses.summary()
    res["rss_mb"]["after_close"] = round(rss_closed / 2**20, 1)
    for p, seen in zip(res["per_minute"], configs, strict=False):
        p["engine"] = sorted(seen)
    for p, st in zip(res["per_minute"], steal, strict=False):
        p["cpu_steal_pct"] = st
    for p, c in zip(res["per_minute"], proc_cpu, strict=False):
        p["process_cpu_per_wall"] = round(c, 3)
    if proc_cpu:
        res["process_cpu_per_wall"] = {"mean": round(float(np.mean(proc_cpu)), 3),
                                       "max_minute": round(float(np.max(proc_cpu)), 3),
                                       "budget": (eng.info().get("governor_state") or {}).get("cpu_budget")}
    res["stalls_by_steal"] = stalls_by_steal(res["per_minute"])
    return res


def stalls_by_steal(per_minute: list[dict], threshold_pct: float = 2.0) -> dict | None:
    """Stalls a minute in minutes when the hypervisor took >= ``threshold_pct`` of the CPU and in the others: on a
    shared VM a stall the host causes shows up in the first group, one vcam causes in both."""
    known = [p for p in per_minute if p.get("cpu_steal_pct") is not None]
    if not known:
        return None
    out: dict = {"threshold_pct": threshold_pct}
    for name, group in (("stolen", [p for p in known if p["cpu_steal_pct"] >= threshold_pct]),
                        ("quiet", [p for p in known if p["cpu_steal_pct"] < threshold_pct])):
        out[name] = {"minutes": len(group), "stalls": sum(p["stalls"] for p in group),
                     "stalls_per_minute": round(sum(p["stalls"] for p in group) / len(group), 2) if group else None}
    return out


def engine_config(eng) -> str:
    """The engine's current network size and thread count, e.g. '256x144/1t' (RSS steps follow changes here:
    each network size is compiled once and kept)."""
    info = eng.info()
    return f"{info.get('network_size', '?')}/{info.get('threads', '?')}t"


def _trend_pct(medians: list[float]) -> float:
    """Drift as a trend: the least-squares line through the per-minute medians, first to last minute, in % of their
    median. The spread (max - min) also moves with the governor's size choices; a leak or a slowdown shows here."""
    if len(medians) < 3 or statistics.median(medians) <= 0:
        return 0.0
    slope = float(np.polyfit(np.arange(len(medians)), np.asarray(medians), 1)[0])
    return round(slope * (len(medians) - 1) / statistics.median(medians) * 100, 1)


def _pct(a: np.ndarray, q: float) -> float:
    return round(float(np.percentile(a, q)) * 1000, 2) if a.size else 0.0


STAGE_KEYS = (*STAGES, "engine")   # "engine": pre + infer + post and what lies between them


def report(sent: np.ndarray, work: np.ndarray, rss: list[tuple[float, int]], rss_first: int, rss_end: int,
           warmup_s: float, stall_ms: float, meta: dict, stages: dict[str, np.ndarray] | None = None,
           gc_pauses: list[tuple[float, int, float]] | None = None) -> dict:
    """``sent``: seconds from the start at which each frame left; ``work``: seconds each frame spent in the loop;
    ``stages``: per-frame stage times in ms (the pipeline's stats), ``gc_pauses``: (seconds from the start,
    generation, ms) of the collector's pauses."""
    intervals = np.diff(sent)
    # Each gap split into the frame's own work (prep + engine + send) and the wait for it before (the source, or the
    # loop not scheduled): which side a stall fell on says where to look. The frame's stage times and a collector
    # pause inside the gap (every thread waits for it) say more.
    stalls = []
    for i, g in enumerate(intervals):
        if g * 1000 <= stall_ms:
            continue
        stall = {"at_s": round(float(sent[i]), 2), "gap_ms": round(float(g) * 1000, 1),
                 "work_ms": round(float(work[i + 1]) * 1000, 1), "wait_ms": round(float(g - work[i + 1]) * 1000, 1)}
        if stages:
            stall["stages_ms"] = {k: round(float(v[i + 1]), 1) for k, v in stages.items()
                                  if i + 1 < v.size and np.isfinite(v[i + 1])}
        if gc_pauses is not None:
            stall["gc_pauses"] = [{"gen": gen, "ms": round(ms, 1)} for t, gen, ms in gc_pauses
                                  if t <= sent[i + 1] and t + ms / 1000 >= sent[i]]
        stalls.append(stall)
    per_minute = []
    n_min = int(np.ceil(sent[-1] / 60.0)) if sent.size else 0
    for m in range(n_min):
        in_min = (sent >= m * 60) & (sent < (m + 1) * 60)
        iv = intervals[in_min[1:]]
        wk = work[in_min]
        per_minute.append({"minute": m + 1, "frames": int(in_min.sum()),
                           "interval_p50_ms": _pct(iv, 50), "interval_p99_ms": _pct(iv, 99),
                           "work_p50_ms": _pct(wk, 50), "work_p99_ms": _pct(wk, 99),
                           "stalls": sum(1 for s in stalls if m * 60 <= s["at_s"] < (m + 1) * 60),
                           "rss_mb": round(max((r for t, r in rss if m * 60 <= t < (m + 1) * 60), default=0)
                                           / 2**20, 1)})
    after_warmup = [r for t, r in rss if t >= warmup_s]
    rss_warm = after_warmup[0] if after_warmup else rss_first
    medians = [p["work_p50_ms"] for p in per_minute if p["frames"] > 0]
    return {
        **meta,
        "frames": int(sent.size),
        "seconds": round(float(sent[-1]), 2) if sent.size else 0.0,
        "rss_mb": {"start": round(rss_first / 2**20, 1), "after_warmup": round(rss_warm / 2**20, 1),
                   "end": round(rss_end / 2**20, 1), "max": round(max([r for _, r in rss] + [rss_end]) / 2**20, 1)},
        "rss_growth_pct": round((rss_end - rss_warm) / rss_warm * 100, 2) if rss_warm else 0.0,
        "interval_ms": {"p50": _pct(intervals, 50), "p99": _pct(intervals, 99),
                        "max": round(float(intervals.max()) * 1000, 1) if intervals.size else 0.0},
        "work_ms": {"p50": _pct(work, 50), "p99": _pct(work, 99)},
        "work_median_drift_pct": (round((max(medians) - min(medians)) / statistics.median(medians) * 100, 1)
                                  if len(medians) > 1 and statistics.median(medians) > 0 else 0.0),
        "work_median_trend_pct": _trend_pct(medians),
        "stall_threshold_ms": stall_ms,
        "stalls": stalls,
        "per_minute": per_minute,
        "rss_timeline_mb": [[round(t, 1), round(r / 2**20, 1)] for t, r in rss[:: max(1, len(rss) // 120)]],
    }


def _steal(p: dict) -> str:
    st = p.get("cpu_steal_pct")
    return "-" if st is None else f"{st:.1f}%"


def print_table(res: dict) -> None:
    print(f"soak: {res['minutes']} min, {res['size']} @ {res['fps']} fps, style {res['style']}, "
          f"engine {res['engine']}, {res['frames']} frames, {res['dropped_frames']} dropped at the source")
    print(f"{'minute':>6} {'frames':>7} {'interval p50':>13} {'p99':>8} {'work p50':>9} {'p99':>8} {'stalls':>7}"
          f" {'RSS max':>8} {'steal':>6} {'CPU s/s':>7}  engine (network size/threads)")
    for p in res["per_minute"]:
        print(f"{p['minute']:>6} {p['frames']:>7} {p['interval_p50_ms']:>10.1f} ms {p['interval_p99_ms']:>8.1f} "
              f"{p['work_p50_ms']:>6.1f} ms {p['work_p99_ms']:>8.1f} {p['stalls']:>7} {p['rss_mb']:>5.0f} MB "
              f"{_steal(p):>6} {p.get('process_cpu_per_wall', float('nan')):>7.2f}  "
              f"{' '.join(p.get('engine', []))}")
    r = res["rss_mb"]
    print(f"RSS: start {r['start']} MB, after warm-up {r['after_warmup']} MB, end {r['end']} MB, max {r['max']} MB "
          f"-> growth {res['rss_growth_pct']:+.2f}% (after closing the engine {r.get('after_close', '?')} MB)")
    print(f"stalls > {res['stall_threshold_ms']:.0f} ms: {len(res['stalls'])}"
          + (" (longest {gap_ms} ms: {work_ms} ms the frame's work, {wait_ms} ms waiting before it)".format(
              **max(res["stalls"], key=lambda s: s["gap_ms"])) if res["stalls"] else "")
          + f"; per-minute work median: spread {res['work_median_drift_pct']}%, "
            f"trend {res['work_median_trend_pct']:+.1f}% over the run")
    pc = res.get("process_cpu_per_wall")
    if pc:
        budget = f"{pc['budget']:.2f}" if pc["budget"] else "none"
        print(f"vcam's CPU: {pc['mean']:.2f} s/s on average, busiest minute {pc['max_minute']:.2f} (budget {budget})")
    gc_info = res.get("gc")
    if gc_info:
        c, lg = gc_info["collections"], gc_info["longest_ms"]
        print("garbage collector: " + ", ".join(f"{k} {c[k]} (longest {lg[k]} ms)" for k in c)
              + f"; {gc_info['frozen_objects']} start-up objects frozen out of its walks")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--json", type=Path, default=None, help="write the results here")
    ap.add_argument("--size", default="640x360")
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--style", default=None, help="default: the first installed style, or none without a model")
    ap.add_argument("--engine", default="auto")
    ap.add_argument("--model-dir", type=Path, default=None)
    ap.add_argument("--stall-ms", type=float, default=200.0)
    ap.add_argument("--warmup-s", type=float, default=None, help="RSS growth is measured from here (default: 10%% "
                    "of the run, at most 60 s)")
    a = ap.parse_args(argv)
    if a.minutes <= 0:
        ap.error("--minutes must be > 0")
    warmup = a.warmup_s if a.warmup_s is not None else min(60.0, a.minutes * 6.0)
    try:
        res = soak(a.minutes, Size.parse(a.size), a.fps, a.style, a.engine, a.model_dir, a.stall_ms, warmup,
                   say=lambda m: print(m, file=sys.stderr))
    except VcamError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print_table(res)
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(res, indent=2) + "\n")
        print(f"wrote {a.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
