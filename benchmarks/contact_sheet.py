"""Contact sheet: held-out photos, a face and an animated frame through every style of the model, plus a blend.

    python benchmarks/contact_sheet.py --out docs/contact_sheet.png [--model models] [--cell 208]
        [--video out/styles.mp4 --video-clip carphone --video-frames 90]

Rows: the three photos held out of training, a frame of carphone.mp4 (a face; the 176x144 clip is upscaled to the
internal resolution) and a frame of Big Buck Bunny. Columns: the input, each style, and a 50/50 blend of
starry_night and the_scream. Every input is centre-cropped to 4:3 and run at the engine's internal resolution
(about 320x180 pixels); the video rows run the temporal model recurrently over the frames before the one shown,
as the engine would.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from vcam.errors import VcamError  # noqa: E402
from vcam.model import evaluate as E  # noqa: E402
from vcam.model.data import read_rgb  # noqa: E402

PHOTOS = ("chelsea.jpg", "plasma_Kite.jpg", "lomiri16_friends_by_Aitzol_Berasategi.jpg")
# (clip, first frame run, frame shown): the state warms up over the frames before the one shown.
VIDEO_ROWS = (("carphone.mp4", 40, 60), ("bunny_640x360.mp4", 70, 90))
STYLE_ORDER = ("starry_night", "the_scream", "great_wave", "composition_vii", "udnie", "woman_with_hat", "mondrian",
               "shipwreck_minotaur")
BLEND = ("starry_night", "the_scream")
ASPECT = 4 / 3
HEADER = 26


def crop_aspect(img: np.ndarray, aspect: float = ASPECT) -> np.ndarray:
    """Centre crop to width/height = aspect."""
    h, w = img.shape[:2]
    if w / h > aspect:
        cw = round(h * aspect)
        x = (w - cw) // 2
        return img[:, x:x + cw]
    ch = round(w / aspect)
    y = (h - ch) // 2
    return img[y:y + ch]


def prepare(img: np.ndarray) -> np.ndarray:
    c = crop_aspect(E.as_float_rgb(img))
    return E.resize(c, E.internal_size(c.shape[1], c.shape[0]))


def columns(model: E.LoadedModel) -> list[tuple[str, str]]:
    """(label, style spec) for each stylised column: known styles in the CLI's order, others after, then a blend."""
    names = [s for s in STYLE_ORDER if s in model.styles] + [s for s in model.styles if s not in STYLE_ORDER]
    cols = [(s, s) for s in names]
    if all(b in model.styles for b in BLEND):
        cols.append((f"{BLEND[0]}+{BLEND[1]} 50/50", f"{BLEND[0]}=0.5,{BLEND[1]}=0.5"))
    return cols


def rows(data: Path) -> list[tuple[str, list[np.ndarray]]]:
    """(label, frames at the internal resolution); the last frame is the one shown."""
    out = []
    for name in PHOTOS:
        p = data / "content" / name
        if p.is_file():
            out.append((p.stem.split("_by_")[0], [prepare(read_rgb(p))]))
    for clip, first, shown in VIDEO_ROWS:
        p = data / "video" / clip
        if p.is_file():
            frames = E.read_clip(p, shown - first + 1, start=first, area=None)  # native size, then crop + resize
            if frames:
                out.append((f"{p.stem} #{first + len(frames) - 1}", [prepare(f) for f in frames]))
    if not out:
        raise VcamError(f"No held-out photos or clips under {data}.", "Pass --data pointing at ../shared/data.")
    return out


def _label(cell: np.ndarray, text: str, top: bool = False) -> None:
    scale, thick = 0.4, 1
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    y0 = 0 if top else cell.shape[0] - th - base - 4
    cell[y0:y0 + th + base + 4, : tw + 6] //= 3
    cv2.putText(cell, text, (3, y0 + th + 2), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thick, cv2.LINE_AA)


def to_cell(img: np.ndarray, width: int) -> np.ndarray:
    """float RGB [0,1] -> uint8 BGR cell ``width`` wide."""
    h, w = img.shape[:2]
    size = (width, round(h * width / w))
    u8 = (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)
    return cv2.cvtColor(cv2.resize(u8, size, interpolation=cv2.INTER_AREA if width < w else cv2.INTER_CUBIC),
                        cv2.COLOR_RGB2BGR)


