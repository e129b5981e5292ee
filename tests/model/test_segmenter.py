"""vcam's person segmenter: the network's interface, its ONNX export on both CPU runtimes, the distillation loss,
and a short resumable training run from the real teacher on synthetic people."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

from safetensors.torch import save_file  # noqa: E402

from vcam.errors import ModelError  # noqa: E402
from vcam.model.segmenter import INPUT_HW, PersonNet, export_segmenter  # noqa: E402
from vcam.model.train_person import edge_band, matte_loss  # noqa: E402


def test_network_maps_a_frame_to_a_matte_of_its_size() -> None:
    net = PersonNet().eval()
    with torch.no_grad():
        m = net(torch.rand(2, 3, *INPUT_HW))
    assert m.shape == (2, 1, *INPUT_HW) and float(m.min()) >= 0 and float(m.max()) <= 1


def test_weights_rebuild_the_network_of_their_shape(tmp_path) -> None:
    from safetensors.torch import save_file

    from vcam.model.train_person import load_person_weights

    net = PersonNet((8, 16, 24, 32), 3, "light", enc_blocks=(1, 2)).eval()
    path = tmp_path / "person.safetensors"
    save_file(net.state_dict(), str(path), net.shape_metadata())
    back = load_person_weights(path)
    x = torch.rand(1, 3, *INPUT_HW)
    with torch.no_grad():
        assert (back.widths, back.mid_blocks, back.decoder, back.enc_blocks) == ((8, 16, 24, 32), 3, "light", (1, 2))
        assert torch.equal(back(x), net(x))
    # Weights saved before the encoder blocks existed load with none.
    flat = PersonNet((8, 16, 24, 32), 3, "light", enc_blocks=(0, 0))
    meta = {k: v for k, v in flat.shape_metadata().items() if k != "enc_blocks"}
    save_file(flat.state_dict(), str(path), meta)
    assert load_person_weights(path).enc_blocks == (0, 0)
    # Weights from before the shape was recorded (widths only) load as the first shipped shape.
    old = PersonNet((16, 24, 40, 64), 2, "skip")
    save_file(old.state_dict(), str(path), {"widths": "[16, 24, 40, 64]"})
    back = load_person_weights(path)
    assert (back.mid_blocks, back.decoder) == (2, "skip")
    with pytest.raises(ValueError, match="decoder"):
        PersonNet(decoder="wide")


@pytest.mark.parametrize("decoder", ["skip", "light"])
def test_export_runs_the_same_on_both_cpu_runtimes(tmp_path, decoder: str) -> None:
    ort = pytest.importorskip("onnxruntime")
    ov = pytest.importorskip("openvino")
    torch.manual_seed(0)
    net = PersonNet(decoder=decoder)
    with torch.no_grad():                   # move the batch-norm statistics off their defaults, then freeze
        net.train()(torch.rand(4, 3, *INPUT_HW))
    net.eval()
    path = export_segmenter(net, tmp_path / "person.onnx")
    x = torch.rand(1, 3, *INPUT_HW)
    with torch.no_grad():
        ref = net(x).numpy()
    a = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(["matte"], {"image": x.numpy()})[0]
    b = ov.Core().compile_model(str(path), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})({"image": x.numpy()})
    b = next(iter(b.values()))
    assert np.abs(a - ref).max() < 1e-4 and np.abs(b - ref).max() < 1e-4


def test_edge_band_and_loss_prefer_the_teacher_matte() -> None:
    t = torch.zeros(1, 1, *INPUT_HW)
    t[..., 40:100, 80:180] = 1.0
    band = edge_band(t)
    assert band[0, 0, 70, 80] == 1 and band[0, 0, 70, 130] == 0 and band[0, 0, 10, 10] == 0
    good = (t * 2 - 1) * 6.0               # logits that agree with the teacher
    assert sum(matte_loss(good, t, 4.0, 0.5).values()) < sum(matte_loss(-good, t, 4.0, 0.5).values())
    empty = torch.zeros_like(t)             # nobody in view: the IoU term is dropped, BCE still counts
    terms = matte_loss(torch.full_like(t, -6.0), empty, 4.0, 0.5)
    assert float(terms["iou"]) == 0.0 and float(terms["bce"]) < 0.01


def _synthetic_people(root: Path) -> tuple[Path, Path]:
    """A few drawn 'people' (a head and shoulders) and rooms, so the run needs no photos of anyone."""
    rng = np.random.default_rng(0)
    people, content = root / "people", root / "content"
    for folder in ("frames", "gesture", "portraits"):
        (people / folder).mkdir(parents=True)
    content.mkdir()
    for i in range(4):
        room = (rng.random((180, 320, 3)) * 255).astype(np.uint8)
        room = cv2.GaussianBlur(room, (0, 0), 6)
        cv2.imwrite(str(content / f"room{i}.jpg"), room)
        person = room.copy()
        cv2.ellipse(person, (160, 200), (110, 70), 0, 0, 360, (40, 60, 150), -1)
        cv2.circle(person, (160, 85), 42, (120, 160, 210), -1)
        cv2.imwrite(str(people / ("frames" if i < 2 else "gesture") / f"p{i}.jpg"), person)
        cv2.imwrite(str(people / "portraits" / f"q{i}.jpg"), cv2.resize(person[:, 60:260], (225, 275)))
    return people, content


def test_training_writes_weights_resumes_and_exports(tmp_path, selfie_dir) -> None:
    from vcam.model.export import export_person
    from vcam.model.train_person import CHECKPOINT, PERSON_WEIGHTS, PersonConfig, train_person

    people, content = _synthetic_people(tmp_path)
    cfg = PersonConfig(people_dir=people, content_dir=content, out=tmp_path / "run", teacher_dir=selfie_dir,
                       minutes=0.05, batch=4, threads=1, log_every=1)
    train_person(cfg)
    first = json.loads((cfg.out / "person.json").read_text())["iterations"]
    assert first > 0 and (cfg.out / CHECKPOINT).is_file()
    cfg.minutes = 0.1                        # the same command with a larger budget continues
    train_person(cfg)
    assert json.loads((cfg.out / "person.json").read_text())["iterations"] > first
    model = tmp_path / "model"
    model.mkdir()
    (model / "manifest.json").write_text(json.dumps({"version": 2, "styles": ["a"], "onnx": "vcam.onnx"}))
    path = export_person(cfg.out / PERSON_WEIGHTS, model)
    man = json.loads((model / "manifest.json").read_text())
    assert path.is_file() and man["person_model"] == "person.onnx" and len(man["person_model_sha256"]) == 64
    # The weights ship beside the graph, so a later stage can start from them (init_from).
    assert (model / PERSON_WEIGHTS).read_bytes() == (cfg.out / PERSON_WEIGHTS).read_bytes()


def test_a_continuation_starts_from_the_given_weights_and_refuses_another_shape(tmp_path, selfie_dir) -> None:
    from vcam.model.segmenter import FIRST_SHAPE, PersonNet
    from vcam.model.train_person import PERSON_WEIGHTS, PersonConfig, load_person_weights, train_person

    people, content = _synthetic_people(tmp_path)
    start = PersonNet()
    torch.manual_seed(3)
    for p in start.parameters():
        p.data.normal_(0.0, 0.05)
    save_file(start.state_dict(), str(tmp_path / "start.safetensors"), start.shape_metadata())
    cfg = PersonConfig(people_dir=people, content_dir=content, out=tmp_path / "run", teacher_dir=selfie_dir,
                       minutes=0.02, batch=2, threads=1, lr=1e-9, lr_min=1e-9, init_from=tmp_path / "start.safetensors")
    train_person(cfg)
    trained = load_person_weights(cfg.out / PERSON_WEIGHTS).state_dict()
    # A learning rate of 1e-9 moves nothing visible: what was saved is what it started from, not a fresh network.
    # (Batch-norm statistics do move in training mode, so only the learnt parameters are compared.)
    assert all(torch.allclose(trained[k], v, atol=1e-5) for k, v in start.named_parameters())
    other = PersonNet(*FIRST_SHAPE)
    save_file(other.state_dict(), str(tmp_path / "first.safetensors"), other.shape_metadata())
    cfg.out, cfg.init_from = tmp_path / "run2", tmp_path / "first.safetensors"
    with pytest.raises(ModelError, match="shape"):
        train_person(cfg)
    cfg.out, cfg.init_from = tmp_path / "run3", tmp_path / "missing.safetensors"
    with pytest.raises(ModelError, match="No segmenter weights"):
        train_person(cfg)


def test_composites_are_labelled_by_their_cutouts_alpha(tmp_path) -> None:
    from vcam.model.person_data import H, PeoplePool, W

    people, content = _synthetic_people(tmp_path)
    disc = np.zeros((H, W), np.float32)
    cv2.circle(disc, (W // 2, H // 2), H // 3, 1.0, -1)
    # a stand-in teacher: the same disc for every portrait frame
    pool = PeoplePool(people, content, None, lambda frames: np.repeat(disc[None], len(frames), 0))
    rng = np.random.default_rng(3)
    frames, labels, known = pool.labelled_batch(64, rng)
    assert frames.shape == (64, H, W, 3) and labels.shape == (64, H, W)
    assert known.any() and (~known).any()                   # real frames are left to the teacher
    assert labels.min() >= 0 and labels.max() <= 1
    people_rows = [i for i in range(64) if known[i] and labels[i].max() > 0.5]
    empty_rows = [i for i in range(64) if known[i] and labels[i].max() == 0]
    assert people_rows and empty_rows                       # composites and nobody-in-view frames both occur
    for i in people_rows:                                   # the label covers a disc-shaped region, not the frame
        assert 0.02 < (labels[i] > 0.5).mean() < 0.95


def _blob_aspect(img: np.ndarray) -> float:
    """Width over height of the bright region's bounding box."""
    ys, xs = np.nonzero(img.max(axis=2) > 0.5)
    return (xs.max() - xs.min() + 1) / (ys.max() - ys.min() + 1)


