"""Governor decisions on synthetic frame times: the ladder, stepping down and up with hysteresis, alternate-frame
mode, the static-scene filter, quality pins and the switches that turn adaptation off."""

from __future__ import annotations

from pathlib import Path

import pytest

from vcam.config import Size
from vcam.engines.governor import Governor, InternalSize, Ladder, ladder_for
from vcam.ops.params import SCENE
from vcam.styles import load_manifest

MODELS = Path(__file__).resolve().parents[2] / "models"

HD = Size(1280, 720)


def _feed(g: Governor, ms: float, n: int, net_share: float = 0.6) -> int:
    """Record n inferred frames of ``ms``; return how many times the internal size changed."""
    return sum(g.record("infer", ms, ms * net_share) for _ in range(n))


def test_ladders_scale_with_the_output_and_pad_to_multiples_of_4() -> None:
    assert [s.size.height for s in ladder_for(HD)] == [144, 180, 216, 270, 360]
    assert [s.size.width for s in ladder_for(HD)] == [256, 320, 384, 480, 640]
    assert [s.padded.height for s in ladder_for(HD)] == [144, 180, 216, 272, 360]
    assert [s.size.height for s in ladder_for(Size(1920, 1080))] == [216, 270, 324, 405, 540]
    assert [s.size.height for s in ladder_for(Size(640, 360))] == [72, 90, 108, 135, 180]
    odd = ladder_for(Size(853, 480))
    assert [s.size.height for s in odd] == [96, 120, 144, 180, 240]
    assert all(s.padded.width % 4 == 0 and s.padded.height % 4 == 0 for s in odd)
    assert InternalSize.for_height(Size(40, 20), 10).size.height == 32     # never below the net's minimum
    assert Governor(HD).internal.size == Size(320, 180)                     # default: a quarter of the height


def test_the_shipped_ladder_reaches_a_quarter_of_1080p() -> None:
    """1080p on a CPU without bf16 needs a rung below 576x324 (19 fps live on an AVX2 Zen 3): 480x270, a whole
    quarter of the height, so the upsampler runs its exact-ratio path."""
    lad = Ladder.of(load_manifest(MODELS).extra)
    assert [s.size.height for s in lad.sizes(Size(1920, 1080))] == [270, 324, 432, 540, 648, 810]
    assert lad.sizes(Size(1920, 1080))[0].size == Size(480, 270)
    assert lad.sizes(HD)[lad.start_rung].size == Size(960, 540)     # the start is still the design size


def test_steps_down_when_too_slow_then_alternates_at_the_bottom() -> None:
    g = Governor(HD, target_fps=30)                  # budget 26.7 ms
    assert _feed(g, 40, g.cooldown - 1) == 0         # nothing happens during the cooldown
    assert _feed(g, 40, g.down_after + 1) == 1
    assert g.internal.size.height == 144
    assert not g.alternate
    _feed(g, 40, g.cooldown + g.down_after + 1)
    assert g.internal.size.height == 144 and g.alternate
    # alternate mode: infer, warp, infer, warp...
    actions = []
    for _ in range(4):
        a = g.decide(diff_since_infer=10.0, frames_since_infer=0 if not actions or actions[-1] == "infer" else 1)
        actions.append(a)
        g.record(a, 40 if a == "infer" else 5)
    assert actions == ["warp", "infer", "warp", "infer"]
    assert "alt" in g.summary() and g.state()["alternate"] is True


def test_steps_up_only_after_a_long_stretch_with_room() -> None:
    g = Governor(HD, target_fps=30)
    assert _feed(g, 10, g.cooldown + g.up_after - 2) == 0
    assert _feed(g, 10, 5) == 1
    assert g.internal.size.height == 216
    # Times near the budget at the next rung's predicted cost: stay.
    g2 = Governor(HD, target_fps=30)
    assert _feed(g2, 20, 200) == 0


def test_a_rung_that_was_too_slow_is_not_retried_soon() -> None:
    g = Governor(HD, target_fps=30)
    _feed(g, 40, g.cooldown + g.down_after)          # 180 too slow -> 144
    assert g.internal.size.height == 144
    failed_at = g.cooldown + g.down_after
    climbed_after = 0
    while not g.record("infer", 8.0, 5.0):            # plenty of room, but 180 just failed
        climbed_after += 1
        assert climbed_after < 2000
    assert g.internal.size.height == 180
    assert failed_at + climbed_after >= 10 * g.target_fps  # it waited ~10 s of frames before retrying


def test_alternate_mode_ends_when_frames_are_fast_again() -> None:
    g = Governor(HD, target_fps=30)
    g.rung = 0
    _feed(g, 50, g.cooldown + g.down_after)
    assert g.alternate
    _feed(g, 10, g.cooldown + g.up_after + 1)
    assert not g.alternate


def test_static_scene_filter() -> None:
    g = Governor(HD)
    low, high = SCENE.static_diff / 2, SCENE.static_diff * 5
    assert g.decide(None, 0) == "infer"                                   # nothing to reuse yet
    assert g.decide(low, 1) == "reuse"
    assert g.decide(high, 1) == "infer"
    assert g.decide(low, SCENE.max_reuse_frames) == "infer"              # refresh now and then
    assert g.decide(low, 1, must_infer=True) == "infer"                  # reset, cut, style change
    g.record("reuse", 3.0)
    assert g.state()["counts"]["reuse"] == 1


