"""Evaluation helpers for the quality benchmark and the contact sheet (torch side; the runtime never imports this).

- ``e_warp``: temporal warping error of Lai et al. (ECCV 2018). Flow comes from the *input* frames (DIS optical
  flow, MEDIUM preset, on gray), occlusions from a forward-backward consistency check (Ruder et al. 2016), and the
  error is the mean squared RGB difference in [0,1] between output t and output t+1 warped back to t over the
  non-occluded pixels, averaged over consecutive pairs. It works on any outputs (torch, ONNX, int8...).
- ``Judge``: style and content distances on EfficientNet-Lite1, a network training (Lite0) never saw.
- ``load_model`` / ``stylize_sequence``: run a trained StyleNet recurrently, as the engine does.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from vcam.errors import ModelError
from vcam.model import losses as L
from vcam.model.lossnet import EfficientNetLite, load_lossnet
from vcam.model.network import StyleBank, StyleNet
from vcam.model.weights import load_weights
from vcam.styles import MANIFEST, parse_style_spec, resolve_blend

# The engine's default internal resolution is 320x180 for 16:9; other aspects keep about that many pixels.
INTERNAL_AREA = 320 * 180

# Lite1 taps analogous to training's Lite0 taps (vcam.model.losses.STYLE_TAPS): Lite0's expand taps b1/b3/b5/b8/b11
# are the first block of stages 2-6. Lite1 has more repeats per stage, so the same names land elsewhere (its b11 is
# the first block of stage 5, 480 ch, not 672); its stage-first blocks are b1/b4/b7/b11/b15, which give the same
# channel counts and strides as Lite0's taps: stem 32@/2, b1 96@/2, b4 144@/4, b7 240@/8, b11 480@/16, b15 672@/16.
EVAL_NET = "lite1"
EVAL_STYLE_TAPS = {"s0": "stem", "s1": "b1.expand", "s2": "b4.expand", "s3": "b7.expand",
                   "s4": "b11.expand", "s5": "b15.expand"}
# Training's content tap is Lite0 b4.out, the last block of stage 3 (40 ch, /8); in Lite1 that is b6.out.
EVAL_CONTENT_TAPS = {"c": "b6.out"}
# Style images are judged at about the scale the outputs have (long side of the internal resolution).
STYLE_LONG_SIDE = 320


# ---------------------------------------------------------------------------------------------- images and sizes

def internal_size(width: int, height: int, area: int = INTERNAL_AREA, multiple: int = 4) -> tuple[int, int]:
    """(w, h) with about ``area`` pixels, the same aspect, both multiples of ``multiple``."""
    s = (area / (width * height)) ** 0.5
    w = max(multiple, round(width * s / multiple) * multiple)
    h = max(multiple, round(height * s / multiple) * multiple)
    return w, h


def as_float_rgb(img: np.ndarray) -> np.ndarray:
    """HxWx3 float32 in [0,1] from uint8 or float input."""
    if img.dtype == np.uint8:
        return img.astype(np.float32) / 255.0
    return img.astype(np.float32, copy=False)


def resize(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize to (w, h): area filter when shrinking, bicubic when enlarging (clipped back into [0,1])."""
    h, w = img.shape[:2]
    if (w, h) == tuple(size):
        return img
    shrink = size[0] * size[1] < w * h
    out = cv2.resize(img, size, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
    return np.clip(out, 0.0, 1.0) if out.dtype != np.uint8 else out


def read_clip(path: Path, frames: int, start: int = 0, area: int | None = INTERNAL_AREA) -> list[np.ndarray]:
    """Up to ``frames`` RGB float frames of a video from ``start``, at the internal resolution (native if None)."""
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise ModelError(f"Cannot open the video {path}.")
    out: list[np.ndarray] = []
    try:
        index = 0
        while len(out) < frames:
            ok, bgr = cap.read()
            if not ok:
                break
            if index >= start:
                rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0
                out.append(rgb if area is None else resize(rgb, internal_size(rgb.shape[1], rgb.shape[0], area)))
            index += 1
    finally:
        cap.release()
    return out


def synthetic_motion(photo: np.ndarray, frames: int, size: tuple[int, int] = (320, 180),
                     period: int = 80) -> list[np.ndarray]:
    """A smooth camera move over a still photo: a pan with a vertical wobble and a slow zoom (up to 15%).

    The path is periodic in ``period`` frames, so the motion per frame (<= ~4 px at 320x180) does not depend on
    how many frames are asked for.
    """
    w, h = size
    # Work from a copy ~1.4x the output scale so the linear warp never magnifies much or aliases.
    ph, pw = photo.shape[:2]
    base = 1.4 * max(w / pw, h / ph)
    src = resize(as_float_rgb(photo), (max(w, round(pw * base)), max(h, round(ph * base))))
    sh, sw = src.shape[:2]
    fit = min(sw / w, sh / h)  # source pixels per output pixel when the view just fits the copy
    out = []
    for t in range(frames):
        phase = 2 * np.pi * t / period
        zoom = 1.0 + 0.075 * (1 - np.cos(phase))
        k = fit / (1.25 * zoom)           # the view spans at most 1/1.25 of the copy: room to pan
        slack_x, slack_y = (sw - k * w) / 2, (sh - k * h) / 2
        cx = (sw - 1) / 2 + 0.9 * slack_x * np.sin(phase)
        cy = (sh - 1) / 2 + 0.4 * min(slack_x, slack_y) * np.sin(2 * phase)
        a = np.array([[k, 0.0, cx - k * (w - 1) / 2], [0.0, k, cy - k * (h - 1) / 2]], np.float64)
        out.append(cv2.warpAffine(src, a, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                  borderMode=cv2.BORDER_REFLECT))
    return out


# ------------------------------------------------------------------------------------------------------- E_warp

@dataclass(frozen=True)
class PairFlow:
    """Where each pixel of frame t is found in frame t+1, and whether that correspondence is trustworthy."""

    map_x: np.ndarray  # (H,W) float32: x + flow_x
    map_y: np.ndarray
    mask: np.ndarray   # (H,W) bool: inside frame t+1 and forward-backward consistent


def _gray_u8(img: np.ndarray) -> np.ndarray:
    img = as_float_rgb(img)
    return cv2.cvtColor((np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8), cv2.COLOR_RGB2GRAY)


def consistency_mask(flow_fw: np.ndarray, flow_bw: np.ndarray) -> PairFlow:
    """Forward flow t->t+1, backward flow t+1->t (H,W,2) -> sampling maps and the non-occlusion mask.

    A pixel is kept when p + f_fw(p) lies inside the frame and the backward flow there undoes the forward flow:
    |f_fw + f_bw(p + f_fw)|^2 < 0.01 (|f_fw|^2 + |f_bw(p + f_fw)|^2) + 0.5 (Ruder et al. 2016).
    """
    h, w = flow_fw.shape[:2]
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    map_x = xs + flow_fw[..., 0]
    map_y = ys + flow_fw[..., 1]
    bw = cv2.remap(flow_bw, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    s = flow_fw + bw
    lhs = (s ** 2).sum(-1)
    rhs = 0.01 * ((flow_fw ** 2).sum(-1) + (bw ** 2).sum(-1)) + 0.5
    inside = (map_x >= 0) & (map_x <= w - 1) & (map_y >= 0) & (map_y <= h - 1)
    return PairFlow(map_x, map_y, (lhs < rhs) & inside)


def pair_flows(frames_in: Sequence[np.ndarray]) -> list[PairFlow]:
    """Flows and masks for every consecutive pair of input frames (compute once, score many outputs)."""
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    grays = [_gray_u8(f) for f in frames_in]
    out = []
    for a, b in zip(grays[:-1], grays[1:], strict=True):
        fw = dis.calc(a, b, None)
        bw = dis.calc(b, a, None)
        out.append(consistency_mask(fw, bw))
    return out


def warp_back(frame_next: np.ndarray, pf: PairFlow) -> np.ndarray:
    """Frame t+1 sampled at p + f_fw(p): what frame t should look like if only the motion changed it."""
    return cv2.remap(as_float_rgb(frame_next), pf.map_x, pf.map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def e_warp_pairs(flows: Sequence[PairFlow], frames_out: Sequence[np.ndarray]) -> list[float]:
    """Per pair: mean over non-occluded pixels and the 3 channels of (O_t - warp(O_t+1))^2."""
    if len(frames_out) != len(flows) + 1:
        raise ValueError(f"{len(frames_out)} output frames for {len(flows)} flow pairs")
    errs = []
    for t, pf in enumerate(flows):
        cur = as_float_rgb(frames_out[t])
        if cur.shape[:2] != pf.mask.shape:
            raise ValueError(f"output frame {cur.shape[:2]} does not match the flow {pf.mask.shape}")
        d = (cur - warp_back(frames_out[t + 1], pf)) ** 2
        n = int(pf.mask.sum())
        errs.append(float(d[pf.mask].sum() / (3 * n)) if n else 0.0)
    return errs


def e_warp(frames_in: Sequence[np.ndarray], frames_out: Sequence[np.ndarray]) -> float:
    """E_warp of ``frames_out`` (HxWx3 RGB, uint8 or float in [0,1]) with flow from ``frames_in`` (same size)."""
    if len(frames_in) < 2:
        raise ValueError("E_warp needs at least two frames")
    return float(np.mean(e_warp_pairs(pair_flows(frames_in), frames_out)))


# ------------------------------------------------------------------------------------------------------- models

@dataclass
class LoadedModel:
    net: StyleNet
    bank: StyleBank
    styles: tuple[str, ...]
    temporal: bool
    directory: Path
    iterations: int | None

    def style_vector(self, spec: str | dict[str, float]) -> torch.Tensor:
        """The style code of a style or blend (the same blend of the styles' codes)."""
        blend = parse_style_spec(spec) if isinstance(spec, str) else dict(spec)
        with torch.no_grad():
            return self.bank(torch.tensor([resolve_blend(blend, self.styles)], dtype=torch.float32))


def load_model(directory: Path) -> LoadedModel:
    """A StyleNet and its style codes from a model folder (manifest.json + safetensors weights)."""
    directory = Path(directory)
    path = directory / MANIFEST
    if not path.is_file():
        raise ModelError(f"No model manifest at {path}.", "Pass a folder written by `vcam train` (or models/).")
    manifest = json.loads(path.read_text(encoding="utf-8"))
    weights = directory / manifest.get("weights", "vcam.safetensors")
    if not weights.is_file():
        raise ModelError(f"The weights {weights} named by {path} are missing.")
    # Training rewrites the weights and the manifest separately; the style list stored inside the weights file
    # always matches those weights.
    net, bank, names = load_weights(weights)
    iterations = manifest.get("training", {}).get("iterations")
    return LoadedModel(net, bank, tuple(names), bool(manifest.get("temporal", True)), directory, iterations)


@torch.inference_mode()
def stylize_sequence(model: LoadedModel, frames: Sequence[np.ndarray], style: str | dict[str, float],
                     temporal: bool | None = None) -> list[np.ndarray]:
    """Run the net over frames in order, as the engine does: state carried (keep = 1 after the first frame) when
    temporal, else keep = 0 on every frame. Returns HxWx3 float32 RGB in [0,1]."""
    temporal = model.temporal if temporal is None else temporal
    s = model.style_vector(style)
    c, st = model.net.shape.state_channels, model.net.shape.stride
    out = []
    state = None
    for i, f in enumerate(frames):
        x = torch.from_numpy(np.ascontiguousarray(as_float_rgb(f))).permute(2, 0, 1)[None]
        h, w = x.shape[-2:]
        if h % st or w % st:
            raise ValueError(f"frame {w}x{h} is not a multiple of {st}")
        if state is None or state.shape[-2:] != (h // st, w // st):
            state = torch.zeros(1, c, h // st, w // st)
        keep = torch.tensor([[1.0 if (temporal and i > 0) else 0.0]])
        y, state = model.net(x, state, keep, s)
        out.append(y[0].permute(1, 2, 0).numpy().copy())
    return out


# ---------------------------------------------------------------------------------------------------- distances

def _tensor(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(as_float_rgb(img))).permute(2, 0, 1)[None]


class Judge:
    """Style and content distances on EfficientNet-Lite1 (never used in training)."""

    def __init__(self, net: EfficientNetLite | None = None) -> None:
        self.net = net if net is not None else load_lossnet(EVAL_NET)

    @torch.inference_mode()
    def style_target(self, style_image: np.ndarray, long_side: int | None = STYLE_LONG_SIDE) -> dict[str, torch.Tensor]:
        """Gram matrices of a style image (resized so its long side is ``long_side``)."""
        img = as_float_rgb(style_image)
        if long_side:
            h, w = img.shape[:2]
            s = long_side / max(h, w)
            img = resize(img, (max(1, round(w * s)), max(1, round(h * s))))
        feats = self.net(_tensor(img), EVAL_STYLE_TAPS)
        return {k: L.gram(v)[0] for k, v in feats.items()}

    @torch.inference_mode()
    def content_features(self, inp: np.ndarray) -> torch.Tensor:
        """The input's features at the content tap (compute once per input frame, compare many outputs)."""
        return self.net(_tensor(inp), EVAL_CONTENT_TAPS)["c"]

    @torch.inference_mode()
    def distances(self, out: np.ndarray, target: dict[str, torch.Tensor],
                  content_ref: torch.Tensor | None = None) -> tuple[float, float]:
        """(style distance, content distance) of one output frame.

        style: mean over taps of ||G(out) - G(style)||^2 / ||G(style)||^2.
        content: ||F(out) - F(in)||^2 / ||F(in)||^2 at a mid tap, F(in) = ``content_ref`` (nan when not given).
        """
        feats = self.net(_tensor(out), {**EVAL_STYLE_TAPS, **EVAL_CONTENT_TAPS})
        style = 0.0
        for k, g_s in target.items():
            g = L.gram(feats[k])[0]
            style += float(((g - g_s) ** 2).sum() / (g_s ** 2).sum().clamp_min(1e-12))
        style /= len(target)
        content = float("nan")
        if content_ref is not None:
            content = float(((feats["c"] - content_ref) ** 2).sum() / (content_ref ** 2).sum().clamp_min(1e-12))
        return style, content

    def style_distance(self, out: np.ndarray, target: dict[str, torch.Tensor]) -> float:
        return self.distances(out, target)[0]
