import numpy as np
import pytest
from capture_fakes import FakeSource

from vcam.capture.grabber import LockstepFeed
from vcam.capture.pattern import PatternSource
from vcam.config import Size
from vcam.errors import VcamError


def test_every_frame_is_delivered_in_order_then_none():
    src = FakeSource(frames=60)
    feed = LockstepFeed(src)
    feed.start()
    frames = []
    while (frame := feed.next_frame(timeout=0.01)) is not None:
        frames.append(frame)
    feed.stop()
    assert [f.index for f in frames] == list(range(60))
    assert [int(f.image[0, 0, 0]) for f in frames] == list(range(60))
    assert feed.dropped == 0 and not any(f.reconnecting for f in frames)
    assert feed.next_frame(timeout=0.01) is None
    assert src.closes == 1


def test_pattern_in_lockstep_matches_its_renders_and_converts_gray():
    src = PatternSource(Size(96, 54), paced=False)
    feed = LockstepFeed(src)
    feed.start()
    got = [feed.next_frame(timeout=0.01) for _ in range(4)]
    feed.stop()
    assert all(np.array_equal(f.image, src.render(i)) for i, f in enumerate(got))

    gray = LockstepFeed(FakeSource(frames=3, shape_fn=lambda h, w: (h, w)))
    gray.start()
    frame = gray.next_frame(timeout=0.01)
    gray.stop()
    assert frame.image.shape == (24, 32, 3)


def test_a_source_failure_in_lockstep_is_a_vcam_error():
    feed = LockstepFeed(FakeSource(fail_at=2))
    feed.start()
    feed.next_frame(0.01)
    feed.next_frame(0.01)
    with pytest.raises(VcamError, match="failed"):
        feed.next_frame(0.01)
    feed.stop()
