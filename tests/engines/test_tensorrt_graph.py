"""What the TensorRT engine consumes and does, checked without a GPU.

- The ONNX graph it builds from (a small random StyleNet exported by vcam.model.export) passes onnx.checker and
  matches ONNX Runtime's FP32 run of torch's output; its FP16 rewrites (all FP16, InstanceNorm kept FP32) are
  valid, typed as intended, and close to FP32.
- The engine's frame pipeline (vcam.gpu.frames) with the kernels in host emulation and ONNX Runtime standing in
  for TensorRT produces what the CPU path produces (Preprocessor -> network -> GuidedUpsampler), frame after
  frame with the recurrent state carried, through CUDA-graph capture and replay, in BGR, I420 and NV12.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from gpu_emulation import EmulatedDevice, OrtNetwork

from vcam.config import RunConfig, Size
from vcam.control.state import ControlState
from vcam.engines.governor import InternalSize
from vcam.gpu.trt_build import FP16_IO, onnx_for_precision
from vcam.ops.guided import GuidedUpsampler
from vcam.ops.preprocess import Preprocessor
from vcam.styles import load_manifest

STYLES = ("a", "b", "c")


def _tiny(tmp_path_factory, **manifest):
    pytest.importorskip("torch", reason="exporting the test network needs the train extra (torch)")
    pytest.importorskip("onnx")
    from tiny_model import write_tiny_model

    return write_tiny_model(tmp_path_factory.mktemp("model"), STYLES, **manifest)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """What export writes today: bilinear upsampling of a network that paints near the output size."""
    return _tiny(tmp_path_factory)


@pytest.fixture(scope="module")
def guided_model_dir(tmp_path_factory):
    """A model that asks for the guided filter (the first model did)."""
    return _tiny(tmp_path_factory, upsample="guided")


def _shapes(padded: Size, man=None) -> dict[str, tuple[int, ...]]:
    from tiny_model import TINY

    st, c = TINY.stride, TINY.state_channels
    return {"image": (1, 3, padded.height, padded.width), "state": (1, c, padded.height // st, padded.width // st),
            "keep": (1, 1), "style": (1, TINY.code_dim)}


def _frames(size: Size, n: int) -> list[np.ndarray]:
    """A moving pattern: consecutive frames differ, so a wrongly carried state shows."""
    yy, xx = np.mgrid[0:size.height, 0:size.width]
    out = []
    for i in range(n):
        base = 128 + 90 * np.sin((xx + 3 * i) / 9.0)[..., None] * np.cos(yy / 7.0)[..., None]
        img = np.clip(base + np.array([20, 0, -20]) + 30 * ((xx // 16 + yy // 16 + i) % 2)[..., None], 0, 255)
        out.append(img.astype(np.uint8))
    return out


def _cpu_sequence(onnx_path, frames, internal: InternalSize, style, strength):
    """The CPU path's math for a sequence: Preprocessor -> ONNX Runtime (state carried) -> GuidedUpsampler."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    size = Size(frames[0].shape[1], frames[0].shape[0])
    pre = Preprocessor(size, internal.size, internal.padded)
    up = GuidedUpsampler(internal.size, size, mode=load_manifest(onnx_path.parent).extra.get("upsample", "guided"))
    state = np.zeros(_shapes(internal.padded)["state"], np.float32)
    outs = []
    for i, f in enumerate(frames):
        blob = pre(f)
        stylized, state = sess.run(["stylized", "new_state"], {"image": blob, "state": state,
                                                                "keep": np.full((1, 1), float(i > 0), np.float32),
                                                                "style": style})
        outs.append(up(stylized, pre.guide, f, strength).copy())
    return outs


# -- the ONNX graph ---------------------------------------------------------------------------------------------
def test_tensorrt_onnx_graph_is_valid_and_matches_onnxruntime(model_dir):
    import onnx
    import onnxruntime as ort
    import torch

    from vcam.model.export import load_stylenet

    path = model_dir / "vcam.onnx"
    onnx.checker.check_model(str(path), full_check=True)
    names_in = [i.name for i in onnx.load(str(path)).graph.input]
    assert names_in == ["image", "state", "keep", "style"]
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    shapes = _shapes(Size(80, 48))
    feeds = {"image": rng.random(shapes["image"], dtype=np.float32),
             "state": rng.random(shapes["state"], dtype=np.float32),
             "keep": np.ones((1, 1), np.float32), "style": load_manifest(model_dir).codes()[:1] * 0.7}
    out, new_state = sess.run(["stylized", "new_state"], feeds)
    assert out.shape == (1, 3, 48, 80) and new_state.shape == shapes["state"]
    assert 0.0 <= out.min() and out.max() <= 1.0 and out.std() > 1e-3
    # Dynamic H/W: another size runs too (one engine per size is built from this one graph).
    out2, _ = sess.run(["stylized", "new_state"], {**feeds, "image": feeds["image"][:, :, :32, :64],
                                                    "state": feeds["state"][:, :, :4, :8]})
    assert out2.shape == (1, 3, 32, 64)
    # Against torch itself (the exporter's source of truth).
    net, _, _ = load_stylenet(model_dir / "vcam.safetensors")
    with torch.no_grad():
        ref, _ = net(*(torch.from_numpy(feeds[k]) for k in ("image", "state", "keep", "style")))
    np.testing.assert_allclose(out, ref.numpy(), atol=1e-4)


