"""make_sink parsing, open_sinks cleanup on failure, and the null sink."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vcam.config import RunConfig, Size
from vcam.errors import VcamError
from vcam.sinks import make_sink, open_sinks
from vcam.sinks.base import FrameInfo, Sink
from vcam.sinks.file import FileSink
from vcam.sinks.null import NullSink
from vcam.sinks.preview import PreviewSink
from vcam.sinks.virtual import VirtualCameraSink


def test_make_sink_kinds(tmp_path: Path) -> None:
    cfg = RunConfig(virtual_device="/dev/video10", virtual_backend="v4l2loopback", hud=False)
    virtual = make_sink("virtual", cfg)
    assert isinstance(virtual, VirtualCameraSink) and virtual.device == "/dev/video10"
    keys: list[int] = []
    preview = make_sink(" Preview ", cfg, on_key=keys.append)
    assert isinstance(preview, PreviewSink) and preview.hud is False and preview.on_key is not None
    assert isinstance(make_sink("null", cfg), NullSink)
    for name in ("out.mp4", "clip.AVI"):
        sink = make_sink(str(tmp_path / name), cfg)
        assert isinstance(sink, FileSink) and sink.path == tmp_path / name
    for sink in (virtual, preview, make_sink("null", cfg)):
        assert isinstance(sink, Sink)


@pytest.mark.parametrize("spec", ["virtaul", "out.mkv", "", "screen"])
def test_make_sink_unknown_lists_the_choices(spec: str) -> None:
    with pytest.raises(VcamError) as err:
        make_sink(spec, RunConfig())
    text = str(err.value)
    for choice in ("virtual", "preview", "null", ".mp4", ".avi"):
        assert choice in text


def test_null_sink_counts() -> None:
    sink = NullSink()
    sink.open(Size(64, 48), 30.0)
    img = np.zeros((48, 64, 3), np.uint8)
    before = img.copy()
    for i in range(7):
        sink.send(img, FrameInfo(index=i))
    sink.close()
    assert sink.frames == 7 and sink.last_info is not None and sink.last_info.index == 6
    np.testing.assert_array_equal(img, before)


def test_open_sinks_opens_all(tmp_path: Path) -> None:
    cfg = RunConfig(outputs=("null", str(tmp_path / "a.avi")), size=Size(64, 48), fps=15.0)
    sinks = open_sinks(cfg)
    assert [type(s) for s in sinks] == [NullSink, FileSink]
    assert sinks[0].size == Size(64, 48) and sinks[0].fps == 15.0
    for s in sinks:
        s.send(np.zeros((48, 64, 3), np.uint8), FrameInfo(index=0))
        s.close()
    assert (tmp_path / "a.avi").stat().st_size > 0


def test_open_sinks_closes_the_opened_ones_on_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    closed: list[str] = []
    real_close = FileSink.close

    def spy_close(self: FileSink) -> None:
        closed.append(self.path.name)
        real_close(self)

    monkeypatch.setattr(FileSink, "close", spy_close)
    cfg = RunConfig(outputs=(str(tmp_path / "first.avi"), str(tmp_path / "missing" / "second.mp4")),
                    size=Size(64, 48))
    with pytest.raises(VcamError, match="second.mp4"):
        open_sinks(cfg)
    assert closed == ["first.avi"]
