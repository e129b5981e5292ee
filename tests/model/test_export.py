"""ONNX export: one checked file with the documented I/O, the manifest updated with its hash, and parity with
torch on real frames, including a second step that carries the recurrent state."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from tiny_model import TINY, write_tiny_model  # noqa: E402

from vcam.errors import ModelError  # noqa: E402
from vcam.model.export import INPUTS, OUTPUTS, export_model, export_onnx, load_stylenet  # noqa: E402
from vcam.ops.preprocess import to_blob  # noqa: E402
from vcam.styles import load_manifest, sha256_file, verify_onnx  # noqa: E402

STYLES = ["ink", "fire", "sea"]


def make_weights(directory: Path, seed: int = 0) -> Path:
    """A random tiny StyleNet whose styles really differ, with its manifest (not exported)."""
    return write_tiny_model(directory, tuple(STYLES), seed, export=False) / "vcam.safetensors"


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    """Small tensors: one thread is as fast and never stalls in OpenMP barriers on a shared 2-core machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> tuple[Path, Path]:
    src = make_weights(tmp_path_factory.mktemp("weights"))
    out = tmp_path_factory.mktemp("model")
    return src, export_onnx(src, out)


def _frames(shared_data: Path) -> list[np.ndarray]:
    """Two consecutive clip frames (176x144) and a photo at 320x184 (multiples of the tiny net's stride)."""
    cap = cv2.VideoCapture(str(shared_data / "video" / "carphone.mp4"))
    clip = [cap.read()[1] for _ in range(2)]
    cap.release()
    photo = cv2.imread(str(shared_data / "content" / "china.jpg"))
    assert all(f is not None for f in clip) and photo is not None
    return clip + [cv2.resize(photo, (320, 184), interpolation=cv2.INTER_AREA)]


def test_export_writes_one_checked_file_and_the_manifest(exported) -> None:
    src, path = exported
    assert path.name == "vcam.onnx" and path.is_file()
    assert not list(path.parent.glob("*.data"))                          # single file, no external weights
    onnx.checker.check_model(str(path), full_check=True)
    model = onnx.load(str(path))
    assert model.opset_import[0].version == 17
    assert [i.name for i in model.graph.input] == list(INPUTS)
    assert [o.name for o in model.graph.output] == list(OUTPUTS)
    dims = [d.dim_param for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims[2] and dims[3]                                            # dynamic H and W
    man = load_manifest(path.parent)
    assert man.styles == tuple(STYLES)
    assert man.onnx == "vcam.onnx" and man.onnx_sha256 == sha256_file(path)
    assert verify_onnx(man) == path
    assert man.extra["training"] == {"iterations": 1}                      # the template's record is kept
    assert (path.parent / "vcam.safetensors").is_file()
    assert man.version == 2 and man.style_dim == TINY.code_dim and man.size_multiple == TINY.stride
    _, bank, _ = load_stylenet(src)
    np.testing.assert_array_equal(man.codes(), bank.codes.detach().numpy())  # the runtime reads the same codes


def test_parity_with_torch_on_real_frames_and_carried_state(exported, shared_data) -> None:
    src, path = exported
    net, bank, names = load_stylenet(src)
    assert names == STYLES
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    style = (torch.tensor([[0.2, 0.5, 0.3]]) @ bank.codes).detach().numpy()   # a blend is a blend of codes
    clip0, clip1, photo = _frames(shared_data)
    st = TINY.stride
    for seq in ([clip0, clip1], [photo, photo[:, ::-1].copy()]):
        h, w = seq[0].shape[:2]
        state_t = torch.zeros(1, TINY.state_channels, h // st, w // st)
        state_o = state_t.numpy().copy()
        for k, frame in enumerate(seq):
            x = to_blob(frame)
            keep = np.full((1, 1), float(k > 0), np.float32)
            with torch.no_grad():
                ref, state_t = net(torch.from_numpy(x), state_t, torch.from_numpy(keep), torch.from_numpy(style))
            got, state_o = sess.run(None, {"image": x, "state": state_o, "keep": keep, "style": style})
            assert np.abs(got - ref.numpy()).max() <= 1e-4
            assert np.abs(state_o - state_t.numpy()).max() <= 1e-4
        assert np.abs(got - sess.run(None, {"image": x, "state": state_o * 0, "keep": keep * 0,
                                            "style": style})[0]).max() > 1e-3   # the carried state mattered


def test_export_model_uses_the_manifest_and_reexports_in_place(tmp_path) -> None:
    src = make_weights(tmp_path / "m", seed=1)
    path = export_model(src.parent)
    assert path == src.parent / "vcam.onnx"
    first = sha256_file(path)
    assert load_manifest(src.parent).onnx_sha256 == first


def test_bad_weights_raise_model_error(tmp_path) -> None:
    with pytest.raises(ModelError, match="No weights"):
        load_stylenet(tmp_path / "missing.safetensors")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00" * 64)
    with pytest.raises(ModelError, match="bad.safetensors"):
        load_stylenet(bad)


def test_a_detail_head_exports_with_its_own_rungs_and_parity(tmp_path) -> None:
    from tiny_model import tiny_net

    from vcam.model.network import NetShape
    from vcam.model.weights import save_weights

    shape = NetShape.from_dict({**TINY.as_dict(), "detail": 4})
    net, bank = tiny_net(tuple(STYLES), shape=shape)
    with torch.no_grad():
        net.head.out.weight[:, :4].normal_(0.0, 0.1)     # a head that paints something of its own
    # A folder that held a plain net: its manifest's rungs are the plain net's, and export must replace them.
    write_tiny_model(tmp_path, tuple(STYLES), export=False, ladder_720=[180, 540], internal_height_720=540)
    save_weights(tmp_path / "vcam.safetensors", net, bank, STYLES)
    path = export_onnx(tmp_path / "vcam.safetensors", tmp_path)
    man = load_manifest(tmp_path)
    assert man.extra["size_multiple"] == shape.stride == 16
    assert man.extra["ladder_720"] == list(shape.ladder_720) and man.extra["internal_height_720"] == 720
    # Re-exporting the same shape keeps a ladder set by hand.
    data = json.loads((tmp_path / "manifest.json").read_text())
    (tmp_path / "manifest.json").write_text(json.dumps({**data, "ladder_720": [360, 720]}))
    export_onnx(tmp_path / "vcam.safetensors", tmp_path)
    assert load_manifest(tmp_path).extra["ladder_720"] == [360, 720]
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).random((1, 3, 96, 160), dtype=np.float32)
    st = np.zeros((1, shape.state_channels, 6, 10), np.float32)
    keep, code = np.zeros((1, 1), np.float32), bank.codes[:1].detach().numpy()
    got, _ = sess.run(None, {"image": x, "state": st, "keep": keep, "style": code})
    with torch.no_grad():
        ref, _ = net(torch.from_numpy(x), torch.from_numpy(st), torch.from_numpy(keep), torch.from_numpy(code))
    assert got.shape == x.shape and np.abs(got - ref.numpy()).max() < 1e-4
