"""One GPU as the frame pipeline sees it: a stream, device buffers, pinned host arrays, the kernel module,
events, and CUDA-graph capture. Everything is allocated once and reused every frame.

``vcam.gpu.frames.FramePipeline`` talks only to the small interface below, which the host emulation in the
tests implements as well (numpy memory, kernels through ctypes), so the wiring is tested without a GPU.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass

import numpy as np

from vcam.gpu import driver
from vcam.gpu.driver import check, cu
from vcam.gpu.module import KernelModule


@dataclass
class DeviceBuffer:
    ptr: int
    nbytes: int


class CudaDevice:
    def __init__(self, ordinal: int = 0) -> None:
        drv = cu()
        self.ctx = driver.init(ordinal)
        self.name = self.ctx.name
        self.compute = self.ctx.compute
        self.stream = check(drv.cuStreamCreate(int(drv.CUstream_flags.CU_STREAM_NON_BLOCKING)), "cuStreamCreate")
        self.kernels = KernelModule(self.compute)
        self._buffers: list[DeviceBuffer] = []
        self._pinned: list[int] = []
        self._events: list[object] = []
        self._graphs: list[tuple[object, object]] = []

    @property
    def stream_handle(self) -> int:
        """The stream as the integer handle TensorRT's execute_async_v3 takes."""
        return int(self.stream)

    @property
    def kernel_source(self) -> str:
        return self.kernels.source

    # ---- memory ---------------------------------------------------------------------------------------------
    def alloc(self, nbytes: int) -> DeviceBuffer:
        ptr = check(cu().cuMemAlloc(max(int(nbytes), 1)), f"allocating {nbytes} bytes on the GPU")
        buf = DeviceBuffer(int(ptr), int(nbytes))
        self._buffers.append(buf)
        return buf

    def pinned(self, shape: tuple[int, ...], dtype: np.dtype | type) -> np.ndarray:
        """A numpy array in page-locked host memory: what makes the copies truly asynchronous."""
        dt = np.dtype(dtype)
        nbytes = max(int(np.prod(shape)) * dt.itemsize, 1)
        hptr = int(check(cu().cuMemHostAlloc(nbytes, 0), f"allocating {nbytes} bytes of pinned memory"))
        self._pinned.append(hptr)
        raw = (ctypes.c_uint8 * nbytes).from_address(hptr)
        return np.frombuffer(raw, dtype=np.uint8, count=int(np.prod(shape)) * dt.itemsize).view(dt).reshape(shape)

    def upload(self, dst: DeviceBuffer, src: np.ndarray) -> None:
        check(cu().cuMemcpyHtoDAsync(dst.ptr, src.ctypes.data, src.nbytes, self.stream), "upload")

    def download(self, dst: np.ndarray, src: DeviceBuffer) -> None:
        check(cu().cuMemcpyDtoHAsync(dst.ctypes.data, src.ptr, dst.nbytes, self.stream), "download")

    def copy(self, dst: DeviceBuffer, src: DeviceBuffer, nbytes: int) -> None:
        check(cu().cuMemcpyDtoDAsync(dst.ptr, src.ptr, nbytes, self.stream), "device copy")

    def fill(self, dst: DeviceBuffer, value: int = 0) -> None:
        check(cu().cuMemsetD8Async(dst.ptr, value, dst.nbytes, self.stream), "memset")

    # ---- work -----------------------------------------------------------------------------------------------
    def launch(self, name: str, grid: tuple[int, int, int], block: tuple[int, int, int], *args: object) -> None:
        self.kernels.launch(name, grid, block, self.stream, *args)

    def synchronize(self) -> None:
        check(cu().cuStreamSynchronize(self.stream), "cuStreamSynchronize")

    def event(self) -> object:
        drv = cu()
        ev = check(drv.cuEventCreate(int(drv.CUevent_flags.CU_EVENT_DEFAULT)), "cuEventCreate")
        self._events.append(ev)
        return ev

    def record(self, event: object) -> None:
        check(cu().cuEventRecord(event, self.stream), "cuEventRecord")

    def event_synchronize(self, event: object) -> None:
        check(cu().cuEventSynchronize(event), "cuEventSynchronize")

    def elapsed_ms(self, start: object, end: object) -> float:
        return float(check(cu().cuEventElapsedTime(start, end), "cuEventElapsedTime"))

    # ---- CUDA graphs ----------------------------------------------------------------------------------------
    def begin_capture(self) -> None:
        drv = cu()
        check(drv.cuStreamBeginCapture(self.stream, drv.CUstreamCaptureMode.CU_STREAM_CAPTURE_MODE_THREAD_LOCAL),
              "cuStreamBeginCapture")

    def end_capture(self) -> object:
        """Finish capturing; returns an executable graph that replays the captured work."""
        drv = cu()
        graph = check(drv.cuStreamEndCapture(self.stream), "cuStreamEndCapture")
        exe = check(drv.cuGraphInstantiate(graph, 0), "cuGraphInstantiate")
        self._graphs.append((graph, exe))
        return exe

    def replay(self, graph: object) -> None:
        check(cu().cuGraphLaunch(graph, self.stream), "cuGraphLaunch")

    def drop_graph(self, graph: object) -> None:
        drv = cu()
        for g, exe in list(self._graphs):
            if exe is graph:
                drv.cuGraphExecDestroy(exe)
                drv.cuGraphDestroy(g)
                self._graphs.remove((g, exe))

    def close(self) -> None:
        drv = cu()
        try:
            drv.cuStreamSynchronize(self.stream)
        finally:
            for g, exe in self._graphs:
                drv.cuGraphExecDestroy(exe)
                drv.cuGraphDestroy(g)
            for ev in self._events:
                drv.cuEventDestroy(ev)
            for b in self._buffers:
                drv.cuMemFree(b.ptr)
            for h in self._pinned:
                drv.cuMemFreeHost(h)
            self._graphs, self._events, self._buffers, self._pinned = [], [], [], []
            self.kernels.close()
            drv.cuStreamDestroy(self.stream)
            driver.release(self.ctx)
