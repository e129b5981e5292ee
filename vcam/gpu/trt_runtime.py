"""A deserialized TensorRT engine as the frame pipeline uses it: fixed shapes, tensors bound to device pointers,
one ``execute_async_v3`` per frame on the pipeline's stream (capturable into a CUDA graph).

Only import this after vcam.engines.gpu_probe reported a GPU: ``trt.Runtime()`` crashes the process without one.
"""

from __future__ import annotations

import numpy as np

from vcam.errors import VcamError

INPUTS = ("image", "state", "keep", "style")     # vcam.model.export's names (runtime code cannot import it)
OUTPUTS = ("stylized", "new_state")


def _trt():
    try:
        import tensorrt as trt
    except ImportError as exc:
        raise VcamError("TensorRT is not installed.", "pip install 'vcam[gpu]'") from exc
    return trt


class TrtLogger:
    """TensorRT's log, kept (last lines) for error messages instead of printed over the progress display."""

    def __new__(cls):
        trt = _trt()

        class _Logger(trt.ILogger):
            def __init__(self) -> None:
                trt.ILogger.__init__(self)
                self.lines: list[str] = []

            def log(self, severity, msg) -> None:  # noqa: ANN001 - TensorRT's signature
                if int(severity) <= int(trt.ILogger.Severity.WARNING):
                    self.lines = (self.lines + [f"{severity.name}: {msg}"])[-50:]

        return _Logger()


class TrtNetwork:
    def __init__(self, engine_bytes: bytes, shapes: dict[str, tuple[int, ...]], logger=None) -> None:
        trt = _trt()
        self._trt = trt
        self.logger = logger or TrtLogger()
        self.runtime = trt.Runtime(self.logger)
        self.engine = self.runtime.deserialize_cuda_engine(engine_bytes)
        if self.engine is None:
            raise VcamError("TensorRT could not load the cached engine (built by another TensorRT or GPU?).",
                            "Delete the vcam cache folder's trt/ entries; vcam rebuilds them.")
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        missing = [n for n in (*INPUTS, *OUTPUTS) if n not in names]
        if missing:
            raise VcamError(f"The model's ONNX graph lacks tensors {missing}; found {names}.",
                            "Re-export the model with this vcam (`vcam export`).")
        for name in INPUTS:
            if not self.context.set_input_shape(name, shapes[name]):
                raise VcamError(f"TensorRT rejected input shape {shapes[name]} for {name}.")
        self._shape = {n: tuple(int(d) for d in self.context.get_tensor_shape(n)) for n in names}
        self._dtype = {n: np.dtype(trt.nptype(self.engine.get_tensor_dtype(n))) for n in names}

    def dtype(self, name: str) -> np.dtype:
        return self._dtype[name]

    def shape(self, name: str) -> tuple[int, ...]:
        return self._shape[name]

    def nbytes(self, name: str) -> int:
        return int(np.prod(self._shape[name])) * self._dtype[name].itemsize

    def bind(self, name: str, ptr: int) -> None:
        if not self.context.set_tensor_address(name, int(ptr)):
            raise VcamError(f"TensorRT rejected the buffer for {name}.")

    def enqueue(self, stream_handle: int) -> None:
        if not self.context.execute_async_v3(stream_handle):
            raise VcamError("TensorRT inference failed: " + " | ".join(self.logger.lines[-3:]))

    def close(self) -> None:
        self.context = None
        self.engine = None
        self.runtime = None