def test_a_stretched_view_widens_people_as_a_4_3_or_portrait_camera_does() -> None:
    from vcam.model.person_data import STRETCH_MAX, H, W, _fit_16x9, draw_stretch

    img = np.zeros((900, 1600, 3), np.float32)
    cv2.circle(img, (800, 450), 200, (1.0, 1.0, 1.0), -1)
    rng = np.random.default_rng(0)
    plain = _fit_16x9(img, rng, min_scale=1.0)
    wide = _fit_16x9(img, rng, min_scale=1.0, stretch=2.0)
    assert plain.shape == wide.shape == (H, W, 3)
    assert abs(_blob_aspect(plain) - 1.0) < 0.1
    assert abs(_blob_aspect(wide) - 2.0) < 0.15
    # A share of 0 draws nothing from the generator: runs without the option see the samples they always saw.
    a, b = np.random.default_rng(5), np.random.default_rng(5)
    assert draw_stretch(a, 0.0) == 1.0 and a.random() == b.random()
    draws = [draw_stretch(rng, 0.5) for _ in range(400)]
    stretched = [d for d in draws if d != 1.0]
    assert 0.4 < len(stretched) / len(draws) < 0.6
    assert min(stretched) >= 1.0 and max(stretched) <= STRETCH_MAX and max(stretched) > 2.0


class _OnePerson:
    """A generator that puts one person in every composite (and draws everything else as numpy's does)."""

    def __init__(self, seed: int) -> None:
        self.g = np.random.default_rng(seed)

    def choice(self, a):
        return 1

    def __getattr__(self, name):
        return getattr(self.g, name)


def test_stretched_composites_widen_the_person_by_the_stretch(tmp_path) -> None:
    from vcam.model.person_data import PeoplePool

    people, content = _synthetic_people(tmp_path)
    pool = PeoplePool(people, content, None, lambda frames: np.ones(frames.shape[:3], np.float32))
    ratios = []
    for seed in range(150):
        widths = []
        for stretch in (1.0, 2.0):
            _, label = pool._composite(_OnePerson(seed), stretch)
            xs = np.nonzero(label.max(axis=0) > 0.5)[0]
            if len(xs) and xs.min() > 0 and xs.max() < label.shape[1] - 1:   # the person whole across
                widths.append(xs.max() - xs.min() + 1)
        if len(widths) == 2:
            ratios.append(widths[1] / widths[0])
    assert len(ratios) >= 5
    assert all(abs(r - 2.0) < 0.1 for r in ratios), ratios
