"""The CUDA driver through cuda-python: error checking and the device's primary context.

cuda-python (``cuda.bindings``) is used rather than pycuda: it installs as a wheel, imports without a GPU,
brings NVRTC, and is what NVIDIA's TensorRT samples use. Only call ``init`` after gpu_probe said a GPU exists.
"""

from __future__ import annotations

from dataclasses import dataclass

from vcam.errors import VcamError


class CudaError(VcamError):
    """A CUDA driver call failed."""


def cu():
    try:
        from cuda.bindings import driver
    except ImportError as exc:
        raise VcamError("cuda-python is not installed.", "pip install 'vcam[gpu]'") from exc
    return driver


def check(result: tuple, what: str = "CUDA call"):
    """Unpack a cuda-python ``(CUresult, *values)`` tuple; raise CudaError with the error's name on failure."""
    drv = cu()
    err, *values = result
    if err != drv.CUresult.CUDA_SUCCESS:
        _, name = drv.cuGetErrorName(err)
        text = name.decode() if isinstance(name, bytes) else str(err)
        raise CudaError(f"{what} failed: {text}")
    if not values:
        return None
    return values[0] if len(values) == 1 else tuple(values)


@dataclass(frozen=True)
class Context:
    device: object       # CUdevice
    context: object      # CUcontext (the primary context, shared with TensorRT's runtime API use)
    name: str
    compute: tuple[int, int]
    ordinal: int


def init(ordinal: int = 0) -> Context:
    """cuInit, retain device ``ordinal``'s primary context and make it current on this thread."""
    drv = cu()
    check(drv.cuInit(0), "cuInit")
    dev = check(drv.cuDeviceGet(ordinal), "cuDeviceGet")
    ctx = check(drv.cuDevicePrimaryCtxRetain(dev), "cuDevicePrimaryCtxRetain")
    check(drv.cuCtxSetCurrent(ctx), "cuCtxSetCurrent")
    name = check(drv.cuDeviceGetName(256, dev), "cuDeviceGetName")
    attr = drv.CUdevice_attribute
    major = check(drv.cuDeviceGetAttribute(attr.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, dev))
    minor = check(drv.cuDeviceGetAttribute(attr.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, dev))
    text = name.split(b"\0", 1)[0].decode(errors="replace") if isinstance(name, bytes) else str(name)
    return Context(dev, ctx, text, (int(major), int(minor)), ordinal)


def make_current(ctx: Context) -> None:
    """Contexts are per thread: the pipeline's worker thread must call this before any other GPU call."""
    check(cu().cuCtxSetCurrent(ctx.context), "cuCtxSetCurrent")


def release(ctx: Context) -> None:
    check(cu().cuDevicePrimaryCtxRelease(ctx.device), "cuDevicePrimaryCtxRelease")
