"""The GPU probe: every way a machine can lack a usable GPU gives its own clear reason and fix, without
crashing and without touching TensorRT before the driver reported a device."""

from __future__ import annotations

import ctypes
import subprocess
import sys

import pytest

from vcam.engines import gpu_probe
from vcam.engines.gpu_probe import GpuStatus, probe


class FakeDriver:
    """The few libcuda entry points the probe calls, answering like a configurable driver."""

    def __init__(self, version=13000, init_rc=0, count=1, name=b"NVIDIA GeForce RTX 3060", cc=(8, 6),
                 mem=12 << 30) -> None:
        self.version, self.init_rc, self.count, self.name, self.cc, self.mem = version, init_rc, count, name, cc, mem

    def cuDriverGetVersion(self, ref):  # noqa: N802 - the C names
        ref._obj.value = self.version
        return 0

    def cuInit(self, flags):  # noqa: N802
        return self.init_rc

    def cuGetErrorName(self, code, ref):  # noqa: N802
        ref._obj.value = {100: b"CUDA_ERROR_NO_DEVICE", 999: b"CUDA_ERROR_UNKNOWN"}.get(code, b"CUDA_ERROR_X")
        return 0

    def cuDeviceGetCount(self, ref):  # noqa: N802
        ref._obj.value = self.count
        return 0

    def cuDeviceGet(self, ref, i):  # noqa: N802
        ref._obj.value = i
        return 0

    def cuDeviceGetName(self, buf, n, dev):  # noqa: N802
        buf.value = self.name
        return 0

    def cuDeviceGetAttribute(self, ref, attr, dev):  # noqa: N802
        ref._obj.value = self.cc[0] if attr == 75 else self.cc[1]
        return 0

    def cuDeviceTotalMem_v2(self, ref, dev):  # noqa: N802
        ref._obj.value = self.mem
        return 0


def _probe(driver=None, trt="10.3.0") -> GpuStatus:
    def load():
        if driver is None:
            raise OSError("libcuda.so.1: cannot open shared object file: No such file or directory")
        return driver

    return probe(load=load, tensorrt_version=lambda: trt, driver_version=lambda: "550.54.14")


def test_gpu_probe_no_driver():
    s = _probe(None)
    assert not s.usable
    assert s.reason.startswith("no NVIDIA driver") and "libcuda.so.1" in s.reason
    assert "Install the NVIDIA driver" in s.hint
    assert s.describe().startswith("GPU: not used - no NVIDIA driver")


def test_gpu_probe_does_not_ask_tensorrt_without_a_device():
    def tensorrt_version():
        raise AssertionError("TensorRT must not be touched before the driver reported a GPU")

    def loader(drv):
        def load():
            if drv is None:
                raise OSError("no lib")
            return drv
        return load

    for drv in (None, FakeDriver(count=0), FakeDriver(init_rc=100), FakeDriver(version=11040)):
        s = probe(load=loader(drv), tensorrt_version=tensorrt_version, driver_version=lambda: None)
        assert not s.usable


def test_gpu_probe_driver_too_old(monkeypatch):
    monkeypatch.setattr(gpu_probe, "required_cuda_major", lambda: 13)
    s = _probe(FakeDriver(version=12040))
    assert not s.usable
    assert "too old" in s.reason and "CUDA 12.4" in s.reason and "CUDA 13.0" in s.reason
    assert "580" in s.hint


def test_gpu_probe_no_device_from_init_and_from_count():
    s = _probe(FakeDriver(init_rc=100))
    assert not s.usable and s.reason == "no NVIDIA GPU found" and "nvidia-smi" in s.hint
    s = _probe(FakeDriver(count=0))
    assert not s.usable and s.reason == "no NVIDIA GPU found"
    s = _probe(FakeDriver(init_rc=999))
    assert "CUDA_ERROR_UNKNOWN" in s.reason


def test_gpu_probe_gpu_too_old():
    s = _probe(FakeDriver(name=b"Tesla P100", cc=(6, 0)))
    assert not s.usable
    assert "Tesla P100" in s.reason and "compute 6.0" in s.reason and "7.5" in s.reason


def test_gpu_probe_tensorrt_missing():
    s = _probe(FakeDriver(), trt=None)
    assert not s.usable
    assert s.reason == "TensorRT is not installed"
    assert "pip install 'vcam[gpu]'" in s.hint and "pypi.nvidia.com" in s.hint
    assert s.device is not None and s.device.name == "NVIDIA GeForce RTX 3060"


def test_gpu_probe_usable():
    s = _probe(FakeDriver())
    assert s.usable
    assert s.device.compute == (8, 6) and s.driver_cuda_version == (13, 0)
    line = s.describe()
    assert "NVIDIA GeForce RTX 3060" in line and "compute 8.6" in line and "TensorRT 10.3.0" in line
    assert "550.54.14" in line


def test_gpu_probe_real_machine_never_raises_and_leaves_tensorrt_alone():
    """The real probe in a fresh interpreter: it answers, and (without a GPU) imports neither TensorRT nor
    cuda-python."""
    code = ("import sys; from vcam.engines.gpu_probe import probe; s = probe(); print(s.usable, s.reason); "
            "assert s.usable or 'tensorrt' not in sys.modules; assert 'cuda.bindings.driver' not in sys.modules")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip()


def test_gpu_probe_loader_names_per_platform(monkeypatch):
    monkeypatch.setattr(sys, "platform", "win32")
    assert gpu_probe._driver_library_names() == ("nvcuda.dll",)
    monkeypatch.setattr(sys, "platform", "linux")
    assert gpu_probe._driver_library_names()[0] == "libcuda.so.1"
    monkeypatch.setattr(sys, "platform", "darwin")
    with pytest.raises(OSError, match="macOS"):
        gpu_probe.load_driver()


def test_gpu_probe_fake_driver_matches_ctypes_calling_convention():
    """The fake's byref handling is what ctypes does: guard the test double itself."""
    v = ctypes.c_int(0)
    FakeDriver(version=13000).cuDriverGetVersion(ctypes.byref(v))
    assert v.value == 13000
