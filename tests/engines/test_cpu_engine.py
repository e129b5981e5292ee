"""CpuEngine on a tiny random exported model: recurrent state, resets, styles, strength, odd inputs, corrupt
model files, the governor's reuse and warp paths, and runtime parity."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

from tiny_model import TINY, write_tiny_model  # noqa: E402

from vcam.config import RunConfig, Size  # noqa: E402
from vcam.control.state import ControlState  # noqa: E402
from vcam.engines.base import Engine  # noqa: E402
from vcam.engines.cpu import CpuEngine  # noqa: E402
from vcam.errors import ModelError, VcamError  # noqa: E402
from vcam.styles import load_manifest, sha256_file  # noqa: E402

STYLES = ("ink", "fire", "sea")
SIZE = Size(320, 180)
C, ST = TINY.state_channels, TINY.stride


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return write_tiny_model(tmp_path_factory.mktemp("model"), STYLES, gate_bias=-0.5)


@pytest.fixture(scope="module")
def frames(shared_data) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(shared_data / "video" / "bikes.mp4"))
    out = []
    for _ in range(6):
        ok, f = cap.read()
        assert ok
        out.append(cv2.resize(f, (SIZE.width, SIZE.height), interpolation=cv2.INTER_AREA))
    cap.release()
    return out


def _cfg(**kw) -> RunConfig:
    # No CPU budget unless a test asks: these loops run unpaced, so the process is always over any share, and the
    # governor would step down for CPU in the middle of what a test is timing (tests/engines/test_cpu_budget.py).
    return replace(RunConfig(size=SIZE, threads=1, adaptive=False, cpu_share=None), **kw)


def _engine(model_dir: Path, runtime: str = "onnxruntime", **kw) -> CpuEngine:
    return CpuEngine(load_manifest(model_dir), _cfg(**kw), runtime=runtime)


def _cs(weights=None, strength=1.0, token=0, **kw) -> ControlState:
    return ControlState(weights=weights or {"ink": 1.0}, strength=strength, reset_token=token, **kw)


def test_protocol_and_info(model_dir) -> None:
    eng = _engine(model_dir)
    assert isinstance(eng, Engine)
    info = eng.info()
    assert info["runtime"] == "onnxruntime" and info["threads"] == 1
    # The model's starting rung (540 of 720 for this network): 135 rows at 180, padded to the multiple of 8.
    assert info["internal_size"] == "240x135" and info["network_size"] == "240x136"
    assert isinstance(info["governor"], str) and info["governor_state"]["adaptive"] is False
    eng.close()


def test_state_is_carried_and_reset_token_resets(model_dir, frames) -> None:
    a, b = _engine(model_dir), _engine(model_dir)
    a.step(frames[0], _cs())
    carried = a.step(frames[1], _cs()).copy()
    fresh = b.step(frames[1], _cs()).copy()
    assert np.abs(carried.astype(int) - fresh).mean() > 0.5          # the state changed the second frame
    after_reset = a.step(frames[1], _cs(token=1))
    assert np.abs(after_reset.astype(int) - fresh).max() <= 1        # a reset is a fresh start
    assert set(a.timings) == {"pre", "infer", "post"} and a.timings["infer"] > 0


def test_style_weights_change_the_output(model_dir, frames) -> None:
    outs = []
    for w in ({"ink": 1.0}, {"fire": 1.0}, {"ink": 0.5, "fire": 0.5}):
        eng = _engine(model_dir)
        outs.append(eng.step(frames[0], _cs(w)).astype(int))
    assert np.abs(outs[0] - outs[1]).mean() > 2
    mid = np.abs(outs[2] - outs[0]).mean()
    assert 0 < mid < np.abs(outs[1] - outs[0]).mean()
    with pytest.raises(VcamError, match="Unknown style"):
        _engine(model_dir).step(frames[0], _cs({"nope": 1.0}))


def test_strength_and_passthrough(model_dir, frames) -> None:
    eng = _engine(model_dir)
    f = frames[2]
    assert np.array_equal(eng.step(f, _cs(strength=0.0)), f)
    assert eng.step(f, ControlState(weights={}, strength=1.0)) is f
    assert eng.step(f, _cs(paused=True)) is f
    full = eng.step(f, _cs(strength=1.0)).astype(int)
    half = eng.step(f, _cs(strength=0.5)).astype(int)
    assert np.abs(half - (full + f) / 2).max() <= 2                   # blend is linear in strength


def test_scene_cut_resets_state(model_dir, frames) -> None:
    a, b = _engine(model_dir), _engine(model_dir)
    a.step(frames[0], _cs())
    a.step(frames[1], _cs())
    other = cv2.flip(255 - frames[3], 0)                              # a different scene
    cut = a.step(other, _cs())
    assert np.abs(cut.astype(int) - b.step(other, _cs())).max() <= 1


def test_odd_size_gray_and_bgra_inputs(model_dir, frames) -> None:
    eng = _engine(model_dir)
    odd = cv2.resize(frames[0], (853, 480))
    out = eng.step(odd, _cs())
    assert out.shape == (480, 853, 3) and out.dtype == np.uint8
    assert eng.info()["internal_size"] == "640x360"
    gray = cv2.cvtColor(odd, cv2.COLOR_BGR2GRAY)
    assert eng.step(gray, _cs()).shape == (480, 853, 3)
    bgra = cv2.cvtColor(frames[0], cv2.COLOR_BGR2BGRA)
    assert eng.step(bgra, _cs()).shape == (180, 320, 3)               # and back to the first size
    with pytest.raises(VcamError):
        eng.step(np.zeros((180, 320, 2), np.uint8), _cs())


def test_fixed_internal_height(model_dir, frames) -> None:
    eng = _engine(model_dir, internal_height=64)
    eng.step(frames[0], _cs())
    assert eng.info()["internal_size"] == "114x64" and eng.info()["network_size"] == "120x64"


def test_the_picker_gets_a_deadline_only_for_live_runs_at_the_best_picture_or_held_by_cpu(model_dir, frames) -> None:
    """Live runs at the top rung, or held below it by the CPU budget, let the picker save CPU within the frame
    budget; runs over every frame (files, demo) and live runs below the top rung with CPU to spare keep the fastest
    runner. Live runs get a CPU budget (half the cores by default), the others none."""
    live = _engine(model_dir, threads=0, adaptive=True, cpu_share=RunConfig.cpu_share)
    assert live.governor.cpu_budget is not None and live.governor.cpu_budget > 0
    live.governor._move_to(len(live.governor.ladder) - 1)
    live.step(frames[0], _cs())
    budget = live.governor.budget_ms
    assert live.picker.deadline_ms is not None and 0 < live.picker.deadline_ms < budget
    live.governor._move_to(0)
    live.step(frames[1], _cs())
    assert live.picker.deadline_ms is None
    live.governor._hold_cpu_bound()
    live.step(frames[2], _cs())
    assert live.picker.deadline_ms is not None
    assert live.info()["governor_state"]["cpu_bound"] is True
    live.close()
    offline = _engine(model_dir, threads=0, adaptive=True, realtime=False)
    assert offline.governor.cpu_budget is None
    offline.governor._move_to(len(offline.governor.ladder) - 1)
    offline.step(frames[0], _cs())
    assert offline.picker.deadline_ms is None
    offline.close()


@pytest.mark.parametrize("damage", ["truncated", "garbage", "swapped"])
def test_corrupt_model_files_name_the_file(model_dir, tmp_path, damage) -> None:
    bad = tmp_path / "m"
    shutil.copytree(model_dir, bad)
    onnx_path = bad / "vcam.onnx"
    data = onnx_path.read_bytes()
    onnx_path.write_bytes(data[: len(data) // 3] if damage == "truncated" else b"\x08\x07garbage" * 50
                          if damage == "garbage" else data)
    man = json.loads((bad / "manifest.json").read_text())
    if damage != "swapped":   # the hash matches the damaged file: the runtime's load error must be wrapped
        man["onnx_sha256"] = sha256_file(onnx_path)
    else:                     # the file is fine but not the one the manifest names
        man["onnx_sha256"] = "0" * 64
    (bad / "manifest.json").write_text(json.dumps(man))
    with pytest.raises(ModelError) as err:
        CpuEngine(load_manifest(bad), _cfg(), runtime="onnxruntime")
    assert str(onnx_path) in str(err.value)


def test_manifest_codes_and_graph_must_agree(model_dir, tmp_path) -> None:
    bad = tmp_path / "m"
    shutil.copytree(model_dir, bad)
    man = json.loads((bad / "manifest.json").read_text())
    man["styles"] = man["styles"][:2]
    (bad / "manifest.json").write_text(json.dumps(man))
    with pytest.raises(ModelError, match="have shape"):      # 3 stored codes, 2 names
        CpuEngine(load_manifest(bad), _cfg(), runtime="onnxruntime")
    man["styles"] = list(STYLES)
    man["code_dim"] = 5
    (bad / "manifest.json").write_text(json.dumps(man))
    with pytest.raises(ModelError, match="styles.safetensors"):
        CpuEngine(load_manifest(bad), _cfg(), runtime="onnxruntime")
    (bad / "styles.safetensors").write_bytes(b"not a safetensors file")
    man["code_dim"] = TINY.code_dim
    (bad / "manifest.json").write_text(json.dumps(man))
    with pytest.raises(ModelError, match="cannot be read"):
        CpuEngine(load_manifest(bad), _cfg(), runtime="onnxruntime")


def test_static_scene_reuses_the_network_output(model_dir, frames) -> None:
    eng = _engine(model_dir, adaptive=True)
    first = eng.step(frames[0], _cs()).copy()
    for _ in range(4):
        again = eng.step(frames[0], _cs())
    counts = eng.info()["governor_state"]["counts"]
    assert counts["reuse"] == 4 and counts["infer"] == 1
    assert np.array_equal(again, first)          # same frame, same output, no inference
    eng.step(frames[0], _cs({"fire": 1.0}))      # a style change must infer
    assert eng.info()["governor_state"]["counts"]["infer"] == 2


def test_warp_follows_motion(model_dir, frames) -> None:
    """In alternate mode the in-between frame warps the last output: closer to a real inference on the moved
    frame than the unwarped last output is."""
    base = cv2.resize(frames[0], (SIZE.width + 24, SIZE.height))
    f0, f1 = base[:, 24:].copy(), base[:, 12:-12].copy()             # the camera pans by 12 px
    ref = _engine(model_dir).step(f1, _cs()).astype(int)
    eng = _engine(model_dir, adaptive=True)
    still = eng.step(f0, _cs()).copy().astype(int)
    eng.governor.alternate = True
    warped = eng.step(f1, _cs()).astype(int)
    assert eng.info()["governor_state"]["counts"]["warp"] == 1
    assert np.abs(warped - ref).mean() < np.abs(still - ref).mean()


def test_openvino_matches_onnxruntime_at_every_size(model_dir, frames) -> None:
    """Through the engine, and through the runner at a size it first serves with the dynamic graph while the
    static copy compiles in the background."""
    pytest.importorskip("openvino")
    import time

    from vcam.engines.cpu_runtime import OpenVinoRunner, OrtRunner

    a, b = _engine(model_dir), _engine(model_dir, runtime="openvino", cpu_precision="f32")
    assert b.info()["runtime"] == "openvino"
    for f in frames[:2]:
        assert np.abs(a.step(f, _cs()).astype(int) - b.step(f, _cs())).max() <= 1
    ov = OpenVinoRunner(model_dir / "vcam.onnx", 1, (48, 80), state_stride=ST)
    ort = OrtRunner(model_dir / "vcam.onnx", 1)
    rng = np.random.default_rng(0)
    code = rng.normal(size=(1, TINY.code_dim)).astype(np.float32)
    for h, w in ((48, 80), (64, 96), (64, 96)):
        x = rng.random((1, 3, h, w), dtype=np.float32)
        state = rng.random((1, C, h // ST, w // ST), dtype=np.float32)
        ins = (x, state, np.ones((1, 1), np.float32), code)
        outs = []
        for r in (ov, ort):
            y, s = np.empty_like(x), np.empty_like(state)
            r.run(*ins, y, s)
            outs.append((y, s))
        assert np.abs(outs[0][0] - outs[1][0]).max() < 1e-4 and np.abs(outs[0][1] - outs[1][1]).max() < 1e-4
        if (h, w) == (64, 96):
            for _ in range(200):              # let the background compile finish, then the static copy runs
                if ov._pending.get((64, 96)) is None or ov._pending[(64, 96)].done():
                    break
                time.sleep(0.05)
    assert (64, 96) in ov._static and ov._static[(64, 96)] is not ov.request    # the static copy ran
    ov.close()


def _wait_static(runner, hw: tuple[int, int], run) -> None:
    """Run at ``hw`` until the runner serves it from a static compile (the compile runs in the background)."""
    import time

    for _ in range(400):
        run()
        if hw in runner._static:
            return
        time.sleep(0.02)
    raise AssertionError(f"no static compile of {hw}")


def test_openvino_keeps_only_recent_sizes_compiled_and_recompiles_an_evicted_one(model_dir) -> None:
    pytest.importorskip("openvino")
    from vcam.engines.cpu_runtime import OpenVinoRunner, OrtRunner

    ov = OpenVinoRunner(model_dir / "vcam.onnx", 1, (48, 80), state_stride=ST)
    ort = OrtRunner(model_dir / "vcam.onnx", 1)
    rng = np.random.default_rng(1)
    style = rng.normal(size=(1, TINY.code_dim)).astype(np.float32)

    def check(h: int, w: int) -> None:
        x = rng.random((1, 3, h, w), dtype=np.float32)
        state = rng.random((1, C, h // ST, w // ST), dtype=np.float32)
        ys = [np.empty_like(x) for _ in range(2)]
        ss = [np.empty_like(state) for _ in range(2)]
        for r, y, s in zip((ov, ort), ys, ss, strict=True):
            r.run(x, state, np.ones((1, 1), np.float32), style, y, s)
        assert np.abs(ys[0] - ys[1]).max() < 1e-4 and np.abs(ss[0] - ss[1]).max() < 1e-4

    assert OpenVinoRunner.max_static == 3
    for hw in ((48, 80), (64, 96), (56, 96), (40, 72), (48, 80)):   # all multiples of the tiny net's stride (8)
        _wait_static(ov, hw, lambda hw=hw: check(*hw))
        assert len(ov._static) <= OpenVinoRunner.max_static
        check(*hw)
    # least recently used first; (64, 96), the least recent when (40, 72) came, was dropped
    assert list(ov._static) == [(56, 96), (40, 72), (48, 80)]
    ov.close()


def test_an_adaptive_engine_compiles_its_first_step_down_at_start(model_dir, monkeypatch) -> None:
    """Memory reaches its plateau at start: the rung the governor first moves to is compiled beside the start one,
    and so is the rung it may climb to (issue 14: a first visit minutes into a soak left ~10 MB behind)."""
    pytest.importorskip("openvino")
    from vcam.engines.cpu import CLIMB_RUNGS
    from vcam.engines.cpu_runtime import OpenVinoRunner

    compiled = []
    real = OpenVinoRunner._compile_static
    monkeypatch.setattr(OpenVinoRunner, "_compile_static", lambda self, hw: compiled.append(hw) or real(self, hw))
    eng = _engine(model_dir, runtime="openvino", adaptive=True)
    try:
        gov = eng.governor
        assert gov.rung > 0
        hw = [(s.padded.height, s.padded.width) for s in gov.ladder]
        above = hw[gov.rung + 1:gov.rung + 1 + CLIMB_RUNGS][::-1]
        want = [*above, hw[gov.rung - 1], hw[gov.rung]]
        for r in eng.picker.runners:
            assert list(r._static) == want     # least recently used first: the start rung is the newest
        assert set(want) <= set(compiled)
    finally:
        eng.close()
    fixed = _engine(model_dir, runtime="openvino", adaptive=False)
    try:
        assert all(len(r._static) == 1 for r in fixed.picker.runners)   # a size that never moves compiles one
    finally:
        fixed.close()


def test_an_adaptive_engine_builds_and_touches_the_rung_below_at_start(model_dir, frames) -> None:
    """Issue 14: the first step down allocates nothing. The rung below has its buffers built and run once at start
    (their first use committed ~7 MB minutes into a 720p soak), and so has the rung above; a fixed size builds only
    its own."""
    from vcam.engines.cpu import CLIMB_RUNGS

    eng = _engine(model_dir, adaptive=True)
    try:
        gov = eng.governor
        if gov.rung == 0:
            gov._move_to(1)
            eng._rungs.built = 0
            eng._configure(eng._size)
        start, below = gov.internal, gov.ladder[gov.rung - 1]
        above = len(gov.ladder[gov.rung + 1:gov.rung + 1 + CLIMB_RUNGS])
        assert eng._rungs.built == len(eng._rungs) == 2 + above
        eng._rungs.get(below, eng._size, eng.upsample, eng.picker.runner.threads)
        assert eng._rungs.built == 2 + above                 # already there
        eng.step(frames[0], _cs())
        gov._move_to(gov.rung - 1)
        out = eng.step(frames[1], _cs())
        assert out.shape == frames[1].shape and eng._rungs.built == 2 + above
        assert eng._stylized.shape[2:] == (below.padded.height, below.padded.width) != (start.padded.height,
                                                                                         start.padded.width)
    finally:
        eng.close()
    fixed = _engine(model_dir, adaptive=False)
    try:
        assert fixed._rungs.built == 1
    finally:
        fixed.close()


def test_openvino_precision_is_explicit(model_dir) -> None:
    """f32 unless asked: OpenVINO 2026 would pick bf16 on its own on CPUs with avx512_bf16 or AMX."""
    openvino = pytest.importorskip("openvino")
    from vcam.engines.cpu_runtime import PRECISIONS, OpenVinoRunner

    ov = OpenVinoRunner(model_dir / "vcam.onnx", 1, (48, 80), state_stride=ST)
    assert ov.compiled.get_property("INFERENCE_PRECISION_HINT") == openvino.Type.f32
    static = ov._static[(48, 80)].get_compiled_model()
    assert static.get_property("INFERENCE_PRECISION_HINT") == openvino.Type.f32
    ov.close()
    with pytest.raises(VcamError) as err:
        OpenVinoRunner(model_dir / "vcam.onnx", 1, precision="fp8")
    assert all(p in str(err.value.hint) for p in PRECISIONS)


def test_cpu_precision_auto_is_bf16_exactly_where_the_cpu_runs_it(model_dir, frames) -> None:
    pytest.importorskip("openvino")
    from vcam.engines.cpu_runtime import bf16_supported, resolve_precision

    native = bf16_supported()
    assert resolve_precision("auto") == ("bf16" if native else "f32")
    assert resolve_precision("f32") == "f32"
    with pytest.raises(VcamError) as err:
        resolve_precision("fp16")
    assert "auto, f32, bf16" in str(err.value)
    f32 = _engine(model_dir, runtime="openvino", cpu_precision="f32")
    auto = _engine(model_dir, runtime="openvino")
    assert f32.info()["precision"] == "f32"
    assert auto.info()["precision"] == ("bf16" if native else "f32")
    if not native:
        pytest.skip("this CPU has neither avx512_bf16 nor AMX: auto stays f32")
    # bf16 is an approximation of the f32 result, not another picture: a few levels on 255 at most.
    for f in frames[:3]:
        a, b = f32.step(f, _cs()).astype(int), auto.step(f, _cs()).astype(int)
        assert np.abs(a - b).mean() < 2.0 and np.abs(a - b).max() <= 40
        assert not np.array_equal(a, b)   # and really computed in bf16


@pytest.mark.parametrize("runtime", ["onnxruntime", "openvino"])
def test_steady_state_frames_allocate_nothing(model_dir, frames, runtime) -> None:
    """The hot path allocates once: after warm-up, a frame that runs the network allocates no frame-sized array
    (numpy's and Python's allocations, traced; numpy's own 32 KB casting buffer is the one small exception).
    OpenVINO's infer() used to return copies of both outputs on every frame."""
    import tracemalloc

    pytest.importorskip(runtime)
    eng = _engine(model_dir, runtime=runtime)
    cs = _cs()
    for f in frames[:3]:
        eng.step(f, cs)
    tracemalloc.start()
    try:
        for f in frames[3:]:
            eng.step(f, cs)   # a new frame each time: the network runs (no reuse)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert eng.info()["governor_state"]["counts"]["infer"] >= 5
    h, w = (int(v) for v in eng.info()["internal_size"].split("x")[::-1])
    network_output = 3 * h * w * 4
    assert network_output > 128 * 1024
    assert peak < 64 * 1024, f"{peak} bytes allocated per frame at peak"


class _NoDynamic:
    """Stands in for a runner's dynamic-shape request: using it fails the test."""

    def __getattr__(self, name):
        raise AssertionError(f"the dynamic graph ran ({name})")


def test_a_governor_step_never_runs_the_dynamic_graph(model_dir, frames) -> None:
    """Issue 14: the dynamic graph's scratch memory stays at the largest size it ever ran, so the engine waits for a
    new rung's static compile (the frames meanwhile run the rung it leaves) and the picker probes only compiled
    runners."""
    pytest.importorskip("openvino")
    eng = _engine(model_dir, runtime="openvino", adaptive=True, threads=0)
    try:
        gov = eng.governor
        for r in eng.picker.runners:
            r.request = _NoDynamic()
        eng.picker.every = 5                  # probe often: the other runner meets each new rung too
        for target in (len(gov.ladder) - 1, 0, len(gov.ladder) - 1):
            gov.request_rung(target)
            for n in range(400):
                eng.step(frames[n % len(frames)], _cs())
                if gov.rung == target:
                    break
            assert gov.rung == target, "the rung's compile never finished"
            for n in range(12):
                eng.step(frames[n % len(frames)], _cs())
            assert eng._stylized.shape[2:] == (gov.internal.padded.height, gov.internal.padded.width)
        assert all(len(r._static) <= r.max_static for r in eng.picker.runners)
    finally:
        eng.close()


def test_rung_buffers_are_kept_per_rung_and_reused_on_return(model_dir, frames) -> None:
    """Issue 14: the governor moving back and forth reuses each rung's buffers (reallocating them every move
    fragmented the heap, and RSS followed the rung); a fourth rung evicts the least recently used one."""
    eng = _engine(model_dir, adaptive=True)
    try:
        gov = eng.governor
        assert len(gov.ladder) >= 4
        top, below, low, other = len(gov.ladder) - 1, len(gov.ladder) - 2, 0, 1
        gov._move_to(top)
        eng.step(frames[0], _cs())
        eng._rungs.clear()                    # count from here: the start-up rungs depend on the probe's timing
        eng._rungs.built = 0
        eng._internal = None
        seen = []
        for target in (top, below, top, below, top):
            gov._move_to(target)
            for n in range(3):
                out = eng.step(frames[n], _cs())
            assert out.shape == frames[0].shape
            assert eng._stylized.shape[2:] == (gov.internal.padded.height, gov.internal.padded.width)
            seen.append(id(eng._states))
        assert eng._rungs.built == 2 and len(eng._rungs) == 2
        assert seen[0] == seen[2] == seen[4] and seen[1] == seen[3] and seen[0] != seen[1]
        gov._move_to(low)
        eng.step(frames[0], _cs())
        assert eng._rungs.built == 3 and len(eng._rungs) == 3
        gov._move_to(other)                   # a fourth rung evicts the least recent: `below`
        eng.step(frames[1], _cs())
        assert eng._rungs.built == 4 and len(eng._rungs) == 3
        gov._move_to(top)                     # still cached
        eng.step(frames[1], _cs())
        assert eng._rungs.built == 4
        gov._move_to(below)                   # evicted: built again
        eng.step(frames[2], _cs())
        assert eng._rungs.built == 5
    finally:
        eng.close()
    assert len(eng._rungs) == 0


def test_a_slow_start_up_probe_starts_the_governor_lower_and_compiles_there(model_dir, monkeypatch) -> None:
    """The start-up probe's time at the start rung sets where the governor starts, and that rung is compiled
    before the first frame."""
    pytest.importorskip("openvino")
    monkeypatch.setattr(CpuEngine, "_probe",
                        lambda self, runners: [500.0 if r.runtime == "openvino" else 600.0 for r in runners])
    eng = _engine(model_dir, runtime="auto", adaptive=True)
    try:
        gov = eng.governor
        assert gov.rung < gov.start
        hw = (gov.internal.padded.height, gov.internal.padded.width)
        assert all(r.runtime == "openvino" and hw in r._static     # compiled at start, not on the first frame
                   for r in eng.picker.runners)
    finally:
        eng.close()


@pytest.mark.parametrize("runtime", ["onnxruntime", "openvino"])
def test_a_detail_head_model_runs_at_its_own_rungs(tmp_path, frames, runtime) -> None:
    """A net with a detail head (stride 16, rungs up to the output's height) through the engine: its manifest sets
    the multiple and the ladder, the top rung is the output size itself, and a step down works."""
    if runtime == "openvino":
        pytest.importorskip("openvino")
    from vcam.model.network import NetShape

    shape = NetShape.from_dict({**TINY.as_dict(), "detail": 4})
    d = write_tiny_model(tmp_path, STYLES, shape=shape)
    eng = CpuEngine(load_manifest(d), _cfg(adaptive=True, realtime=False), runtime=runtime)
    assert eng.stride == 16 and eng.governor.internal.size == SIZE     # starts at 720 of 720: the output size
    outs = [eng.step(f, _cs()) for f in frames[:3]]
    assert all(o.shape == (SIZE.height, SIZE.width, 3) for o in outs)
    assert not np.array_equal(outs[-1], frames[2])                     # it paints
    for f in frames[3:6]:      # a request moves the rung once its static graph is ready: a few frames
        eng.step(f, _cs(quality="low"))
    info = eng.info()
    assert int(info["network_size"].split("x")[1]) % 16 == 0 and info["network_size"] != str(SIZE)
