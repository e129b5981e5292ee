"""temporal.cu: the warp equals the CPU engine's cv2.remap (INTER_LINEAR, BORDER_REPLICATE) of the last output;
the blend is a lerp towards the newer output."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from kernel_helpers import launch2d

pytestmark = pytest.mark.kernel

# (w, h, padded w, padded h)
SIZES = [(80, 44, 80, 44), (47, 27, 48, 28), (480, 270, 480, 272)]


def _inputs(w, h, pw, ph, seed):
    rng = np.random.default_rng(seed)
    prev = rng.random((3, ph, pw), dtype=np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    flow = np.stack([3 * np.sin(yy / 5) + 0.37, 2 * np.cos(xx / 7) - 0.61], -1).astype(np.float32)
    flow[: h // 4, : w // 4] = (-40.0, 25.5)          # far outside: replicated border
    flow += rng.normal(0, 0.3, flow.shape).astype(np.float32)
    return prev, np.ascontiguousarray(flow)


def _cv_warp(prev, flow, w, h):
    """What CpuEngine._warp computes."""
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    mx, my = gx + flow[..., 0], gy + flow[..., 1]
    return np.stack([cv2.remap(np.ascontiguousarray(prev[c, :h, :w]), mx, my, cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REPLICATE) for c in range(3)])


def _fma_path() -> bool:
    """OpenCV's vector remap fuses its lerps into FMAs on AVX2 machines; elsewhere it rounds twice."""
    tokens = cv2.getCPUFeaturesLine().split()      # "*AVX2" = dispatched and present; "*AVX2?" = not present
    return cv2.useOptimized() and ("AVX2" in tokens or "*AVX2" in tokens)


@pytest.mark.parametrize(("w", "h", "pw", "ph"), SIZES)
def test_kernel_warp_matches_cpu_remap(emu, w, h, pw, ph):
    prev, flow = _inputs(w, h, pw, ph, w)
    out = np.full((3, ph, pw), -7.0, np.float32)
    launch2d(emu("temporal.cu"), "vcam_warp_blend", w, h, prev, flow, w, h, pw, ph, 0, 0.0, out)
    ref = _cv_warp(prev, flow, w, h)
    got = out[:, :h, :w]
    if _fma_path():
        np.testing.assert_array_equal(got, ref)
    else:
        np.testing.assert_allclose(got, ref, rtol=0, atol=2.4e-7)
    assert (out[:, h:, :] == -7.0).all() and (out[:, :, w:] == -7.0).all()   # padding untouched


def test_kernel_warp_blend_lerps_towards_current(emu):
    w, h, pw, ph = 47, 27, 48, 28
    prev, flow = _inputs(w, h, pw, ph, 9)
    cur = np.random.default_rng(1).random((3, ph, pw), dtype=np.float32)
    warped = np.zeros((3, ph, pw), np.float32)
    blended = np.zeros((3, ph, pw), np.float32)
    k = emu("temporal.cu")
    launch2d(k, "vcam_warp_blend", w, h, prev, flow, w, h, pw, ph, 0, 0.0, warped)
    launch2d(k, "vcam_warp_blend", w, h, prev, flow, w, h, pw, ph, cur, 0.25, blended)
    a, c = warped[:, :h, :w].astype(np.float64), cur[:, :h, :w].astype(np.float64)
    spec = ((c - a) * 0.25 + a).astype(np.float32)     # one rounding: a fused multiply-add
    np.testing.assert_allclose(blended[:, :h, :w], spec, rtol=0, atol=1.2e-7)
    assert np.abs(blended[:, :h, :w] - warped[:, :h, :w]).max() > 0.01
