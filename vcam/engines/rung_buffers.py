"""The CPU engine's per-rung working buffers, built once per network size and kept while the governor moves.

Each internal size needs its own pre-processor, upsampler, recurrent states, warp maps and DIS flow object. Built
afresh on every governor move, they were freed and reallocated dozens of times an hour: the frame-sized ones come
and go with their own mappings, but the smaller ones (band scratch, thumbnails, the flow's pyramids, the upsampler's
helper thread) left the heap a little more fragmented each time, and resident memory tracked the rung the engine
happened to be on. Keeping the three most recently used rungs, as the runners keep their three compiled graphs
(cpu_runtime.OpenVinoRunner.max_static), makes the governor's moves around its start rung allocate nothing.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import cv2
import numpy as np

from vcam.config import Size
from vcam.engines.governor import InternalSize
from vcam.ops.guided import GuidedUpsampler
from vcam.ops.preprocess import Preprocessor


@dataclass
class Rung:
    """Everything a frame at one internal size writes into."""

    pre: Preprocessor
    up: GuidedUpsampler
    states: list[np.ndarray]      # the recurrent state, double-buffered
    stylized: np.ndarray          # (1, 3, ph, pw) network output
    warped: np.ndarray            # (3, h, w) the last output moved along the flow
    infer_gray: np.ndarray        # the gray frame and thumbnail of the last inferred frame
    infer_thumb: np.ndarray
    prev_thumb: np.ndarray
    grid: tuple[np.ndarray, np.ndarray]
    map: tuple[np.ndarray, np.ndarray]
    flow: np.ndarray
    dis: cv2.DISOpticalFlow

    @classmethod
    def build(cls, internal: InternalSize, frame: Size, upsample: str, threads: int, state_channels: int,
              stride: int) -> Rung:
        pw, ph = internal.padded.width, internal.padded.height
        w, h = internal.size.width, internal.size.height
        pre = Preprocessor(frame, internal.size, internal.padded, guide=upsample == "guided")
        gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
        return cls(pre=pre,
                   up=GuidedUpsampler(internal.size, frame, threads=threads, mode=upsample),
                   states=[np.zeros((1, state_channels, ph // stride, pw // stride), np.float32) for _ in range(2)],
                   stylized=np.zeros((1, 3, ph, pw), np.float32),
                   warped=np.zeros((3, h, w), np.float32),
                   infer_gray=np.zeros((h, w), np.uint8),
                   infer_thumb=np.zeros_like(pre.thumb),
                   prev_thumb=np.zeros_like(pre.thumb),
                   grid=(gx, gy),
                   map=(np.empty((h, w), np.float32), np.empty((h, w), np.float32)),
                   flow=np.zeros((h, w, 2), np.float32),
                   dis=cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST))

    def close(self) -> None:
        self.up.close()


class RungBuffers:
    """The ``keep`` most recently used rungs' buffers for one output size."""

    keep = 3

    def __init__(self, state_channels: int, stride: int) -> None:
        self.state_channels = state_channels
        self.stride = stride
        self._rungs: OrderedDict[tuple[InternalSize, Size], Rung] = OrderedDict()
        self.built = 0    # how many times a rung's buffers were allocated (tests and benchmarks read it)

    def get(self, internal: InternalSize, frame: Size, upsample: str, threads: int) -> Rung:
        key = (internal, frame)
        rung = self._rungs.get(key)
        if rung is None:
            rung = self._rungs[key] = Rung.build(internal, frame, upsample, threads, self.state_channels, self.stride)
            self.built += 1
            while len(self._rungs) > self.keep:
                self._rungs.popitem(last=False)[1].close()
        self._rungs.move_to_end(key)
        return rung

    def __len__(self) -> int:
        return len(self._rungs)

    def clear(self) -> None:
        for rung in self._rungs.values():
            rung.close()
        self._rungs.clear()
