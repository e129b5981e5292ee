"""Host emulation of the CUDA kernels: the same .cu compiled by g++ (see kernels/emulation.h), run through ctypes.

Tests use it to check kernel logic against the CPU reference without a GPU. Builds are cached by source hash,
compiler and flags under kernels/build/host/ (gitignored), or the user cache when that is not writable.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from vcam.errors import VcamError
from vcam.gpu.args import pack
from vcam.gpu.sources import EMULATION_HEADER, kernel_dir, signatures, source_hash

# FMA contraction off: the reference does a*b then +c with two roundings, and so must the kernels (the GPU
# builds pass --fmad=false for the same reason).
BASE_FLAGS = ("-std=c++17", "-shared", "-fPIC", "-ffp-contract=off", "-fno-fast-math", "-Wall", "-Wextra",
              "-Werror", "-DVCAM_HOST_EMULATION")
OPT_FLAGS = ("-O2",)
ASAN_FLAGS = ("-O1", "-g", "-fsanitize=address", "-fno-omit-frame-pointer")


def compiler() -> str:
    cxx = os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++")
    if not cxx:
        raise VcamError("No C++ compiler found for the kernel host emulation.", "Install g++ (apt install g++).")
    return cxx


def _compiler_id(cxx: str) -> str:
    out = subprocess.run([cxx, "--version"], capture_output=True, text=True, check=False).stdout
    return out.splitlines()[0] if out else cxx


def build_dir() -> Path:
    d = kernel_dir() / "build" / "host"
    try:
        d.mkdir(parents=True, exist_ok=True)
        probe = d / ".write-test"
        probe.touch()
        probe.unlink()
        return d
    except OSError:
        from vcam.gpu.cache import cache_dir

        return cache_dir("kernels-host")


def build_library(unit: str | Path, asan: bool = False, extra_flags: tuple[str, ...] = ()) -> Path:
    """Compile one .cu (a name in kernels/, or any path) into a shared library; cached by content."""
    src = Path(unit)
    if not src.is_absolute() and not src.exists():
        src = kernel_dir() / src
    if not src.is_file():
        raise VcamError(f"No kernel source {src}.")
    cxx = compiler()
    flags = (*BASE_FLAGS, *(ASAN_FLAGS if asan else OPT_FLAGS), *extra_flags)
    key = hashlib.sha256("\0".join([source_hash(), src.read_text(encoding="utf-8"), _compiler_id(cxx),
                                    *flags]).encode()).hexdigest()[:16]
    out = build_dir() / f"{src.stem}-{key}{'-asan' if asan else ''}.so"
    if out.is_file():
        return out
    kdir = kernel_dir()
    cmd = [cxx, *flags, "-I", str(kdir), "-include", str(kdir / EMULATION_HEADER), "-x", "c++", str(src)]
    # Build to a temporary name and rename: concurrent test processes never load a half-written library.
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=out.parent)
    os.close(fd)
    res = subprocess.run([*cmd, "-o", tmp], capture_output=True, text=True, check=False)
    if res.returncode != 0:
        Path(tmp).unlink(missing_ok=True)
        raise VcamError(f"Host-emulation build of {src.name} failed:\n{res.stderr.strip()}")
    os.replace(tmp, out)
    return out


def asan_runtime() -> str:
    """Path of libasan for LD_PRELOAD: an ASan-instrumented library can only be loaded into such a process."""
    path = subprocess.run([compiler(), "-print-file-name=libasan.so"], capture_output=True, text=True,
                          check=False).stdout.strip()
    if not path or not Path(path).is_file():
        raise VcamError("AddressSanitizer runtime (libasan) not found.", "Install the compiler's libasan package.")
    return path


class HostKernels:
    """The kernels of one .cu, callable like ``launch(name, grid, block, *args)`` on host (numpy) memory."""

    def __init__(self, unit: str | Path, asan: bool = False, library: Path | None = None) -> None:
        self.path = library or build_library(unit, asan=asan)
        self._lib = ctypes.CDLL(str(self.path))
        self._sigs = signatures()
        src = Path(unit)
        if src.is_file():  # a source outside kernels/ (tests) declares its own kernels
            from vcam.gpu.sources import parse_signatures

            self._sigs = {**self._sigs, **parse_signatures(src.read_text(encoding="utf-8"))}

    def launch(self, name: str, grid: tuple[int, int, int], block: tuple[int, int, int], *args: object) -> None:
        sig = self._sigs.get(name)
        if sig is None:
            raise VcamError(f"Unknown kernel {name!r}.")
        fn = getattr(self._lib, f"vcam_emu_{name}")
        fn.restype = None
        fn.argtypes = [ctypes.c_uint] * 6 + [ctypes.c_void_p]
        packed = pack(sig, args)
        fn(*grid, *block, packed.address)
