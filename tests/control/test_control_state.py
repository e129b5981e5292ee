"""Controls: what each setter does to the per-frame snapshot, and how transitions ease (fake clock)."""

from __future__ import annotations

import math
import threading

import pytest

from vcam.control.state import Controls, _smoothstep, describe_blend
from vcam.errors import VcamError

FPS = 30.0
T = 0.3


def make(styles, clock, **kw) -> Controls:
    kw.setdefault("blend", {styles[0]: 1.0})
    return Controls(styles, transition_s=T, clock=clock, **kw)


def frames(controls: Controls, clock, seconds: float, fps: float = FPS):
    out = []
    for _ in range(round(seconds * fps)):
        clock.advance(1.0 / fps)
        out.append(controls.snapshot())
    return out


def test_initial_snapshot_is_the_normalised_blend(styles, clock):
    c = Controls(styles, blend={styles[0]: 3, styles[1]: 1}, strength=0.8, clock=clock)
    s = c.snapshot()
    assert s.weights == pytest.approx({styles[0]: 0.75, styles[1]: 0.25})
    assert s.strength == 0.8 and not s.transitioning and not s.paused and s.quality == "auto"
    assert s.target == s.weights


def test_style_switch_eases_with_smoothstep(styles, clock):
    a, b = styles[0], styles[1]
    c = make(styles, clock)
    c.set_style(b)
    s0 = c.snapshot()                       # same instant: still all A
    assert s0.weights == pytest.approx({a: 1.0}) and s0.transitioning and s0.target == {b: 1.0}
    clock.advance(T / 2)
    mid = c.snapshot()
    assert mid.weights == pytest.approx({a: 0.5, b: 0.5})
    clock.advance(T / 4)
    assert c.snapshot().weights[b] == pytest.approx(_smoothstep(0.75))
    clock.advance(T / 4 + 1e-9)
    end = c.snapshot()
    assert end.weights == {b: 1.0} and not end.transitioning


def test_switch_has_no_jump_beyond_the_easing_bound(styles, clock):
    """Per frame, no weight moves more than the steepest smoothstep slope (1.5/T) allows, and the change is spread."""
    c = make(styles, clock)
    before = c.snapshot()
    c.set_blend({styles[1]: 0.6, styles[2]: 0.4})
    snaps = [before, *frames(c, clock, T + 0.1)]
    bound = 1.5 * (1.0 / FPS) / T + 1e-9
    steps = []
    for prev, cur in zip(snaps, snaps[1:], strict=False):
        names = set(prev.weights) | set(cur.weights)
        steps.append(max(abs(cur.weights.get(n, 0) - prev.weights.get(n, 0)) for n in names))
        assert math.isclose(sum(cur.weights.values()), 1.0)   # always a convex combination
    assert max(steps) <= bound
    assert sum(s > 1e-6 for s in steps) >= round(T * FPS) - 1   # spread over the whole transition
    assert snaps[-1].weights == pytest.approx({styles[1]: 0.6, styles[2]: 0.4})


def test_change_mid_transition_starts_from_what_is_shown(styles, clock):
    c = make(styles, clock)
    c.set_style(styles[1])
    clock.advance(T * 0.4)
    shown = c.snapshot()
    c.set_style(styles[2])
    after = c.snapshot()
    assert after.weights == pytest.approx(shown.weights)     # no jump at the second change
    clock.advance(T)
    assert c.snapshot().weights == {styles[2]: 1.0}


def test_from_passthrough_the_look_fades_in_by_strength(styles, clock):
    c = Controls(styles, blend={}, strength=0.8, transition_s=T, clock=clock)
    assert c.snapshot().weights == {}
    c.set_style(styles[2])
    s0 = c.snapshot()
    assert s0.weights == {styles[2]: 1.0} and s0.strength == 0.0
    clock.advance(T / 2)
    assert c.snapshot().strength == pytest.approx(0.4)
    clock.advance(T)
    s = c.snapshot()
    assert s.strength == pytest.approx(0.8) and not s.transitioning


def test_to_passthrough_fades_strength_out_keeping_weights_convex(styles, clock):
    c = make(styles, clock, strength=0.6)
    c.set_style("none")
    clock.advance(T / 2)
    mid = c.snapshot()
    assert mid.weights == pytest.approx({styles[0]: 1.0})     # not shrunk towards zero
    assert mid.strength == pytest.approx(0.3)
    assert mid.target == {}
    clock.advance(T)
    end = c.snapshot()
    assert end.weights == {} and not end.transitioning
    assert c.look()["strength"] == 0.6     # the user's strength is kept for the next style


def test_back_to_a_style_during_fade_out_is_continuous(styles, clock):
    c = make(styles, clock)
    c.set_style("none")
    clock.advance(T / 2)
    shown = c.snapshot()
    c.set_style(styles[1])
    after = c.snapshot()
    assert after.strength == pytest.approx(shown.strength)
    assert after.weights == pytest.approx(shown.weights)
    clock.advance(T)
    assert c.snapshot().weights == {styles[1]: 1.0} and c.snapshot().strength == 1.0


