"""Run-time compilation of the kernels with NVRTC (the fallback when no prebuilt fatbin fits the GPU).

NVRTC runs on the CPU: it needs no GPU and no driver, so CI compiles every kernel for every target with it.
The NVRTC wheel ships no CUDA headers, so the kernels include none (fp16 goes through inline PTX).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vcam.errors import VcamError

# The numerics contract with the CPU reference: no FMA contraction, IEEE division and square root.
COMMON_OPTIONS = ("-std=c++17", "--fmad=false", "--prec-div=true", "--prec-sqrt=true", "-default-device")


@dataclass(frozen=True)
class Compiled:
    image: bytes     # cubin (sm_XX) or NUL-terminated PTX (compute_XX)
    target: str
    log: str


def _nvrtc():
    try:
        from cuda.bindings import nvrtc
    except ImportError as exc:
        raise VcamError("NVRTC is not available (cuda-bindings is not installed).",
                        "pip install 'vcam[gpu]'") from exc
    return nvrtc


def _check(nvrtc, result, what: str) -> None:
    if result != nvrtc.nvrtcResult.NVRTC_SUCCESS:
        _, msg = nvrtc.nvrtcGetErrorString(result)
        raise VcamError(f"NVRTC {what} failed: {msg.decode() if isinstance(msg, bytes) else msg}")


def version() -> tuple[int, int]:
    nvrtc = _nvrtc()
    try:
        err, major, minor = nvrtc.nvrtcVersion()
    except Exception as exc:  # noqa: BLE001 - the shared library itself may be missing
        raise VcamError(f"NVRTC cannot be loaded ({exc}).", "pip install nvidia-cuda-nvrtc") from exc
    _check(nvrtc, err, "version query")
    return int(major), int(minor)


def supported_archs() -> list[int]:
    """Compute capabilities this NVRTC can target, e.g. [75, 80, 86, ...]."""
    nvrtc = _nvrtc()
    err, n = nvrtc.nvrtcGetNumSupportedArchs()
    _check(nvrtc, err, "arch query")
    err, archs = nvrtc.nvrtcGetSupportedArchs()
    _check(nvrtc, err, "arch query")
    return sorted(int(a) for a in archs[:n])


def target_for(cc: int, archs: list[int]) -> str:
    """sm_XX (a cubin) when NVRTC knows the device; else PTX for the newest arch below it, JIT-compiled by the
    driver (a GPU newer than this NVRTC)."""
    if cc in archs:
        return f"sm_{cc}"
    lower = [a for a in archs if a <= cc]
    if not lower:
        raise VcamError(f"This NVRTC cannot compile for compute capability {cc // 10}.{cc % 10}.",
                        "vcam needs a GPU of compute capability 7.5 (Turing) or newer.")
    return f"compute_{lower[-1]}"


def compile_source(source: str, target: str, include_dirs: tuple[Path, ...] = (), name: str = "vcam_kernels.cu",
                   defines: tuple[str, ...] = ()) -> Compiled:
    """Compile CUDA C to a cubin (target "sm_XX") or PTX (target "compute_XX")."""
    nvrtc = _nvrtc()
    err, prog = nvrtc.nvrtcCreateProgram(source.encode(), name.encode(), 0, [], [])
    _check(nvrtc, err, "program creation")
    try:
        opts = [f"--gpu-architecture={target}", *COMMON_OPTIONS, *(f"--include-path={d}" for d in include_dirs),
                *(f"-D{d}" for d in defines)]
        (err,) = nvrtc.nvrtcCompileProgram(prog, len(opts), [o.encode() for o in opts])
        _, size = nvrtc.nvrtcGetProgramLogSize(prog)
        # NVRTC writes into the buffer: it must be a fresh bytearray. Writing into `b" " * n` mutated
        # CPython's shared one-byte bytes object when n == 1 and corrupted unrelated code (pickle opcodes).
        buf = bytearray(size)
        nvrtc.nvrtcGetProgramLog(prog, buf)
        log = bytes(buf).rstrip(b"\0 ").decode(errors="replace")
        if err != nvrtc.nvrtcResult.NVRTC_SUCCESS:
            raise VcamError(f"NVRTC could not compile {name} for {target}:\n{log}")
        if target.startswith("sm_"):
            err, size = nvrtc.nvrtcGetCUBINSize(prog)
            _check(nvrtc, err, "cubin size")
            image = bytearray(size)
            (err,) = nvrtc.nvrtcGetCUBIN(prog, image)
        else:
            err, size = nvrtc.nvrtcGetPTXSize(prog)
            _check(nvrtc, err, "PTX size")
            image = bytearray(size)
            (err,) = nvrtc.nvrtcGetPTX(prog, image)
        _check(nvrtc, err, "output")
        return Compiled(image=bytes(image), target=target, log=log)
    finally:
        nvrtc.nvrtcDestroyProgram(prog)
