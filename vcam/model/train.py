"""Training by distillation: every style jointly, the teacher's look, vcam's temporal terms; resumable
safetensors checkpoints.

The student (vcam.model.network.StyleNet and the built-in styles' codes) learns to reproduce what the MicroAST
teacher (vcam.model.teacher) paints on the same crops: an L1 pixel term and relative feature distances on
EfficientNet-Lite0 against the teacher's output, a Gram term towards the painting itself (which keeps the strokes'
contrast: distillation alone softens them, ../shared/notes/distillation.md), optionally one towards the teacher's
output on the same crop (its texture, wherever its strokes lie), and the temporal terms: each
sequence is a crop and a second view of it moved by a smooth random flow, run with the first view's recurrent
state; the second view's target is the teacher's output moved by the same flow, so the target itself is stable.

Iterations are the currency on a 2-core machine: small crops near the scale the net sees at run time, two frames
per sequence, the teacher's outputs computed once (vcam.model.distill).
"""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from vcam.model import losses as L
from vcam.model.data import ContentPool, style_images, to_tensor
from vcam.model.distill import CacheSpec, TeacherCache, build_cache
from vcam.model.flow import random_flow, valid_mask, warp
from vcam.model.lossnet import load_lossnet
from vcam.model.network import NetShape, StyleBank, StyleNet, grow_from
from vcam.model.weights import load_weights, save_weights
from vcam.styles import STYLE_CODES, write_manifest

WEIGHTS = "vcam.safetensors"
CHECKPOINT = "checkpoint.safetensors"
CHECKPOINT_META = "checkpoint.json"
# Lite0 taps for the feature distance to the teacher: early texture (b1, b3 expand), mid content (b4 out) and the
# stride-8 stroke scale (b5 expand).
DISTILL_TAPS = {"d1": "b1.expand", "d2": "b3.expand", "d3": "b4.out", "d4": "b5.expand"}


@dataclass
class TrainConfig:
    style_dir: Path
    content_dir: Path
    out: Path
    video_dir: Path | None = None
    people_dir: Path | None = None
    teacher_dir: Path | None = None       # default: ../shared/data/teachers/microast
    styles: tuple[str, ...] = ()          # subset of the style images (default: all)
    iterations: int = 12000               # used when minutes is 0
    minutes: float = 0.0                  # wall-time budget; the LR schedule follows time when set
    batch: int = 4                        # sequences per iteration (2 frames each)
    crop: int = 256                       # the net runs at ~960x540 for 720p: crops near that scale
    margin: int = 16                      # around the crop: the second view is cut from the moved big crop
    photo_long_side: int = 1024           # photos are read at this size: crops then match a 960x540 frame's scale
    cache_entries: int = 8000             # teacher outputs computed once (~45 ms each on 2 cores)
    flow_local: float = 6.0               # the second view's motion (pixels): smooth local field + global shift
    flow_shift: float = 10.0
    flow_zoom: float = 0.0                # global zoom (relative) and rotation (radians) of the second view
    flow_rotate: float = 0.0
    flow_integer: float = 0.0             # share of second views moved by a whole-pixel shift only (flow.random_flow)
    # The student sees each batch's crops at one of these scales of the teacher's (chosen at random; empty: 1 only),
    # and its output, upsampled bilinearly as the pipeline upsamples it, is judged at the teacher's size: a net that a
    # 2-core CPU holds at 512x288-768x432 for a 720p output then learns the picture that survives that upsampling.
    student_scales: tuple[float, ...] = ()
    teacher_style_long_side: int = 512    # the painting's size for the teacher: sets its stroke scale
    style_long_side: int = 256            # the painting's size for the Gram targets
    lr: float = 1e-3
    lr_min: float = 2e-5
    w_pixel: float = 5.0
    w_feature: float = 1.0
    w_style: float = 0.5
    # A Gram term towards the teacher's output on the same crop (teacher_gram_loss): the teacher's texture without
    # its strokes' exact places; its target fits the crop's content better than the painting's Gram does.
    w_teacher_gram: float = 0.0
    # Per-style multipliers of w_style (name -> gain): the geometric styles (mondrian, composition_vii) trailed the
    # teacher most under one shared weight.
    style_gain: dict = field(default_factory=dict)
    # Band energies of the output (fine, mid) at least the teacher's on the same crop (losses.detail_loss).
    w_detail: float = 0.0
    w_tv: float = 0.0
    w_temporal: float = 30.0
    w_reconet: float = 20.0
    # The temporal terms fade in over this span of training (fractions of it), so the style forms before stability is
    # asked of it; with full weight from step one the style stayed weaker (README, Results).
    temporal_ramp: tuple[float, float] = (0.15, 0.45)
    temporal: bool = True                 # False: per-frame only (no state, no temporal terms)
    shape: dict = field(default_factory=lambda: NetShape().as_dict())
    seed: int = 0
    threads: int = 2
    checkpoint_seconds: float = 120.0
    log_every: int = 50
    init_from: Path | None = None         # fine-tune: start from these weights
    train_only_styles: tuple[str, ...] = ()  # fine-tune: only these styles' codes move
    extra: dict = field(default_factory=dict)


