"""`--style none`: frames go through untouched. A real mode (a user can switch the filter off) and the
reference point for measuring what the neural engines cost."""

from __future__ import annotations

import numpy as np

from vcam.control.state import ControlState


class PassthroughEngine:
    name = "passthrough"

    def __init__(self) -> None:
        self.timings: dict[str, float] = {"pre": 0.0, "infer": 0.0, "post": 0.0}

    def step(self, image: np.ndarray, controls: ControlState) -> np.ndarray:
        return image

    def reset(self) -> None:
        pass

    def info(self) -> dict:
        return {"engine": self.name, "styles": []}

    def close(self) -> None:
        pass
