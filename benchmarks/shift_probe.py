"""How far a style network's 720p picture is from shift-equivariant: where flicker under small motion comes from.

    python benchmarks/shift_probe.py runs/ft15/vcam.safetensors models/vcam.safetensors [--shifts 1,2,4,8,16]
        [--styles starry_night,mondrian] [--json OUT]

A held-out webcam frame at 1280x720 is moved by s whole pixels and run through the net with its recurrent state
reset, at the net's design size for 720p (1280x720 with a detail head; a plain net's 960x540, area-downscaled and
reflect-padded to its stride as the engine's pre-processor does, its output cropped and resized back bilinearly),
and compared with the unmoved frame's output moved by s: the mean absolute
difference in levels (0-255) over the interior. A net that only moved its picture with the scene would score 0.
Beside it, ``move``: how much the picture itself changes under that shift, for scale. An error that vanishes at the
trunk's stride and not at even shifts points at the strided encoder, not at a 2-pixel output grid.
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

import torch  # noqa: E402
from common import SHARED_DATA, console, write_json  # noqa: E402

from vcam.config import Size  # noqa: E402
from vcam.engines.governor import InternalSize  # noqa: E402
from vcam.model.weights import load_weights  # noqa: E402

FRAME = "people/frames/zhling_0009.jpg"   # the held-out laptop-webcam sequence
W, H, MARGIN, BORDER = 1280, 720, 16, 32


def design_size(net: torch.nn.Module) -> InternalSize:
    return InternalSize.for_height(Size(W, H), net.shape.design_height_720, net.shape.stride)


def stylize(net: torch.nn.Module, code: torch.Tensor, rgb: np.ndarray) -> np.ndarray:
    """One frame (H, W, 3 float RGB) through the net at its design size, state reset; back at W x H."""
    size = design_size(net)
    (w, h), (pw, ph) = (size.size.width, size.size.height), (size.padded.width, size.padded.height)
    x = rgb if (w, h) == (W, H) else cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA)
    x = cv2.copyMakeBorder(x, 0, ph - h, 0, pw - w, cv2.BORDER_REFLECT_101)
    t = torch.from_numpy(np.ascontiguousarray(x)).permute(2, 0, 1)[None]
    stride = net.shape.stride
    state = torch.zeros(1, net.shape.state_channels, ph // stride, pw // stride)
    with torch.no_grad():
        y, _ = net(t, state, torch.zeros(1, 1), code)
    out = y[0].permute(1, 2, 0).numpy()[:h, :w]
    return out if (w, h) == (W, H) else cv2.resize(out, (W, H), interpolation=cv2.INTER_LINEAR)


def probe(weights: Path, styles: list[str], shifts: list[int], src: np.ndarray) -> dict:
    net, bank, names = load_weights(weights)
    net.eval()
    result: dict = {"weights": str(weights), "design": str(design_size(net).size),
                    "stride": net.shape.stride, "styles": {}}
    for style in styles:
        code = bank(torch.eye(len(names))[names.index(style)][None])
        base = stylize(net, code, src[MARGIN:MARGIN + H, MARGIN:MARGIN + W])
        rows = []
        for s in shifts:
            moved = stylize(net, code, src[MARGIN:MARGIN + H, MARGIN + s:MARGIN + s + W])   # content moved left
            b, e = BORDER, -BORDER
            err = np.abs(moved[b:e, b:e - s] - base[b:e, b + s:e]).mean() * 255
            own = np.abs(base[b:e, b:e - s] - base[b:e, b + s:e]).mean() * 255
            rows.append({"shift": s, "error": round(float(err), 3), "move": round(float(own), 3)})
        result["styles"][style] = rows
        console.print(f"{weights} ({result['design']}) {style}: " +
                      "  ".join(f"s={r['shift']} {r['error']:.2f} (move {r['move']:.1f})" for r in rows))
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("weights", type=Path, nargs="+", help="vcam.safetensors files to probe")
    ap.add_argument("--shifts", default="1,2,4,8,16")
    ap.add_argument("--styles", default="starry_night,mondrian")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    path = SHARED_DATA / FRAME
    if not path.is_file():
        console.print(f"[red]{path} not found: this probe needs ../shared/data beside the repository.")
        return 1
    torch.set_num_threads(args.threads)
    shifts = [int(s) for s in args.shifts.split(",")]
    rgb = cv2.imread(str(path))[..., ::-1].astype(np.float32) / 255.0
    # A larger canvas, so every shifted view is real content rather than padding.
    src = cv2.resize(rgb, (W + 2 * MARGIN, H + 2 * MARGIN), interpolation=cv2.INTER_CUBIC)
    results = [probe(w, args.styles.split(","), shifts, src) for w in args.weights]
    write_json(args.json, {"frame": FRAME, "size": f"{W}x{H}", "models": results})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
