"""Fixtures shared by every test folder."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

_SHARED_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The clips, photos and style images that live beside the repo (never copied into it)."""
    if not _SHARED_DATA.is_dir():
        pytest.skip("../shared/data not found (clips and photos live beside the repo)")
    return _SHARED_DATA.resolve()


# -- real disk faults (root): a tiny tmpfs that fills up, a read-only bind mount ---------------------------------
def _mounted(path: Path) -> bool:
    target = str(path.resolve())
    with open("/proc/self/mounts", encoding="utf-8") as f:
        return any(line.split()[1] == target for line in f)


def _sh(*cmd: str) -> subprocess.CompletedProcess:
    return subprocess.run(list(cmd), capture_output=True, text=True, timeout=60)


def _need_root_mounts() -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("real disk faults use Linux mounts")
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a tmpfs or a read-only bind mount (CI runs as root)")
    if shutil.which("mount") is None or shutil.which("umount") is None:
        pytest.skip("no mount/umount here")


def _unmount(target: Path) -> None:
    """Unmount, even after a failed test. A busy mount means a file on it was left open: detach it so the machine
    stays clean, and fail."""
    if not _mounted(target):
        return
    p = _sh("umount", str(target))
    if p.returncode != 0:
        _sh("umount", "-l", str(target))
        pytest.fail(f"umount {target} failed ({p.stderr.strip()}): a file on it was still open")
    assert not _mounted(target), f"{target} is still mounted"


@contextlib.contextmanager
def _mount(target: Path, *steps: tuple[str, ...]) -> Iterator[Path]:
    target.mkdir(parents=True, exist_ok=True)
    try:
        for args in steps:
            p = _sh("mount", *args, str(target))
            if p.returncode != 0:
                # Root without CAP_SYS_ADMIN (a container) cannot mount: say so rather than fail.
                pytest.skip(f"`mount {' '.join(args)} {target}` failed: {p.stderr.strip()}")
        yield target
    finally:
        _unmount(target)


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 256 KiB tmpfs: a disk that fills up after a few dozen small frames."""
    _need_root_mounts()
    with _mount(tmp_path / "tiny", ("-t", "tmpfs", "-o", "size=256k,mode=0755", "vcam-test-tiny")) as d:
        yield d


@pytest.fixture
def read_only_dir(tmp_path: Path) -> Iterator[Path]:
    """A folder on a read-only mount (a bind mount of an empty folder, remounted read-only): even root cannot
    write there."""
    _need_root_mounts()
    src = tmp_path / "ro-src"
    src.mkdir()
    with _mount(tmp_path / "ro", ("--bind", str(src)), ("-o", "remount,bind,ro")) as d:
        yield d
