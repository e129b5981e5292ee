"""What painting below the output size costs, on the quality benchmark's own judge: the MicroAST teacher's 1280x720
output, and the same output resized down to an internal size and back up (what any network run at that size and
upsampled can at best show), and a slight blur, scored as style distance per Lite1 tap, with gradient energy.

    python benchmarks/resolution_gap.py --styles mondrian,starry_night,shipwreck_minotaur [--json OUT]

It answers whether a student's remaining style gap is its painting or its resolution: if the teacher itself,
resized through 960x540, lands where the student does, no training at that size closes the gap.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import torch  # noqa: E402
from contenders import TeacherContender, cover, read_bgr, style_paths  # noqa: E402
from quality import PHOTOS, Scorer, detail  # noqa: E402

import vcam.model.evaluate as E  # noqa: E402
from vcam.config import Size  # noqa: E402
from vcam.model import losses as L  # noqa: E402

SIZE = Size(1280, 720)


def down_up(img: np.ndarray, w: int, h: int) -> np.ndarray:
    small = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (SIZE.width, SIZE.height), interpolation=cv2.INTER_LINEAR)


VARIANTS = {"teacher": lambda x: x, "blur 0.7 px": lambda x: cv2.GaussianBlur(x, (0, 0), 0.7),
            "via 960x540": lambda x: down_up(x, 960, 540), "via 640x360": lambda x: down_up(x, 640, 360)}


def per_tap(scorer: Scorer, out: np.ndarray, target: dict) -> list[float]:
    with torch.inference_mode():
        f = scorer.judge.net(E._tensor(out), E.EVAL_STYLE_TAPS)
        return [float(((L.gram(f[k])[0] - g) ** 2).sum() / (g ** 2).sum()) for k, g in target.items()]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--styles", default="mondrian,starry_night,shipwreck_minotaur")
    ap.add_argument("--photos", type=int, default=4, help="how many of quality.py's stills")
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    paintings = style_paths(args.data)
    teacher = TeacherContender(args.data, None, 2, paintings)
    scorer = Scorer(paintings, SIZE)
    rows: dict[str, dict[str, list]] = {}
    for rel in PHOTOS[: args.photos]:
        frame = cover(read_bgr(args.data / rel), SIZE)
        for style in args.styles.split(","):
            out = teacher.run([frame], style)[-1]
            for name, fn in VARIANTS.items():
                v = fn(out)
                rows.setdefault(style, {}).setdefault(name, []).append([*per_tap(scorer, v, scorer.target(style)),
                                                                        detail(v)["grad_energy"]])
            print(f"{rel}: {style}", flush=True)
    result = {}
    for style, r in rows.items():
        base = float(np.mean([np.mean(x[:-1]) for x in r["teacher"]]))
        print(style)
        for name, xs in r.items():
            a = np.mean(xs, axis=0)
            result.setdefault(style, {})[name] = {"style_distance": float(a[:-1].mean()), "taps": a[:-1].tolist(),
                                                  "grad_energy": float(a[-1]),
                                                  "over_teacher": float(a[:-1].mean() / base)}
            print(f"  {name:12s} style {a[:-1].mean():.4f} ({a[:-1].mean() / base:.2f}x)  gradient energy "
                  f"{a[-1] * 1e3:.2f}e-3  per tap " + " ".join(f"{x:.3f}" for x in a[:-1]))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
