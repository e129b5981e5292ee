"""Building TensorRT engines from the model's ONNX graph, and caching them.

An engine is specific to the GPU model and the TensorRT version, and is built here for one input shape (one
optimisation profile, min = opt = max), so the cache key holds: model hash, GPU name, compute capability,
TensorRT version, precision and shape. A timing cache per GPU + TensorRT version makes rebuilds (other shapes,
other precisions) much faster. The first build takes minutes: a progress display shows its phases.

Precisions: "fp16" (the whole graph in FP16), "fp16-norm32" (InstanceNormalization kept in FP32, for when FP16
normalisation loses accuracy, NVIDIA/TensorRT#3657) and "fp32". The graph is rewritten to the precision
(vcam.gpu.onnx_fp16) and built strongly typed where TensorRT supports it (10.x, required by 11.x); older
TensorRT gets the same intent through builder flags and per-layer precision.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from vcam.config import Size
from vcam.errors import VcamError
from vcam.gpu.cache import cache_dir
from vcam.gpu.trt_runtime import TrtLogger, _trt

PRECISIONS = ("fp16", "fp16-norm32", "fp32")
FP16_IO = ("image", "state", "new_state")   # the pre kernel writes fp16 directly; the state stays on the GPU
WORKSPACE_BYTES = 1 << 30


@dataclass(frozen=True)
class EngineSpec:
    model_sha256: str
    gpu_name: str
    compute: tuple[int, int]
    trt_version: str
    precision: str
    padded: Size
    style_dim: int
    state_channels: int
    state_stride: int = 4

    def shapes(self) -> dict[str, tuple[int, ...]]:
        w, h = self.padded.width, self.padded.height
        st = self.state_stride
        return {"image": (1, 3, h, w), "state": (1, self.state_channels, h // st, w // st), "keep": (1, 1),
                "style": (1, self.style_dim)}

    def key(self) -> str:
        """A readable, filesystem-safe name that changes whenever anything the engine depends on changes."""
        gpu = re.sub(r"[^A-Za-z0-9]+", "-", self.gpu_name).strip("-").lower()
        raw = "|".join([self.model_sha256, self.gpu_name, f"{self.compute}", self.trt_version, self.precision,
                        str(self.padded), str(self.style_dim), str(self.state_channels),
                        str(self.state_stride)])
        digest = hashlib.sha256(raw.encode()).hexdigest()[:12]
        return (f"{self.model_sha256[:12]}-{gpu}-sm{self.compute[0]}{self.compute[1]}-trt{self.trt_version}-"
                f"{self.precision}-{self.padded}-{digest}")


def engine_path(spec: EngineSpec) -> Path:
    return cache_dir("trt") / f"{spec.key()}.engine"


def timing_cache_path(spec: EngineSpec) -> Path:
    gpu = re.sub(r"[^A-Za-z0-9]+", "-", spec.gpu_name).strip("-").lower()
    return cache_dir("trt") / f"timing-{gpu}-sm{spec.compute[0]}{spec.compute[1]}-trt{spec.trt_version}.cache"


def onnx_for_precision(onnx_bytes: bytes, precision: str) -> bytes:
    """The ONNX graph TensorRT parses for ``precision`` (rewritten to FP16 unless fp32)."""
    if precision == "fp32":
        return onnx_bytes
    import onnx

    from vcam.gpu.onnx_fp16 import convert_to_fp16

    keep = ("InstanceNormalization",) if precision == "fp16-norm32" else ()
    model = convert_to_fp16(onnx.load_from_string(onnx_bytes), keep_fp32_ops=keep, fp16_io=FP16_IO)
    return model.SerializeToString()


def _progress_monitor(trt, show: bool):
    """A rich progress display of TensorRT's build phases (TensorRT >= 10 has IProgressMonitor)."""
    if not show or not hasattr(trt, "IProgressMonitor"):
        return None
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    class Monitor(trt.IProgressMonitor):
        def __init__(self) -> None:
            trt.IProgressMonitor.__init__(self)
            self.progress = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/"
                                     "{task.total}"), TimeElapsedColumn(), transient=True)
            self.tasks: dict[str, int] = {}

        def phase_start(self, phase_name, parent_phase, num_steps) -> None:  # noqa: ANN001 - TensorRT's API
            if not self.tasks:
                self.progress.start()
            indent = "  " if parent_phase else ""
            self.tasks[phase_name] = self.progress.add_task(f"{indent}{phase_name}", total=max(int(num_steps), 1))

        def step_complete(self, phase_name, step) -> bool:  # noqa: ANN001
            task = self.tasks.get(phase_name)
            if task is not None:
                self.progress.update(task, completed=int(step) + 1)
            return True   # False would cancel the build

        def phase_finish(self, phase_name) -> None:  # noqa: ANN001
            task = self.tasks.pop(phase_name, None)
            if task is not None:
                self.progress.remove_task(task)
            if not self.tasks:
                self.progress.stop()

    return Monitor()


