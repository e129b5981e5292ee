"""Training the style encoder (vcam.model.style_encoder) by distillation, with the stylization network frozen.

For a content crop and any picture used as a style, the frozen StyleNet with code = encoder(picture) should paint
what the MicroAST teacher paints with that picture: an L1 pixel term and Lite0 feature distances to the teacher's
output, plus a Gram term towards the picture itself. An anchor term keeps each built-in painting's predicted code
near its stored, trained one, so the two kinds of code share one space (and blends between them make sense). The
network and the stored codes never change here: the built-in styles stay exactly what `vcam train` made.

Resumable like vcam.model.train: safetensors checkpoints, the teacher's outputs cached under the run folder.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from vcam.model import losses as L
from vcam.model.checkpoint import load_training, save_training, write_atomic
from vcam.model.data import HELD_OUT, IMAGE_SUFFIXES, ContentPool, read_rgb, style_images, to_tensor
from vcam.model.distill import STYLE_SIDE, StyleCacheSpec, StylePool, build_style_cache, square
from vcam.model.lossnet import load_lossnet
from vcam.model.style_encoder import ENCODER_LONG_SIDE, StyleEncoder
from vcam.model.train import DISTILL_TAPS, _feature_distance, _Progress, optimise
from vcam.model.weights import load_weights

ENCODER_WEIGHTS = "style_encoder.safetensors"
CHECKPOINT = "encoder_checkpoint.safetensors"


@dataclass
class EncoderConfig:
    model: Path                           # the trained model folder (its weights and codes stay frozen)
    style_dir: Path
    content_dir: Path
    out: Path
    video_dir: Path | None = None
    people_dir: Path | None = None
    teacher_dir: Path | None = None
    minutes: float = 60.0
    batch: int = 6
    crop: int = 192
    cache_entries: int = 6000
    painting_share: float = 0.6
    lr: float = 1e-3
    lr_min: float = 2e-5
    w_pixel: float = 5.0
    w_feature: float = 1.0
    w_style: float = 0.5
    w_anchor: float = 1.0
    seed: int = 0
    threads: int = 2
    checkpoint_seconds: float = 120.0
    log_every: int = 25


def _save(cfg: EncoderConfig, enc: StyleEncoder, opt: torch.optim.Optimizer, step: int, elapsed: float,
          rng: np.random.Generator, history: list) -> None:
    save_training(cfg.out / CHECKPOINT, enc, "enc", opt, step, elapsed, rng, history)
    write_atomic(cfg.out / ENCODER_WEIGHTS, enc.state_dict(),
                 {"code_dim": str(enc.mlp[-1].out_features), "long_side": str(ENCODER_LONG_SIDE),
                  "widths": json.dumps([c.out_channels for c in enc.convs]), "hidden": str(enc.mlp[0].out_features),
                  "iterations": str(step), "minutes": f"{elapsed / 60:.1f}"})


def _resume(cfg: EncoderConfig, enc: StyleEncoder, opt: torch.optim.Optimizer, rng: np.random.Generator):
    return load_training(cfg.out / CHECKPOINT, enc, "enc", opt, rng)


def train_encoder(cfg: EncoderConfig) -> Path:
    from vcam.model.teacher import require_teacher

    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    require_teacher(cfg.teacher_dir)
    cfg.out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(cfg.seed)
    man = json.loads((cfg.model / "manifest.json").read_text(encoding="utf-8"))
    net, bank, names = load_weights(cfg.model / man.get("weights", "vcam.safetensors"))
    net.requires_grad_(False)
    codes = bank.codes.detach()
    paintings = style_images(cfg.style_dir, 1024)
    missing = [n for n in names if n not in paintings]
    if missing:
        raise ValueError(f"the built-in styles {missing} have no painting in {cfg.style_dir}")
    pool = ContentPool(cfg.content_dir, cfg.video_dir, long_side=1024, people_dir=cfg.people_dir)
    photos = [read_rgb(p, 1024) for p in sorted(cfg.content_dir.iterdir())
              if p.suffix.lower() in IMAGE_SUFFIXES and p.name not in HELD_OUT]
    styles = StylePool([paintings[n] for n in names], photos + pool.images[pool.n_photos:][::4], cfg.painting_share)
    spec = StyleCacheSpec(cfg.cache_entries, cfg.crop, cfg.painting_share, cfg.seed)
    bar = _Progress(spec.entries, 0, "crops", max(1, spec.entries // 20))
    t_build = time.perf_counter()
    try:
        cache = build_style_cache(cfg.out, spec, pool, styles, cfg.teacher_dir,
                                  lambda d, n: bar.update(d, d, f"teacher outputs {d}/{n} "
                                                                f"({time.perf_counter() - t_build:.0f} s)"))
    finally:
        bar.close()
    lossnet = load_lossnet("lite0")
    # The built-in paintings as the encoder sees them at run time, for the anchor term.
    anchors = torch.cat([to_tensor(square(paintings[n], STYLE_SIDE)) for n in names])

    enc = StyleEncoder(net.code_dim)
    opt = torch.optim.Adam(enc.parameters(), lr=cfg.lr)
    step, elapsed, history = 0, 0.0, []
    if (cfg.out / CHECKPOINT).is_file():
        step, elapsed, history = _resume(cfg, enc, opt, rng)
        print(f"resumed at step {step} ({elapsed / 60:.1f} min done)", flush=True)
    budget = cfg.minutes * 60
    prog = _Progress(cfg.minutes, elapsed / 60, "min", cfg.log_every)
    t0 = time.perf_counter() - elapsed
    t_ckpt = time.perf_counter()
    avg: dict[str, float] = {}
    st = net.shape.stride
    try:
        while (elapsed := time.perf_counter() - t0) < budget:
            frac = elapsed / budget
            for g in opt.param_groups:
                g["lr"] = cfg.lr_min + 0.5 * (cfg.lr - cfg.lr_min) * (1 + math.cos(math.pi * frac))
            idx = np.sort(rng.choice(len(cache), size=cfg.batch, replace=False))
            x, s_img, target = cache.batch(idx)
            code = enc(s_img)
            b, s = x.shape[0], x.shape[-1]
            out, _ = net(x, torch.zeros(b, net.shape.state_channels, s // st, s // st), torch.zeros(b, 1), code)
            taps = {**DISTILL_TAPS, **L.STYLE_TAPS}
            fo = lossnet(out, taps)
            with torch.no_grad():
                ft = lossnet(target, DISTILL_TAPS)
                gs = {k: L.gram(v) for k, v in lossnet(s_img, L.STYLE_TAPS).items()}
            a = enc(anchors)
            terms = {"pixel": cfg.w_pixel * (out - target).abs().mean(),
                     "feature": cfg.w_feature * _feature_distance({k: fo[k] for k in DISTILL_TAPS}, ft),
                     "style": cfg.w_style * L.style_loss(fo, gs),
                     "anchor": cfg.w_anchor * ((a - codes) ** 2).sum(1).mean() / (codes ** 2).sum(1).mean()}
            optimise(opt, terms, avg)
            step += 1
            if step % cfg.log_every == 0:
                history.append({"step": step, "minutes": round(elapsed / 60, 2), **{k: round(v, 5)
                                                                                  for k, v in avg.items()}})
            prog.update(elapsed / 60, step, " ".join(f"{k}={v:.3f}" for k, v in avg.items()) + f" it={step}")
            if time.perf_counter() - t_ckpt > cfg.checkpoint_seconds:
                _save(cfg, enc, opt, step, time.perf_counter() - t0, rng, history)
                t_ckpt = time.perf_counter()
    finally:
        prog.close()
    _save(cfg, enc, opt, step, time.perf_counter() - t0, rng, history)
    (cfg.out / "encoder.json").write_text(json.dumps({
        "iterations": step, "minutes": round((time.perf_counter() - t0) / 60, 1), "history": history[::2],
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()}}, indent=2) + "\n",
        encoding="utf-8")
    return cfg.out / ENCODER_WEIGHTS
