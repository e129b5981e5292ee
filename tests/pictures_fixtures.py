"""Pictures of every awkward kind, made in memory with Pillow (never read from ../shared: these are about formats)."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np


def encode(img, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def rgb_array(h: int = 48, w: int = 64, seed: int = 0) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    rng = np.random.default_rng(seed)
    a = np.stack([(xx * 4) % 256, (yy * 5) % 256, (xx + yy) * 2 % 256], -1) + rng.integers(0, 20, (h, w, 3))
    return np.clip(a, 0, 255).astype(np.uint8)


def png_rgb(h: int = 48, w: int = 64, seed: int = 0) -> bytes:
    from PIL import Image

    return encode(Image.fromarray(rgb_array(h, w, seed)))


def bomb_png(w: int = 100_000, h: int = 100_000) -> bytes:
    """A valid PNG header that claims w x h pixels, with a tiny (never decoded) body: a decompression bomb."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + \
        chunk(b"IEND", b"")
