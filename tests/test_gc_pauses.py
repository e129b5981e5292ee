"""The garbage-collector helpers: start-up objects frozen out of its walks, and its pauses recorded."""

from __future__ import annotations

import gc

from vcam.gc_pauses import GcPauses, freeze_long_lived


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def _cycle() -> None:
    a, b = _Node(), _Node()
    a.other, b.other = b, a


def test_freezing_hides_the_start_up_heap_but_new_garbage_is_still_collected():
    try:
        frozen = freeze_long_lived()
        assert frozen > 1000 and gc.get_freeze_count() == frozen
        assert len(gc.get_objects()) < frozen   # a full walk now sees only what was made since
        _cycle()
        assert gc.collect() >= 2   # the new cycle is found and freed
    finally:
        gc.unfreeze()   # this is one test process, not a long stream: give the rest of the suite its collector back
    assert gc.get_freeze_count() == 0


def test_pauses_are_recorded_per_generation_while_started():
    pauses = GcPauses(min_ms=0.0).start()
    try:
        gc.collect(2)
        gc.collect(0)
    finally:
        pauses.stop()
    gc.collect(2)   # after stop: not seen
    s = pauses.summary()
    assert s["collections"]["gen2"] == 1 and s["collections"]["gen0"] >= 1
    assert s["longest_ms"]["gen2"] > 0
    gens = [g for _, g, _ in pauses.pauses]
    assert 2 in gens and 0 in gens
    assert all(ms >= 0 for _, _, ms in pauses.pauses)
    assert pauses._callback not in gc.callbacks


def test_short_young_pauses_are_counted_but_not_listed():
    pauses = GcPauses(min_ms=1e9).start()
    try:
        gc.collect(0)
        gc.collect(1)
    finally:
        pauses.stop()
    assert pauses.count[0] >= 1 and pauses.count[1] >= 1
    assert [g for _, g, _ in pauses.pauses] == [1]   # generation >= 1 is always listed; a short gen-0 one is not
