import time

import cv2
import numpy as np
import pytest

from vcam.capture.base import EndOfStream
from vcam.capture.file import FileSource
from vcam.errors import VcamError


@pytest.mark.parametrize(("clip", "width", "height", "fps"), [
    ("bunny_640x360.mp4", 640, 360, 24.0),
    ("carphone.mp4", 176, 144, 30000 / 1001),
])
def test_reads_clips_at_their_size_and_reports_their_fps(shared_data, clip, width, height, fps):
    src = FileSource(shared_data / "video" / clip, paced=False)
    src.open()
    try:
        for _ in range(3):
            img = src.read()
            assert img.shape == (height, width, 3) and img.dtype == np.uint8
        assert (src.size.width, src.size.height) == (width, height)
        assert src.nominal_fps == pytest.approx(fps, rel=1e-3)
        assert src.name == clip
    finally:
        src.close()


def _write_clip(path, frames: int, size=(64, 48), fps=10.0):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    assert writer.isOpened()
    for i in range(frames):
        writer.write(np.full((size[1], size[0], 3), 40 * i, np.uint8))
    writer.release()


def test_a_looping_clip_starts_over_after_its_last_frame(shared_data):
    src = FileSource(shared_data / "video" / "carphone.mp4", loop=True, paced=False)
    src.open()
    n = src.frame_count
    assert n > 10
    frames = [src.read() for _ in range(n + 2)]
    src.close()
    assert not np.array_equal(frames[0], frames[1])
    assert np.array_equal(frames[n], frames[0]) and np.array_equal(frames[n + 1], frames[1])


def test_without_loop_a_clip_ends_after_its_last_frame(tmp_path):
    clip = tmp_path / "five.avi"
    _write_clip(clip, 5)
    src = FileSource(clip, loop=False, paced=False)
    src.open()
    values = [int(src.read()[0, 0, 0]) for _ in range(5)]
    with pytest.raises(EndOfStream):
        src.read()
    src.close()
    assert values == pytest.approx([0, 40, 80, 120, 160], abs=4)   # JPEG-coded, so nearly


def test_paced_file_is_read_no_faster_than_its_own_fps(shared_data):
    src = FileSource(shared_data / "video" / "bunny_640x360.mp4", paced=True)
    assert src.live
    src.open()
    t0 = time.perf_counter()
    for _ in range(5):
        src.read()
    elapsed = time.perf_counter() - t0
    src.close()
    assert elapsed >= 4 / 24.0 * 0.95


def test_missing_directory_or_undecodable_files_are_vcam_errors(tmp_path):
    with pytest.raises(VcamError, match="No such file"):
        FileSource(tmp_path / "nope.mp4").open()
    with pytest.raises(VcamError, match="not a file"):
        FileSource(tmp_path).open()
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"this is not a video" * 100)
    with pytest.raises(VcamError) as info:
        FileSource(junk).open()
    assert info.value.hint


def test_reopen_resumes_where_the_stream_was(shared_data):
    """A stalled read makes the feed reopen the source: a file must go on, not restart at frame 0."""
    import numpy as np

    from vcam.capture.file import FileSource

    src = FileSource(shared_data / "video" / "carphone.mp4", loop=False, paced=False)
    src.open()
    frames = [src.read() for _ in range(10)]
    src.open()                                   # what LiveFeed does after a stall
    resumed = src.read()
    fresh = FileSource(shared_data / "video" / "carphone.mp4", loop=False, paced=False)
    fresh.open()
    reference = [fresh.read() for _ in range(11)]
    assert np.array_equal(resumed, reference[10])
    assert not np.array_equal(resumed, frames[0])
    src.close()
    fresh.close()
