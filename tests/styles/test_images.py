"""Pictures people give as styles: every awkward format converted or refused with a clear reason."""

from __future__ import annotations

import time

import numpy as np
import pytest

pytest.importorskip("PIL")
from pictures_fixtures import bomb_png, encode, png_rgb, rgb_array  # noqa: E402
from PIL import Image  # noqa: E402

from vcam.styles import images as I  # noqa: E402


def test_plain_rgb_round_trips():
    out = I.decode_image(png_rgb())
    np.testing.assert_array_equal(out, rgb_array())
    assert out.dtype == np.uint8 and out.shape == (48, 64, 3)


def test_grayscale_becomes_three_equal_channels():
    g = rgb_array()[..., 0]
    out = I.decode_image(encode(Image.fromarray(g)))
    assert out.shape == (48, 64, 3) and (out[..., 0] == g).all() and (out[..., 1] == g).all()


def test_sixteen_bit_keeps_its_range():
    a = (np.linspace(0, 65535, 64 * 48).reshape(48, 64)).astype(np.uint16)
    out = I.decode_image(encode(Image.fromarray(a)))
    assert out.shape == (48, 64, 3) and out.min() == 0 and out.max() == 255
    assert abs(int(out[24, 32, 0]) - round(float(a[24, 32]) / 257)) <= 1


def test_cmyk_jpeg_is_converted_to_rgb():
    cmyk = Image.fromarray(rgb_array()).convert("CMYK")
    out = I.decode_image(encode(cmyk, "JPEG", quality=95))
    assert out.shape == (48, 64, 3)
    assert np.abs(out.astype(int) - rgb_array()).mean() < 20     # JPEG, CMYK round trip: close, not exact


def test_transparency_lands_on_white_paper():
    rgba = np.zeros((48, 64, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[:, :32, 3] = 255                      # left half opaque red, right half fully transparent
    out = I.decode_image(encode(Image.fromarray(rgba, "RGBA")))
    assert tuple(out[10, 5]) == (200, 0, 0) and tuple(out[10, 60]) == (255, 255, 255)
    pal = Image.fromarray(rgba[..., :3]).convert("P")
    pal.info["transparency"] = 0
    assert I.decode_image(encode(pal, transparency=0)).shape == (48, 64, 3)


def test_exif_rotation_is_applied():
    img = Image.fromarray(rgb_array(40, 80))
    exif = Image.Exif()
    exif[0x0112] = 6                           # "rotate 90 CW to display"
    out = I.decode_image(encode(img, "JPEG", exif=exif.tobytes()))
    assert out.shape == (80, 40, 3)


@pytest.mark.parametrize(("data", "match"), [
    (b"", "empty"),
    (b"this is not an image at all", "not an image"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "not an image"),
])
def test_not_a_picture_is_refused(data, match):
    with pytest.raises(I.ImageError, match=match):
        I.decode_image(data)


def test_a_truncated_jpeg_is_refused():
    data = encode(Image.fromarray(rgb_array(200, 300)), "JPEG", quality=90)
    with pytest.raises(I.ImageError, match="truncated|corrupt|not an image"):
        I.decode_image(data[: len(data) // 2])


def test_a_decompression_bomb_is_refused_before_decoding():
    t0 = time.perf_counter()
    with pytest.raises(I.ImageError, match="MP"):
        I.decode_image(bomb_png())
    assert time.perf_counter() - t0 < 1.0     # refused from the header: nothing was decoded


def test_too_small_and_too_large():
    with pytest.raises(I.ImageError, match="1x1"):
        I.decode_image(encode(Image.new("RGB", (1, 1))))
    with pytest.raises(I.ImageError, match="MB"):
        I.decode_image(b"\x00" * (I.MAX_BYTES + 1))


def test_files(tmp_path):
    with pytest.raises(I.ImageError, match="No picture"):
        I.load_image(tmp_path / "missing.png")
    (tmp_path / "a.png").write_bytes(png_rgb())
    assert I.load_image(tmp_path / "a.png").shape == (48, 64, 3)
    big = tmp_path / "big.bin"
    with open(big, "wb") as f:
        f.truncate(I.MAX_BYTES + 10)
    with pytest.raises(I.ImageError, match="larger than"):
        I.read_image_file(big)
    thumb = I.thumbnail_png(rgb_array(400, 300))
    assert Image.open(__import__("io").BytesIO(thumb)).size[0] <= 160
