"""How the pre-processing kernel must downscale a frame to reproduce vcam.ops.preprocess exactly.

The CPU reference halves the frame with exact 2x INTER_AREA steps while it stays at least twice the target,
then finishes with cv::resize (INTER_AREA when still >= 2x in a dimension, else INTER_LINEAR). The kernel does
all of it in one pass; this module decides the parameters it gets: the number of halvings and the final mode.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from vcam.config import Size
from vcam.errors import VcamError
from vcam.ops.preprocess import _halving_chain

RESIZE_NONE, RESIZE_LINEAR, RESIZE_AREA, RESIZE_AREA_INT = 0, 1, 2, 3
MAX_HALVINGS = 5  # kernels/preprocess.cu unrolls up to 5 (a 32x reduction)


@dataclass(frozen=True)
class ResizePlan:
    halvings: int
    mode: int
    mid: Size   # the size after the halvings

    @property
    def mode_name(self) -> str:
        return ("none", "linear", "area", "area_int")[self.mode]


def _area_mode(mid: Size, dst: Size) -> int:
    """cv::resize INTER_AREA: integer factors take the 'fast' path, others the general one (scale >= 1 only)."""
    scales = [1.0 / (d / s) for s, d in ((mid.width, dst.width), (mid.height, dst.height))]
    if min(scales) < 1.0:
        raise VcamError(f"Pre-processing {mid} -> {dst} mixes up- and downscaling with INTER_AREA, which the "
                        "GPU kernel does not reproduce.", "Use a capture size with the output's aspect ratio.")
    exact = all(abs(s - round(s)) < sys.float_info.epsilon for s in scales)
    return RESIZE_AREA_INT if exact else RESIZE_AREA


def plan_resize(frame: Size, internal: Size) -> ResizePlan:
    chain = _halving_chain(frame.width, frame.height, internal)
    k = len(chain)
    if k > MAX_HALVINGS:
        raise VcamError(f"Downscaling {frame} to {internal} needs {k} halvings; the GPU kernel supports "
                        f"{MAX_HALVINGS}.", "Use a larger internal size or a smaller capture size.")
    mid = Size(frame.width >> k, frame.height >> k) if k else frame
    if (mid.width, mid.height) == (internal.width, internal.height):
        return ResizePlan(k, RESIZE_NONE, mid)
    big = mid.height >= 2 * internal.height or mid.width >= 2 * internal.width
    return ResizePlan(k, _area_mode(mid, internal) if big else RESIZE_LINEAR, mid)
