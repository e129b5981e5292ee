"""PersonSegmenter on the tiny onnx.helper segmenter: both runtimes, any frame size, reused buffers, and clear errors
for a missing, corrupt or foreign person.onnx."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tiny_person import person_frame, write_tiny_person

from vcam.errors import ModelError
from vcam.person import PersonSegmenter, check_person_model, person_model_path
from vcam.styles import load_manifest

RUNTIMES = ["onnxruntime", pytest.param("openvino", marks=pytest.mark.skipif(
    __import__("importlib").util.find_spec("openvino") is None, reason="OpenVINO not installed"))]


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("size", [(1280, 720), (333, 187), (640, 480)])
def test_matte_marks_the_person_at_any_frame_size(person_onnx, runtime, size) -> None:
    w, h = size
    box = (w // 4, h // 4, 3 * w // 4, h)            # x0, y0, x1, y1: a "person" from the middle to the bottom
    seg = PersonSegmenter(person_onnx, runtime=runtime)
    try:
        assert seg.runtime == runtime and seg.threads == 1
        m = seg(person_frame(h, w, box))
        assert m.shape == (144, 256) and m.dtype == np.float32
        # The frame is stretched to 256x144: the box lands at the same fractions of the matte.
        assert m[100:140, 80:176].min() > 0.99
        assert m[:30].max() < 0.01 and m[:, :55].max() < 0.01
        again = seg(person_frame(h, w, (0, 0, 0, 0)))   # nobody
        assert again is m and m.max() < 0.01            # the same buffer, refilled
    finally:
        seg.close()


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_a_graph_with_dynamic_dims_runs_at_the_fixed_size(tmp_path, runtime) -> None:
    seg = PersonSegmenter(write_tiny_person(tmp_path / "dyn.onnx", dynamic=True), runtime=runtime)
    try:
        assert seg(person_frame(360, 640, (0, 0, 640, 360))).min() > 0.99
    finally:
        seg.close()


def _says_plain_styles_still_run(exc: ModelError, path: Path) -> None:
    assert str(path) in exc.message
    assert "Person options" in exc.hint and "plain styles still run" in exc.hint


def test_missing_file_is_a_clear_error(tmp_path) -> None:
    path = tmp_path / "person.onnx"
    with pytest.raises(ModelError) as info:
        PersonSegmenter(path)
    _says_plain_styles_still_run(info.value, path)
    assert "missing" in info.value.message


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_corrupt_file_is_a_clear_error(tmp_path, person_onnx, runtime, damage) -> None:
    path = tmp_path / "person.onnx"
    data = person_onnx.read_bytes()
    path.write_bytes({"garbage": b"\x00not an onnx file" * 50, "truncated": data[: len(data) // 2],
                      "empty": b""}[damage])
    with pytest.raises(ModelError) as info:
        PersonSegmenter(path, runtime=runtime)
    _says_plain_styles_still_run(info.value, path)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_a_graph_with_other_names_or_shapes_is_refused(tmp_path, runtime) -> None:
    with pytest.raises(ModelError, match="expects"):
        PersonSegmenter(write_tiny_person(tmp_path / "names.onnx", names=("input", "output")), runtime=runtime)
    # A static graph at another size: build one by editing the tiny graph's declared input shape.
    import onnx

    model = onnx.load(str(write_tiny_person(tmp_path / "p.onnx")))
    for port in (model.graph.input[0], model.graph.output[0]):
        port.type.tensor_type.shape.dim[3].dim_value = 128
    onnx.save(model, str(tmp_path / "small.onnx"))
    with pytest.raises(ModelError, match="shape"):
        PersonSegmenter(tmp_path / "small.onnx", runtime=runtime)


def test_hash_recorded_in_the_manifest_is_checked(tmp_path, person_onnx) -> None:
    with pytest.raises(ModelError, match="does not match"):
        check_person_model(person_onnx, "0" * 64)
    assert check_person_model(person_onnx) == person_onnx


def test_the_model_is_found_beside_the_style_model(style_model, tmp_path) -> None:
    manifest = load_manifest(style_model)
    path, sha = person_model_path(manifest)
    assert path == style_model / "person.onnx" and sha and check_person_model(path, sha) == path
    assert person_model_path(manifest, tmp_path / "mine.onnx") == (tmp_path / "mine.onnx", None)
