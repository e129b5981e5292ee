"""POST /style-image: a picture's bytes become the style live; bad pictures are a 400 and the stream keeps its look."""

from __future__ import annotations

import http.client
import json

import numpy as np
import pytest

pytest.importorskip("PIL")
from pictures_fixtures import bomb_png, png_rgb  # noqa: E402

from vcam.control.server import ControlServer  # noqa: E402
from vcam.control.state import Controls  # noqa: E402
from vcam.styles import StyleCodes  # noqa: E402
from vcam.styles.pictures import PictureStyles  # noqa: E402


class FakeEncoder:
    """A code from the picture's mean colour: enough to tell pictures apart, no model needed."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        self.calls += 1
        return np.concatenate([rgb.reshape(-1, 3).mean(0) / 255.0, [1.0]]).astype(np.float32)


@pytest.fixture
def live(styles):
    codes = StyleCodes(styles, np.eye(len(styles), 4, dtype=np.float32))
    controls = Controls(codes.styles, {styles[0]: 1.0}, transition_s=0.0)
    enc = FakeEncoder()
    pictures = PictureStyles(codes, lambda: enc)

    def style_image(data: bytes) -> dict:      # what the runner wires in
        info = pictures.add(data)
        controls.add_style(info["style"])
        controls.set_style(info["style"])
        return info

    srv = ControlServer(controls, port=0, style_image=style_image, max_image_bytes=200_000)
    srv.start()
    yield srv, codes, enc
    srv.stop()


def post(srv, body: bytes, ctype: str = "image/png", auth: bool = True):
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    headers = {"Content-Type": ctype, "Host": "127.0.0.1"}
    if auth:
        headers["Authorization"] = f"Bearer {srv.token}"
    try:
        conn.request("POST", "/style-image", body=body, headers=headers)
        r = conn.getresponse()
        return r.status, json.loads(r.read() or b"{}")
    finally:
        conn.close()


def test_a_picture_becomes_the_style(live):
    srv, codes, enc = live
    status, body = post(srv, png_rgb(seed=1))
    assert status == 200 and body["ok"] is True and body["size"] == [64, 48]
    name = body["style"]
    assert name.startswith("picture-") and name in codes.styles and name in body["state"]["styles"]
    assert body["state"]["blend"] == {name: 1.0}
    assert codes({name: 1.0})[0, 3] == 1.0 and enc.calls == 1
    # The same picture again: the same name, no new entry; octet-stream is accepted too.
    status, again = post(srv, png_rgb(seed=1), "application/octet-stream")
    assert status == 200 and again["style"] == name and codes.styles.count(name) == 1


@pytest.mark.parametrize(("body", "match"), [
    (b"not an image", "not an image"),
    (b"", "empty"),
    (png_rgb(200, 300)[:900], "truncated|corrupt|not an image"),
    (bomb_png(), "MP"),
])
def test_bad_pictures_are_a_400_and_change_nothing(live, body, match):
    import re

    srv, codes, enc = live
    before = srv.controls.as_dict()
    status, payload = post(srv, body)
    assert status == 400 and payload["ok"] is False and re.search(match, payload["error"]), payload
    after = srv.controls.as_dict()
    assert after["blend"] == before["blend"] and after["styles"] == before["styles"] and enc.calls == 0


def test_limits_type_and_secret(live):
    srv, codes, enc = live
    status, payload = post(srv, b"\x00" * 300_000)
    assert status == 413 and "limit" in payload["error"]
    status, payload = post(srv, png_rgb(), "application/json")
    assert status == 415
    status, payload = post(srv, png_rgb(), "text/plain")
    assert status == 415
    status, payload = post(srv, png_rgb(), auth=False)
    assert status == 401 and enc.calls == 0


def test_a_model_without_an_encoder_says_so(styles):
    srv = ControlServer(Controls(styles), port=0)
    srv.start()
    try:
        status, payload = post(srv, png_rgb())
        assert status == 409 and "style encoder" in payload["error"]
    finally:
        srv.stop()


def test_no_file_paths_anywhere(live, tmp_path):
    """The endpoint reads bytes only: a body that is a path is just a non-image."""
    srv, _, _ = live
    (tmp_path / "x.png").write_bytes(png_rgb())
    status, payload = post(srv, str(tmp_path / "x.png").encode())
    assert status == 400 and "not an image" in payload["error"]
