"""Load the kernel module onto the GPU and launch kernels by name.

The prebuilt fatbin is tried first (built by nvcc when the package was built); a GPU it has no code for, or a
stale or missing fatbin, falls back to NVRTC for the device's exact architecture, cached in the user cache.
"""

from __future__ import annotations

import logging

import numpy as np

from vcam.errors import VcamError
from vcam.gpu import nvrtc
from vcam.gpu.args import pack
from vcam.gpu.cache import cache_dir
from vcam.gpu.driver import CudaError, check, cu
from vcam.gpu.fatbin import fresh_fatbin
from vcam.gpu.sources import combined_source, kernel_dir, signatures, source_hash

log = logging.getLogger(__name__)


def _load(image: bytes, what: str):
    """cuModuleLoadData from a buffer kept alive for the call (the driver copies what it needs)."""
    buf = np.frombuffer(image + b"\0", np.uint8)    # PTX must be NUL-terminated; cubins/fatbins ignore the extra
    return check(cu().cuModuleLoadData(buf.ctypes.data), what)


def nvrtc_image(compute: tuple[int, int]) -> tuple[bytes, str]:
    """A cubin (or PTX) for this compute capability, compiled once and cached by source hash and NVRTC version."""
    cc = compute[0] * 10 + compute[1]
    target = nvrtc.target_for(cc, nvrtc.supported_archs())
    major, minor = nvrtc.version()
    path = cache_dir("kernels", source_hash(extra=f"nvrtc{major}.{minor}")) / f"{target}.bin"
    if path.is_file():
        return path.read_bytes(), f"nvrtc:{target} (cached)"
    compiled = nvrtc.compile_source(combined_source(), target, (kernel_dir(),))
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(compiled.image)
    tmp.replace(path)
    return compiled.image, f"nvrtc:{target}"


class KernelModule:
    """The vcam kernels loaded into the current context."""

    def __init__(self, compute: tuple[int, int]) -> None:
        self.source = ""
        self._module = None
        fat = fresh_fatbin()
        if fat is not None:
            try:
                self._module = _load(fat.read_bytes(), "loading the kernel fatbin")
                self.source = f"fatbin:{fat.name}"
            except CudaError as exc:  # e.g. no code for this GPU, PTX newer than the driver
                log.info("prebuilt fatbin not usable (%s); compiling with NVRTC", exc)
        if self._module is None:
            image, self.source = nvrtc_image(compute)
            self._module = _load(image, "loading the NVRTC-compiled kernels")
        self._sigs = signatures()
        self._functions: dict[str, object] = {}

    def function(self, name: str):
        fn = self._functions.get(name)
        if fn is None:
            if name not in self._sigs:
                raise VcamError(f"Unknown kernel {name!r}.")
            fn = check(cu().cuModuleGetFunction(self._module, name.encode()), f"finding kernel {name}")
            self._functions[name] = fn
        return fn

    def launch(self, name: str, grid: tuple[int, int, int], block: tuple[int, int, int], stream: object,
               *args: object) -> None:
        packed = pack(self._sigs[name], args)
        # cuLaunchKernel copies the argument values before returning, so `packed` may die afterwards.
        check(cu().cuLaunchKernel(self.function(name), *grid, *block, 0, stream, packed.address, 0),
              f"launching {name}")

    def close(self) -> None:
        if self._module is not None:
            check(cu().cuModuleUnload(self._module), "cuModuleUnload")
            self._module = None
