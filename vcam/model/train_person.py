"""Training vcam's person segmenter (vcam.model.segmenter) by distillation from the MediaPipe selfie teacher.

Each step draws augmented 256x144 frames (vcam.model.person_data), the teacher labels them, and the student learns
the teacher's soft matte: binary cross-entropy against the teacher's probability, weighted up along the teacher's
edges (where a call sees the cut), plus a soft-IoU term so a small person far away counts as much as a close-up.

Resumable like the other trainers: a safetensors checkpoint (weights, Adam moments, the random state) every
``checkpoint_seconds``; re-running the same command continues. The result exports to ``person.onnx`` in the model
folder, checked against torch and recorded (name, hash) in its manifest.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from vcam.errors import ModelError
from vcam.model.checkpoint import load_training, save_training, write_atomic
from vcam.model.person_data import PeoplePool
from vcam.model.segmenter import DECODER, ENC_BLOCKS, FIRST_SHAPE, MID_BLOCKS, WIDTHS, PersonNet
from vcam.model.train import _Progress, optimise

PERSON_WEIGHTS = "person.safetensors"
CHECKPOINT = "person_checkpoint.safetensors"


@dataclass
class PersonConfig:
    people_dir: Path
    content_dir: Path
    out: Path
    video_dir: Path | None = None
    teacher_dir: Path | None = None
    minutes: float = 20.0
    batch: int = 24
    lr: float = 3e-3
    lr_min: float = 5e-5
    w_edge: float = 4.0            # extra BCE weight on the teacher's edge band
    w_iou: float = 0.5
    seed: int = 0
    threads: int = 2
    checkpoint_seconds: float = 120.0
    log_every: int = 25
    # True: composites and empty frames are labelled by their own alpha (the cut-outs' teacher mattes, composited as
    # the pixels were) and the teacher labels real frames only: 30% more steps a minute, and labels that never light
    # up on a background's texture (the teacher marks 12% of an empty room as person). Measured, it did worse:
    # 53 more minutes from the shipped weights with it ended at VOC IoU 0.378 against the shipped 0.451 (held-out
    # agreement 0.708 against 0.745), so the teacher labels every frame by default.
    composite_labels: bool = False
    # Share of the samples cut at another camera's aspect ratio (4:3, square, 3:4) and stretched to 256x144 as the
    # segmenter stretches such a camera's frames (person_data.draw_stretch); 0 draws only 16:9 views.
    stretch_share: float = 0.0
    # The network's shape. The first shipped one (FIRST_SHAPE, 31 k parameters) stopped improving at VOC IoU
    # 0.40-0.45 however long it trained; this one widens the 1/8 and 1/16 levels, where a pixel costs 1/16 and 1/64 of
    # one at 1/2 resolution, and its decoder carries fewer channels at 1/2 (same cost a frame); the shipped one adds
    # residual blocks at 1/8 and 1/16 (VOC 0.495 -> 0.517 for +0.4 ms a frame).
    widths: tuple[int, int, int, int] = WIDTHS
    mid_blocks: int = MID_BLOCKS
    decoder: str = DECODER
    enc_blocks: tuple[int, int] = ENC_BLOCKS
    # Weights to start from (same shape), for a continuation at a lower learning rate; a checkpoint in ``out`` wins.
    init_from: Path | None = None


def edge_band(p: torch.Tensor, width: int = 5) -> torch.Tensor:
    """1 within ``width//2`` pixels of the matte's 0.5 crossing (soft values or a hard step), else 0."""
    hard = (p > 0.5).float()
    grow = F.max_pool2d(hard, width, 1, width // 2)
    shrink = -F.max_pool2d(-hard, width, 1, width // 2)
    return ((grow - shrink) > 0).float()


def matte_loss(logits: torch.Tensor, target: torch.Tensor, w_edge: float, w_iou: float) -> dict[str, torch.Tensor]:
    weight = 1.0 + w_edge * edge_band(target)
    bce = (F.binary_cross_entropy_with_logits(logits, target, reduction="none") * weight).mean()
    p = torch.sigmoid(logits)
    inter = (p * target).sum((1, 2, 3))
    union = (p + target - p * target).sum((1, 2, 3))
    # Frames with (almost) nobody in them: their IoU term is dropped (it would only punish faint noise), the BCE
    # still counts every pixel.
    has = target.sum((1, 2, 3)) > 8.0
    iou = (1 - inter[has] / union[has]).mean() if bool(has.any()) else logits.sum() * 0.0
    return {"bce": bce, "iou": w_iou * iou}


def _save(cfg: PersonConfig, net: PersonNet, opt: torch.optim.Optimizer, step: int, elapsed: float,
          rng: np.random.Generator, history: list) -> None:
    save_training(cfg.out / CHECKPOINT, net, "net", opt, step, elapsed, rng, history)
    write_atomic(cfg.out / PERSON_WEIGHTS, net.state_dict(),
                 {**net.shape_metadata(), "iterations": str(step), "minutes": f"{elapsed / 60:.1f}"})


def _resume(cfg: PersonConfig, net: PersonNet, opt: torch.optim.Optimizer, rng: np.random.Generator):
    return load_training(cfg.out / CHECKPOINT, net, "net", opt, rng)


def _draw(pool: PeoplePool, teacher: torch.nn.Module, cfg: PersonConfig,
          rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch (N,3,144,256) and its target mattes (N,1,144,256)."""
    if not cfg.composite_labels:
        x = torch.from_numpy(pool.batch(cfg.batch, rng)).permute(0, 3, 1, 2).contiguous()
        with torch.no_grad():
            return x, teacher(x)
    frames, labels, known = pool.labelled_batch(cfg.batch, rng)
    x = torch.from_numpy(frames).permute(0, 3, 1, 2).contiguous()
    target = torch.from_numpy(labels)[:, None].contiguous()
    ask = torch.from_numpy(~known)
    if ask.any():
        with torch.no_grad():
            target[ask] = teacher(x[ask])
    return x, target


def teacher_matte(teacher: torch.nn.Module):
    """A numpy (N,144,256,3) RGB -> (N,144,256) matte function over the teacher, in batches."""
    def run(frames: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2)
            return teacher(x)[:, 0].numpy()
    return run


def _start_from(net: PersonNet, path: Path) -> None:
    """Load ``path``'s weights into ``net``, refused with the reason unless the file is there with ``net``'s shape."""
    if not Path(path).is_file():
        raise ModelError(f"No segmenter weights at {path} to start from (init_from).",
                         "Train the first stage (vcam train --person) or point init_from at its person.safetensors.")
    start = load_person_weights(path)
    if start.shape_metadata() != net.shape_metadata():
        raise ModelError(f"{path} has shape {start.shape_metadata()}, not {net.shape_metadata()}.",
                         "Start from weights of the same shape, or set widths/mid_blocks/decoder/enc_blocks to theirs.")
    net.load_state_dict(start.state_dict(), strict=True)
    print(f"starting from {path}", flush=True)


def train_person(cfg: PersonConfig) -> Path:
    from vcam.model.selfie_teacher import load_selfie_teacher

    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    teacher = load_selfie_teacher(cfg.teacher_dir)
    cfg.out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(cfg.seed)
    net = PersonNet(tuple(cfg.widths), cfg.mid_blocks, cfg.decoder, tuple(cfg.enc_blocks))
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    step, elapsed, history = 0, 0.0, []
    if (cfg.out / CHECKPOINT).is_file():
        step, elapsed, history = _resume(cfg, net, opt, rng)
        print(f"resumed at step {step} ({elapsed / 60:.1f} min done)", flush=True)
    elif cfg.init_from is not None:
        _start_from(net, cfg.init_from)
    # The pool (a minute of teacher passes over the portraits) after the weights, so a bad init_from fails at once.
    print("loading people, portraits (cut out with the teacher) and backgrounds", flush=True)
    pool = PeoplePool(cfg.people_dir, cfg.content_dir, cfg.video_dir, teacher_matte(teacher),
                      stretch_share=cfg.stretch_share)
    print(f"{len(pool.real)} frames, {len(pool.cutouts)} portrait cutouts, {len(pool.backgrounds)} backgrounds",
          flush=True)
    budget = cfg.minutes * 60
    prog = _Progress(cfg.minutes, elapsed / 60, "min", cfg.log_every)
    t0 = time.perf_counter() - elapsed
    t_ckpt = time.perf_counter()
    avg: dict[str, float] = {}
    net.train()
    try:
        while (elapsed := time.perf_counter() - t0) < budget:
            frac = elapsed / budget
            for g in opt.param_groups:
                g["lr"] = cfg.lr_min + 0.5 * (cfg.lr - cfg.lr_min) * (1 + math.cos(math.pi * frac))
            x, target = _draw(pool, teacher, cfg, rng)
            optimise(opt, matte_loss(net.logits(x), target, cfg.w_edge, cfg.w_iou), avg)
            step += 1
            if step % cfg.log_every == 0:
                history.append({"step": step, "minutes": round(elapsed / 60, 2),
                                **{k: round(v, 5) for k, v in avg.items()}})
            prog.update(elapsed / 60, step, " ".join(f"{k}={v:.3f}" for k, v in avg.items()) + f" it={step}")
            if time.perf_counter() - t_ckpt > cfg.checkpoint_seconds:
                _save(cfg, net, opt, step, time.perf_counter() - t0, rng, history)
                t_ckpt = time.perf_counter()
    finally:
        prog.close()
    _save(cfg, net, opt, step, time.perf_counter() - t0, rng, history)
    (cfg.out / "person.json").write_text(json.dumps({
        "iterations": step, "minutes": round((time.perf_counter() - t0) / 60, 1), "history": history[::2],
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()}}, indent=2) + "\n",
        encoding="utf-8")
    return cfg.out / PERSON_WEIGHTS


def load_person_weights(path: Path) -> PersonNet:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
    if "mid_blocks" in meta:
        shape = (tuple(json.loads(meta["widths"])), int(meta["mid_blocks"]), meta.get("decoder", FIRST_SHAPE[2]),
                 tuple(json.loads(meta.get("enc_blocks", "[0, 0]"))))
    else:   # saved before the whole shape was recorded: the first shipped shape
        shape = (tuple(json.loads(meta["widths"])) if "widths" in meta else FIRST_SHAPE[0], *FIRST_SHAPE[1:])
    net = PersonNet(*shape)
    net.load_state_dict(load_file(str(path)), strict=True)
    return net.eval()
