"""What every output provides. The pipeline sends each finished frame to every sink in order."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from vcam.config import Size


@dataclass
class FrameInfo:
    """What a sink may show or record about a frame (the preview HUD draws it)."""

    index: int
    fps: float = 0.0
    latency_ms: float = 0.0
    style: str = ""
    engine: str = ""
    reconnecting: bool = False
    notes: list[str] = field(default_factory=list)   # e.g. governor state, "paused"


@runtime_checkable
class Sink(Protocol):
    name: str

    def open(self, size: Size, fps: float) -> None:
        """Raise VcamError with a fix when the output cannot be opened (no device, unwritable path)."""
        ...

    def send(self, image: np.ndarray, info: FrameInfo) -> None:
        """Deliver one BGR uint8 frame of the opened size. Must not keep a reference to ``image``."""
        ...

    def close(self) -> None: ...
