"""The baseline: Johnson, Alahi & Fei-Fei (ECCV 2016) feed-forward style transfer network, written from the paper's
description (9x9 conv 32, two stride-2 3x3 convs to 64 and 128, five residual blocks of 128 channels, two
upsampling convs back to 32, 9x9 conv to RGB; instance norm as in Ulyanov et al. and the authors' later code,
reflection padding). Random weights: only its speed is compared, at the full output size as it was designed to run.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn


class _ConvIN(nn.Module):
    def __init__(self, cin: int, cout: int, k: int, stride: int = 1, relu: bool = True, upsample: bool = False):
        super().__init__()
        self.upsample = upsample
        self.pad = nn.ReflectionPad2d(k // 2)
        self.conv = nn.Conv2d(cin, cout, k, stride)
        self.norm = nn.InstanceNorm2d(cout, affine=True)
        self.relu = relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.upsample:
            x = nn.functional.interpolate(x, scale_factor=2.0, mode="nearest")
        x = self.norm(self.conv(self.pad(x)))
        return torch.relu(x) if self.relu else x


class _Residual(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.a = _ConvIN(c, c, 3)
        self.b = _ConvIN(c, c, 3, relu=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.b(self.a(x))


class TransformerNet(nn.Module):
    """(N,3,H,W) RGB [0,1] -> (N,3,H,W) RGB [0,1]; H and W multiples of 4."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            _ConvIN(3, 32, 9), _ConvIN(32, 64, 3, 2), _ConvIN(64, 128, 3, 2),
            *[_Residual(128) for _ in range(5)],
            _ConvIN(128, 64, 3, upsample=True), _ConvIN(64, 32, 3, upsample=True),
            nn.ReflectionPad2d(4), nn.Conv2d(32, 3, 9))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.body(x))


def export_johnson(path: Path, seed: int = 0) -> Path:
    """Random-weight TransformerNet as single-file ONNX (opset 17, dynamic H/W): input ``image``, output
    ``stylized``."""
    import warnings

    torch.manual_seed(seed)
    net = TransformerNet().eval()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (torch.rand(1, 3, 64, 96),), str(path), dynamo=False, opset_version=17,
                          input_names=["image"], output_names=["stylized"],
                          dynamic_axes={"image": {2: "height", 3: "width"}, "stylized": {2: "height", 3: "width"}})
    return path


def params_and_flops(height: int = 180, width: int = 320) -> tuple[int, float]:
    """Parameter count and GFLOPs (2 x multiply-adds of the convolutions) at one size."""
    net = TransformerNet()
    flops = 0

    def hook(m: nn.Conv2d, _i, out: torch.Tensor) -> None:
        nonlocal flops
        flops += 2 * m.kernel_size[0] * m.kernel_size[1] * (m.in_channels // m.groups) * out.numel()

    hs = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, nn.Conv2d)]
    with torch.no_grad():
        net(torch.zeros(1, 3, height, width))
    for h in hs:
        h.remove()
    return sum(p.numel() for p in net.parameters()), flops / 1e9
