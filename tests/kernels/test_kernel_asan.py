"""The kernels under AddressSanitizer.

An ASan-instrumented library can only be loaded into a process that starts with libasan, so these tests run a
child Python with LD_PRELOAD. First proof that the setup catches anything (a deliberate out-of-bounds read is
reported), then the whole kernel suite again on ASan builds.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.kernel

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
OOB_SOURCE = HERE / "data" / "oob_kernel.cu"

_CHILD = """
import sys
import numpy as np
from vcam.gpu.hostemu import HostKernels
k = HostKernels(sys.argv[1], asan=True)
n, shift = 1000, int(sys.argv[2])
src = np.arange(n, dtype=np.float32)
dst = np.zeros(n, np.float32)
k.launch("vcam_test_shifted_copy", ((n + 127) // 128, 1, 1), (128, 1, 1), src, n, shift, dst)
assert dst[0] == shift
print("completed")
"""


def _asan_env() -> dict[str, str]:
    if sys.platform != "linux":
        pytest.skip("the ASan run uses LD_PRELOAD (Linux)")
    from vcam.errors import VcamError
    from vcam.gpu.hostemu import asan_runtime

    try:
        runtime = asan_runtime()
    except VcamError as exc:
        pytest.skip(str(exc))
    env = dict(os.environ)
    env["LD_PRELOAD"] = runtime
    # Python itself leaks by design at exit; only memory errors matter here.
    env["ASAN_OPTIONS"] = "detect_leaks=0:abort_on_error=0"
    return env


def _child(shift: int) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", _CHILD, str(OOB_SOURCE), str(shift)], env=_asan_env(), cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def test_kernel_asan_reports_a_deliberate_out_of_bounds_read():
    res = _child(shift=1)
    assert res.returncode != 0
    assert "heap-buffer-overflow" in res.stderr
    assert "vcam_test_shifted_copy" in res.stderr   # the report points at the kernel
    assert "completed" not in res.stdout


def test_kernel_asan_in_bounds_control_runs_clean():
    res = _child(shift=0)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "completed" in res.stdout


@pytest.mark.slow
def test_kernel_suite_passes_under_asan():
    """Every kernel test again, against ASan builds of the same sources."""
    env = _asan_env()
    env["VCAM_KERNEL_ASAN"] = "1"
    tests = sorted(str(p) for p in HERE.glob("test_kernel_*.py")
                   if p.name not in ("test_kernel_asan.py", "test_kernel_compile.py"))
    res = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *tests], env=env,
                         cwd=ROOT, capture_output=True, text=True, timeout=1200)
    assert res.returncode == 0, (res.stdout[-4000:] + res.stderr[-4000:])
    assert "passed" in res.stdout and "failed" not in res.stdout
    assert "AddressSanitizer" not in res.stderr
