"""Pictures people give as styles: bytes in, an RGB uint8 array out, or a clear error; nothing else reads them.

One function for every path (a file on the command line, bytes sent to the control endpoint, a stored style), so
the limits are written and tested once. The size is checked before decoding, so a decompression bomb costs nothing;
16-bit, gray, palette, CMYK and transparent pictures are converted (transparency onto white paper, as a drawing
would be); EXIF rotation is applied; a truncated or unknown file is refused.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from vcam.errors import VcamError

MAX_BYTES = 25 * 1024 * 1024       # a 20 MP JPEG straight off a camera fits
MAX_PIXELS = 50_000_000            # decoded size; larger is refused before any decoding
MIN_SIDE = 8                       # a style needs some texture: 1x1 or 4x4 has none
FORMATS = "PNG, JPEG, WebP, BMP, TIFF or GIF"


class ImageError(VcamError):
    """A picture that cannot be a style; the message says why and what would work."""


def decode_image(data: bytes, what: str = "The picture") -> np.ndarray:
    """HxWx3 RGB uint8 from encoded bytes."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    if not data:
        raise ImageError(f"{what} is empty.", f"Send a {FORMATS} file.")
    if len(data) > MAX_BYTES:
        raise ImageError(f"{what} is {len(data) / 2**20:.1f} MB; the limit is {MAX_BYTES // 2**20} MB.",
                         "Resize it first (a style needs no more than about 1000 px).")
    Image.MAX_IMAGE_PIXELS = None      # our own limit below, checked before decoding
    try:
        img = Image.open(io.BytesIO(data))
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise ImageError(f"{what} is not an image this vcam can read ({type(exc).__name__}).",
                         f"Send a {FORMATS} file.") from None
    w, h = img.size
    if w * h > MAX_PIXELS:
        raise ImageError(f"{what} is {w}x{h} ({w * h / 1e6:.0f} MP); the limit is {MAX_PIXELS / 1e6:.0f} MP.",
                         "Resize it first (a style needs no more than about 1000 px).")
    if min(w, h) < MIN_SIDE:
        raise ImageError(f"{what} is {w}x{h}: too small to carry a style (at least {MIN_SIDE}x{MIN_SIDE}).")
    try:
        img.load()
        img = ImageOps.exif_transpose(img)
    except (OSError, ValueError, SyntaxError) as exc:   # truncated data, broken chunks
        raise ImageError(f"{what} is truncated or corrupt ({exc}).", "Save it again and resend it.") from None
    return _to_rgb8(img)


def _to_rgb8(img) -> np.ndarray:
    from PIL import Image

    if img.mode in ("I;16", "I;16B", "I;16L", "I"):            # 16-bit gray: scale to 8 bits, keep the range
        a = np.asarray(img, np.float64)
        hi = 65535.0 if img.mode.startswith("I;16") or a.max() > 255 else 255.0
        g = np.clip(a / hi * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(g[..., None], 3, axis=2)
    if img.mode == "F":
        a = np.asarray(img, np.float64)
        g = np.clip(a / max(float(a.max()), 1e-9) * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(g[..., None], 3, axis=2)
    if img.mode in ("RGBA", "LA", "PA", "La") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(paper, rgba).convert("RGB"), np.uint8).copy()
    return np.asarray(img.convert("RGB"), np.uint8).copy()   # RGB, L, P, CMYK, YCbCr, 1, RGB;16 ...


def read_image_file(path: Path) -> bytes:
    """A picture file's bytes, with the same size limit (read at most one byte past it)."""
    path = Path(path)
    if not path.is_file():
        raise ImageError(f"No picture at {path}.", f"Give the path of a {FORMATS} file.")
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_BYTES + 1)
    except OSError as exc:
        raise ImageError(f"Cannot read {path}: {exc.strerror or exc}.") from None
    if len(data) > MAX_BYTES:
        raise ImageError(f"{path} is larger than {MAX_BYTES // 2**20} MB.", "Resize it first.")
    return data


def load_image(path: Path) -> np.ndarray:
    return decode_image(read_image_file(path), str(path))


def thumbnail_png(rgb: np.ndarray, side: int = 160) -> bytes:
    """A small PNG of the picture (what `vcam styles` stores beside a style's code)."""
    from PIL import Image

    img = Image.fromarray(rgb)
    img.thumbnail((side, side))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()
