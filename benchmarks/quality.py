"""Quality benchmark: temporal stability (E_warp) and style/content distances, temporal model vs per-frame baseline.

    python benchmarks/quality.py --json out/quality.json [--frames 40] [--styles starry_night,great_wave]
        [--model models] [--baseline runs/baseline] [--clips carphone,synthetic]
        [--onnx-compare A.onnx B.onnx | --bf16-compare]

For every clip in ../shared/data/video and a synthetic camera move over a held-out photo, at the engine's internal
resolution (about 320x180 pixels, multiples of 4, same aspect), each compared style (in both models) is run through
both networks in torch: the temporal model recurrently (state carried, keep = 1 after the first frame), the baseline
frame by frame (keep = 0). Reported per clip and style:
  e_warp            warping error (Lai et al. 2018), flow from the input frames, occlusions masked (lower = steadier)
  e_warp_input      the input's own E_warp: the floor a perfectly stable restyling of this clip could approach
  style_distance    mean relative Gram distance to the style image on EfficientNet-Lite1 (never used in training)
  content_distance  relative feature distance to the input frame at a mid Lite1 tap
and a summary entry with the mean ratios model/baseline against the issue's targets (E_warp <= 0.5x baseline,
style distance within 10%).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.progress import (  # noqa: E402
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table  # noqa: E402

from vcam.errors import VcamError  # noqa: E402
from vcam.model import evaluate as E  # noqa: E402
from vcam.model.data import VIDEO_SUFFIXES, read_rgb  # noqa: E402
from vcam.model.network import STATE_CHANNELS  # noqa: E402
from vcam.styles import parse_style_spec, resolve_blend  # noqa: E402

SYNTHETIC_PHOTO = "plasma_Kite.jpg"  # held out of training
SYNTHETIC = "synthetic_pan_zoom"
TARGET_E_WARP_RATIO = 0.5
TARGET_STYLE_RATIO = 1.1


def default_model_dir() -> Path:
    shipped = ROOT / "models"
    return shipped if (shipped / "manifest.json").is_file() else ROOT / "runs" / "main"


def pick_threads(requested: int) -> int:
    """2 threads on an idle machine; 1 when another process holds a core (2-thread OpenMP barriers collapse then)."""
    if requested > 0:
        return requested
    cores = os.cpu_count() or 1
    busy = os.getloadavg()[0] > cores - 0.5
    return 1 if busy or cores < 2 else 2


def load_clips(data: Path, names: list[str] | None, frames: int) -> list[tuple[str, list[np.ndarray]]]:
    """(name, frames at the internal resolution) for each clip, plus the synthetic pan/zoom sequence."""
    video_dir, content_dir = data / "video", data / "content"
    if not video_dir.is_dir():
        raise VcamError(f"No clips at {video_dir}.", "Run from a checkout with ../shared/data, or pass --data DIR.")
    clips = []
    for p in sorted(video_dir.iterdir()):
        if p.suffix.lower() in VIDEO_SUFFIXES and (names is None or p.stem in names or p.name in names):
            clips.append((p.stem, E.read_clip(p, frames)))
    photo = content_dir / SYNTHETIC_PHOTO
    if (names is None or SYNTHETIC in names or "synthetic" in names) and photo.is_file():
        clips.append((SYNTHETIC, E.synthetic_motion(read_rgb(photo), frames)))
    clips = [(n, f) for n, f in clips if len(f) >= 2]
    if not clips:
        raise VcamError("No clip to measure.", "Check --clips against the files in ../shared/data/video.")
    return clips


class SequenceRunner:
    """Runs an exported StyleNet over a clip with the same recurrence as the torch run (state carried, keep = 1 after
    the first frame when temporal); subclasses supply one network step."""

    def __init__(self, styles: tuple[str, ...]) -> None:
        self.styles = styles

    def step(self, x: np.ndarray, state: np.ndarray, keep: np.ndarray, style: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def run(self, frames: list[np.ndarray], style: str, temporal: bool) -> list[np.ndarray]:
        s = np.asarray([resolve_blend(parse_style_spec(style), self.styles)], np.float32)
        h, w = frames[0].shape[:2]
        state = np.zeros((1, STATE_CHANNELS, h // 4, w // 4), np.float32)
        out = []
        for i, f in enumerate(frames):
            x = np.ascontiguousarray(f.transpose(2, 0, 1)[None], np.float32)
            keep = np.asarray([[1.0 if temporal and i > 0 else 0.0]], np.float32)
            y, state = self.step(x, state, keep, s)
            out.append(np.clip(y[0].transpose(1, 2, 0), 0, 1))
        return out


class OnnxRunner(SequenceRunner):
    """An ONNX export through onnxruntime (any export: inputs matched by name, else by position)."""

    NAMES = ("image", "state", "keep", "style")

    def __init__(self, path: Path, styles: tuple[str, ...], threads: int) -> None:
        import onnxruntime as ort

        super().__init__(styles)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        inputs = self.session.get_inputs()
        if len(inputs) != 4:
            raise VcamError(f"{path} has {len(inputs)} inputs; a vcam model has 4 (image, state, keep, style).")
        names = [i.name for i in inputs]
        # Match by name where the exporter kept them, else by position.
        self.inputs = [n if n in names else names[k] for k, n in enumerate(self.NAMES)]

    def step(self, x, state, keep, style):
        y, new_state = self.session.run(None, dict(zip(self.inputs, (x, state, keep, style), strict=True)))[:2]
        return y, new_state


class RuntimeRunner(SequenceRunner):
    """The export through vcam's own OpenVINO runner at a given inference precision (f32 or bf16), to judge what the
    precision costs."""

    def __init__(self, path: Path, styles: tuple[str, ...], threads: int, precision: str) -> None:
        super().__init__(styles)
        self.path, self.threads, self.precision = path, threads, precision
        self._runners: dict[tuple[int, int], object] = {}

    def step(self, x, state, keep, style):
        from vcam.engines.cpu_runtime import open_runner

        hw = (x.shape[2], x.shape[3])
        runner = self._runners.get(hw)
        if runner is None:   # one static compile per clip size
            runner = self._runners[hw] = open_runner("openvino", self.path, self.threads, hw, self.precision)
        y, new_state = np.empty_like(x), np.empty_like(state)
        runner.run(x, state, keep, style, y, new_state)
        return y, new_state


class Steps:
    """A rich progress bar on a terminal; a plain line per finished step in a log."""

    def __init__(self, console: Console, total: int) -> None:
        self.console, self.total, self.done, self.text = console, total, 0, ""
        self.start = time.perf_counter()
        self.bar: Progress | None = None
        if console.is_terminal:
            self.bar = Progress(TextColumn("{task.description:<40}"), BarColumn(), MofNCompleteColumn(),
                                TimeElapsedColumn(), TimeRemainingColumn(), console=console)
            self.task = self.bar.add_task("", total=total)

    def __enter__(self) -> Steps:
        if self.bar:
            self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar:
            self.bar.stop()

    def describe(self, text: str) -> None:
        self.text = text
        if self.bar:
            self.bar.update(self.task, description=text)

    def advance(self) -> None:
        self.done += 1
        if self.bar:
            self.bar.advance(self.task)
        else:
            self.console.print(f"[{self.done}/{self.total}] {self.text} ({time.perf_counter() - self.start:.0f} s)",
                               highlight=False, markup=False)


def onnx_styles(path: Path, fallback: tuple[str, ...]) -> tuple[str, ...]:
    """Style order of an exported model: its manifest's, else the torch model's."""
    man = path.parent / "manifest.json"
    if man.is_file():
        styles = json.loads(man.read_text(encoding="utf-8")).get("styles")
        if styles:
            return tuple(styles)
    return fallback


def measure(args: argparse.Namespace, console: Console) -> list[dict]:
    model = E.load_model(args.model)
    base = E.load_model(args.baseline)
    shared = [s for s in model.styles if s in base.styles]
    styles = args.styles.split(",") if args.styles else shared
    missing = [s for s in styles if s not in shared]
    if missing:
        raise VcamError(f"Style(s) {', '.join(missing)} not in both models.", "Styles in both: " + ", ".join(shared))
    judge = E.Judge()
    targets = {s: judge.style_target(read_rgb(args.data / "styles" / f"{s}.jpg")) for s in styles}
    clips = load_clips(args.data, args.clips.split(",") if args.clips else None, args.frames)
    onnx = None
    if args.onnx_compare:
        onnx = [OnnxRunner(Path(p), onnx_styles(Path(p), model.styles), torch.get_num_threads())
                for p in args.onnx_compare]
    elif args.bf16_compare:
        path = args.model / "vcam.onnx"
        if not path.is_file():
            raise VcamError(f"{path} not found: --bf16-compare runs the model's ONNX export.",
                            f"Export it first: vcam export --model {args.model}")
        onnx = [RuntimeRunner(path, onnx_styles(path, model.styles), torch.get_num_threads(), p)
                for p in ("f32", "bf16")]

    rows: list[dict] = []
    onnx_rows: list[dict] = []
    units = len(clips) * (1 + 2 * len(styles) + (2 * len(styles) if onnx else 0))
    with Steps(console, units) as bar:
        for name, frames in clips:
            bar.describe(f"{name}: flow")
            flows = E.pair_flows(frames)
            judged = list(range(0, len(frames), args.judge_every))
            refs = {i: judge.content_features(frames[i]) for i in judged}
            e_in = float(np.mean(E.e_warp_pairs(flows, frames)))
            bar.advance()

            def score(outs: list[np.ndarray], style: str) -> tuple[float, float, float]:
                d = [judge.distances(outs[i], targets[style], refs[i]) for i in judged]  # noqa: B023
                return (float(np.mean(E.e_warp_pairs(flows, outs))),  # noqa: B023
                        float(np.mean([a for a, _ in d])), float(np.mean([b for _, b in d])))

            for style in styles:
                res = {}
                for label, net in (("model", model), ("baseline", base)):
                    bar.describe(f"{name}: {style} ({label})")
                    res[label] = score(E.stylize_sequence(net, frames, style), style)
                    bar.advance()
                style_in = float(np.mean([judge.style_distance(frames[i], targets[style]) for i in judged]))
                h, w = frames[0].shape[:2]
                rows.append({
                    "clip": name, "style": style, "frames": len(frames), "size": f"{w}x{h}",
                    "e_warp": res["model"][0], "e_warp_baseline": res["baseline"][0], "e_warp_input": e_in,
                    "style_distance": res["model"][1], "style_distance_baseline": res["baseline"][1],
                    "style_distance_input": style_in,
                    "content_distance": res["model"][2], "content_distance_baseline": res["baseline"][2],
                })
                if onnx:
                    got = []
                    for k, runner in enumerate(onnx):
                        bar.describe(f"{name}: {style} (onnx {'AB'[k]})")
                        outs = runner.run(frames, style, model.temporal)
                        got.append((outs, score(outs, style)))
                        bar.advance()
                    diff = float(np.mean([np.abs(a - b).mean() for a, b in zip(got[0][0], got[1][0], strict=True)]))
                    onnx_rows.append({"clip": name, "style": style, "e_warp_a": got[0][1][0], "e_warp_b": got[1][1][0],
                                      "style_distance_a": got[0][1][1], "style_distance_b": got[1][1][1],
                                      "mean_abs_diff_255": diff * 255})
    rows.append(summary(rows, model, base, args, onnx_rows))
    return rows


def _ratio(rows: list[dict], key: str) -> float:
    return float(np.mean([r[key] / r[key + "_baseline"] for r in rows if r[key + "_baseline"] > 0]))


def summary(rows: list[dict], model: E.LoadedModel, base: E.LoadedModel, args: argparse.Namespace,
            onnx_rows: list[dict]) -> dict:
    styles = sorted({r["style"] for r in rows})
    e_ratio, s_ratio = _ratio(rows, "e_warp"), _ratio(rows, "style_distance")
    out = {
        "clip": "summary", "style": "all",
        "e_warp_ratio": e_ratio,
        "style_distance_ratio": s_ratio,
        "content_distance_ratio": _ratio(rows, "content_distance"),
        "per_style": {s: {"e_warp_ratio": _ratio([r for r in rows if r["style"] == s], "e_warp"),
                          "style_distance_ratio": _ratio([r for r in rows if r["style"] == s], "style_distance")}
                      for s in styles},
        "e_warp_input_mean": float(np.mean([r["e_warp_input"] for r in rows])),
        "targets": {"e_warp_ratio_max": TARGET_E_WARP_RATIO, "style_distance_ratio_max": TARGET_STYLE_RATIO},
        "e_warp_target_met": e_ratio <= TARGET_E_WARP_RATIO,
        "style_target_met": s_ratio <= TARGET_STYLE_RATIO,
        "model": {"dir": str(model.directory), "iterations": model.iterations, "temporal": model.temporal},
        "baseline": {"dir": str(base.directory), "iterations": base.iterations, "temporal": base.temporal},
        "frames_per_clip": args.frames, "judge_every": args.judge_every, "eval_net": E.EVAL_NET,
        "threads": torch.get_num_threads(),
    }
    if onnx_rows:
        a, b = args.onnx_compare or ("openvino f32", "openvino bf16")
        out["onnx_compare"] = {"a": str(a), "b": str(b), "rows": onnx_rows}
    return out


def print_table(rows: list[dict], console: Console) -> None:
    t = Table(title="Quality: temporal model vs per-frame baseline (lower is better everywhere)")
    for col in ("clip", "style", "E_warp in", "E_warp", "E_warp base", "ratio", "style d", "style d base", "ratio",
                "style d in", "content d", "content d base"):
        t.add_column(col, justify="left" if col in ("clip", "style") else "right")
    for r in rows[:-1]:
        t.add_row(r["clip"], r["style"], f"{r['e_warp_input']:.5f}", f"{r['e_warp']:.5f}",
                  f"{r['e_warp_baseline']:.5f}",
                  f"{r['e_warp'] / r['e_warp_baseline']:.2f}", f"{r['style_distance']:.3f}",
                  f"{r['style_distance_baseline']:.3f}", f"{r['style_distance'] / r['style_distance_baseline']:.2f}",
                  f"{r['style_distance_input']:.3f}", f"{r['content_distance']:.3f}",
                  f"{r['content_distance_baseline']:.3f}")
    console.print(t)
    s = rows[-1]
    ok = {True: "[green]met[/]", False: "[red]not met[/]"}
    console.print(f"mean E_warp ratio {s['e_warp_ratio']:.3f} (target <= {TARGET_E_WARP_RATIO}: "
                  f"{ok[s['e_warp_target_met']]}); mean style-distance ratio {s['style_distance_ratio']:.3f} "
                  f"(target <= {TARGET_STYLE_RATIO}: {ok[s['style_target_met']]}); content-distance ratio "
                  f"{s['content_distance_ratio']:.3f}")
    console.print(f"model {s['model']['dir']} ({s['model']['iterations']} it), baseline {s['baseline']['dir']} "
                  f"({s['baseline']['iterations']} it), {s['frames_per_clip']} frames/clip, {s['threads']} thread(s)")
    for r in s.get("onnx_compare", {}).get("rows", []):
        console.print(f"A/B {r['clip']}/{r['style']}: E_warp A {r['e_warp_a']:.5f} B {r['e_warp_b']:.5f}, "
                      f"style d A {r['style_distance_a']:.3f} B {r['style_distance_b']:.3f}, "
                      f"mean |A-B| {r['mean_abs_diff_255']:.2f}/255")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", type=Path, required=True, help="write the results here")
    ap.add_argument("--frames", type=int, default=40, help="frames per clip (default 40)")
    ap.add_argument("--styles", default="", help="comma-separated styles (default: every style in both models)")
    ap.add_argument("--model", type=Path, default=None, help="temporal model dir (default models/ or runs/main)")
    ap.add_argument("--baseline", type=Path, default=ROOT / "runs" / "baseline", help="per-frame baseline dir")
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data", help="the shared data folder")
    ap.add_argument("--clips", default="", help=f"comma-separated clip stems and/or '{SYNTHETIC}' (default: all)")
    ap.add_argument("--judge-every", type=int, default=2, help="style/content distances on every Nth frame")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: 2 when idle, 1 when busy)")
    cmp = ap.add_mutually_exclusive_group()
    cmp.add_argument("--onnx-compare", nargs=2, metavar=("A", "B"), default=None,
                     help="also run two ONNX exports (e.g. fp32 and int8) of the model and compare them")
    cmp.add_argument("--bf16-compare", action="store_true",
                     help="also run the model's ONNX through OpenVINO at f32 (A) and bf16 (B) and compare them")
    args = ap.parse_args(argv)
    args.model = args.model or default_model_dir()
    if args.frames < 2 or args.judge_every < 1:
        ap.error("--frames must be >= 2 and --judge-every >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    console = Console(stderr=True)
    torch.set_num_threads(pick_threads(args.threads))
    start = time.perf_counter()
    try:
        rows = measure(args, console)
    except VcamError as exc:
        console.print(f"[red]error:[/] {exc}")
        return 2
    rows[-1]["seconds"] = round(time.perf_counter() - start, 1)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    print_table(rows, Console(width=None if sys.stdout.isatty() else 200))
    console.print(f"wrote {args.json} in {rows[-1]['seconds']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
