"""RunnerPicker: the fastest runner by default; with a deadline, the one that costs the least CPU and meets it."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from vcam.engines.cpu_runtime import RunnerPicker


@dataclass
class _FakeRunner:
    threads: int
    runtime: str = "fake"

    def close(self) -> None:
        pass


def _drive(picker: RunnerPicker, ms_by_threads: dict[int, float], frames: int) -> list[int]:
    """Run ``frames`` inferences with fixed times per thread count; the thread count used each frame."""
    used = []
    for _ in range(frames):
        i = picker.next()
        r = picker.runners[i]
        used.append(r.threads)
        picker.report(i, ms_by_threads[r.threads])
    return used


def _picker(every: int = 50) -> RunnerPicker:
    return RunnerPicker([_FakeRunner(1), _FakeRunner(2)], every=every)


@pytest.mark.parametrize(("deadline", "threads"), [
    (None, 2),    # no deadline: the fastest
    (20.0, 1),    # both meet it: the cheaper in CPU (1 x 18 ms against 2 x 15 ms)
    (16.0, 2),    # the cheap one misses it: not taken to save CPU
])
def test_which_runner_wins(deadline: float | None, threads: int) -> None:
    p = _picker()
    p.choose([18.0, 15.0])
    p.set_deadline(deadline)
    _drive(p, {1: 18.0, 2: 15.0}, 200)
    assert p.runner.threads == threads


def test_when_load_makes_the_cheap_runner_miss_it_goes_back_to_the_fast_one() -> None:
    p = _picker()
    p.choose([18.0, 15.0])
    p.set_deadline(20.0)
    _drive(p, {1: 18.0, 2: 15.0}, 200)
    assert p.runner.threads == 1
    _drive(p, {1: 26.0, 2: 15.0}, 200)   # the one core got slower (the call app's load on it)
    assert p.runner.threads == 2


def test_a_new_deadline_is_acted_on_within_a_few_dozen_frames() -> None:
    p = _picker(every=300)
    p.choose([18.0, 15.0])
    _drive(p, {1: 18.0, 2: 15.0}, 10)
    p.set_deadline(20.0)
    used = _drive(p, {1: 18.0, 2: 15.0}, 60)
    assert used[-1] == 1


def test_a_probe_waits_until_every_runner_has_the_size_compiled() -> None:
    """A runner still compiling the current size is not timed (its fallback would be slow and grow its memory); the
    probe comes once it is ready, and every runner is asked so that each starts its compile."""
    p = _picker(every=50)
    p.choose([18.0, 15.0])                    # 2 threads current
    compiled = {2}
    asked: list[int] = []

    def ready(r: _FakeRunner) -> bool:
        asked.append(r.threads)
        return r.threads in compiled

    used = []
    for _ in range(200):
        i = p.next(ready)
        used.append(p.runners[i].threads)
        p.report(i, 10.0 if p.runners[i].threads == 1 else 15.0)
    assert set(used) == {2} and 1 in asked    # 1 thread would win, but it was never run uncompiled
    compiled.add(1)
    for _ in range(60):
        i = p.next(ready)
        p.report(i, 10.0 if p.runners[i].threads == 1 else 15.0)
    assert p.runner.threads == 1


def test_dropping_the_deadline_goes_back_to_the_fastest_at_once() -> None:
    """The governor drops the deadline when saving CPU cost the frame rate: the fastest runner (by the last probe)
    takes the very next frame, not one a probe cycle later."""
    p = _picker(every=300)
    p.choose([18.0, 15.0])
    p.set_deadline(20.0)
    _drive(p, {1: 18.0, 2: 15.0}, 100)
    assert p.runner.threads == 1
    p.set_deadline(None)
    assert _drive(p, {1: 18.0, 2: 15.0}, 1) == [2]
    # ... but only once it runs this size at full speed (its static graph compiled): never the dynamic graph
    p.set_deadline(20.0)
    _drive(p, {1: 18.0, 2: 15.0}, 100)
    assert p.runner.threads == 1
    p.set_deadline(None)
    compiled = {1: True, 2: False}
    assert p.runners[p.next(lambda r: compiled[r.threads])].threads == 1
    compiled[2] = True
    assert p.runners[p.next(lambda r: compiled[r.threads])].threads == 2
