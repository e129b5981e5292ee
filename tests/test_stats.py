"""Pipeline statistics: percentiles over the latest frames, in buffers allocated once."""

from __future__ import annotations

import numpy as np
import pytest

from vcam.stats import STAGES, PipelineStats


def test_summary_covers_the_latest_keep_frames() -> None:
    st = PipelineStats(keep=100)
    for i in range(250):
        st.record({"infer": float(i), "post": 1.0}, latency_ms=float(i) + 5)
    s = st.summary()
    assert s["frames"] == 250
    assert s["stages_ms"]["infer"]["mean"] == pytest.approx(np.mean(np.arange(150, 250)))   # the last 100 only
    assert s["stages_ms"]["infer"]["p50"] == pytest.approx(199.5)
    assert s["latency_ms"]["p50"] == pytest.approx(204.5)
    assert s["stages_ms"]["post"] == {"p50": 1.0, "p95": 1.0, "mean": 1.0}
    assert "prep" not in s["stages_ms"]   # a stage never recorded is left out, not reported as zero


def test_recording_allocates_nothing_new_after_the_first_frame() -> None:
    st = PipelineStats(keep=50)
    st.record({"infer": 1.0, "custom": 2.0}, latency_ms=3.0)   # an unknown stage gets its buffer once
    buffers = {k: r.data for k, r in st._samples.items()}
    assert set(buffers) == {*STAGES, "latency", "frame", "custom"}
    for i in range(500):
        st.record({"infer": float(i), "custom": 2.0}, latency_ms=3.0)
    assert all(st._samples[k].data is buffers[k] for k in buffers)
    assert st.summary()["stages_ms"]["custom"]["mean"] == 2.0


def test_frame_interval_needs_two_frames() -> None:
    st = PipelineStats()
    st.record({"infer": 1.0}, latency_ms=2.0)
    assert "frame_ms" not in st.summary()
    st.record({"infer": 1.0}, latency_ms=2.0)
    assert st.summary()["frame_ms"]["p50"] >= 0.0


def test_a_stage_series_is_oldest_first_even_after_the_ring_wraps():
    from vcam.stats import PipelineStats

    s = PipelineStats(keep=4)
    for i in range(6):
        s.record({"infer": float(i)}, 1.0)
    assert s.series("infer").tolist() == [2.0, 3.0, 4.0, 5.0]
    assert s.series("never").size == 0
    short = PipelineStats(keep=10)
    short.record({"infer": 7.0}, 1.0)
    assert short.series("infer").tolist() == [7.0]
