"""preprocess.cu against vcam.ops.preprocess.Preprocessor: network input (fp32 bit-exact, fp16 within 1 ulp of the
reference rounded to fp16), low-res guide and downscaled frame, for BGR, YUYV and NV12 cameras, every resize
mode, odd sizes and pitched rows."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from kernel_helpers import Pitched, launch2d, ulp_diff_fp16

from vcam.config import Size
from vcam.gpu.preplan import RESIZE_AREA, RESIZE_AREA_INT, RESIZE_LINEAR, RESIZE_NONE, plan_resize
from vcam.ops.preprocess import Preprocessor

pytestmark = pytest.mark.kernel

# (frame, internal, the final resize mode the CPU reference takes for it); internal may carry the padded network
# size as a third number (height rounded up to a multiple of 4, the extra rows mirrored).
CASES = [
    ((1280, 720), (320, 180), RESIZE_NONE),      # two exact halvings
    ((640, 360), (256, 144), RESIZE_LINEAR),     # one halving, then INTER_LINEAR
    ((960, 540), (320, 180), RESIZE_LINEAR),
    ((1280, 720), (480, 270, 272), RESIZE_LINEAR),   # the 270 rung: padded to 272
    ((1920, 1080), (480, 270, 272), RESIZE_NONE),    # two halvings land on it; padded to 272
    ((1920, 1080), (480, 272), RESIZE_AREA),     # one halving, then general INTER_AREA (2 x 1.985)
    ((202, 114), (48, 28), RESIZE_AREA),         # halving stops at odd 101x57
    ((101, 57), (47, 27, 28), RESIZE_AREA),      # odd internal size, padded in both directions
    ((969, 543), (323, 181), RESIZE_AREA_INT),   # odd frame, integer 3x INTER_AREA
    ((72, 40), (64, 36), RESIZE_LINEAR),
    ((64, 36), (64, 36), RESIZE_NONE),           # identity
]


def _sizes(internal):
    """(internal Size, padded Size) from a CASES entry (w, h) or (w, h, padded_h); widths pad to multiples of 4."""
    w, h = internal[:2]
    ph = internal[2] if len(internal) > 2 else h
    return Size(w, h), Size(-(-w // 4) * 4 if len(internal) > 2 else w, ph)


def _frame(w: int, h: int, seed: int) -> np.ndarray:
    """Smooth structure plus noise: both the rounding ties of flat areas and the full value range occur."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = (127 + 120 * np.sin(xx / 7.0 + yy / 11.0))[..., None] + np.array([0, 40, -40])
    return np.clip(base + rng.integers(-30, 31, (h, w, 3)), 0, 255).astype(np.uint8)


def _run(emu, name, src_args, frame_size, internal, f16=False):
    size, padded = _sizes(internal)
    plan = plan_resize(Size(*frame_size), size)
    w, h, pw, ph = size.width, size.height, padded.width, padded.height
    blob = np.full((3, ph, pw), np.nan, np.float32)
    half = np.zeros((3, ph, pw), np.float16)
    guide = np.full((h, w), np.nan, np.float32)
    small = Pitched(h, w * 3)
    launch2d(emu("preprocess.cu"), name, pw, ph, *src_args, frame_size[0], frame_size[1], plan.halvings, plan.mode,
             w, h, pw, ph, 0 if f16 else blob, half if f16 else 0, guide, small.buf, small.pitch)
    assert small.padding_intact()
    return plan, blob, half, guide, small.get(h, w, 3)


def _reference(bgr: np.ndarray, internal):
    size, padded = _sizes(internal)
    pre = Preprocessor(Size(bgr.shape[1], bgr.shape[0]), size, padded)
    blob = pre(bgr)[0].copy()
    return blob, pre.guide.copy(), pre.small.copy()


