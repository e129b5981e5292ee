"""Micro-benchmark of the CPU pre/post operations and the alternatives that were tried for them (the numbers in
vcam/ops/guided.py and preprocess.py come from here).

    .venv/bin/python benchmarks/bench_ops.py --json out/ops.json [--sizes 1280x720,1920x1080] [--runs 60]

Post-processing = guided-filter upsampling from a quarter of the height + strength blend + uint8 output. Variants:
  numpy naive        the usual numpy fast guided filter, then a separate float -> uint8 conversion
  cv2 whole frame    cv2 ops on float32, strength folded into A and b, one pass over the frame (band_rows=0)
  cv2 planar         the same per colour plane (1-channel resizes), merged at the end
  cv2 int16 fixed    coefficients in Q7 int16, int16 resize/multiply, saturating add
  vcam bands 1t/2t   what vcam runs: cache-sized row bands, on one thread or split over two
Variants are timed interleaved (a burst of load hits all of them alike); the table shows median and min.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import SHARED_DATA, console, machine, table, write_json  # noqa: E402
from rich.progress import Progress  # noqa: E402

from vcam.config import Size  # noqa: E402
from vcam.ops.guided import GuidedUpsampler  # noqa: E402
from vcam.ops.params import GUIDED  # noqa: E402
from vcam.ops.preprocess import Preprocessor  # noqa: E402


def _frame(size: Size) -> np.ndarray:
    photo = cv2.imread(str(SHARED_DATA / "content" / "chelsea.jpg"))
    if photo is None:
        rng = np.random.default_rng(0)
        photo = cv2.GaussianBlur(rng.integers(0, 256, (720, 1280, 3), dtype=np.uint8), (0, 0), 2)
    return cv2.resize(photo, (size.width, size.height), interpolation=cv2.INTER_AREA)


def numpy_naive(styl, guide, frame, s):
    """Reference point: straightforward numpy (float32), then a separate conversion to uint8 BGR."""
    r, eps = GUIDED.radius, GUIDED.eps
    k = (2 * r + 1, 2 * r + 1)
    p = styl[0].transpose(1, 2, 0)[:, :, ::-1]
    I3 = guide[:, :, None]
    box = lambda x: cv2.blur(x, k)  # noqa: E731
    mI, mp = box(guide)[:, :, None], box(np.ascontiguousarray(p))
    cov = box(np.ascontiguousarray(I3 * p)) - mI * mp
    var = box(guide * guide)[:, :, None] - mI * mI
    A = cov / (var + eps)
    b = mp - A * mI
    A, b = box(A), box(b)
    H, W = frame.shape[:2]
    Au = cv2.resize(A, (W, H))
    bu = cv2.resize(b, (W, H))
    g = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY).astype(np.float32)[:, :, None] / 255.0
    q = Au * g + bu
    out = s * q + (1 - s) * frame.astype(np.float32) / 255.0
    return np.clip(out * 255.0 + 0.5, 0, 255).astype(np.uint8)


class Variants:
    """The full-resolution pass written other ways, on the coefficients GuidedUpsampler computed."""

    def __init__(self, up: GuidedUpsampler, frame: np.ndarray) -> None:
        self.up, self.frame = up, frame
        H, W = frame.shape[:2]
        self.H, self.W = H, W
        self.A = np.empty((H, W, 3), np.float32)
        self.B = np.empty((H, W, 3), np.float32)
        self.g = np.empty((H, W), np.uint8)
        self.g3 = np.empty((H, W, 3), np.uint8)
        self.out = np.empty((H, W, 3), np.uint8)
        self.pa = np.empty((H, W), np.float32)
        self.pb = np.empty((H, W), np.float32)
        self.planes = [np.empty((H, W), np.uint8) for _ in range(3)]
        self.A16 = np.empty((H, W, 3), np.int16)
        self.B16 = np.empty((H, W, 3), np.int16)
        self.ca16 = np.empty_like(up.coef_a, dtype=np.int16)
        self.cb16 = np.empty_like(up.coef_b, dtype=np.int16)

    def whole(self, s: float) -> np.ndarray:
        W, H = self.W, self.H
        cv2.resize(self.up.coef_a, (W, H), dst=self.A)
        cv2.resize(self.up.coef_b, (W, H), dst=self.B)
        cv2.cvtColor(self.frame, cv2.COLOR_BGR2GRAY, dst=self.g)
        cv2.cvtColor(self.g, cv2.COLOR_GRAY2BGR, dst=self.g3)
        cv2.multiply(self.A, self.g3, dst=self.A, dtype=cv2.CV_32F)
        if s >= 1:
            cv2.add(self.A, self.B, dst=self.out, dtype=cv2.CV_8U)
        else:
            cv2.add(self.A, self.B, dst=self.A)
            cv2.addWeighted(self.A, 1.0, self.frame, 1 - s, 0.0, dst=self.out, dtype=cv2.CV_8U)
        return self.out

    def planar(self, s: float) -> np.ndarray:
        W, H = self.W, self.H
        cv2.cvtColor(self.frame, cv2.COLOR_BGR2GRAY, dst=self.g)
        ca, cb = cv2.split(self.up.coef_a), cv2.split(self.up.coef_b)
        fr = cv2.split(self.frame) if s < 1 else None
        for c in range(3):
            cv2.resize(ca[c], (W, H), dst=self.pa)
            cv2.resize(cb[c], (W, H), dst=self.pb)
            cv2.multiply(self.pa, self.g, dst=self.pa, dtype=cv2.CV_32F)
            if s >= 1:
                cv2.add(self.pa, self.pb, dst=self.planes[c], dtype=cv2.CV_8U)
            else:
                cv2.add(self.pa, self.pb, dst=self.pa)
                cv2.addWeighted(self.pa, 1.0, fr[c], 1 - s, 0.0, dst=self.planes[c], dtype=cv2.CV_8U)
        cv2.merge(self.planes, dst=self.out)
        return self.out

    def int16(self, s: float) -> np.ndarray:
        W, H = self.W, self.H
        np.multiply(self.up.coef_a, 128.0, out=self.ca16, casting="unsafe")
        np.copyto(self.cb16, self.up.coef_b, casting="unsafe")
        cv2.resize(self.ca16, (W, H), dst=self.A16)
        cv2.resize(self.cb16, (W, H), dst=self.B16)
        cv2.cvtColor(self.frame, cv2.COLOR_BGR2GRAY, dst=self.g)
        cv2.cvtColor(self.g, cv2.COLOR_GRAY2BGR, dst=self.g3)
        cv2.multiply(self.A16, self.g3, dst=self.A16, scale=1 / 128, dtype=cv2.CV_16S)
        if s >= 1:
            cv2.add(self.A16, self.B16, dst=self.out, dtype=cv2.CV_8U)
        else:
            cv2.add(self.A16, self.B16, dst=self.A16)
            cv2.addWeighted(self.A16, 1.0, self.frame, 1 - s, 0.0, dst=self.out, dtype=cv2.CV_8U)
        return self.out


def bench_interleaved(fns: dict, runs: int) -> dict[str, list[float]]:
    for f in fns.values():
        f()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(runs):
        for k, f in fns.items():
            t0 = time.perf_counter()
            f()
            times[k].append((time.perf_counter() - t0) * 1000)
    return times


def measure_size(full: Size, runs: int, s: float) -> list[dict]:
    low = Size(full.width // 4, full.height // 4)
    frame = _frame(full)
    pre = Preprocessor(full, low)
    styl = pre(frame).copy()[:, [1, 2, 0]]        # stand-in network output: the frame, colours rotated
    up1 = GuidedUpsampler(low, full)
    up2 = GuidedUpsampler(low, full, threads=2)
    whole = GuidedUpsampler(low, full, band_rows=0)
    out = np.empty((full.height, full.width, 3), np.uint8)
    up1.coefficients(styl, pre.guide, s)
    var = Variants(up1, frame)
    blob_naive = np.empty_like(pre.blob)

    def naive_pre() -> None:
        small = cv2.resize(frame, (low.width, low.height), interpolation=cv2.INTER_AREA)
        np.copyto(blob_naive, small[:, :, ::-1].transpose(2, 0, 1)[None].astype(np.float32) / 255.0)

    fns = {
        "pre: numpy (INTER_AREA resize, transpose, astype)": naive_pre,
        "pre: cv2.dnn.blobFromImage (resize inside)": lambda: cv2.dnn.blobFromImage(
            frame, 1 / 255.0, (low.width, low.height), swapRB=True),
        "pre: vcam Preprocessor": lambda: pre(frame),
        "post: numpy naive": lambda: numpy_naive(styl, pre.guide, frame, s),
        "post: coefficients only (low res)": lambda: up1.coefficients(styl, pre.guide, s),
        "post: cv2 whole frame": lambda: whole(styl, pre.guide, frame, s, out=out),
        "post: cv2 planar (full-res pass only)": lambda: var.planar(s),
        "post: cv2 int16 fixed (full-res pass only)": lambda: var.int16(s),
        "post: cv2 whole frame (full-res pass only)": lambda: var.whole(s),
        "post: vcam bands, 1 thread": lambda: up1(styl, pre.guide, frame, s, out=out),
        "post: vcam bands, 2 threads": lambda: up2(styl, pre.guide, frame, s, out=out),
    }
    times = bench_interleaved(fns, runs)
    rows = [{"op": k, "output_size": str(full), "internal_size": str(low), "strength": s,
             "median_ms": round(float(np.median(t)), 3), "min_ms": round(float(np.min(t)), 3)}
            for k, t in times.items()]
    ref = whole(styl, pre.guide, frame, s).astype(np.int16)
    for name, got in (("int16", var.int16(s)), ("planar", var.planar(s))):
        console.print(f"{full} {name}: max |diff| vs float path {np.abs(got.astype(np.int16) - ref).max()}")
    up2.close()
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", type=Path)
    ap.add_argument("--sizes", default="1280x720,1920x1080")
    ap.add_argument("--runs", type=int, default=60)
    ap.add_argument("--strength", type=float, default=1.0)
    args = ap.parse_args(argv)
    rows = []
    s = args.strength
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("ops", total=len(args.sizes.split(",")))
        for text in args.sizes.split(","):
            rows += measure_size(Size.parse(text), args.runs, s)
            bar.advance(task)
    table(f"CPU pre/post ops (strength {s}), ms", ["op", "output", "median", "min"],
          [[r["op"], r["output_size"], r["median_ms"], r["min_ms"]] for r in rows])
    write_json(args.json, {"benchmark": "bench_ops", "machine": machine(), "rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
