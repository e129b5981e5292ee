"""The fast guided filter against a plain float64 implementation of the same math, its strength endpoints, its
banded/threaded paths, and that it keeps camera detail that bilinear upsampling loses."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from vcam.config import Size
from vcam.ops.guided import GuidedUpsampler, guided_reference, plan_bands
from vcam.ops.preprocess import Preprocessor

SIZES = [  # (full, low): even and odd, exact and inexact height ratios, tiny
    (Size(640, 360), Size(160, 90)),
    (Size(640, 360), Size(192, 108)),
    (Size(853, 480), Size(213, 120)),
    (Size(101, 77), Size(33, 25)),
    (Size(64, 48), Size(64, 48)),
]


def _scene(size: Size, seed: int = 0) -> np.ndarray:
    """A synthetic frame with hard edges, gradients and noise (no data files needed)."""
    rng = np.random.default_rng(seed)
    w, h = size.width, size.height
    x = np.linspace(0, 1, w, dtype=np.float32)[None, :, None]
    y = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    img = np.concatenate([x * 200 + 20 + 0 * y, y * 180 + 40 + 0 * x, (x + y) * 100 + 10], axis=2)
    img = np.broadcast_to(img, (h, w, 3)).copy()
    cv2.rectangle(img, (w // 4, h // 4), (w // 2, 3 * h // 4), (250, 30, 60), -1)
    cv2.circle(img, (3 * w // 4, h // 2), max(2, h // 5), (10, 220, 240), -1)
    img += rng.normal(0, 4, img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def _inputs(full: Size, low: Size, seed: int = 0):
    frame = _scene(full, seed)
    pre = Preprocessor(full, low)
    pre(frame)
    rng = np.random.default_rng(seed + 1)
    # A plausible "network output": the low-res frame with a colour twist plus texture.
    rgb = pre.blob[0]
    styl = np.clip(rgb[[1, 2, 0]] * 0.8 + 0.1 + rng.normal(0, 0.05, rgb.shape), 0, 1).astype(np.float32)[None]
    gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    return frame, pre.guide.copy(), styl, gray


@pytest.mark.parametrize("full,low", SIZES, ids=lambda s: str(s))
@pytest.mark.parametrize("strength", [1.0, 0.55])
def test_matches_float64_reference(full: Size, low: Size, strength: float) -> None:
    frame, guide, styl, gray = _inputs(full, low)
    up = GuidedUpsampler(low, full)
    out = up(styl, guide, frame, strength)
    ref = guided_reference(styl, guide, gray, frame, strength)
    diff = np.abs(out.astype(np.int16) - ref)
    assert out.shape == (full.height, full.width, 3) and out.dtype == np.uint8
    assert diff.max() <= 1                      # float32 vs float64 rounding at .5 boundaries only
    assert (diff > 0).mean() < 1e-3


def test_strength_zero_returns_the_frame_exactly() -> None:
    full, low = SIZES[2]
    frame, guide, styl, _ = _inputs(full, low)
    out = GuidedUpsampler(low, full)(styl, guide, frame, 0.0)
    assert np.array_equal(out, frame)


def test_strength_one_is_the_filter_output() -> None:
    full, low = SIZES[0]
    frame, guide, styl, gray = _inputs(full, low, seed=3)
    out = GuidedUpsampler(low, full)(styl, guide, frame, 1.0)
    ref = guided_reference(styl, guide, gray, frame, 1.0)
    assert np.abs(out.astype(np.int16) - ref).max() <= 1
    # ...and it is not the frame: the colour twist of the fake network output must show.
    assert np.abs(out.astype(np.int16) - frame).mean() > 10


@pytest.mark.parametrize("full,low", SIZES[:3], ids=lambda s: str(s))
def test_bands_and_threads_are_bit_identical_to_one_pass(full: Size, low: Size) -> None:
    frame, guide, styl, _ = _inputs(full, low, seed=5)
    whole = GuidedUpsampler(low, full, band_rows=0)(styl, guide, frame, 0.7)
    banded = GuidedUpsampler(low, full)
    two = GuidedUpsampler(low, full, threads=2)
    try:
        assert np.array_equal(banded(styl, guide, frame, 0.7), whole)
        assert np.array_equal(two(styl, guide, frame, 0.7), whole)
    finally:
        two.close()


def test_band_plan_covers_every_row_once() -> None:
    for h, H in ((180, 720), (216, 720), (270, 1080), (120, 480), (25, 77)):
        bands = plan_bands(h, H)
        covered = [r for i0, i1, _, _ in bands for r in range(i0, i1)]
        assert covered == list(range(h))
        for i0, i1, lo, hi in bands:
            assert lo <= i0 < i1 <= hi
    assert len(plan_bands(180, 720)) > 1          # ratio 4: banded
    assert len(plan_bands(25, 77)) == 1           # ratio 77/25: one pass


def test_rejects_mismatched_shapes() -> None:
    full, low = SIZES[0]
    frame, guide, styl, _ = _inputs(full, low)
    up = GuidedUpsampler(low, full)
    with pytest.raises(ValueError):
        up(styl, guide[:-1], frame, 1.0)
    with pytest.raises(ValueError):
        up(styl, guide, frame[:-1], 1.0)


def _edge_energy(img: np.ndarray) -> float:
    g = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY).astype(np.float32)
    return float(np.mean(np.abs(cv2.Laplacian(g, cv2.CV_32F))))


def test_keeps_camera_detail_that_bilinear_loses(shared_data) -> None:
    """With an identity "stylization", guided upsampling must restore the photo's edges from the guide:
    sharper than bilinear upsampling of the low-res output, and closer to the full-res original."""
    photo = cv2.imread(str(shared_data / "content" / "chelsea.jpg"))
    assert photo is not None
    full, low = Size(1280, 720), Size(320, 180)
    frame = cv2.resize(photo, (full.width, full.height), interpolation=cv2.INTER_AREA)
    pre = Preprocessor(full, low)
    styl = pre(frame).copy()
    guided = GuidedUpsampler(low, full)(styl, pre.guide, frame, 1.0)
    low_bgr = np.clip(np.rint(styl[0, ::-1].transpose(1, 2, 0) * 255), 0, 255).astype(np.uint8)
    bilinear = cv2.resize(low_bgr, (full.width, full.height), interpolation=cv2.INTER_LINEAR)
    assert _edge_energy(guided) > 1.3 * _edge_energy(bilinear)
    assert cv2.PSNR(guided, frame) > cv2.PSNR(bilinear, frame) + 1.0
