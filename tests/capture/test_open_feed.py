import numpy as np
import pytest

from vcam.capture import CameraSource, FileSource, LiveFeed, LockstepFeed, PatternSource, make_source, open_feed
from vcam.config import RunConfig, Size
from vcam.errors import VcamError


def test_inputs_are_parsed_into_sources(shared_data):
    size = Size(640, 360)
    pat = make_source(RunConfig(input="Pattern", size=size, fps=25.0, realtime=False))
    assert isinstance(pat, PatternSource) and pat.size == size and pat.nominal_fps == 25.0 and not pat.live
    cam = make_source(RunConfig(input="2", size=size, fps=60.0))
    assert isinstance(cam, CameraSource) and cam.device == 2 and cam.requested_size == size
    assert cam.requested_fps == 60.0
    dev = make_source(RunConfig(input="/dev/video4"))
    assert isinstance(dev, CameraSource) and dev.device == "/dev/video4"
    clip = make_source(RunConfig(input=str(shared_data / "video" / "carphone.mp4"), loop=False, realtime=True))
    assert isinstance(clip, FileSource) and not clip.loop and clip.live


def test_missing_file_is_a_vcam_error(tmp_path):
    with pytest.raises(VcamError, match="No such file") as info:
        open_feed(RunConfig(input=str(tmp_path / "missing.mp4")))
    assert "pattern" in info.value.hint


def test_a_camera_index_that_does_not_exist_is_a_vcam_error():
    with pytest.raises(VcamError):
        open_feed(RunConfig(input="63"))


def test_realtime_picks_the_live_feed_and_offline_the_lockstep_feed():
    live = open_feed(RunConfig(input="pattern", size=Size(64, 48), fps=60.0))
    try:
        assert isinstance(live, LiveFeed)
        frame = live.next_frame(timeout=2.0)
        assert frame.image.shape == (48, 64, 3)
    finally:
        live.stop()
    offline = open_feed(RunConfig(input="pattern", size=Size(64, 48), realtime=False))
    try:
        assert isinstance(offline, LockstepFeed)
        frames = [offline.next_frame(timeout=0.1) for _ in range(3)]
        assert [f.index for f in frames] == [0, 1, 2]
        assert not np.array_equal(frames[0].image, frames[2].image)
    finally:
        offline.stop()


def test_offline_file_feed_delivers_the_clip_frames(shared_data):
    feed = open_feed(RunConfig(input=str(shared_data / "video" / "carphone.mp4"), realtime=False, loop=False))
    try:
        frame = feed.next_frame(timeout=0.1)
        assert frame.image.shape == (144, 176, 3) and frame.index == 0
    finally:
        feed.stop()


def test_sources_and_feeds_have_the_protocol_shapes(shared_data):
    from vcam.capture import FrameFeed, FrameSource

    sources = [PatternSource(), FileSource(shared_data / "video" / "carphone.mp4"), CameraSource(0)]
    assert all(isinstance(s, FrameSource) for s in sources)
    assert isinstance(LiveFeed(sources[0]), FrameFeed) and isinstance(LockstepFeed(sources[0]), FrameFeed)
