"""Simulated camera motion for temporal losses without video (Wang et al., AAAI 2020).

A smooth random flow: random vectors on a coarse grid, upsampled and blurred, plus a global shift, and optionally a
global zoom and rotation about the centre (a person leaning in, a hand-held camera): strokes that only learned to
follow shifts swam on the zooming test clip (benchmarks/quality.py, synthetic_pan_zoom).
``warp(x, flow)`` samples ``x`` at ``p + flow(p)``; view2 = warp(view1, flow) therefore shows the same scene
moved, and ``warp(out1, flow)`` is where out1's pixels should be in frame 2.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def random_flow(n: int, h: int, w: int, generator: torch.Generator, max_local: float = 4.0,
                max_shift: float = 6.0, grid: int = 4, max_zoom: float = 0.0, max_rotate: float = 0.0,
                integer_share: float = 0.0) -> torch.Tensor:
    """(N,2,H,W) flow in pixels (x, y). ``max_zoom``: relative scale change (0.03 = up to 3%); ``max_rotate``:
    radians. ``integer_share``: the share of the N views moved only by a whole-pixel shift (up to ``max_shift``)."""
    coarse = (torch.rand(n, 2, grid, grid, generator=generator) * 2 - 1) * max_local
    flow = F.interpolate(coarse, size=(h, w), mode="bicubic", align_corners=True)
    # Blur to keep the field smooth (a separable box blur, twice, ~ a small gaussian).
    k = max(3, (min(h, w) // 8) | 1)
    for _ in range(2):
        flow = F.avg_pool2d(F.pad(flow, (k // 2, k // 2, k // 2, k // 2), mode="replicate"), k, stride=1)
    shift = (torch.rand(n, 2, 1, 1, generator=generator) * 2 - 1) * max_shift
    if max_zoom > 0 or max_rotate > 0:
        scale = 1 + (torch.rand(n, 1, 1, generator=generator) * 2 - 1) * max_zoom
        angle = (torch.rand(n, 1, 1, generator=generator) * 2 - 1) * max_rotate
        ys, xs = torch.meshgrid(torch.arange(h, dtype=flow.dtype) - (h - 1) / 2,
                                torch.arange(w, dtype=flow.dtype) - (w - 1) / 2, indexing="ij")
        cos, sin = torch.cos(angle) * scale, torch.sin(angle) * scale
        sim = torch.stack([cos * xs - sin * ys - xs, sin * xs + cos * ys - ys], dim=1)
        flow = flow + sim
    flow = flow + shift
    if integer_share > 0:   # drawn only when asked: recipes without it keep their random stream
        # Warping by a whole-pixel shift is exact. A sub-pixel move is resampled bilinearly, which blurs: a one-pixel
        # stroke that moves perfectly with the content still differs from its warped self as much as a flicker
        # would, so on those views the temporal terms ask for less detail, not only for steadier detail.
        pick = torch.rand(n, generator=generator) < integer_share
        whole = torch.round((torch.rand(n, 2, 1, 1, generator=generator) * 2 - 1) * max_shift)
        flow = torch.where(pick[:, None, None, None], whole.expand(n, 2, h, w), flow)
    return flow


def warp(x: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Bilinear sample of x at p + flow(p); outside samples are zero."""
    n, _, h, w = x.shape
    ys, xs = torch.meshgrid(torch.arange(h, dtype=x.dtype), torch.arange(w, dtype=x.dtype), indexing="ij")
    gx = (xs[None] + flow[:, 0]) / max(w - 1, 1) * 2 - 1
    gy = (ys[None] + flow[:, 1]) / max(h - 1, 1) * 2 - 1
    grid = torch.stack([gx, gy], dim=-1)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=True)


def valid_mask(flow: torch.Tensor, margin: float = 1.0) -> torch.Tensor:
    """(N,1,H,W) 1 where p + flow(p) falls inside the image (not disoccluded by the frame border)."""
    n, _, h, w = flow.shape
    ys, xs = torch.meshgrid(torch.arange(h, dtype=flow.dtype), torch.arange(w, dtype=flow.dtype), indexing="ij")
    px = xs[None] + flow[:, 0]
    py = ys[None] + flow[:, 1]
    ok = (px >= margin) & (px <= w - 1 - margin) & (py >= margin) & (py <= h - 1 - margin)
    return ok[:, None].to(flow.dtype)
