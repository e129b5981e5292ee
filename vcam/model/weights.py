"""The trained model's weights file: the network and the built-in styles' codes, one safetensors file (never a
pickle), with the style names and the network's shape in its metadata so it rebuilds its own net."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from vcam.errors import ModelError
from vcam.model.network import NetShape, StyleBank, StyleNet


def save_weights(path: Path, net: StyleNet, bank: StyleBank, names: list[str] | tuple[str, ...]) -> Path:
    """Write atomically (training rewrites the file every few minutes while other tools may read it)."""
    path = Path(path)
    tensors = {f"net.{k}": v.detach().contiguous() for k, v in net.state_dict().items()}
    tensors["bank.codes"] = bank.codes.detach().contiguous()
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp), metadata={"styles": json.dumps(list(names)),
                                           "shape": json.dumps(net.shape.as_dict())})
    tmp.replace(path)
    return path


def load_weights(path: Path) -> tuple[StyleNet, StyleBank, list[str]]:
    """(net in eval mode, style codes, style names) from a weights file written by ``save_weights``."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"No weights file at {path}.", "Train a model first (`vcam train`) or pass its path.")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        sd = load_file(str(path))
    except Exception as exc:  # safetensors raises its own error types for bad headers/truncation
        raise ModelError(f"The weights file {path} cannot be read ({exc}).",
                         "Re-run `vcam train` or restore the file.") from exc
    if "bank.codes" not in sd or "styles" not in meta:
        raise ModelError(f"{path} does not hold vcam weights (no style codes or style names).",
                         "Pass a weights file written by `vcam train`.")
    shape = NetShape.from_dict(json.loads(meta["shape"])) if "shape" in meta else NetShape()
    names = [str(n) for n in json.loads(meta["styles"])]
    codes = sd["bank.codes"]
    if codes.shape != (len(names), shape.code_dim):
        raise ModelError(f"{path} has style codes of shape {tuple(codes.shape)} for {len(names)} styles of "
                         f"dimension {shape.code_dim}.")
    net = StyleNet(shape)
    try:
        net.load_state_dict({k[4:]: v for k, v in sd.items() if k.startswith("net.")}, strict=True)
    except RuntimeError as exc:
        raise ModelError(f"{path} does not match this vcam's network ({exc}).") from exc
    bank = StyleBank(len(names), shape.code_dim)
    with torch.no_grad():
        bank.codes.copy_(codes)
    return net.eval(), bank, names
