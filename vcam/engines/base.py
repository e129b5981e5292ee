"""The engine protocol: what the pipeline calls once per frame. Engines hold their own (recurrent) state."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from vcam.control.state import ControlState


@runtime_checkable
class Engine(Protocol):
    name: str
    # Milliseconds spent in the last step, by stage: "pre", "infer", "post" (absent stages count as 0).
    timings: dict[str, float]

    def step(self, image: np.ndarray, controls: ControlState) -> np.ndarray:
        """Stylize one BGR uint8 HxWx3 frame; return a BGR uint8 frame of the same size.

        The returned array may be a buffer the engine reuses on the next call: sinks must not keep it.
        """
        ...

    def reset(self) -> None:
        """Forget the recurrent state (scene cut, size change, user request)."""
        ...

    def info(self) -> dict:
        """What the HUD and the stats show: runtime, internal size, governor state, styles."""
        ...

    def close(self) -> None: ...
