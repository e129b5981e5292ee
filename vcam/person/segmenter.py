"""Run vcam's person segmenter (``models/person.onnx``) on a camera frame.

The graph (vcam.model.segmenter exports it): input ``image`` (1,3,144,256) float32 RGB in [0,1], NCHW; output
``matte`` (1,1,144,256) float32 person probability in [0,1].

Aspect: every frame is stretched to 256x144, whatever its shape (no letterbox). A 16:9 camera is not distorted; a
4:3 one is squeezed horizontally by 1.33, and the matte is stretched back by the same resize at the output, so the
matte lines up with the frame either way; only the network sees a narrower person (training's aspect jitter covers
that). Downscaling reuses the style network's Preprocessor: exact 2x INTER_AREA halvings, then one INTER_LINEAR
step by a factor below 2, which averages like INTER_AREA at a fraction of its cost for non-integer factors.

Why one thread by default: the network is a few tens of M multiply-adds (~1 ms), and a second thread would take a
core from the style network for almost nothing.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from vcam.config import Size
from vcam.engines.cpu_runtime import (
    RUNTIMES,
    _bad_model,
    _check_io,
    _port_name,
    available_runtimes,
    openvino_core,
)
from vcam.errors import ModelError, VcamError
from vcam.ops.preprocess import Preprocessor
from vcam.styles import Manifest, default_model_dir, sha256_file

PERSON_ONNX = "person.onnx"
INPUT_NAME = "image"
OUTPUT_NAME = "matte"
INPUT_SIZE = Size(256, 144)
PERSON_OPTIONS = "--region, --person-strength, --background-strength and --background"
NEEDS_IT = (f"Person options ({PERSON_OPTIONS}) need it; plain styles still run without them. Train and export it "
            "with `vcam train --person`, or drop the person options.")


def person_model_path(manifest: Manifest | None = None, override: Path | None = None) -> tuple[Path, str | None]:
    """Where the segmenter is and the hash it must have: ``override`` (no hash), else the manifest's ``person_model``
    (default person.onnx) beside the style model with its ``person_model_sha256``, else the default model folder."""
    if override is not None:
        return Path(override), None
    if manifest is None:
        return default_model_dir() / PERSON_ONNX, None
    extra = manifest.extra or {}
    sha = extra.get("person_model_sha256")
    return manifest.directory / str(extra.get("person_model", PERSON_ONNX)), (str(sha) if sha else None)


def check_person_model(path: Path, sha256: str | None = None) -> Path:
    """Cheap checks before anything is compiled: the file exists and matches its recorded hash."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"The person segmenter {path} is missing.", NEEDS_IT)
    if sha256 and sha256_file(path) != sha256:
        raise ModelError(f"The person segmenter {path} does not match its manifest (corrupt or truncated).", NEEDS_IT)
    return path


def _check_shape(path: Path, what: str, dims: list, want: tuple[int, ...]) -> None:
    # A dimension a graph leaves dynamic (None / -1) is pinned by us; a static one must match.
    if len(dims) != len(want) or any(d is not None and d >= 0 and d != w for d, w in zip(dims, want, strict=False)):
        raise ModelError(f"The person segmenter {path} has {what} shape {dims}; vcam expects {list(want)}.", NEEDS_IT)


class _OrtSession:
    runtime = "onnxruntime"

    def __init__(self, path: Path, threads: int, image: np.ndarray, matte: np.ndarray) -> None:
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        except Exception as exc:  # ORT raises its own Fail/InvalidProtobuf/InvalidGraph types
            raise _bad_model(path, exc, "a person segmenter", NEEDS_IT) from exc
        ins, outs = self.session.get_inputs(), self.session.get_outputs()
        _check_io(path, [i.name for i in ins], [o.name for o in outs], ((INPUT_NAME,), (OUTPUT_NAME,)), NEEDS_IT)
        dyn = lambda shape: [d if isinstance(d, int) else None for d in shape]  # noqa: E731
        _check_shape(path, "input", dyn(ins[0].shape), image.shape)
        _check_shape(path, "output", dyn(outs[0].shape), matte.shape)
        # The buffers never change: bind them once, run many times.
        self._binding = self.session.io_binding()
        self._binding.bind_input(INPUT_NAME, "cpu", 0, np.float32, list(image.shape), image.ctypes.data)
        self._binding.bind_output(OUTPUT_NAME, "cpu", 0, np.float32, list(matte.shape), matte.ctypes.data)

    def run(self) -> None:
        self.session.run_with_iobinding(self._binding)

    def close(self) -> None:
        self._binding = None
        self.session = None


class _OpenVinoSession:
    runtime = "openvino"

    def __init__(self, path: Path, threads: int, image: np.ndarray, matte: np.ndarray) -> None:
        import openvino as ov

        core = openvino_core()
        # f32 explicitly (OpenVINO would pick bf16 on its own on some CPUs): a matte edge is what the eye checks.
        config = {"INFERENCE_NUM_THREADS": threads, "NUM_STREAMS": 1, "PERFORMANCE_HINT": "LATENCY",
                  "ENABLE_CPU_PINNING": False, "INFERENCE_PRECISION_HINT": "f32"}
        try:
            model = core.read_model(str(path))
        except Exception as exc:  # OpenVINO raises RuntimeError subclasses for parse failures
            raise _bad_model(path, exc, "a person segmenter", NEEDS_IT) from exc
        _check_io(path, [_port_name(p, INPUT_NAME) for p in model.inputs],
                  [_port_name(p, OUTPUT_NAME) for p in model.outputs], ((INPUT_NAME,), (OUTPUT_NAME,)), NEEDS_IT)
        dims = lambda ps: [d.get_length() if d.is_static else None for d in ps]  # noqa: E731
        _check_shape(path, "input", dims(model.inputs[0].get_partial_shape()), image.shape)
        _check_shape(path, "output", dims(model.outputs[0].get_partial_shape()), matte.shape)
        try:
            if not model.inputs[0].get_partial_shape().is_static:
                model.reshape({model.inputs[0]: list(image.shape)})   # static shapes run faster on OpenVINO
            self.request = core.compile_model(model, "CPU", config).create_infer_request()
        except Exception as exc:  # noqa: BLE001 - a graph that parses but does not compile is as bad
            raise _bad_model(path, exc, "a person segmenter", NEEDS_IT) from exc
        self.request.set_input_tensor(0, ov.Tensor(image, shared_memory=True))
        self.request.set_output_tensor(0, ov.Tensor(matte, shared_memory=True))

    def run(self) -> None:
        self.request.infer(share_outputs=True)   # results land in our buffer: no copy, no allocation

    def close(self) -> None:
        self.request = None


