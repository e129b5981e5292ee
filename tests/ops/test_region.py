"""The per-pixel person/background strength blend (vcam.ops.region)."""

from __future__ import annotations

import tracemalloc

import cv2
import numpy as np
import pytest

from vcam.ops.region import RegionBlender, region_blend_reference, uniform_blend

H, W = 187, 333     # odd on purpose


@pytest.fixture(scope="module")
def images() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (H, W, 3), np.uint8), rng.integers(0, 256, (H, W, 3), np.uint8)


def _box_matte(value: float = 1.0) -> tuple[np.ndarray, tuple[slice, slice]]:
    m = np.zeros((H, W), np.float32)
    box = (slice(40, 150), slice(100, 230))
    m[box] = value
    return m, box


@pytest.mark.parametrize("s", [0.0, 0.3, 0.5, 1.0])
def test_equal_strengths_are_the_uniform_blend_and_ignore_the_matte(images, s) -> None:
    frame, styl = images
    want = cv2.addWeighted(styl, s, frame, 1.0 - s, 0.0) if 0 < s < 1 else (styl if s == 1 else frame)
    blend = RegionBlender()
    assert np.array_equal(blend(frame, styl, None, s, s), want)       # no matte needed
    rng = np.random.default_rng(1)
    assert np.array_equal(blend(frame, styl, rng.random((H, W), dtype=np.float32), s, s), want)
    assert np.array_equal(uniform_blend(frame, styl, s, np.empty_like(frame)), want)
    assert blend._shape is None          # the weight maps were never even allocated


def test_background_region_keeps_the_person_exactly_and_paints_the_rest(images) -> None:
    frame, styl = images
    m, box = _box_matte()
    out = RegionBlender()(frame, styl, m, person=0.0, background=1.0)
    assert np.array_equal(out[box], frame[box])
    rest = m < 0.5
    assert np.array_equal(out[rest], styl[rest])


def test_person_region_is_the_reverse(images) -> None:
    frame, styl = images
    m, box = _box_matte()
    out = RegionBlender()(frame, styl, m, person=1.0, background=0.0)
    assert np.array_equal(out[box], styl[box])
    rest = m < 0.5
    assert np.array_equal(out[rest], frame[rest])


def test_soft_matte_and_partial_strengths_follow_the_formula(images) -> None:
    frame, styl = images
    rng = np.random.default_rng(2)
    m = cv2.GaussianBlur(rng.random((H, W), dtype=np.float32), (0, 0), 3)
    m = (m - m.min()) / (m.max() - m.min())
    for sp, sb in ((0.2, 0.9), (1.0, 0.0), (0.7, 0.3)):
        out = RegionBlender()(frame, styl, m, sp, sb)
        ref = region_blend_reference(frame, styl, m, sp, sb)
        assert np.abs(out.astype(int) - ref.astype(int)).max() <= 1


def test_buffers_are_reused_and_nothing_frame_sized_is_allocated(images) -> None:
    frame, styl = images
    m, _ = _box_matte()
    blend, out = RegionBlender(), np.empty_like(frame)
    blend(frame, styl, m, 0.0, 1.0, out=out)
    ws = blend._w_styl
    tracemalloc.start()
    try:
        for _ in range(5):
            assert blend(frame, styl, m, 0.0, 1.0, out=out) is out
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert blend._w_styl is ws
    assert peak < H * W // 4, f"{peak} bytes allocated per steady-state blend"


def test_bad_inputs_are_refused(images) -> None:
    frame, styl = images
    with pytest.raises(ValueError):
        RegionBlender()(frame, styl, None, 0.0, 1.0)                      # a matte is needed when they differ
    with pytest.raises(ValueError):
        RegionBlender()(frame, styl[:-1], np.zeros((H, W), np.float32), 0.0, 1.0)
