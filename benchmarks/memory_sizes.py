"""Resident memory of the CPU engine while the governor moves between two network sizes, with vcam's heap settings
and with glibc's defaults, each in its own process.

    python benchmarks/memory_sizes.py --json out/memory_sizes.json [--size 1280x720] [--rungs 2,3] [--cycles 14]

A governor that wanders between rungs is what made long runs grow (README, Reliability): each size change frees
frame-sized buffers and allocates new ones. Here the engine is moved on purpose every ``--frames`` frames, so what
takes a soak tens of minutes shows in about a minute. Printed per cycle: RSS in MB; and at the end, per rung, the
minor page faults and array allocations of a steady-state frame (both should be 0: the hot path allocates nothing).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def child(mode: str, size: str, rungs: list[int], cycles: int, frames: int) -> dict:
    """One engine in this process; ``mode`` "vcam" keeps vcam's heap settings, "glibc" undoes the mmap pin."""
    import resource
    import tracemalloc

    import numpy as np

    from vcam import memory
    from vcam.config import RunConfig, Size
    from vcam.control.state import Controls
    from vcam.engines.cpu import CpuEngine
    from vcam.styles import load_manifest

    if mode == "glibc":
        memory.pin_mmap_threshold = lambda *a, **k: False   # the engine calls it; glibc's dynamic threshold stays
        import vcam.engines.cpu as cpu_mod
        cpu_mod.pin_mmap_threshold = memory.pin_mmap_threshold
    man = load_manifest(ROOT / "models")
    out = Size.parse(size)
    eng = CpuEngine(man, RunConfig(input="pattern", outputs=("null",), size=out, style=man.styles[0],
                                   adaptive=False))
    ctl = Controls(eng.codes.styles, {man.styles[0]: 1.0}, transition_s=0.0)
    rng = np.random.default_rng(0)
    clip = [rng.integers(0, 255, (out.height, out.width, 3), np.uint8) for _ in range(2)]
    ladder = [str(s.size) for s in eng.governor.ladder]
    rss = []
    waited = []

    def move(r: int) -> None:
        # As the governor moves: the new rung is entered once its graph is compiled; the frames meanwhile run the
        # rung it leaves (counted in ``waited``).
        eng.governor.request_rung(r)
        n = 0
        while eng.governor.rung != r:
            eng.step(clip[n % 2], ctl.snapshot())
            n += 1
        waited.append(n)

    for _ in range(cycles):
        for r in rungs:
            move(r)
            for k in range(frames):
                eng.step(clip[k % 2], ctl.snapshot())
        rss.append(round(_rss_mb(), 1))
        print(f"  {mode}: cycle {len(rss)}: {rss[-1]:.0f} MB", flush=True)
    steady = {}
    for r in rungs:
        move(r)
        for k in range(20):
            eng.step(clip[k % 2], ctl.snapshot())
        f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        tracemalloc.start()
        for k in range(20):
            eng.step(clip[k % 2], ctl.snapshot())
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        steady[ladder[r]] = {"minor_faults_per_frame": (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0) / 20,
                             "traced_peak_bytes": peak}
    eng.close()
    return {"mode": mode, "ladder": ladder, "rungs": [ladder[r] for r in rungs], "rss_mb": rss,
            "steady_frame": steady, "engine": eng.info().get("runtime"),
            "frames_waiting_for_a_compile": {"moves": len(waited), "max": max(waited, default=0),
                                             "mean": round(sum(waited) / max(len(waited), 1), 1)}}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", type=Path)
    ap.add_argument("--size", default="1280x720")
    ap.add_argument("--rungs", default="2,3", help="ladder indices to alternate (720p: 0=512x288 .. 3=960x540)")
    ap.add_argument("--cycles", type=int, default=14)
    ap.add_argument("--frames", type=int, default=25, help="frames at each rung per cycle")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    rungs = [int(x) for x in args.rungs.split(",")]
    if args.child:
        print("RESULT " + json.dumps(child(args.child, args.size, rungs, args.cycles, args.frames)), flush=True)
        return 0
    from common import machine, write_json

    results = []
    for mode in ("vcam", "glibc"):
        print(f"{mode} heap settings:", flush=True)
        p = subprocess.run([sys.executable, __file__, "--child", mode, "--size", args.size, "--rungs", args.rungs,
                            "--cycles", str(args.cycles), "--frames", str(args.frames)],
                           stdout=subprocess.PIPE, text=True, cwd=ROOT)
        if p.returncode != 0:
            print(p.stdout, file=sys.stderr)
            return p.returncode
        for line in p.stdout.splitlines():
            if line.startswith("RESULT "):
                results.append(json.loads(line[7:]))
            else:
                print(line)
    for r in results:
        rss = r["rss_mb"]
        print(f"{r['mode']:>5}: RSS {rss[0]:.0f} MB after the first cycle, {max(rss):.0f} MB peak, {rss[-1]:.0f} MB "
              f"at the end ({(rss[-1] / rss[0] - 1) * 100:+.1f}%); steady frame: "
              + ", ".join(f"{k} {v['minor_faults_per_frame']:.0f} faults, {v['traced_peak_bytes'] / 1024:.0f} KiB"
                          for k, v in r["steady_frame"].items()))
    write_json(args.json, {"machine": machine(), "size": args.size, "frames_per_rung": args.frames,
                           "results": results})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
