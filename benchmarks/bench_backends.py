"""The vcam network on each CPU backend: torch eager, ONNX Runtime fp32, OpenVINO fp32, bf16 (on CPUs with
avx512_bf16 or AMX) and int8 (static QDQ, per-channel weights, calibrated on real clip frames), at 1 and 2 threads.
This is what justifies the CPU engine's runtime choice; rerun it when versions change.

    .venv/bin/python benchmarks/bench_backends.py --json out/backends.json [--model DIR] [--sizes 320x180,640x360]
        [--runs 30] [--threads 1,2] [--int8-out PATH]

Also reports how far int8 and bf16 drift from fp32 on held-out frames (PSNR of the network output); the perceptual
check of a precision is benchmarks/quality.py --precision f32 against the default (bf16 where the CPU runs it).
Times are the median of --runs single-frame runs with the engine's own runner classes (caller-owned buffers).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    cleanup_temp_model,
    clip_frames,
    console,
    find_model,
    machine,
    median_ms,
    pattern_frames,
    table,
    write_json,
)
from rich.progress import Progress  # noqa: E402

from vcam.config import Size  # noqa: E402
from vcam.engines.cpu_runtime import OpenVinoRunner, OrtRunner, Runner, available_runtimes, bf16_supported  # noqa: E402,E501
from vcam.ops.preprocess import to_blob  # noqa: E402


def _frames(size: Size, count: int) -> list[np.ndarray]:
    frames = clip_frames((size.width, size.height), count)
    if len(frames) < count:
        frames += pattern_frames((size.width, size.height), count - len(frames))
    return [to_blob(f) for f in frames]


def _inputs(size: Size, blob: np.ndarray, man) -> tuple[np.ndarray, ...]:
    st = man.size_multiple
    state = np.zeros((1, man.state_channels, size.height // st, size.width // st), np.float32)
    return blob, state, np.ones((1, 1), np.float32), man.codes()[:1].copy()


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)


def _fidelity(ref: Runner, test: Runner, held: list[np.ndarray], size: Size, man) -> dict:
    """PSNR of ``test``'s output against ``ref``'s over a sequence, each carrying its own recurrent state."""
    st = man.size_multiple
    sa = np.zeros((1, man.state_channels, size.height // st, size.width // st), np.float32)
    sb = sa.copy()
    oa = np.empty((1, 3, size.height, size.width), np.float32)
    ob = np.empty_like(oa)
    na, nb = np.empty_like(sa), np.empty_like(sb)
    style = man.codes()[:1].copy()
    psnrs, maxes = [], []
    for i, x in enumerate(held):
        keep = np.full((1, 1), float(i > 0), np.float32)
        ref.run(x, sa, keep, style, oa, na)
        test.run(x, sb, keep, style, ob, nb)
        sa, na, sb, nb = na, sa, nb, sb
        psnrs.append(_psnr(ob, oa))
        maxes.append(float(np.abs(ob - oa).max()))
    return {"frames": len(held), "size": str(size), "runtime": test.runtime, "precision": test.precision,
            "psnr_db_mean": round(float(np.mean(psnrs)), 2), "psnr_db_min": round(float(np.min(psnrs)), 2),
            "max_abs_diff": round(float(np.max(maxes)), 4)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", type=Path)
    ap.add_argument("--model", type=Path, help="model folder (default: models/, else runs/main exported)")
    ap.add_argument("--sizes", default="960x544,640x360")
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--int8-out", type=Path, help="keep the int8 ONNX here (for quality.py --onnx-compare)")
    ap.add_argument("--no-torch", action="store_true", help="skip torch eager (slow)")
    args = ap.parse_args(argv)
    sizes = [Size.parse(s) for s in args.sizes.split(",")]
    threads = [int(t) for t in args.threads.split(",")]

    man, origin = find_model(args.model)
    fp32 = man.onnx_path
    console.print(f"model: {origin} ({fp32}), styles: {len(man.styles)}")
    tmp = Path(tempfile.mkdtemp(prefix="vcam-bench-int8-"))
    int8 = args.int8_out or tmp / "vcam_int8.onnx"
    has_ov = "openvino" in available_runtimes()
    has_bf16 = has_ov and bf16_supported()
    if has_ov and not has_bf16:
        console.print("OpenVINO bf16: skipped (this CPU has neither avx512_bf16 nor AMX)")

    from vcam.model.export import calibration_feeds, load_stylenet, quantize_int8

    calib_size = sizes[0]
    calib = _frames(calib_size, 48)
    t0 = time.perf_counter()
    quantize_int8(fp32, int8, calibration_feeds(fp32, calib[:32], man.codes(), man.state_channels,
                                                    state_stride=man.size_multiple))
    console.print(f"int8 model: {int8} (calibrated on 32 frames at {calib_size} in {time.perf_counter() - t0:.1f} s)")

    torch_net = None
    if not args.no_torch and man.weights_path.is_file():
        import torch

        torch_net, _, _ = load_stylenet(man.weights_path)

    backends: list[tuple[str, str, object]] = []
    if torch_net is not None:
        backends.append(("torch eager", "fp32", None))
    backends.append(("onnxruntime", "fp32", fp32))
    backends.append(("onnxruntime", "int8 (QDQ)", int8))
    if has_ov:
        backends.append(("openvino", "fp32", fp32))
        if has_bf16:
            backends.append(("openvino", "bf16", fp32))
        backends.append(("openvino", "int8", int8))

    rows: list[dict] = []
    total = len(sizes) * len(threads) * len(backends)
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("measuring", total=total)
        for size in sizes:
            blob = _frames(size, 1)[0]
            image, state, keep, style = _inputs(size, blob, man)
            out = np.empty((1, 3, size.height, size.width), np.float32)
            new_state = np.empty_like(state)
            for n in threads:
                for name, prec, path in backends:
                    bar.update(task, description=f"{name} {prec} {size} {n}t")
                    if name == "torch eager":
                        torch.set_num_threads(n)
                        tin = [torch.from_numpy(a) for a in (image, state, keep, style)]

                        def fn(tin=tin) -> None:
                            with torch.inference_mode():
                                torch_net(*tin)
                        runs = max(5, args.runs // 3)
                    else:
                        runner = (OrtRunner(path, n) if name == "onnxruntime"
                                  else OpenVinoRunner(path, n, precision="bf16" if prec == "bf16" else "f32",
                                                      state_stride=man.size_multiple))

                        def fn(runner=runner, a=(image, state, keep, style, out, new_state)) -> None:
                            runner.run(*a)
                        runs = args.runs
                    ms = median_ms(fn, runs)
                    rows.append({"backend": name, "precision": prec, "size": str(size), "threads": n,
                                 "median_ms": round(ms, 3), "runs": runs})
                    bar.advance(task)

    # Fidelity against ONNX Runtime fp32 on held-out frames (not used for calibration), state carried.
    fid: dict[str, dict] = {}
    held = calib[32:]
    if held:
        ref = OrtRunner(fp32, 2)
        st = man.size_multiple
        tests = {"int8": OpenVinoRunner(int8, 2, state_stride=st) if has_ov else OrtRunner(int8, 2)}
        if has_bf16:
            tests["bf16"] = OpenVinoRunner(fp32, 2, precision="bf16", state_stride=st)
        fid = {k: _fidelity(ref, r, held, calib_size, man) for k, r in tests.items()}

    table("vcam network: median ms per frame (batch 1)", ["backend", "precision", "size", "threads", "ms"],
          [[r["backend"], r["precision"], r["size"], r["threads"], r["median_ms"]] for r in rows])
    best = {}
    for size in sizes:
        cand = [r for r in rows if r["size"] == str(size)]
        fastest = min(cand, key=lambda r: r["median_ms"])
        fp = min((r for r in cand if r["precision"] == "fp32" and r["backend"] != "torch eager"),
                 key=lambda r: r["median_ms"])
        best[str(size)] = {"fastest": fastest, "fastest_fp32_runtime": fp}
        console.print(f"{size}: fastest {fastest['backend']} {fastest['precision']} {fastest['threads']}t "
                      f"{fastest['median_ms']:.2f} ms; fastest fp32 runtime {fp['backend']} {fp['threads']}t "
                      f"{fp['median_ms']:.2f} ms")
    for k, f in fid.items():
        console.print(f"{k} vs fp32 ({f['runtime']}, {f['frames']} held-out frames at {f['size']}): "
                      f"PSNR mean {f['psnr_db_mean']} dB, min {f['psnr_db_min']} dB, max |diff| {f['max_abs_diff']}")
    write_json(args.json, {"benchmark": "bench_backends", "machine": machine(), "model": origin,
                           "rows": rows, "best": best, "int8_vs_fp32": fid.get("int8", {}),
                           "bf16_vs_fp32": fid.get("bf16", {}),
                           "int8_onnx": str(int8) if args.int8_out else None})
    cleanup_temp_model(man)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
