"""OpenVINO's CPU plugin installs a signal alternate stack on the thread that creates it and puts the previous one
back when it is destroyed. With runners created and closed out of order, the main thread was left with an
alternate stack in freed memory, and SIGTERM (Python's handler runs on it) ended `vcam run` with SIGSEGV in about one
run in five. vcam now keeps one Core for the process; this checks the main thread's alternate stack after the
sequence that used to leave it dangling."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("openvino")

MODEL = Path(__file__).resolve().parents[2] / "models" / "vcam.onnx"

PROBE = textwrap.dedent("""
    import ctypes, gc, sys
    from pathlib import Path
    from vcam.engines.cpu_runtime import OpenVinoRunner, bf16_supported

    bf16_supported()
    a = OpenVinoRunner(Path(sys.argv[1]), 1, (64, 64), state_stride=8)
    b = OpenVinoRunner(Path(sys.argv[1]), 1, (64, 64), state_stride=8)
    a.close(); del a; gc.collect()          # first in, first out: the order that used to dangle
    b.close(); del b; gc.collect()

    class Stack(ctypes.Structure):
        _fields_ = [("sp", ctypes.c_void_p), ("flags", ctypes.c_int), ("size", ctypes.c_size_t)]
    now = Stack()
    assert ctypes.CDLL(None, use_errno=True).sigaltstack(None, ctypes.byref(now)) == 0
    if now.flags & 2:                       # SS_DISABLE: signals run on the thread's own stack
        print("disabled"); sys.exit(0)
    lo, hi = now.sp, now.sp + now.size
    for line in open("/proc/self/maps"):
        span, perms = line.split()[:2]
        start, end = (int(x, 16) for x in span.split("-"))
        if start <= lo and hi <= end and perms.startswith("rw"):
            print("mapped"); sys.exit(0)
    print(f"dangling alternate stack {lo:#x}-{hi:#x}"); sys.exit(1)
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/maps (Linux)")
@pytest.mark.skipif(not MODEL.exists(), reason="needs the shipped models/vcam.onnx")
def test_main_thread_alternate_stack_stays_valid_after_runners_close():
    p = subprocess.run([sys.executable, "-c", PROBE, str(MODEL)], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
