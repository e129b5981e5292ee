"""One typed configuration object for a run, and the parsers for what users type ("1280x720", "a=0.7,b=0.3")."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from vcam.errors import VcamError


@dataclass(frozen=True)
class Size:
    width: int
    height: int

    @classmethod
    def parse(cls, text: str) -> Size:
        try:
            w, h = (int(v) for v in text.lower().replace("×", "x").split("x"))
        except ValueError as exc:
            raise VcamError(f"Bad size {text!r}.", "Write a size as WIDTHxHEIGHT, e.g. 1280x720.") from exc
        if not (16 <= w <= 7680 and 16 <= h <= 4320):
            raise VcamError(f"Size {text!r} is out of range (16x16 to 7680x4320).")
        return cls(w, h)

    def even(self) -> Size:
        """I420/NV12 subsample chroma 2x2, so virtual cameras need even sizes."""
        return Size(self.width - self.width % 2, self.height - self.height % 2)

    @property
    def is_even(self) -> bool:
        return self.width % 2 == 0 and self.height % 2 == 0

    def __str__(self) -> str:
        return f"{self.width}x{self.height}"


@dataclass
class RunConfig:
    """Everything a run needs; built by the CLI (or a test), read by the pipeline and what it opens."""

    input: str = "pattern"                    # camera index, device path, video file, or "pattern"
    outputs: tuple[str, ...] = ("virtual",)   # "virtual", "preview", "null", or a file path
    style: str = "starry_night"               # a style, a blend "a=0.7,b=0.3", or "none"
    style_image: Path | None = None           # any picture as the style (replaces --style)
    size: Size = field(default_factory=lambda: Size(1280, 720))
    fps: float = 30.0
    frames: int | None = None                 # stop after this many output frames
    realtime: bool = True                     # False: every source frame is processed (demo, files to files)
    loop: bool = True                         # loop a video file input
    engine: str = "auto"                      # auto | cpu | tensorrt | passthrough
    model_dir: Path | None = None
    network: str = "auto"                     # which of the model's networks: auto (by CPU), plain, or a variant
    strength: float = 1.0
    internal_height: int | None = None        # network input height; None lets the governor choose
    adaptive: bool = True                     # governor on (internal size, skip static frames)
    threads: int = 0                          # inference threads; 0 picks at run time
    cpu_share: float | None = 0.5             # live runs: the share of the cores vcam may use (None or 1: no limit)
    cpu_precision: str = "auto"               # OpenVINO: auto (bf16 where the CPU runs it natively) | f32 | bf16
    transition_s: float = 0.3                 # style changes ease in over this long
    virtual_device: str | None = None         # e.g. /dev/video10
    virtual_backend: str | None = None        # pyvirtualcam backend: v4l2loopback, obs, unitycapture
    stats_json: Path | None = None
    control_port: int | None = None           # localhost control endpoint; None = off
    preset: str | None = None
    hud: bool = True
    quiet: bool = False
    on_demand: bool = False                   # Linux: release the camera while no app reads the virtual camera
    # Person-aware mode (vcam.person): "all" | "background" (paint the room, keep the person) | "person"; explicit
    # strengths win over the region's; None follows `strength`. Any of them loads the person segmenter.
    region: str = "all"
    person_strength: float | None = None
    background_strength: float | None = None
    person_model: Path | None = None          # default: person.onnx beside the style model (its manifest's entry)
    background: Path | None = None            # a picture behind the person, painted in the style (vcam.person.backdrop)
    frame: str = "off"                        # "auto": keep head and shoulders centred (vcam.person.framing)

    @property
    def person_mode(self) -> bool:
        """Whether a person option was given (the segmenter is then loaded and checked at start)."""
        return (self.region != "all" or self.person_strength is not None or self.background_strength is not None
                or self.background is not None)
