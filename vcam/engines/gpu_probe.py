"""Is there a usable NVIDIA GPU? Answered without crashing on machines that have none.

Order matters: TensorRT's ``trt.Runtime()`` segfaults the process when no GPU is present, so the driver is
asked first, through ctypes (load libcuda / nvcuda.dll, cuInit, cuDeviceGetCount), and TensorRT is imported
only once the driver reports a device. Nothing here creates a TensorRT object.
"""

from __future__ import annotations

import ctypes
import importlib.util
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

MIN_COMPUTE = (7, 5)  # Turing: the oldest target CUDA 13 compiles for, and the oldest in our fatbin
INSTALL_HINT = ("pip install 'vcam[gpu]' (TensorRT wheels come from NVIDIA's index: "
                "pip install --extra-index-url https://pypi.nvidia.com tensorrt)")

_CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75
_CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76
# NVIDIA's minimum driver branch for each CUDA major version (Linux / Windows), for the "too old" message.
_DRIVER_FOR_CUDA = {12: "525.60 (Linux) / 527.41 (Windows)", 13: "580.65 (Linux) / 580.88 (Windows)"}


@dataclass(frozen=True)
class GpuDevice:
    index: int
    name: str
    compute: tuple[int, int]
    memory_bytes: int

    def __str__(self) -> str:
        return (f"{self.name} (compute {self.compute[0]}.{self.compute[1]}, "
                f"{self.memory_bytes / 2**30:.0f} GiB)")


@dataclass(frozen=True)
class GpuStatus:
    usable: bool
    reason: str                                    # why not usable, or what will be used
    devices: tuple[GpuDevice, ...] = ()
    driver_cuda_version: tuple[int, int] | None = None   # the CUDA API version the driver implements
    driver_version: str | None = None              # e.g. "550.54.14" (from NVML, when available)
    tensorrt_version: str | None = None
    hint: str = ""
    extra: dict = field(default_factory=dict, compare=False)

    @property
    def device(self) -> GpuDevice | None:
        return self.devices[0] if self.devices else None

    def describe(self) -> str:
        """The `vcam devices` line: the GPU state and why it is or is not used."""
        if self.usable and self.device is not None:
            drv = self.driver_version or _fmt_cuda(self.driver_cuda_version)
            return f"GPU: {self.device}, driver {drv}, TensorRT {self.tensorrt_version} - used by --engine auto"
        text = f"GPU: not used - {self.reason}"
        return f"{text}\n  fix: {self.hint}" if self.hint else text


def _fmt_cuda(v: tuple[int, int] | None) -> str:
    return f"CUDA {v[0]}.{v[1]}" if v else "unknown"


def _driver_library_names() -> tuple[str, ...]:
    if sys.platform == "win32":
        return ("nvcuda.dll",)
    if sys.platform == "darwin":
        return ()
    return ("libcuda.so.1", "libcuda.so")


def load_driver() -> ctypes.CDLL:
    """The CUDA driver library; OSError when absent."""
    names = _driver_library_names()
    if not names:
        raise OSError("NVIDIA GPUs are not supported on macOS")
    errors = []
    loader = getattr(ctypes, "WinDLL", ctypes.CDLL) if sys.platform == "win32" else ctypes.CDLL
    for name in names:
        try:
            return loader(name)
        except OSError as exc:
            errors.append(str(exc))
    raise OSError("; ".join(errors))


def _nvml_driver_version() -> str | None:
    names = ("nvml.dll",) if sys.platform == "win32" else ("libnvidia-ml.so.1",)
    for name in names:
        try:
            nvml = ctypes.CDLL(name)
            if nvml.nvmlInit_v2() != 0:
                return None
            buf = ctypes.create_string_buffer(96)
            ok = nvml.nvmlSystemGetDriverVersion(buf, 96) == 0
            nvml.nvmlShutdown()
            return buf.value.decode() if ok else None
        except (OSError, AttributeError):
            continue
    return None


def required_cuda_major() -> int:
    """The CUDA major version the installed cuda-bindings were built for (12 when unknown)."""
    try:
        from importlib.metadata import version

        return int(version("cuda-bindings").split(".")[0])
    except Exception:  # noqa: BLE001 - not installed or odd version string
        return 12


