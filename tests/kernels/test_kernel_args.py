"""Kernel signatures read from the sources, and argument packing (shared by the GPU and the host emulation)."""

from __future__ import annotations

import ctypes

import numpy as np
import pytest

from vcam.errors import VcamError
from vcam.gpu.args import grid_for, pack
from vcam.gpu.sources import parse_signatures, signatures

pytestmark = pytest.mark.kernel


def test_kernel_signatures_are_parsed_from_source():
    sig = parse_signatures('''
        // extern "C" __global__ void commented_out(int a)
        extern "C" __global__ void k(const unsigned char* __restrict__ src, int pitch,
                                     unsigned int n, float s, vcam_half* out) {}''')
    assert list(sig) == ["k"]
    assert [(p.name, p.kind) for p in sig["k"].params] == [("src", "ptr"), ("pitch", "int"), ("n", "uint"),
                                                           ("s", "float"), ("out", "ptr")]
    with pytest.raises(VcamError, match="double"):
        parse_signatures('extern "C" __global__ void bad(double x) {}')


def test_kernel_pack_matches_cuLaunchKernel_layout():
    sig = signatures()["vcam_gf_smooth"]           # (A, B, w, h, strength, coef_a, coef_b)
    a = np.zeros(4, np.float32)
    packed = pack(sig, (a, 0x1000, 7, 9, a, a, 0))
    ptrs = ctypes.cast(packed.address, ctypes.POINTER(ctypes.c_void_p))
    assert ctypes.cast(ptrs[0], ctypes.POINTER(ctypes.c_void_p))[0] == a.ctypes.data
    assert ctypes.cast(ptrs[1], ctypes.POINTER(ctypes.c_void_p))[0] == 0x1000
    assert ctypes.cast(ptrs[2], ctypes.POINTER(ctypes.c_int32))[0] == 7
    assert ctypes.cast(ptrs[3], ctypes.POINTER(ctypes.c_int32))[0] == 9


def test_kernel_pack_rejects_wrong_arguments():
    sig = signatures()["vcam_gf_smooth"]
    with pytest.raises(VcamError, match="takes 7 arguments"):
        pack(sig, (0, 0, 1))
    with pytest.raises(VcamError, match="must be an integer"):
        pack(sig, (0, 0, 1.5, 2, 0, 0, 0))
    with pytest.raises(VcamError, match="pointer"):
        pack(sig, ("x", 0, 1, 2, 0, 0, 0))


def test_kernel_grid_covers_odd_sizes():
    grid, block = grid_for(101, 57)
    assert block == (32, 8, 1)
    assert grid[0] * 32 >= 101 > (grid[0] - 1) * 32 and grid[1] * 8 >= 57 > (grid[1] - 1) * 8
