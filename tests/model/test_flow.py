"""Simulated motion for the temporal losses: the warp moves content the way the flow says."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch", reason="model tests need the train extra (torch)")

from vcam.model.flow import random_flow, valid_mask, warp  # noqa: E402
from vcam.model.losses import temporal_loss  # noqa: E402


def test_integer_shift_moves_pixels_exactly():
    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).reshape(2, 3, 8, 8)
    flow = torch.zeros(2, 2, 8, 8)
    flow[:, 0] = 2.0  # sample 2 px to the right
    y = warp(x, flow)
    assert torch.allclose(y[..., :6], x[..., 2:])
    m = valid_mask(flow)
    # 1 px safety margin on every side: rows 0 and 7 are out, columns whose source is past x=6 too.
    assert m[..., 1:7, :5].all() and not m[..., 5:].any() and not m[..., 0, :].any()


def test_random_flow_is_smooth_and_bounded():
    g = torch.Generator().manual_seed(0)
    f = random_flow(3, 64, 64, g, max_local=4, max_shift=6)
    assert f.shape == (3, 2, 64, 64)
    # Bicubic upsampling of the coarse grid may overshoot the local bound a little.
    assert float(f.abs().max()) <= 1.25 * 4 + 6
    # Neighbouring pixels move almost together: no tearing.
    assert float((f[..., 1:] - f[..., :-1]).abs().max()) < 0.5


def test_zoom_and_rotation_are_a_similarity_about_the_centre():
    g = torch.Generator().manual_seed(0)
    f = random_flow(4, 65, 65, g, max_local=0, max_shift=0, max_zoom=0.05, max_rotate=0.03)
    assert float(f[..., 32, 32].abs().max()) < 1e-4                  # the centre stays put
    corner = float(f[..., 0, 0].norm(dim=1).max())
    assert 0 < corner <= (0.05 + 0.03) * 32 * 2 ** 0.5 + 1e-3         # |(sR - I) p| <= (|s-1| + |angle|) |p|
    # A similarity: the flow is linear in the position, so its second differences vanish.
    assert float((f[..., 2:] - 2 * f[..., 1:-1] + f[..., :-2]).abs().max()) < 1e-4
    # Without zoom or rotation the field is the one drawn before they existed (training runs stay reproducible).
    a = random_flow(2, 32, 32, torch.Generator().manual_seed(1))
    b = random_flow(2, 32, 32, torch.Generator().manual_seed(1), max_zoom=0.0)
    assert torch.equal(a, b)


def test_temporal_loss_zero_for_consistent_output_and_positive_for_flicker():
    g = torch.Generator().manual_seed(0)
    img = torch.rand(2, 3, 32, 32, generator=g)
    flow = random_flow(2, 32, 32, g, max_local=2, max_shift=2)
    v2 = warp(img, flow)
    mask = valid_mask(flow)
    plain, reco = temporal_loss(v2, warp(img, flow), v2, warp(img, flow), mask)
    assert float(plain) < 1e-10 and float(reco) < 1e-10
    noisy = (v2 + 0.1 * torch.randn(v2.shape, generator=g)).clamp(0, 1)
    plain2, reco2 = temporal_loss(noisy, warp(img, flow), v2, warp(img, flow), mask)
    assert float(plain2) > 1e-3 and float(reco2) > 1e-4


def test_whole_pixel_views_are_exact_shifts_and_warp_without_blur():
    g = torch.Generator().manual_seed(3)
    f = random_flow(6, 40, 48, g, max_local=4, max_shift=5, max_zoom=0.05, integer_share=1.0)
    # one whole-pixel vector per view, the same everywhere in it
    assert torch.equal(f, f.round()) and torch.equal(f, f[..., :1, :1].expand_as(f))
    assert float(f.abs().max()) <= 5
    img = torch.rand(6, 3, 40, 48, generator=g)
    out = warp(img, f)
    for i in range(6):
        dx, dy = int(f[i, 0, 0, 0]), int(f[i, 1, 0, 0])
        y0, y1, x0, x1 = max(0, -dy), 40 - max(0, dy), max(0, -dx), 48 - max(0, dx)
        assert torch.allclose(out[i, :, y0:y1, x0:x1], img[i, :, y0 + dy:y1 + dy, x0 + dx:x1 + dx], atol=1e-5)
    # a share: some views whole-pixel, the rest the smooth field; none asked leaves the old stream untouched
    mixed = random_flow(64, 16, 16, torch.Generator().manual_seed(4), max_local=4, max_shift=5, integer_share=0.5)
    whole = [bool(torch.equal(m, m.round()) and torch.equal(m, m[..., :1, :1].expand_as(m))) for m in mixed]
    assert 10 < sum(whole) < 54
    a = random_flow(2, 32, 32, torch.Generator().manual_seed(1))
    b = random_flow(2, 32, 32, torch.Generator().manual_seed(1), integer_share=0.0)
    assert torch.equal(a, b)