@pytest.mark.parametrize(("frame_size", "internal", "mode"), CASES)
def test_kernel_pre_bgr_matches_reference_bit_exact(emu, frame_size, internal, mode):
    fw, fh = frame_size
    bgr = _frame(fw, fh, fw * fh)
    src = Pitched(fh, fw * 3).set(bgr)
    plan, blob, _, guide, small = _run(emu, "vcam_pre_bgr", (src.buf, src.pitch), frame_size, internal)
    assert plan.mode == mode
    ref_blob, ref_guide, ref_small = _reference(bgr, internal)
    np.testing.assert_array_equal(small, ref_small)
    np.testing.assert_array_equal(blob, ref_blob)      # fp32: bit for bit
    np.testing.assert_array_equal(guide, ref_guide)


@pytest.mark.parametrize(("frame_size", "internal", "mode"), [CASES[0], CASES[1], CASES[6], CASES[7], CASES[8]])
def test_kernel_pre_bgr_fp16_within_one_ulp(emu, frame_size, internal, mode):
    fw, fh = frame_size
    bgr = _frame(fw, fh, 7)
    src = Pitched(fh, fw * 3).set(bgr)
    _, _, half, _, _ = _run(emu, "vcam_pre_bgr", (src.buf, src.pitch), frame_size, internal, f16=True)
    ref_blob, _, _ = _reference(bgr, internal)
    assert ulp_diff_fp16(half, ref_blob.astype(np.float16)) <= 1
    assert np.isfinite(half.astype(np.float32)).all() and half.astype(np.float32).max() > 0.5


@pytest.mark.parametrize(("frame_size", "internal", "mode"), [c for c in CASES if c[0][0] % 2 == 0])
def test_kernel_pre_yuyv_equals_reference_of_converted_frame(emu, frame_size, internal, mode):
    fw, fh = frame_size
    yuyv = np.random.default_rng(fw).integers(16, 240, (fh, fw, 2), dtype=np.uint8)
    src = Pitched(fh, fw * 2).set(yuyv)
    _, blob, _, guide, _ = _run(emu, "vcam_pre_yuyv", (src.buf, src.pitch), frame_size, internal)
    ref_blob, ref_guide, _ = _reference(cv2.cvtColor(yuyv, cv2.COLOR_YUV2BGR_YUYV), internal)
    np.testing.assert_array_equal(blob, ref_blob)
    np.testing.assert_array_equal(guide, ref_guide)


@pytest.mark.parametrize(("frame_size", "internal", "mode"),
                         [c for c in CASES if c[0][0] % 2 == 0 and c[0][1] % 2 == 0])
def test_kernel_pre_nv12_equals_reference_of_converted_frame(emu, frame_size, internal, mode):
    fw, fh = frame_size
    nv12 = np.random.default_rng(fh).integers(16, 240, (fh * 3 // 2, fw), dtype=np.uint8)
    ys = Pitched(fh, fw).set(nv12[:fh])
    uv = Pitched(fh // 2, fw, pitch=fw + 32).set(nv12[fh:])
    _, blob, _, guide, _ = _run(emu, "vcam_pre_nv12", (ys.buf, ys.pitch, uv.buf, uv.pitch), frame_size, internal)
    ref_blob, ref_guide, _ = _reference(cv2.cvtColor(nv12, cv2.COLOR_YUV2BGR_NV12), internal)
    np.testing.assert_array_equal(blob, ref_blob)
    np.testing.assert_array_equal(guide, ref_guide)


def test_kernel_pre_optional_outputs_may_be_null(emu):
    """Only the fp16 blob requested: nothing else is written (null pointers are skipped, not dereferenced)."""
    fw, fh, w, h = 128, 72, 64, 36
    bgr = _frame(fw, fh, 1)
    src = Pitched(fh, fw * 3).set(bgr)
    plan = plan_resize(Size(fw, fh), Size(w, h))
    half = np.zeros((3, h, w), np.float16)
    launch2d(emu("preprocess.cu"), "vcam_pre_bgr", w, h, src.buf, src.pitch, fw, fh, plan.halvings, plan.mode, w, h,
             w, h, 0, half, 0, 0, 0)
    ref_blob, _, _ = _reference(bgr, (w, h))
    assert ulp_diff_fp16(half, ref_blob.astype(np.float16)) <= 1
