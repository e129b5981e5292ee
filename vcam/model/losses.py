"""Perceptual, colour, smoothness and temporal losses (normalisations from ../shared/notes/style-loss.md)."""

from __future__ import annotations

import torch

# Expand-stage activations after ReLU6 were the best style taps on EfficientNet-Lite0.
STYLE_TAPS = {"s0": "stem", "s1": "b1.expand", "s2": "b3.expand", "s3": "b5.expand",
              "s4": "b8.expand", "s5": "b11.expand"}
CONTENT_TAPS = {"c": "b4.out"}
COLOUR_TAPS = ("s0", "s1", "s2")


def gram(f: torch.Tensor) -> torch.Tensor:
    n, c, h, w = f.shape
    f = f.reshape(n, c, h * w)
    return f @ f.transpose(1, 2) / (h * w)


def style_loss(feats: dict[str, torch.Tensor], targets: dict[str, torch.Tensor],
               weight: torch.Tensor | None = None) -> torch.Tensor:
    """Sum over taps of the relative Gram error ||G(x) - G(s)||^2 / ||G(s)||^2, mean over the batch.

    ``targets[name]`` holds the style Grams already gathered per sample: (N,C,C). ``weight`` (N,) scales each
    sample's term (per-style gains).
    """
    total = 0.0
    for name, t in targets.items():
        g = gram(feats[name])
        total = total + ((g - t) ** 2).sum((1, 2)) / (t ** 2).sum((1, 2)).clamp_min(1e-8)
    return (total * weight).mean() if weight is not None else total.mean()


def content_loss(f: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return (((f - t) ** 2).sum((1, 2, 3)) / (t ** 2).sum((1, 2, 3)).clamp_min(1e-8)).mean()


def moments(f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return f.mean((2, 3)), f.std((2, 3))


def colour_loss(feats: dict[str, torch.Tensor], targets: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
    """Per-channel mean/std of early features against the style's: guards against one flat colour."""
    total = 0.0
    for name, (tm, ts) in targets.items():
        m, s = moments(feats[name])
        scale = (tm ** 2).mean(1, keepdim=True) + (ts ** 2).mean(1, keepdim=True) + 1e-6
        total = total + (((m - tm) ** 2 + (s - ts) ** 2) / scale).mean(1)
    return total.mean()


def tv_loss(x: torch.Tensor) -> torch.Tensor:
    return (x[..., 1:, :] - x[..., :-1, :]).abs().mean() + (x[..., :, 1:] - x[..., :, :-1]).abs().mean()


def luminance(x: torch.Tensor) -> torch.Tensor:
    return 0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]


def temporal_loss(out2: torch.Tensor, out1_warped: torch.Tensor, in2: torch.Tensor, in1_warped: torch.Tensor,
                  mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(output term, luminance-aware term of ReCoNet, Gao et al. 2018).

    The first penalises any change of the output along the motion; the second lets the output change exactly
    as much as the input's luminance did (lighting changes, noise), no more.
    """
    denom = mask.sum().clamp_min(1.0)
    d_out = out2 - out1_warped
    plain = ((d_out ** 2) * mask).sum() / (denom * 3)
    d_in = luminance(in2) - luminance(in1_warped)
    reco = (((luminance(d_out) - d_in) ** 2) * mask).sum() / denom
    return plain, reco
