"""Training: what it writes, that an interrupted run resumes to the same weights, that --add-style moves only the
new style's parameters, and the temporal terms' fade-in. Tiny crops and a few iterations: this checks the
machinery, not the look (benchmarks/quality.py judges that)."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch", reason="model tests need the train extra (torch)")

from safetensors.torch import load_file  # noqa: E402

from vcam.model import train as T  # noqa: E402

pytestmark = pytest.mark.slow


def _cfg(shared_data, out, **kw) -> T.TrainConfig:
    base = dict(style_dir=shared_data / "styles", content_dir=shared_data / "content", out=out,
                styles=("starry_night", "great_wave"), iterations=8, batch=1, crop=48, style_long_side=96,
                threads=1, log_every=2, checkpoint_seconds=1e9)
    return T.TrainConfig(**{**base, **kw})


def test_ramp_fades_the_temporal_terms_in():
    span = (0.2, 0.6)
    assert T._ramp(0.0, span) == 0.0 and T._ramp(0.2, span) == 0.0
    assert T._ramp(0.4, span) == pytest.approx(0.5)
    assert T._ramp(0.6, span) == 1.0 and T._ramp(1.0, span) == 1.0
    assert T._ramp(0.5, (0.0, 0.0)) == 1.0          # an empty span: full weight from the start


def test_writes_safetensors_and_a_manifest(shared_data, tmp_path):
    out = tmp_path / "run"
    weights = T.train(_cfg(shared_data, out))
    assert weights == out / T.WEIGHTS
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [T.WEIGHTS, "manifest.json", T.CHECKPOINT, T.CHECKPOINT_META])
    sd = load_file(str(weights))
    assert sd and all(torch.isfinite(v).all() for v in sd.values())
    man = json.loads((out / "manifest.json").read_text())
    assert man["styles"] == ["starry_night", "great_wave"]
    assert man["training"]["iterations"] == 8
    assert {"style", "content", "temporal", "reconet"} <= set(man["training"]["final_losses"])


def test_an_interrupted_run_resumes_to_the_same_weights(shared_data, tmp_path, monkeypatch):
    straight = T.train(_cfg(shared_data, tmp_path / "straight"))

    # Same run, cut off after step 5 (checkpointing after every step, as a long run does every few minutes).
    cut = _cfg(shared_data, tmp_path / "cut", checkpoint_seconds=0.0)
    real_update = T._Progress.update

    def update(self, done, step, info):
        if step == 5:
            raise KeyboardInterrupt
        real_update(self, done, step, info)

    monkeypatch.setattr(T._Progress, "update", update)
    with pytest.raises(KeyboardInterrupt):
        T.train(cut)
    monkeypatch.setattr(T._Progress, "update", real_update)
    assert json.loads((cut.out / T.CHECKPOINT_META).read_text())["step"] == 4
    resumed = T.train(cut)

    a, b = load_file(str(straight)), load_file(str(resumed))
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(b[k], a[k], rtol=0, atol=1e-6, msg=k)


def test_add_style_moves_only_the_new_styles_parameters(shared_data, tmp_path):
    base = T.train(_cfg(shared_data, tmp_path / "base", iterations=2))
    grown = T.train(_cfg(shared_data, tmp_path / "grown", styles=("starry_night", "great_wave", "the_scream"),
                         train_only_styles=("the_scream",), init_from=base, iterations=3))
    old, new = load_file(str(base)), load_file(str(grown))
    moved = 0
    for k, v in old.items():
        if k.endswith((".gamma", ".beta")):
            torch.testing.assert_close(new[k][:2], v, rtol=0, atol=0, msg=k)   # the shipped styles stay put
            moved += int(not torch.equal(new[k][2], v.mean(0)))               # the new one starts at the mean
        else:
            torch.testing.assert_close(new[k], v, rtol=0, atol=0, msg=k)      # shared weights are frozen
    assert moved > 0
