"""Person-aware mode, shown: a contact sheet of the modes on held-out people frames at 1280x720 through the real CPU
engine, and 1:1 crops of the edge at the output size.

    .venv/bin/python benchmarks/person_sheet.py --out docs/person_modes.png --crops docs/person_crops.png

Columns: the camera frame; the mattes (vcam's refined matte in green over the teacher's 0.5 outline in red); the
style everywhere (--region all); the room only (--region background); the person only (--region person); a painting
as the background (--background, a photo painted in the style); auto-framing (a person far from the camera
composited onto a photo of window blinds: the view, what is sent, and it painted). Each frame is fed 10 times so
the recurrent state and the matte have settled, as they have in a live stream.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import SHARED_DATA, console, find_model  # noqa: E402
from contact_sheet import _label, write_png  # noqa: E402
from person import Teacher, up  # noqa: E402

from vcam.config import RunConfig, Size  # noqa: E402
from vcam.control.state import Controls  # noqa: E402
from vcam.person.framing import AutoFramer  # noqa: E402

SIZE = Size(1280, 720)
FRAMES = ("people/frames/zhling_0009.jpg", "people/gesture/rock_1bed937b-7ae4-4070-891c-daf69415da41.jpg",
          "people/frames/silent_0147.jpg")
BACKDROP = "content/Infinite-Sea_by_Aury88.jpg"
CELL = 320


def _load(rel: str) -> np.ndarray:
    img = cv2.imread(str(SHARED_DATA / rel))
    if img is None:
        raise SystemExit(f"cannot read {SHARED_DATA / rel}")
    return cv2.resize(img, (SIZE.width, SIZE.height), interpolation=cv2.INTER_CUBIC)


def _settled(eng, frame: np.ndarray, controls: Controls) -> np.ndarray:
    eng.reset()
    for _ in range(10):
        out = eng.step(frame, controls.snapshot())
    return out.copy()


def _matte_view(frame: np.ndarray, vcam: np.ndarray, teacher: np.ndarray) -> np.ndarray:
    img = (frame.astype(np.float32) * 0.55).astype(np.uint8)
    green = np.zeros_like(img)
    green[:, :, 1] = 255
    a = vcam[:, :, None] * 0.5
    img = (img * (1 - a) + green * a).astype(np.uint8)
    edge = cv2.morphologyEx((teacher > 0.5).astype(np.uint8), cv2.MORPH_GRADIENT, np.ones((5, 5), np.uint8)) > 0
    img[edge] = (0, 0, 255)
    return img


def _small(img: np.ndarray) -> np.ndarray:
    return cv2.resize(img, (CELL, round(CELL * SIZE.height / SIZE.width)), interpolation=cv2.INTER_AREA)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--crops", type=Path)
    ap.add_argument("--style", default="starry_night")
    ap.add_argument("--model", type=Path)
    ap.add_argument("--network", default="plain", help="which of the model's networks (plain, or a variant: detail)")
    ap.add_argument("--internal-height", type=int, default=0,
                    help="the network's height (default: its design size; e.g. 360, what an AVX2 CPU holds live)")
    args = ap.parse_args(argv)
    from vcam.engines.cpu import CpuEngine

    man, origin = find_model(args.model)
    man = man.variant(args.network)
    origin = f"{origin}, network {man.network}" + (f" at height {args.internal_height}" if args.internal_height else "")
    style = args.style if args.style in man.styles else man.styles[0]
    teacher = Teacher()
    cfg = RunConfig(input="pattern", outputs=("null",), size=SIZE, style=style, region="background", adaptive=False,
                    realtime=False, internal_height=args.internal_height or None)
    eng = CpuEngine(man, cfg)
    backdrop = cv2.imread(str(SHARED_DATA / BACKDROP))
    looks = {"all": dict(), "background only": dict(person_strength=0.0), "person only": dict(background_strength=0.0)}
    rows, crops = [], []
    for rel in FRAMES:
        console.print(f"{rel} ...")
        frame = _load(rel)
        cells = {"camera": frame, "matte (vcam green, teacher red)":
                 _matte_view(frame, eng.person(frame).copy(), up(teacher(frame), frame.shape))}
        for name, kw in looks.items():
            cells[f"--region {name.split()[0]}" if name != "all" else "--region all"] = _settled(
                eng, frame, Controls(man.styles, {style: 1.0}, transition_s=0.0, **kw))
        c = Controls(man.styles, {style: 1.0}, transition_s=0.0, person_strength=0.0)
        c.set_backdrop(backdrop)
        cells["--background (a painting)"] = _settled(eng, frame, c)
        if rel == FRAMES[0]:
            x, y, w, h = 560, 250, 420, 315         # the hair, face and shoulder edge, 1:1
            crops += [cells["camera"][y:y + h, x:x + w], cells["--region background"][y:y + h, x:x + w],
                      cells["--region person"][y:y + h, x:x + w], cells["--background (a painting)"][y:y + h, x:x + w]]
        row = []
        for label, img in cells.items():
            s = _small(img)
            _label(s, label if rel == FRAMES[0] else "")
            row.append(s)
        rows.append(np.concatenate(row, axis=1))
    # Auto-framing: the same person small and off to one side of a room.
    from person import _walk_frames

    walk, phases = _walk_frames(teacher, SIZE)
    fr = AutoFramer(*_person(man))
    out = np.empty((SIZE.height, SIZE.width, 3), np.uint8)
    i_still = phases.index("still3") + 150
    for f in walk[: i_still + 1]:
        fr(f, True, SIZE.width, SIZE.height, out)
    framed = out.copy()
    fr.close()
    styled = _settled(eng, framed, Controls(man.styles, {style: 1.0}, transition_s=0.0))
    cam = walk[i_still].copy()
    x0, y0, w, h = fr.view.rect(SIZE.width, SIZE.height)
    cv2.rectangle(cam, (round(x0), round(y0)), (round(x0 + w), round(y0 + h)), (0, 255, 255), 4)
    extra = [_small(cam), _small(framed), _small(styled)]
    for s, label in zip(extra, (f"--frame auto: the view ({fr.view.zoom:.2f}x)", "what is sent", "and painted"),
                        strict=True):
        _label(s, label)
    pad = np.zeros((extra[0].shape[0], rows[0].shape[1] - 3 * CELL, 3), np.uint8)
    rows.append(np.concatenate([*extra, pad], axis=1))
    eng.close()
    sheet = np.concatenate(rows, axis=0)
    head = np.full((24, sheet.shape[1], 3), 20, np.uint8)
    cv2.putText(head, f"vcam person-aware mode, {style}, 1280x720 through the CPU engine ({origin}); held-out frames",
                (6, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (235, 235, 235), 1, cv2.LINE_AA)
    n = write_png(args.out, np.concatenate([head, sheet], axis=0))
    console.print(f"wrote {args.out} ({n // 1024} KiB)")
    if args.crops is not None:
        for s, label in zip(crops, ("camera", "--region background", "--region person", "--background"), strict=True):
            _label(s, label + " (1:1)")
        n = write_png(args.crops, np.concatenate(crops, axis=1))
        console.print(f"wrote {args.crops} ({n // 1024} KiB)")
    return 0


def _person(man) -> tuple[Path, str | None]:
    from vcam.person import person_model_path

    return person_model_path(man)


if __name__ == "__main__":
    sys.exit(main())
