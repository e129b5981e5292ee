"""The shift probe (benchmarks/shift_probe.py) measures what it says: a move by the trunk's stride is nearly free for
a net with a detail head, a one-pixel move is not, and a frame moved by nothing scores exactly 0."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")

REPO = Path(__file__).resolve().parents[1]


def _probe_module():
    spec = importlib.util.spec_from_file_location("shift_probe", REPO / "benchmarks" / "shift_probe.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_probe_finds_the_trunk_stride(tmp_path) -> None:
    from tiny_model import TINY, tiny_net

    from vcam.model.network import NetShape
    from vcam.model.weights import save_weights

    probe = _probe_module()
    shape = NetShape(**{**TINY.as_dict(), "detail": 4})
    net, bank = tiny_net(("a", "b"), shape=shape)
    save_weights(tmp_path / "w.safetensors", net, bank, ["a", "b"])
    rng = np.random.default_rng(0)
    noise = rng.random((probe.H // 8 + 8, probe.W // 8 + 8, 3)).astype(np.float32)
    src = cv2.resize(noise, (probe.W + 2 * probe.MARGIN, probe.H + 2 * probe.MARGIN), interpolation=cv2.INTER_CUBIC)
    res = probe.probe(tmp_path / "w.safetensors", ["a"], [0, 1, net.shape.stride], src)
    zero, one, stride = res["styles"]["a"]
    assert zero["error"] == 0.0 and zero["move"] == 0.0
    assert one["move"] > 0 and stride["move"] > 0
    assert stride["error"] < 0.2 * one["error"]     # a whole trunk cell moves the picture with it
