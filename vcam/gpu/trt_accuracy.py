"""Pick the engine precision by measurement: FP16 unless it differs too much from FP32 ONNX Runtime, then FP16
with the normalisation layers in FP32, then FP32. The choice is remembered per model, GPU, TensorRT and shape.

The check runs two recurrent steps (reset, then carry the state) on a fixed synthetic frame, so an FP16 state
that drifts is caught as well as a bad single frame.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from vcam.errors import VcamError
from vcam.gpu.cache import cache_dir
from vcam.gpu.trt_build import PRECISIONS, EngineSpec

MAX_ABS = 0.04      # output in [0, 1]: ~10 of 255 levels at the worst pixel
MEAN_ABS = 0.004    # ~1 level on average


@dataclass(frozen=True)
class Accuracy:
    max_abs: float
    mean_abs: float

    @property
    def ok(self) -> bool:
        return self.max_abs <= MAX_ABS and self.mean_abs <= MEAN_ABS


def check_inputs(spec: EngineSpec, seed: int = 0) -> dict[str, np.ndarray]:
    """A smooth synthetic frame with edges (what the network sees), zero state, the first style."""
    _, _, h, w = spec.shapes()["image"]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    rng = np.random.default_rng(seed)
    img = np.stack([0.5 + 0.4 * np.sin(xx / 9 + c) * np.cos(yy / 7 - c) for c in range(3)])
    img[:, h // 3: h // 2, w // 4: w // 2] = np.array([0.9, 0.1, 0.2])[:, None, None]
    img = np.clip(img + rng.normal(0, 0.02, img.shape), 0, 1).astype(np.float32)[None]
    style = np.zeros((1, spec.style_dim), np.float32)
    style[0, 0] = 1.0
    state = np.zeros(spec.shapes()["state"], np.float32)
    return {"image": img, "state": state, "keep": np.zeros((1, 1), np.float32), "style": style}


def run_network(device, net, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """One synchronous inference through the device (own buffers; the caller re-binds its own afterwards)."""
    bufs, host = {}, {}
    for name, arr in inputs.items():
        a = np.ascontiguousarray(arr, dtype=net.dtype(name))
        h = device.pinned(a.shape, a.dtype)
        np.copyto(h, a)
        bufs[name] = device.alloc(a.nbytes)
        host[name] = h
        device.upload(bufs[name], h)
        net.bind(name, bufs[name].ptr)
    outs = {}
    for name in ("stylized", "new_state"):
        bufs[name] = device.alloc(net.nbytes(name))
        outs[name] = device.pinned(net.shape(name), net.dtype(name))
        net.bind(name, bufs[name].ptr)
    net.enqueue(device.stream_handle)
    for name, arr in outs.items():
        device.download(arr, bufs[name])
    device.synchronize()
    return {k: v.astype(np.float32) for k, v in outs.items()}


def measure(device, net, reference: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]],
            spec: EngineSpec) -> Accuracy:
    inputs = check_inputs(spec)
    errs = []
    for _step in range(2):
        got = run_network(device, net, inputs)
        ref = reference(inputs)
        errs.append(np.abs(got["stylized"] - ref["stylized"]))
        # Both continue from the reference state, so the second step measures one step's error.
        inputs = {**inputs, "state": ref["new_state"], "keep": np.ones((1, 1), np.float32)}
    e = np.concatenate([x.ravel() for x in errs])
    return Accuracy(float(e.max()), float(e.mean()))


def ort_reference(onnx_path: Path) -> Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])

    def run(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = sess.run(["stylized", "new_state"], {k: v.astype(np.float32) for k, v in inputs.items()})
        return {"stylized": out[0], "new_state": out[1]}

    return run


def _decision_path(spec: EngineSpec) -> Path:
    return cache_dir("trt") / f"{replace(spec, precision='auto').key()}.precision.json"


def choose_network(spec: EngineSpec, make: Callable[[EngineSpec], object], device,
                   reference: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]],
                   say: Callable[[str], None] = print) -> tuple[object, EngineSpec, Accuracy | None]:
    """The network at the first precision that passes the accuracy check (remembered for next time)."""
    decided = _decision_path(spec)
    if decided.is_file():
        try:
            precision = json.loads(decided.read_text(encoding="utf-8"))["precision"]
            if precision in PRECISIONS:
                s = replace(spec, precision=precision)
                return make(s), s, None
        except (OSError, ValueError, KeyError):
            pass
    last: Accuracy | None = None
    for precision in PRECISIONS:
        s = replace(spec, precision=precision)
        net = make(s)
        acc = measure(device, net, reference, s)
        if acc.ok or precision == "fp32":
            if not acc.ok:
                raise VcamError(f"The FP32 TensorRT engine differs from ONNX Runtime (max {acc.max_abs:.3f}).",
                                "Use --engine cpu and report the GPU and TensorRT version.")
            decided.write_text(json.dumps({"precision": precision, "max_abs": acc.max_abs,
                                           "mean_abs": acc.mean_abs}) + "\n", encoding="utf-8")
            return net, s, acc
        say(f"TensorRT {precision} differs from ONNX Runtime (max {acc.max_abs:.3f}, mean {acc.mean_abs:.4f}); "
            f"trying {PRECISIONS[PRECISIONS.index(precision) + 1]}.")
        close = getattr(net, "close", None)
        if close:
            close()
        last = acc
    raise VcamError(f"No TensorRT precision matched ONNX Runtime ({last}).")  # pragma: no cover - loop returns
