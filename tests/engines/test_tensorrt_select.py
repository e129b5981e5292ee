"""Choosing the engine from the probe: one clear message, and the CPU engine whenever the GPU path cannot run."""

from __future__ import annotations

import subprocess
import sys

from vcam.config import RunConfig
from vcam.engines.gpu_probe import GpuDevice, GpuStatus
from vcam.engines.tensorrt import select_engine_kind

NO_DRIVER = GpuStatus(False, "no NVIDIA driver (libcuda.so.1: cannot open shared object file)",
                      hint="Install the NVIDIA driver for your GPU; without one vcam runs on the CPU.")
NO_TRT = GpuStatus(False, "TensorRT is not installed", (GpuDevice(0, "NVIDIA RTX 4090", (8, 9), 24 << 30),),
                   (12, 4), hint="pip install 'vcam[gpu]'")
READY = GpuStatus(True, "TensorRT 10.3 on NVIDIA RTX 4090", NO_TRT.devices, (12, 4), tensorrt_version="10.3.0")


def test_tensorrt_select_explicit_cpu_and_passthrough_ignore_the_gpu():
    assert select_engine_kind(RunConfig(engine="cpu"), READY) == ("cpu", "")
    assert select_engine_kind(RunConfig(engine="passthrough"), READY) == ("passthrough", "")


def test_tensorrt_select_auto_takes_a_usable_gpu():
    kind, msg = select_engine_kind(RunConfig(engine="auto"), READY)
    assert kind == "tensorrt" and "NVIDIA RTX 4090" in msg and "10.3.0" in msg


def test_tensorrt_select_falls_back_with_the_reason_and_fix():
    kind, msg = select_engine_kind(RunConfig(engine="tensorrt"), NO_TRT)
    assert kind == "cpu"
    assert "TensorRT is not installed" in msg and "pip install 'vcam[gpu]'" in msg
    assert msg.endswith("Falling back to the CPU engine.")
    kind, msg = select_engine_kind(RunConfig(engine="auto"), NO_DRIVER)
    assert kind == "cpu" and "no NVIDIA driver" in msg and "Falling back" not in msg


def test_tensorrt_factory_fallback_says_one_thing(monkeypatch):
    """The engines factory's GPU attempt: no GPU -> None (the CPU engine follows) and exactly one message."""
    import vcam.engines as engines
    import vcam.engines.gpu_probe as gp

    monkeypatch.setattr(gp, "probe", lambda: NO_DRIVER)
    said: list[str] = []
    assert engines._try_gpu(RunConfig(engine="tensorrt"), object(), said.append) is None
    assert len(said) == 1 and "no NVIDIA driver" in said[0]
    said.clear()
    assert engines._try_gpu(RunConfig(engine="auto"), object(), said.append) is None
    assert said == []      # auto on a machine without a GPU is the normal case: nothing to report


def test_tensorrt_factory_reports_a_failed_gpu_engine(monkeypatch):
    import vcam.engines as engines
    import vcam.engines.gpu_probe as gp
    import vcam.engines.tensorrt as trt_engine

    def boom(manifest, cfg, **kw):
        raise RuntimeError("cuModuleLoadData failed: CUDA_ERROR_NO_BINARY_FOR_GPU")

    monkeypatch.setattr(gp, "probe", lambda: READY)
    monkeypatch.setattr(trt_engine, "create_gpu_engine", boom)
    said: list[str] = []
    assert engines._try_gpu(RunConfig(engine="auto"), object(), said.append) is None
    assert len(said) == 1 and "CUDA_ERROR_NO_BINARY_FOR_GPU" in said[0] and "CPU engine" in said[0]


def test_tensorrt_module_imports_without_gpu_packages():
    """Importing the engine module (as the factory does on every run) loads neither TensorRT nor cuda-python."""
    code = ("import sys, vcam.engines.tensorrt, vcam.gpu.frames; "
            "bad = [m for m in ('tensorrt', 'cuda.bindings.driver') if m in sys.modules]; assert not bad, bad")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
