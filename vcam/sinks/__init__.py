"""Outputs: virtual camera, preview window, video file, null. ``make_sink`` turns what the user typed into one."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from vcam.config import RunConfig, Size
from vcam.errors import VcamError
from vcam.sinks.base import FrameInfo, Sink
from vcam.sinks.file import CODECS, FileSink
from vcam.sinks.null import NullSink
from vcam.sinks.preview import PreviewSink
from vcam.sinks.virtual import VirtualCameraSink  # pyvirtualcam itself loads only when a device is opened

__all__ = ["FrameInfo", "Sink", "make_sink", "open_sinks", "close_sinks", "CHOICES"]

CHOICES = ("virtual", "preview", "null", *(f"FILE{ext}" for ext in CODECS))


def make_sink(spec: str, cfg: RunConfig, on_key: Callable[[int], None] | None = None,
              on_close: Callable[[], None] | None = None) -> Sink:
    """"virtual", "preview", "null", or a path ending in .mp4/.avi -> an unopened sink."""
    text = spec.strip()
    kind = text.lower()
    if kind == "virtual":
        return VirtualCameraSink(device=cfg.virtual_device, backend=cfg.virtual_backend)
    if kind == "preview":
        return PreviewSink(on_key=on_key, on_close=on_close, hud=cfg.hud)
    if kind == "null":
        return NullSink()
    if Path(kind).suffix in CODECS:
        return FileSink(Path(text))
    raise VcamError(f"Unknown output {spec!r}.",
                    "Choose virtual, preview, null, or a video file path ending in "
                    f"{' or '.join(CODECS)} (e.g. out.mp4).")


def open_sinks(cfg: RunConfig, size: Size | None = None, fps: float | None = None, *,
               on_key: Callable[[int], None] | None = None,
               on_close: Callable[[], None] | None = None) -> list[Sink]:
    """Make and open every output in ``cfg.outputs``; if one fails, close those already open and re-raise."""
    size = size or cfg.size
    fps = cfg.fps if fps is None else fps
    opened: list[Sink] = []
    try:
        for spec in cfg.outputs:
            sink = make_sink(spec, cfg, on_key=on_key, on_close=on_close)
            sink.open(size, fps)
            opened.append(sink)
    except BaseException:
        close_sinks(opened)
        raise
    return opened


def close_sinks(sinks: list[Sink]) -> list[Exception]:
    """Close all (in reverse order), even when some fail; return the failures for the caller to report."""
    failures: list[Exception] = []
    for sink in reversed(sinks):
        try:
            sink.close()
        except Exception as exc:   # one sink's failure must not leave the others open
            failures.append(exc)
    return failures
