"""Training loop: all styles jointly, perceptual + temporal losses, resumable safetensors checkpoints.

Iterations are the currency on a 2-core machine: small crops (near the scale the net sees at run time), two
frames per sequence (the second carries the first's state), one forward of the loss net for both.
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
from safetensors.torch import load_file, save_file

from vcam.model import losses as L
from vcam.model.data import ContentPool, style_images, to_tensor
from vcam.model.flow import random_flow, valid_mask, warp
from vcam.model.lossnet import load_lossnet
from vcam.model.network import STATE_CHANNELS, StyleNet
from vcam.styles import write_manifest

WEIGHTS = "vcam.safetensors"
CHECKPOINT = "checkpoint.safetensors"
CHECKPOINT_META = "checkpoint.json"


@dataclass
class TrainConfig:
    style_dir: Path
    content_dir: Path
    out: Path
    video_dir: Path | None = None
    styles: tuple[str, ...] = ()          # subset of the style images (default: all)
    iterations: int = 12000               # used when minutes is 0
    minutes: float = 0.0                  # wall-time budget; the LR schedule follows time when set
    batch: int = 4                        # sequences per iteration (2 frames each)
    crop: int = 128
    style_long_side: int = 256
    lr: float = 1e-3
    lr_min: float = 2e-5
    w_style: float = 2.0
    w_content: float = 1.0
    w_colour: float = 0.5
    w_tv: float = 0.3
    w_temporal: float = 20.0
    w_reconet: float = 15.0
    # The temporal terms fade in over this span of training (fractions of it), so the style forms before stability is
    # asked of it; with full weight from step one the style stayed weaker (README, Results).
    temporal_ramp: tuple[float, float] = (0.15, 0.45)
    temporal: bool = True                 # False: the per-frame baseline (no state, no temporal terms)
    seed: int = 0
    threads: int = 2
    checkpoint_seconds: float = 120.0
    log_every: int = 50
    init_from: Path | None = None         # fine-tune: start from these weights
    train_only_styles: tuple[str, ...] = ()  # fine-tune: only these styles' norm parameters move
    extra: dict = field(default_factory=dict)


def _style_targets(lossnet, imgs: dict[str, np.ndarray], names: tuple[str, ...], needed: tuple[str, ...]):
    """Gram and colour-moment targets per style, indexed by style id (zeros for styles that never train)."""
    grams: dict[str, torch.Tensor] = {}
    cols: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    with torch.no_grad():
        for n in needed:
            i = names.index(n)
            f = lossnet(to_tensor(imgs[n]), L.STYLE_TAPS)
            for k in L.STYLE_TAPS:
                g = L.gram(f[k])[0]
                grams.setdefault(k, torch.zeros(len(names), *g.shape))[i] = g
            for k in L.COLOUR_TAPS:
                m, s = L.moments(f[k])
                cm, cs = cols.setdefault(k, (torch.zeros(len(names), m.shape[1]), torch.zeros(len(names), m.shape[1])))
                cm[i], cs[i] = m[0], s[0]
    return grams, cols


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


def _save_checkpoint(cfg: TrainConfig, net: StyleNet, opt: torch.optim.Optimizer, step: int, elapsed: float,
                     rng: np.random.Generator, gen: torch.Generator, history: list) -> None:
    tensors = {f"net.{k}": v.detach().contiguous() for k, v in net.state_dict().items()}
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


def _load_checkpoint(cfg: TrainConfig, net: StyleNet, opt: torch.optim.Optimizer, rng: np.random.Generator,
                     gen: torch.Generator):
    tensors = load_file(str(cfg.out / CHECKPOINT))
    meta = json.loads((cfg.out / CHECKPOINT_META).read_text(encoding="utf-8"))
    net.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("net.")}, strict=True)
    for i, group in enumerate(opt.param_groups):
        for j, p in enumerate(group["params"]):
            key = f"opt.{i}.{j}."
            if key + "exp_avg" in tensors:
                opt.state[p] = {"exp_avg": tensors[key + "exp_avg"], "exp_avg_sq": tensors[key + "exp_avg_sq"],
                                "step": tensors[key + "step"][0].clone()}
    gen.set_state(tensors["rng.torch"])
    rng.bit_generator.state = meta["numpy_rng"]
    return meta["step"], meta["elapsed"], meta.get("history", [])


def train(cfg: TrainConfig) -> Path:
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    cfg.out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)

    all_styles = style_images(cfg.style_dir, cfg.style_long_side)
    names = cfg.styles or tuple(all_styles)
    # Fine-tuning needs images only for the styles that train; the others' parameters are frozen.
    needed = cfg.train_only_styles or names
    missing = [n for n in needed if n not in all_styles]
    if missing:
        raise ValueError(f"style images not found for {missing} in {cfg.style_dir}")
    lossnet = load_lossnet("lite0")
    grams, colours = _style_targets(lossnet, all_styles, names, needed)
    pool = ContentPool(cfg.content_dir, cfg.video_dir)
    print(f"{len(names)} styles, {pool.n_photos} photos + {len(pool.images) - pool.n_photos} video frames",
          flush=True)

    net = StyleNet(len(names))
    if cfg.init_from is not None:
        sd = load_file(str(cfg.init_from))
        _load_grown(net, sd)
    if cfg.train_only_styles:
        params = [p for n, p in net.named_parameters() if n.endswith((".gamma", ".beta"))]
        for p in net.parameters():
            p.requires_grad_(False)
        for p in params:
            p.requires_grad_(True)
        idx = torch.tensor([names.index(s) for s in cfg.train_only_styles])
        mask = torch.zeros(len(names), 1)
        mask[idx] = 1
        for p in params:
            p.register_hook(lambda g, m=mask: g * m)
    else:
        params = list(net.parameters())
    opt = torch.optim.Adam(params, lr=cfg.lr)

    step, elapsed, history = 0, 0.0, []
    if (cfg.out / CHECKPOINT).is_file():
        step, elapsed, history = _load_checkpoint(cfg, net, opt, rng, gen)
        print(f"resumed at step {step} ({elapsed / 60:.1f} min done)", flush=True)

    budget = cfg.minutes * 60.0
    by_time = budget > 0
    total = budget if by_time else float(cfg.iterations)
    prog = _Progress(total / 60 if by_time else total, (elapsed / 60) if by_time else step,
                     "min" if by_time else "it", cfg.log_every)
    style_pick = ([names.index(s) for s in cfg.train_only_styles] if cfg.train_only_styles
                  else list(range(len(names))))
    margin = 12
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
            terms = _step(cfg, net, lossnet, pool, grams, colours, style_pick, rng, gen, margin,
                          _ramp(frac, cfg.temporal_ramp))
            loss = sum(terms.values())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            for k, v in terms.items():
                x = float(v.detach())
                run_avg[k] = 0.98 * run_avg.get(k, x) + 0.02 * x
            if step % cfg.log_every == 0:
                history.append({"step": step, "minutes": round(elapsed / 60, 2), **{k: round(v, 5) for k, v in
                                                                                  run_avg.items()}})
            info = " ".join(f"{k}={v:.3f}" for k, v in run_avg.items()) + f" lr={lr:.1e} it={step}"
            prog.update((elapsed / 60) if by_time else step, step, info)
            if time.perf_counter() - t_last_ckpt > cfg.checkpoint_seconds:
                _save_checkpoint(cfg, net, opt, step, time.perf_counter() - t0, rng, gen, history)
                _write_model(cfg, net, names, step, time.perf_counter() - t0, history)
                t_last_ckpt = time.perf_counter()
    finally:
        prog.close()
    elapsed = time.perf_counter() - t0
    _save_checkpoint(cfg, net, opt, step, elapsed, rng, gen, history)
    return _write_model(cfg, net, names, step, elapsed, history)


def _ramp(frac: float, span: tuple[float, float]) -> float:
    """0 before span[0], 1 after span[1], linear between."""
    lo, hi = span
    if hi <= lo:
        return float(frac >= lo)
    return min(max((frac - lo) / (hi - lo), 0.0), 1.0)


def _step(cfg: TrainConfig, net, lossnet, pool, grams, colours, style_pick, rng, gen, margin, t_scale: float = 1.0):
    b, s = cfg.batch, cfg.crop
    ids = torch.tensor([style_pick[i] for i in rng.integers(len(style_pick), size=b)])
    onehot = torch.nn.functional.one_hot(ids, net.num_styles).float()
    zeros_state = torch.zeros(b, STATE_CHANNELS, s // 4, s // 4)
    terms: dict[str, torch.Tensor] = {}
    if cfg.temporal:
        big = pool.crops(b, s + 2 * margin, rng)
        flow_big = random_flow(b, s + 2 * margin, s + 2 * margin, gen)
        v1 = big[..., margin:-margin, margin:-margin]
        v2 = warp(big, flow_big)[..., margin:-margin, margin:-margin]
        # Sensor noise and a slight exposure change: the output should follow luminance, not noise.
        v2 = (v2 * (1 + 0.03 * (torch.rand(b, 1, 1, 1, generator=gen) * 2 - 1))
              + 0.01 * torch.randn(v2.shape, generator=gen)).clamp(0, 1)
        flow = flow_big[..., margin:-margin, margin:-margin]
        o1, h1 = net(v1, zeros_state, torch.zeros(b, 1), onehot)
        o2, _ = net(v2, h1, torch.ones(b, 1), onehot)
        mask = valid_mask(flow)
        plain, reco = L.temporal_loss(o2, warp(o1, flow), v2, warp(v1, flow), mask)
        # Weighted by the ramp but always computed, so the recurrent path sees the same graph from step one.
        terms["temporal"] = t_scale * cfg.w_temporal * plain
        terms["reconet"] = t_scale * cfg.w_reconet * reco
        outs, ins, ids2 = torch.cat([o1, o2]), torch.cat([v1, v2]), torch.cat([ids, ids])
        onehot2 = torch.cat([onehot, onehot])
    else:
        ins = pool.crops(2 * b, s, rng)
        ids2 = torch.tensor([style_pick[i] for i in rng.integers(len(style_pick), size=2 * b)])
        onehot2 = torch.nn.functional.one_hot(ids2, net.num_styles).float()
        outs, _ = net(ins, torch.zeros(2 * b, STATE_CHANNELS, s // 4, s // 4), torch.zeros(2 * b, 1), onehot2)
    taps = {**L.STYLE_TAPS, **L.CONTENT_TAPS}
    feats = lossnet(outs, taps)
    with torch.no_grad():
        target_c = lossnet(ins, L.CONTENT_TAPS)["c"]
    terms["style"] = cfg.w_style * L.style_loss(feats, {k: v[ids2] for k, v in grams.items()})
    terms["content"] = cfg.w_content * L.content_loss(feats["c"], target_c)
    terms["colour"] = cfg.w_colour * L.colour_loss(feats, {k: (m[ids2], sd[ids2]) for k, (m, sd) in colours.items()})
    terms["tv"] = cfg.w_tv * L.tv_loss(outs)
    return terms


def _load_grown(net: StyleNet, sd: dict[str, torch.Tensor]) -> None:
    """Load weights trained with fewer styles: new styles start from the mean of the old ones."""
    own = net.state_dict()
    for k, v in sd.items():
        if k.endswith((".gamma", ".beta")) and v.shape[0] < own[k].shape[0]:
            grown = own[k].clone()
            grown[: v.shape[0]] = v
            grown[v.shape[0]:] = v.mean(0, keepdim=True)
            sd[k] = grown
    net.load_state_dict(sd, strict=True)


def _write_model(cfg: TrainConfig, net: StyleNet, names, step: int, elapsed: float, history: list) -> Path:
    tmp = cfg.out / (WEIGHTS + ".tmp")
    save_file({k: v.detach().contiguous() for k, v in net.state_dict().items()}, str(tmp),
              metadata={"styles": json.dumps(list(names))})
    tmp.replace(cfg.out / WEIGHTS)
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()
                if k not in ("style_dir", "content_dir", "out", "video_dir", "init_from", "extra")}
    write_manifest(cfg.out, {
        "styles": list(names),
        "onnx": "vcam.onnx",
        "onnx_sha256": "",
        "weights": WEIGHTS,
        "state_channels": STATE_CHANNELS,
        "size_multiple": 4,
        "temporal": cfg.temporal,
        "training": {"iterations": step, "minutes": round(elapsed / 60, 1), "settings": settings,
                     "final_losses": history[-1] if history else {}, "history": history[::4]},
    })
    return cfg.out / WEIGHTS
