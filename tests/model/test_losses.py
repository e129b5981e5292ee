"""The detail term: band energies as benchmarks/quality.py measures them, and a loss that asks only for more."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="model tests need the train extra (torch)")

from vcam.model import losses as L  # noqa: E402


def _texture(seed: int = 0, n: int = 2, size: int = 64) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, size, size, generator=g)


def test_band_energies_match_the_quality_benchmarks_opencv_measure():
    x = _texture()
    got = L.band_energies(x).numpy()
    for i in range(x.shape[0]):
        y = (0.299 * x[i, 0] + 0.587 * x[i, 1] + 0.114 * x[i, 2]).numpy().astype(np.float32)
        b1, b3 = cv2.GaussianBlur(y, (0, 0), 1.0), cv2.GaussianBlur(y, (0, 0), 3.0)
        want = [((y - b1) ** 2).mean(), ((b1 - b3) ** 2).mean()]
        assert got[i] == pytest.approx(want, rel=1e-3)


def test_detail_loss_asks_a_fog_for_detail_and_nothing_of_enough():
    target = _texture(1)
    fog = L._gaussian_blur(L.luminance(target), 2.0).expand(-1, 3, -1, -1).clone().requires_grad_(True)
    assert float(L.detail_loss(target, target)) == pytest.approx(0.0, abs=1e-9)
    sharper = (target + 0.5 * (target - L._gaussian_blur(target.reshape(-1, 1, 64, 64), 1.0).reshape(target.shape)))
    assert float(L.detail_loss(sharper, target)) == 0.0   # more detail than the teacher: one-sided, no pull back
    loss = L.detail_loss(fog, target)
    assert loss.item() > 1.0
    loss.backward()
    assert fog.grad is not None and float(fog.grad.abs().sum()) > 0
    # a step against the gradient puts detail back
    with torch.no_grad():
        stepped = fog - 50.0 * fog.grad
    assert float(L.detail_loss(stepped, target)) < loss.item()
