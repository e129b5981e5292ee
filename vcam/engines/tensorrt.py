"""The NVIDIA engine: the model as a TensorRT FP16 engine, our CUDA kernels for everything around it.

Per frame on one CUDA stream (vcam.gpu.frames): the camera frame is copied to pinned memory and uploaded; one
kernel downscales and normalises it into the network input (exactly as vcam.ops.preprocess does); TensorRT runs
the network; three kernels apply the fast guided filter and the strength blend at full resolution and write the
output (BGR, or I420/NV12 for a virtual camera); it is downloaded into pinned memory. After warm-up the sequence
is replayed as a CUDA graph. Creating this engine needs a GPU: ``select_engine_kind`` decides from the probe
(vcam.engines.gpu_probe) whether to try, and the engine factory falls back to the CPU engine on any failure.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from vcam.config import RunConfig, Size
from vcam.control.state import ControlState
from vcam.engines.governor import InternalSize, Ladder, default_internal
from vcam.engines.gpu_probe import GpuStatus
from vcam.frames import to_bgr
from vcam.styles import Manifest, StyleCodes, sha256_file, verify_onnx


def select_engine_kind(cfg: RunConfig, status: GpuStatus) -> tuple[str, str]:
    """("tensorrt" | "cpu" | "passthrough", the one message to show). Pure: the probe result comes in."""
    if cfg.engine in ("cpu", "passthrough"):
        return cfg.engine, ""
    if status.usable:
        dev = status.device
        return "tensorrt", f"Using TensorRT {status.tensorrt_version} on {dev.name if dev else 'the GPU'}."
    msg = f"GPU engine not used: {status.reason}."
    if status.hint:
        msg += f" {status.hint}"
    if cfg.engine == "tensorrt":
        msg += " Falling back to the CPU engine."
    return "cpu", msg


def internal_size(cfg: RunConfig, output: Size, ladder: Ladder | None = None) -> InternalSize:
    """The network size: the CPU engine's starting rung for this model (same look on both engines) unless
    --internal-height."""
    ladder = ladder or Ladder()
    if cfg.internal_height:
        return InternalSize.for_height(output, cfg.internal_height, ladder.multiple)
    return default_internal(output, ladder)


class TensorRTEngine:
    name = "tensorrt"

    def __init__(self, manifest: Manifest, cfg: RunConfig, device=None,
                 network_factory: Callable | None = None, output_format: str = "bgr",
                 use_graph: bool = True, latency_frames: int = 0, say: Callable[[str], None] = print,
                 codes: StyleCodes | None = None) -> None:
        self.manifest = manifest
        self.styles = manifest.styles
        self.cfg = cfg
        self.output_format = output_format
        self.say = say
        self.timings: dict[str, float] = {"pre": 0.0, "infer": 0.0, "post": 0.0}
        self._use_graph = use_graph
        self._latency = latency_frames
        onnx_path = verify_onnx(manifest)
        self._onnx_path = onnx_path
        self._onnx_sha = manifest.onnx_sha256 or sha256_file(onnx_path)
        if device is None:
            from vcam.gpu.device import CudaDevice

            device = CudaDevice()
        self.device = device
        self._make_network = network_factory or self._trt_network
        self.codes = codes or StyleCodes.of(manifest)
        self.ladder = Ladder.of(manifest.extra)
        self._reset_token: int | None = None
        self._keep = 0.0
        self._size: Size | None = None
        self._pipe = None
        self._net = None
        self._precision = ""
        self._configure(cfg.size)

    # -- setup ----------------------------------------------------------------------------------------------
    def _trt_network(self, internal: InternalSize):
        """Build or load the TensorRT engine for this shape, at the first precision that is accurate enough."""
        import tensorrt

        from vcam.gpu.trt_accuracy import choose_network, ort_reference
        from vcam.gpu.trt_build import EngineSpec, load_or_build
        from vcam.gpu.trt_runtime import TrtNetwork

        onnx_bytes = self._onnx_path.read_bytes()
        spec = EngineSpec(self._onnx_sha, self.device.name, self.device.compute, str(tensorrt.__version__), "fp16",
                          internal.padded, self.codes.dim, self.manifest.state_channels, self.manifest.size_multiple)

        def make(s):
            data, _ = load_or_build(s, onnx_bytes, show_progress=not self.cfg.quiet, say=self.say)
            return TrtNetwork(data, s.shapes())

        net, chosen, _ = choose_network(spec, make, self.device, ort_reference(self._onnx_path), say=self.say)
        return net, chosen.precision

    def _configure(self, size: Size) -> None:
        from vcam.gpu.frames import FramePipeline

        if self._pipe is not None:
            self._pipe.close()
        internal = internal_size(self.cfg, size, self.ladder)
        if self._net is None or internal != self._internal:
            self._net, self._precision = self._make_network(internal)
        self._internal = internal
        self._size = size
        self._pipe = FramePipeline(self.device, self._net, size, internal.size, internal.padded, self.codes.dim,
                                   out_fmt=self.output_format, use_graph=self._use_graph,
                                   latency_frames=self._latency,
                                   upsample=str(self.manifest.extra.get("upsample", "guided")))
        self._keep = 0.0

    # -- controls -> inputs -----------------------------------------------------------------------------------
    def style_vector(self, weights: dict[str, float]) -> np.ndarray:
        """The (1, D) style input for a blend: the same blend of the styles' codes."""
        return self.codes(weights)

    def reset(self) -> None:
        self._keep = 0.0

    # -- the frame ----------------------------------------------------------------------------------------------
    def step(self, image: np.ndarray, controls: ControlState) -> np.ndarray:
        if controls.paused or not controls.weights:
            self.timings = {"pre": 0.0, "infer": 0.0, "post": 0.0}
            return image
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            image = to_bgr(image)
        size = Size(image.shape[1], image.shape[0])
        if size != self._size:
            self._configure(size)
        if controls.reset_token != self._reset_token:
            if self._reset_token is not None:
                self.reset()
            self._reset_token = controls.reset_token
        style = self.style_vector(controls.weights)
        t0 = time.perf_counter()
        out = self._pipe.process(image, style, self._keep, controls.strength)
        self._keep = 1.0
        self.timings = dict(self._pipe.timings)
        self.timings["wall"] = (time.perf_counter() - t0) * 1000
        return image if out is None else out

    # -- reporting ------------------------------------------------------------------------------------------
    def info(self) -> dict:
        internal = self._internal
        return {"engine": self.name, "gpu": getattr(self.device, "name", "?"),
                "compute": ".".join(map(str, getattr(self.device, "compute", ()))), "precision": self._precision,
                "internal_size": str(internal.size), "network_size": str(internal.padded),
                "kernels": getattr(self.device, "kernel_source", ""), "cuda_graph": self._use_graph,
                "output_format": self.output_format, "styles": list(self.styles), "model": self._onnx_path.name}

    def close(self) -> None:
        if self._pipe is not None:
            self._pipe.close()
            self._pipe = None
        if self._net is not None and hasattr(self._net, "close"):
            self._net.close()
        self._net = None
        if self.device is not None and hasattr(self.device, "close"):
            self.device.close()
        self.device = None


def create_gpu_engine(manifest: Manifest, cfg: RunConfig, say: Callable[[str], None] = print,
                      output_format: str = "bgr", codes: StyleCodes | None = None) -> TensorRTEngine:
    """The TensorRT engine, or an exception saying why not (the factory then falls back to the CPU engine)."""
    return TensorRTEngine(manifest, cfg, say=say, output_format=output_format, codes=codes)