def _gram_targets(lossnet, imgs: dict[str, np.ndarray], names: tuple[str, ...], needed: tuple[str, ...]):
    """Gram targets per tap, indexed by style id (zeros for styles that never train)."""
    grams: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        for n in needed:
            i = names.index(n)
            f = lossnet(to_tensor(imgs[n]), L.STYLE_TAPS)
            for k in L.STYLE_TAPS:
                g = L.gram(f[k])[0]
                grams.setdefault(k, torch.zeros(len(names), *g.shape))[i] = g
    return grams


class _Progress:
    """rich progress bar on a terminal; a plain line every ``log_every`` iterations in a log file."""

    def __init__(self, total: float, start: float, unit: str, log_every: int) -> None:
        self.tty = sys.stdout.isatty()
        self.log_every = log_every
        self.unit = unit
        if self.tty:
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
            self.bar = Progress(TextColumn("training"), BarColumn(), TextColumn("{task.percentage:>5.1f}%"),
                                TimeRemainingColumn(), TextColumn("{task.fields[info]}"))
            self.task = self.bar.add_task("train", total=total, completed=start, info="")
            self.bar.start()

    def update(self, done: float, step: int, info: str) -> None:
        if self.tty:
            self.bar.update(self.task, completed=done, info=info)
        elif step % self.log_every == 0:
            print(f"step {step} {self.unit} {done:.1f} {info}", flush=True)

    def close(self) -> None:
        if self.tty:
            self.bar.stop()


def _trainable(net: StyleNet, bank: StyleBank) -> dict[str, torch.nn.Parameter]:
    return {**{f"net.{k}": v for k, v in net.named_parameters()}, "bank.codes": bank.codes}


def _save_checkpoint(cfg: TrainConfig, net: StyleNet, bank: StyleBank, opt: torch.optim.Optimizer, step: int,
                     elapsed: float, rng: np.random.Generator, gen: torch.Generator, history: list) -> None:
    tensors = {f"net.{k}": v.detach().contiguous() for k, v in net.state_dict().items()}
    tensors["bank.codes"] = bank.codes.detach().contiguous()
    for i, group in enumerate(opt.param_groups):
        for j, p in enumerate(group["params"]):
            st = opt.state.get(p, {})
            for key in ("exp_avg", "exp_avg_sq"):
                if key in st:
                    tensors[f"opt.{i}.{j}.{key}"] = st[key].contiguous()
            if "step" in st:
                tensors[f"opt.{i}.{j}.step"] = torch.as_tensor(st["step"], dtype=torch.float32).reshape(1)
    tensors["rng.torch"] = gen.get_state()
    tmp = cfg.out / (CHECKPOINT + ".tmp")
    save_file(tensors, str(tmp))
    tmp.replace(cfg.out / CHECKPOINT)
    meta = {"step": step, "elapsed": elapsed, "numpy_rng": rng.bit_generator.state, "history": history[-400:]}
    (cfg.out / CHECKPOINT_META).write_text(json.dumps(meta), encoding="utf-8")


