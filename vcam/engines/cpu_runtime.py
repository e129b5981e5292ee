"""The CPU runtimes that execute the exported network, behind one small interface, and the measured choice
between them (runtime and thread count).

Both write into caller-owned buffers (ONNX Runtime through I/O binding, OpenVINO through shared-memory tensors), so
no frame allocates. Why measure at run time: the best runtime and thread count change with the machine, the
versions and the load. Measured here (benchmarks/bench_backends.py, vcam net, median ms at 320x180 / 640x360,
2 threads, idle 2-core EPYC): torch eager 25.3 / 193, ONNX Runtime fp32 14.8 / 69, OpenVINO fp32 11.2 / 53
(static shapes; its dynamic-shape graph took ~23 ms at 320x180), OpenVINO int8 10.1 / 44. With 1 thread all
1.6-1.9x slower on an idle machine, but 1 thread wins when another process holds a core.

int8 is not used: only 10-17% faster, and against fp32 it lowered the network output to 27.5 dB PSNR and raised
E_warp by 24-86% with style distance +2-10% (benchmarks/quality.py --onnx-compare, 3 clips x 2 styles).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Protocol

import numpy as np

from vcam.errors import ModelError, VcamError

RUNTIMES = ("onnxruntime", "openvino")
INPUTS = ("image", "state", "keep", "style")
OUTPUTS = ("stylized", "new_state")


class Runner(Protocol):
    runtime: str
    threads: int
    path: Path
    style_count: int | None     # the graph's number of styles (None if dynamic)

    def run(self, image: np.ndarray, state: np.ndarray, keep: np.ndarray, style: np.ndarray,
            stylized: np.ndarray, new_state: np.ndarray) -> None:
        """One step; the outputs are written into ``stylized`` and ``new_state`` (preallocated, C-contiguous)."""
        ...

    def close(self) -> None: ...


def _bad_model(path: Path, exc: Exception) -> ModelError:
    return ModelError(f"The model file {path} cannot be loaded: it is corrupt, truncated or not a vcam model "
                      f"({type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}).",
                      "Reinstall vcam, or re-export the model with `vcam export`.")


def _check_io(path: Path, inputs: Sequence[str], outputs: Sequence[str]) -> None:
    if tuple(inputs) != INPUTS or tuple(outputs) != OUTPUTS:
        raise ModelError(f"The model file {path} has inputs {list(inputs)} and outputs {list(outputs)}; "
                         f"vcam expects {list(INPUTS)} -> {list(OUTPUTS)}.",
                         "Re-export it with this vcam (`vcam export`).")


class OrtRunner:
    runtime = "onnxruntime"

    def __init__(self, path: Path, threads: int) -> None:
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.log_severity_level = 3
        # Pool threads keep ORT's default short spin between ops: without it 2 threads took 25 ms instead of 17
        # per 320x180 frame here (futex wake-ups between ~100 small ops).
        try:
            self.session = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        except Exception as exc:  # ORT raises its own Fail/InvalidProtobuf/InvalidGraph types
            raise _bad_model(path, exc) from exc
        inputs = self.session.get_inputs()
        _check_io(path, [i.name for i in inputs], [o.name for o in self.session.get_outputs()])
        self.path = path
        self.style_count = inputs[3].shape[1] if isinstance(inputs[3].shape[1], int) else None
        self.threads = threads
        self._binding = self.session.io_binding()

    def run(self, image: np.ndarray, state: np.ndarray, keep: np.ndarray, style: np.ndarray,
            stylized: np.ndarray, new_state: np.ndarray) -> None:
        b = self._binding
        for name, arr in zip(INPUTS, (image, state, keep, style), strict=True):
            b.bind_input(name, "cpu", 0, np.float32, list(arr.shape), arr.ctypes.data)
        for name, arr in zip(OUTPUTS, (stylized, new_state), strict=True):
            b.bind_output(name, "cpu", 0, np.float32, list(arr.shape), arr.ctypes.data)
        self.session.run_with_iobinding(b)

    def close(self) -> None:
        self._binding = None
        self.session = None


class OpenVinoRunner:
    """OpenVINO on the CPU. Static shapes run ~1.5-2x faster than the dynamic graph here, so each network size gets
    its own compiled copy: the hinted size at once, others on a helper thread while the dynamic graph serves the
    first frames at a new size (a governor step never stalls on a compile)."""

    runtime = "openvino"

    def __init__(self, path: Path, threads: int, shape_hint: tuple[int, int] | None = None) -> None:
        import openvino as ov

        self._ov = ov
        self._core = ov.Core()
        # f32 pinned: OpenVINO 2026 defaults to bf16 on CPUs with avx512_bf16/AMX. That ran 1.9x faster here
        # (512x288, 17 vs 32 ms) but moved outputs up to 3 levels off the reference and its effect on E_warp and
        # style distance is not measured yet; the quality figures in the README are all fp32.
        self._config = {"INFERENCE_NUM_THREADS": threads, "NUM_STREAMS": 1, "PERFORMANCE_HINT": "LATENCY",
                        "ENABLE_CPU_PINNING": False, "INFERENCE_PRECISION_HINT": "f32"}
        try:
            self._model = self._core.read_model(str(path))
            self.compiled = self._core.compile_model(self._model, "CPU", self._config)
        except Exception as exc:  # OpenVINO raises RuntimeError subclasses for parse and compile failures
            raise _bad_model(path, exc) from exc
        _check_io(path, [p.get_any_name() for p in self.compiled.inputs],
                  [p.get_any_name() for p in self.compiled.outputs])
        self.path = path
        dim = self.compiled.inputs[3].get_partial_shape()[1]
        self.style_count = dim.get_length() if dim.is_static else None
        self.threads = threads
        self.request = self.compiled.create_infer_request()
        self._static: dict[tuple[int, int], object] = {}
        self._pending: dict[tuple[int, int], Future] = {}
        self._pool: ThreadPoolExecutor | None = None
        if shape_hint is not None:
            self._static[shape_hint] = self._compile_static(shape_hint)

    def _compile_static(self, hw: tuple[int, int]):
        h, w = hw
        m = self._model.clone()
        s = self.style_count or 1
        c = m.input("state").get_partial_shape()[1].get_length()
        m.reshape({"image": [1, 3, h, w], "state": [1, c, h // 4, w // 4], "keep": [1, 1], "style": [1, s]})
        return self._core.compile_model(m, "CPU", self._config).create_infer_request()

    def _request_for(self, hw: tuple[int, int]):
        req = self._static.get(hw)
        if req is not None:
            return req
        fut = self._pending.get(hw)
        if fut is None and self.style_count is not None:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(1, thread_name_prefix="vcam-ov-compile")
            self._pending[hw] = self._pool.submit(self._compile_static, hw)
        elif fut is not None and fut.done():
            del self._pending[hw]
            try:
                self._static[hw] = req = fut.result()
                return req
            except Exception:  # noqa: BLE001 - a failed static compile just keeps the dynamic graph
                self._static[hw] = self.request
        return self.request

    def run(self, image: np.ndarray, state: np.ndarray, keep: np.ndarray, style: np.ndarray,
            stylized: np.ndarray, new_state: np.ndarray) -> None:
        T = self._ov.Tensor
        r = self._request_for((image.shape[2], image.shape[3]))
        for i, arr in enumerate((image, state, keep, style)):
            r.set_input_tensor(i, T(arr, shared_memory=True))
        r.set_output_tensor(0, T(stylized, shared_memory=True))
        r.set_output_tensor(1, T(new_state, shared_memory=True))
        r.infer()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        self._static.clear()
        self._pending.clear()
        self.request = None
        self.compiled = None


def available_runtimes() -> list[str]:
    out = ["onnxruntime"]
    try:
        import openvino  # noqa: F401
    except ImportError:
        return out
    return out + ["openvino"]


def open_runner(runtime: str, path: Path, threads: int, shape_hint: tuple[int, int] | None = None) -> Runner:
    """``shape_hint`` (H, W): the network size expected first (OpenVINO compiles it statically at once)."""
    if runtime == "onnxruntime":
        return OrtRunner(path, threads)
    if runtime == "openvino":
        try:
            return OpenVinoRunner(path, threads, shape_hint)
        except ImportError as exc:
            raise VcamError("OpenVINO is not installed.", "pip install 'vcam[openvino]', or use onnxruntime.") \
                from exc
    raise VcamError(f"Unknown CPU runtime {runtime!r}.", "Choose one of: " + ", ".join(RUNTIMES))


def requested_runtime() -> str:
    """$VCAM_CPU_RUNTIME (onnxruntime | openvino) pins the runtime; unset or 'auto' measures."""
    return os.environ.get("VCAM_CPU_RUNTIME", "auto").strip().lower() or "auto"


def time_runs(fn: Callable[[], None], n: int) -> float:
    """Median milliseconds of ``n`` calls."""
    t = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        t.append((time.perf_counter() - t0) * 1000)
    return float(np.median(t))


def probe(candidates: Sequence[Runner], step: Callable[[Runner], None], rounds: int = 4) -> list[float]:
    """Median ms per candidate over interleaved rounds (one warm-up each), so a burst of load hits all alike."""
    for r in candidates:
        step(r)
    times: list[list[float]] = [[] for _ in candidates]
    for _ in range(rounds):
        for i, r in enumerate(candidates):
            t0 = time.perf_counter()
            step(r)
            times[i].append((time.perf_counter() - t0) * 1000)
    return [float(np.median(t)) for t in times]


class RunnerPicker:
    """Keeps the fastest of a few equivalent runners (e.g. 1 and 2 threads) and re-measures now and then: load
    changes during a call (a screen share starts), and the best thread count changes with it.

    Every ``every`` inferences it alternates the runners for ``2 * rounds`` real frames (no work is wasted: every
    frame's result is used) and switches when another is clearly faster (``margin``)."""

    def __init__(self, runners: Sequence[Runner], every: int = 300, rounds: int = 3, margin: float = 0.9) -> None:
        self.runners = list(runners)
        self.current = 0
        self.every, self.rounds, self.margin = every, rounds, margin
        self._count = 0
        self._probe: list[list[float]] | None = None
        self._probe_i = 0

    @property
    def runner(self) -> Runner:
        return self.runners[self.current]

    def choose(self, times_ms: Sequence[float]) -> None:
        self.current = int(np.argmin(times_ms))

    def next(self) -> int:
        """Index of the runner to use for this inference."""
        if len(self.runners) < 2:
            return 0
        if self._probe is not None:
            return self._probe_i % len(self.runners)
        self._count += 1
        if self._count >= self.every:
            self._count = 0
            self._probe = [[] for _ in self.runners]
            self._probe_i = 0
            return 0
        return self.current

    def report(self, index: int, ms: float) -> None:
        if self._probe is None:
            return
        self._probe[index].append(ms)
        self._probe_i += 1
        if self._probe_i >= self.rounds * len(self.runners):
            med = [float(np.median(t)) if t else float("inf") for t in self._probe]
            best = int(np.argmin(med))
            if best != self.current and med[best] < self.margin * med[self.current]:
                self.current = best
            self._probe = None

    def close(self) -> None:
        for r in self.runners:
            r.close()
