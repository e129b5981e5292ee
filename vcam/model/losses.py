"""Perceptual, colour, detail, smoothness and temporal losses (normalisations from ../shared/notes/style-loss.md)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

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


def _gaussian_blur(y: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (N,1,H,W) with OpenCV's kernel for a float image (radius 4 sigma) and its default
    border (reflect without repeating the edge), so training measures what benchmarks/quality.py reports."""
    r = max(1, round(4 * sigma))
    k = torch.exp(-(torch.arange(-r, r + 1, dtype=y.dtype, device=y.device) ** 2) / (2 * sigma ** 2))
    k = k / k.sum()
    y = F.conv2d(F.pad(y, (r, r, 0, 0), mode="reflect"), k.view(1, 1, 1, -1))
    return F.conv2d(F.pad(y, (0, 0, r, r), mode="reflect"), k.view(1, 1, -1, 1))


def band_energies(x: torch.Tensor) -> torch.Tensor:
    """(N,2): mean squares of the luminance's finest band (minus its blur at sigma 1 px) and the next (blur at sigma 1
    minus blur at sigma 3): what benchmarks/quality.py reports as fine and mid detail."""
    y = luminance(x)
    b1, b3 = _gaussian_blur(y, 1.0), _gaussian_blur(y, 3.0)
    return torch.stack([((y - b1) ** 2).mean((1, 2, 3)), ((b1 - b3) ** 2).mean((1, 2, 3))], dim=1)


def detail_loss(out: torch.Tensor, target: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """How far the output's band energies fall short of the target's, as squared log ratios, mean over the batch.

    One-sided: it asks for at least the teacher's amount of detail in each band, wherever the strokes lie, which the
    pixel term cannot ask without placing them (a student that cannot place them averages them into a fog: the
    shipped model had a fifth of the teacher's energy in both bands). Where the output has more, nothing is asked.
    """
    e_out, e_t = band_energies(out), band_energies(target).detach()
    short = F.relu(torch.log(e_t + eps) - torch.log(e_out + eps))
    return (short ** 2).sum(1).mean()
