"""The prebuilt kernel fatbin: built by nvcc at package-build time when nvcc exists, found again at run time.

A fatbin holds cubins for sm_75/86/89/90 and compute_90 PTX (which the driver JIT-compiles for newer GPUs).
Beside it a small JSON records the source hash it was built from, so a stale fatbin is never loaded.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from vcam.errors import VcamError
from vcam.gpu.nvrtc import COMMON_OPTIONS
from vcam.gpu.sources import combined_source, kernel_dir, source_hash

CUBIN_ARCHS = (75, 86, 89, 90)
PTX_ARCH = 90
FATBIN = "vcam_kernels.fatbin"


def nvcc_path() -> str | None:
    found = shutil.which("nvcc")
    if found:
        return found
    home = os.environ.get("CUDA_PATH") or os.environ.get("CUDA_HOME")
    cand = Path(home, "bin", "nvcc") if home else None
    return str(cand) if cand and cand.is_file() else None


def nvcc_command(nvcc: str, src: Path, out: Path) -> list[str]:
    gencode = [f"-gencode=arch=compute_{a},code=sm_{a}" for a in CUBIN_ARCHS]
    gencode.append(f"-gencode=arch=compute_{PTX_ARCH},code=compute_{PTX_ARCH}")
    # nvcc spells NVRTC's options the same way except -default-device, which nvcc does not need.
    opts = [o for o in COMMON_OPTIONS if o != "-default-device"]
    return [nvcc, "--fatbin", *gencode, *opts, "-I", str(kernel_dir()), "-o", str(out), str(src)]


def fatbin_path(directory: Path | None = None) -> Path:
    return (directory or kernel_dir() / "build") / FATBIN


def build_fatbin(directory: Path | None = None, nvcc: str | None = None) -> Path:
    """Build the fatbin with nvcc (seconds to a minute); raises VcamError when nvcc is missing or fails."""
    nvcc = nvcc or nvcc_path()
    if not nvcc:
        raise VcamError("nvcc not found: no prebuilt fatbin.", "The kernels will be compiled with NVRTC at run time.")
    out = fatbin_path(directory)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "vcam_kernels.cu"
        src.write_text(combined_source(), encoding="utf-8")
        partial = Path(tmp) / FATBIN
        res = subprocess.run(nvcc_command(nvcc, src, partial), capture_output=True, text=True, check=False)
        if res.returncode != 0:
            raise VcamError(f"nvcc failed to build the kernel fatbin:\n{res.stderr.strip()}")
        shutil.move(str(partial), out)
    meta = {"source_hash": source_hash(), "cubin_archs": list(CUBIN_ARCHS), "ptx_arch": PTX_ARCH}
    out.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return out


def fresh_fatbin(directory: Path | None = None) -> Path | None:
    """The prebuilt fatbin if it exists and was built from the current sources, else None."""
    path = fatbin_path(directory)
    meta = path.with_suffix(".json")
    if not (path.is_file() and meta.is_file()):
        return None
    try:
        recorded = json.loads(meta.read_text(encoding="utf-8")).get("source_hash")
    except (OSError, ValueError):
        return None
    return path if recorded == source_hash() else None
