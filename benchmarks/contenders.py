"""What the quality benchmark and the contact sheet run: vcam models through the real CPU engine at the output size,
and the MicroAST teacher per frame at the output size. Each takes BGR uint8 frames (as a camera delivers them) and
returns RGB float32 frames in [0,1] (what the sink would show)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import cv2
import numpy as np

from vcam.config import RunConfig, Size
from vcam.control.state import Controls
from vcam.errors import VcamError
from vcam.model import evaluate as E
from vcam.styles import load_manifest

TEACHER_STYLE_LONG_SIDE = 512   # the authors' setting, and the README's measurements of the teacher


def cover(img: np.ndarray, size: Size) -> np.ndarray:
    """Centre-cut to the output's aspect, then resize to it (area filter shrinking, cubic enlarging)."""
    h, w = img.shape[:2]
    a = size.width / size.height
    if w / h > a:
        cw = round(h * a)
        img = img[:, (w - cw) // 2:(w - cw) // 2 + cw]
    else:
        ch = round(w / a)
        img = img[(h - ch) // 2:(h - ch) // 2 + ch]
    interp = cv2.INTER_AREA if img.shape[1] > size.width else cv2.INTER_CUBIC
    return cv2.resize(img, (size.width, size.height), interpolation=interp)


def read_bgr(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise VcamError(f"Cannot read {path}.")
    return img


def clip_bgr(path: Path, frames: int, size: Size) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    out = []
    while len(out) < frames:
        ok, f = cap.read()
        if not ok:
            break
        out.append(cover(f, size))
    cap.release()
    return out


def synthetic_bgr(photo: Path, frames: int, size: Size) -> list[np.ndarray]:
    rgb = E.synthetic_motion(E.as_float_rgb(cv2.cvtColor(read_bgr(photo), cv2.COLOR_BGR2RGB)), frames,
                             (size.width, size.height))
    return [cv2.cvtColor((np.clip(f, 0, 1) * 255 + 0.5).astype(np.uint8), cv2.COLOR_RGB2BGR) for f in rgb]


def style_paths(data: Path, extra: dict[str, Path] | None = None) -> dict[str, Path]:
    """Painting per style name: ../shared/data/styles/NAME.jpg, plus any given (an added style, a held-out one)."""
    out = {p.stem: p for p in sorted((data / "styles").glob("*.jpg"))}
    out.update(extra or {})
    return out


def to_rgb(bgr: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0


# -- contenders ------------------------------------------------------------------------------------------------------
class PipelineContender:
    """A vcam model through the CPU engine, as `vcam run` uses it; the internal size fixed so runs compare: the
    model's design size, or ``internal_height`` (e.g. the rung the governor holds live on a slower CPU)."""

    recurrent = True

    def __init__(self, label: str, model_dir: Path, size: Size, precision: str,
                 internal_height: int | None = None, network: str = "plain") -> None:
        from vcam.engines.cpu import CpuEngine
        from vcam.engines.governor import Ladder, default_internal

        self.label = label
        self.manifest = load_manifest(model_dir).variant(network)   # plain, or a variant (e.g. detail)
        height = internal_height or default_internal(size, Ladder.of(self.manifest.extra)).size.height
        cfg = RunConfig(input="pattern", outputs=("null",), size=size, style=self.manifest.styles[0],
                        internal_height=height, adaptive=False, cpu_precision=precision)
        self.engine = CpuEngine(self.manifest, cfg)
        info = self.engine.info()
        net = "" if network == "plain" else f" (network {network})"
        self.describe = (f"{model_dir}{net} at {info['internal_size']} ({info['runtime']} {info['precision']}, "
                         f"{info['threads']} thread(s))")

    def styles(self) -> tuple[str, ...]:
        return self.engine.codes.styles

    def add_picture(self, name: str, path: Path) -> float:
        """Make a picture a style through the model's style encoder, as `--style-image` does; returns the ms."""
        import time

        from vcam.styles.encoder import StyleEncoder
        from vcam.styles.images import load_image

        if not hasattr(self, "_encoder"):
            self._encoder = StyleEncoder(self.manifest)
        rgb = load_image(path)
        t0 = time.perf_counter()
        code = self._encoder(rgb)
        ms = (time.perf_counter() - t0) * 1000
        self.engine.codes.add(name, code)
        return ms

    def run(self, frames: list[np.ndarray], style: str) -> list[np.ndarray]:
        controls = Controls(self.styles(), {style: 1.0}, transition_s=0.0)
        self.engine.reset()
        return [to_rgb(self.engine.step(f, controls.snapshot())) for f in frames]

    def close(self) -> None:
        self.engine.close()


class TeacherContender:
    """MicroAST per frame at the output size through OpenVINO f32 (the exact numbers, on the fastest f32 runtime)."""

    label = "teacher"
    recurrent = False

    def __init__(self, data: Path, teacher_dir: Path | None, threads: int,
                 paintings: dict[str, Path] | None = None) -> None:
        from vcam.engines.cpu_runtime import openvino_core
        from vcam.model.data import read_rgb, to_tensor
        from vcam.model.teacher import export_per_frame, load_teacher, style_feeds

        self.net = load_teacher(teacher_dir)
        self._tmp = tempfile.TemporaryDirectory(prefix="vcam-quality-")
        path = export_per_frame(self.net, Path(self._tmp.name) / "teacher.onnx")
        self.compiled = openvino_core().compile_model(str(path), "CPU", {
            "INFERENCE_NUM_THREADS": threads, "NUM_STREAMS": 1, "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_PRECISION_HINT": "f32"})
        self.request = self.compiled.create_infer_request()
        self.paintings = paintings or style_paths(data)
        self._feeds: dict[str, dict] = {}
        self._read, self._tensor, self._style_feeds = read_rgb, to_tensor, style_feeds
        self.describe = f"MicroAST per frame, OpenVINO f32, painting at {TEACHER_STYLE_LONG_SIDE} px"

    def _style(self, style: str) -> dict:
        if style not in self._feeds:
            img = self._read(self.paintings[style], TEACHER_STYLE_LONG_SIDE)
            self._feeds[style] = self._style_feeds(self.net.encode_style(self._tensor(img)))
        return self._feeds[style]

    def run(self, frames: list[np.ndarray], style: str) -> list[np.ndarray]:
        feeds = self._style(style)
        out = []
        for f in frames:
            x = np.ascontiguousarray(to_rgb(f).transpose(2, 0, 1)[None])
            self.request.infer({"content": x, **feeds})
            y = self.request.get_output_tensor(0).data[0].transpose(1, 2, 0)
            out.append((np.clip(y, 0, 1) * 255 + 0.5).astype(np.uint8).astype(np.float32) / 255.0)
        return out

    def close(self) -> None:
        self._tmp.cleanup()
