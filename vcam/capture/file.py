"""A video file as a frame source: optionally looped, and paced to its own frame rate when it stands in for a
camera."""

from __future__ import annotations

import math
import os
from pathlib import Path

import cv2
import numpy as np

from vcam.capture.base import EndOfStream, SourceError
from vcam.capture.pacing import Pacer
from vcam.config import Size
from vcam.errors import VcamError

_DECODE_HINT = ("vcam reads video through OpenCV's FFmpeg backend (mp4/H.264, mkv, webm, avi, mov). "
                "`ffprobe FILE` shows what the file holds.")


class FileSource:
    """``paced``: deliver frames at the file's own fps, as a camera would (run); unpaced: as fast as they are
    read (demo, file-to-file, where nothing may be skipped). ``fallback_fps`` is used when the container does
    not say its rate."""

    def __init__(self, path: str | Path, loop: bool = True, paced: bool = True, fallback_fps: float = 30.0) -> None:
        self.path = Path(path).expanduser()
        self.name = self.path.name
        self.loop = loop
        self.live = paced
        self.nominal_fps = 0.0
        self.size: Size | None = None          # known after open()
        self.frame_count = 0                   # as the container reports it (may be 0 or approximate)
        self._fallback_fps = fallback_fps if fallback_fps > 0 else 30.0
        self._cap: cv2.VideoCapture | None = None
        self._first: np.ndarray | None = None
        self._pacer = Pacer(0.0)
        self._position = 0                     # frames delivered in this pass: a reopen resumes here

    def open(self) -> None:
        self.close()
        if not self.path.exists():
            raise VcamError(f"No such file: {self.path}",
                            "Give a video file path, a camera index (0), a device (/dev/video0) or 'pattern'.")
        if not self.path.is_file():
            raise VcamError(f"{self.path} is not a file.")
        if not os.access(self.path, os.R_OK):
            raise VcamError(f"Permission denied reading {self.path}.", "Check the file's permissions.")
        cap = cv2.VideoCapture(str(self.path))
        if not cap.isOpened():
            cap.release()
            raise VcamError(f"Cannot open {self.path} as a video.", _DECODE_HINT)
        ok, first = cap.read()
        if not ok or first is None:
            cap.release()
            raise VcamError(f"{self.path} opened, but no frame in it could be decoded.", _DECODE_HINT)
        fps = cap.get(cv2.CAP_PROP_FPS)
        self.nominal_fps = float(fps) if math.isfinite(fps) and 0 < fps <= 1000 else self._fallback_fps
        self.frame_count = max(0, int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0))
        self.size = Size(first.shape[1], first.shape[0])
        self._pacer = Pacer(self.nominal_fps)
        if self._position > 0:
            # A reopen (after a stalled read) resumes where the stream was, not at frame 0.
            cap.set(cv2.CAP_PROP_POS_FRAMES, self._position)
            ok, again = cap.read()
            if ok and again is not None:
                first = again
            else:
                self._position = 0
        self._cap, self._first = cap, first

    def read(self) -> np.ndarray:
        if self._cap is None:
            raise SourceError(f"{self.name} is not open")
        if self.live:
            self._pacer.wait()
        if self._first is not None:           # decoded by open() to prove the file is readable
            image, self._first = self._first, None
            self._position += 1
            return image
        ok, image = self._cap.read()
        if ok and image is not None:
            self._position += 1
            return image
        if not self.loop:
            raise EndOfStream(self.name)
        self._position = 1
        return self._rewind()

    def _rewind(self) -> np.ndarray:
        assert self._cap is not None
        self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
        ok, image = self._cap.read()
        if not ok or image is None:
            # some containers cannot seek: start over with a fresh decoder
            self._cap.release()
            self._cap = cv2.VideoCapture(str(self.path))
            ok, image = self._cap.read() if self._cap.isOpened() else (False, None)
        if not ok or image is None:
            raise SourceError(f"{self.name}: cannot go back to the start to loop")
        return image

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
        self._cap, self._first = None, None
