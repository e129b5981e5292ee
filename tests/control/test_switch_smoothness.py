"""End to end through the CPU engine: controls change the output as they should, and a style switch in the middle
of a stream is a cross-fade, not a jump.

The scene is a static test pattern seen through a camera: each frame adds fresh sensor noise (sigma 2 levels),
so the stream has a real steady-state frame-to-frame difference, as a webcam has. We measure it, then switch
styles mid-stream and measure the largest frame-to-frame difference around the switch:

- eased switch max <= K_STEADY x the steady-state level (the issue's criterion);
- eased switch max <= K_HARD x the jump of a hard cut (transition 0) between the same styles, which shows the
  easing is what keeps it small, however far apart the two styles are;
- after the transition the output is B's look (close to a stream that ran B all along).

Measured with a torch stand-in engine (the StyleNet of runs/main after ~160 training iterations, 30 fps, transition
0.5 s, three style pairs at 144x256 and one at 180x320): steady 1.0-2.6 levels, eased max 1.3-2.2x steady, hard cut
8.8-20x steady, eased / hard 0.13-0.17. An engine that applies the target weights at once fails both bounds.
Skips (with the reason) while vcam.engines.cpu or an exported ONNX model is missing.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np
import pytest

from vcam.control.state import Controls

ROOT = Path(__file__).resolve().parents[2]
FPS = 30.0
TRANSITION_S = 0.5
NOISE_SIGMA = 2.0
NOISE_FLOOR = 1.0          # steady level used at least: a mean change of 1/255 per frame is invisible
K_STEADY = 6.0
K_HARD = 0.35
WARMUP, STEADY_N, AFTER_N = 12, 12, 27   # after: the 15-frame transition, then 12 frames to settle
HEIGHT, WIDTH = 144, 256

pytestmark = pytest.mark.slow


def _model_dir() -> Path:
    from vcam.styles import default_model_dir, load_manifest

    reasons = []
    # $VCAM_MODEL_DIR or the shipped models/, then the model being trained in runs/main.
    for cand in dict.fromkeys((default_model_dir(), ROOT / "models", ROOT / "runs" / "main")):
        try:
            m = load_manifest(cand)
        except Exception as exc:     # ModelError or anything odd in a half-written run folder
            reasons.append(f"{cand}: {exc}")
            continue
        if m.onnx_path.is_file():
            return cand
        reasons.append(f"{cand}: no {m.onnx}")
    pytest.skip("no exported ONNX model (" + "; ".join(reasons) + ")")


def _engine_class():
    try:
        from vcam.engines.cpu import CpuEngine
    except ImportError as exc:
        pytest.skip(f"vcam.engines.cpu.CpuEngine is not importable yet ({exc})")
    return CpuEngine


def _make_engine(CpuEngine, model_dir: Path):  # noqa: N803  (it is the class)
    from vcam.config import RunConfig, Size
    from vcam.styles import load_manifest

    params = inspect.signature(CpuEngine).parameters
    if not {"manifest", "cfg"} <= set(params):
        pytest.skip(f"CpuEngine{inspect.signature(CpuEngine)}: teach _make_engine this constructor")
    # Fixed internal size, no governor (so no static-scene reuse or warping): the test measures easing only.
    cfg = RunConfig(input="pattern", outputs=("null",), size=Size(WIDTH, HEIGHT), fps=FPS, engine="cpu",
                    model_dir=model_dir, adaptive=False, internal_height=HEIGHT, threads=1)
    return CpuEngine(load_manifest(model_dir), cfg)


@pytest.fixture(scope="module")
def engine():
    cls = _engine_class()
    eng = _make_engine(cls, _model_dir())
    yield eng
    eng.close()


@pytest.fixture(scope="module")
def styles(engine) -> tuple[str, ...]:
    info = engine.info()
    names = tuple(info.get("styles") or ())
    if len(names) < 2:
        pytest.skip(f"the engine reports fewer than two styles ({names!r})")
    return names


def pattern() -> np.ndarray:
    """A static BGR test card: gradients, a checkerboard and a few flat shapes with edges."""
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    img = np.stack([xx * 255.0 / WIDTH, yy * 255.0 / HEIGHT, ((xx // 40 + yy // 40) % 2) * 200.0 + 20], -1)
    img[30:100, 30:100] = (30, 220, 240)
    img[50:130, 160:230] = (220, 60, 30)
    return img.astype(np.float32)


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def stream(engine, styles, a: str, b: str | None, transition_s: float, n: int, switch_at: int,
           seed: int = 0) -> tuple[np.ndarray, list[np.ndarray]]:
    """Run n frames (style a, then b from frame switch_at); return per-frame mean abs differences and the frames."""
    clock = Clock()
    controls = Controls(styles, blend={a: 1.0}, transition_s=transition_s, clock=clock)
    rng = np.random.default_rng(seed)
    base = pattern()
    engine.reset()
    outs: list[np.ndarray] = []
    for i in range(n):
        if i == switch_at and b is not None:
            controls.set_style(b)
        frame = np.clip(base + rng.normal(0.0, NOISE_SIGMA, base.shape), 0, 255).astype(np.uint8)
        out = engine.step(frame, controls.snapshot())
        outs.append(out.astype(np.float32))       # copy: the engine may reuse its output buffer
        clock.t += 1.0 / FPS
    diffs = np.array([np.abs(outs[i] - outs[i - 1]).mean() for i in range(1, n)])
    return diffs, outs


def test_style_switch_mid_stream_has_no_jump(engine, styles):
    a, b = styles[0], styles[-1]
    switch = WARMUP + STEADY_N
    n = switch + AFTER_N
    eased, eased_frames = stream(engine, styles, a, b, TRANSITION_S, n, switch)
    hard, _ = stream(engine, styles, a, b, 0.0, n, switch)
    _, b_frames = stream(engine, styles, b, None, TRANSITION_S, n, switch)

    # diffs[i] is between frames i and i+1: the steady window ends before the switch frame.
    steady = float(np.median(eased[WARMUP:switch - 1]))
    level = max(steady, NOISE_FLOOR)
    eased_max = float(eased[switch - 1:].max())
    hard_max = float(hard[switch - 1:].max())
    ab = float(np.abs(eased_frames[switch - 1] - b_frames[-1]).mean())
    settled = float(np.abs(eased_frames[-1] - b_frames[-1]).mean())
    report = (f"{a}->{b}: steady {steady:.2f}, eased max {eased_max:.2f} ({eased_max / level:.1f}x), "
              f"hard cut {hard_max:.2f} ({hard_max / level:.1f}x), A-B {ab:.1f}, after transition vs B {settled:.2f}")
    print(report)
    if hard_max < 3 * level:
        pytest.skip(f"these styles are too alike to measure a switch ({report})")
    assert eased_max <= K_STEADY * level, report
    assert eased_max <= K_HARD * hard_max, report
    assert settled <= 0.25 * ab, report


def _run_still(engine, controls: Controls, frame: np.ndarray, n: int = 6) -> np.ndarray:
    engine.reset()
    out = None
    for _ in range(n):
        out = engine.step(frame, controls.snapshot())
    return out.astype(np.float32)


def test_controls_change_the_output_on_a_known_frame(engine, styles):
    frame = pattern().astype(np.uint8)
    f32 = frame.astype(np.float32)
    c = Controls(styles, blend={styles[0]: 1.0}, transition_s=0.0)
    full_a = _run_still(engine, c, frame)
    c.set_style(styles[-1])
    full_b = _run_still(engine, c, frame)
    assert np.abs(full_a - full_b).mean() > 3.0, "two styles gave the same picture"
    assert np.abs(full_a - f32).mean() > 3.0, "the style left the frame unchanged"

    c.set_style(styles[0])
    c.set_strength(0.0)
    assert np.abs(_run_still(engine, c, frame) - f32).max() <= 2.0          # strength 0: the camera image
    c.set_strength(0.5)
    half = _run_still(engine, c, frame)
    assert np.abs(half - (f32 + full_a) / 2).mean() <= 2.0                  # a linear blend with the camera
    c.set_strength(1.0)
    c.set_paused(True)
    assert np.array_equal(_run_still(engine, c, frame), f32)                # pause: passthrough
    c.set_paused(False)
    c.set_style("none")
    assert np.array_equal(_run_still(engine, c, frame), f32)                # no style: passthrough
    c.set_style(styles[0])
    assert np.abs(_run_still(engine, c, frame) - full_a).mean() <= 1.0      # back to A, same look
