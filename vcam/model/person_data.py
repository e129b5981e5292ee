"""Training inputs for the person segmenter: people photos and frames, composites onto varied backgrounds, empty rooms.

Every sample is a 256x144 RGB frame; its label is the teacher's matte of that same frame (pure distillation, so what
is learnt is the teacher's judgement, including on composites). Sources, all under ../shared/data, read from disk:
- people/frames and people/gesture (webcam-like, the target domain), less the held-out sequences below;
- people/portraits, cut out with the teacher's matte and pasted at a random scale and place (partial views, up to
  three people) onto photos from content/ and frames of video/ (not carphone.mp4, which measures flicker);
- backgrounds alone (nobody in view).
Augmentation: scale, position, flips, colour and light (gain, gamma, white balance), blur, noise, and (when asked)
the stretch of a camera that is not 16:9.
people/voc_eval is never read here: it is for measurement only.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from vcam.model.data import IMAGE_SUFFIXES, VIDEO_SUFFIXES, read_rgb, video_frames

W, H = 256, 144
# Held out of the segmenter's training for its measurements (benchmarks/person.py): two frame sequences (the laptop
# webcam and the signer, whose hands cross her face) and one gesture class.
HELD_OUT_PREFIXES = ("zhling_", "silent_", "rock_")
HELD_OUT_VIDEOS = ("carphone.mp4",)
# The segmenter stretches whatever the camera gives to 256x144, so a 4:3 webcam (640x480) shows people 1.33x wider
# than they are, a square feed 1.78x and a 3:4 portrait one 2.37x. A share of the samples (PeoplePool's
# stretch_share) is cut at such an aspect ratio and stretched the same way, log-uniform up to this factor.
STRETCH_MAX = 2.37


def draw_stretch(rng: np.random.Generator, share: float) -> float:
    """1.0 (a 16:9 camera) or, for ``share`` of the draws, a horizontal stretch in [1, STRETCH_MAX] (log-uniform).
    Draws nothing when ``share`` is 0, so runs without it see the same samples as before it existed."""
    if share <= 0 or rng.random() >= share:
        return 1.0
    return float(np.exp(rng.uniform(0.0, np.log(STRETCH_MAX))))


def _fit_16x9(img: np.ndarray, rng: np.random.Generator, min_scale: float = 0.55, stretch: float = 1.0) -> np.ndarray:
    """A random crop (55-100% of the largest one) resized to 256x144: 16:9, or narrower by ``stretch`` and so
    stretched that much horizontally, as a camera of that aspect ratio is."""
    h, w = img.shape[:2]
    aspect = 16 / 9 / stretch
    cw, ch = (w, round(w / aspect)) if w <= h * aspect else (round(h * aspect), h)
    s = rng.uniform(min_scale, 1.0)
    cw, ch = max(16, round(cw * s)), max(9, round(ch * s))
    x = rng.integers(0, w - cw + 1)
    y = rng.integers(0, h - ch + 1)
    return cv2.resize(img[y:y + ch, x:x + cw], (W, H), interpolation=cv2.INTER_AREA)


def _photometric(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Camera-like variation: gain, gamma, white balance, saturation, blur, sensor noise."""
    out = img * rng.uniform(0.6, 1.3) * rng.uniform(0.85, 1.15, 3).astype(np.float32)
    out = np.clip(out, 0.0, 1.0) ** rng.uniform(0.7, 1.4)
    gray = out.mean(axis=2, keepdims=True)
    out = gray + (out - gray) * rng.uniform(0.5, 1.3)
    if rng.random() < 0.3:
        k = int(rng.choice([3, 5]))
        out = cv2.GaussianBlur(out, (k, k), 0)
    if rng.random() < 0.5:
        out = out + rng.normal(0.0, rng.uniform(0.005, 0.04), out.shape).astype(np.float32)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


