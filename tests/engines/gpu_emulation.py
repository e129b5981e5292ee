"""A GPU stand-in for the TensorRT engine's tests: host memory for device memory, the kernels through the host
emulation, ONNX Runtime for TensorRT, recorded operations for CUDA graphs.

It implements the small device/network interfaces vcam.gpu.frames.FramePipeline uses, so the pipeline's buffer
wiring, argument order, slot alternation, state hand-over and graph capture/replay run without a GPU.
"""

from __future__ import annotations

import ctypes
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vcam.gpu.hostemu import HostKernels
from vcam.gpu.sources import parse_signatures, unit_paths


@dataclass
class HostBuffer:
    ptr: int
    nbytes: int
    array: np.ndarray


class EmulatedDevice:
    name = "host emulation"
    compute = (0, 0)
    kernel_source = "host-emulation"
    stream_handle = 0

    def __init__(self) -> None:
        self._unit_of: dict[str, str] = {}
        for p in unit_paths():
            for k in parse_signatures(p.read_text(encoding="utf-8")):
                self._unit_of[k] = p.name
        self._kernels: dict[str, HostKernels] = {}
        self._capture: list | None = None
        self._times: dict[int, float] = {}
        self._keep: list[np.ndarray] = []
        self.captures = 0
        self.replays = 0
        self.launches: list[str] = []

    def _do(self, op) -> None:
        if self._capture is not None:
            self._capture.append(op)
        else:
            op()

    def alloc(self, nbytes: int) -> HostBuffer:
        arr = np.full(max(int(nbytes), 1), 0xCD, np.uint8)   # garbage, like fresh device memory
        self._keep.append(arr)
        return HostBuffer(int(arr.ctypes.data), int(nbytes), arr)

    def pinned(self, shape, dtype) -> np.ndarray:
        arr = np.zeros(shape, dtype)
        self._keep.append(arr)
        return arr

    def upload(self, dst: HostBuffer, src: np.ndarray) -> None:
        assert src.nbytes <= dst.nbytes
        self._do(lambda: ctypes.memmove(dst.ptr, src.ctypes.data, src.nbytes))

    def download(self, dst: np.ndarray, src: HostBuffer) -> None:
        assert dst.nbytes <= src.nbytes
        self._do(lambda: ctypes.memmove(dst.ctypes.data, src.ptr, dst.nbytes))

    def copy(self, dst: HostBuffer, src: HostBuffer, nbytes: int) -> None:
        self._do(lambda: ctypes.memmove(dst.ptr, src.ptr, nbytes))

    def fill(self, dst: HostBuffer, value: int = 0) -> None:
        self._do(lambda: ctypes.memset(dst.ptr, value, dst.nbytes))

    def launch(self, name: str, grid, block, *args) -> None:
        unit = self._unit_of[name]
        if unit not in self._kernels:
            self._kernels[unit] = HostKernels(unit)
        k = self._kernels[unit]

        def op() -> None:
            self.launches.append(name)
            k.launch(name, grid, block, *args)

        self._do(op)

    def synchronize(self) -> None:
        pass

    def event(self) -> object:
        return object()

    def record(self, event: object) -> None:
        self._do(lambda: self._times.__setitem__(id(event), time.perf_counter()))

    def event_synchronize(self, event: object) -> None:
        pass

    def elapsed_ms(self, start: object, end: object) -> float:
        return (self._times[id(end)] - self._times[id(start)]) * 1000

    def begin_capture(self) -> None:
        assert self._capture is None, "nested capture"
        self._capture = []
        self.captures += 1

    def end_capture(self) -> list:
        ops, self._capture = self._capture, None
        return ops

    def replay(self, graph: list) -> None:
        self.replays += 1
        for op in graph:
            op()

    def drop_graph(self, graph: list) -> None:
        pass


def _view(ptr: int, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    n = int(np.prod(shape)) * np.dtype(dtype).itemsize
    return np.frombuffer((ctypes.c_uint8 * n).from_address(ptr), np.uint8).view(dtype).reshape(shape)


class OrtNetwork:
    """ONNX Runtime reading and writing the bound "device" pointers, in stream order."""

    def __init__(self, onnx: Path | bytes, shapes: dict[str, tuple[int, ...]], device: EmulatedDevice) -> None:
        import onnxruntime as ort

        src = onnx if isinstance(onnx, bytes) else str(onnx)
        self.sess = ort.InferenceSession(src, providers=["CPUExecutionProvider"])
        types = {"tensor(float)": np.float32, "tensor(float16)": np.float16}
        self._dtype = {t.name: np.dtype(types[t.type]) for t in (*self.sess.get_inputs(), *self.sess.get_outputs())}
        self._shape = dict(shapes)
        self._shape["stylized"] = shapes["image"]
        self._shape["new_state"] = shapes["state"]
        self._ptr: dict[str, int] = {}
        self.dev = device
        self.runs = 0

    def dtype(self, name: str) -> np.dtype:
        return self._dtype[name]

    def shape(self, name: str) -> tuple[int, ...]:
        return self._shape[name]

    def nbytes(self, name: str) -> int:
        return int(np.prod(self._shape[name])) * self._dtype[name].itemsize

    def bind(self, name: str, ptr: int) -> None:
        self._ptr[name] = int(ptr)

    def _run(self) -> None:
        feeds = {n: _view(self._ptr[n], self._shape[n], self._dtype[n]).copy()
                 for n in ("image", "state", "keep", "style")}
        outs = self.sess.run(["stylized", "new_state"], feeds)
        for name, value in zip(("stylized", "new_state"), outs, strict=True):
            _view(self._ptr[name], self._shape[name], self._dtype[name])[...] = value
        self.runs += 1

    def enqueue(self, stream_handle: int) -> None:
        self.dev._do(self._run)
