"""Training: what it writes, that an interrupted run resumes to the same weights, that --add-style moves only the
new style's code, the teacher cache, the temporal terms' fade-in, and the refusal without the teacher. Tiny crops,
a tiny net and a few iterations: this checks the machinery, not the look (benchmarks/quality.py judges that)."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="model tests need the train extra (torch)")

from safetensors.torch import load_file  # noqa: E402
from tiny_model import TINY  # noqa: E402

from vcam.errors import VcamError  # noqa: E402
from vcam.model import train as T  # noqa: E402
from vcam.model.distill import CACHE_DIR  # noqa: E402

pytestmark = pytest.mark.slow


def _cfg(shared_data, out, **kw) -> T.TrainConfig:
    base = dict(style_dir=shared_data / "styles", content_dir=shared_data / "content", out=out,
                styles=("starry_night", "great_wave"), iterations=6, batch=1, crop=48, margin=8, cache_entries=6,
                photo_long_side=256, style_long_side=96, teacher_style_long_side=128, shape=TINY.as_dict(),
                threads=1, log_every=2, checkpoint_seconds=1e9)
    return T.TrainConfig(**{**base, **kw})


def test_ramp_fades_the_temporal_terms_in():
    span = (0.2, 0.6)
    assert T._ramp(0.0, span) == 0.0 and T._ramp(0.2, span) == 0.0
    assert T._ramp(0.4, span) == pytest.approx(0.5)
    assert T._ramp(0.6, span) == 1.0 and T._ramp(1.0, span) == 1.0
    assert T._ramp(0.5, (0.0, 0.0)) == 1.0          # an empty span: full weight from the start


def test_writes_weights_a_manifest_and_the_teacher_cache(shared_data, teacher_dir, tmp_path):
    out = tmp_path / "run"
    weights = T.train(_cfg(shared_data, out))
    assert weights == out / T.WEIGHTS
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [T.WEIGHTS, "manifest.json", T.CHECKPOINT, T.CHECKPOINT_META, CACHE_DIR])
    sd = load_file(str(weights))
    assert sd and all(torch.isfinite(v).all() for v in sd.values())
    assert sd["bank.codes"].shape == (2, TINY.code_dim)
    man = json.loads((out / "manifest.json").read_text())
    assert man["styles"] == ["starry_night", "great_wave"]
    assert man["training"]["iterations"] == 6 and man["net_shape"] == TINY.as_dict()
    assert {"pixel", "feature", "style", "temporal", "reconet"} <= set(man["training"]["final_losses"])
    cache = json.loads((out / CACHE_DIR / "cache.json").read_text())
    assert cache["done"] == 6 and cache["spec"]["size"] == 48 + 2 * 8


def test_the_cache_is_reused_and_rebuilt_when_its_settings_change(shared_data, teacher_dir, tmp_path):
    out = tmp_path / "run"
    T.train(_cfg(shared_data, out, iterations=1))
    crops = out / CACHE_DIR / "crops.npy"
    stamp = crops.stat().st_mtime_ns
    T.train(_cfg(shared_data, tmp_path / "run", iterations=2))          # resumes; same cache
    assert crops.stat().st_mtime_ns == stamp
    T.train(_cfg(shared_data, tmp_path / "run", iterations=3, teacher_style_long_side=96))
    assert json.loads((out / CACHE_DIR / "cache.json").read_text())["spec"]["style_long_side"] == 96


def test_an_interrupted_run_resumes_to_the_same_weights(shared_data, teacher_dir, tmp_path, monkeypatch):
    straight = T.train(_cfg(shared_data, tmp_path / "straight"))

    # Same run, cut off after step 4 (checkpointing after every step, as a long run does every few minutes).
    cut = _cfg(shared_data, tmp_path / "cut", checkpoint_seconds=0.0)
    real_update = T._Progress.update

    def update(self, done, step, info):
        if self.unit == "it" and step == 4:
            raise KeyboardInterrupt
        real_update(self, done, step, info)

    monkeypatch.setattr(T._Progress, "update", update)
    with pytest.raises(KeyboardInterrupt):
        T.train(cut)
    monkeypatch.setattr(T._Progress, "update", real_update)
    assert json.loads((cut.out / T.CHECKPOINT_META).read_text())["step"] == 3
    resumed = T.train(cut)

    a, b = load_file(str(straight)), load_file(str(resumed))
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(b[k], a[k], rtol=0, atol=1e-6, msg=k)


def test_add_style_moves_only_the_new_styles_code(shared_data, teacher_dir, tmp_path):
    base = T.train(_cfg(shared_data, tmp_path / "base", iterations=2))
    grown = T.train(_cfg(shared_data, tmp_path / "grown", styles=("starry_night", "great_wave", "the_scream"),
                         train_only_styles=("the_scream",), init_from=base, iterations=3))
    old, new = load_file(str(base)), load_file(str(grown))
    for k, v in old.items():
        if k == "bank.codes":
            torch.testing.assert_close(new[k][:2], v, rtol=0, atol=0)         # the shipped styles stay put
            assert not torch.equal(new[k][2], v.mean(0))                      # the new one moved from the mean
        else:
            torch.testing.assert_close(new[k], v, rtol=0, atol=0, msg=k)      # the network is frozen


def test_training_without_the_teacher_refuses_before_any_work(shared_data, tmp_path):
    out = tmp_path / "run"
    with pytest.raises(VcamError, match="MicroAST teacher"):
        T.train(_cfg(shared_data, out, teacher_dir=tmp_path / "no_teacher"))
    assert not (out / CACHE_DIR).exists()


def test_style_gain_and_zoom_train_and_an_unknown_style_is_refused(shared_data, teacher_dir, tmp_path):
    with pytest.raises(ValueError, match="unknown styles"):
        T.train(_cfg(shared_data, tmp_path / "bad", style_gain={"nope": 2.0}))
    out = tmp_path / "run"
    T.train(_cfg(shared_data, out, iterations=2, style_gain={"great_wave": 3.0}, flow_zoom=0.03, flow_rotate=0.02))
    settings = json.loads((out / "manifest.json").read_text())["training"]["settings"]
    assert settings["style_gain"] == {"great_wave": 3.0} and settings["flow_zoom"] == 0.03


def test_student_scales_run_the_student_smaller_and_judge_it_at_the_teachers_size(shared_data, teacher_dir,
                                                                                  tmp_path, monkeypatch):
    from vcam.model.network import StyleNet

    assert T.student_size(256, 0.5, 16) == 128 and T.student_size(256, 0.625, 16) == 160
    assert T.student_size(256, 0.75, 16) == 192 and T.student_size(48, 0.05, 8) == 8
    with pytest.raises(ValueError, match="student_scales"):
        T.train(_cfg(shared_data, tmp_path / "bad", student_scales=(1.5,)))
    assert not (tmp_path / "bad" / CACHE_DIR).exists()      # refused before the teacher cache
    seen: list[int] = []
    forward = StyleNet.forward

    def spy(self, x, *rest):
        seen.append(x.shape[-1])
        return forward(self, x, *rest)

    monkeypatch.setattr(StyleNet, "forward", spy)
    out = tmp_path / "run"
    T.train(_cfg(shared_data, out, iterations=3, student_scales=(0.5,)))
    assert seen and set(seen) == {T.student_size(48, 0.5, TINY.stride)} != {48}
    man = json.loads((out / "manifest.json").read_text())
    assert man["training"]["settings"]["student_scales"] == [0.5]
    assert all(np.isfinite(v) for k, v in man["training"]["final_losses"].items() if k not in ("step", "minutes"))


def test_style_encoder_trains_against_a_frozen_model_and_resumes(shared_data, teacher_dir, tmp_path):
    """The encoder's machinery on the shipped model (its network is frozen: the weights file is not touched): a short
    run writes safetensors weights with its iteration count, and the same command again resumes from the
    checkpoint (more iterations, the teacher cache reused, not rebuilt)."""
    from pathlib import Path

    from safetensors import safe_open

    from vcam.model.train_encoder import ENCODER_WEIGHTS, EncoderConfig, train_encoder

    models = Path(__file__).resolve().parents[2] / "models"
    if not (models / "vcam.safetensors").is_file():
        pytest.skip("models/ has no training weights")
    before = (models / "vcam.safetensors").read_bytes()
    cfg = EncoderConfig(model=models, style_dir=shared_data / "styles", content_dir=shared_data / "content",
                        out=tmp_path / "enc", minutes=0.03, cache_entries=8, batch=2, crop=48, log_every=2, threads=1)
    w = train_encoder(cfg)
    assert w == cfg.out / ENCODER_WEIGHTS

    def iterations() -> int:
        with safe_open(str(w), "pt") as f:
            return int(f.metadata()["iterations"])

    first = iterations()
    assert first > 0
    cache_meta = (cfg.out / "style_cache" / "cache.json").read_text()
    train_encoder(EncoderConfig(**{**cfg.__dict__, "minutes": 0.06}))
    assert iterations() > first
    assert (cfg.out / "style_cache" / "cache.json").read_text() == cache_meta
    assert (models / "vcam.safetensors").read_bytes() == before


def test_the_teacher_gram_term_asks_for_texture_not_for_where_each_stroke_lies(shared_data):
    """What the term is for: a copy of the target's texture moved by a few pixels (strokes elsewhere) is near it,
    though its pixels are far; a blurred copy (a fog with the same layout) is far from it, though its pixels are near.
    A real photo stands in for the teacher's output: the property is the Gram's, not the painting's."""
    import cv2
    import numpy as np

    from vcam.model import losses as L
    from vcam.model.lossnet import load_lossnet

    photo = sorted((shared_data / "content").glob("*.jpg"))[0]
    img = cv2.cvtColor(cv2.imread(str(photo)), cv2.COLOR_BGR2RGB)
    side = min(img.shape[:2])
    img = cv2.resize(img[:side, :side], (160, 160), interpolation=cv2.INTER_AREA)

    def tensor(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(a).permute(2, 0, 1)[None].float() / 255.0

    lossnet = load_lossnet("lite0")
    target = tensor(img)
    with torch.no_grad():
        target_feats = lossnet(target, L.STYLE_TAPS)
    moved = tensor(np.roll(img, (5, 7), axis=(0, 1)))
    fog = tensor(cv2.GaussianBlur(img, (0, 0), 3.0))

    def scores(out: torch.Tensor) -> tuple[float, float]:
        with torch.no_grad():
            gram = T.teacher_gram_loss(lossnet(out, L.STYLE_TAPS), target_feats)
        return float(gram), float((out - target).abs().mean())

    gram_moved, l1_moved = scores(moved)
    gram_fog, l1_fog = scores(fog)
    assert scores(target)[0] < 1e-6
    assert l1_moved > l1_fog                 # the pixel term prefers the fog...
    assert gram_fog > 4 * gram_moved         # ...the teacher-Gram term does not


def test_a_detail_head_grows_onto_a_trained_net_and_gets_its_own_rungs(shared_data, teacher_dir, tmp_path):
    from vcam.model.network import NetShape

    base = T.train(_cfg(shared_data, tmp_path / "base", iterations=1))
    shape = NetShape.from_dict({**TINY.as_dict(), "detail": 4})
    out = tmp_path / "grown"
    T.train(_cfg(shared_data, out, iterations=2, shape=shape.as_dict(), init_from=base))
    old, new = load_file(str(base)), load_file(str(out / T.WEIGHTS))
    assert {k for k in new if k.startswith("net.head.")} and set(old) < set(new)
    man = json.loads((out / "manifest.json").read_text())
    assert man["size_multiple"] == 2 * TINY.stride and man["net_shape"]["detail"] == 4
    assert man["ladder_720"] == list(shape.ladder_720) and man["internal_height_720"] == shape.design_height_720


def test_add_style_trains_the_new_code_for_every_network_of_the_folder(shared_data, teacher_dir, tmp_path,
                                                                       monkeypatch):
    """A folder with the plain network and a detail variant: --add-style gives the new style a code of its own on
    each (the run picks the network by CPU, so a style on one only would fall back to the other's picture); the
    networks, the old codes and the variant's conditions stay as they were, and the teacher's outputs are made once."""
    from safetensors.numpy import load_file as load_np
    from tiny_model import write_tiny_detail_run, write_tiny_model

    from vcam.model import cli_train
    from vcam.model.export import add_variant
    from vcam.styles import load_manifest

    styles = ("ink", "fire", "sea")
    base = write_tiny_model(tmp_path / "base", styles)
    add_variant(write_tiny_detail_run(tmp_path / "detail_run", styles), base, "detail", {"cpu_precision": "f32"})
    monkeypatch.setattr(cli_train, "ADD_STYLE_SETTINGS", {
        **cli_train.ADD_STYLE_SETTINGS, "batch": 1, "crop": 48, "margin": 8, "cache_entries": 6,
        "photo_long_side": 256, "style_long_side": 96, "teacher_style_long_side": 128, "log_every": 2,
        "checkpoint_seconds": 1e9})
    out, said = tmp_path / "grown", []
    cli_train._add_style(out, shared_data / "styles" / "udnie.jpg", "mine", base, shared_data / "content", None,
                         None, teacher_dir, minutes=0.1, iterations=0, seed=0, threads=1, say=said.append)
    old, new = load_manifest(base), load_manifest(out)
    assert new.networks == ("plain", "detail")
    assert new.variant("detail").use_when() == [{"cpu_precision": "f32"}]
    for net in ("plain", "detail"):
        a = old if net == "plain" else old.variant(net)
        b = new if net == "plain" else new.variant(net)
        assert b.styles == (*styles, "mine")
        wa, wb = load_np(str(a.weights_path)), load_np(str(b.weights_path))
        for k in wa:
            if k == "bank.codes":
                np.testing.assert_array_equal(wb[k][:3], wa[k])                 # the old styles stay put
                assert not np.allclose(wb[k][3], wa[k].mean(0))                 # the new one trained
            else:
                np.testing.assert_array_equal(wb[k], wa[k], err_msg=f"{net} {k}")   # the network is frozen
        np.testing.assert_allclose(b.codes()[:3], a.codes(), atol=1e-6)
    assert not np.allclose(new.codes()[3], new.variant("detail").codes()[3])   # each network its own code
    assert [p.name for p in out.iterdir() if p.name.startswith("teacher_cache")] == [CACHE_DIR]
    assert any("network detail" in m for m in said) and any(f"VCAM_MODEL_DIR={out}" in m for m in said)
