"""Kernel tests build the .cu sources for the host emulation (g++); VCAM_KERNEL_ASAN=1 selects the ASan builds
(that run happens in a subprocess started by test_kernel_asan.py, with libasan preloaded)."""

from __future__ import annotations

import os
import shutil

import pytest

ASAN = os.environ.get("VCAM_KERNEL_ASAN") == "1"


@pytest.fixture(scope="session")
def emu():
    """emu("convert.cu") -> HostKernels for that unit (built once per session, cached on disk by hash)."""
    if shutil.which("g++") is None and not os.environ.get("CXX"):
        pytest.skip("no C++ compiler: the kernel host emulation needs g++")
    from vcam.gpu.hostemu import HostKernels

    loaded: dict[str, HostKernels] = {}

    def get(unit: str) -> HostKernels:
        if unit not in loaded:
            loaded[unit] = HostKernels(unit, asan=ASAN)
        return loaded[unit]

    return get
