"""vcam's own person segmenter: a small encoder-decoder that predicts a soft person matte at 256x144.

Shape: a stride-2 stem, three depthwise-separable downsamplings to 1/16 (16x9), 5x5 depthwise residual blocks with
a squeeze-excite gate there (the global context that tells "a person is in view"), then a decoder that doubles the
resolution three times, adding the encoder's features at each step, and a 3x3 head at 1/2 resolution upsampled
bilinearly. Depthwise convs keep it at a few tens of M multiply-adds, so it costs a few milliseconds on the CPU
runtimes, mostly at 1/2 resolution; edges are refined afterwards at the output size against the camera frame
(vcam.person), so the network needs the silhouette, not the hair strands. The shipped shape (the defaults): widths
16/32/64/128, three blocks at 1/8 and eight at 1/16, the "light" decoder (283 k parameters). Before it: no blocks at
1/8 and four at 1/16 (145 k); the first one was 16/24/40/64 with two blocks and the "skip" decoder (31 k).

ONNX interface (what vcam.person.segmenter runs): input ``image`` (1,3,144,256) RGB in [0,1], output ``matte``
(1,1,144,256) person probability in [0,1].
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

INPUT_HW = (144, 256)
WIDTHS = (16, 32, 64, 128)
MID_BLOCKS = 8
DECODER = "light"
ENC_BLOCKS = (0, 3)     # residual blocks after the 1/4 and the 1/8 downsampling
# The first shipped shape (31 k parameters), for weights saved before the shape was recorded in full.
FIRST_SHAPE = ((16, 24, 40, 64), 2, "skip")


def _dwsep(cin: int, cout: int, stride: int = 1, k: int = 3) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cin, k, stride, k // 2, groups=cin, bias=False), nn.BatchNorm2d(cin), nn.ReLU(inplace=True),
        nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class _Residual(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(c, c, 5, 1, 2, groups=c, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True),
            nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c))
        self.gate = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(c, c // 4, 1), nn.ReLU(inplace=True),
                                  nn.Conv2d(c // 4, c, 1), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return F.relu(x + y * self.gate(y))


class PersonNet(nn.Module):
    """``decoder="skip"`` (the first shipped shape): each step upsamples the coarse features at their width and adds a
    1x1-projected skip. ``"light"``: each step projects to the finer level's width first (a 1x1 at the coarse
    resolution), upsamples that and adds the encoder's features as they are, so the 1/2-resolution level, where a
    pixel costs 4x one at 1/4 and 64x one at 1/16, carries only ``widths[0]`` channels; what that saves pays for wider
    1/8 and 1/16 levels."""

    def __init__(self, widths: tuple[int, ...] = WIDTHS, mid_blocks: int = MID_BLOCKS, decoder: str = DECODER,
                 enc_blocks: tuple[int, int] = ENC_BLOCKS) -> None:
        super().__init__()
        if decoder not in ("skip", "light"):
            raise ValueError(f"decoder must be 'skip' or 'light', not {decoder!r}")
        self.widths, self.mid_blocks, self.decoder = tuple(widths), mid_blocks, decoder
        self.enc_blocks = tuple(enc_blocks)
        w0, w1, w2, w3 = widths
        self.stem = nn.Sequential(nn.Conv2d(3, w0, 3, 2, 1, bias=False), nn.BatchNorm2d(w0), nn.ReLU(inplace=True))
        # Depth before 1/16, where a pixel is still cheap: one layer per level sees too little of the picture to tell
        # a person from a person-coloured wall (the first shapes' fog on VOC's rooms and streets).
        self.down1 = _dwsep(w0, w1, 2)        # 1/4
        self.enc1 = nn.Sequential(*(_Residual(w1) for _ in range(self.enc_blocks[0])))
        self.down2 = _dwsep(w1, w2, 2)        # 1/8
        self.enc2 = nn.Sequential(*(_Residual(w2) for _ in range(self.enc_blocks[1])))
        self.down3 = _dwsep(w2, w3, 2)        # 1/16
        self.mid = nn.Sequential(*(_Residual(w3) for _ in range(mid_blocks)))
        if decoder == "skip":
            self.skip2 = nn.Conv2d(w2, w3, 1)
            self.up2 = _dwsep(w3, w2)
            self.skip1 = nn.Conv2d(w1, w2, 1)
            self.up1 = _dwsep(w2, w1)
            self.skip0 = nn.Conv2d(w0, w1, 1)
            self.up0 = _dwsep(w1, w0)
        else:
            self.proj2, self.up2 = nn.Conv2d(w3, w2, 1), _dwsep(w2, w2)
            self.proj1, self.up1 = nn.Conv2d(w2, w1, 1), _dwsep(w1, w1)
            self.proj0, self.up0 = nn.Conv2d(w1, w0, 1), _dwsep(w0, w0)
        self.head = nn.Conv2d(w0, 1, 3, 1, 1)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Matte logits at the input size."""
        f0 = self.stem(x)
        f1 = self.enc1(self.down1(f0))
        f2 = self.enc2(self.down2(f1))
        y = self.mid(self.down3(f2))
        if self.decoder == "skip":
            y = self.up2(_up(y, f2) + self.skip2(f2))
            y = self.up1(_up(y, f1) + self.skip1(f1))
            y = self.up0(_up(y, f0) + self.skip0(f0))
        else:
            y = self.up2(_up(self.proj2(y), f2) + f2)
            y = self.up1(_up(self.proj1(y), f1) + f1)
            y = self.up0(_up(self.proj0(y), f0) + f0)
        return F.interpolate(self.head(y), size=x.shape[2:], mode="bilinear", align_corners=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logits(x))

    def shape_metadata(self) -> dict[str, str]:
        """What load_person_weights needs to rebuild this network (safetensors metadata)."""
        return {"widths": json.dumps(list(self.widths)), "mid_blocks": str(self.mid_blocks), "decoder": self.decoder,
                "enc_blocks": json.dumps(list(self.enc_blocks))}


def _up(y: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return F.interpolate(y, size=like.shape[2:], mode="bilinear", align_corners=False)


def export_segmenter(net: PersonNet, path: Path, opset: int = 17) -> Path:
    """The matte network as ONNX (static 256x144 input; batch norms folded by the exporter in eval mode)."""
    import onnx

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")   # the legacy exporter's notices; they do not change the graph
        torch.onnx.export(net.eval(), (torch.rand(1, 3, *INPUT_HW),), str(tmp), dynamo=False, opset_version=opset,
                          input_names=["image"], output_names=["matte"], do_constant_folding=True)
    onnx.checker.check_model(str(tmp), full_check=True)
    tmp.replace(path)
    return path
