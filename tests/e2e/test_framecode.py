"""The frame code the e2e test relies on: it must survive what a virtual camera does to frames and catch tears."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from . import framecode as fc


def _i420_round_trip(bgr: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420), cv2.COLOR_YUV2BGR_I420)


@pytest.mark.parametrize("i", [0, 1, 37, 511, 1023])
def test_round_trip_through_i420(i: int) -> None:
    img = _i420_round_trip(fc.make_frame(i, 320, 240))
    assert fc.decode(img).index == i
    mean, worst = fc.content_error(img, i)
    assert mean < 2.0 and worst < 6.0


def test_survives_blur_and_colour_shift() -> None:
    img = fc.make_frame(300, 320, 240).astype(np.float32)
    img = cv2.GaussianBlur(img, (9, 9), 3) * np.array([0.7, 1.1, 0.9]) + 20
    assert fc.decode(np.clip(img, 0, 255).astype(np.uint8)).index == 300


def test_torn_frame_is_rejected_not_misread() -> None:
    a, b = fc.make_frame(5, 320, 240), fc.make_frame(6, 320, 240)
    torn = a.copy()
    torn[48:] = b[48:]   # a tear through the code rows
    assert fc.decode(torn).index is None


def test_wrong_content_is_measured() -> None:
    img = fc.make_frame(9, 320, 240)
    swapped = np.ascontiguousarray(img[:, :, ::-1])   # RGB sent as BGR
    assert fc.content_error(swapped, 9)[0] > 10
    assert fc.content_error(fc.make_frame(10, 320, 240), 9)[1] > 10   # the gradient moves with the frame number


def test_clip_is_lossless(tmp_path) -> None:
    path = fc.write_clip(tmp_path / "clip.avi", 4, 320, 240, 15)
    cap = cv2.VideoCapture(str(path))
    got = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        got.append(frame)
    assert [fc.decode(f).index for f in got] == [0, 1, 2, 3]
    assert all(fc.content_error(f, i)[0] == 0 for i, f in enumerate(got))
