"""MicroAST (Wang et al., AAAI 2023, MIT licence): the arbitrary style-transfer teacher vcam distils from.

Training and benchmarks only: the runtime never imports this module and vcam never ships these weights. Written here
to the architecture that ../shared/data/teachers/README.md describes, matching the published key names so the
weights load strict.

    teacher = load_teacher()                       # reads ../shared/data/teachers/microast
    style = teacher.encode_style(style_image)      # once per style image (N,3,H,W RGB in [0,1])
    out = teacher.stylize(content, style)          # per frame, raw (unclamped) decoder output
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from vcam.errors import VcamError

DEFAULT_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "teachers" / "microast"
FILES = ("content_encoder", "style_encoder", "modulator", "decoder")
# The authors' setting that the README's measurements used: the painting at 512 px on its long side.
STYLE_LONG_SIDE = 512


class ConvLayer(nn.Module):
    """Reflection padding of kernel//2, then a plain conv (key ``conv_layer``)."""

    def __init__(self, cin: int, cout: int, k: int, stride: int = 1, groups: int = 1) -> None:
        super().__init__()
        self.pad = k // 2
        self.conv_layer = nn.Conv2d(cin, cout, k, stride=stride, groups=groups)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_layer(F.pad(x, (self.pad,) * 4, mode="reflect"))


class ResidualLayer(nn.Module):
    def __init__(self, channels: int = 64) -> None:
        super().__init__()
        self.conv1 = ConvLayer(channels, channels, 3)
        self.conv2 = ConvLayer(channels, channels, 3)

    def forward(self, x: torch.Tensor, w: torch.Tensor | None = None, b: torch.Tensor | None = None) -> torch.Tensor:
        if w is None:
            return x + self.conv2(F.relu(self.conv1(x)))
        y1 = self.conv1(x)
        y3 = F.relu(w * y1 + b * x)
        return x + w * self.conv2(y3) + b * y3


class Encoder(nn.Module):
    """Shared layout of the content and style encoders: features at 1/4 resolution, 64 channels, two depths."""

    def __init__(self) -> None:
        super().__init__()
        self.enc1 = nn.Sequential(
            ConvLayer(3, 16, 9), nn.ReLU(),
            ConvLayer(16, 32, 3, stride=2, groups=16), nn.ReLU(),
            ConvLayer(32, 32, 1), nn.ReLU(),
            ConvLayer(32, 64, 3, stride=2, groups=32), nn.ReLU(),
            ConvLayer(64, 64, 1), nn.ReLU(),
            ResidualLayer(64),
        )
        self.enc2 = nn.Sequential(ResidualLayer(64))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x1 = self.enc1(x)
        return x1, self.enc2(x1)


class Modulator(nn.Module):
    """Per-channel (N,64,1,1) weights and biases for the decoder's residual layers, from the style features."""

    def __init__(self) -> None:
        super().__init__()
        for name in ("weight1", "bias1", "weight2", "bias2"):
            setattr(self, name, nn.Sequential(ConvLayer(64, 64, 3, groups=64)))

    def forward(self, s1: torch.Tensor, s2: torch.Tensor) -> tuple[torch.Tensor, ...]:
        pool = lambda m, x: F.adaptive_avg_pool2d(m(x), 1)  # noqa: E731
        return pool(self.weight1, s1), pool(self.bias1, s1), pool(self.weight2, s2), pool(self.bias2, s2)


class Decoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.dec1 = ResidualLayer(64)
        self.dec2 = ResidualLayer(64)
        self.dec3 = nn.Sequential(
            nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
            ConvLayer(64, 32, 3, groups=32), nn.ReLU(),
            ConvLayer(32, 32, 1), nn.ReLU(),
            nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
            ConvLayer(32, 16, 3, groups=16), nn.ReLU(),
            ConvLayer(16, 16, 1), nn.ReLU(),
            ConvLayer(16, 3, 9),
        )


