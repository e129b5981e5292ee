"""Build the CUDA kernels.

    python kernels/build.py --fatbin          # nvcc: cubins for sm_75/86/89/90 + compute_90 PTX -> kernels/build/
    python kernels/build.py --nvrtc           # NVRTC: compile every target in memory (what CI checks), no GPU needed
    python kernels/build.py --host [--asan]   # g++ host-emulation libraries for the tests -> kernels/build/host/

With no option: the fatbin when nvcc is installed, else the NVRTC check. At run time a missing or stale fatbin is
no problem: the engine compiles the kernels with NVRTC for the GPU it finds (cached per user).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from vcam.errors import VcamError  # noqa: E402
from vcam.gpu import fatbin, hostemu, nvrtc  # noqa: E402
from vcam.gpu.sources import combined_source, kernel_dir, unit_paths  # noqa: E402

NVRTC_TARGETS = ("sm_75", "sm_86", "sm_89", "sm_90", "compute_90")


def build_nvrtc() -> None:
    for target in NVRTC_TARGETS:
        t0 = time.perf_counter()
        out = nvrtc.compile_source(combined_source(), target, (kernel_dir(),))
        print(f"nvrtc {target}: {len(out.image)} bytes in {time.perf_counter() - t0:.2f} s")


def build_host(asan: bool) -> None:
    for unit in unit_paths():
        t0 = time.perf_counter()
        path = hostemu.build_library(unit.name, asan=asan)
        print(f"host {unit.name}{' (asan)' if asan else ''}: {path} in {time.perf_counter() - t0:.2f} s")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fatbin", action="store_true", help="build the fatbin with nvcc")
    ap.add_argument("--nvrtc", action="store_true", help="compile every target with NVRTC (a check)")
    ap.add_argument("--host", action="store_true", help="build the host-emulation libraries")
    ap.add_argument("--asan", action="store_true", help="with --host: AddressSanitizer builds")
    args = ap.parse_args(argv)
    try:
        if not (args.fatbin or args.nvrtc or args.host):
            if fatbin.nvcc_path():
                args.fatbin = True
            else:
                args.nvrtc = True
        if args.fatbin:
            t0 = time.perf_counter()
            path = fatbin.build_fatbin()
            print(f"fatbin: {path} ({path.stat().st_size} bytes) in {time.perf_counter() - t0:.1f} s")
        if args.nvrtc:
            build_nvrtc()
        if args.host:
            build_host(args.asan)
    except VcamError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
