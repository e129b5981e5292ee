"""Keeping a long-running process's resident memory flat (glibc only; elsewhere these do nothing).

glibc gives each thread that allocates its own malloc arena and rarely hands freed pages back. The CPU runtimes run
worker threads and compile a graph per network size on a helper thread, so every size the governor visited left its
high-water mark behind: a 720p soak grew from 355 to 470 MB in 13 minutes and was still creeping. Looping one
OpenVINO runner over the five ladder sizes here, RSS kept rising for four rounds (220 -> 281 MB) with the default
arenas and stayed at 214-217 MB with one arena; inference time did not change measurably (one-off measurements,
not a project benchmark). benchmarks/soak.py gives the whole-pipeline figures.
"""

from __future__ import annotations

import ctypes
import sys

_M_ARENA_MAX = -8   # glibc's mallopt parameter number (malloc.h)


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


def trim_heap() -> None:
    """Hand freed heap pages back to the OS, from every arena."""
    libc = _libc()
    try:
        if libc is not None:
            libc.malloc_trim(0)
    except AttributeError:   # musl and other libcs have no malloc_trim
        pass
