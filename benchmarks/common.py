"""Helpers the benchmarks share: the model to measure, real frames, a CPU burner, timing, tables and JSON.

Benchmarks report what they measure and never fail for speed. The machine is named in every JSON so numbers from
different machines are not compared by accident.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from vcam.styles import MANIFEST, Manifest, load_manifest  # noqa: E402

SHARED_DATA = ROOT / ".." / "shared" / "data"
console = Console()
if not console.is_terminal:   # logs and pipes: wide enough that the tables keep one line per row
    console = Console(width=180)


def machine() -> dict:
    """What the numbers were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    versions = {}
    for mod in ("onnxruntime", "openvino", "cv2", "numpy", "torch"):
        try:
            versions[mod] = __import__(mod).__version__
        except Exception:  # noqa: BLE001 - optional packages
            pass
    return {"cpu": cpu, "cores": os.cpu_count(), "load_avg_1m_at_start": round(load[0], 2),
            "python": platform.python_version(), "versions": versions}


def write_json(path: Path | None, rows: list[dict] | dict) -> None:
    if path is None:
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    console.print(f"wrote {path}")


def table(title: str, columns: list[str], rows: list[list]) -> None:
    t = Table(title=title)
    for i, c in enumerate(columns):
        t.add_column(c, justify="left" if i == 0 else "right")
    for r in rows:
        t.add_row(*[f"{v:.2f}" if isinstance(v, float) else str(v) for v in r])
    console.print(t)


def median_ms(fn: Callable[[], object], runs: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    t = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        t.append((time.perf_counter() - t0) * 1000)
    return float(np.median(t))


# -- the model ---------------------------------------------------------------------------------------------------
def find_model(explicit: Path | None = None) -> tuple[Manifest, str]:
    """The model to measure and where it came from: --model, else models/ (shipped), else runs/main (exported to a
    temporary folder: training rewrites its files), else a random StyleNet (timing only)."""
    if explicit is not None:
        return load_manifest(explicit), str(explicit)
    shipped = ROOT / "models"
    if (shipped / MANIFEST).is_file():
        man = load_manifest(shipped)
        if man.onnx_path.is_file():
            return man, "models/"
    from vcam.model.export import export_onnx, snapshot_weights

    out = Path(tempfile.mkdtemp(prefix="vcam-bench-model-"))
    run = ROOT / "runs" / "main" / "vcam.safetensors"
    if run.is_file():
        w = snapshot_weights(run, out / "src")
        export_onnx(w, out / "model")
        return load_manifest(out / "model"), "runs/main (exported for this run)"
    return random_model(out), "random StyleNet (no trained model found)"


def random_model(out: Path, styles: tuple[str, ...] = ("a", "b", "c")) -> Manifest:
    """A random StyleNet at the shipped shape, exported (timing only: its picture means nothing)."""
    import torch

    from vcam.model.export import export_onnx
    from vcam.model.network import StyleBank, StyleNet
    from vcam.model.weights import save_weights
    from vcam.styles import write_manifest

    torch.manual_seed(0)
    net = StyleNet()
    src = out / "src"
    src.mkdir(parents=True, exist_ok=True)
    save_weights(src / "vcam.safetensors", net, StyleBank(len(styles), net.code_dim), styles)
    write_manifest(src, {"styles": list(styles), "onnx": "vcam.onnx", "onnx_sha256": "", "weights": "vcam.safetensors",
                         "state_channels": net.shape.state_channels, "size_multiple": net.shape.stride,
                         "code_dim": net.code_dim})
    export_onnx(src / "vcam.safetensors", out / "model")
    return load_manifest(out / "model")


def cleanup_temp_model(man: Manifest) -> None:
    d = man.directory
    if d.name == "model" and d.parent.name.startswith("vcam-bench-model-"):
        shutil.rmtree(d.parent, ignore_errors=True)


# -- real frames --------------------------------------------------------------------------------------------------
def clip_frames(size: tuple[int, int], count: int, clips: tuple[str, ...] = ("carphone", "bikes", "fox")) -> \
        list[np.ndarray]:
    """Up to ``count`` BGR frames at ``size`` (w, h) from ../shared/data clips, in sequence; [] when absent."""
    out: list[np.ndarray] = []
    per = max(1, count // max(1, len(clips)))
    for name in clips:
        path = SHARED_DATA / "video" / f"{name}.mp4"
        if not path.is_file():
            continue
        cap = cv2.VideoCapture(str(path))
        for _ in range(per):
            ok, f = cap.read()
            if not ok:
                break
            out.append(cv2.resize(f, size, interpolation=cv2.INTER_AREA))
        cap.release()
    return out[:count]


def pattern_frames(size: tuple[int, int], count: int) -> list[np.ndarray]:
    from vcam.capture.pattern import PatternSource
    from vcam.config import Size

    src = PatternSource(Size(*size), 30.0, paced=False)
    return [src.render(i) for i in range(count)]


# -- a CPU burner (one busy core, like a video call's encoder) ---------------------------------------------------
@contextmanager
def cpu_burner() -> Iterator[None]:
    """A separate process that keeps one core busy until the block ends (a bare interpreter: busy at once)."""
    proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    time.sleep(0.3)
    try:
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
