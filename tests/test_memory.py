"""glibc heap controls that keep a long run's resident memory flat."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from vcam.memory import limit_malloc_arenas, trim_heap

glibc = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc arenas and malloc_trim are glibc's")


@glibc
def test_arena_cap_and_trim_work_in_a_fresh_process() -> None:
    # In a child: the cap is process-wide and must not leak into the test session.
    code = ("from vcam.memory import limit_malloc_arenas, trim_heap; "
            "assert limit_malloc_arenas(1) is True; trim_heap(); print('ok')")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and p.stdout.strip() == "ok", p.stderr


@glibc
def test_trimming_returns_freed_heap_to_the_os() -> None:
    """Many small blocks freed below a live one stay resident until trimmed (glibc keeps them in the arena)."""
    code = """
import ctypes
from vcam.memory import trim_heap
def rss():
    return int(open('/proc/self/statm').read().split()[1]) * 4096
blocks = [bytearray(4000) for _ in range(50_000)]     # ~200 MB of small blocks, under the mmap threshold
keep = bytearray(4000)                                # allocated last: the heap top cannot shrink past it
before = rss()
del blocks
after_free = rss()
trim_heap()
after_trim = rss()
print(before, after_free, after_trim)
"""
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    before, after_free, after_trim = map(int, p.stdout.split())
    assert after_free > before * 0.5            # free() alone kept most of it
    assert after_trim < after_free - 100 * 2**20  # the trim handed at least 100 MB back


def test_noop_elsewhere(monkeypatch) -> None:
    monkeypatch.setattr(sys, "platform", "darwin")
    assert limit_malloc_arenas() is False
    trim_heap()
