"""The CPU runtimes that execute the exported network, behind one small interface, and the measured choice
between them (runtime and thread count).

Both write into caller-owned buffers (ONNX Runtime through I/O binding, OpenVINO through shared-memory tensors), so
no frame allocates. Why measure at run time: the best runtime and thread count change with the machine, the
versions and the load (1 thread wins when another process holds a core). Measured on a 2-core Zen 4 with
benchmarks/bench_backends.py (the previous, depthwise net, median ms at 320x180 / 640x360, 2 threads): ONNX Runtime
fp32 13.7 / 84, OpenVINO fp32 11.1 / 66, bf16 7.5 / 38, int8 9.8 / 50. The README has the current net's figures.

OpenVINO bf16 is the default where the CPU runs it natively (see resolve_precision); int8 is not used: slower than
bf16 and it raised E_warp by 24-86% (measured on the first model).
"""

from __future__ import annotations

import functools
import os
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Protocol

import numpy as np

from vcam.errors import ModelError, VcamError
from vcam.memory import trim_heap

RUNTIMES = ("onnxruntime", "openvino")
PRECISIONS = ("f32", "bf16")   # OpenVINO's inference precision; ONNX Runtime runs the graph's own (f32)
INPUTS = ("image", "state", "keep", "style")
OUTPUTS = ("stylized", "new_state")


class Runner(Protocol):
    runtime: str
    precision: str
    threads: int
    path: Path
    style_dim: int | None       # width of the graph's style input (None if dynamic)

    def run(self, image: np.ndarray, state: np.ndarray, keep: np.ndarray, style: np.ndarray,
            stylized: np.ndarray, new_state: np.ndarray) -> None:
        """One step; the outputs are written into ``stylized`` and ``new_state`` (preallocated, C-contiguous)."""
        ...

    def prewarm(self, sizes: Sequence[tuple[int, int]]) -> None:
        """Prepare these (h, w) network sizes now, so a later governor step allocates nothing new."""
        ...

    def ready(self, hw: tuple[int, int]) -> bool:
        """Whether this (h, w) network size runs at full speed now; if not, start preparing it in the background."""
        ...

    def close(self) -> None: ...


def _bad_model(path: Path, exc: Exception, what: str = "a vcam model",
               hint: str = "Reinstall vcam, or re-export the model with `vcam export`.") -> ModelError:
    # ``what`` / ``hint``: other graphs (the person segmenter) reuse the message with their own remedy.
    return ModelError(f"The model file {path} cannot be loaded: it is corrupt, truncated or not {what} "
                      f"({type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}).", hint)


def _check_io(path: Path, inputs: Sequence[str], outputs: Sequence[str],
              want: tuple[Sequence[str], Sequence[str]] = (INPUTS, OUTPUTS),
              hint: str = "Re-export it with this vcam (`vcam export`).") -> None:
    want_in, want_out = tuple(want[0]), tuple(want[1])
    if tuple(inputs) != want_in or tuple(outputs) != want_out:
        raise ModelError(f"The model file {path} has inputs {list(inputs)} and outputs {list(outputs)}; "
                         f"vcam expects {list(want_in)} -> {list(want_out)}.", hint)


def _port_name(port, want: str) -> str:
    return want if want in port.get_names() else port.get_any_name()


class OrtRunner:
    runtime = "onnxruntime"
    precision = "f32"

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
        self.style_dim = inputs[3].shape[1] if isinstance(inputs[3].shape[1], int) else None
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

    def prewarm(self, sizes: Sequence[tuple[int, int]]) -> None:
        """Nothing to do: ONNX Runtime serves every size from its one dynamic session."""

    def ready(self, hw: tuple[int, int]) -> bool:
        return True

    def close(self) -> None:
        self._binding = None
        self.session = None