def header(labels: list[str], width: int) -> np.ndarray:
    bar = np.full((HEADER, width * len(labels), 3), 24, np.uint8)
    for i, text in enumerate(labels):
        scale = 0.45
        while cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)[0][0] > width - 6 and scale > 0.3:
            scale -= 0.03
        cv2.putText(bar, text, (i * width + 3, HEADER - 9), cv2.FONT_HERSHEY_SIMPLEX, scale, (235, 235, 235), 1,
                    cv2.LINE_AA)
    return bar


def render_sheet(model: E.LoadedModel, data: Path, cell: int) -> np.ndarray:
    cols = columns(model)
    lines = [header(["input"] + [c for c, _ in cols], cell)]
    for label, frames in rows(data):
        cells = [to_cell(frames[-1], cell)]
        _label(cells[0], label)
        for _, spec in cols:
            cells.append(to_cell(E.stylize_sequence(model, frames, spec)[-1], cell))
        lines.append(np.concatenate(cells, axis=1))
    return np.concatenate(lines, axis=0)


def encode_png(img: np.ndarray, max_bytes: int) -> tuple[bytes, int]:
    """PNG bytes of a BGR image, dropping low bits per channel (8 -> 5) until it fits ``max_bytes``.

    Stylised textures compress poorly; 6 bits per channel (error <= 2/255) is invisible at this size and saves ~1/3.
    """
    for bits in (8, 7, 6, 5):
        step = 1 << (8 - bits)
        q = img if bits == 8 else np.minimum(np.round(img / step) * step, 255).astype(np.uint8)
        ok, buf = cv2.imencode(".png", q, [cv2.IMWRITE_PNG_COMPRESSION, 9])
        if not ok:
            raise VcamError("PNG encoding failed.")
        if len(buf) <= max_bytes:
            break
    return buf.tobytes(), bits


def render_video(model: E.LoadedModel, data: Path, clip: str, frames: int, cell: int, out: Path) -> None:
    """A 2-row grid (input, each style, the blend) over a clip, the temporal model run recurrently."""
    path = next((p for p in (data / "video").glob(f"{clip}*")), None)
    if path is None:
        raise VcamError(f"No clip named {clip!r} in {data / 'video'}.")
    cap = cv2.VideoCapture(str(path))
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    cap.release()
    src = [prepare(f) for f in E.read_clip(path, frames, area=None)]
    cols = columns(model)
    streams = [src] + [E.stylize_sequence(model, src, spec) for _, spec in cols]
    labels = ["input"] + [c for c, _ in cols]
    per_row = (len(streams) + 1) // 2
    first = to_cell(src[0], cell)
    h, w = first.shape[0], cell * per_row
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, 2 * h))
    if not writer.isOpened():
        raise VcamError(f"Cannot write the video {out}.", "Pick a path ending in .mp4 in a writable folder.")
    try:
        for t in range(len(src)):
            canvas = np.zeros((2 * h, w, 3), np.uint8)
            for k, (stream, text) in enumerate(zip(streams, labels, strict=True)):
                c = to_cell(stream[t], cell)
                _label(c, text, top=True)
                r, q = divmod(k, per_row)
                canvas[r * h:(r + 1) * h, q * cell:(q + 1) * cell] = c
            writer.write(canvas)
    finally:
        writer.release()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True, help="PNG to write")
    ap.add_argument("--model", type=Path, default=None, help="model dir (default models/ if present, else runs/main)")
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data", help="the shared data folder")
    ap.add_argument("--cell", type=int, default=208, help="cell width in pixels")
    ap.add_argument("--max-mb", type=float, default=2.0, help="reduce colour depth until the PNG fits this size")
    ap.add_argument("--video", type=Path, default=None, help="also write an MP4 grid of every style over a clip")
    ap.add_argument("--video-clip", default="carphone", help="clip stem for --video")
    ap.add_argument("--video-frames", type=int, default=90)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    shipped = ROOT / "models"
    model_dir = args.model or (shipped if (shipped / "manifest.json").is_file() else ROOT / "runs" / "main")
    try:
        model = E.load_model(model_dir)
        sheet = render_sheet(model, args.data, args.cell)
        png, bits = encode_png(sheet, int(args.max_mb * 1e6))
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_bytes(png)
        print(f"wrote {args.out}: {sheet.shape[1]}x{sheet.shape[0]}, {len(png) / 1e6:.2f} MB, {bits} bits/channel "
              f"(model {model_dir}, {model.iterations} iterations)")
        if args.video:
            render_video(model, args.data, args.video_clip, args.video_frames, args.cell, args.video)
            print(f"wrote {args.video}")
    except VcamError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
