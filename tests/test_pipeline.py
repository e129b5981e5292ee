"""The frame loop with fake feeds and sinks: timing, stop conditions, controls, passthrough."""

from __future__ import annotations

import time

import numpy as np

from vcam.config import Size
from vcam.control.state import Controls
from vcam.engines.passthrough import PassthroughEngine
from vcam.frames import Frame
from vcam.pipeline import Pipeline


class ListFeed:
    def __init__(self, images: list[np.ndarray], reconnecting_at: set[int] = frozenset()) -> None:
        self.images = images
        self.i = 0
        self.dropped = 0
        self.measured_fps = 0.0
        self.source_name = "list"
        self.reconnecting_at = reconnecting_at

    def start(self) -> None:
        pass

    def next_frame(self, timeout: float) -> Frame | None:
        if self.i >= len(self.images):
            return None
        f = Frame(self.images[self.i], self.i, time.perf_counter(), reconnecting=self.i in self.reconnecting_at)
        self.i += 1
        return f

    def stop(self) -> None:
        pass


class KeepSink:
    name = "keep"

    def __init__(self) -> None:
        self.frames: list[np.ndarray] = []
        self.infos = []

    def open(self, size: Size, fps: float) -> None:
        pass

    def send(self, image: np.ndarray, info) -> None:
        self.frames.append(image.copy())
        self.infos.append(info)

    def close(self) -> None:
        pass


class InvertEngine:
    """Stands in for a neural engine: its effect is visible and exact."""

    name = "invert"

    def __init__(self) -> None:
        self.timings = {"pre": 1.0, "infer": 2.0, "post": 3.0}
        self.seen = []

    def step(self, image, controls):
        self.seen.append(controls)
        return 255 - image

    def reset(self) -> None:
        pass

    def info(self) -> dict:
        return {"engine": self.name}

    def close(self) -> None:
        pass


def _frames(n: int, h: int = 48, w: int = 64) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(n)]


def test_runs_every_frame_and_stops_at_end():
    imgs = _frames(5)
    sink = KeepSink()
    p = Pipeline(ListFeed(imgs), InvertEngine(), [sink], Controls(("a",), {"a": 1.0}), Size(64, 48))
    summary = p.run()
    assert summary["frames"] == 5
    assert all(np.array_equal(o, 255 - i) for o, i in zip(sink.frames, imgs, strict=True))
    assert set(summary["stages_ms"]) >= {"capture_age", "prep", "pre", "infer", "post", "send"}
    assert summary["stages_ms"]["infer"]["p50"] == 2.0
    assert summary["latency_ms"]["p95"] >= summary["latency_ms"]["p50"] >= 0


def test_max_frames_stops_early():
    sink = KeepSink()
    p = Pipeline(ListFeed(_frames(10)), InvertEngine(), [sink], Controls(("a",), {"a": 1.0}), Size(64, 48),
                 max_frames=3)
    assert p.run()["frames"] == 3
    assert len(sink.frames) == 3


def test_frames_are_fitted_to_output_size_and_converted():
    gray = np.full((30, 40), 100, np.uint8)
    bgra = np.zeros((31, 41, 4), np.uint8)
    sink = KeepSink()
    p = Pipeline(ListFeed([gray, bgra]), PassthroughEngine(), [sink], Controls((), {}), Size(64, 48))
    p.run()
    assert [f.shape for f in sink.frames] == [(48, 64, 3), (48, 64, 3)]
    assert sink.frames[0].mean() == 100


def test_pause_and_no_style_bypass_the_engine():
    imgs = _frames(2)
    controls = Controls(("a",), {"a": 1.0})
    controls.set_paused(True)
    eng = InvertEngine()
    sink = KeepSink()
    Pipeline(ListFeed(imgs), eng, [sink], controls, Size(64, 48)).run()
    assert eng.seen == []
    assert np.array_equal(sink.frames[0], imgs[0])
    assert sink.infos[0].style == "paused"


def test_reconnecting_frames_are_flagged_to_sinks_and_counted():
    sink = KeepSink()
    p = Pipeline(ListFeed(_frames(4), reconnecting_at={1, 2}), InvertEngine(), [sink],
                 Controls(("a",), {"a": 1.0}), Size(64, 48))
    summary = p.run()
    assert [i.reconnecting for i in sink.infos] == [False, True, True, False]
    assert summary["reconnecting_frames"] == 2


def test_stop_from_another_thread():
    import threading

    class Endless(ListFeed):
        def next_frame(self, timeout):
            time.sleep(0.002)
            return Frame(self.images[0], 0, time.perf_counter())

    p = Pipeline(Endless(_frames(1)), InvertEngine(), [KeepSink()], Controls(("a",), {"a": 1.0}), Size(64, 48))
    threading.Timer(0.2, p.stop).start()
    t0 = time.perf_counter()
    summary = p.run()
    assert time.perf_counter() - t0 < 3
    assert summary["frames"] > 0


def test_the_warm_hook_runs_once_after_start_up():
    from vcam.gc_pauses import WARM_FRAMES

    sink = KeepSink()
    p = Pipeline(ListFeed(_frames(WARM_FRAMES + 10)), InvertEngine(), [sink], Controls(("a",), {"a": 1.0}),
                 Size(64, 48))
    calls: list[int] = []
    p.on_warm = lambda: calls.append(len(sink.frames))
    p.run()
    assert calls == [WARM_FRAMES]   # once, when that many frames had gone out