def test_passthrough_to_passthrough_does_not_transition(styles, clock):
    c = Controls(styles, blend={}, clock=clock)
    c.set_strength(0.2)
    s = c.snapshot()
    assert s.weights == {} and not s.transitioning and c.look()["strength"] == 0.2


def test_strength_eases_and_validates(styles, clock):
    c = make(styles, clock)
    c.set_strength(0.0)
    clock.advance(T / 2)
    assert c.snapshot().strength == pytest.approx(0.5)
    clock.advance(T)
    assert c.snapshot().strength == 0.0
    for bad in (-0.1, 1.1, float("nan"), float("inf"), True, "0.5", None):
        with pytest.raises(VcamError):
            c.set_strength(bad)
    assert c.look()["strength"] == 0.0


def test_nudge_clamps_and_lands_on_round_values(styles, clock):
    c = make(styles, clock, strength=0.0)
    for _ in range(12):
        c.nudge_strength(0.1)
    assert c.look()["strength"] == 1.0
    c.nudge_strength(-0.1)
    c.nudge_strength(-0.1)
    assert c.look()["strength"] == 0.8


def test_zero_transition_switches_on_the_next_frame(styles, clock):
    c = Controls(styles, blend={styles[0]: 1}, transition_s=0.0, clock=clock)
    c.set_style(styles[3])
    assert c.snapshot().weights == {styles[3]: 1.0}


def test_unknown_style_lists_installed_ones(styles, clock):
    c = make(styles, clock)
    with pytest.raises(VcamError) as e:
        c.set_style("picasso")
    assert "picasso" in e.value.message and all(s in e.value.hint for s in styles)
    with pytest.raises(VcamError):
        c.set_blend({styles[0]: -1})
    with pytest.raises(VcamError):
        c.set_blend({styles[0]: 0, styles[1]: 0})
    with pytest.raises(VcamError):
        c.set_blend({styles[0]: float("inf")})
    assert c.look()["blend"] == {styles[0]: 1.0}     # failed calls change nothing


def test_pause_reset_quality_take_effect_next_frame(styles, clock):
    c = make(styles, clock)
    v0, t0 = c.version, c.snapshot().reset_token
    c.toggle_pause()
    assert c.snapshot().paused
    c.set_paused(False)
    assert not c.snapshot().paused
    c.request_reset()
    assert c.snapshot().reset_token == t0 + 1
    c.set_quality("low")
    assert c.snapshot().quality == "low"
    with pytest.raises(VcamError):
        c.set_quality("ultra")
    assert c.version == v0 + 4


def test_apply_look_validates_everything_first(styles, clock):
    c = make(styles, clock)
    with pytest.raises(VcamError):
        c.apply_look({styles[1]: 1}, 0.5, "ultra")
    assert c.look() == {"blend": {styles[0]: 1.0}, "strength": 1.0, "quality": "auto"}
    c.apply_look({styles[1]: 1}, 0.5, "high", ease=False)
    s = c.snapshot()
    assert s.weights == {styles[1]: 1.0} and s.strength == 0.5 and s.quality == "high" and not s.transitioning


def test_transition_time_is_configurable(styles, clock):
    c = make(styles, clock)
    c.set_transition(1.0)
    c.set_style(styles[1])
    clock.advance(0.5)
    assert c.snapshot().weights[styles[1]] == pytest.approx(0.5)
    with pytest.raises(VcamError):
        c.set_transition(-1)


def test_as_dict_reports_targets_and_eased_values(styles, clock):
    c = make(styles, clock)
    c.set_blend({styles[0]: 0.7, styles[1]: 0.3})
    d = c.as_dict()
    assert d["blend"] == pytest.approx({styles[0]: 0.7, styles[1]: 0.3})
    assert d["current"] == {styles[0]: 1.0} and d["transitioning"]
    assert d["style"] == f"{styles[0]} 70% + {styles[1]} 30%"
    assert describe_blend({}) == "none"


def test_snapshots_stay_valid_under_concurrent_writers(styles):
    c = Controls(styles, blend={styles[0]: 1}, transition_s=0.05)
    stop = threading.Event()
    errors: list[str] = []

    def writer(i: int) -> None:
        k = 0
        while not stop.is_set():
            c.set_blend({styles[k % len(styles)]: 1.0, styles[(k + i) % len(styles)]: 0.5})
            c.nudge_strength(0.1 if k % 2 else -0.1)
            k += 1

    threads = [threading.Thread(target=writer, args=(i,)) for i in (1, 2)]
    for t in threads:
        t.start()
    try:
        for _ in range(3000):
            s = c.snapshot()
            if not math.isclose(sum(s.weights.values()), 1.0, abs_tol=1e-9) or not 0 <= s.strength <= 1:
                errors.append(repr(s))
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not errors, errors[:3]
