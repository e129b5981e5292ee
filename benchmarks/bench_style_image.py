"""A picture sent to a running stream: how soon its look is on screen, and whether any frame is late because of it.

    python benchmarks/bench_style_image.py --json out/style_image.json [--size 1280x720] [--seconds 24]
        [--pictures 3] [--model models]

The real pieces of `vcam run`: the paced 30 fps pattern behind the newest-frame mailbox, the CPU engine, the null
sink, and the control endpoint on 127.0.0.1 with its secret. A client thread sends a held-out painting's bytes to
POST /style-image every few seconds (as `vcam ctl style-image` does). Per picture: the request's round trip
(decode + encode on the request thread), the time from the request to the first frame showing the new look and to
the end of the cross-fade; for the stream: frame intervals in the 1.5 s after each request against the rest of the
run (p50, p99, max, and frames later than 50 ms). Also the encoder's own cost for a 512 px picture, alone.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import SHARED_DATA, console, machine, write_json  # noqa: E402

from vcam.capture import LiveFeed, PatternSource  # noqa: E402
from vcam.config import RunConfig, Size  # noqa: E402
from vcam.control.client import ControlClient  # noqa: E402
from vcam.control.server import ControlServer  # noqa: E402
from vcam.control.state import Controls  # noqa: E402
from vcam.engines.cpu import CpuEngine  # noqa: E402
from vcam.pipeline import Pipeline  # noqa: E402
from vcam.runner import style_registry  # noqa: E402
from vcam.sinks.null import NullSink  # noqa: E402
from vcam.stats import PipelineStats  # noqa: E402
from vcam.styles import load_manifest  # noqa: E402

LATE_MS = 50.0
WINDOW_S = 1.5


def encoder_ms(manifest, painting: Path, runs: int = 20) -> float:
    import cv2

    from vcam.styles.encoder import StyleEncoder
    from vcam.styles.images import load_image

    rgb = load_image(painting)
    s = 512 / max(rgb.shape[:2])
    rgb = cv2.resize(rgb, (round(rgb.shape[1] * s), round(rgb.shape[0] * s)), interpolation=cv2.INTER_AREA)
    enc = StyleEncoder(manifest)
    enc(rgb)
    t = []
    for _ in range(runs):
        t0 = time.perf_counter()
        enc(rgb)
        t.append((time.perf_counter() - t0) * 1000)
    return float(np.median(t))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", type=Path)
    ap.add_argument("--size", default="1280x720")
    ap.add_argument("--seconds", type=float, default=24.0)
    ap.add_argument("--pictures", type=int, default=3)
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--transition", type=float, default=0.3)
    args = ap.parse_args(argv)
    size = Size.parse(args.size)
    manifest = load_manifest(args.model)
    paintings = sorted((SHARED_DATA / "styles_heldout").glob("*.jpg"))[: args.pictures]
    if not manifest.extra.get("style_encoder") or not paintings:
        console.print("error: needs a model with a style encoder and ../shared/data/styles_heldout")
        return 2
    ms512 = encoder_ms(manifest, paintings[0])
    console.print(f"style encoder: {ms512:.1f} ms for a 512 px picture (median of 20, alone)")

    codes, pictures = style_registry(manifest, console.print)
    controls = Controls(codes.styles, {manifest.styles[0]: 1.0}, transition_s=args.transition)
    cfg = RunConfig(input="pattern", outputs=("null",), size=size, style=manifest.styles[0])
    engine = CpuEngine(manifest, cfg, codes=codes)
    events: list[dict] = []
    frames: list[tuple[float, dict]] = []

    def style_image(data: bytes) -> dict:
        info = pictures.add(data)
        controls.add_style(info["style"])
        controls.set_style(info["style"])
        return info

    server = ControlServer(controls, port=0, style_image=style_image, write_runtime_file=False)
    port = server.start()
    feed = LiveFeed(PatternSource(size, 30.0, paced=True))
    sink = NullSink()
    sink.open(size, 30.0)
    pipe = Pipeline(feed, engine, [sink], controls, size, stats=PipelineStats())
    t_end = time.perf_counter() + args.seconds

    def on_frame(n: int) -> None:
        frames.append((time.perf_counter(), controls.snapshot().weights))
        if time.perf_counter() > t_end:
            pipe.stop()

    pipe.on_frame = on_frame

    def client() -> None:
        c = ControlClient(port=port, timeout=30.0, token=server.token)
        gap = args.seconds / (len(paintings) + 1)
        for k, p in enumerate(paintings):
            time.sleep(max(0.0, (k + 1) * gap - (time.perf_counter() - t_start)))
            t0 = time.perf_counter()
            info = c.style_image(p)
            events.append({"painting": p.name, "style": info["style"], "t_request": t0,
                           "round_trip_ms": (time.perf_counter() - t0) * 1000, "encode_ms": info["encode_ms"]})

    feed.start()
    t_start = time.perf_counter()
    th = threading.Thread(target=client, daemon=True)
    th.start()
    try:
        pipe.run()
    finally:
        feed.stop()
        server.stop()
        engine.close()
    th.join(timeout=5)

    times = np.array([t for t, _ in frames])
    iv = np.diff(times) * 1000
    in_window = np.zeros(len(iv), bool)
    for e in events:
        first = next((t for t, w in frames if t >= e["t_request"] and w.get(e["style"], 0) > 0), None)
        full = next((t for t, w in frames if t >= e["t_request"] and w.get(e["style"], 0) >= 0.999), None)
        e["first_frame_ms"] = None if first is None else (first - e["t_request"]) * 1000
        e["crossfade_done_ms"] = None if full is None else (full - e["t_request"]) * 1000
        in_window |= (times[1:] >= e["t_request"]) & (times[1:] <= e["t_request"] + WINDOW_S)

    def stats(x: np.ndarray) -> dict:
        if not len(x):
            return {}
        return {"frames": int(len(x)), "p50_ms": round(float(np.median(x)), 2),
                "p99_ms": round(float(np.percentile(x, 99)), 2), "max_ms": round(float(x.max()), 2),
                "late_frames": int((x > LATE_MS).sum())}

    result = {"machine": machine(), "size": str(size), "transition_s": args.transition,
              "encoder_ms_512px": round(ms512, 2), "events": [{k: (round(v, 2) if isinstance(v, float) else v)
                                                               for k, v in e.items() if k != "t_request"}
                                                              for e in events],
              "intervals_after_requests": stats(iv[in_window]), "intervals_elsewhere": stats(iv[~in_window]),
              "engine": engine.info().get("internal_size")}
    for e in result["events"]:
        console.print(f"{e['painting']}: round trip {e['round_trip_ms']:.0f} ms (encode {e['encode_ms']:.0f} ms), "
                      f"first frame of the new look after {e['first_frame_ms']:.0f} ms, cross-fade done after "
                      f"{e['crossfade_done_ms']:.0f} ms")
    a, b = result["intervals_after_requests"], result["intervals_elsewhere"]
    console.print(f"frame intervals within {WINDOW_S} s after a request: p50 {a.get('p50_ms')} p99 {a.get('p99_ms')} "
                  f"max {a.get('max_ms')} ms, {a.get('late_frames')} later than {LATE_MS:.0f} ms; elsewhere: p50 "
                  f"{b.get('p50_ms')} p99 {b.get('p99_ms')} max {b.get('max_ms')} ms, {b.get('late_frames')} late")
    write_json(args.json, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
