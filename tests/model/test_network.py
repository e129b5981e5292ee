"""The stylization network: shapes, its budget, the recurrent state's semantics, style codes and blending."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch", reason="model tests need the train extra (torch)")

from tiny_model import TINY, tiny_net  # noqa: E402

from vcam.model.network import DESIGN_HEIGHT_720, NetShape, StyleBank, StyleNet, count_flops  # noqa: E402


def _inputs(shape: NetShape, h: int = 48, w: int = 64):
    g = torch.Generator().manual_seed(1)
    st = shape.stride
    return (torch.rand(1, 3, h, w, generator=g), torch.rand(1, shape.state_channels, h // st, w // st, generator=g))


def test_shapes_range_and_stride():
    net, bank = tiny_net(("a", "b"))
    img, state = _inputs(TINY)
    with torch.no_grad():
        out, new_state = net(img, state, torch.ones(1, 1), bank(torch.tensor([[1.0, 0.0]])))
    assert out.shape == img.shape
    assert new_state.shape == state.shape
    assert 0.0 <= float(out.min()) and float(out.max()) <= 1.0
    assert NetShape().stride == 8 and NetShape(enc=(16,)).stride == 4


def test_budget_at_the_design_size():
    # ~8.5 GFLOPs at 960x544 (what runs at 720p); the end-to-end speed is benchmarks/bench_pipeline.py's job.
    h = DESIGN_HEIGHT_720 + 4
    assert count_flops(StyleNet(), h, h * 16 // 9 // 8 * 8) <= 9e9
    # With the detail head the net paints every pixel of a 720p output for less than the plain net costs at its
    # design size (the body runs at 640x360).
    detail = NetShape(detail=8)
    assert count_flops(StyleNet(detail), detail.design_height_720, 1280) < 0.6 * count_flops(StyleNet(), h, 960)


def test_keep_zero_ignores_the_previous_state():
    net, bank = tiny_net(("a",), gate_bias=-0.5)
    img, state = _inputs(TINY)
    code = bank(torch.tensor([[1.0]]))
    with torch.no_grad():
        a, ha = net(img, state, torch.zeros(1, 1), code)
        b, hb = net(img, torch.zeros_like(state), torch.zeros(1, 1), code)
        c, _ = net(img, state, torch.ones(1, 1), code)
    assert torch.equal(a, b) and torch.equal(ha, hb)
    assert not torch.allclose(a, c)  # with keep = 1 the state matters


def test_a_blend_is_the_same_blend_of_codes_and_lands_between_the_styles():
    net, bank = tiny_net(("a", "b"))
    img, state = _inputs(TINY)
    keep = torch.zeros(1, 1)
    with torch.no_grad():
        a, _ = net(img, state, keep, bank(torch.tensor([[1.0, 0.0]])))
        b, _ = net(img, state, keep, bank(torch.tensor([[0.0, 1.0]])))
        m, _ = net(img, state, keep, bank(torch.tensor([[0.5, 0.5]])))
        direct, _ = net(img, state, keep, 0.5 * (bank.codes[:1] + bank.codes[1:]))
    assert torch.equal(m, direct)
    assert not torch.allclose(a, b, atol=1e-3)
    # The blend lands between the two styles: closer to their mean than either end is to the other.
    assert float((m - (a + b) / 2).abs().mean()) < float((a - b).abs().mean())


def test_the_code_reaches_every_norm():
    net = StyleNet(TINY)
    n_norms = len(TINY.enc) + 1 + len(TINY.dilations) + len(TINY.enc)
    assert len(net.style_map.channels) == n_norms
    assert net.style_map.linear.out_features == 2 * sum(net.style_map.channels)
    assert StyleBank(3, TINY.code_dim).codes.shape == (3, TINY.code_dim)


def test_shape_round_trips_through_the_manifest_dict():
    s = NetShape(code_dim=32, enc=(8, 16, 24), width=40, dilations=(1, 3))
    assert NetShape.from_dict(s.as_dict()) == s and s.stride == 16


def test_a_detail_head_paints_at_the_input_size_and_doubles_the_stride():
    shape = NetShape.from_dict({**TINY.as_dict(), "detail": 4})
    assert shape.stride == 2 * TINY.stride
    net = StyleNet(shape).eval()
    img, state = _inputs(shape, 48, 64)
    with torch.no_grad():
        out, new_state = net(img, state, torch.ones(1, 1), torch.randn(1, shape.code_dim))
    assert out.shape == img.shape and new_state.shape == state.shape
    # Its norm is the style map's last: the body's rows keep their places, so a head can be grown onto a body.
    assert net.style_map.channels == [*StyleNet(TINY).style_map.channels, 4]
    assert shape.ladder_720[-1] == shape.design_height_720 == 720


def test_grown_head_starts_as_the_body_upsampled_then_learns_detail():
    import torch.nn.functional as F

    from vcam.model.network import grow_from

    base, bank = tiny_net(("a", "b"))
    net = StyleNet(NetShape.from_dict({**TINY.as_dict(), "detail": 4})).eval()
    grow_from(net, base)
    img, _ = _inputs(net.shape, 48, 64)
    state = torch.rand(1, TINY.width, 3, 4)
    code = bank(torch.tensor([[0.3, 0.7]]))
    with torch.no_grad():
        got, h = net(img, state, torch.ones(1, 1), code)
        body, hb = base(F.avg_pool2d(img, 2), state, torch.ones(1, 1), code)
        want = torch.sigmoid(F.interpolate(torch.logit(body), scale_factor=2.0, mode="bilinear"))
    inside = (slice(None), slice(None), slice(1, -1), slice(1, -1))   # the conv pads with zeros, Resize clamps
    assert torch.allclose(got[inside], want[inside], atol=1e-5) and torch.equal(h, hb)
    # The head's features start with zero weight: once it moves, the head adds full-size detail of its own.
    with torch.no_grad():
        net.head.out.weight[:, :4].normal_(0.0, 0.1)
        moved, _ = net(img, state, torch.ones(1, 1), code)
    assert float((moved - want).abs().mean()) > 1e-3
    with pytest.raises(ValueError, match="only the detail head"):
        grow_from(StyleNet(NetShape.from_dict({**TINY.as_dict(), "width": 8, "detail": 4})), base)
