"""The matte measurements benchmarks/person.py reports: IoU, boundary F-score, flicker along the flow."""

from __future__ import annotations

import cv2
import numpy as np

from vcam.model.matte_metrics import boundary_f, edge_band, flicker, flow_to_prev, iou


def _disc(cx: float, cy: float, r: float, shape=(144, 256)) -> np.ndarray:
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    return (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r


def test_iou_counts_only_valid_pixels() -> None:
    a, b = _disc(100, 70, 30), _disc(110, 70, 30)
    assert iou(a, a) == 1.0
    assert 0.5 < iou(a, b) < 0.8
    valid = ~(a ^ b)                      # the disagreement marked void: nothing left to disagree on
    assert iou(a, b, valid) == 1.0


def test_boundary_f_tolerates_small_shifts_only() -> None:
    a = _disc(100, 70, 30)
    assert boundary_f(a, a) == 1.0
    assert boundary_f(a, _disc(101, 70, 30), tol=2) > 0.9
    assert boundary_f(a, _disc(110, 70, 30), tol=2) < 0.5
    assert boundary_f(a, np.zeros_like(a)) == 0.0


def test_flicker_ignores_motion_the_flow_explains_and_sees_a_shimmer() -> None:
    rng = np.random.default_rng(0)
    tex = cv2.GaussianBlur(rng.random((144, 256)).astype(np.float32), (0, 0), 2)
    shift = np.float32([[1, 0, 3], [0, 1, 0]])
    prev_gray = (tex * 255).astype(np.uint8)
    cur_gray = cv2.warpAffine(prev_gray, shift, (256, 144), borderMode=cv2.BORDER_REFLECT)
    prev = cv2.GaussianBlur(_disc(100, 70, 30).astype(np.float32), (0, 0), 1.5)
    cur = cv2.warpAffine(prev, shift, (256, 144), borderMode=cv2.BORDER_REPLICATE)
    flow = flow_to_prev(prev_gray, cur_gray)
    band = edge_band(cur, 4)
    moved = flicker(prev, cur, flow, band)
    still = flicker(prev, prev, np.zeros_like(flow), band)
    noisy = flicker(prev, np.clip(cur + rng.normal(0, 0.1, cur.shape).astype(np.float32), 0, 1), flow, band)
    assert still == 0.0
    assert moved < 0.03                     # the 3-pixel move is followed, not counted
    assert noisy > 3 * moved + 0.03         # a shimmering edge is
