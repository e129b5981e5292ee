"""How good and how steady a person matte is: IoU, boundary F-score, and flicker along optical flow.

numpy and OpenCV only, so benchmarks/person.py and the tests share one definition:
- ``iou(pred, truth, valid)``: intersection over union of two boolean masks, on the ``valid`` pixels only (VOC's
  "void" border is neither person nor background);
- ``boundary_f(pred, truth, valid, tol)``: the boundary F-score (Perazzi et al. 2016, DAVIS): the share of each
  mask's boundary pixels within ``tol`` pixels of the other's, combined as an F-measure;
- ``flicker(prev, cur, flow, band)``: the mean absolute change of a soft matte between two frames after moving the
  previous one along the flow (cur -> prev), within ``band``: what a viewer sees as a shimmering edge. Motion the
  flow explains does not count.
"""

from __future__ import annotations

import cv2
import numpy as np


def iou(pred: np.ndarray, truth: np.ndarray, valid: np.ndarray | None = None) -> float:
    if valid is None:
        valid = np.ones(pred.shape, bool)
    inter = np.count_nonzero(pred & truth & valid)
    union = np.count_nonzero((pred | truth) & valid)
    return 1.0 if union == 0 else inter / union


def _boundary(mask: np.ndarray) -> np.ndarray:
    m = mask.astype(np.uint8)
    return (m - cv2.erode(m, np.ones((3, 3), np.uint8), borderType=cv2.BORDER_REPLICATE)) > 0


def boundary_f(pred: np.ndarray, truth: np.ndarray, valid: np.ndarray | None = None,
               tol: float | None = None) -> float:
    """Boundary F-score; ``tol`` defaults to 0.75% of the image diagonal (DAVIS's setting)."""
    if tol is None:
        tol = max(1.0, 0.0075 * float(np.hypot(*pred.shape)))
    bp, bt = _boundary(pred), _boundary(truth)
    if valid is not None:
        bp &= valid
        bt &= valid
    if not bp.any() and not bt.any():
        return 1.0
    if not bp.any() or not bt.any():
        return 0.0
    # Distance of every pixel to the nearest boundary pixel of the other mask.
    dt = cv2.distanceTransform((~bt).astype(np.uint8), cv2.DIST_L2, 3)
    dp = cv2.distanceTransform((~bp).astype(np.uint8), cv2.DIST_L2, 3)
    precision = float(np.mean(dt[bp] <= tol))
    recall = float(np.mean(dp[bt] <= tol))
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def edge_band(matte: np.ndarray, radius: int) -> np.ndarray:
    """Pixels within ``radius`` of the matte's 0.5 crossing."""
    hard = (matte > 0.5).astype(np.uint8)
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return (cv2.dilate(hard, k) - cv2.erode(hard, k)) > 0


def flow_to_prev(prev_gray: np.ndarray, cur_gray: np.ndarray) -> np.ndarray:
    """Dense flow from the current frame to the previous one (DIS, medium preset: accurate at low resolution)."""
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    return dis.calc(cur_gray, prev_gray, None)


def warp(img: np.ndarray, flow: np.ndarray) -> np.ndarray:
    h, w = flow.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(img, gx + flow[..., 0], gy + flow[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def flicker(prev: np.ndarray, cur: np.ndarray, flow: np.ndarray, band: np.ndarray) -> float:
    """Mean |cur - warp(prev)| of soft mattes in [0,1] over ``band`` (0 when the band is empty)."""
    if not band.any():
        return 0.0
    return float(np.abs(cur - warp(prev, flow))[band].mean())
