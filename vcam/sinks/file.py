"""Record the output to a video file (.mp4 with the mp4v codec, .avi with Motion-JPEG) through OpenCV.

OpenCV's writer reports few failures (a full disk only shows up as FFmpeg log lines), so the sink checks what
it can: the writer opened, each write was accepted, the file still exists and the disk has room, and at close
that a non-empty file is there.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import cv2
import numpy as np

from vcam.config import Size
from vcam.errors import VcamError
from vcam.sinks.base import FrameInfo

CODECS = {".mp4": "mp4v", ".avi": "MJPG"}
MIN_FREE_BYTES = 8 * 1024 * 1024   # stop before the disk is completely full: the container needs its trailer
SMALL_DISK_SHARE = 16              # on a disk under 128 MiB the reserve is 1/16 of it: 8 MiB would forbid any recording


def _read_only(folder: Path) -> bool:
    """Is ``folder`` on a file system mounted read-only? (os.access says so too, but as 'permission denied'.)"""
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):     # AttributeError: no statvfs (Windows)
        return False


def check_extension(path: Path) -> str:
    ext = path.suffix.lower()
    if ext not in CODECS:
        raise VcamError(f"Cannot record to {str(path)!r}: unknown video file type {ext or '(none)'!r}.",
                        f"Use a file name ending in {' or '.join(CODECS)}.")
    return ext


class FileSink:
    """Writes exactly the frames it is sent, at the size and frame rate given to open()."""

    name = "file"

    def __init__(self, path: str | Path, check_every: int = 60) -> None:
        self.path = Path(path).expanduser()
        self._ext = check_extension(self.path)
        self.name = f"file {self.path.name}"
        self._check_every = max(1, check_every)
        self._writer: cv2.VideoWriter | None = None
        self._size: Size | None = None
        self.frames = 0

    def open(self, size: Size, fps: float) -> None:
        path = self.path
        parent = path.parent if str(path.parent) else Path(".")
        if not parent.exists():
            raise VcamError(f"Cannot write {path}: the folder {parent} does not exist.",
                            f"Create it (mkdir -p {parent}) or choose another path.")
        if not parent.is_dir():
            raise VcamError(f"Cannot write {path}: {parent} is not a folder.", "Choose another path.")
        if path.is_dir():
            raise VcamError(f"Cannot write {path}: it is a folder.", "Give a file name, e.g. out.mp4.")
        if _read_only(parent):
            raise VcamError(f"Cannot write {path}: {parent} is on a read-only file system.",
                            "Choose a folder on a writable disk, or remount that one read-write.")
        if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
            raise VcamError(f"Cannot write {path}: permission denied.", "Choose a folder you can write to.")
        self._check_space()
        fourcc = cv2.VideoWriter_fourcc(*CODECS[self._ext])
        writer = cv2.VideoWriter(str(path), fourcc, float(fps), (size.width, size.height))
        if not writer.isOpened():
            writer.release()
            raise VcamError(f"Cannot write {path}: OpenCV could not open a {CODECS[self._ext]} video writer.",
                            "Check that the path is writable and the disk has room; an opencv-python wheel "
                            "(with FFmpeg) is needed for video files.")
        self._writer = writer
        self._size = size
        self.frames = 0

    def _check_space(self) -> None:
        try:
            usage = shutil.disk_usage(self.path.parent if str(self.path.parent) else ".")
        except OSError:
            return          # cannot tell: let the writer find out
        if usage.free < min(MIN_FREE_BYTES, usage.total // SMALL_DISK_SHARE):
            what = f"stopped after {self.frames} frames" if self._writer is not None else "not started"
            raise VcamError(f"Cannot write {self.path}: the disk is full ({usage.free // 1024} KiB free); "
                            f"recording {what}.", "Free some space or record to another disk.")

    def send(self, image: np.ndarray, info: FrameInfo) -> None:
        writer, size = self._writer, self._size
        if writer is None or size is None:
            raise VcamError(f"The video file {self.path} is not open.")
        if image.shape != (size.height, size.width, 3) or image.dtype != np.uint8:
            # OpenCV would drop a frame of the wrong size without a word: refuse it loudly instead.
            raise ValueError(f"{self.path.name}: expected a {size} BGR uint8 frame, got {image.shape} {image.dtype}")
        try:
            ok = writer.write(image)
        except cv2.error as exc:
            raise VcamError(f"Writing {self.path} failed: {exc}", "Check the disk and the path.") from exc
        if ok is False:   # OpenCV 5 returns whether the frame was accepted (4.x returns None)
            self._check_space()     # a full disk is the usual cause: say so when it is
            raise VcamError(f"Writing {self.path} failed at frame {self.frames}.",
                            "Check that the disk has room and the path is still writable.")
        self.frames += 1
        if self.frames % self._check_every == 0:
            if not self.path.exists():
                raise VcamError(f"The video file {self.path} disappeared while recording.",
                                "Check that its folder or disk is still there.")
            self._check_space()

    def close(self) -> None:
        writer, self._writer = self._writer, None
        if writer is None:
            return
        writer.release()
        if self.frames and (not self.path.exists() or self.path.stat().st_size == 0):
            raise VcamError(f"Recording {self.path} failed: the file is missing or empty after "
                            f"{self.frames} frames.", "Check that the disk has room and the path is writable.")
