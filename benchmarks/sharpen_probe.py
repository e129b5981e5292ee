"""Would a cheap detail boost after upsampling close the style gap to the teacher, and what would it cost in
stability? An unsharp mask (out + amount * (out - blur(out, sigma))) on vcam's 1280x720 pipeline output, scored as
benchmarks/quality.py scores it: Lite1 style distance against the teacher's, on the held-out photos in every style,
and E_warp on clips against the unsharpened output and the teacher run per frame.

    python benchmarks/sharpen_probe.py --json out/sharpen.json [--clips carphone,synthetic_pan_zoom] [--frames 12]

A probe, not a product feature: it reports; it never fails.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from contenders import PipelineContender, TeacherContender, cover, read_bgr, style_paths, to_rgb  # noqa: E402
from quality import PHOTOS, Scorer, clip_list  # noqa: E402

from vcam.config import Size  # noqa: E402
from vcam.model import evaluate as E  # noqa: E402

VARIANTS = {"none": (0.0, 1.0), "usm0.5_s1": (0.5, 1.0), "usm1_s1": (1.0, 1.0), "usm1_s2": (1.0, 2.0),
            "usm2_s1": (2.0, 1.0)}


def unsharp(rgb: np.ndarray, amount: float, sigma: float) -> np.ndarray:
    if amount == 0:
        return rgb
    return np.clip(rgb + amount * (rgb - cv2.GaussianBlur(rgb, (0, 0), sigma)), 0, 1)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--model", type=Path, default=ROOT / "models")
    ap.add_argument("--clips", default="carphone,synthetic_pan_zoom")
    ap.add_argument("--clip-styles", type=int, default=3)
    ap.add_argument("--frames", type=int, default=12)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    size = Size(1280, 720)
    vcam = PipelineContender("vcam", args.model, size, "auto")
    styles = list(vcam.styles())
    paintings = style_paths(args.data)
    teacher = TeacherContender(args.data, None, 2, paintings)
    scorer = Scorer(paintings, size)
    t0 = time.perf_counter()
    stills: dict[str, list] = {k: [] for k in [*VARIANTS, "teacher"]}
    for p in PHOTOS:
        frame = cover(read_bgr(args.data / p), size)
        ref = scorer.judge.content_features(to_rgb(frame))
        for st in styles:
            out = vcam.run([frame, frame], st)[-1]
            for k, (a, s) in VARIANTS.items():
                stills[k].append({"style": st, **scorer.still(unsharp(out, a, s), st, ref)})
            stills["teacher"].append({"style": st, **scorer.still(teacher.run([frame], st)[-1], st, ref)})
        print(f"{p}: {time.perf_counter() - t0:.0f} s", flush=True)
    per_teacher = {st: np.mean([r["style_distance"] for r in stills["teacher"] if r["style"] == st]) for st in styles}
    summary = {}
    for k, rows in stills.items():
        ratio = {st: float(np.mean([r["style_distance"] for r in rows if r["style"] == st]) / per_teacher[st])
                 for st in styles}
        summary[k] = {"style_vs_teacher_mean": float(np.mean(list(ratio.values()))),
                      "style_vs_teacher_worst": max(ratio.values()), "per_style": ratio,
                      "content_distance": float(np.mean([r["content_distance"] for r in rows])),
                      "grad_energy": float(np.mean([r["grad_energy"] for r in rows]))}
        print(f"{k:10s} style/teacher {summary[k]['style_vs_teacher_mean']:.3f} (worst "
              f"{summary[k]['style_vs_teacher_worst']:.2f}) content {summary[k]['content_distance']:.3f} "
              f"grad {summary[k]['grad_energy']:.5f}", flush=True)
    warps = []
    for n, (name, frames) in enumerate(clip_list(args.data, args.clips.split(","), args.frames, size)):
        flows = E.pair_flows([to_rgb(f) for f in frames])
        for st in [styles[(n * args.clip_styles + j) % len(styles)] for j in range(args.clip_styles)]:
            outs = vcam.run(frames, st)
            row = {"clip": name, "style": st,
                   "teacher": float(np.mean(E.e_warp_pairs(flows, teacher.run(frames, st))))}
            for k, (a, s) in VARIANTS.items():
                row[k] = float(np.mean(E.e_warp_pairs(flows, [unsharp(o, a, s) for o in outs])))
            warps.append(row)
            print(f"{name} {st}: " + " ".join(f"{k}={row[k] * 1e3:.2f}" for k in [*VARIANTS, "teacher"]), flush=True)
    for k in VARIANTS:
        summary[k]["e_warp_vs_unsharpened"] = float(np.mean([r[k] / r["none"] for r in warps]))
        summary[k]["e_warp_vs_teacher_worst"] = max(r[k] / r["teacher"] for r in warps)
    vcam.close()
    teacher.close()
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"summary": summary, "clips": warps}, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