@pytest.mark.parametrize("precision", ["fp16", "fp16-norm32"])
def test_tensorrt_fp16_rewrite_is_valid_typed_and_close(model_dir, precision):
    import onnx
    import onnxruntime as ort

    data = onnx_for_precision((model_dir / "vcam.onnx").read_bytes(), precision)
    model = onnx.load_from_string(data)
    onnx.checker.check_model(model, full_check=True)
    types = {i.name: i.type.tensor_type.elem_type for i in (*model.graph.input, *model.graph.output)}
    for name in FP16_IO:
        assert types[name] == onnx.TensorProto.FLOAT16
    assert types["keep"] == types["style"] == types["stylized"] == onnx.TensorProto.FLOAT
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    vtype = {v.name: v.type.tensor_type.elem_type for v in (*inferred.graph.value_info, *inferred.graph.input)}
    norm_inputs = [n.input[0] for n in model.graph.node if n.op_type == "InstanceNormalization"]
    want = onnx.TensorProto.FLOAT if precision == "fp16-norm32" else onnx.TensorProto.FLOAT16
    assert norm_inputs and all(vtype[x] == want for x in norm_inputs)
    convs = [n.input[1] for n in model.graph.node if n.op_type == "Conv"]
    consts = {n.output[0]: n.attribute[0].t.data_type for n in model.graph.node if n.op_type == "Constant"}
    inits = {i.name: i.data_type for i in model.graph.initializer}
    assert all({**consts, **inits}[w] == onnx.TensorProto.FLOAT16 for w in convs)

    rng = np.random.default_rng(1)
    shapes = _shapes(Size(80, 48))
    feeds = {"image": rng.random(shapes["image"], dtype=np.float32), "state": np.zeros(shapes["state"], np.float32),
             "keep": np.zeros((1, 1), np.float32), "style": load_manifest(model_dir).codes()[1:2]}
    ref = ort.InferenceSession(str(model_dir / "vcam.onnx"), providers=["CPUExecutionProvider"]).run(
        ["stylized"], feeds)[0]
    half = {k: (v.astype(np.float16) if k in FP16_IO else v) for k, v in feeds.items()}
    got = ort.InferenceSession(data, providers=["CPUExecutionProvider"]).run(["stylized"], half)[0]
    assert np.abs(got - ref).max() < 0.02


# -- the frame pipeline on the emulated GPU ---------------------------------------------------------------------
CASES = [(Size(128, 72), 36), (Size(160, 90), 45)]   # pads 64x36 -> 64x40 and 80x45 -> 80x48 (multiples of 8)


def _engine(model_dir, size: Size, internal_height: int, **kw):
    from vcam.engines.governor import Ladder
    from vcam.engines.tensorrt import TensorRTEngine, internal_size

    cfg = RunConfig(size=size, internal_height=internal_height, quiet=True)
    man = load_manifest(model_dir)
    dev = EmulatedDevice()
    fp16 = kw.pop("fp16", False)

    def factory(internal: InternalSize):
        onnx = (man.onnx_path.read_bytes() if not fp16 else
                onnx_for_precision(man.onnx_path.read_bytes(), "fp16"))
        return OrtNetwork(onnx, _shapes(internal.padded), dev), "fp16" if fp16 else "fp32"

    eng = TensorRTEngine(man, cfg, device=dev, network_factory=factory, say=lambda m: None, **kw)
    return eng, dev, internal_size(cfg, size, Ladder.of(man.extra))


def _controls(strength=1.0, token=0, weights=None) -> ControlState:
    return ControlState(weights=weights or {"a": 0.25, "b": 0.75}, strength=strength, reset_token=token)


