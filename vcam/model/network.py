"""The stylization network: several styles in one net, a recurrent state carried between frames.

Shape of the net (channels at 320x180 input):
  enc1  conv3x3/2   3->32   CIN ReLU       160x90
  enc2  conv3x3/2  32->64   CIN ReLU        80x45
  state gated update of the 64-ch "world state" with the new features (a minimal ConvGRU)
  res   5 inverted residual blocks 64->128->64 (depthwise 3x3, dilations widen the receptive field)
  dec1  nearest x2, dw3x3 + pw 64->32, CIN ReLU
  dec2  nearest x2, dw3x3 + pw 32->16, CIN ReLU
  out   conv3x3 16->3, sigmoid

CIN is conditional instance norm (Dumoulin et al. 2017): instance norm without affine, then a per-style
scale/shift. A blend of styles is a convex combination of those parameters, computed in the graph from a
``style`` weight vector, so blending and switching need no re-export.

The recurrent state: ``h = keep * ((1 - z) * h_prev + z * f) + (1 - keep) * f`` with ``z`` a sigmoid gate
computed from ``[f, h_prev]``. ``keep`` = 0 resets (first frame, scene cut, size change).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

STATE_CHANNELS = 64
SIZE_MULTIPLE = 4  # two stride-2 stages: H and W must divide by 4


class CondInstanceNorm(nn.Module):
    """Instance norm whose scale/shift are a style-weighted mix of per-style parameters."""

    def __init__(self, channels: int, num_styles: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(num_styles, channels))
        self.beta = nn.Parameter(torch.zeros(num_styles, channels))

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        x = F.instance_norm(x, eps=1e-5)
        g = (style @ self.gamma)[:, :, None, None]
        b = (style @ self.beta)[:, :, None, None]
        return x * g + b


class DwPw(nn.Module):
    """Depthwise 3x3 followed by pointwise 1x1: a cheap stand-in for a full 3x3 conv."""

    def __init__(self, cin: int, cout: int, dilation: int = 1) -> None:
        super().__init__()
        self.dw = nn.Conv2d(cin, cin, 3, padding=dilation, dilation=dilation, groups=cin, bias=False,
                            padding_mode="reflect")
        self.pw = nn.Conv2d(cin, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pw(self.dw(x))


class InvertedResidual(nn.Module):
    def __init__(self, channels: int, num_styles: int, dilation: int, expand: int = 2) -> None:
        super().__init__()
        hidden = channels * expand
        self.expand = nn.Conv2d(channels, hidden, 1)
        self.norm = CondInstanceNorm(hidden, num_styles)
        self.dw = nn.Conv2d(hidden, hidden, 3, padding=dilation, dilation=dilation, groups=hidden,
                            padding_mode="reflect")
        self.project = nn.Conv2d(hidden, channels, 1)

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.norm(self.expand(x), style))
        y = F.relu(self.dw(y))
        return x + self.project(y)


class StyleNet(nn.Module):
    """Multi-style, temporally conditioned stylization network.

    forward(image, state, keep, style) -> (stylized, new_state)
      image   (N,3,H,W) RGB in [0,1], H and W multiples of 4
      state   (N,64,H/4,W/4) the previous call's new_state (anything, e.g. zeros, when keep = 0)
      keep    (N,1) 1 to carry the state over, 0 to reset it
      style   (N,S) non-negative style weights summing to 1
    """

    def __init__(self, num_styles: int, dilations: tuple[int, ...] = (1, 2, 4, 2, 1)) -> None:
        super().__init__()
        self.num_styles = num_styles
        c = STATE_CHANNELS
        self.enc1 = nn.Conv2d(3, 32, 3, stride=2, padding=1, padding_mode="reflect")
        self.n1 = CondInstanceNorm(32, num_styles)
        self.enc2 = nn.Conv2d(32, c, 3, stride=2, padding=1, padding_mode="reflect")
        self.n2 = CondInstanceNorm(c, num_styles)
        self.gate = nn.Conv2d(2 * c, c, 1)
        self.blocks = nn.ModuleList(InvertedResidual(c, num_styles, d) for d in dilations)
        self.dec1 = DwPw(c, 32)
        self.n3 = CondInstanceNorm(32, num_styles)
        self.dec2 = DwPw(32, 16)
        self.n4 = CondInstanceNorm(16, num_styles)
        self.out = nn.Conv2d(16, 3, 3, padding=1, padding_mode="reflect")
        # Start the gate biased towards taking the new frame: a fresh net must first learn to stylize.
        nn.init.constant_(self.gate.bias, 1.0)

    def forward(self, image: torch.Tensor, state: torch.Tensor, keep: torch.Tensor,
                style: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = F.relu(self.n1(self.enc1(image), style))
        f = F.relu(self.n2(self.enc2(x), style))
        z = torch.sigmoid(self.gate(torch.cat([f, state], dim=1)))
        k = keep[:, :, None, None]
        h = k * ((1 - z) * state + z * f) + (1 - k) * f
        y = h
        for block in self.blocks:
            y = block(y, style)
        y = F.interpolate(y, scale_factor=2.0, mode="nearest")
        y = F.relu(self.n3(self.dec1(y), style))
        y = F.interpolate(y, scale_factor=2.0, mode="nearest")
        y = F.relu(self.n4(self.dec2(y), style))
        return torch.sigmoid(self.out(y)), h

    def style_parameter_names(self) -> list[str]:
        """Names of the per-style parameters (what `vcam train --add-style` fine-tunes)."""
        return [n for n, _ in self.named_parameters() if n.endswith((".gamma", ".beta"))]


def count_flops(net: StyleNet, height: int, width: int) -> int:
    """FLOPs (2 x multiply-adds) of convolutions for one frame; norms and activations are not counted."""
    total = 0
    hooks = []

    def conv_hook(mod: nn.Conv2d, _inp, out: torch.Tensor) -> None:
        nonlocal total
        k = mod.kernel_size[0] * mod.kernel_size[1] * (mod.in_channels // mod.groups)
        total += 2 * k * out.numel()

    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            hooks.append(m.register_forward_hook(conv_hook))
    with torch.no_grad():
        s = torch.zeros(1, net.num_styles)
        s[0, 0] = 1
        net(torch.zeros(1, 3, height, width), torch.zeros(1, STATE_CHANNELS, height // 4, width // 4),
            torch.zeros(1, 1), s)
    for h in hooks:
        h.remove()
    return total