def _load_checkpoint(cfg: TrainConfig, net: StyleNet, bank: StyleBank, opt: torch.optim.Optimizer,
                     rng: np.random.Generator, gen: torch.Generator):
    tensors = load_file(str(cfg.out / CHECKPOINT))
    meta = json.loads((cfg.out / CHECKPOINT_META).read_text(encoding="utf-8"))
    net.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("net.")}, strict=True)
    with torch.no_grad():
        bank.codes.copy_(tensors["bank.codes"])
    for i, group in enumerate(opt.param_groups):
        for j, p in enumerate(group["params"]):
            key = f"opt.{i}.{j}."
            if key + "exp_avg" in tensors:
                opt.state[p] = {"exp_avg": tensors[key + "exp_avg"], "exp_avg_sq": tensors[key + "exp_avg_sq"],
                                "step": tensors[key + "step"][0].clone()}
    gen.set_state(tensors["rng.torch"])
    rng.bit_generator.state = meta["numpy_rng"]
    return meta["step"], meta["elapsed"], meta.get("history", [])



def optimise(opt: torch.optim.Optimizer, terms: dict[str, torch.Tensor], running: dict[str, float]) -> None:
    """One optimiser step on the sum of the loss ``terms``; ``running`` keeps each term's moving average (the log)."""
    loss = sum(terms.values())
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    for k, v in terms.items():
        x = float(v.detach())
        running[k] = 0.98 * running.get(k, x) + 0.02 * x