@pytest.mark.parametrize("mode", ["bilinear", "guided"])
@pytest.mark.parametrize(("size", "ih"), CASES)
def test_tensorrt_pipeline_matches_cpu_path_through_graph_replay(model_dir, guided_model_dir, size, ih, mode):
    model_dir = guided_model_dir if mode == "guided" else model_dir
    eng, dev, internal = _engine(model_dir, size, ih)
    frames = _frames(size, 6)
    style = eng.style_vector({"a": 0.25, "b": 0.75})
    ref = _cpu_sequence(model_dir / "vcam.onnx", frames, internal, style, 0.8)
    for i, f in enumerate(frames):
        got = eng.step(f, _controls(0.8))
        diff = np.abs(got.astype(np.int16) - ref[i])
        assert diff.max() <= 1, f"frame {i}: max diff {diff.max()}"
        # The CPU's bilinear path rounds the picture to uint8 before resizing (half the cost); the GPU's stays in
        # float, so a quarter of the pixels land one level apart. The guided path is the same math on both.
        assert (diff > 0).mean() < (0.35 if mode == "bilinear" else 1e-3)
    assert dev.captures == 2 and dev.replays >= 2            # one graph per slot, replayed after warm-up
    assert set(eng.timings) >= {"pre", "infer", "post"}
    info = eng.info()
    assert info["internal_size"] == str(internal.size) and info["network_size"] == str(internal.padded)
    eng.close()


def test_tensorrt_pipeline_state_reset_and_passthrough(model_dir):
    size, ih = CASES[0]
    eng, _, _ = _engine(model_dir, size, ih, use_graph=False)
    frames = _frames(size, 3)
    first = eng.step(frames[0], _controls()).copy()
    carried = eng.step(frames[1], _controls()).copy()             # state from frame 0 carried (keep = 1)
    paused = eng.step(frames[2], ControlState(weights={"a": 1.0}, strength=1.0, paused=True))
    assert paused is frames[2]
    after_reset = eng.step(frames[1], _controls(token=1)).copy()  # a reset request: keep = 0 for this frame

    fresh0, _, _ = _engine(model_dir, size, ih, use_graph=False)
    np.testing.assert_array_equal(fresh0.step(frames[0], _controls()), first)
    fresh1, _, _ = _engine(model_dir, size, ih, use_graph=False)
    cold = fresh1.step(frames[1], _controls())
    np.testing.assert_array_equal(after_reset, cold)              # reset == a first frame
    assert not np.array_equal(carried, cold)                      # and the carried state did matter


@pytest.mark.parametrize("fmt", ["i420", "nv12"])
def test_tensorrt_pipeline_yuv_output_equals_converted_bgr(model_dir, fmt):
    size, ih = CASES[1]
    bgr_eng, _, _ = _engine(model_dir, size, ih)
    yuv_eng, _, _ = _engine(model_dir, size, ih, output_format=fmt)
    W, H = size.width, size.height
    for f in _frames(size, 4):
        bgr = bgr_eng.step(f, _controls(0.7)).copy()
        yuv = yuv_eng.step(f, _controls(0.7))
        assert yuv.shape == (H * 3 // 2, W)
        i420 = cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420)
        np.testing.assert_array_equal(yuv[:H], i420[:H])
        if fmt == "i420":
            np.testing.assert_array_equal(yuv, i420)
        else:
            flat = i420.reshape(-1)
            u = flat[W * H: W * H + W * H // 4]
            v = flat[W * H + W * H // 4:]
            np.testing.assert_array_equal(yuv[H:].reshape(-1)[0::2], u)
            np.testing.assert_array_equal(yuv[H:].reshape(-1)[1::2], v)


def test_tensorrt_pipeline_latency_one_returns_previous_frame(model_dir):
    size, ih = CASES[0]
    eng0, _, _ = _engine(model_dir, size, ih)
    eng1, _, _ = _engine(model_dir, size, ih, latency_frames=1)
    frames = _frames(size, 5)
    direct = [eng0.step(f, _controls()).copy() for f in frames]
    delayed = [eng1.step(f, _controls()).copy() for f in frames]
    np.testing.assert_array_equal(delayed[0], frames[0])     # nothing ready yet: the camera frame
    for i in range(1, 5):
        np.testing.assert_array_equal(delayed[i], direct[i - 1])


def test_tensorrt_pipeline_fp16_network_io(model_dir):
    """An engine whose input and state are FP16: the pre kernel writes fp16 directly; output stays close."""
    size, ih = CASES[0]
    eng, _, internal = _engine(model_dir, size, ih, fp16=True)
    frames = _frames(size, 3)
    ref = _cpu_sequence(model_dir / "vcam.onnx", frames, internal, eng.style_vector({"a": 0.25, "b": 0.75}), 1.0)
    for i, f in enumerate(frames):
        got = eng.step(f, _controls(1.0))
        assert np.abs(got.astype(np.int16) - ref[i]).max() <= 6
