"""CpuEngine in person-aware mode, on the tiny "invert" style model (fully stylized = 255 - frame) and the tiny red
segmenter: the regions, the live switch, zero cost when off, nobody in view, walking in and out, a hand in front
of the face, several people, odd frame sizes, and a missing or corrupt person.onnx."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from tiny_person import person_frame

from vcam.config import RunConfig, Size
from vcam.control.state import ControlState
from vcam.engines.cpu import CpuEngine
from vcam.errors import ModelError
from vcam.styles import load_manifest

SIZE = Size(320, 180)
BOX = (100, 40, 220, 180)          # x0, y0, x1, y1 of the red "person"


def _engine(model: Path, size: Size = SIZE, **kw) -> CpuEngine:
    cfg = replace(RunConfig(size=size, threads=1, adaptive=False), **kw)
    return CpuEngine(load_manifest(model), cfg, runtime="onnxruntime")


def _cs(person: float | None = None, background: float | None = None, strength: float = 1.0) -> ControlState:
    return ControlState(weights={"invert": 1.0}, strength=strength, person_strength=person,
                        background_strength=background)


def _inside(box: tuple[int, int, int, int], margin: int = 8) -> tuple[slice, slice]:
    x0, y0, x1, y1 = box
    return slice(y0 + margin, y1 - margin), slice(x0 + margin, x1 - margin)


def _far_from(box: tuple[int, int, int, int]) -> tuple[slice, slice]:
    return slice(0, box[1] - 12), slice(0, None)


def test_background_region_keeps_the_person_and_paints_the_room(style_model) -> None:
    eng = _engine(style_model, region="background")
    try:
        assert eng.person.ready                        # a person option loads the segmenter at start
        frame = person_frame(SIZE.height, SIZE.width, BOX)
        for _ in range(3):
            out = eng.step(frame, _cs(person=0.0))
        diff = np.abs(out.astype(int) - frame.astype(int))
        assert diff[_inside(BOX)].max() <= 3           # the person's pixels: the camera's, within a few levels
        styled = 255 - frame.astype(int)
        assert np.abs(out.astype(int) - styled)[_far_from(BOX)].max() <= 3   # the room: fully painted
        assert eng.timings["person"] > 0
    finally:
        eng.close()


def test_person_region_paints_only_the_person(style_model) -> None:
    eng = _engine(style_model, region="person")
    try:
        frame = person_frame(SIZE.height, SIZE.width, BOX)
        for _ in range(3):
            out = eng.step(frame, _cs(background=0.0))
        assert np.abs(out.astype(int) - (255 - frame.astype(int)))[_inside(BOX)].max() <= 3
        assert np.abs(out.astype(int) - frame.astype(int))[_far_from(BOX)].max() <= 3
    finally:
        eng.close()


def test_without_person_options_nothing_is_loaded_or_spent(style_model) -> None:
    eng = _engine(style_model)
    try:
        frame = person_frame(SIZE.height, SIZE.width, BOX)
        out = eng.step(frame, _cs()).copy()
        assert not eng.person.ready and "person" not in eng.timings
        assert np.abs(out.astype(int) - (255 - frame.astype(int))).max() <= 1
        # Person mode switched on live: loaded on first use, then the regions apply.
        for _ in range(3):
            out = eng.step(frame, _cs(person=0.0, background=1.0))
        assert eng.person.ready
        assert np.abs(out.astype(int) - frame.astype(int))[_inside(BOX)].max() <= 3
        # And off again: the uniform blend, no matte work.
        out = eng.step(frame, _cs())
        assert "person" not in eng.timings
        assert np.abs(out.astype(int) - (255 - frame.astype(int))).max() <= 1
    finally:
        eng.close()


def test_nobody_in_view_background_mode_paints_everything_steadily(style_model) -> None:
    eng = _engine(style_model, region="background")
    try:
        empty = person_frame(SIZE.height, SIZE.width, (0, 0, 0, 0))
        outs = [eng.step(empty, _cs(person=0.0)).astype(int) for _ in range(4)]
        for out in outs:
            assert np.abs(out - (255 - empty.astype(int))).max() <= 3
        assert max(np.abs(a - b).max() for a, b in zip(outs, outs[1:], strict=False)) <= 1
    finally:
        eng.close()


def test_a_person_walking_in_and_out_is_followed_without_a_ghost(style_model) -> None:
    eng = _engine(style_model, region="background")
    try:
        for x0 in (-120, -60, 0, 60, 120, 180, 240, 320, 400):     # from off the left edge to off the right
            box = (max(x0, 0), 40, max(min(x0 + 120, SIZE.width), 0), 180)
            frame = person_frame(SIZE.height, SIZE.width, box)
            out = eng.step(frame, _cs(person=0.0)).astype(int)
            if box[2] - box[0] > 40:
                assert np.abs(out - frame.astype(int))[_inside(box)].max() <= 6, x0
            # Where the person was a frame ago and is no more, the room is painted again at once.
            assert np.abs(out - (255 - frame.astype(int)))[_far_from(box)].max() <= 3, x0
        assert np.abs(out - (255 - frame.astype(int))).max() <= 3          # gone: everything painted
    finally:
        eng.close()


def test_several_people_and_a_hand_in_front_of_the_face(style_model) -> None:
    eng = _engine(style_model, region="background")
    try:
        boxes = [(20, 60, 100, 180), (140, 50, 200, 180), (240, 70, 310, 180)]
        frame = person_frame(SIZE.height, SIZE.width, boxes[0])
        for b in boxes[1:]:
            frame[b[1]:b[3], b[0]:b[2]] = (0, 0, 255)
        for _ in range(3):
            out = eng.step(frame, _cs(person=0.0)).astype(int)
        for b in boxes:
            assert np.abs(out - frame.astype(int))[_inside(b, 6)].max() <= 3, b
        # A hand (also "person") moves across the face: face and hand stay natural in every frame.
        for x in (120, 140, 160):
            f = person_frame(SIZE.height, SIZE.width, BOX)
            f[70:110, x:x + 40] = (0, 0, 255)
            out = eng.step(f, _cs(person=0.0)).astype(int)
            assert np.abs(out - f.astype(int))[_inside(BOX)].max() <= 3, x
    finally:
        eng.close()


@pytest.mark.parametrize("size", [Size(333, 187), Size(640, 480), Size(64, 48)])
def test_odd_frame_sizes(style_model, size) -> None:
    eng = _engine(style_model, size=size, region="background")
    try:
        w, h = size.width, size.height
        box = (w // 3, h // 4, 2 * w // 3, h)
        frame = person_frame(h, w, box)
        for _ in range(3):
            out = eng.step(frame, _cs(person=0.0))
        assert out.shape == frame.shape
        m = max(2, min(w, h) // 12)
        assert np.abs(out.astype(int) - frame.astype(int))[_inside(box, m)].max() <= 4
    finally:
        eng.close()


def _copy_without_person(style_model: Path, tmp_path: Path, damage: bytes | None) -> Path:
    d = tmp_path / "model"
    shutil.copytree(style_model, d)
    if damage is None:
        (d / "person.onnx").unlink()
    else:
        (d / "person.onnx").write_bytes(damage)
    return d


@pytest.mark.parametrize("damage", [None, b"not an onnx file"], ids=["missing", "corrupt"])
def test_a_missing_or_corrupt_segmenter_refuses_person_options_and_keeps_the_styles(style_model, tmp_path,
                                                                                    damage) -> None:
    d = _copy_without_person(style_model, tmp_path, damage)
    with pytest.raises(ModelError) as err:
        _engine(d, region="background")
    assert "person segmenter" in err.value.message and "vcam train --person" in (err.value.hint or "")
    eng = _engine(d)                       # the plain styles still run
    try:
        frame = person_frame(SIZE.height, SIZE.width, BOX)
        out = eng.step(frame, _cs(person=0.0))     # asked live: refused inside, the uniform blend stays
        assert not eng.person.ready and eng.person.error is not None
        assert np.abs(out.astype(int) - (255 - frame.astype(int))).max() <= 1
        with pytest.raises(ModelError):
            eng.load_person()
    finally:
        eng.close()


def test_a_picture_behind_the_person_is_painted_once(style_model) -> None:
    eng = _engine(style_model, region="background")
    try:
        frame = person_frame(SIZE.height, SIZE.width, BOX)
        picture = np.zeros((90, 400, 3), np.uint8)          # another aspect: covered (scaled and cropped), no bars
        picture[:, :200] = (10, 200, 30)
        picture[:, 200:] = (200, 20, 90)
        cs = replace(_cs(person=0.0), backdrop=picture, backdrop_token=1)
        for _ in range(5):
            out = eng.step(frame, cs).astype(int)
        assert eng._backdrop.repaints == 1                 # the still picture is stylized once, not per frame
        assert np.abs(out - frame.astype(int))[_inside(BOX)].max() <= 3          # the person as the camera sees them
        left, right = out[:20, :60], out[:20, -60:]          # the room is replaced by the painted ("inverted") picture
        assert np.abs(left - (255 - np.array([10, 200, 30]))).max() <= 3
        assert np.abs(right - (255 - np.array([200, 20, 90]))).max() <= 3
        # At background strength 0 the picture itself shows, unpainted.
        out = eng.step(frame, replace(cs, background_strength=0.0)).astype(int)
        assert np.abs(out[:20, :60] - np.array([10, 200, 30])).max() <= 3
        # A new picture repaints; clearing it brings the room back.
        eng.step(frame, replace(cs, backdrop=picture[:, ::-1].copy(), backdrop_token=2))
        assert eng._backdrop.repaints == 2
        out = eng.step(frame, _cs(person=0.0)).astype(int)
        assert not eng._backdrop.active
        assert np.abs(out - (255 - frame.astype(int)))[_far_from(BOX)].max() <= 3
    finally:
        eng.close()


def test_a_picture_behind_the_person_with_region_all_paints_both(style_model) -> None:
    eng = _engine(style_model, background=Path("unused.png"))      # --background turns person mode on at start
    try:
        assert eng.person.ready
        frame = person_frame(SIZE.height, SIZE.width, BOX)
        picture = np.full((180, 320, 3), 60, np.uint8)
        out = eng.step(frame, replace(_cs(), backdrop=picture, backdrop_token=1)).astype(int)
        assert np.abs(out - (255 - frame.astype(int)))[_inside(BOX)].max() <= 3   # the person painted
        assert np.abs(out[:20] - 195).max() <= 3                                    # on the painted picture
    finally:
        eng.close()