class OpenVinoRunner:
    """OpenVINO on the CPU. Static shapes run ~1.5-2x faster than the dynamic graph here, so each network size gets
    its own compiled copy: the hinted size at once, others on a helper thread (``ready``), while the engine keeps
    running the size it has (a governor step never stalls on a compile, and waits for it instead of using the
    dynamic graph). The dynamic graph serves only a size nobody waited for (the first frames after the camera's
    resolution changes): its scratch memory grows to the largest size it ran and stays there (101 -> 145 MB for one
    1-thread runner at 960x544 here, one-off measurement), which is what made long runs step up (issue 14).

    Only the ``max_static`` most recently used sizes stay compiled: each cost 10-40 MB of resident memory (by size)
    and a compile only ~0.2 s here (one-off measurements), so a governor that has visited every rung does not keep
    them all."""

    runtime = "openvino"
    # The current rung and its two neighbours (the governor moves one rung at a time): a walk over three rungs then
    # never compiles again. With two, each return to the third recompiled it, and resident memory rose a few MB at
    # some of those recompiles (720p here, one-off walks over the ladder), on top of the first visit's 10 MB.
    max_static = 3

    def __init__(self, path: Path, threads: int, shape_hint: tuple[int, int] | None = None,
                 precision: str = "f32", state_stride: int = 4) -> None:
        import openvino as ov

        self.state_stride = state_stride
        if precision not in PRECISIONS:
            raise VcamError(f"Unknown precision {precision!r}.", "Choose one of: " + ", ".join(PRECISIONS))
        self._ov = ov
        self._core = openvino_core()
        # Precision is always explicit: OpenVINO 2026 would default to bf16 on CPUs with avx512_bf16/AMX on its own;
        # vcam decides (resolve_precision), on measured quality.
        self._config = {"INFERENCE_NUM_THREADS": threads, "NUM_STREAMS": 1, "PERFORMANCE_HINT": "LATENCY",
                        "ENABLE_CPU_PINNING": False, "INFERENCE_PRECISION_HINT": precision}
        try:
            self._model = self._core.read_model(str(path))
            self.compiled = self._core.compile_model(self._model, "CPU", self._config)
        except Exception as exc:  # OpenVINO raises RuntimeError subclasses for parse and compile failures
            raise _bad_model(path, exc) from exc
        # A port can carry several names once OpenVINO fuses the last ops (e.g. a sigmoid into depth-to-space):
        # match the expected name among them.
        _check_io(path, [_port_name(p, want) for p, want in zip(self.compiled.inputs, INPUTS, strict=False)],
                  [_port_name(p, want) for p, want in zip(self.compiled.outputs, OUTPUTS, strict=False)])
        # Reported as OpenVINO compiled it, not as asked.
        self.precision = "bf16" if self.compiled.get_property("INFERENCE_PRECISION_HINT") == ov.Type.bf16 else "f32"
        self.path = path
        dim = self.compiled.inputs[3].get_partial_shape()[1]
        self.style_dim = dim.get_length() if dim.is_static else None
        self.threads = threads
        self.request = self.compiled.create_infer_request()
        self._static: OrderedDict[tuple[int, int], object] = OrderedDict()   # least recently used first
        self._pending: dict[tuple[int, int], Future] = {}
        self._pool: ThreadPoolExecutor | None = None
        if shape_hint is not None:
            self._static[shape_hint] = self._compile_static(shape_hint)

    def _compile_static(self, hw: tuple[int, int]):
        h, w = hw
        m = self._model.clone()
        s = self.style_dim or 1
        c = m.input("state").get_partial_shape()[1].get_length()
        st = self.state_stride
        m.reshape({"image": [1, 3, h, w], "state": [1, c, h // st, w // st], "keep": [1, 1], "style": [1, s]})
        req = self._core.compile_model(m, "CPU", self._config).create_infer_request()
        del m
        trim_heap()   # the compile's scratch memory, freed but still held by this thread's malloc arena
        return req

    def ready(self, hw: tuple[int, int]) -> bool:
        """Whether ``hw`` runs on its own static graph now; if not, its compile starts on the helper thread (once)."""
        if hw in self._static or self.style_dim is None:
            return True
        fut = self._pending.get(hw)
        if fut is None:
            self._pending[hw] = self._helper().submit(self._compile_static, hw)
            return False
        if not fut.done():
            return False
        del self._pending[hw]
        try:
            req = fut.result()
        except Exception:  # noqa: BLE001 - a failed static compile just keeps the dynamic graph
            req = self.request
        self._static[hw] = req
        while len(self._static) > self.max_static:
            # Freed on the helper thread: tearing down a compiled graph takes milliseconds.
            self._helper().submit(_release, [self._static.popitem(last=False)[1]])
        return True

    def _request_for(self, hw: tuple[int, int]):
        if self.ready(hw):
            req = self._static.get(hw, self.request)
            if hw in self._static:
                self._static.move_to_end(hw)
            return req
        # Only where the caller did not wait for ready(): the dynamic graph, whose scratch memory then stays at
        # this size's high-water mark (about 40 MB at 960x544 here) for the rest of the run.
        return self.request

    def prewarm(self, sizes: Sequence[tuple[int, int]]) -> None:
        """Compile and run each of these sizes once now, in order, the last one most recently used (the last
        ``max_static`` stay compiled): the governor's steps then find their rungs compiled, and resident memory
        reaches its plateau at start instead of minutes into a run (issue 14's soak: +28% between minutes 1 and 3,
        when the first step down compiled a second size on each runner)."""
        if self.style_dim is None:
            return
        for hw in sizes:
            if hw in self._static:
                self._static.move_to_end(hw)
            else:
                self._static[hw] = self._compile_static(hw)
            # OpenVINO allocates a compiled graph's scratch memory on its first inference, not at the compile.
            h, w = hw
            st = self.state_stride
            c = self._model.input("state").get_partial_shape()[1].get_length()
            image, state = np.zeros((1, 3, h, w), np.float32), np.zeros((1, c, h // st, w // st), np.float32)
            self.run(image, state, np.zeros((1, 1), np.float32), np.zeros((1, self.style_dim), np.float32),
                     np.empty_like(image), np.empty_like(state))
        while len(self._static) > self.max_static:
            _release([self._static.popitem(last=False)[1]])

    def _helper(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="vcam-ov-compile")
        return self._pool

    def run(self, image: np.ndarray, state: np.ndarray, keep: np.ndarray, style: np.ndarray,
            stylized: np.ndarray, new_state: np.ndarray) -> None:
        T = self._ov.Tensor
        r = self._request_for((image.shape[2], image.shape[3]))
        for i, arr in enumerate((image, state, keep, style)):
            r.set_input_tensor(i, T(arr, shared_memory=True))
        r.set_output_tensor(0, T(stylized, shared_memory=True))
        r.set_output_tensor(1, T(new_state, shared_memory=True))
        # share_outputs: infer() would otherwise return fresh copies of both outputs (8 MB a frame at 960x544),
        # an allocation and a copy on every frame for results that are already in our buffers.
        r.infer(share_outputs=True)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        self._static.clear()
        self._pending.clear()
        self.request = None
        self.compiled = None


def _release(box: list) -> None:
    box.clear()   # in a box: the executor holds the call's arguments until it returns, so a plain del frees nothing
    trim_heap()


def available_runtimes() -> list[str]:
    out = ["onnxruntime"]
    try:
        import openvino  # noqa: F401
    except ImportError:
        return out
    return out + ["openvino"]


@functools.cache
def openvino_core():
    """The process's one OpenVINO Core, shared by every runner (style network, segmenter, the bf16 probe).

    Why one: each Core loads its own CPU plugin, and each plugin installs a signal alternate stack on the thread that
    creates it and, when destroyed, restores the one it found, which may belong to a plugin already freed. With
    several Cores created and dropped in turn (calibration, the bf16 probe, the segmenter) the main thread was left
    with a dangling alternate stack, and SIGTERM (Python's handlers run on it) killed the process with SIGSEGV
    in about one run in five. Kept for the life of the process, one Core sets it once and it stays valid."""
    import openvino as ov

    return ov.Core()


@functools.cache
def bf16_supported() -> bool:
    """Whether OpenVINO can run bf16 natively on this CPU (avx512_bf16 or AMX). Asked once: it cannot change."""
    try:
        return "BF16" in openvino_core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    except Exception:  # noqa: BLE001 - no OpenVINO, or a build without the property: treat as unsupported
        return False


def resolve_precision(requested: str) -> str:
    """The OpenVINO precision for a requested one: "auto" is bf16 where the CPU runs it natively (avx512_bf16 or
    AMX: several times faster for the dense convolutions; on the previous model E_warp and style distance were
    within 2% of f32; benchmarks/quality.py --precision f32 / bf16 repeats the comparison), else f32."""
    if requested == "auto":
        return "bf16" if bf16_supported() else "f32"
    if requested not in PRECISIONS:
        raise VcamError(f"Unknown CPU precision {requested!r}.", "Choose one of: auto, " + ", ".join(PRECISIONS))
    return requested


def open_runner(runtime: str, path: Path, threads: int, shape_hint: tuple[int, int] | None = None,
                precision: str = "f32", state_stride: int = 4) -> Runner:
    """``shape_hint`` (H, W): the network size expected first (OpenVINO compiles it statically at once).
    ``precision`` applies to OpenVINO only; ``state_stride``: the recurrent state is at 1 / state_stride."""
    if runtime == "onnxruntime":
        return OrtRunner(path, threads)
    if runtime == "openvino":
        try:
            return OpenVinoRunner(path, threads, shape_hint, precision, state_stride)
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
    frame's result is used) and switches when another is clearly better (``margin``).

    Better means faster, until the engine sets ``deadline_ms`` (the inference time its frame budget leaves): then
    it is the runner that costs the least CPU time (threads x ms) among those that meet the deadline: where two
    vCPUs share one core, a second thread buys little speed for much CPU, which the call app next to vcam needs.
    Where the cores are real, two threads cost about what one does (benchmarks/bench_threads.py: 27.4 against
    29.7 CPU ms a 720p frame on a 2-vCPU Xeon), and the faster one stays."""

    def __init__(self, runners: Sequence[Runner], every: int = 300, rounds: int = 3, margin: float = 0.9) -> None:
        self.runners = list(runners)
        self.current = 0
        self.every, self.rounds, self.margin = every, rounds, margin
        self.retry = 30   # frames until a postponed probe is tried again
        self._count = 0
        self._probe: list[list[float]] | None = None
        self._probe_i = 0
        self.deadline_ms: float | None = None
        self._last_med: list[float] | None = None   # each runner's median at the last probe
        self._switch_to: int | None = None

    @property
    def runner(self) -> Runner:
        return self.runners[self.current]

    @property
    def probing(self) -> bool:
        """A re-measure is under way: the frames alternate the runners, a slow one included."""
        return self._probe is not None

    def choose(self, times_ms: Sequence[float]) -> None:
        self.current = self._best(times_ms)

    def set_deadline(self, ms: float | None) -> None:
        """None: the fastest runner wins (after a time: the last probe's fastest, from the next frame it runs
        compiled); a time: the cheapest that meets it (measured again soon after a change from None, not a whole
        ``every`` later)."""
        if ms is not None and self.deadline_ms is None and self._probe is None:
            self._count = max(self._count, self.every - 30)
        if ms is None and self.deadline_ms is not None and self._last_med is not None:
            # No longer saving CPU: back to the fastest at the next frame it can run at full speed (the governor
            # asks when the frame rate suffers).
            self._switch_to = int(np.argmin(self._last_med))
        self.deadline_ms = ms

    def _cost(self, i: int, ms: float) -> float:
        return self.runners[i].threads * ms

    def _best(self, times_ms: Sequence[float]) -> int:
        fastest = int(np.argmin(times_ms))
        if self.deadline_ms is None:
            return fastest
        fits = [i for i, t in enumerate(times_ms) if t <= self.deadline_ms]
        if not fits:
            return fastest
        return min(fits, key=lambda i: (self._cost(i, times_ms[i]), times_ms[i]))

    def next(self, ready: Callable[[Runner], bool] | None = None) -> int:
        """Index of the runner to use for this inference. ``ready``: whether a runner runs this frame's size at full
        speed (and, if not, starts preparing it); a probe waits until all do, so it neither times a slow fallback
        nor makes one grow its memory."""
        if len(self.runners) < 2:
            return 0
        if self._switch_to is not None and (ready is None or ready(self.runners[self._switch_to])):
            self.current, self._switch_to = self._switch_to, None
        if self._probe is not None:
            i = self._probe_i % len(self.runners)
            if ready is None or ready(self.runners[i]):
                return i
            self._probe = None            # the size changed mid-probe: measure again once it is compiled
            self._count = self.every - self.retry
            return self.current
        self._count += 1
        if self._count >= self.every:
            if ready is not None and not all([ready(r) for r in self.runners]):   # a list: ask every runner
                self._count = self.every - self.retry
                return self.current
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
            self._last_med = med
            best, cur = self._best(med), self.current
            if best != cur:
                if self.deadline_ms is not None and med[cur] <= self.deadline_ms:
                    better = self._cost(best, med[best]) < self.margin * self._cost(cur, med[cur])
                else:
                    better = med[best] < self.margin * med[cur]
                if better:
                    self.current = best
            self._probe = None

    def close(self) -> None:
        for r in self.runners:
            r.close()