_SESSIONS = {"onnxruntime": _OrtSession, "openvino": _OpenVinoSession}


class PersonSegmenter:
    """BGR uint8 frames of any size -> the low-resolution person matte (144x256 float32 in [0,1]).

    ``runtime``: "auto" (OpenVINO where installed, else ONNX Runtime), "openvino" or "onnxruntime". The returned
    matte, ``small`` (the frame at 256x144, BGR uint8) and ``guide`` (its gray in [0,1]) are buffers reused by the
    next call; they are reallocated only when the frame size changes.
    """

    def __init__(self, path: Path, threads: int = 1, runtime: str = "auto", sha256: str | None = None) -> None:
        if runtime not in ("auto", *RUNTIMES):
            raise VcamError(f"Unknown CPU runtime {runtime!r}.", "Choose one of: auto, " + ", ".join(RUNTIMES))
        self.path = check_person_model(path, sha256)
        self.threads = max(1, int(threads))
        w, h = INPUT_SIZE.width, INPUT_SIZE.height
        self._out = np.zeros((1, 1, h, w), np.float32)
        self.matte = self._out[0, 0]
        self._pre: Preprocessor | None = None
        self._blob = np.zeros((1, 3, h, w), np.float32)    # bound to the session; the preprocessor's is copied in
        order = ["openvino", "onnxruntime"] if runtime == "auto" else [runtime]
        order = [r for r in order if r in available_runtimes()] or ["onnxruntime"]
        self._session = _SESSIONS[order[0]](self.path, self.threads, self._blob, self._out)
        self.runtime = self._session.runtime

    @property
    def small(self) -> np.ndarray:
        """The last frame at 256x144 (BGR uint8)."""
        if self._pre is None:
            raise RuntimeError("no frame segmented yet")
        return self._pre.small

    @property
    def guide(self) -> np.ndarray:
        """Gray of ``small`` in [0, 1] (float32): the low-resolution guide of the edge refinement."""
        if self._pre is None:
            raise RuntimeError("no frame segmented yet")
        return self._pre.guide

    @property
    def thumb(self) -> np.ndarray:
        """The 64x36 gray thumbnail of the last frame (scene-cut tests)."""
        if self._pre is None:
            raise RuntimeError("no frame segmented yet")
        return self._pre.thumb

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"expected a BGR uint8 HxWx3 frame, got {frame.shape} {frame.dtype}")
        size = Size(frame.shape[1], frame.shape[0])
        pre = self._pre
        if pre is None or pre.frame_size != size:
            pre = self._pre = Preprocessor(size, INPUT_SIZE, guide=True)
        np.copyto(self._blob, pre(frame))   # 0.4 MB: cheaper than rebinding the session to a new buffer
        self._session.run()
        return self.matte

    def close(self) -> None:
        self._session.close()


class LazySegmenter:
    """A PersonSegmenter opened on first use (or early, from a control request's thread: ``load`` is thread-safe),
    shared by person mode and auto-framing so both load and refuse the same way. A failed open is remembered and
    raised again, with ``hint`` saying what the feature needs; the frame thread uses ``current`` and never raises."""

    def __init__(self, path: Path | None, sha256: str | None = None, threads: int = 1, runtime: str = "auto",
                 hint: str | None = None, missing: str = "The person segmenter is not installed.") -> None:
        self.path = Path(path) if path is not None else None
        self.sha256, self.threads, self.runtime = sha256, threads, runtime
        self.hint, self.missing = hint, missing
        self.current: PersonSegmenter | None = None
        self.error: VcamError | None = None
        self._lock = threading.Lock()

    def load(self) -> PersonSegmenter:
        with self._lock:
            if self.current is not None:
                return self.current
            if self.error is not None:
                raise self.error
            if self.path is None:
                self.error = VcamError(self.missing, "Reinstall vcam, or point VCAM_MODEL_DIR at a model folder.")
                raise self.error
            try:
                self.current = PersonSegmenter(self.path, self.threads, self.runtime, self.sha256)
            except VcamError as exc:
                self.error = exc if self.hint is None else VcamError(exc.message, self.hint)
                raise self.error from exc
            return self.current

    def close(self) -> None:
        with self._lock:
            if self.current is not None:
                self.current.close()
                self.current = None


class SegmenterUser:
    """What person mode and auto-framing expose of their LazySegmenter (``self._slot``)."""

    _slot: LazySegmenter

    @property
    def segmenter(self) -> PersonSegmenter | None:
        return self._slot.current

    @property
    def error(self) -> VcamError | None:
        return self._slot.error

    def load(self) -> PersonSegmenter:
        """Open the segmenter now (idempotent); raises the VcamError that says why it cannot be used."""
        return self._slot.load()

    def close(self) -> None:
        self._slot.close()
