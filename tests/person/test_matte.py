"""MatteTracker: a still edge does not shimmer, a moving one follows in the same frame, scene cuts start afresh, and
the refinement puts the edge where the camera frame has it."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from vcam.person.matte import MatteTracker

h, w = 144, 256


def _scene(x_edge: float, noise: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A low-res guide (bright person right of ``x_edge`` on a dark room) and the matte a network would give for it:
    the same step, softened, plus jitter on the edge band when ``noise`` is given."""
    xs = np.arange(w, dtype=np.float32)[None, :].repeat(h, 0)
    guide = np.where(xs >= x_edge, 0.8, 0.2).astype(np.float32)
    matte = cv2.GaussianBlur((xs >= x_edge).astype(np.float32), (0, 0), 1.0)
    if noise is not None:
        band = (matte > 0.05) & (matte < 0.95)
        band = cv2.dilate(band.astype(np.uint8), np.ones((1, 5), np.uint8)) > 0
        matte = np.clip(matte + band * noise.uniform(-0.25, 0.25, matte.shape).astype(np.float32), 0, 1)
    return guide, matte.astype(np.float32)


def test_a_still_edge_does_not_shimmer() -> None:
    rng = np.random.default_rng(0)
    t = MatteTracker()
    raw_change, smooth_change, prev_raw, prev_smooth = [], [], None, None
    for _ in range(30):
        guide, matte = _scene(128, rng)           # the frame is still; only the network's answer jitters
        state = t.update(matte, guide).copy()
        if prev_raw is not None:
            raw_change.append(np.abs(matte - prev_raw).mean())
            smooth_change.append(np.abs(state - prev_smooth).mean())
        prev_raw, prev_smooth = matte, state
    # After the first frames settle, the shown matte changes far less than the network's own jitter.
    assert np.mean(smooth_change[10:]) < 0.3 * np.mean(raw_change[10:])


def test_a_moving_edge_follows_in_the_same_frame() -> None:
    t = MatteTracker()
    for x in (100, 100, 100, 108, 116, 124):       # a still start, then 8 low-res px (40 px at 720p) a frame
        guide, matte = _scene(x)
        state = t.update(matte, guide)
        # No lag and no ghost: where the person moved the matte is the new one, not an average with the old.
        assert np.abs(state - matte).max() < 0.05, x


def test_a_person_the_colour_of_the_room_still_moves_the_matte() -> None:
    # The gray barely changes, but the network's answer does: the matte-change vote carries the move.
    t = MatteTracker()
    flat = np.full((h, w), 0.5, np.float32)
    for x in (100, 100, 120):
        _, matte = _scene(x)
        state = t.update(matte, flat)
    assert np.abs(state - matte)[:, 100:120].mean() < 0.05


def test_a_scene_cut_starts_again_from_the_new_matte() -> None:
    t = MatteTracker()
    guide, matte = _scene(128)
    thumb = np.full((36, 64), 60, np.uint8)
    for _ in range(5):
        t.update(matte, guide, thumb)
    cut_guide = 1.0 - guide
    _, new = _scene(40)
    new = new * 0.6                                 # a change small enough to be smoothed were it not a cut
    state = t.update(new, cut_guide, np.full((36, 64), 200, np.uint8))
    np.testing.assert_allclose(state, new, atol=1e-6)


def test_reset_starts_again_from_the_new_matte() -> None:
    t = MatteTracker()
    guide, matte = _scene(128)
    t.update(matte, guide)
    t.reset()
    state = t.update(matte * 0.5, guide)
    np.testing.assert_allclose(state, matte * 0.5, atol=1e-6)


def test_refinement_puts_the_edge_on_the_frames_edge() -> None:
    H, W, x_true = 720, 1280, 643                   # 643 / 5 = 128.6: between two low-res pixels
    frame = np.full((H, W, 3), 50, np.uint8)
    frame[:, x_true:] = 200
    small = cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA)
    guide = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY).astype(np.float32) / 255
    low = np.zeros((h, w), np.float32)
    low[:, 130:] = 1                                # the network's edge 1.4 low-res px (7 px) off, and soft
    low = cv2.GaussianBlur(low, (0, 0), 1.0)
    t = MatteTracker()
    t.update(low, guide)
    refined = t.refine(frame, guide)
    plain = cv2.resize(low, (W, H), interpolation=cv2.INTER_LINEAR)
    cross = lambda m: int(np.argmax(m[H // 2] > 0.5))  # noqa: E731
    assert abs(cross(refined) - x_true) <= 3 < abs(cross(plain) - x_true)
    assert refined[H // 2, x_true] - refined[H // 2, x_true - 1] > 0.3    # a step where the frame steps
    assert refined.min() >= 0.0 and refined.max() <= 1.0 and refined.dtype == np.float32


def test_buffers_are_reused_and_follow_a_size_change() -> None:
    t = MatteTracker()
    guide, matte = _scene(128)
    frame = np.zeros((187, 333, 3), np.uint8)
    a = t.update(matte, guide)
    r1 = t.refine(frame, guide)
    b = t.update(matte, guide)
    r2 = t.refine(frame, guide)
    assert a is b and r1 is r2 and r1.shape == (187, 333)
    r3 = t.refine(np.zeros((480, 640, 3), np.uint8), guide)
    assert r3.shape == (480, 640)


def test_bad_shapes_are_refused() -> None:
    t = MatteTracker()
    with pytest.raises(ValueError):
        t.update(np.zeros((h, w), np.float32), np.zeros((h, w + 1), np.float32))
    with pytest.raises(RuntimeError):
        MatteTracker().refine(np.zeros((10, 10, 3), np.uint8), np.zeros((h, w), np.float32))
