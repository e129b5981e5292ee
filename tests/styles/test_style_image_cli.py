"""Any picture as a style from the command line: `vcam run/demo --style-image`, `vcam styles add/remove`,
`vcam ctl style-image`, on a tiny model with a (random) style encoder, and the errors without one."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="building the tiny model needs the train extra")
pytest.importorskip("onnx")
pytest.importorskip("PIL")
from pictures_fixtures import png_rgb  # noqa: E402
from tiny_model import add_tiny_encoder, write_tiny_model  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from vcam.cli import app  # noqa: E402

STYLES = ("ink", "sea")
runner = CliRunner()


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return add_tiny_encoder(write_tiny_model(tmp_path_factory.mktemp("m"), STYLES))


@pytest.fixture(scope="module")
def plain_model(tmp_path_factory):
    return write_tiny_model(tmp_path_factory.mktemp("plain"), STYLES)


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("VCAM_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("VCAM_RUNTIME_DIR", str(tmp_path / "runtime"))


@pytest.fixture
def picture(tmp_path):
    p = tmp_path / "my drawing.png"
    p.write_bytes(png_rgb(120, 160, seed=3))
    return p


def _demo(model, out, *extra):
    return runner.invoke(app, ["demo", "--output", str(out), "--frames", "3", "--size", "160x96", "--engine", "cpu",
                               "--model-dir", str(model), *extra])


def test_demo_with_a_picture_as_the_style(model_dir, picture, tmp_path):
    plain = _demo(model_dir, tmp_path / "a.mp4", "--style", "ink")
    pic = _demo(model_dir, tmp_path / "b.mp4", "--style-image", str(picture))
    assert plain.exit_code == 0 and pic.exit_code == 0, pic.output
    assert "Style from" in pic.output and "encoded in" in pic.output
    a, b = (cv2.VideoCapture(str(tmp_path / n)).read()[1] for n in ("a.mp4", "b.mp4"))
    assert np.abs(a.astype(int) - b).mean() > 1          # the picture's code paints differently


@pytest.mark.parametrize("bad", ["missing.png", "tiny.png", "junk.png"])
def test_a_bad_picture_is_a_clear_error(model_dir, tmp_path, bad):
    from PIL import Image

    if bad == "tiny.png":
        Image.new("RGB", (1, 1)).save(tmp_path / bad)
    elif bad == "junk.png":
        (tmp_path / bad).write_bytes(b"\x89PNG but not really")
    r = _demo(model_dir, tmp_path / "x.mp4", "--style-image", str(tmp_path / bad))
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert {"missing.png": "No picture", "tiny.png": "too small", "junk.png": "not an image"}[bad] in r.output
    assert not (tmp_path / "x.mp4").exists()


def test_a_model_without_a_style_encoder_says_so(plain_model, picture, tmp_path):
    r = _demo(plain_model, tmp_path / "x.mp4", "--style-image", str(picture))
    assert r.exit_code == 1 and "no style encoder" in r.output


def test_styles_add_list_use_in_a_blend_and_remove(model_dir, picture, tmp_path):
    r = runner.invoke(app, ["styles", "add", "my_drawing", str(picture), "--model-dir", str(model_dir)])
    assert r.exit_code == 0, r.output
    stored = tmp_path / "config" / "styles"
    assert (stored / "my_drawing.safetensors").is_file() and (stored / "my_drawing.png").is_file()
    r = runner.invoke(app, ["styles", "--model-dir", str(model_dir)])
    names = [ln.split()[0] for ln in r.output.splitlines() if ln.strip()]
    assert names == ["ink", "sea", "my_drawing"]
    r = _demo(model_dir, tmp_path / "x.mp4", "--style", "my_drawing=0.5,ink=0.5")
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["styles", "add", "ink", str(picture), "--model-dir", str(model_dir)])
    assert r.exit_code == 1 and "built-in" in r.output
    r = runner.invoke(app, ["styles", "remove", "my_drawing"])
    assert r.exit_code == 0 and not (stored / "my_drawing.safetensors").exists()
    r = _demo(model_dir, tmp_path / "y.mp4", "--style", "my_drawing")
    assert r.exit_code == 1 and "Unknown style 'my_drawing'" in r.output


def test_a_style_stored_for_another_model_is_not_used(model_dir, plain_model, picture, tmp_path):
    assert runner.invoke(app, ["styles", "add", "mine", str(picture), "--model-dir", str(model_dir)]).exit_code == 0
    other = tmp_path / "other"
    import shutil

    shutil.copytree(model_dir, other)
    man = json.loads((other / "manifest.json").read_text())
    man["onnx_sha256"] = ""          # as if another model: its hash differs from the stored style's
    (other / "manifest.json").write_text(json.dumps(man))
    r = runner.invoke(app, ["styles", "--model-dir", str(other)])
    assert "mine" not in [ln.split()[0] for ln in r.stdout.splitlines() if ln.strip()]
    assert "add it again" in r.output


def test_ctl_style_image_sends_the_bytes(model_dir, picture):
    from vcam.control.server import ControlServer
    from vcam.control.state import Controls
    from vcam.styles import StyleCodes, load_manifest
    from vcam.styles.encoder import StyleEncoder
    from vcam.styles.pictures import PictureStyles

    man = load_manifest(model_dir)
    codes = StyleCodes.of(man)
    controls = Controls(codes.styles, {"ink": 1.0}, transition_s=0.0)
    pictures = PictureStyles(codes, lambda: StyleEncoder(man))

    def style_image(data: bytes) -> dict:
        info = pictures.add(data)
        controls.add_style(info["style"])
        controls.set_style(info["style"])
        return info

    with ControlServer(controls, port=0, style_image=style_image):
        r = runner.invoke(app, ["ctl", "style-image", str(picture)])
        assert r.exit_code == 0, r.output
        out = json.loads(r.stdout)
        assert out["style"] in codes.styles and out["state"]["blend"] == {out["style"]: 1.0}
        r = runner.invoke(app, ["ctl", "style-image", str(picture.with_name("nope.png"))])
        assert r.exit_code == 1 and "No picture" in r.output
