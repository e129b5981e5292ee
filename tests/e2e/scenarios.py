"""Host side of the e2e run: what the guest is asked to do (plan.json, guest.sh) and what the consumers' dumps
show (decoded frame numbers, order, arrival, content error)."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import framecode as fc

HERE = Path(__file__).resolve().parent
MODULE_OPTIONS = "devices=2 video_nr=0,1 exclusive_caps=1,1 max_buffers=8 card_label=VirtualCam"


@dataclass(frozen=True)
class Scenario:
    name: str
    device: str
    writer: list[str]
    frames: int              # what the writer was asked to send
    timeout: float = 150
    wait_for_readers: bool = True
    reader_timeout: float = 120      # how long to wait for the OpenCV reader to start before starting the writer


def write_plan(share: Path, python: str, scenarios: list[Scenario]) -> None:
    plan = {"python": python, "scenarios": [asdict(s) for s in scenarios]}
    (share / "plan.json").write_text(json.dumps(plan, indent=2))
    # guest.sh runs chrooted in the guest with the host's paths: the same interpreter, the same checkout.
    (share / "guest.sh").write_text(
        "set -u\ncd /run/tmp\n"
        f"exec {shlex.quote(python)} {shlex.quote(str(HERE / 'guest_run.py'))} "
        f"{shlex.quote(str(share / 'plan.json'))}\n")


@dataclass
class ConsumerResult:
    consumer: str
    received: int                       # frames the consumer got
    unreadable: int                     # frames whose code failed (torn, or destroyed by the style)
    indices: list[int] = field(default_factory=list)   # decoded frame numbers, in arrival order
    starts: set[int] = field(default_factory=set)      # positions in indices where a new reader (attempt) began
    mean_error: float = 0.0             # worst per-frame mean absolute error (0-255) against the sent frame
    worst_tile_error: float = 0.0       # worst 16x16 tile mean error in any frame

    @property
    def in_order(self) -> bool:
        """Each frame newer than the one before. Where a new reader began (ffmpeg is restarted until it gets in), its
        first frame may repeat the previous reader's last, and its second its first: v4l2loopback hands a newly
        opened reader the frame it holds, which the previous reader (or this one's format probe) already had (seen as
        [159, 159] across two readers and [6, 6] within one, under load). Any other repeat or step back fails."""
        return all(b > a or (b == a and (i + 1 in self.starts or i in self.starts))
                   for i, (a, b) in enumerate(zip(self.indices, self.indices[1:], strict=False)))

    @property
    def distinct(self) -> int:
        return len(set(self.indices))


def _dumps(share: Path, name: str, consumer: str) -> list[Path]:
    if consumer == "cv2":
        return [share / f"{name}.cv2.raw"]
    return sorted(share.glob(f"{name}.ffmpeg.*.raw"))


def analyse(share: Path, name: str, width: int, height: int, content: bool) -> dict[str, ConsumerResult]:
    out = {}
    for consumer in ("cv2", "ffmpeg"):
        res = ConsumerResult(consumer, 0, 0)
        for dump in _dumps(share, name, consumer):
            res.starts.add(len(res.indices))
            for frame in fc.read_raw(dump, width, height):
                res.received += 1
                d = fc.decode(frame)
                if d.index is None:
                    res.unreadable += 1
                    continue
                res.indices.append(d.index)
                if content:
                    mean, tile = fc.content_error(frame, d.index)
                    res.mean_error = max(res.mean_error, mean)
                    res.worst_tile_error = max(res.worst_tile_error, tile)
        out[consumer] = res
    return out


def arrival_window(c: ConsumerResult, sent: int, last_index: int) -> int:
    """An upper bound on how many frames were sent while consumer c was reading: from its first frame on, every
    frame number up to the last one any consumer saw (a writer that fell behind skipped some), and never more than
    were sent. The bound errs against the consumer: the arrival check built on it is strict."""
    if not c.indices:
        return sent
    return min(sent, last_index - c.indices[0] + 1)


def describe(results: dict, name: str, share: Path) -> str:
    """What to print when an assertion fails: the writer's output and the consumers' logs."""
    sc = next((s for s in results.get("scenarios", []) if s["name"] == name), {})
    logs = []
    for p in sorted(share.glob(f"{name}.*.log")):
        logs.append(f"--- {p.name}\n{p.read_text(errors='replace')[-1500:]}")
    return (f"scenario {name}: {json.dumps({k: v for k, v in sc.items() if 'std' not in k})}\n"
            f"--- writer stderr\n{sc.get('writer_stderr', '')[-3000:]}\n" + "\n".join(logs))


def has_traceback(text: str) -> bool:
    return bool(re.search(r"^Traceback \(most recent call last\)", text, re.M))
