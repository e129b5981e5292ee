"""Person-aware mode, measured in one run: vcam's segmenter against its teacher (MediaPipe selfie) and ground truth,
how steady the matte is, what it costs, what --region background does to the person's pixels, and the pipeline at
720p with it on.

    .venv/bin/python benchmarks/person.py --json out/person.json [--model DIR] [--quick]

Sections (targets from issue 13; benchmarks report, they never fail):
- voc: IoU and boundary F-score (DAVIS, tolerance 0.75% of the diagonal) against VOC's person masks, void pixels
  left out, for the teacher, vcam's segmenter (low-res matte upsampled bilinearly) and vcam's segmenter with the
  runtime's guided refinement. Target: vcam IoU >= teacher IoU - 0.03.
- heldout: agreement (IoU of the 0.5 masks) of vcam's segmenter with the teacher on the webcam-like sequences
  training never saw (people/frames zhling_* and silent_*, people/gesture rock_*). Target >= 0.9.
- flicker: mean |m_t - warp(m_{t-1})| along DIS optical flow, within a band around the person's edge (pixels within
  1.5% of the diagonal of the teacher's 0.5 crossing in either frame), on video/carphone.mp4 and the held-out silent
  sequence, for the teacher run per frame, vcam's raw matte and vcam's shown matte (smoothing + refinement).
  Target: shown <= 0.5x teacher.
- cost: the segmenter (1 and 2 threads), smoothing + refinement and the region blend at 1280x720, p50/p95.
- region: the real engine at 1280x720 on the held-out zhling frames (upscaled from 640x360): with --region
  background, the person's pixels' distance from the camera frame (levels, where the teacher is sure of a person,
  eroded), and the background's stylization against --region all (ratio of mean |out - in|).
- framing: auto-framing (vcam.person.framing) with the real segmenter. "walk": the held-out zhling person, cut out
  with the teacher's matte and composited at half size onto a photo of window blinds (content/mate_Blinds.jpg) at
  1280x720 with camera noise: still 6 s, a 1.5 s move to the right, still 6 s, gone 3 s, back elsewhere 6 s.
  Reported in output pixels: the view's mean and largest per-frame change while the person is still (from 3 s
  after each still phase starts; target 0), the overshoot past where the move comes to rest, velocity reversals
  (oscillation; target 0), the top speed and acceleration, the settle time after the move, whether the view backed
  out while nobody was there, the top zoom (at most 2x). The real clips (carphone, the held-out silent sequence)
  report the share of frames the view moves, the mean change and the reversals. Cost: segmentation + crop per
  1280x720 frame.
- pipeline: bench_pipeline's scenarios at 1280x720 (lockstep and live) with --region background beside the same
  run without it. Target: >= 30 fps, latency p95 <= 50 ms.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import SHARED_DATA, console, find_model, machine, table, write_json  # noqa: E402
from rich.progress import Progress  # noqa: E402

from vcam.config import RunConfig, Size  # noqa: E402
from vcam.control.state import Controls  # noqa: E402
from vcam.model.matte_metrics import boundary_f, edge_band, flicker, flow_to_prev, iou  # noqa: E402
from vcam.ops.region import RegionBlender  # noqa: E402
from vcam.person import PersonMatting, PersonSegmenter, person_model_path  # noqa: E402

PEOPLE = SHARED_DATA / "people"
HELD_OUT = {"zhling": ("frames", "zhling_"), "silent": ("frames", "silent_"), "rock": ("gesture", "rock_")}
LOW = (256, 144)


# -- the two mattes -----------------------------------------------------------------------------------------------
class Teacher:
    def __init__(self) -> None:
        import torch

        from vcam.model.selfie_teacher import load_selfie_teacher

        torch.set_num_threads(2)
        self.torch, self.net = torch, load_selfie_teacher(SHARED_DATA / "teachers" / "mediapipe_selfie")

    def __call__(self, bgr: np.ndarray) -> np.ndarray:
        """The teacher's low-res matte (144x256) for a BGR frame, stretched to 256x144 as vcam's segmenter is."""
        small = cv2.resize(bgr, LOW, interpolation=cv2.INTER_AREA)
        x = self.torch.from_numpy(cv2.cvtColor(small, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0)
        with self.torch.no_grad():
            return self.net(x.permute(2, 0, 1)[None])[0, 0].numpy()


def up(matte: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    return cv2.resize(matte, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)


def _images(folder: Path, prefix: str) -> list[Path]:
    return sorted(p for p in folder.glob(f"{prefix}*.jpg") if not p.name.endswith("_mask.png"))


# -- sections -----------------------------------------------------------------------------------------------------
def voc(teacher: Teacher, seg: PersonSegmenter, matting: PersonMatting, step: int) -> dict:
    scores: dict[str, dict[str, list[float]]] = {k: {"iou": [], "bf": []} for k in ("teacher", "vcam", "vcam_refined")}
    paths = sorted((PEOPLE / "voc_eval").glob("[0-9][0-9][0-9][0-9].jpg"))[::step]
    for p in paths:
        img = cv2.imread(str(p))
        mask = cv2.imread(str(p.with_name(p.stem + "_mask.png")), cv2.IMREAD_GRAYSCALE)
        truth, valid = mask == 255, mask != 128
        matting.tracker.reset()
        preds = {"teacher": up(teacher(img), img.shape), "vcam": up(seg(img).copy(), img.shape),
                 "vcam_refined": matting(img).copy()}
        for k, m in preds.items():
            scores[k]["iou"].append(iou(m > 0.5, truth, valid))
            scores[k]["bf"].append(boundary_f(m > 0.5, truth, valid))
    out = {k: {"iou": float(np.mean(v["iou"])), "boundary_f": float(np.mean(v["bf"]))} for k, v in scores.items()}
    out["images"] = len(paths)
    out["target_iou"] = out["teacher"]["iou"] - 0.03
    out["met"] = out["vcam_refined"]["iou"] >= out["target_iou"] or out["vcam"]["iou"] >= out["target_iou"]
    return out


def heldout(teacher: Teacher, seg: PersonSegmenter) -> dict:
    out: dict = {}
    allv: list[float] = []
    for name, (folder, prefix) in HELD_OUT.items():
        vals = []
        for p in _images(PEOPLE / folder, prefix):
            img = cv2.imread(str(p))
            t, s = up(teacher(img), img.shape) > 0.5, up(seg(img).copy(), img.shape) > 0.5
            vals.append(iou(s, t))
        out[name] = {"images": len(vals), "iou_vs_teacher": float(np.mean(vals)), "min": float(np.min(vals))}
        allv += vals
    out["all"] = {"images": len(allv), "iou_vs_teacher": float(np.mean(allv))}
    out["met"] = out["all"]["iou_vs_teacher"] >= 0.9
    return out


def _clip(name: str, limit: int) -> list[np.ndarray]:
    if name == "carphone":
        cap = cv2.VideoCapture(str(SHARED_DATA / "video" / "carphone.mp4"))
        frames = []
        while len(frames) < limit:
            ok, f = cap.read()
            if not ok:
                break
            frames.append(f)
        cap.release()
        return frames
    return [cv2.imread(str(p)) for p in _images(PEOPLE / "frames", f"{name}_")][:limit]


def flicker_section(teacher: Teacher, seg: PersonSegmenter, matting: PersonMatting, limit: int) -> dict:
    out: dict = {}
    for clip in ("carphone", "silent"):
        frames = _clip(clip, limit)
        matting.tracker.reset()
        prev = None
        sums = {"teacher": [], "vcam_raw": [], "vcam_shown": []}
        for f in frames:
            gray = cv2.cvtColor(f, cv2.COLOR_BGR2GRAY)
            cur = {"teacher": up(teacher(f), f.shape), "vcam_raw": up(seg(f).copy(), f.shape),
                   "vcam_shown": matting(f).copy()}
            if prev is not None:
                flow = flow_to_prev(prev["gray"], gray)
                r = max(2, round(0.015 * float(np.hypot(*f.shape[:2]))))
                band = edge_band(cur["teacher"], r) | edge_band(prev["teacher"], r)
                for k in sums:
                    sums[k].append(flicker(prev[k], cur[k], flow, band))
            prev = {**cur, "gray": gray}
        res = {k: float(np.mean(v)) for k, v in sums.items()}
        res["frames"] = len(frames)
        res["size"] = f"{frames[0].shape[1]}x{frames[0].shape[0]}"
        res["shown_vs_teacher"] = res["vcam_shown"] / max(res["teacher"], 1e-9)
        res["raw_vs_teacher"] = res["vcam_raw"] / max(res["teacher"], 1e-9)
        out[clip] = res
    out["met"] = all(out[c]["shown_vs_teacher"] <= 0.5 for c in ("carphone", "silent"))
    return out


def _p(ts: list[float]) -> dict:
    return {"p50": round(float(np.percentile(ts, 50)), 3), "p95": round(float(np.percentile(ts, 95)), 3)}


def _time(fn, runs: int) -> dict:
    for _ in range(5):
        fn()
    ts = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t0) * 1000)
    return _p(ts)


def cost(path: Path, sha: str | None, frame: np.ndarray, runs: int) -> dict:
    out: dict = {}
    for threads in (1, 2):
        s = PersonSegmenter(path, threads=threads, sha256=sha)
        out[f"segmenter_{threads}t_ms"] = _time(lambda s=s: s(frame), runs)
        out["runtime"] = s.runtime
        s.close()
    m = PersonMatting(path, sha, threads=1)
    m.load()
    seg = m.segmenter
    seg(frame)
    tr = m.tracker
    out["smoothing_ms"] = _time(lambda: tr.update(seg.matte, seg.guide, seg.thumb), runs)
    out["refine_720p_ms"] = _time(lambda: tr.refine(frame, seg.guide), runs)
    out["matte_total_720p_ms"] = _time(lambda: m(frame), runs)
    matte = m(frame).copy()
    blend, dst = RegionBlender(), np.empty_like(frame)
    styl = cv2.bitwise_not(frame)
    out["region_blend_720p_ms"] = _time(lambda: blend(frame, styl, matte, 0.0, 1.0, out=dst), runs)
    m.close()
    return out


def region_section(man, teacher: Teacher, style: str) -> dict:
    from vcam.engines.cpu import CpuEngine

    size = Size(1280, 720)
    frames = [cv2.resize(cv2.imread(str(p)), (size.width, size.height), interpolation=cv2.INTER_CUBIC)
              for p in _images(PEOPLE / "frames", "zhling_")]
    res: dict = {}
    outs: dict[str, list[np.ndarray]] = {}
    for region in ("all", "background"):
        cfg = RunConfig(input="pattern", outputs=("null",), size=size, style=style, region=region, adaptive=False)
        eng = CpuEngine(man, cfg)
        controls = Controls(man.styles, {style: 1.0}, transition_s=0.0,
                            person_strength=0.0 if region == "background" else None)
        outs[region] = []
        for f in frames + frames:          # twice: the second pass has the recurrent state and the matte settled
            outs[region].append(eng.step(f, controls.snapshot()).copy())
        res[f"internal_{region}"] = eng.info()["internal_size"]
        eng.close()
    person_d, bg_bg, bg_all = [], [], []
    for i, f in enumerate(frames):
        t = up(teacher(f), f.shape)
        k = np.ones((25, 25), np.uint8)
        person = cv2.erode((t > 0.95).astype(np.uint8), k) > 0
        room = cv2.erode((t < 0.05).astype(np.uint8), k) > 0
        j = len(frames) + i
        d_bg = np.abs(outs["background"][j].astype(np.int16) - f.astype(np.int16))
        d_all = np.abs(outs["all"][j].astype(np.int16) - f.astype(np.int16))
        person_d.append(d_bg[person])
        bg_bg.append(float(d_bg[room].mean()))
        bg_all.append(float(d_all[room].mean()))
    pd = np.concatenate([x.ravel() for x in person_d])
    res.update(frames=len(frames), person_mean_levels=float(pd.mean()), person_p95_levels=float(np.percentile(pd, 95)),
               person_p99_levels=float(np.percentile(pd, 99)), background_mean_levels_region_background=float(
                   np.mean(bg_bg)), background_mean_levels_region_all=float(np.mean(bg_all)))
    res["background_ratio"] = res["background_mean_levels_region_background"] / max(
        res["background_mean_levels_region_all"], 1e-9)
    res["met"] = res["person_mean_levels"] <= 4 and res["background_ratio"] >= 0.95
    return res


def _view_px(views, size: Size) -> np.ndarray:
    """Views -> (n, 3) crop (x0, y0, width) in output pixels: what a viewer sees move."""
    return np.array([[v.cx * size.width - size.width / (2 * v.zoom), v.cy * size.height - size.height / (2 * v.zoom),
                      size.width / v.zoom] for v in views])


def _reversals(px: np.ndarray, eps: float = 0.05) -> int:
    """Sign changes of the per-frame velocity (ignoring |v| < eps px/frame), summed over the axes."""
    n = 0
    for v in np.diff(px, axis=0).T:
        s = np.sign(v[np.abs(v) >= eps])
        n += int(np.count_nonzero(s[1:] != s[:-1]))
    return n


def _walk_frames(teacher: Teacher, size: Size) -> tuple[list[np.ndarray], list[str]]:
    """The composited walk (see the module docstring) and each frame's phase."""
    rng = np.random.default_rng(0)
    room = cv2.resize(cv2.imread(str(SHARED_DATA / "content" / "mate_Blinds.jpg")), (size.width, size.height),
                      interpolation=cv2.INTER_AREA)
    person = cv2.imread(str(_images(PEOPLE / "frames", "zhling_")[0]))
    person = cv2.resize(person, (size.width // 2, size.height // 2), interpolation=cv2.INTER_AREA)
    alpha = cv2.resize(teacher(person), (person.shape[1], person.shape[0]))[:, :, None]
    ph, pw = person.shape[:2]
    timeline = [("still", 6.0, 60, 60), ("move", 1.5, 60, 560), ("still", 6.0, 560, 560), ("nobody", 3.0, 0, 0),
                ("still", 6.0, 300, 300)]
    frames, phases = [], []
    for k, (phase, secs, x_a, x_b) in enumerate(timeline):
        n = round(secs * 30)
        for i in range(n):
            f = room.astype(np.float32)
            if phase != "nobody":
                u = i / max(n - 1, 1)
                x = round(x_a + (x_b - x_a) * (u * u * (3 - 2 * u)))
                y = size.height - ph
                f[y:, x:x + pw] = f[y:, x:x + pw] * (1 - alpha) + person * alpha
            f += rng.normal(0, 2.0, f.shape).astype(np.float32)
            frames.append(np.clip(f, 0, 255).astype(np.uint8))
            phases.append(f"{phase}{k + 1}")     # still1, move2, still3, nobody4, still5
    return frames, phases


def framing_section(teacher: Teacher, path: Path, sha: str | None, limit: int) -> dict:
    from vcam.person.framing import FULL, AutoFramer

    size = Size(1280, 720)
    out_buf = np.empty((size.height, size.width, 3), np.uint8)
    res: dict = {}
    frames, phases = _walk_frames(teacher, size)
    fr = AutoFramer(path, sha)
    fr.load()
    views, ts = [], []
    for f in frames:
        t0 = time.perf_counter()
        fr(f, True, size.width, size.height, out_buf)
        ts.append((time.perf_counter() - t0) * 1000)
        views.append(fr.view)
    px = _view_px(views, size)
    step = np.abs(np.diff(px, axis=0)).max(axis=1)          # the largest axis change per frame, px
    still, start = [], 0
    for i in range(1, len(phases) + 1):
        if i == len(phases) or phases[i] != phases[start]:
            if phases[start].startswith("still"):
                still += list(range(start + 90, i - 1))        # 3 s to settle, then must hold
            start = i
    still_steps = step[still]
    move_start, move_end = phases.index("move2"), phases.index("still3")
    window = px[move_start: move_end + 170]                   # the move and the still phase after it
    rest = window[-1]                                         # where the view rests after the move
    over = float(np.max(window[:, 0] - rest[0]))              # the move is to the right: x0 beyond its rest
    moving = np.flatnonzero(np.abs(window - rest).max(axis=1) > 0.5)
    nobody_end = len(phases) - phases[::-1].index("nobody4") - 1
    res["walk"] = {"frames": len(frames), "still_mean_px": float(still_steps.mean()),
                   "still_max_px": float(still_steps.max()), "overshoot_px": max(over, 0.0),
                   "reversals_in_the_move": _reversals(window), "reversals_whole_run": _reversals(px),
                   "max_speed_px": float(step.max()),
                   "max_accel_px": float(np.abs(np.diff(np.diff(px, axis=0), axis=0)).max()),
                   "settle_s_after_move": (int(moving.max()) - (move_end - move_start)) / 30 if moving.size else 0.0,
                   "backed_out_when_nobody": views[nobody_end] == FULL,
                   "zoom_at_end_of_nobody": float(views[nobody_end].zoom),
                   "max_zoom": float(max(v.zoom for v in views)), "ms": _p(ts)}
    for clip in ("carphone", "silent"):
        fr.reset()
        cf = _clip(clip, limit)
        vs = []
        for f in cf:
            fr(f, True, size.width, size.height, out_buf)
            vs.append(fr.view)
        px = _view_px(vs, size)
        st = np.abs(np.diff(px, axis=0)).max(axis=1)
        res[clip] = {"frames": len(cf), "size": f"{cf[0].shape[1]}x{cf[0].shape[0]}",
                     "moving_share": float(np.mean(st > 0.01)), "mean_change_px": float(st.mean()),
                     "reversals": _reversals(px), "max_zoom": float(max(v.zoom for v in vs))}
    fr.close()
    w = res["walk"]
    res["met"] = (w["still_max_px"] == 0.0 and w["overshoot_px"] <= 1.0 and w["reversals_in_the_move"] == 0
                  and w["backed_out_when_nobody"] and w["max_zoom"] <= 2.0)
    return res


def pipeline_section(man, seconds: float, warmup: float) -> list[dict]:
    from bench_pipeline import ReplaySource, row, run_scenario
    from common import pattern_frames

    from vcam.capture import LiveFeed, LockstepFeed, PatternSource
    from vcam.engines.cpu import CpuEngine

    size = Size(1280, 720)
    rows = []
    for region in ("all", "background"):
        for mode in ("lockstep", "live"):
            cfg = RunConfig(input="pattern", outputs=("null",), size=size, style=man.styles[0],
                            realtime=mode == "live", region=region)
            eng = CpuEngine(man, cfg)
            feed = (LiveFeed(PatternSource(size, 30.0, paced=True)) if mode == "live" else
                    LockstepFeed(ReplaySource(pattern_frames((size.width, size.height), 24))))
            summary = run_scenario(eng, feed, size, man.styles, warmup, seconds,
                                   person=0.0 if region == "background" else None)
            r = row(f"vcam region={region}", summary, eng, size, False, mode)
            r["region"] = region
            rows.append(r)
            eng.close()
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", type=Path)
    ap.add_argument("--model", type=Path, help="style model folder with person.onnx (default: models/)")
    ap.add_argument("--person-model", type=Path, help="another person.onnx to measure")
    ap.add_argument("--quick", action="store_true", help="every 4th VOC image, 40 flicker frames, no pipeline")
    ap.add_argument("--no-pipeline", action="store_true", help="skip the pipeline section (e.g. while the cores are "
                    "shared: its frame rates would not mean much)")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--warmup", type=float, default=4.0)
    args = ap.parse_args(argv)
    if not PEOPLE.is_dir():
        console.print(f"[red]{PEOPLE} not found: this benchmark needs ../shared/data (people, video, teachers).")
        return 1
    env = machine()
    man, origin = find_model(args.model)
    path, sha = person_model_path(man, args.person_model)
    console.print(f"style model: {origin}; segmenter: {path}; machine: {env['cpu']}, {env['cores']} cores, "
                  f"load {env['load_avg_1m_at_start']}")
    teacher = Teacher()
    seg = PersonSegmenter(path, threads=1, sha256=sha)
    matting = PersonMatting(path, sha, threads=1)
    matting.load()
    result: dict = {"machine": env, "model": origin, "segmenter": str(path), "runtime": seg.runtime}
    steps = ["voc", "heldout", "flicker", "cost", "region", "framing"]
    steps += [] if args.quick or args.no_pipeline else ["pipeline"]
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("person", total=len(steps))
        for name in steps:
            bar.update(task, description=name)
            if name == "voc":
                result["voc"] = voc(teacher, seg, matting, 4 if args.quick else 1)
            elif name == "heldout":
                result["heldout"] = heldout(teacher, seg)
            elif name == "flicker":
                result["flicker"] = flicker_section(teacher, seg, matting, 40 if args.quick else 300)
            elif name == "cost":
                frame = cv2.resize(cv2.imread(str(_images(PEOPLE / "frames", "zhling_")[0])), (1280, 720))
                result["cost"] = cost(path, sha, frame, 50 if args.quick else 200)
            elif name == "region":
                result["region"] = region_section(man, teacher, "starry_night" if "starry_night" in man.styles
                                                  else man.styles[0])
            elif name == "framing":
                result["framing"] = framing_section(teacher, path, sha, 40 if args.quick else 300)
            elif name == "pipeline":
                result["pipeline"] = pipeline_section(man, args.seconds, args.warmup)
            bar.advance(task)
    seg.close()
    matting.close()
    _report(result)
    write_json(args.json, result)
    return 0


def _report(r: dict) -> None:
    v = r["voc"]
    table(f"VOC person masks ({v['images']} images; target vcam IoU >= {v['target_iou']:.3f})",
          ["matte", "IoU", "boundary F"],
          [[k, f"{v[k]['iou']:.3f}", f"{v[k]['boundary_f']:.3f}"] for k in ("teacher", "vcam", "vcam_refined")])
    h = r["heldout"]
    table("Agreement with the teacher on held-out webcam-like frames (target IoU >= 0.9)", ["set", "images", "IoU",
                                                                                          "min"],
          [[k, h[k]["images"], f"{h[k]['iou_vs_teacher']:.3f}", f"{h[k].get('min', float('nan')):.3f}"]
           for k in (*HELD_OUT, "all")])
    f = r["flicker"]
    table("Matte flicker along optical flow, edge band (target shown <= 0.5x teacher)",
          ["clip", "size", "frames", "teacher", "vcam raw", "vcam shown", "shown / teacher"],
          [[c, f[c]["size"], f[c]["frames"], f"{f[c]['teacher']:.4f}", f"{f[c]['vcam_raw']:.4f}",
            f"{f[c]['vcam_shown']:.4f}", f"{f[c]['shown_vs_teacher']:.2f}x"] for c in ("carphone", "silent")])
    c = r["cost"]
    table(f"Cost per frame ({c['runtime']})", ["stage", "p50 ms", "p95 ms"],
          [[k, v["p50"], v["p95"]] for k, v in c.items() if isinstance(v, dict)])
    g = r["region"]
    console.print(f"--region background at 1280x720 on {g['frames']} held-out frames: person pixels move "
                  f"{g['person_mean_levels']:.2f} levels on average (p95 {g['person_p95_levels']:.0f}, p99 "
                  f"{g['person_p99_levels']:.0f}); the background is styled {g['background_ratio']:.2f}x as far as "
                  f"with --region all ({g['background_mean_levels_region_background']:.1f} vs "
                  f"{g['background_mean_levels_region_all']:.1f} levels)")
    w = r["framing"]["walk"]
    console.print(f"auto-framing, composited walk ({w['frames']} frames at 1280x720): while still the view moves "
                  f"{w['still_mean_px']:.3f} px/frame on average (largest {w['still_max_px']:.2f}); overshoot "
                  f"{w['overshoot_px']:.2f} px; {w['reversals_in_the_move']} reversals in the move "
                  f"({w['reversals_whole_run']} in the whole run: in, out, in again); top speed "
                  f"{w['max_speed_px']:.1f} px/frame, acceleration {w['max_accel_px']:.2f} px/frame^2; settles "
                  f"{w['settle_s_after_move']:.1f} s after the move; backed out when nobody: "
                  f"{w['backed_out_when_nobody']}; top zoom {w['max_zoom']:.2f}x; "
                  f"{w['ms']['p50']:.1f} ms/frame (p95 {w['ms']['p95']:.1f})")
    for c in ("carphone", "silent"):
        x = r["framing"][c]
        console.print(f"auto-framing on {c} ({x['frames']} frames, {x['size']}): the view moves on "
                      f"{x['moving_share']:.0%} of frames, {x['mean_change_px']:.2f} px/frame on average, "
                      f"{x['reversals']} reversals, top zoom {x['max_zoom']:.2f}x")
    if "pipeline" in r:
        table("Pipeline at 1280x720 (target with person mode: >= 30 fps, p95 <= 50 ms)",
              ["region", "mode", "internal", "fps", "lat p50", "lat p95", "person ms", "cpu"],
              [[p["region"], p["mode"], p["internal_size"], p["fps"], p["latency_ms_p50"], p["latency_ms_p95"],
                p["stages_ms_p50"].get("person", 0.0), p["cpu_per_wall"]] for p in r["pipeline"]])


if __name__ == "__main__":
    sys.exit(main())
