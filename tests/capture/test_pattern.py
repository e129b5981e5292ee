import time

import numpy as np
import pytest

from vcam.capture.pattern import PatternSource
from vcam.config import Size


def test_same_index_and_size_give_the_same_frame():
    a = PatternSource(Size(320, 180), fps=30)
    b = PatternSource(Size(320, 180), fps=30)
    assert np.array_equal(a.render(17), b.render(17))
    assert np.array_equal(a.render(17), a.render(17))


def test_read_walks_the_frames_in_order_from_zero():
    src = PatternSource(Size(160, 90), paced=False)
    src.open()
    frames = [src.read() for _ in range(3)]
    for i, f in enumerate(frames):
        assert np.array_equal(f, src.render(i))
    src.open()   # reopening starts over
    assert np.array_equal(src.read(), frames[0])


def test_the_scene_moves_every_frame_and_in_many_places():
    src = PatternSource(Size(320, 180), fps=30, paced=False)
    src.open()
    frames = [src.read() for _ in range(12)]
    for prev, cur in zip(frames, frames[1:], strict=False):
        assert not np.array_equal(prev, cur)
    changed = np.any(frames[0] != frames[-1], axis=2)
    # motion is not confined to one spot: it shows up in each third of the picture
    for third in np.array_split(changed, 3, axis=1):
        assert third.any()
    assert changed.mean() > 0.02


def test_frames_are_fresh_bgr_arrays_of_the_requested_size():
    for size in (Size(16, 16), Size(641, 361), Size(1280, 720)):
        src = PatternSource(size, paced=False)
        src.open()
        img = src.read()
        assert img.shape == (size.height, size.width, 3) and img.dtype == np.uint8
        assert img.flags.c_contiguous
        assert not np.shares_memory(img, src.read())   # frames go to other threads: never a reused buffer


def test_paced_pattern_is_live_and_delivers_no_faster_than_its_fps():
    fps = 50.0
    src = PatternSource(Size(64, 36), fps=fps, paced=True)
    assert src.live and not PatternSource(paced=False).live
    src.open()
    t0 = time.perf_counter()
    for _ in range(6):
        src.read()
    assert time.perf_counter() - t0 >= 5 / fps * 0.95


@pytest.mark.parametrize("fps", [0.0, -5.0])
def test_bad_fps_falls_back_to_a_usable_rate(fps):
    assert PatternSource(Size(64, 36), fps=fps).nominal_fps > 0
