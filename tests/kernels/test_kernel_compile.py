"""Every kernel compiles for every GPU target: NVRTC (always, on the CPU) and nvcc (when installed)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from vcam.gpu import nvrtc
from vcam.gpu.sources import combined_source, kernel_dir, signatures, unit_paths

pytestmark = pytest.mark.kernel

TARGETS = ["sm_75", "sm_86", "sm_89", "sm_90", "compute_90"]


@pytest.fixture(scope="module")
def have_nvrtc():
    try:
        nvrtc.version()
    except Exception as exc:  # noqa: BLE001 - any load failure means: not installed here
        pytest.skip(f"NVRTC not available: {exc}")


def test_kernel_sources_declare_the_expected_kernels():
    names = set(signatures())
    expected = {"vcam_pre_bgr", "vcam_pre_yuyv", "vcam_pre_nv12", "vcam_gf_coeffs", "vcam_gf_smooth", "vcam_gf_apply",
                "vcam_yuyv_to_bgr", "vcam_nv12_to_bgr", "vcam_bgr_to_format", "vcam_warp_blend"}
    assert expected <= names, expected - names


def test_kernel_params_header_is_generated_from_ops_params():
    from vcam.ops.params import c_header

    assert (kernel_dir() / "vcam_params.h").read_text(encoding="utf-8") == c_header(), \
        "kernels/vcam_params.h is stale: python -m vcam.ops.params --header kernels/vcam_params.h"


@pytest.mark.parametrize("target", TARGETS)
def test_kernel_module_compiles_with_nvrtc(have_nvrtc, target):
    out = nvrtc.compile_source(combined_source(), target, (kernel_dir(),))
    assert "warning" not in out.log.lower(), out.log
    if target.startswith("sm_"):
        assert out.image[:4] == b"\x7fELF"                      # a cubin
    else:
        assert b".version" in out.image and b".target sm_90" in out.image   # PTX
    for name in signatures():
        assert name.encode() in out.image, f"{name} missing from the {target} image"


@pytest.mark.parametrize("unit", [p.name for p in unit_paths()])
def test_kernel_each_unit_compiles_alone(have_nvrtc, unit):
    out = nvrtc.compile_source(f"#include \"{unit}\"\n", "sm_75", (kernel_dir(),), name=f"only_{unit}")
    assert out.image[:4] == b"\x7fELF"


def test_kernel_nvrtc_target_choice():
    archs = [75, 80, 86, 89, 90, 100, 120]
    assert nvrtc.target_for(86, archs) == "sm_86"
    assert nvrtc.target_for(87, archs) == "compute_86"      # unknown to this NVRTC: PTX for the driver to JIT
    from vcam.errors import VcamError

    with pytest.raises(VcamError, match="7.5"):
        nvrtc.target_for(70, archs)


def test_kernel_compile_error_is_reported_with_the_log(have_nvrtc):
    from vcam.errors import VcamError

    with pytest.raises(VcamError, match="undefined_thing"):
        nvrtc.compile_source('extern "C" __global__ void k() { undefined_thing(); }', "sm_75")


@pytest.mark.slow
def test_kernel_fatbin_builds_with_nvcc(tmp_path: Path):
    from vcam.gpu.fatbin import CUBIN_ARCHS, PTX_ARCH, build_fatbin, nvcc_path

    nvcc = nvcc_path()
    if nvcc is None:
        pytest.skip("nvcc not installed (the NVRTC tests cover compilation)")
    path = build_fatbin(tmp_path, nvcc)
    assert path.stat().st_size > 10_000
    assert (tmp_path / "vcam_kernels.json").is_file()
    cuobjdump = shutil.which("cuobjdump") or str(Path(nvcc).resolve().parent / "cuobjdump")
    if not Path(cuobjdump).is_file():
        return
    listing = subprocess.run([cuobjdump, "--list-elf", "--list-ptx", str(path)], capture_output=True, text=True,
                             check=True).stdout
    for arch in CUBIN_ARCHS:
        assert f"sm_{arch}" in listing
    assert f"sm_{PTX_ARCH}.ptx" in listing or f"compute_{PTX_ARCH}" in listing


def test_kernel_nvrtc_image_is_compiled_once_per_gpu_arch(have_nvrtc, tmp_path, monkeypatch):
    """The run-time fallback: compiled for the device's arch on first use, then read from the user cache."""
    monkeypatch.setenv("VCAM_CACHE_DIR", str(tmp_path))
    from vcam.gpu.module import nvrtc_image

    image, how = nvrtc_image((8, 6))
    assert how == "nvrtc:sm_86" and image[:4] == b"\x7fELF"
    again, how2 = nvrtc_image((8, 6))
    assert again == image and how2.endswith("(cached)")
    assert len(list(tmp_path.rglob("sm_86.bin"))) == 1


def test_kernel_stale_fatbin_is_not_used(tmp_path):
    import json

    from vcam.gpu.fatbin import FATBIN, fresh_fatbin
    from vcam.gpu.sources import source_hash

    (tmp_path / FATBIN).write_bytes(b"fatbin bytes")
    meta = tmp_path / FATBIN.replace(".fatbin", ".json")
    assert fresh_fatbin(tmp_path) is None                       # no record of its sources
    meta.write_text(json.dumps({"source_hash": "0000"}))
    assert fresh_fatbin(tmp_path) is None                       # built from other sources
    meta.write_text(json.dumps({"source_hash": source_hash()}))
    assert fresh_fatbin(tmp_path) == tmp_path / FATBIN


def test_kernel_nvrtc_leaves_python_bytes_constants_intact(have_nvrtc):
    """Regression: NVRTC wrote its (1-byte) log into CPython's shared b" " object, which later broke torch.load."""
    nvrtc.compile_source('extern "C" __global__ void k() {}', "sm_75")
    assert b" " * 1 == bytes([32])