def train(cfg: TrainConfig) -> Path:
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    cfg.out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)

    all_styles = style_images(cfg.style_dir, cfg.style_long_side)
    names = cfg.styles or tuple(all_styles)
    # Fine-tuning needs images only for the styles that train; the others' codes are frozen.
    needed = cfg.train_only_styles or names
    missing = [n for n in needed if n not in all_styles]
    if missing:
        raise ValueError(f"style images not found for {missing} in {cfg.style_dir}")
    unknown = sorted(set(cfg.style_gain) - set(names))
    if unknown:
        raise ValueError(f"style_gain names unknown styles {unknown}; styles: {list(names)}")
    for sc in cfg.student_scales:   # a bad scale is refused before any work
        student_size(cfg.crop, sc, NetShape.from_dict(cfg.shape).stride)
    from vcam.model.teacher import require_teacher

    require_teacher(cfg.teacher_dir)   # a clear error before any work when ../shared is absent
    lossnet = load_lossnet("lite0")
    grams = _gram_targets(lossnet, all_styles, names, needed)
    pool = ContentPool(cfg.content_dir, cfg.video_dir, long_side=cfg.photo_long_side, people_dir=cfg.people_dir)
    print(f"{len(names)} styles, {pool.n_photos} photos + {len(pool.images) - pool.n_photos} video frames + "
          f"{len(pool.people)} people images", flush=True)
    cache = _teacher_cache(cfg, pool, needed)
    pool_idx = cache.indices_for(list(range(len(needed))))
    # Cache entries index ``needed``; the net's codes index ``names``.
    cache_to_name = torch.tensor([names.index(n) for n in needed])
    style_gain = (torch.tensor([float(cfg.style_gain.get(n, 1.0)) for n in names]) if cfg.style_gain else None)

    shape = NetShape.from_dict(cfg.shape)
    net = StyleNet(shape)
    bank = StyleBank(len(names), shape.code_dim)
    if cfg.init_from is not None:
        base_net, base_bank, base_names = load_weights(cfg.init_from)
        if shape.detail and not base_net.shape.detail:
            grow_from(net, base_net)   # a detail head onto a trained body: starts as the body, upsampled
        else:
            net.load_state_dict(base_net.state_dict(), strict=True)
        with torch.no_grad():   # known styles keep their codes; new ones start from the mean code
            for i, n in enumerate(names):
                bank.codes[i] = (base_bank.codes[base_names.index(n)] if n in base_names
                                 else base_bank.codes.mean(0))
    if cfg.train_only_styles:
        for p in net.parameters():
            p.requires_grad_(False)
        mask = torch.zeros(len(names), 1)
        mask[[names.index(s) for s in cfg.train_only_styles]] = 1
        bank.codes.register_hook(lambda g: g * mask)
        params = [bank.codes]
    else:
        params = list(_trainable(net, bank).values())
    opt = torch.optim.Adam(params, lr=cfg.lr)

    step, elapsed, history = 0, 0.0, []
    if (cfg.out / CHECKPOINT).is_file():
        step, elapsed, history = _load_checkpoint(cfg, net, bank, opt, rng, gen)
        print(f"resumed at step {step} ({elapsed / 60:.1f} min done)", flush=True)

    budget = cfg.minutes * 60.0
    by_time = budget > 0
    total = budget if by_time else float(cfg.iterations)
    prog = _Progress(total / 60 if by_time else total, (elapsed / 60) if by_time else step,
                     "min" if by_time else "it", cfg.log_every)
    t_last_ckpt = time.perf_counter()
    t0 = time.perf_counter() - elapsed
    run_avg: dict[str, float] = {}
    try:
        while True:
            elapsed = time.perf_counter() - t0
            done = elapsed if by_time else step
            if done >= total:
                break
            frac = min(done / total, 1.0)
            lr = cfg.lr_min + 0.5 * (cfg.lr - cfg.lr_min) * (1 + math.cos(math.pi * frac))
            for g in opt.param_groups:
                g["lr"] = lr
            terms = _step(cfg, net, bank, lossnet, cache, pool_idx, cache_to_name, grams, rng, gen,
                          _ramp(frac, cfg.temporal_ramp), style_gain)
            optimise(opt, terms, run_avg)
            step += 1
            if step % cfg.log_every == 0:
                history.append({"step": step, "minutes": round(elapsed / 60, 2), **{k: round(v, 5) for k, v in
                                                                                  run_avg.items()}})
            info = " ".join(f"{k}={v:.3f}" for k, v in run_avg.items()) + f" lr={lr:.1e} it={step}"
            prog.update((elapsed / 60) if by_time else step, step, info)
            if time.perf_counter() - t_last_ckpt > cfg.checkpoint_seconds:
                _save_checkpoint(cfg, net, bank, opt, step, time.perf_counter() - t0, rng, gen, history)
                _write_model(cfg, net, bank, names, step, time.perf_counter() - t0, history)
                t_last_ckpt = time.perf_counter()
    finally:
        prog.close()
    elapsed = time.perf_counter() - t0
    _save_checkpoint(cfg, net, bank, opt, step, elapsed, rng, gen, history)
    return _write_model(cfg, net, bank, names, step, elapsed, history)


