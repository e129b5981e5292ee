"""A tiny random vcam model for tests: the real network class at a few channels, its styles made to differ, saved
and exported the way training and `vcam export` do (imported by tests that need torch; they skip without it)."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from vcam.model.network import NetShape, StyleBank, StyleNet
from vcam.model.weights import save_weights
from vcam.styles import STYLE_CODES, write_manifest

TINY = NetShape(code_dim=8, enc=(8, 16), width=16, dilations=(1, 2))


def tiny_net(styles: tuple[str, ...], seed: int = 0, shape: NetShape = TINY,
             gate_bias: float | None = None) -> tuple[StyleNet, StyleBank]:
    """Random weights whose styles really differ (the default init maps every code to nearly the same norms)."""
    torch.manual_seed(seed)
    net, bank = StyleNet(shape), StyleBank(len(styles), shape.code_dim)
    with torch.no_grad():
        net.style_map.linear.weight.normal_(0.0, 0.3)
        bank.codes.normal_(0.0, 1.0)
        if gate_bias is not None:
            net.gate.bias.fill_(gate_bias)    # e.g. lean on the carried state so its effect shows
    return net.eval(), bank


def write_tiny_model(directory: Path, styles: tuple[str, ...], seed: int = 0, export: bool = True,
                     gate_bias: float | None = None, shape: NetShape = TINY, **manifest: object) -> Path:
    """A model folder (weights, manifest and, with ``export``, the ONNX and style codes); returns the folder."""
    net, bank = tiny_net(styles, seed, shape=shape, gate_bias=gate_bias)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    save_weights(directory / "vcam.safetensors", net, bank, styles)
    write_manifest(directory, {"styles": list(styles), "onnx": "vcam.onnx", "onnx_sha256": "",
                               "weights": "vcam.safetensors", "style_codes": STYLE_CODES,
                               "state_channels": net.shape.state_channels, "size_multiple": net.shape.stride,
                               "code_dim": net.code_dim, "net_shape": net.shape.as_dict(),
                               "training": {"iterations": 1}, **manifest})
    if export:
        export_one_thread(directory)
    return directory


def export_one_thread(directory: Path) -> Path:
    """`vcam export` of the folder's weights in place, on one torch thread (quick and deterministic for tests)."""
    from vcam.model.export import export_onnx

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return export_onnx(Path(directory) / "vcam.safetensors", directory)
    finally:
        torch.set_num_threads(n)


DETAIL = NetShape.from_dict({**TINY.as_dict(), "detail": 4})


def write_tiny_detail_run(directory: Path, styles: tuple[str, ...], seed: int = 3) -> Path:
    """An exported run folder holding a tiny detail-head net, as `vcam train` with a detail recipe leaves one."""
    write_tiny_model(directory, styles, export=False, shape=DETAIL)
    net, bank = tiny_net(styles, seed=seed, shape=DETAIL)
    with torch.no_grad():
        net.head.out.weight[:, :4].normal_(0.0, 0.1)    # a head that paints something of its own
    save_weights(directory / "vcam.safetensors", net, bank, styles)
    export_one_thread(directory)
    return directory


def manifest_of(directory: Path) -> dict:
    return json.loads((Path(directory) / "manifest.json").read_text(encoding="utf-8"))


def add_tiny_encoder(directory: Path, seed: int = 0) -> Path:
    """Give a tiny model folder a random style encoder (exported and recorded like a trained one)."""
    from safetensors.torch import save_file

    from vcam.model.export import export_style_encoder
    from vcam.model.style_encoder import StyleEncoder

    torch.manual_seed(seed)
    enc = StyleEncoder(TINY.code_dim, widths=(8, 8, 16, 16), hidden=16)
    path = Path(directory) / "style_encoder.safetensors"
    save_file({k: v.contiguous() for k, v in enc.state_dict().items()}, str(path),
              metadata={"code_dim": str(TINY.code_dim), "iterations": "1", "minutes": "0",
                        "widths": json.dumps([8, 8, 16, 16]), "hidden": "16"})
    export_style_encoder(path, directory)
    return Path(directory)
