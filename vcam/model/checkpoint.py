"""Resumable training state for the single-module trainers (segmenter, style encoder): the module's weights, Adam's
moments and the numpy generator in one safetensors file, written atomically, so re-running the same command resumes
where the last checkpoint left off. Safetensors, never pickles: a checkpoint is data, not code."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file


def write_atomic(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> None:
    """Write to a temporary file beside ``path`` and rename it: a run killed mid-write leaves the old file whole."""
    tmp = path.with_name(path.name + ".tmp")
    save_file({k: v.detach().contiguous() for k, v in tensors.items()}, str(tmp), metadata=metadata)
    tmp.replace(path)


def save_training(path: Path, module: torch.nn.Module, prefix: str, opt: torch.optim.Optimizer, step: int,
                  elapsed: float, rng: np.random.Generator, history: list) -> None:
    t = {f"{prefix}.{k}": v for k, v in module.state_dict().items()}
    for j, p in enumerate(opt.param_groups[0]["params"]):
        st = opt.state.get(p, {})
        if "exp_avg" in st:
            t[f"opt.{j}.exp_avg"], t[f"opt.{j}.exp_avg_sq"] = st["exp_avg"], st["exp_avg_sq"]
            t[f"opt.{j}.step"] = torch.as_tensor(st["step"], dtype=torch.float32).reshape(1)
    meta = {"step": str(step), "elapsed": str(elapsed), "rng": json.dumps(rng.bit_generator.state),
            "history": json.dumps(history[-200:])}
    write_atomic(path, t, meta)


def load_training(path: Path, module: torch.nn.Module, prefix: str, opt: torch.optim.Optimizer,
                  rng: np.random.Generator) -> tuple[int, float, list]:
    """Restore what save_training wrote (strict: a checkpoint of another shape is an error); returns (step,
    elapsed seconds, loss history)."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
    t = load_file(str(path))
    head = prefix + "."
    module.load_state_dict({k[len(head):]: v for k, v in t.items() if k.startswith(head)}, strict=True)
    for j, p in enumerate(opt.param_groups[0]["params"]):
        if f"opt.{j}.exp_avg" in t:
            opt.state[p] = {"exp_avg": t[f"opt.{j}.exp_avg"], "exp_avg_sq": t[f"opt.{j}.exp_avg_sq"],
                            "step": t[f"opt.{j}.step"][0].clone()}
    rng.bit_generator.state = json.loads(meta["rng"])
    return int(meta["step"]), float(meta["elapsed"]), json.loads(meta["history"])
