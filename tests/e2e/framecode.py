"""Test frames that carry their own number in the pixels, so a consumer of the virtual camera can tell which frame
it got, whether frames came in order, and whether their content survived.

The number is written as differential bit pairs of big square blocks (bit = which block of the pair is brighter),
followed by a checksum: that survives 4:2:0 chroma subsampling, YUV range conversions and a mild stylisation, and a
torn frame (top of one frame, bottom of another) fails the checksum instead of decoding to a wrong number. Below the
code a smooth colour gradient that moves with the frame number makes a swapped channel or a stale frame visible.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

BLOCK = 32            # block edge in pixels (even, so every 2x2 chroma cell lies inside one block)
DATA_BITS = 10        # frame numbers 0..1023
CHECK_BITS = 5
BITS = DATA_BITS + CHECK_BITS
DARK, BRIGHT = 50, 205
MIN_CONTRAST = 20     # below this a bit pair is unreadable


@dataclass(frozen=True)
class Decoded:
    index: int | None     # None: unreadable or checksum mismatch
    contrast: float       # the weakest bit pair's brightness difference


def _checksum(i: int) -> int:
    return (i * 7 + 3) % 31


def _bits(i: int) -> list[int]:
    word = (i << CHECK_BITS) | _checksum(i)
    return [(word >> (BITS - 1 - k)) & 1 for k in range(BITS)]


def _pair_origins(width: int) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    cols = width // BLOCK
    pairs_per_row = cols // 2
    out = []
    for k in range(BITS):
        r, c = divmod(k, pairs_per_row)
        y, xa = r * BLOCK, 2 * c * BLOCK
        out.append(((y, xa), (y, xa + BLOCK)))
    return out


def check_size(width: int, height: int) -> None:
    pairs_per_row = (width // BLOCK) // 2
    rows = -(-BITS // max(pairs_per_row, 1))
    if pairs_per_row < 1 or rows * BLOCK > height // 2 or width % 2 or height % 2:
        raise ValueError(f"{width}x{height} is too small (or odd) for the frame code")


def make_frame(i: int, width: int, height: int) -> np.ndarray:
    """BGR uint8 frame number ``i``: values stay in 16..235 so limited-range YUV round trips do not clip."""
    check_size(width, height)
    if not 0 <= i < (1 << DATA_BITS):
        raise ValueError(f"frame number {i} out of range")
    y = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None]
    x = np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :]
    phase = (i % 64) / 64.0
    img = np.empty((height, width, 3), np.float32)
    img[..., 0] = 40 + 150 * y + 0 * x                         # blue: vertical ramp
    img[..., 1] = 60 + 110 * ((x + phase) % 1.0)                # green: horizontal ramp moving with i
    img[..., 2] = 200 - 120 * (0.5 * x + 0.5 * y)               # red: diagonal ramp
    out = np.clip(img, 16, 235).astype(np.uint8)
    for bit, ((ya, xa), (yb, xb)) in zip(_bits(i), _pair_origins(width), strict=True):
        out[ya:ya + BLOCK, xa:xa + BLOCK] = BRIGHT if bit else DARK
        out[yb:yb + BLOCK, xb:xb + BLOCK] = DARK if bit else BRIGHT
    return out


def decode(image: np.ndarray) -> Decoded:
    h, w = image.shape[:2]
    m = BLOCK // 4   # read the inner part of each block: edges blur under scaling and stylisation
    gray = image.astype(np.float32).mean(axis=2) if image.ndim == 3 else image.astype(np.float32)
    word, weakest = 0, float("inf")
    for (ya, xa), (yb, xb) in _pair_origins(w):
        a = float(gray[ya + m:ya + BLOCK - m, xa + m:xa + BLOCK - m].mean())
        b = float(gray[yb + m:yb + BLOCK - m, xb + m:xb + BLOCK - m].mean())
        weakest = min(weakest, abs(a - b))
        word = (word << 1) | int(a > b)
    index, check = word >> CHECK_BITS, word & ((1 << CHECK_BITS) - 1)
    if weakest < MIN_CONTRAST or _checksum(index) != check:
        return Decoded(None, weakest)
    return Decoded(index, weakest)


def content_error(received: np.ndarray, index: int) -> tuple[float, float]:
    """(mean absolute error over the frame, worst 16x16 tile's mean) against the frame that was sent."""
    h, w = received.shape[:2]
    diff = np.abs(received.astype(np.int16) - make_frame(index, w, h).astype(np.int16)).mean(axis=2)
    t = 16
    tiles = diff[: h - h % t, : w - w % t].reshape(h // t, t, w // t, t).mean(axis=(1, 3))
    return float(diff.mean()), float(tiles.max())


def write_clip(path: Path, frames: int, width: int, height: int, fps: float) -> Path:
    """A lossless (FFV1) clip of frames 0..frames-1, readable by OpenCV and ffmpeg."""
    import cv2

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"FFV1"), fps, (width, height))
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write FFV1 to {path}")
    try:
        for i in range(frames):
            writer.write(make_frame(i, width, height))
    finally:
        writer.release()
    return path


def read_raw(path: Path, width: int, height: int) -> list[np.ndarray]:
    """Frames from a raw BGR24 dump (ffmpeg ``-f rawvideo -pix_fmt bgr24``, or the OpenCV reader's output)."""
    data = np.fromfile(path, np.uint8) if path.is_file() else np.empty(0, np.uint8)
    n = data.size // (width * height * 3)
    return list(data[: n * width * height * 3].reshape(n, height, width, 3))
