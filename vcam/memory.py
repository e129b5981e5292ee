"""Keeping a long-running process's resident memory flat (glibc only; elsewhere these do nothing).

glibc gives each thread that allocates its own malloc arena and rarely hands freed pages back. The CPU runtimes run
worker threads and compile a graph per network size on a helper thread, so every size the governor visited left its
high-water mark behind: a 720p soak grew from 355 to 470 MB in 13 minutes and was still creeping. Looping one
OpenVINO runner over the five ladder sizes here, RSS kept rising for four rounds (220 -> 281 MB) with the default
arenas and stayed at 214-217 MB with one arena; inference time did not change measurably (one-off measurements,
not a project benchmark). benchmarks/soak.py gives the whole-pipeline figures.

Large blocks are the other half. glibc serves a block over its mmap threshold with its own mapping, but each time
such a block is freed it raises the threshold to that size (up to 32 MB), so from then on frame-sized buffers
(network inputs, states, compiled graphs' scratch) come from the heap, and each size the governor visits leaves
holes there that are never handed back. An engine moving between two 720p rungs every 25 frames grew from 368 to
541 MB in 14 cycles with the default (still climbing); with the threshold pinned at 1 MiB, 320 -> 364 MB, the one
step being the second runner's first compile (benchmarks/memory_sizes.py). Pinning costs nothing per frame because
the hot path allocates nothing (0-1 minor page faults a frame, measured there).
"""

from __future__ import annotations

import ctypes
import sys

_M_ARENA_MAX = -8   # glibc's mallopt parameter numbers (malloc.h)
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 1 << 20   # 1 MiB: network buffers and graphs are larger; Python's and numpy's small objects are not


def _libc():
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None)
    except OSError:
        return None


def limit_malloc_arenas(count: int = 1) -> bool:
    """Cap glibc's malloc arenas for threads created from now on. Call before starting worker threads."""
    libc = _libc()
    try:
        return bool(libc is not None and libc.mallopt(_M_ARENA_MAX, count) == 1)
    except AttributeError:   # a libc without mallopt (musl)
        return False


def pin_mmap_threshold(nbytes: int = MMAP_THRESHOLD) -> bool:
    """Serve every block of ``nbytes`` or more with its own mapping, handed back to the OS when freed (and stop glibc
    from raising the threshold on its own). Call once, before the buffers are allocated."""
    libc = _libc()
    try:
        return bool(libc is not None and libc.mallopt(_M_MMAP_THRESHOLD, int(nbytes)) == 1)
    except AttributeError:
        return False


def trim_heap() -> None:
    """Hand freed heap pages back to the OS, from every arena."""
    libc = _libc()
    try:
        if libc is not None:
            libc.malloc_trim(0)
    except AttributeError:   # musl and other libcs have no malloc_trim
        pass
