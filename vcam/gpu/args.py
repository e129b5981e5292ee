"""Kernel arguments packed the way cuLaunchKernel takes them: an array of pointers to each argument's value.

The host emulation's exported launchers take the same array, so one packing serves both.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass

import numpy as np

from vcam.errors import VcamError
from vcam.gpu.sources import Signature

_CTYPES = {"ptr": ctypes.c_void_p, "int": ctypes.c_int32, "uint": ctypes.c_uint32, "float": ctypes.c_float}


def address_of(value: object) -> int:
    """A device pointer: an int, a numpy array (host emulation), or an object with a ``ptr`` (a device buffer)."""
    if isinstance(value, np.ndarray):
        return int(value.ctypes.data)
    ptr = getattr(value, "ptr", value)
    if isinstance(ptr, (int, np.integer)):
        return int(ptr)
    raise VcamError(f"Cannot pass {type(value).__name__} as a kernel pointer argument.")


@dataclass
class PackedArgs:
    """Keeps the argument values alive as long as the pointer array that refers to them."""

    values: list
    array: ctypes.Array

    @property
    def address(self) -> int:
        return ctypes.addressof(self.array)


def pack(sig: Signature, args: tuple) -> PackedArgs:
    if len(args) != len(sig.params):
        names = ", ".join(p.name for p in sig.params)
        raise VcamError(f"Kernel {sig.name} takes {len(sig.params)} arguments ({names}); got {len(args)}.")
    values = []
    for p, a in zip(sig.params, args, strict=True):
        if p.kind == "ptr":
            values.append(ctypes.c_void_p(address_of(a)))
        elif p.kind == "float":
            values.append(ctypes.c_float(float(a)))
        else:
            if isinstance(a, (float, np.floating)) or not isinstance(a, (int, np.integer)):
                raise VcamError(f"Kernel {sig.name}: argument {p.name} must be an integer, got {a!r}.")
            values.append(_CTYPES[p.kind](int(a)))
    array = (ctypes.c_void_p * max(len(values), 1))(*[ctypes.addressof(v) for v in values])
    return PackedArgs(values, array)


def grid_for(width: int, height: int, block: tuple[int, int] = (32, 8)) -> tuple[tuple[int, int, int],
                                                                                tuple[int, int, int]]:
    """A 2-D launch covering width x height with one thread per element."""
    bx, by = block
    return ((width + bx - 1) // bx, (height + by - 1) // by, 1), (bx, by, 1)