def build_engine(spec: EngineSpec, onnx_bytes: bytes, show_progress: bool = True) -> bytes:
    """Build a serialized engine (minutes on the first run; the timing cache shortens later builds)."""
    trt = _trt()
    logger = TrtLogger()
    builder = trt.Builder(logger)
    flag_enum = trt.NetworkDefinitionCreationFlag
    strongly_typed = hasattr(flag_enum, "STRONGLY_TYPED")
    flags = 1 << int(flag_enum.STRONGLY_TYPED) if strongly_typed else 1 << int(flag_enum.EXPLICIT_BATCH)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    graph = onnx_for_precision(onnx_bytes, spec.precision) if strongly_typed else onnx_bytes
    if not parser.parse(graph):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise VcamError(f"TensorRT could not parse the model: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, WORKSPACE_BYTES)
    if not strongly_typed and spec.precision != "fp32":   # TensorRT 8.x: weak typing with precision hints
        config.set_flag(trt.BuilderFlag.FP16)
        if spec.precision == "fp16-norm32":
            _pin_norm_layers_fp32(trt, network)
            config.set_flag(trt.BuilderFlag.OBEY_PRECISION_CONSTRAINTS)
    profile = builder.create_optimization_profile()
    for name, shape in spec.shapes().items():
        profile.set_shape(name, shape, shape, shape)
    config.add_optimization_profile(profile)
    tc_path = timing_cache_path(spec)
    timing = config.create_timing_cache(tc_path.read_bytes() if tc_path.is_file() else b"")
    config.set_timing_cache(timing, ignore_mismatch=True)
    monitor = _progress_monitor(trt, show_progress)
    if monitor is not None:
        config.progress_monitor = monitor
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise VcamError("TensorRT failed to build the engine: " + " | ".join(logger.lines[-5:]))
    tmp = tc_path.with_suffix(".tmp")
    tmp.write_bytes(bytes(memoryview(config.get_timing_cache().serialize())))
    tmp.replace(tc_path)
    return bytes(memoryview(serialized))


def _pin_norm_layers_fp32(trt, network) -> int:
    """TensorRT 8.x: run the InstanceNormalization layers (native, or the plugin 8.x parses them into) in FP32."""
    norm = getattr(trt.LayerType, "NORMALIZATION", None)
    plugin = getattr(trt.LayerType, "PLUGIN_V2", None)
    pinned = 0
    for i in range(network.num_layers):
        layer = network.get_layer(i)
        if layer.type == norm or (layer.type == plugin and "InstanceNormalization" in layer.name):
            layer.precision = trt.float32
            for j in range(layer.num_outputs):
                layer.set_output_type(j, trt.float32)
            pinned += 1
    return pinned


def load_or_build(spec: EngineSpec, onnx_bytes: bytes, show_progress: bool = True,
                  say=print) -> tuple[bytes, bool]:
    """(serialized engine, True when it was built now). Cached engines are reused without building."""
    path = engine_path(spec)
    if path.is_file():
        return path.read_bytes(), False
    say(f"Building the TensorRT engine for {spec.gpu_name} at {spec.padded} ({spec.precision}); the first run "
        "takes a few minutes, later runs load it from the cache.")
    data = build_engine(spec, onnx_bytes, show_progress)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return data, True