class PeoplePool:
    """People images, portrait cutouts and backgrounds in memory; ``batch`` draws augmented 256x144 frames."""

    def __init__(self, people_dir: Path, content_dir: Path, video_dir: Path | None,
                 matte: Callable[[np.ndarray], np.ndarray], share_real: float = 0.5, share_empty: float = 0.1,
                 stretch_share: float = 0.0) -> None:
        self.real: list[np.ndarray] = []
        for folder in ("frames", "gesture"):
            for p in sorted((people_dir / folder).glob("*")):
                if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(HELD_OUT_PREFIXES):
                    self.real.append(read_rgb(p))
        self.backgrounds = [read_rgb(p, 640) for p in sorted(content_dir.iterdir())
                            if p.suffix.lower() in IMAGE_SUFFIXES]
        if video_dir is not None and video_dir.is_dir():
            for p in sorted(video_dir.iterdir()):
                if p.suffix.lower() in VIDEO_SUFFIXES and p.name not in HELD_OUT_VIDEOS:
                    self.backgrounds.extend(video_frames(p, 30, 640))
        portraits = [read_rgb(p) for p in sorted((people_dir / "portraits").glob("*"))
                     if p.suffix.lower() in IMAGE_SUFFIXES]
        if not self.real or not self.backgrounds or not portraits:
            raise ValueError(f"need people frames, portraits and backgrounds under {people_dir} and {content_dir}")
        self.cutouts = [(img, a) for img, a in zip(portraits, self._portrait_mattes(portraits, matte), strict=True)
                        if a.mean() > 0.1]
        self.share_real = share_real
        self.share_empty = share_empty
        self.stretch_share = stretch_share

    @staticmethod
    def _portrait_mattes(portraits: list[np.ndarray], matte: Callable[[np.ndarray], np.ndarray]) -> list[np.ndarray]:
        """Each portrait's alpha: the teacher's matte of it placed, full height, in the middle of a 16:9 frame."""
        out = []
        for i in range(0, len(portraits), 32):
            group = portraits[i:i + 32]
            frames = np.empty((len(group), H, W, 3), np.float32)
            boxes = []
            for j, img in enumerate(group):
                h, w = img.shape[:2]
                pw = round(w * H / h)
                x0 = (W - pw) // 2
                small = cv2.resize(img, (pw, H), interpolation=cv2.INTER_AREA)
                frames[j] = cv2.copyMakeBorder(small, 0, 0, x0, W - pw - x0, cv2.BORDER_REPLICATE)
                boxes.append((x0, pw, w, h))
            mattes = matte(frames)
            for j, (x0, pw, w, h) in enumerate(boxes):
                out.append(cv2.resize(mattes[j, :, x0:x0 + pw], (w, h), interpolation=cv2.INTER_LINEAR))
        return out

    def _background(self, rng: np.random.Generator, stretch: float = 1.0) -> np.ndarray:
        img = _fit_16x9(self.backgrounds[rng.integers(len(self.backgrounds))], rng, 0.4, stretch)
        return img[:, ::-1] if rng.random() < 0.5 else img

    def _composite(self, rng: np.random.Generator, stretch: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        """A frame of cut-out people over a background, and its alpha: the cut-outs' own mattes, composited as the
        pixels were (a label that cannot light up on the background's texture, and costs no teacher pass). People
        and room are stretched alike."""
        frame = self._background(rng, stretch).copy()
        label = np.zeros((H, W), np.float32)
        for _ in range(int(rng.choice([1, 1, 1, 2, 3]))):
            img, alpha = self.cutouts[rng.integers(len(self.cutouts))]
            h = max(24, round(H * rng.uniform(0.45, 1.6)))   # from far away to a close-up cut by the frame
            w = max(8, round(img.shape[1] * h / img.shape[0] * stretch))
            img = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
            alpha = cv2.resize(alpha, (w, h), interpolation=cv2.INTER_LINEAR)
            if rng.random() < 0.5:
                img, alpha = img[:, ::-1], alpha[:, ::-1]
            img = _photometric(img, rng) * 0.5 + img * 0.5    # people lit a little differently from the room
            x = int(rng.integers(-w // 3, W - 2 * w // 3 + 1))
            y = H - h + int(rng.integers(0, max(1, h // 3)))   # standing on the bottom edge, or cut lower
            fx0, fy0, fx1, fy1 = max(0, x), max(0, y), min(W, x + w), min(H, y + h)
            if fx1 <= fx0 or fy1 <= fy0:
                continue
            a = alpha[fy0 - y:fy1 - y, fx0 - x:fx1 - x, None]
            frame[fy0:fy1, fx0:fx1] = frame[fy0:fy1, fx0:fx1] * (1 - a) + img[fy0 - y:fy1 - y, fx0 - x:fx1 - x] * a
            box = label[fy0:fy1, fx0:fx1]
            box += (1 - box) * a[..., 0]
        return frame, label

    def labelled(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray | None]:
        """One augmented frame and its matte where it is known without the teacher (composites, nobody in view);
        None for real frames, which the teacher labels."""
        u = rng.random()
        stretch = draw_stretch(rng, self.stretch_share)
        label: np.ndarray | None
        if u < self.share_empty:
            img, label = self._background(rng, stretch), np.zeros((H, W), np.float32)
        elif u < self.share_empty + self.share_real:
            img, label = _fit_16x9(self.real[rng.integers(len(self.real))], rng, stretch=stretch), None
            img = img[:, ::-1] if rng.random() < 0.5 else img
        else:
            img, label = self._composite(rng, stretch)
        return _photometric(np.ascontiguousarray(img), rng), label

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        return self.labelled(rng)[0]

    def batch(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """(n, 144, 256, 3) RGB float32 in [0,1]."""
        return np.stack([self.sample(rng) for _ in range(n)])

    def labelled_batch(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(frames (n,144,256,3), labels (n,144,256), known (n,) bool): rows not known need the teacher."""
        drawn = [self.labelled(rng) for _ in range(n)]
        labels = np.stack([lab if lab is not None else np.zeros((H, W), np.float32) for _, lab in drawn])
        return np.stack([img for img, _ in drawn]), labels, np.asarray([lab is not None for _, lab in drawn])
