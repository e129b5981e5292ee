"""Helpers for the kernel tests: pitched host images, launch geometry, fp16 ulp distance."""

from __future__ import annotations

import numpy as np

from vcam.gpu.args import grid_for

SENTINEL = 0xA5
# Odd and even sizes, tiny and not multiples of the 32x8 block: every bounds check gets exercised.
SIZES = [(33, 17), (64, 36), (101, 57), (160, 90)]


class Pitched:
    """A height x row_bytes image inside a buffer whose rows are ``pitch`` bytes apart (padding = sentinel)."""

    def __init__(self, height: int, row_bytes: int, pitch: int | None = None, dtype=np.uint8) -> None:
        itemsize = np.dtype(dtype).itemsize
        self.pitch = pitch if pitch is not None else row_bytes + 3 * itemsize + 13  # odd padding on purpose
        assert self.pitch >= row_bytes and self.pitch % itemsize == 0
        self.buf = np.full((height, self.pitch), SENTINEL, np.uint8)
        self.row_bytes = row_bytes
        self.dtype = np.dtype(dtype)

    @property
    def view(self) -> np.ndarray:
        """The image bytes (height x row_bytes) as a strided view of the buffer."""
        return self.buf[:, : self.row_bytes]

    def set(self, image: np.ndarray) -> Pitched:
        self.view[...] = np.ascontiguousarray(image).view(np.uint8).reshape(self.buf.shape[0], self.row_bytes)
        return self

    def get(self, *shape: int) -> np.ndarray:
        return np.ascontiguousarray(self.view).view(self.dtype).reshape(shape)

    def padding_intact(self) -> bool:
        return bool((self.buf[:, self.row_bytes:] == SENTINEL).all())


def launch2d(kernels, name: str, width: int, height: int, *args, block=(32, 8)) -> None:
    grid, blk = grid_for(width, height, block)
    kernels.launch(name, grid, blk, *args)


def ulp_diff_fp16(a: np.ndarray, b: np.ndarray) -> int:
    """Largest distance in units in the last place between two float16 arrays (same sign assumed near 0)."""
    ia = a.astype(np.float16).view(np.int16).astype(np.int32)
    ib = b.astype(np.float16).view(np.int16).astype(np.int32)
    # Map the sign-magnitude bit patterns onto a monotonic integer line.
    ia = np.where(ia < 0, -32768 - ia, ia)
    ib = np.where(ib < 0, -32768 - ib, ib)
    return int(np.abs(ia - ib).max()) if ia.size else 0
