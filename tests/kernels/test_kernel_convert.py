"""convert.cu against OpenCV's cvtColor (the CPU path's conversions): bit-exact, pitched rows, odd sizes."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from kernel_helpers import SIZES, Pitched, launch2d

pytestmark = pytest.mark.kernel

EVEN_SIZES = [(w + w % 2, h + h % 2) for w, h in SIZES]
FMT_BGR, FMT_I420, FMT_NV12 = 0, 1, 2


def _i420_planes(i420: np.ndarray, w: int, h: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    flat = i420.reshape(-1)
    y = flat[: w * h].reshape(h, w)
    u = flat[w * h: w * h + w * h // 4].reshape(h // 2, w // 2)
    v = flat[w * h + w * h // 4:].reshape(h // 2, w // 2)
    return y, u, v


@pytest.mark.parametrize("size", EVEN_SIZES)
def test_kernel_yuyv_to_bgr_matches_opencv(emu, size):
    w, h = size
    rng = np.random.default_rng(w * h)
    yuyv = rng.integers(0, 256, (h, w, 2), dtype=np.uint8)
    src = Pitched(h, w * 2).set(yuyv)
    dst = Pitched(h, w * 3)
    launch2d(emu("convert.cu"), "vcam_yuyv_to_bgr", w, h, src.buf, src.pitch, w, h, dst.buf, dst.pitch)
    np.testing.assert_array_equal(dst.get(h, w, 3), cv2.cvtColor(yuyv, cv2.COLOR_YUV2BGR_YUYV))
    assert dst.padding_intact()


@pytest.mark.parametrize("size", EVEN_SIZES)
def test_kernel_nv12_to_bgr_matches_opencv(emu, size):
    w, h = size
    rng = np.random.default_rng(w + h)
    nv12 = rng.integers(0, 256, (h * 3 // 2, w), dtype=np.uint8)
    ys = Pitched(h, w).set(nv12[:h])
    uv = Pitched(h // 2, w, pitch=w + 64).set(nv12[h:])
    dst = Pitched(h, w * 3)
    launch2d(emu("convert.cu"), "vcam_nv12_to_bgr", w, h, ys.buf, ys.pitch, uv.buf, uv.pitch, w, h, dst.buf,
             dst.pitch)
    np.testing.assert_array_equal(dst.get(h, w, 3), cv2.cvtColor(nv12, cv2.COLOR_YUV2BGR_NV12))
    assert dst.padding_intact()


@pytest.mark.parametrize("size", SIZES)
def test_kernel_bgr_to_bgr_copies_odd_sizes(emu, size):
    w, h = size
    img = np.random.default_rng(3).integers(0, 256, (h, w, 3), dtype=np.uint8)
    src = Pitched(h, w * 3).set(img)
    dst = Pitched(h, w * 3, pitch=w * 3 + 7)
    launch2d(emu("convert.cu"), "vcam_bgr_to_format", w, h, src.buf, src.pitch, w, h, FMT_BGR, dst.buf, dst.pitch,
             0, 0, 0, 0)
    np.testing.assert_array_equal(dst.get(h, w, 3), img)
    assert dst.padding_intact()


@pytest.mark.parametrize("size", EVEN_SIZES)
@pytest.mark.parametrize("fmt", [FMT_I420, FMT_NV12])
def test_kernel_bgr_to_yuv420_matches_opencv(emu, size, fmt):
    w, h = size
    img = np.random.default_rng(w * 7 + h).integers(0, 256, (h, w, 3), dtype=np.uint8)
    ref_y, ref_u, ref_v = _i420_planes(cv2.cvtColor(img, cv2.COLOR_BGR2YUV_I420), w, h)
    src = Pitched(h, w * 3).set(img)
    y = Pitched(h, w)
    if fmt == FMT_I420:
        u, v = Pitched(h // 2, w // 2), Pitched(h // 2, w // 2, pitch=w // 2 + 5)
        planes = (y.buf, y.pitch, u.buf, u.pitch, v.buf, v.pitch)
    else:
        uv = Pitched(h // 2, w)
        planes = (y.buf, y.pitch, uv.buf, uv.pitch, 0, 0)
    launch2d(emu("convert.cu"), "vcam_bgr_to_format", w, h, src.buf, src.pitch, w, h, fmt, *planes)
    np.testing.assert_array_equal(y.get(h, w), ref_y)
    if fmt == FMT_I420:
        np.testing.assert_array_equal(u.get(h // 2, w // 2), ref_u)
        np.testing.assert_array_equal(v.get(h // 2, w // 2), ref_v)
        assert u.padding_intact() and v.padding_intact()
    else:
        got = uv.get(h // 2, w // 2, 2)
        np.testing.assert_array_equal(got[..., 0], ref_u)
        np.testing.assert_array_equal(got[..., 1], ref_v)
        assert uv.padding_intact()
    assert y.padding_intact()
