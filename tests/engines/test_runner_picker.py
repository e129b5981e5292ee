"""RunnerPicker: the fastest runner by default; with a deadline, the one that costs the least CPU and meets it."""

from __future__ import annotations

from dataclasses import dataclass

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


def test_without_a_deadline_the_fastest_wins() -> None:
    p = _picker()
    p.choose([18.0, 15.0])
    assert p.runner.threads == 2
    _drive(p, {1: 18.0, 2: 15.0}, 200)
    assert p.runner.threads == 2


def test_with_a_deadline_both_meet_the_cheaper_in_cpu_wins() -> None:
    # 1 thread: 18 CPU ms; 2 threads: 30 CPU ms. Both fit 20 ms.
    p = _picker()
    p.choose([18.0, 15.0])
    p.set_deadline(20.0)
    _drive(p, {1: 18.0, 2: 15.0}, 200)
    assert p.runner.threads == 1


def test_a_runner_that_misses_the_deadline_is_not_taken_to_save_cpu() -> None:
    p = _picker()
    p.choose([18.0, 15.0])
    p.set_deadline(16.0)
    _drive(p, {1: 18.0, 2: 15.0}, 200)
    assert p.runner.threads == 2


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
