"""The style encoder: any picture -> a style code for StyleNet, computed once per picture (Ghiasi et al. 2017).

    image (1,3,H,W) RGB in [0,1], the long side at ENCODER_LONG_SIDE -> code (1,D)

Four stride-2 3x3 convolutions (32, 64, 128, 128 channels), then the per-channel mean and standard deviation of the
last two stages' activations (the statistics AdaIN-style transfer works with; they do not depend on the picture's
size or layout), then a two-layer MLP to the code. ~0.2 GFLOPs at 256 px: a few milliseconds, off the frame thread.
Trained by distillation from the MicroAST teacher with the stylization network frozen (vcam.model.train_encoder), so
a code it predicts means what the built-in styles' codes mean, and blends mix codes of either kind.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

ENCODER_LONG_SIDE = 256


class StyleEncoder(nn.Module):
    def __init__(self, code_dim: int, widths: tuple[int, ...] = (32, 64, 128, 128), hidden: int = 256) -> None:
        super().__init__()
        chans = [3, *widths]
        self.convs = nn.ModuleList(nn.Conv2d(a, b, 3, stride=2, padding=1) for a, b in zip(chans[:-1], chans[1:],
                                                                                            strict=True))
        pooled = 2 * (widths[-2] + widths[-1])
        self.mlp = nn.Sequential(nn.Linear(pooled, hidden), nn.ReLU(), nn.Linear(hidden, code_dim))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = image * 2.0 - 1.0
        stats = []
        for i, conv in enumerate(self.convs):
            x = F.relu(conv(x))
            if i >= len(self.convs) - 2:
                stats += [x.mean((2, 3)), (x.var((2, 3), unbiased=False) + 1e-5).sqrt()]
        return self.mlp(torch.cat(stats, dim=1))


def export_encoder(encoder: StyleEncoder, path, opset: int = 17):
    """One-file ONNX (input ``image`` with dynamic H/W, output ``code``), checked."""
    import warnings
    from pathlib import Path

    import onnx

    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")   # the legacy exporter's notices; they do not change the graph
        torch.onnx.export(encoder.eval(), (torch.rand(1, 3, ENCODER_LONG_SIDE, 192),), str(tmp), dynamo=False,
                          opset_version=opset, input_names=["image"], output_names=["code"],
                          dynamic_axes={"image": {2: "height", 3: "width"}}, do_constant_folding=True)
    onnx.checker.check_model(str(tmp), full_check=True)
    tmp.replace(path)
    return path
