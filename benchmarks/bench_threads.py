"""What a second inference thread buys and costs: the CPU engine with 1 and with 2 threads forced, at one output
size, first as fast as it goes, then paced at the camera's rate like a call (process CPU seconds per wall second).

    .venv/bin/python benchmarks/bench_threads.py --json out/threads.json [--size 1280x720] [--frames 90]

The thread picker (vcam.engines.cpu_runtime.RunnerPicker) uses the same trade on live runs: the runner with the
least CPU that meets the frame budget. On CPUs whose two vCPUs share one core, the second thread buys little speed
for much CPU. Benchmarks report; they never fail.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import cleanup_temp_model, console, find_model, machine, pattern_frames, table, write_json  # noqa: E402

from vcam.config import RunConfig, Size  # noqa: E402
from vcam.control.state import ControlState  # noqa: E402
from vcam.engines.cpu import CpuEngine  # noqa: E402


def _cpu_seconds() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def measure(engine: CpuEngine, frames: list[np.ndarray], state: ControlState, n: int, fps: float) -> dict:
    for i in range(10):                                   # warm-up: compile, caches
        engine.step(frames[i % len(frames)], state)
    stages: dict[str, list[float]] = {"pre": [], "infer": [], "post": []}
    c0, w0 = _cpu_seconds(), time.perf_counter()
    for i in range(n):
        engine.step(frames[i % len(frames)], state)
        for k in stages:
            stages[k].append(engine.timings[k])
    wall = time.perf_counter() - w0
    row = {"free_ms_per_frame": wall / n * 1e3, "free_cpu_ms_per_frame": (_cpu_seconds() - c0) / n * 1e3,
           **{f"{k}_ms_p50": float(np.median(v)) for k, v in stages.items()}}
    c0, w0 = _cpu_seconds(), time.perf_counter()
    due = time.perf_counter()
    for i in range(n):                                    # paced like a camera
        engine.step(frames[i % len(frames)], state)
        due += 1.0 / fps
        time.sleep(max(0.0, due - time.perf_counter()))
    row["paced_cpu_per_wall"] = (_cpu_seconds() - c0) / (time.perf_counter() - w0)
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", type=Path)
    ap.add_argument("--size", default="1280x720")
    ap.add_argument("--frames", type=int, default=90)
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--model", type=Path)
    args = ap.parse_args(argv)
    size = Size.parse(args.size)
    man, origin = find_model(args.model)
    env = machine()
    console.print(f"model: {origin}; machine: {env['cpu']}, {env['cores']} cores")
    frames = pattern_frames((size.width, size.height), 30)
    state = ControlState(weights={man.styles[0]: 1.0}, strength=1.0)
    rows = []
    for threads in (1, 2):
        # adaptive off: every frame runs the network at the model's 720p-equivalent rung (no reuse of static frames).
        cfg = RunConfig(input="pattern", outputs=("null",), size=size, style=man.styles[0], threads=threads,
                        adaptive=False)
        engine = CpuEngine(man, cfg)
        try:
            info = engine.info()
            rows.append({"threads": threads, "size": str(size), "internal": info.get("internal_size"),
                         "engine": f"{info.get('runtime')} {info.get('precision')}",
                         **measure(engine, frames, state, args.frames, args.fps)})
        finally:
            engine.close()
    table(f"CPU engine at {size}, 1 vs 2 inference threads", [
        "threads", "internal", "engine", "ms/frame", "CPU ms/frame", "infer p50", f"paced {args.fps:.0f} fps CPU s/s"],
        [[r["threads"], r["internal"], r["engine"], round(r["free_ms_per_frame"], 2),
          round(r["free_cpu_ms_per_frame"], 2), round(r["infer_ms_p50"], 2), round(r["paced_cpu_per_wall"], 3)]
         for r in rows])
    write_json(args.json, {"machine": env, "model": origin, "rows": rows})
    cleanup_temp_model(man)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