def _error_name(lib: ctypes.CDLL, code: int) -> str:
    try:
        p = ctypes.c_char_p()
        if lib.cuGetErrorName(code, ctypes.byref(p)) == 0 and p.value:
            return p.value.decode()
    except (AttributeError, OSError):
        pass
    return f"CUresult {code}"


def _tensorrt_version() -> str | None:
    if importlib.util.find_spec("tensorrt") is None:
        return None
    try:
        import tensorrt  # noqa: PLC0415 - only after the driver reported a GPU: see module docstring

        return str(tensorrt.__version__)
    except Exception:  # noqa: BLE001 - a broken install is reported as not installed, with the reason
        return None


def probe(load: Callable[[], ctypes.CDLL] = load_driver, tensorrt_version: Callable[[], str | None] = _tensorrt_version,
          driver_version: Callable[[], str | None] = _nvml_driver_version) -> GpuStatus:
    """Ask the driver, then TensorRT. Never raises: every failure becomes a reason."""
    try:
        lib = load()
    except OSError as exc:
        return GpuStatus(False, f"no NVIDIA driver ({str(exc).split(';')[0]})",
                         hint="Install the NVIDIA driver for your GPU; without one vcam runs on the CPU.")
    v = ctypes.c_int(0)
    if lib.cuDriverGetVersion(ctypes.byref(v)) != 0:
        return GpuStatus(False, "the NVIDIA driver did not report its version", hint="Reinstall the NVIDIA driver.")
    cuda = (v.value // 1000, (v.value % 1000) // 10)
    need = required_cuda_major()
    if cuda[0] < need:
        return GpuStatus(False, f"the NVIDIA driver is too old (it supports CUDA {cuda[0]}.{cuda[1]}; vcam's GPU "
                                f"path needs CUDA {need}.0)", driver_cuda_version=cuda,
                         hint=f"Update the NVIDIA driver to {_DRIVER_FOR_CUDA.get(need, 'a newer release')} "
                              "or newer.")
    rc = lib.cuInit(0)
    if rc != 0:
        name = _error_name(lib, rc)
        what = "no NVIDIA GPU found" if name == "CUDA_ERROR_NO_DEVICE" else f"the CUDA driver failed to start ({name})"
        return GpuStatus(False, what, driver_cuda_version=cuda,
                         hint="Check that the GPU is visible (nvidia-smi) and not reserved by another driver.")
    count = ctypes.c_int(0)
    rc = lib.cuDeviceGetCount(ctypes.byref(count))
    if rc != 0 or count.value == 0:
        return GpuStatus(False, "no NVIDIA GPU found", driver_cuda_version=cuda,
                         hint="Check that the GPU is visible (nvidia-smi).")
    devices = []
    for i in range(count.value):
        dev = ctypes.c_int(0)
        if lib.cuDeviceGet(ctypes.byref(dev), i) != 0:
            continue
        name = ctypes.create_string_buffer(256)
        lib.cuDeviceGetName(name, 256, dev)
        major, minor, mem = ctypes.c_int(0), ctypes.c_int(0), ctypes.c_size_t(0)
        lib.cuDeviceGetAttribute(ctypes.byref(major), _CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, dev)
        lib.cuDeviceGetAttribute(ctypes.byref(minor), _CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, dev)
        total = getattr(lib, "cuDeviceTotalMem_v2", None) or lib.cuDeviceTotalMem
        total(ctypes.byref(mem), dev)
        devices.append(GpuDevice(i, name.value.decode(errors="replace"), (major.value, minor.value), mem.value))
    devs = tuple(devices)
    drv = driver_version()
    if not devs or devs[0].compute < MIN_COMPUTE:
        cc = f"{devs[0].compute[0]}.{devs[0].compute[1]}" if devs else "?"
        return GpuStatus(False, f"the GPU {devs[0].name if devs else ''} is too old (compute {cc}; vcam needs "
                                f"{MIN_COMPUTE[0]}.{MIN_COMPUTE[1]}, Turing or newer)", devs, cuda, drv)
    trt = tensorrt_version()
    if trt is None:
        return GpuStatus(False, "TensorRT is not installed", devs, cuda, drv, hint=INSTALL_HINT)
    if importlib.util.find_spec("cuda") is None or importlib.util.find_spec("cuda.bindings") is None:
        return GpuStatus(False, "cuda-python is not installed", devs, cuda, drv, trt, hint=INSTALL_HINT)
    return GpuStatus(True, f"TensorRT {trt} on {devs[0].name}", devs, cuda, drv, trt)
