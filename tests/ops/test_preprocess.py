"""Pre-processing: layout (NCHW, RGB), values (uint8 / 255), padding, guide and thumbnail, buffer reuse."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from vcam.config import Size
from vcam.ops import params
from vcam.ops.preprocess import Preprocessor, to_blob


def _frame(w: int, h: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_layout_and_values_at_the_same_size() -> None:
    frame = _frame(40, 24)
    blob = to_blob(frame)
    assert blob.shape == (1, 3, 24, 40) and blob.dtype == np.float32
    # channel 0 is red: the frame's BGR channel 2
    for c, src in enumerate((2, 1, 0)):
        np.testing.assert_array_equal(blob[0, c], frame[:, :, src].astype(np.float32) * np.float32(1 / 255))
    assert blob.min() >= 0.0 and blob.max() <= 1.0


@pytest.mark.parametrize("full,internal", [(Size(1280, 720), Size(320, 180)), (Size(1280, 720), Size(384, 216)),
                                           (Size(853, 480), Size(213, 120)), (Size(640, 360), Size(160, 90))],
                         ids=str)
def test_downscale_matches_area_resampling(full: Size, internal: Size) -> None:
    frame = cv2.GaussianBlur(_frame(full.width, full.height, 1), (0, 0), 3)   # smooth content: filters agree
    pre = Preprocessor(full, internal)
    blob = pre(frame)
    ref = cv2.resize(frame, (internal.width, internal.height), interpolation=cv2.INTER_AREA)
    got = np.rint(blob[0, ::-1].transpose(1, 2, 0) * 255).astype(np.int16)
    assert np.abs(got - ref).mean() < 1.0
    np.testing.assert_allclose(pre.guide, cv2.cvtColor(pre.small, cv2.COLOR_BGR2GRAY) / 255.0, atol=1e-6)
    assert pre.thumb.shape == (params.SCENE.thumb_height, params.SCENE.thumb_width)


def test_padding_mirrors_the_edge_and_keeps_the_top_left() -> None:
    full, internal, padded = Size(100, 70), Size(50, 35), Size(52, 36)
    frame = _frame(full.width, full.height, 2)
    pre = Preprocessor(full, internal, padded)
    blob = pre(frame)
    assert blob.shape == (1, 3, 36, 52)
    inner = blob[0, :, :35, :50]
    np.testing.assert_array_equal(inner, np.ascontiguousarray(pre.small[:, :, ::-1].transpose(2, 0, 1)) *
                                  np.float32(1 / 255))
    np.testing.assert_array_equal(blob[0, :, 35, :50], blob[0, :, 33, :50])      # reflect-101 row
    np.testing.assert_array_equal(blob[0, :, :35, 50], blob[0, :, :35, 48])      # and columns
    np.testing.assert_array_equal(blob[0, :, :35, 51], blob[0, :, :35, 47])


def test_buffers_are_reused_and_inputs_checked() -> None:
    pre = Preprocessor(Size(64, 48), Size(32, 24))
    a = pre(_frame(64, 48, 3))
    b = pre(_frame(64, 48, 4))
    assert a is b
    with pytest.raises(ValueError):
        pre(_frame(48, 64))


def test_params_export_json_and_header(tmp_path) -> None:
    d = params.as_dict()
    assert json.loads(json.dumps(d)) == d
    assert d["guided"]["radius"] == params.GUIDED.radius
    header = tmp_path / "p.h"
    assert params.main(["--header", str(header)]) == 0
    text = header.read_text()
    assert f"#define VCAM_GF_RADIUS {params.GUIDED.radius}" in text
    assert f"#define VCAM_GF_EPS {params.GUIDED.eps!r}f" in text
