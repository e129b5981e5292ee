"""The stylization network: any style as a code vector, a recurrent state carried between frames.

Shape of the net (default NetShape; sizes at the 960x544 input it runs at for a 720p output):
  enc   conv3x3/2 3->16, conv3x3/2 16->32, conv3x3/2 32->64, each CIN ReLU          480x272, 240x136, 120x68
  state gated update of the 64-ch "world state" at 1/8 with the new features (a minimal ConvGRU)
  res   4 residual blocks at 1/8, dense 3x3 convs 64->64 (dilations 1,2,4,2: a receptive field of ~200 px)
  dec   two x2 steps back to 1/2, each a 3x3 conv at the lower resolution to 4x the channels, depth-to-space,
        plus the encoder's features at that resolution (skip), CIN ReLU                    240x136, 480x272
  out   3x3 conv 16->12 at 1/2, depth-to-space to full resolution, sigmoid                 960x544

Why this shape: the picture at the output size is what people see, and brush strokes only survive to 720p if the
network paints them near that size (upsampling a 480x270 painting blurs its strokes; benchmarks/quality.py scores
it). So the net runs at a high resolution with a cheap full-resolution end (one stride-2 conv in, one
depth-to-space out, no full-resolution layer) and does its work at 1/8, where 4 residual blocks cost what they
would at 1/4 of a 480x270 frame. Dense 3x3 convolutions rather than depthwise ones: CPUs with AMX or AVX-512 bf16
run several times more multiply-adds per second on them (benchmarks/bench_backends.py).

The style is a code vector (Ghiasi et al. 2017): one linear map turns it into every conditional instance norm's
scale and shift (Dumoulin et al. 2017: instance norm without affine, then a per-channel scale and shift). The
built-in styles are stored codes (``StyleBank``); a blend is a convex mix of codes, which is the same mix of the
norm parameters because the map is linear, so blending and switching need no re-export; a style image can get its
code from an encoder, with the same graph.

The recurrent state: ``h = keep * ((1 - z) * h_prev + z * f) + (1 - keep) * f`` with ``z`` a sigmoid gate
computed from ``[f, h_prev]``. ``keep`` = 0 resets (first frame, scene cut, size change).

The detail head (``NetShape.detail`` > 0, from stage 14): the body above runs on a 2x2 mean of the input and
``DetailHead`` paints the full-size picture from the body's features and a stride-2 look at the frame. It exists
because the teacher's strokes are a pixel or two wide: downscaling the teacher's own 720p painting to 960x540 and
back raised its style distance by 1.24-1.48x (starry_night, mondrian, shipwreck_minotaur), as much as stood between
the plain net and the teacher. With the head every output pixel is painted; at 1280x720 the whole net costs 2.5
GMAC against the plain net's 4.3 at 960x544.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class NetShape:
    """What a StyleNet is built from; stored in the manifest so a model folder rebuilds its own net."""

    code_dim: int = 128
    enc: tuple[int, ...] = (16, 32)             # channels of the stride-2 stages before the trunk
    width: int = 64                             # channels at the trunk (= the recurrent state's)
    dilations: tuple[int, ...] = (1, 2, 4, 2)
    # Channels of the full-resolution detail head (0: none). With a head the body runs at half the input's size
    # and the head paints the strokes at the input's (= the output's) size; see DetailHead.
    detail: int = 0

    @property
    def state_channels(self) -> int:
        return self.width

    @property
    def stride(self) -> int:
        """The trunk's (and the state's) stride: H and W must be multiples of it."""
        return 2 ** (len(self.enc) + 1 + (self.detail > 0))

    @property
    def design_height_720(self) -> int:
        """The internal height at a 720p output this shape is sized for on 2 cores (the governor starts there)."""
        return DETAIL_DESIGN_HEIGHT_720 if self.detail else DESIGN_HEIGHT_720

    @property
    def ladder_720(self) -> tuple[int, ...]:
        return DETAIL_LADDER_720 if self.detail else LADDER_720

    def as_dict(self) -> dict:
        d = asdict(self)
        return {**d, "enc": list(self.enc), "dilations": list(self.dilations)}

    @classmethod
    def from_dict(cls, d: dict) -> NetShape:
        d = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        for k in ("enc", "dilations"):
            if k in d:
                d[k] = tuple(int(x) for x in d[k])
        return cls(**d)


# The internal height at a 720p output that this net is sized for on 2 cores (the governor starts there and moves
# with the measured time).
DESIGN_HEIGHT_720 = 540
# Where the governor may move under load (internal heights for 720p; other outputs scale them). 216 is for slow or
# shared CPUs: the 2-hour soak on a 2-vCPU Zen 3 with 4-25% hypervisor steal sat at 288 and still missed 30 fps in
# bursts. 180 is for 1080p on CPUs without bf16 (270 there, a whole quarter of the height): on an AVX2-only Zen 3 the
# f32 network at 1080p's next rung, 576x324, ran live at 19 fps.
LADDER_720 = (180, 216, 288, 360, 432, 540)
# A net with a detail head paints at its input's size, so its rungs run up to the output's own height (its body
# then runs at 640x360). 216 is for 1080p on CPUs without bf16 (324 there): on an AVX2-only Zen 3 its lowest rung
# before, 768x432, held 29.4 fps live with p95 60 ms.
DETAIL_DESIGN_HEIGHT_720 = 720
DETAIL_LADDER_720 = (216, 288, 360, 432, 504, 576, 720)
SIZE_MULTIPLE = NetShape().stride
STATE_CHANNELS = NetShape().state_channels


def _conv(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=dilation, dilation=dilation)


class Up(nn.Module):
    """x2 upsampling as a 3x3 conv at the lower resolution to 4x the channels, then depth-to-space: the
    multiply-adds of a conv after upsampling, without a full-resolution resize (Shi et al. 2016)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = _conv(cin, 4 * cout)
        with torch.no_grad():   # ICNR init (Aitken et al. 2017): starts as nearest upsampling, no checkerboard
            self.conv.weight.copy_(self.conv.weight[:cout].clone().repeat_interleave(4, dim=0))
            self.conv.bias.copy_(self.conv.bias[:cout].clone().repeat_interleave(4, dim=0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pixel_shuffle(self.conv(x), 2)


class StyleMap(nn.Module):
    """code (N,D) -> every norm's (scale, shift), in one matmul: scale = 1 + W_g code + b_g, shift = W_b code + b_b."""

    def __init__(self, code_dim: int, channels: list[int]) -> None:
        super().__init__()
        self.channels = channels
        self.linear = nn.Linear(code_dim, 2 * sum(channels))
        nn.init.normal_(self.linear.weight, std=0.02)
        nn.init.zeros_(self.linear.bias)

    def forward(self, code: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        p = self.linear(code)
        out, i = [], 0
        for c in self.channels:
            g, b = p[:, i:i + c], p[:, i + c:i + 2 * c]
            out.append(((1.0 + g)[:, :, None, None], b[:, :, None, None]))
            i += 2 * c
        return out


def cin(x: torch.Tensor, gb: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    return F.instance_norm(x, eps=1e-5) * gb[0] + gb[1]


class ResBlock(nn.Module):
    def __init__(self, channels: int, dilation: int) -> None:
        super().__init__()
        self.conv1 = _conv(channels, channels, dilation=dilation)
        self.conv2 = _conv(channels, channels)

    def forward(self, x: torch.Tensor, gb: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        return x + self.conv2(F.relu(cin(self.conv1(x), gb)))


class DetailHead(nn.Module):
    """Paints at the full input size what a body run at half size cannot: the strokes' own pixels.

    From the body's last features (x2, to the input's half size) and a stride-2 look at the full-size frame (its
    edges), with a conditional norm so each style draws its own texture, a last x2 step (conv, depth-to-space) makes
    the full-size colour logits. That step also reads the body's own logits, and starts as their bilinear x2
    upsampling (a 3x3 conv with fixed taps does it exactly, inside the frame; an ONNX Resize at full size took as
    long as the head's convs in OpenVINO's per-layer profile here) with zero weight on the features: a head grown
    onto a trained body starts as exactly that body, upsampled (``grow_from``).
    """

    def __init__(self, body_channels: int, channels: int) -> None:
        super().__init__()
        self.up = Up(body_channels, channels)
        self.look = _conv(3, channels, stride=2)
        self.out = nn.Conv2d(channels + 3, 12, 3, padding=1)
        with torch.no_grad():
            self.out.weight.zero_()
            self.out.bias.zero_()
            # Bilinear x2 (half-pixel centres): sub-pixel 0 takes 1/4 of the previous pixel and 3/4 of its own, 1 takes
            # 3/4 of its own and 1/4 of the next; depth-to-space puts output channel 4c + 2dy + dx at (dy, dx).
            taps = torch.tensor([[0.25, 0.75, 0.0], [0.0, 0.75, 0.25]])
            for c in range(3):
                for dy in range(2):
                    for dx in range(2):
                        self.out.weight[4 * c + 2 * dy + dx, channels + c] = torch.outer(taps[dy], taps[dx])

    def forward(self, logits: torch.Tensor, feats: torch.Tensor, image: torch.Tensor,
                gb: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        d = F.relu(cin(self.up(feats) + self.look(image), gb))
        return F.pixel_shuffle(self.out(torch.cat([d, logits], dim=1)), 2)


class StyleNet(nn.Module):
    """Temporally conditioned stylization network with a style-code input.

    forward(image, state, keep, style) -> (stylized, new_state)
      image   (N,3,H,W) RGB in [0,1], H and W multiples of ``shape.stride``
      state   (N,C,H/stride,W/stride) the previous call's new_state (anything, e.g. zeros, when keep = 0)
      keep    (N,1) 1 to carry the state over, 0 to reset it
      style   (N,D) the style code (a stored code, or a convex mix of codes for a blend)
    """

    def __init__(self, shape: NetShape | None = None) -> None:
        super().__init__()
        self.shape = s = shape or NetShape()
        chans = [*s.enc, s.width]
        self.enc = nn.ModuleList(_conv(cin_, cout, stride=2) for cin_, cout in zip([3, *chans[:-1]], chans,
                                                                                    strict=True))
        c = s.width
        self.gate = nn.Conv2d(2 * c, c, 1)
        self.blocks = nn.ModuleList(ResBlock(c, d) for d in s.dilations)
        self.dec = nn.ModuleList(Up(hi, lo) for hi, lo in zip(chans[:0:-1], chans[-2::-1], strict=True))
        self.out = Up(s.enc[0], 3)
        self.head = DetailHead(s.enc[0], s.detail) if s.detail else None
        self.style_map = StyleMap(s.code_dim, [*chans, *([c] * len(s.dilations)), *chans[-2::-1],
                                               *([s.detail] if s.detail else [])])
        # Start the gate biased towards taking the new frame: a fresh net must first learn to stylize.
        nn.init.constant_(self.gate.bias, 1.0)

    @property
    def code_dim(self) -> int:
        return self.shape.code_dim

    def forward(self, image: torch.Tensor, state: torch.Tensor, keep: torch.Tensor,
                style: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        p = iter(self.style_map(style))
        skips = []
        # With a detail head the body sees the frame at half size (a 2x2 mean, as the engine's area resize would).
        x = F.avg_pool2d(image, 2) if self.head is not None else image
        for conv in self.enc:
            x = F.relu(cin(conv(x), next(p)))
            skips.append(x)
        f = skips.pop()
        z = torch.sigmoid(self.gate(torch.cat([f, state], dim=1)))
        k = keep[:, :, None, None]
        h = k * ((1 - z) * state + z * f) + (1 - k) * f
        y = h
        for block in self.blocks:
            y = block(y, next(p))
        for up in self.dec:
            # The encoder's features at each resolution come back: the decoder keeps the frame's detail (eyes).
            y = F.relu(cin(up(y) + skips.pop(), next(p)))
        logits = self.out(y)
        if self.head is not None:
            logits = self.head(logits, y, image, next(p))
        return torch.sigmoid(logits), h


def grow_from(net: StyleNet, base: StyleNet) -> None:
    """Load a trained net without a detail head into ``net``, the same shape plus a head: every body weight, and
    the body's rows of the style map (its norms come first; the head's norm is last). The head's zero last conv
    then makes ``net`` paint what ``base`` paints at half size, upsampled, until training teaches the head."""
    want = NetShape.from_dict({**net.shape.as_dict(), "detail": 0})
    if base.shape != want:
        raise ValueError(f"cannot grow a {net.shape} from a {base.shape}: only the detail head may differ")
    own = net.state_dict()
    for k, v in base.state_dict().items():
        if k.startswith("style_map.linear."):
            n = v.shape[0]
            own[k][:n].copy_(v)      # the head's rows keep their init: scale 1, shift ~0
        else:
            own[k].copy_(v)


class StyleBank(nn.Module):
    """The built-in styles' codes, (S, D), trained with the net; a blend is weights @ codes."""

    def __init__(self, num_styles: int, code_dim: int) -> None:
        super().__init__()
        self.codes = nn.Parameter(torch.randn(num_styles, code_dim) * 0.5)

    def forward(self, weights: torch.Tensor) -> torch.Tensor:
        return weights @ self.codes


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
        c, st = net.shape.state_channels, net.shape.stride
        net(torch.zeros(1, 3, height, width), torch.zeros(1, c, height // st, width // st), torch.zeros(1, 1),
            torch.zeros(1, net.code_dim))
    for h in hooks:
        h.remove()
    return total
