"""End to end through the real pipeline (vcam.pipeline.Pipeline): pattern source -> engine -> null sink, at
640x360, 1280x720 and 1920x1080, for vcam's default configuration and two baselines run per frame at the full
output size: the MicroAST teacher vcam distils from (Wang et al. 2023) and Johnson et al. 2016; plus a scenario with
one core kept busy by another process (governor on, 720p).

    .venv/bin/python benchmarks/bench_pipeline.py --json out/pipeline.json [--sizes 640x360,1280x720,1920x1080]
        [--seconds 8] [--warmup 4] [--model DIR] [--no-baseline] [--no-teacher] [--no-burner] [--no-live]
        [--networks auto,plain] [--cpu-share 0.5] [--live-warmup 12]

Modes: "lockstep" feeds pre-rendered pattern frames as fast as the pipeline takes them (throughput; the pattern's
drawing cost is left out, as a camera's decoding runs on its own thread), "live" runs the paced 30 fps pattern on
the capture thread behind the newest-frame mailbox (what a call sees: fps is capped by the source, latency
includes waiting for the pipeline; the engine keeps the process under `--cpu-share` of the cores, 0.5 as
`vcam run` does, and takes the runner, 1 or 2 threads, with the least CPU that meets the frame budget where speed
cannot buy a better picture). fps is the median over frame intervals; latency is grab to the end of send.
cpu is the process's CPU seconds per wall second over the measured window (2.0 = both cores busy), what a call
app has left. Each baseline runs its network at the full output size (as designed) on the fastest of ONNX Runtime
fp32, OpenVINO fp32, int8 and (where the CPU has it) bf16, measured at each output size, with the same pre/post
code. Benchmarks report; they never fail.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import SHARED_DATA as SHARED  # noqa: E402
from common import (  # noqa: E402
    cleanup_temp_model,
    clip_frames,
    console,
    cpu_burner,
    find_model,
    machine,
    pattern_frames,
    table,
    write_json,
)
from rich.progress import Progress  # noqa: E402

from vcam.capture import LiveFeed, LockstepFeed, PatternSource  # noqa: E402
from vcam.config import RunConfig, Size  # noqa: E402
from vcam.control.state import Controls, ControlState  # noqa: E402
from vcam.engines.cpu import CpuEngine  # noqa: E402
from vcam.engines.cpu_runtime import available_runtimes, bf16_supported  # noqa: E402
from vcam.engines.network_choice import choose_network  # noqa: E402
from vcam.ops.guided import GuidedUpsampler  # noqa: E402
from vcam.ops.preprocess import Preprocessor  # noqa: E402
from vcam.pipeline import Pipeline  # noqa: E402
from vcam.sinks.null import NullSink  # noqa: E402
from vcam.stats import PipelineStats  # noqa: E402


class ReplaySource:
    """Pre-rendered pattern frames in a loop, delivered as fast as they are read."""

    nominal_fps = 30.0
    live = False

    def __init__(self, frames: list[np.ndarray]) -> None:
        self.name = "pattern (pre-rendered)"
        self.frames = frames
        self.i = 0

    def open(self) -> None:
        self.i = 0

    def read(self) -> np.ndarray:
        f = self.frames[self.i % len(self.frames)]
        self.i += 1
        return f

    def close(self) -> None:
        pass


# -- the baseline as an engine -----------------------------------------------------------------------------------
class _ImageOnlyOrt:
    def __init__(self, path: Path, threads: int) -> None:
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.s = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.s.run(None, {"image": x})[0]


class _ImageOnlyOv:
    precision = "f32"   # explicit, as in vcam's engine (OpenVINO 2026 would pick bf16 on its own on some CPUs)

    def __init__(self, path: Path, threads: int) -> None:
        from vcam.engines.cpu_runtime import openvino_core

        c = openvino_core().compile_model(str(path), "CPU", {"INFERENCE_NUM_THREADS": threads, "NUM_STREAMS": 1,
                                                             "PERFORMANCE_HINT": "LATENCY",
                                                             "INFERENCE_PRECISION_HINT": self.precision})
        self.r = c.create_infer_request()

    def __call__(self, x: np.ndarray) -> np.ndarray:
        self.r.infer({0: x})
        return self.r.get_output_tensor(0).data


class _ImageOnlyOvBf16(_ImageOnlyOv):
    precision = "bf16"   # the baseline gets every option vcam's engine has


class _WithStyle:
    """The teacher's per-frame graph: the image plus one style's features (fixed inputs, set once)."""

    def __init__(self, runner_cls: type, path: Path, threads: int, style: dict) -> None:
        self.inner, self.style = runner_cls(path, threads), style
        if isinstance(self.inner, _ImageOnlyOrt):
            self._names = None
        else:
            self._names = [p.get_any_name() for p in self.inner.r.model_inputs]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if self._names is None:
            return self.inner.s.run(None, {"content": x, **self.style})[0]
        self.inner.r.infer({"content": x, **self.style})
        return self.inner.r.get_output_tensor(0).data


class BaselineEngine:
    """A baseline network at the full output size with vcam's pre/post code (conversion, guided filter at scale 1
    for Johnson's, the plain blend for the teacher's, uint8)."""

    name = "baseline"

    def __init__(self, net, runtime: str, size: Size, name: str = "johnson2016", upsample: str = "guided") -> None:
        self.net, self.runtime, self.name = net, runtime, name
        self.timings = {"pre": 0.0, "infer": 0.0, "post": 0.0}
        self._pre = Preprocessor(size, size)
        self._up = GuidedUpsampler(size, size, mode=upsample)
        self._out = np.empty((size.height, size.width, 3), np.uint8)
        self.size = size

    def step(self, image: np.ndarray, controls: ControlState) -> np.ndarray:
        t0 = time.perf_counter()
        x = self._pre(image)
        t1 = time.perf_counter()
        y = self.net(x)
        t2 = time.perf_counter()
        self._up(y, self._pre.guide, image, controls.strength, out=self._out)
        t3 = time.perf_counter()
        self.timings = {"pre": (t1 - t0) * 1e3, "infer": (t2 - t1) * 1e3, "post": (t3 - t2) * 1e3}
        return self._out

    def reset(self) -> None:
        pass

    def info(self) -> dict:
        return {"engine": self.name, "runtime": self.runtime, "internal_size": str(self.size)}

    def close(self) -> None:
        self._up.close()


def baseline_candidates(tmp: Path) -> list[tuple[str, Path, type]]:
    """Export the TransformerNet and quantize a copy: every (runtime label, onnx, runner class) it may run as."""
    from johnson import export_johnson

    from vcam.model.export import quantize_int8

    fp32 = export_johnson(tmp / "johnson.onnx")
    frames = clip_frames((320, 180), 8) or pattern_frames((320, 180), 8)
    blobs = [Preprocessor(Size(320, 180), Size(320, 180))(f).copy() for f in frames]
    int8 = quantize_int8(fp32, tmp / "johnson_int8.onnx", [{"image": x} for x in blobs])
    cands: list[tuple[str, Path, type]] = [("onnxruntime fp32", fp32, _ImageOnlyOrt)]
    if "openvino" in available_runtimes():
        cands += [("openvino fp32", fp32, _ImageOnlyOv), ("openvino int8", int8, _ImageOnlyOv)]
        if bf16_supported():
            cands.append(("openvino bf16", fp32, _ImageOnlyOvBf16))
    return cands


def teacher_candidates(tmp: Path) -> tuple[list[tuple[str, Path, type]], dict]:
    """The teacher's per-frame graph (starry_night's features as fixed inputs) and a quantized copy."""
    import torch

    from vcam.model.data import read_rgb, to_tensor
    from vcam.model.export import quantize_int8
    from vcam.model.teacher import export_per_frame, load_teacher, style_feeds

    teacher = load_teacher()
    style = style_feeds(teacher.encode_style(to_tensor(read_rgb(SHARED / "styles" / "starry_night.jpg", 512))))
    with torch.inference_mode():
        fp32 = export_per_frame(teacher, tmp / "teacher.onnx")
    frames = clip_frames((320, 180), 8) or pattern_frames((320, 180), 8)
    blobs = [Preprocessor(Size(320, 180), Size(320, 180))(f).copy() for f in frames]
    int8 = quantize_int8(fp32, tmp / "teacher_int8.onnx", [{"content": x, **style} for x in blobs])
    cands: list[tuple[str, Path, type]] = [("onnxruntime fp32", fp32, _ImageOnlyOrt)]
    if "openvino" in available_runtimes():
        cands += [("openvino fp32", fp32, _ImageOnlyOv), ("openvino int8", int8, _ImageOnlyOv)]
        if bf16_supported():
            cands.append(("openvino bf16", fp32, _ImageOnlyOvBf16))
    return cands, style


def fastest_baseline(cands: list[tuple[str, Path, type]], size: Size, style: dict | None = None
                     ) -> tuple[str, object]:
    """The fastest candidate at the size the baseline runs at (the ranking changes with size: bf16 led at 320x180
    and trailed int8 at 640x360 here), as (label, ready runner)."""
    x = Preprocessor(size, size)(pattern_frames((size.width, size.height), 1)[0]).copy()
    best: tuple[str, object, float] | None = None
    for label, path, cls in cands:
        net = cls(path, 2) if style is None else _WithStyle(cls, path, 2, style)
        net(x)
        t = []
        for _ in range(2):
            t0 = time.perf_counter()
            net(x)
            t.append((time.perf_counter() - t0) * 1e3)
        ms = min(t)
        console.print(f"  baseline candidate {label}: {ms:.1f} ms at {size}")
        if best is None or ms < best[2]:
            best = (label, net, ms)
    return best[0], best[1]


# -- running one scenario -----------------------------------------------------------------------------------------
def run_scenario(engine, feed, size: Size, styles: tuple[str, ...], warmup_s: float, seconds: float,
                 max_frames: int | None = None, warmup_frames: int | None = None,
                 person: float | None = None) -> dict:
    # ``person``: the person's strength in person-aware mode (0 = --region background); None = off.
    controls = Controls(styles, {styles[0]: 1.0}, transition_s=0.0, person_strength=person)
    sink = NullSink()
    sink.open(size, 30.0)
    feed.start()
    try:
        for secs, frames, measure in ((warmup_s, warmup_frames, False), (seconds, max_frames, True)):
            stats = PipelineStats()
            pipe = Pipeline(feed, engine, [sink], controls, size, stats=stats, max_frames=frames)
            t_end = time.perf_counter() + secs
            pipe.on_frame = lambda n, p=pipe, t=t_end: p.stop() if time.perf_counter() > t and n >= 3 else None
            cpu0, wall0 = _cpu_seconds(), time.perf_counter()
            summary = pipe.run()
            if measure:
                # Every thread of this process: capture, engine, runtime pools, post-processing bands.
                summary["cpu_per_wall"] = (_cpu_seconds() - cpu0) / max(time.perf_counter() - wall0, 1e-9)
                return summary
    finally:
        feed.stop()
    return {}


def _cpu_seconds() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def row(name: str, summary: dict, engine, size: Size, baseline: bool, mode: str) -> dict:
    info = engine.info()
    frame = summary.get("frame_ms", {})
    lat = summary.get("latency_ms", {})
    fps = 1000.0 / frame["p50"] if frame.get("p50") else summary.get("fps", 0.0)
    threads = f", {info['threads']}t" if "threads" in info else ""
    precision = f" {info['precision']}" if "precision" in info else ""
    return {"name": name, "engine": f"{info.get('engine')} ({info.get('runtime')}{precision}{threads})",
            "output_size": str(size), "internal_size": info.get("internal_size"), "fps": round(fps, 2),
            "latency_ms_p50": lat.get("p50"), "latency_ms_p95": lat.get("p95"), "baseline": baseline,
            "mode": mode, "fps_mean": summary.get("fps"), "frames": summary.get("frames"),
            "stages_ms_p50": {k: v["p50"] for k, v in summary.get("stages_ms", {}).items()},
            "dropped_frames": summary.get("dropped_frames", 0), "governor": info.get("governor"),
            "cpu_per_wall": round(summary.get("cpu_per_wall", 0.0), 3),
            "governor_state": info.get("governor_state"), "network": info.get("network"),
            "cpu_budget_per_wall": (info.get("governor_state") or {}).get("cpu_budget")}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", type=Path)
    ap.add_argument("--sizes", default="640x360,1280x720,1920x1080")
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--warmup", type=float, default=4.0)
    ap.add_argument("--live-warmup", type=float, default=12.0,
                    help="seconds a live row runs before measuring: the governor's CPU-budget moves take ~5 s each")
    ap.add_argument("--model", type=Path)
    ap.add_argument("--no-baseline", action="store_true", help="leave Johnson et al. 2016 out")
    ap.add_argument("--no-teacher", action="store_true", help="leave the MicroAST teacher out")
    ap.add_argument("--no-burner", action="store_true")
    ap.add_argument("--no-live", action="store_true")
    ap.add_argument("--baseline-frames", type=int, default=4)
    ap.add_argument("--networks", default="auto",
                    help="the model's networks to measure, comma-separated: auto (what `vcam run` takes on this "
                         "machine), plain, or a variant; rows other than auto are named 'vcam (NAME)'")
    ap.add_argument("--cpu-share", type=float, default=RunConfig.cpu_share,
                    help="live rows: the share of the cores the engine may use (1: no limit), as vcam run --cpu-share")
    args = ap.parse_args(argv)
    sizes = [Size.parse(s) for s in args.sizes.split(",")]
    env = machine()
    man, origin = find_model(args.model)
    console.print(f"model: {origin}; machine: {env['cpu']}, {env['cores']} cores, load {env['load_avg_1m_at_start']}")
    rows: list[dict] = []
    tmp = Path(tempfile.mkdtemp(prefix="vcam-bench-pipe-"))
    baseline = None
    if not args.no_baseline:
        console.print("baseline: exporting and choosing the runtime for Johnson et al. 2016")
        baseline = baseline_candidates(tmp)
    teacher = None
    if not args.no_teacher:
        if (SHARED / "teachers" / "microast").is_dir():
            console.print("baseline: exporting and choosing the runtime for the MicroAST teacher")
            teacher = teacher_candidates(tmp)
        else:
            console.print("teacher baseline: skipped (../shared/data/teachers/microast not found)")

    # "auto" is resolved per mode, as vcam resolves it per run: a live run's CPU budget can choose another network
    # than a run over every frame (network_choice).
    nets = {"vcam" if n == "auto" else f"vcam ({n})": n for n in args.networks.split(",")}
    chosen: dict[tuple[str, bool], object] = {}

    def network_for(label: str, cfg: RunConfig):
        key = (nets.get(label, next(iter(nets.values()))), cfg.realtime)
        if key not in chosen:
            console.print(f"{label} {'live' if cfg.realtime else 'lockstep'}:", end=" ")
            chosen[key] = choose_network(replace(cfg, network=key[0], model_dir=man.directory), man,
                                         say=console.print)
            if chosen[key] is man:
                console.print(f"network {man.network}")
        return chosen[key]
    plan = []
    for size in sizes:
        for label in nets:
            plan.append((label, size, "lockstep", False))
            if not args.no_live:
                plan.append((label, size, "live", False))
        if teacher:
            plan.append(("microast (teacher)", size, "lockstep", True))
        if baseline:
            plan.append(("johnson2016", size, "lockstep", True))
    if not args.no_burner:
        plan.append(("vcam + 1 busy core", Size(1280, 720), "lockstep", False))

    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("pipeline", total=len(plan))
        for name, size, mode, is_base in plan:
            bar.update(task, description=f"{name} {size} {mode}")
            # lockstep measures capacity (every frame, the fastest runner); live what a call costs (the engine
            # takes the runner with the least CPU that meets the frame budget).
            cfg = RunConfig(input="pattern", outputs=("null",), size=size, style=man.styles[0],
                            realtime=mode == "live", cpu_share=args.cpu_share)
            if is_base:
                if name.startswith("microast"):
                    label, net = fastest_baseline(teacher[0], size, teacher[1])
                    engine = BaselineEngine(net, label, size, name="microast", upsample="bilinear")
                else:
                    label, net = fastest_baseline(baseline, size)
                    engine = BaselineEngine(net, label, size)
                feed = LockstepFeed(ReplaySource(pattern_frames((size.width, size.height), 4)))
                summary = run_scenario(engine, feed, size, man.styles, 0.0, 0.0, max_frames=args.baseline_frames,
                                       warmup_frames=1)
            else:
                burner = name.endswith("busy core")
                ctx = cpu_burner() if burner else _null()
                with ctx:
                    engine = CpuEngine(network_for(name, cfg), cfg)
                    if mode == "live":
                        feed = LiveFeed(PatternSource(size, 30.0, paced=True))
                    else:
                        feed = LockstepFeed(ReplaySource(pattern_frames((size.width, size.height), 24)))
                    warm = args.live_warmup if mode == "live" else args.warmup * (2 if burner else 1)
                    summary = run_scenario(engine, feed, size, man.styles, warm, args.seconds)
            rows.append(row(name, summary, engine, size, is_base, mode))
            engine.close()
            bar.advance(task)

    table("End to end: pattern -> engine -> null sink", ["name", "network", "mode", "output", "internal", "engine",
                                                         "fps", "lat p50 ms", "lat p95 ms", "pre", "infer", "post",
                                                         "cpu"],
          [[r["name"], r.get("network") or "-", r["mode"], r["output_size"], r["internal_size"], r["engine"], r["fps"],
            r["latency_ms_p50"],
            r["latency_ms_p95"], r["stages_ms_p50"].get("pre", 0.0), r["stages_ms_p50"].get("infer", 0.0),
            r["stages_ms_p50"].get("post", 0.0), r["cpu_per_wall"]] for r in rows])
    for size in sizes:
        v = next((r for r in rows if r["name"] == "vcam" and r["mode"] == "lockstep" and
                  r["output_size"] == str(size)), None)
        for b in (r for r in rows if r["baseline"] and r["output_size"] == str(size)):
            if v and b["fps"]:
                console.print(f"{size}: vcam {v['fps']:.1f} fps vs {b['name']} {b['fps']:.2f} fps "
                              f"= {v['fps'] / b['fps']:.1f}x")
        for label in nets:
            live = next((r for r in rows if r["name"] == label and r["mode"] == "live" and
                         r["output_size"] == str(size)), None)
            if live:
                cores = env["cores"] or 2
                cap = live["cpu_budget_per_wall"]
                console.print(f"{size} live, {label} ({live['network']}): {live['cpu_per_wall']:.2f} CPU seconds "
                              f"per second ({live['cpu_per_wall'] / cores * 100:.0f}% of {cores} cores; budget "
                              + (f"{cap / cores * 100:.0f}%)" if cap else "none)"))
    write_json(args.json, rows)
    if args.json:
        meta = Path(args.json).with_suffix(".meta.json")
        write_json(meta, {"machine": env, "model": origin,
                      "baseline_runtime": {f"{r['name']} {r['output_size']}": r["engine"] for r in rows
                                               if r["baseline"]}})
    cleanup_temp_model(man)
    return 0


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


if __name__ == "__main__":
    raise SystemExit(main())
