"""Frame sources (camera, video file, test pattern) behind one protocol, and the feeds the pipeline pulls from.

To add a source: write a class with the FrameSource shape (base.py) and teach make_source() its --input syntax.
"""

from __future__ import annotations

import re
from pathlib import Path

from vcam.capture.base import EndOfStream, FrameFeed, FrameSource, SourceError
from vcam.capture.camera import CameraInfo, CameraSource, list_cameras
from vcam.capture.file import FileSource
from vcam.capture.grabber import LiveFeed, LockstepFeed
from vcam.capture.mailbox import Mailbox
from vcam.capture.pattern import PatternSource
from vcam.config import RunConfig
from vcam.errors import VcamError

__all__ = [
    "CameraInfo", "CameraSource", "EndOfStream", "FileSource", "FrameFeed", "FrameSource", "LiveFeed",
    "LockstepFeed", "Mailbox", "PatternSource", "SourceError", "list_cameras", "make_source", "open_feed",
]

_INPUT_HINT = "--input takes a camera index (0), a device (/dev/video0), a video file, or 'pattern'."


def make_source(cfg: RunConfig) -> FrameSource:
    """The source cfg.input names, not yet opened. Files and the pattern are paced like a camera only in
    real-time runs; cameras are asked for cfg.size and cfg.fps (and may grant something else)."""
    text = cfg.input.strip()
    if not text:
        raise VcamError("No input given.", _INPUT_HINT)
    if text.lower() == "pattern":
        return PatternSource(cfg.size, cfg.fps, paced=cfg.realtime)
    if re.fullmatch(r"\d+", text):
        return CameraSource(int(text), cfg.size, cfg.fps)
    if text.startswith("/dev/"):
        return CameraSource(text, cfg.size, cfg.fps)
    path = Path(text).expanduser()
    if not path.exists():
        raise VcamError(f"No such file: {text}", _INPUT_HINT)
    return FileSource(path, loop=cfg.loop, paced=cfg.realtime, fallback_fps=cfg.fps)


def open_feed(cfg: RunConfig, start: bool = True) -> FrameFeed:
    """A feed for cfg.input: LiveFeed for real-time runs, LockstepFeed otherwise (demo, file to file).

    With ``start`` (the default) the source is opened here, so a missing camera or unreadable file raises its
    VcamError now; start() on the returned feed is then a no-op."""
    source = make_source(cfg)
    feed: FrameFeed = LiveFeed(source) if cfg.realtime else LockstepFeed(source)
    if start:
        feed.start()
    return feed