def _teacher_cache(cfg: TrainConfig, pool: ContentPool, styles: tuple[str, ...]) -> TeacherCache:
    spec = CacheSpec(entries=cfg.cache_entries, size=cfg.crop + 2 * cfg.margin, styles=tuple(styles),
                     style_long_side=cfg.teacher_style_long_side, seed=cfg.seed)
    bar = _Progress(spec.entries, 0, "crops", max(1, spec.entries // 20))
    t0 = time.perf_counter()

    def progress(done: int, total: int) -> None:
        bar.update(done, done, f"teacher outputs {done}/{total} ({time.perf_counter() - t0:.0f} s)")

    try:
        return build_cache(cfg.out, spec, pool, cfg.style_dir, cfg.teacher_dir, progress)
    finally:
        bar.close()


def _ramp(frac: float, span: tuple[float, float]) -> float:
    """0 before span[0], 1 after span[1], linear between."""
    lo, hi = span
    if hi <= lo:
        return float(frac >= lo)
    return min(max((frac - lo) / (hi - lo), 0.0), 1.0)


def _feature_distance(fo: dict[str, torch.Tensor], ft: dict[str, torch.Tensor]) -> torch.Tensor:
    """Sum over taps of ||f(out) - f(teacher)||^2 / ||f(teacher)||^2, mean over the batch."""
    total = 0.0
    for k, t in ft.items():
        total = total + ((fo[k] - t) ** 2).sum((1, 2, 3)) / (t ** 2).sum((1, 2, 3)).clamp_min(1e-8)
    return total.mean()


def teacher_gram_loss(out_feats: dict[str, torch.Tensor], teacher_feats: dict[str, torch.Tensor],
                      gain: torch.Tensor | None = None) -> torch.Tensor:
    """Relative Gram distance of the student's style-tap features to the teacher's output's on the same crop.

    It asks for the teacher's texture on this content without asking for each stroke where the teacher put it
    (the pixel and feature terms do, and a student that cannot place them averages them into a soft fog).
    """
    return L.style_loss(out_feats, {k: L.gram(v) for k, v in teacher_feats.items()}, gain)


def _step(cfg: TrainConfig, net: StyleNet, bank: StyleBank, lossnet, cache: TeacherCache, pool_idx: np.ndarray,
          cache_to_name: torch.Tensor, grams, rng: np.random.Generator, gen: torch.Generator,
          t_scale: float = 1.0, style_gain: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    b, s, m = cfg.batch, cfg.crop, cfg.margin
    idx = np.sort(rng.choice(pool_idx, size=b))
    big, tbig, cache_ids = cache.batch(idx, rng.random(b) < 0.5)
    ids = cache_to_name[cache_ids]
    code = bank(F.one_hot(ids, bank.codes.shape[0]).float())
    c = net.shape.state_channels
    st = net.shape.stride
    low = student_size(s, float(rng.choice(cfg.student_scales)) if cfg.student_scales else 1.0, st)
    zeros_state = torch.zeros(b, c, low // st, low // st)

    def student(x: torch.Tensor, state: torch.Tensor, keep: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if low == s:
            return net(x, state, keep, code)
        out, h = net(F.interpolate(x, size=(low, low), mode="area"), state, keep, code)
        return F.interpolate(out, size=(s, s), mode="bilinear", align_corners=False), h

    terms: dict[str, torch.Tensor] = {}
    v1, t1 = big[..., m:-m, m:-m], tbig[..., m:-m, m:-m]
    if cfg.temporal:
        flow_big = random_flow(b, s + 2 * m, s + 2 * m, gen, max_local=cfg.flow_local, max_shift=cfg.flow_shift,
                               max_zoom=cfg.flow_zoom, max_rotate=cfg.flow_rotate, integer_share=cfg.flow_integer)
        v2 = warp(big, flow_big)[..., m:-m, m:-m]
        t2 = warp(tbig, flow_big)[..., m:-m, m:-m]
        # Sensor noise and a slight exposure change: the output should follow luminance, not noise.
        v2 = (v2 * (1 + 0.03 * (torch.rand(b, 1, 1, 1, generator=gen) * 2 - 1))
              + 0.01 * torch.randn(v2.shape, generator=gen)).clamp(0, 1)
        flow = flow_big[..., m:-m, m:-m]
        o1, h1 = student(v1, zeros_state, torch.zeros(b, 1))
        o2, _ = student(v2, h1, torch.ones(b, 1))
        mask = valid_mask(flow)
        plain, reco = L.temporal_loss(o2, warp(o1, flow), v2, warp(v1, flow), mask)
        # Weighted by the ramp but always computed, so the recurrent path sees the same graph from step one.
        terms["temporal"] = t_scale * cfg.w_temporal * plain
        terms["reconet"] = t_scale * cfg.w_reconet * reco
        inside = valid_mask(flow_big)[..., m:-m, m:-m]   # where the moved target came from inside the big crop
        outs, targets, ids2 = torch.cat([o1, o2]), torch.cat([t1, t2]), torch.cat([ids, ids])
        weight = torch.cat([torch.ones_like(inside), inside])
    else:
        outs, _ = student(v1, zeros_state, torch.zeros(b, 1))
        targets, ids2, weight = t1, ids, torch.ones(b, 1, s, s)
    terms["pixel"] = cfg.w_pixel * ((outs - targets).abs() * weight).sum() / (weight.sum() * 3).clamp_min(1.0)
    taps = {**DISTILL_TAPS, **L.STYLE_TAPS}
    feats = lossnet(outs, taps)
    with torch.no_grad():   # one pass over the teacher's outputs for both the feature and the teacher-Gram taps
        ft = lossnet(targets, taps if cfg.w_teacher_gram > 0 else DISTILL_TAPS)
    terms["feature"] = cfg.w_feature * _feature_distance({k: feats[k] for k in DISTILL_TAPS},
                                                         {k: ft[k] for k in DISTILL_TAPS})
    if cfg.w_teacher_gram > 0:
        # The first view only: the second view's target is warped in from outside the crop at its edges.
        gain = style_gain[ids] if style_gain is not None else None
        terms["teacher_gram"] = cfg.w_teacher_gram * teacher_gram_loss(
            {k: feats[k][:b] for k in L.STYLE_TAPS}, {k: ft[k][:b] for k in L.STYLE_TAPS}, gain)
    if cfg.w_style > 0:
        gain = style_gain[ids2] if style_gain is not None else None
        terms["style"] = cfg.w_style * L.style_loss(feats, {k: v[ids2] for k, v in grams.items()}, gain)
    if cfg.w_detail > 0:   # the first view only, as the teacher Gram: the second's target was resampled (blurred)
        terms["detail"] = cfg.w_detail * L.detail_loss(outs[:b], targets[:b])
    if cfg.w_tv > 0:
        terms["tv"] = cfg.w_tv * L.tv_loss(outs)
    return terms


def student_size(crop: int, scale: float, multiple: int) -> int:
    """The student's input side for a ``crop``-pixel square seen at ``scale``: the nearest multiple of the net's size
    multiple, at least one."""
    if not 0 < scale <= 1:
        raise ValueError(f"student_scales must lie in (0, 1]; got {scale}")
    return max(multiple, int(round(crop * scale / multiple)) * multiple)


def _write_model(cfg: TrainConfig, net: StyleNet, bank: StyleBank, names, step: int, elapsed: float,
                 history: list) -> Path:
    save_weights(cfg.out / WEIGHTS, net, bank, names)
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()
                if k not in ("style_dir", "content_dir", "out", "video_dir", "people_dir", "teacher_dir",
                             "init_from", "extra")}
    write_manifest(cfg.out, {
        "styles": list(names),
        "onnx": "vcam.onnx",
        "onnx_sha256": "",
        "weights": WEIGHTS,
        "style_codes": STYLE_CODES,
        "state_channels": net.shape.state_channels,
        "size_multiple": net.shape.stride,
        "code_dim": net.code_dim,
        "net_shape": net.shape.as_dict(),
        "internal_height_720": net.shape.design_height_720,
        "ladder_720": list(net.shape.ladder_720),
        "upsample": "bilinear",
        "temporal": cfg.temporal,
        "training": {"iterations": step, "minutes": round(elapsed / 60, 1), "settings": settings,
                     "final_losses": history[-1] if history else {}, "history": history[::4]},
    })
    return cfg.out / WEIGHTS
