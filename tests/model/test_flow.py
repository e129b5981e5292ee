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
