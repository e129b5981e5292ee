"""The real TensorRT engine (skipped unless the probe finds a usable GPU with TensorRT): build, cache, accuracy
against the CPU path, CUDA-graph replay. Run with `pytest -m gpu` on an NVIDIA machine with vcam[gpu]."""

from __future__ import annotations

import numpy as np
import pytest

from vcam.config import RunConfig, Size
from vcam.control.state import ControlState

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module")
def usable(tmp_path_factory):
    from vcam.engines.gpu_probe import probe

    status = probe()
    if not status.usable:
        pytest.skip(f"needs a usable NVIDIA GPU with TensorRT: {status.reason}")
    return status


@pytest.fixture(scope="module")
def model_dir(usable, tmp_path_factory):
    pytest.importorskip("torch", reason="exporting the test network needs torch")
    from tiny_model import write_tiny_model

    return write_tiny_model(tmp_path_factory.mktemp("model"), ("a", "b"))


def test_tensorrt_engine_on_gpu_matches_cpu_path(model_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("VCAM_CACHE_DIR", str(tmp_path))
    from vcam.engines.governor import Ladder
    from vcam.engines.tensorrt import TensorRTEngine, internal_size
    from vcam.ops.guided import GuidedUpsampler
    from vcam.ops.preprocess import Preprocessor
    from vcam.styles import load_manifest

    size = Size(640, 360)
    cfg = RunConfig(size=size, quiet=True)
    man = load_manifest(model_dir)
    eng = TensorRTEngine(man, cfg, say=lambda m: None)
    try:
        import onnxruntime as ort

        internal = internal_size(cfg, size, Ladder.of(man.extra))
        sess = ort.InferenceSession(str(man.onnx_path), providers=["CPUExecutionProvider"])
        pre = Preprocessor(size, internal.size, internal.padded)
        up = GuidedUpsampler(internal.size, size, mode=man.extra["upsample"])
        rng = np.random.default_rng(0)
        st = man.size_multiple
        state = np.zeros((1, man.state_channels, internal.padded.height // st, internal.padded.width // st),
                         np.float32)
        style = man.codes()[:1]
        for i in range(6):                                    # past warm-up: graph capture and replay
            frame = rng.integers(0, 256, (size.height, size.width, 3), dtype=np.uint8)
            got = eng.step(frame, ControlState(weights={"a": 1.0}, strength=1.0))
            blob = pre(frame)
            out, state = sess.run(None, {"image": blob, "state": state, "keep": np.full((1, 1), float(i > 0),
                                                                                         np.float32), "style": style})
            ref = up(out, pre.guide, frame, 1.0)
            assert np.abs(got.astype(np.int16) - ref).mean() < 2.0
        assert eng.info()["precision"] in ("fp16", "fp16-norm32", "fp32")
        assert eng.timings["infer"] > 0
    finally:
        eng.close()
    # Second start: the engine comes from the cache (no build message).
    said: list[str] = []
    eng2 = TensorRTEngine(man, cfg, say=said.append)
    eng2.close()
    assert not any("Building" in m for m in said)