def _stats(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    mean = x.mean((2, 3), keepdim=True)
    std = (x.var((2, 3), keepdim=True, unbiased=True) + 1e-5).sqrt()
    return mean, std


def adain(x: torch.Tensor, s_mean: torch.Tensor, s_std: torch.Tensor) -> torch.Tensor:
    m, s = _stats(x)
    return (x - m) / s * s_std + s_mean


@dataclass(frozen=True)
class StyleFeatures:
    """What the per-frame side needs of one style image: AdaIN statistics at both depths and the modulation."""

    mean1: torch.Tensor
    std1: torch.Tensor
    mean2: torch.Tensor
    std2: torch.Tensor
    w1: torch.Tensor
    b1: torch.Tensor
    w2: torch.Tensor
    b2: torch.Tensor

    def vector(self) -> torch.Tensor:
        """(N, 512): the whole style description flattened (a target for a student style encoder)."""
        return torch.cat([t.flatten(1) for t in (self.mean1, self.std1, self.mean2, self.std2,
                                                 self.w1, self.b1, self.w2, self.b2)], dim=1)


class MicroAST(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.content_encoder = Encoder()
        self.style_encoder = Encoder()
        self.modulator = Modulator()
        self.decoder = Decoder()

    @torch.no_grad()
    def encode_style(self, style: torch.Tensor) -> StyleFeatures:
        s1, s2 = self.style_encoder(style)
        m1, sd1 = _stats(s1)
        m2, sd2 = _stats(s2)
        return StyleFeatures(m1, sd1, m2, sd2, *self.modulator(s1, s2))

    def stylize(self, content: torch.Tensor, style: StyleFeatures, alpha: float = 1.0) -> torch.Tensor:
        """The decoder's raw output (N,3,H,W), not clamped; H and W multiples of 4 keep the shapes exact."""
        c1, c2 = self.content_encoder(content)
        h = adain(c2, style.mean2, style.std2)
        h = alpha * h + (1 - alpha) * c2
        h = self.decoder.dec1(h, style.w2, style.b2)
        g = adain(h, style.mean1, style.std1)
        g = alpha * g + (1 - alpha) * h
        g = self.decoder.dec2(g, style.w1, style.b1)
        return self.decoder.dec3(g)

    def forward(self, content: torch.Tensor, style: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
        return self.stylize(content, self.encode_style(style), alpha)


def require_teacher(directory: Path | None = None) -> Path:
    """The teacher's folder, or a clear error saying what is missing (as on a user's machine)."""
    d = Path(directory) if directory else DEFAULT_DIR
    missing = [f"{n}.safetensors" for n in FILES if not (d / f"{n}.safetensors").is_file()]
    if missing:
        raise VcamError(f"The MicroAST teacher is not at {d} (missing {', '.join(missing)}).",
                        "Distillation needs ../shared/data/teachers/microast beside the checkout (training time "
                        "only), or pass --teacher DIR.")
    return d


def load_teacher(directory: Path | None = None) -> MicroAST:
    """MicroAST with its published weights, loaded strict, in eval mode."""
    from safetensors.torch import load_file

    d = require_teacher(directory)
    net = MicroAST()
    for name in FILES:
        getattr(net, name).load_state_dict(load_file(str(d / f"{name}.safetensors")), strict=True)
    return net.eval().requires_grad_(False)


STYLE_INPUTS = ("mean1", "std1", "mean2", "std2", "w1", "b1", "w2", "b2")


class _PerFrame(nn.Module):
    """The per-frame side as one graph: content + a style's features -> clamped RGB (what a pipeline would show)."""

    def __init__(self, teacher: MicroAST) -> None:
        super().__init__()
        self.teacher = teacher

    def forward(self, content: torch.Tensor, *style: torch.Tensor) -> torch.Tensor:
        return self.teacher.stylize(content, StyleFeatures(*style)).clamp(0, 1)


def export_per_frame(teacher: MicroAST, path: Path) -> Path:
    """ONNX of the per-frame side (inputs ``content`` and STYLE_INPUTS, output ``stylized``), dynamic H/W: so
    benchmarks can run the teacher on the same CPU runtimes as vcam, each at its fastest."""
    import warnings

    path = Path(path)
    feats = teacher.encode_style(torch.rand(1, 3, 64, 64))
    style = tuple(getattr(feats, n) for n in STYLE_INPUTS)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")   # the legacy exporter's notices; they do not change the graph
        torch.onnx.export(_PerFrame(teacher).eval(), (torch.rand(1, 3, 64, 96), *style), str(path), dynamo=False,
                          opset_version=17, input_names=["content", *STYLE_INPUTS], output_names=["stylized"],
                          dynamic_axes={"content": {2: "height", 3: "width"}, "stylized": {2: "height", 3: "width"}})
    return path


def style_feeds(features: StyleFeatures) -> dict:
    """A style's features as the exported graph's named inputs."""
    return {n: getattr(features, n).detach().numpy().astype("float32") for n in STYLE_INPUTS}
