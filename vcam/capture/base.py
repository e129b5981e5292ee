"""What every frame source provides. Sources are simple and blocking; threading lives in grabber.py."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from vcam.frames import Frame


class SourceError(Exception):
    """The source failed while streaming (unplugged, busy, decode error): the grabber reopens it."""


class EndOfStream(Exception):
    """A finite source (a video file without looping) has no more frames."""


@runtime_checkable
class FrameSource(Protocol):
    name: str              # what the HUD and errors show, e.g. "camera 0", "bikes.mp4", "pattern"
    nominal_fps: float     # what the source says it delivers (0 if unknown)
    live: bool             # True: frames arrive in real time (camera, paced pattern); False: as fast as read

    def open(self) -> None:
        """Open or reopen; raise VcamError with a fix when it cannot (no camera, busy camera, missing file)."""
        ...

    def read(self) -> np.ndarray:
        """Block for the next image (8-bit; any of gray/BGR/BGRA). Raise SourceError or EndOfStream."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class FrameFeed(Protocol):
    """What the pipeline pulls frames from.

    Live feeds run the source on a capture thread behind a one-slot mailbox (newest frame wins; what the
    consumer had no time for is dropped and counted). A source that fails is reopened with backoff while the
    feed keeps handing out the last good frame marked ``reconnecting``. Lockstep feeds (demo, file-to-file)
    read the source on the caller's thread and drop nothing.
    """

    dropped: int            # frames replaced in the mailbox before the consumer took them
    measured_fps: float     # frames per second the source really delivered (recent window)
    source_name: str

    def start(self) -> None:
        """Open the source (raise VcamError with a fix if it cannot be opened at all) and start capturing."""
        ...

    def next_frame(self, timeout: float) -> Frame | None:
        """The newest frame not yet taken; None at the end of a finite stream. Raises TimeoutError if no
        frame (not even a reconnecting one) arrives within ``timeout`` seconds."""
        ...

    def stop(self) -> None:
        """Stop the thread and release the device; safe to call twice."""
        ...
