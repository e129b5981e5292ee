"""The MicroAST teacher module: it matches the authors' reference output, and training without it says why."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch", reason="the teacher is training-side (train extra)")

from vcam.errors import VcamError  # noqa: E402
from vcam.model import teacher as T  # noqa: E402


def test_matches_the_reference_output_at_both_strengths(teacher_dir):
    """reference.safetensors: the authors' code on chelsea with starry_night, raw decoder outputs."""
    from safetensors.torch import load_file

    ref = load_file(str(teacher_dir / "reference" / "reference.safetensors"))
    net = T.load_teacher(teacher_dir)
    with torch.inference_mode():
        style = net.encode_style(ref["style"])
        for alpha, key in ((1.0, "output_alpha1"), (0.5, "output_alpha05")):
            out = net.stylize(ref["content"], style, alpha)
            assert out.shape == ref[key].shape
            assert float((out - ref[key]).abs().max()) < 1e-4, key
    assert style.vector().shape == (1, 512)


def test_weights_load_strict(teacher_dir, tmp_path):
    """A file with a missing or renamed tensor is refused, not silently half-loaded."""
    import shutil

    from safetensors.torch import load_file, save_file

    bad = tmp_path / "microast"
    shutil.copytree(teacher_dir, bad)
    sd = load_file(str(bad / "decoder.safetensors"))
    sd["dec3.10.conv_layer.weight_renamed"] = sd.pop("dec3.10.conv_layer.weight")
    save_file(sd, str(bad / "decoder.safetensors"))
    with pytest.raises(RuntimeError, match="dec3.10.conv_layer.weight"):
        T.load_teacher(bad)


def test_missing_teacher_is_a_clear_error(tmp_path):
    with pytest.raises(VcamError) as err:
        T.require_teacher(tmp_path / "nowhere")
    assert "content_encoder.safetensors" in str(err.value) and "../shared/data/teachers/microast" in err.value.hint


def test_the_per_frame_export_matches_torch(teacher_dir, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    net = T.load_teacher(teacher_dir)
    g = torch.Generator().manual_seed(0)
    style = net.encode_style(torch.rand(1, 3, 96, 128, generator=g))
    x = torch.rand(1, 3, 72, 128, generator=g)
    path = T.export_per_frame(net, tmp_path / "t.onnx")
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        None, {"content": x.numpy(), **T.style_feeds(style)})[0]
    with torch.inference_mode():
        ref = net.stylize(x, style).clamp(0, 1).numpy()
    assert abs(got - ref).max() < 1e-4