def test_adaptive_off_and_fixed_height_never_change() -> None:
    off = Governor(HD, adaptive=False)
    assert off.decide(0.0, 1) == "infer"
    assert _feed(off, 100, 200) == 0 and off.internal.size.height == 180 and not off.alternate
    fixed = Governor(HD, fixed_height=200)
    assert fixed.internal.size == Size(356, 200) and fixed.internal.padded == Size(356, 200)
    assert _feed(fixed, 100, 200) == 0 and not fixed.alternate
    assert "fixed" in fixed.summary()


@pytest.mark.parametrize("quality,height", [("low", 144), ("medium", 180), ("high", 360)])
def test_quality_pins_a_rung(quality: str, height: int) -> None:
    g = Governor(HD)
    g.set_quality(quality)
    assert g.internal.size.height == height
    assert _feed(g, 100, 200) == 0 and not g.alternate
    g.set_quality("auto")
    _feed(g, 100, g.cooldown + g.down_after + 1)
    assert g.internal.size.height < height or height == 144


def test_output_size_change_rebuilds_the_ladder() -> None:
    g = Governor(HD)
    g.set_output(Size(1920, 1080))
    assert g.internal.size == Size(480, 270) and g.internal.padded == Size(480, 272)


def test_at_best_only_on_the_top_rung_or_a_fixed_size() -> None:
    """The thread picker may save CPU only where a faster runner could not buy a better picture."""
    g = Governor(HD, target_fps=30)
    assert not g.at_best                              # the default rung has rungs above it
    g._move_to(len(g.ladder) - 1)
    assert g.at_best
    g.alternate = True                                # alternate frames: speed would buy every frame back
    assert not g.at_best
    assert Governor(HD, fixed_height=180).at_best
    assert Governor(HD, adaptive=False).at_best


def test_a_move_waits_until_its_rung_is_ready_and_counts_the_failure_once() -> None:
    """A rung whose graph is still compiling is entered once it is ready, not run on the slower dynamic graph;
    the frames meanwhile stay at the rung being left, and the slow rung is blocked only once."""
    g = Governor(HD, target_fps=30)
    compiled = {g.internal.size.height}
    asked = []

    def ready(s: InternalSize) -> bool:
        asked.append(s.size.height)
        return s.size.height in compiled

    g.ready = ready
    assert _feed(g, 40, g.cooldown + g.down_after + 60) == 0      # too slow, but 144's graph is not there
    assert g.internal.size.height == 180 and 144 in asked
    assert g._fail_count == {1: 1}
    compiled.add(144)
    assert _feed(g, 40, 1) == 1 and g.internal.size.height == 144
    g.set_quality("high")                                           # a pinned rung waits the same way
    assert g.internal.size.height == 144
    compiled.add(360)
    assert _feed(g, 40, 1) == 1 and g.internal.size.height == 360


def test_the_start_rung_fits_the_measured_network_time() -> None:
    """A start-up probe too slow for the start rung moves the start down at once, scaled by pixels; a fast one
    leaves it; a new output size applies the same measure to its own ladder."""
    g = Governor(HD, target_fps=30)                  # budget 26.7 ms; 20 ms for the network at share 0.75
    g.fit_start(5.0)
    assert g.internal.size.height == 180             # the shipped-before default start for this ladder
    g = Governor(HD, target_fps=30, ladder=Ladder((180, 216, 288, 360, 432, 540), 540, 8))
    start = g.internal
    g.fit_start(60.0)                                # 960x544 at 60 ms: 512x288 is ~17 ms
    assert g.internal.size == Size(512, 288)
    g.set_output(Size(1920, 1080))                   # ~22 ms at 576x328, ~15 ms at 480x272
    assert g.internal.size == Size(480, 270)
    fast = Governor(HD, target_fps=30, ladder=Ladder((180, 216, 288, 360, 432, 540), 540, 8))
    fast.fit_start(10.0)
    assert fast.internal == start
    fixed = Governor(HD, adaptive=False, ladder=Ladder((180, 216, 288, 360, 432, 540), 540, 8))
    fixed.fit_start(500.0)
    assert fixed.internal == start                   # a size that does not adapt stays where it was asked


def test_the_thread_pickers_probe_frames_move_no_decision() -> None:
    """A re-measure alternates the runners: a slow candidate's frames (here 2x the budget) must neither step the
    picture down nor, at the lowest rung, start alternate frames; the same times outside a probe do."""
    g = Governor(HD, target_fps=30)
    g._move_to(0)
    for _ in range(100):
        g.record("infer", 20.0, 14.0)
        for i in range(6):
            g.record("infer", 55.0 if i % 2 else 20.0, 49.0 if i % 2 else 14.0, probing=True)
    assert g.rung == 0 and not g.alternate
    for i in range(40):
        g.record("infer", 55.0 if i % 2 else 20.0, 49.0 if i % 2 else 14.0)
    assert g.alternate
