"""Training data: random crops of photos and video frames, style images. Read from disk, never copied."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov")
# Held out of training so the contact sheet and checks show photos the net never saw.
HELD_OUT = ("chelsea.jpg", "plasma_Kite.jpg", "lomiri16_friends_by_Aitzol_Berasategi.jpg", "carphone.mp4")
# People (../shared/data/people): held out are the laptop-webcam sequence (zhling: a face and an office at 720p,
# the closest to a call) and one gesture class; voc_eval is for the segmenter's measurements only, never training.
PEOPLE_FOLDERS = ("portraits", "frames", "gesture")
PEOPLE_HELD_OUT_PREFIXES = ("zhling_", "rock_")


def read_rgb(path: Path, long_side: int | None = None) -> np.ndarray:
    """RGB float32 in [0,1], optionally resized so the long side is ``long_side``."""
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError(f"cannot read image {path}")
    if long_side:
        h, w = img.shape[:2]
        s = long_side / max(h, w)
        img = cv2.resize(img, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0


def video_frames(path: Path, every: int, long_side: int) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    out = []
    i = 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        if i % every == 0:
            h, w = frame.shape[:2]
            s = min(1.0, long_side / max(h, w))
            frame = cv2.resize(frame, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
            out.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0)
        i += 1
    cap.release()
    return out


class ContentPool:
    """Photos (and optionally video frames) in memory; yields random augmented square crops."""

    def __init__(self, content_dir: Path, video_dir: Path | None = None, long_side: int = 640,
                 video_every: int = 6, held_out: tuple[str, ...] = HELD_OUT, people_dir: Path | None = None,
                 people_every: int = 3, people_share: float = 0.4) -> None:
        self.images: list[np.ndarray] = []
        for p in sorted(content_dir.iterdir()):
            if p.suffix.lower() in IMAGE_SUFFIXES and p.name not in held_out:
                self.images.append(read_rgb(p, long_side))
        self.n_photos = len(self.images)
        if video_dir is not None and video_dir.is_dir():
            for p in sorted(video_dir.iterdir()):
                if p.suffix.lower() in VIDEO_SUFFIXES and p.name not in held_out:
                    self.images.extend(video_frames(p, video_every, long_side))
        if not self.images:
            raise ValueError(f"no training images found in {content_dir}")
        # Faces are what a call shows most and what the photos lack: a share of the crops comes from people.
        self.people: list[np.ndarray] = []
        if people_dir is not None and people_dir.is_dir():
            for folder in PEOPLE_FOLDERS:
                files = sorted(p for p in (people_dir / folder).glob("*") if p.suffix.lower() in IMAGE_SUFFIXES
                               and not p.name.startswith(PEOPLE_HELD_OUT_PREFIXES))
                self.people.extend(read_rgb(p, long_side) for p in files[::people_every])
        self.people_share = people_share if self.people else 0.0

    def crops(self, n: int, size: int, rng: np.random.Generator) -> torch.Tensor:
        """(n,3,size,size): a random square of 35-100% of the short side, resized, flipped, colour-jittered."""
        out = np.empty((n, size, size, 3), np.float32)
        for i in range(n):
            src = self.people if rng.random() < self.people_share else self.images
            img = src[rng.integers(len(src))]
            h, w = img.shape[:2]
            side = int(min(h, w) * rng.uniform(0.35, 1.0))
            side = max(side, min(size, h, w))
            y = rng.integers(0, h - side + 1)
            x = rng.integers(0, w - side + 1)
            crop = cv2.resize(img[y:y + side, x:x + side], (size, size), interpolation=cv2.INTER_AREA)
            if rng.random() < 0.5:
                crop = crop[:, ::-1]
            # Colour jitter: brightness, contrast, saturation.
            gray = crop.mean(axis=2, keepdims=True)
            crop = gray + (crop - gray) * rng.uniform(0.7, 1.3)
            crop = (crop - 0.5) * rng.uniform(0.8, 1.2) + 0.5 + rng.uniform(-0.08, 0.08)
            out[i] = np.clip(crop, 0.0, 1.0)
        return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()


def style_images(style_dir: Path, long_side: int) -> dict[str, np.ndarray]:
    files = sorted(p for p in style_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ValueError(f"no style images found in {style_dir}")
    return {p.stem: read_rgb(p, long_side) for p in files}


def to_tensor(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None].contiguous()
