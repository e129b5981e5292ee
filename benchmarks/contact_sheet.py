"""Contact sheet and 1:1 crops: what the real pipeline shows at 1280x720, beside the MicroAST teacher run per frame at
the same size, for every style.

    python benchmarks/contact_sheet.py --out docs/contact_sheet.png [--crops docs/crops.png]
        [--heldout docs/contact_sheet_heldout.png] [--model models] [--previous models/previous] [--cell 200]

Sheet rows: held-out photos, the laptop-webcam face at a desk (people/frames/zhling), a person at home (a held-out
gesture photo) and a Big Buck Bunny frame. Columns: the input, then for each style vcam's output and the teacher's.
Each input is cut to 16:9 and resized to 1280x720 as a camera delivers it; the video row runs the recurrent model
over the frames before the one shown, as the engine would. Crops: 1:1 regions (a face, a room) of the 720p frames,
input | vcam | teacher | previous, so the strokes can be seen at the real output size. Held-out sheet (with a style
encoder in the model): the paintings of ../shared/data/styles_heldout, which no training saw, given as pictures the
way `--style-image` gives them; columns: each painting, then for each of them vcam's output and the teacher's.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from contenders import PipelineContender, TeacherContender, clip_bgr, cover, read_bgr, style_paths  # noqa: E402

from vcam.config import Size  # noqa: E402
from vcam.errors import VcamError  # noqa: E402

SIZE = Size(1280, 720)
STILLS = ("content/chelsea.jpg", "content/plasma_Kite.jpg", "content/lomiri16_friends_by_Aitzol_Berasategi.jpg",
          "people/frames/zhling_0009.jpg", "people/gesture/rock_1bed937b-7ae4-4070-891c-daf69415da41.jpg")
VIDEO_ROW = ("video/bunny_1280x720.mp4", 20)           # (clip, frames run; the last is shown)
STYLE_ORDER = ("starry_night", "the_scream", "great_wave", "composition_vii", "udnie", "woman_with_hat", "mondrian",
               "shipwreck_minotaur")
# 1:1 crops: (name, source, (x, y, w, h) in the 1280x720 frame, styles)
CROPS = (("face", "people/frames/zhling_0009.jpg", (460, 320, 400, 300), ("starry_night", "the_scream", "udnie")),
         ("room", "people/frames/zhling_0009.jpg", (40, 400, 400, 300), ("starry_night", "great_wave")))
HEADER = 24
HELDOUT_STILLS = ("people/frames/zhling_0009.jpg", "content/chelsea.jpg",
                  "people/gesture/rock_1bed937b-7ae4-4070-891c-daf69415da41.jpg")


def _label(img: np.ndarray, text: str, top: bool = False) -> None:
    h, w = img.shape[:2]
    y0 = 0 if top else h - 18
    cv2.rectangle(img, (0, y0), (w, y0 + 18), (20, 20, 20), -1)
    cv2.putText(img, text, (4, y0 + 13), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (235, 235, 235), 1, cv2.LINE_AA)


def to_u8(rgb: np.ndarray) -> np.ndarray:
    """RGB float -> BGR uint8 for writing."""
    return cv2.cvtColor((np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8), cv2.COLOR_RGB2BGR)


def cell(rgb: np.ndarray, width: int) -> np.ndarray:
    h = round(width * SIZE.height / SIZE.width)
    return cv2.resize(to_u8(rgb), (width, h), interpolation=cv2.INTER_AREA)


def inputs(data: Path) -> list[tuple[str, list[np.ndarray]]]:
    rows = [(Path(p).stem[:18], [cover(read_bgr(data / p), SIZE)]) for p in STILLS if (data / p).is_file()]
    clip, n = VIDEO_ROW
    if (data / clip).is_file():
        rows.append((f"{Path(clip).stem} #{n - 1}", clip_bgr(data / clip, n, SIZE)))
    return rows


def run(contender, frames: list[np.ndarray], style: str) -> np.ndarray:
    """What the contender shows for the last frame (stills: a second frame, as a camera on a still scene)."""
    if len(frames) == 1 and contender.recurrent:
        frames = frames * 2
    elif not contender.recurrent:
        frames = frames[-1:]
    return contender.run(frames, style)[-1]


def render_sheet(vcam, teacher, data: Path, width: int, say) -> np.ndarray:
    styles = [s for s in STYLE_ORDER if s in vcam.styles()] + [s for s in vcam.styles() if s not in STYLE_ORDER
                                                                and not s.startswith("heldout_")]
    rows = []
    for name, frames in inputs(data):
        cells = [cell(cv2.cvtColor(frames[-1], cv2.COLOR_BGR2RGB).astype(np.float32) / 255, width)]
        _label(cells[0], name)
        for style in styles:
            for c in (vcam, teacher):
                say(f"{name}: {style} ({c.label})")
                cells.append(cell(run(c, frames, style), width))
        rows.append(np.concatenate(cells, axis=1))
    sheet = np.concatenate(rows, axis=0)
    head = np.full((HEADER, sheet.shape[1], 3), 20, np.uint8)
    cv2.putText(head, "input", (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (235, 235, 235), 1, cv2.LINE_AA)
    for k, style in enumerate(styles):
        x = width * (1 + 2 * k)
        cv2.putText(head, f"{style}: vcam | teacher", (x + 4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (235, 235, 235), 1,
                    cv2.LINE_AA)
        cv2.line(head, (x, 0), (x, HEADER), (90, 90, 90), 1)
    return np.concatenate([head, sheet], axis=0)


def render_crops(contenders: list, data: Path, say) -> np.ndarray:
    rows = []
    for name, src, (x, y, w, h), styles in CROPS:
        frame = cover(read_bgr(data / src), SIZE)
        for style in styles:
            tiles = [frame[y:y + h, x:x + w].copy()]
            _label(tiles[0], f"{name}: input (1:1 of 1280x720)")
            for c in contenders:
                say(f"crop {name}: {style} ({c.label})")
                t = to_u8(run(c, [frame], style))[y:y + h, x:x + w].copy()
                _label(t, f"{style}: {c.label}")
                tiles.append(t)
            rows.append(np.concatenate(tiles, axis=1))
    return np.concatenate(rows, axis=0)


def heldout_paintings(data: Path) -> dict[str, Path]:
    return {f"heldout_{p.stem}": p for p in sorted((data / "styles_heldout").glob("*.jpg"))}


def render_heldout(vcam, teacher, data: Path, width: int, say) -> np.ndarray:
    """Rows: the painting itself (letterboxed), then each still through vcam | teacher, per held-out painting."""
    paintings = heldout_paintings(data)
    h = round(width * SIZE.height / SIZE.width)
    rows = []
    top = []
    for name, path in paintings.items():
        art = read_bgr(path)
        s = min(2 * width / art.shape[1], h / art.shape[0])
        small = cv2.resize(art, (max(1, round(art.shape[1] * s)), max(1, round(art.shape[0] * s))),
                           interpolation=cv2.INTER_AREA)
        tile = np.full((h, 2 * width, 3), 20, np.uint8)
        y0, x0 = (h - small.shape[0]) // 2, (2 * width - small.shape[1]) // 2
        tile[y0:y0 + small.shape[0], x0:x0 + small.shape[1]] = small
        _label(tile, name.removeprefix("heldout_")[:34])
        top.append(tile)
    rows.append(np.concatenate([np.full((h, width, 3), 20, np.uint8), *top], axis=1))
    for src in HELDOUT_STILLS:
        if not (data / src).is_file():
            continue
        frame = cover(read_bgr(data / src), SIZE)
        cells = [cell(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB).astype(np.float32) / 255, width)]
        _label(cells[0], Path(src).stem[:18])
        for name in paintings:
            for c in (vcam, teacher):
                say(f"held-out {Path(src).stem[:18]}: {name} ({c.label})")
                cells.append(cell(run(c, [frame], name), width))
        rows.append(np.concatenate(cells, axis=1))
    sheet = np.concatenate(rows, axis=0)
    head = np.full((HEADER, sheet.shape[1], 3), 20, np.uint8)
    for k in range(len(paintings)):
        x = width * (1 + 2 * k)
        cv2.putText(head, "vcam --style-image | teacher", (x + 4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                    (235, 235, 235), 1, cv2.LINE_AA)
        cv2.line(head, (x, 0), (x, HEADER), (90, 90, 90), 1)
    return np.concatenate([head, sheet], axis=0)


def write_png(path: Path, img: np.ndarray) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, buf = cv2.imencode(".png", img, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    if not ok:
        raise VcamError(f"Cannot encode {path}.")
    path.write_bytes(buf.tobytes())
    return len(buf)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True, help="PNG to write")
    ap.add_argument("--crops", type=Path, default=None, help="also write 1:1 crops of 720p frames here")
    ap.add_argument("--heldout", type=Path, default=None,
                    help="also write the held-out paintings, given as pictures, here (needs a style encoder)")
    ap.add_argument("--model", type=Path, default=ROOT / "models", help="vcam's model (default models/)")
    ap.add_argument("--previous", type=Path, default=ROOT / "models" / "previous", help="previous model, for crops")
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data", help="the shared data folder")
    ap.add_argument("--cell", type=int, default=200, help="cell width in pixels")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--internal-height", type=int, default=0,
                    help="vcam's network height (default 0: the model's design size); e.g. what the governor holds "
                    "live on a slower CPU, to see what it shows")
    ap.add_argument("--network", default="plain",
                    help="which of the model's networks: plain, or a variant it lists (detail: the AVX2 one)")
    ap.add_argument("--previous-network", default="plain", help="the same for the previous model")
    ap.add_argument("--previous-internal-height", type=int, default=0, help="the same for the previous model")
    args = ap.parse_args(argv)
    say = lambda m: print(m, flush=True)  # noqa: E731
    try:
        vcam = PipelineContender("vcam", args.model, SIZE, "auto", args.internal_height or None,
                                 network=args.network)
        paintings = style_paths(args.data)
        if args.heldout:
            if not vcam.manifest.extra.get("style_encoder"):
                raise VcamError(f"{args.model} has no style encoder for --heldout.",
                                "Train one: vcam train --style-encoder --base models --out runs/encoder")
            for name, path in heldout_paintings(args.data).items():
                vcam.add_picture(name, path)
                paintings[name] = path
        teacher = TeacherContender(args.data, None, args.threads, paintings)
        if args.heldout:
            held = render_heldout(vcam, teacher, args.data, args.cell, say)
            n = write_png(args.heldout, held)
            print(f"wrote {args.heldout}: {held.shape[1]}x{held.shape[0]}, {n / 1e6:.2f} MB")
        sheet = render_sheet(vcam, teacher, args.data, args.cell, say)
        n = write_png(args.out, sheet)
        print(f"wrote {args.out}: {sheet.shape[1]}x{sheet.shape[0]}, {n / 1e6:.2f} MB ({vcam.describe})")
        if args.crops:
            contenders = [vcam, teacher]
            if (args.previous / "manifest.json").is_file():
                contenders.append(PipelineContender("previous", args.previous, SIZE, "auto",
                                                    args.previous_internal_height or None,
                                                    network=args.previous_network))
            crops = render_crops(contenders, args.data, say)
            n = write_png(args.crops, crops)
            print(f"wrote {args.crops}: {crops.shape[1]}x{crops.shape[0]}, {n / 1e6:.2f} MB")
    except VcamError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
