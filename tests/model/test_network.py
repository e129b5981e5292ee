"""The stylization network: shapes, budget, the recurrent state's semantics, style blending."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch", reason="model tests need the train extra (torch)")

from vcam.model.network import STATE_CHANNELS, StyleNet, count_flops  # noqa: E402


def _inputs(n_styles: int, h: int = 36, w: int = 64, style: int = 0):
    g = torch.Generator().manual_seed(1)
    s = torch.zeros(1, n_styles)
    s[0, style] = 1
    return (torch.rand(1, 3, h, w, generator=g), torch.rand(1, STATE_CHANNELS, h // 4, w // 4, generator=g),
            s)


def test_shapes_and_range():
    net = StyleNet(3).eval()
    img, state, s = _inputs(3)
    out, new_state = net(img, state, torch.ones(1, 1), s)
    assert out.shape == img.shape
    assert new_state.shape == state.shape
    assert 0.0 <= float(out.min()) and float(out.max()) <= 1.0


def test_budget_at_default_internal_size():
    # Issue budget: <= ~3.5 GFLOPs per frame at 320x180 (2 x multiply-adds).
    assert count_flops(StyleNet(8), 180, 320) <= 3.5e9


def test_keep_zero_ignores_the_previous_state():
    torch.manual_seed(0)
    net = StyleNet(2).eval()
    img, state, s = _inputs(2)
    with torch.no_grad():
        a, ha = net(img, state, torch.zeros(1, 1), s)
        b, hb = net(img, torch.zeros_like(state), torch.zeros(1, 1), s)
        c, _ = net(img, state, torch.ones(1, 1), s)
    assert torch.equal(a, b) and torch.equal(ha, hb)
    assert not torch.allclose(a, c)  # with keep = 1 the state matters


def test_blend_is_a_convex_mix_of_style_parameters():
    torch.manual_seed(0)
    net = StyleNet(2).eval()
    with torch.no_grad():
        for name, p in net.named_parameters():
            if name.endswith((".gamma", ".beta")):
                p.add_(torch.randn_like(p) * 0.3)
    img, state, _ = _inputs(2)
    keep = torch.zeros(1, 1)
    with torch.no_grad():
        a, _ = net(img, state, keep, torch.tensor([[1.0, 0.0]]))
        b, _ = net(img, state, keep, torch.tensor([[0.0, 1.0]]))
        m, _ = net(img, state, keep, torch.tensor([[0.5, 0.5]]))
    assert not torch.allclose(a, b, atol=1e-3)
    # The blend lands between the two styles: closer to their mean than either end is to the other.
    assert float((m - (a + b) / 2).abs().mean()) < float((a - b).abs().mean())


def test_style_parameter_names_are_the_norm_rows():
    names = StyleNet(2).style_parameter_names()
    assert names and all(n.endswith((".gamma", ".beta")) for n in names)
