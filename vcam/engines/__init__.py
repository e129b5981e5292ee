"""Engines behind one protocol: passthrough, cpu (ONNX on a CPU runtime), tensorrt (NVIDIA)."""

from __future__ import annotations

from collections.abc import Callable

from vcam.config import RunConfig
from vcam.engines.base import Engine
from vcam.engines.passthrough import PassthroughEngine
from vcam.errors import VcamError
from vcam.styles import Manifest, StyleCodes

ENGINE_KINDS = ("auto", "cpu", "tensorrt", "passthrough")


def create_engine(cfg: RunConfig, manifest: Manifest | None, say: Callable[[str], None] = print,
                  codes: StyleCodes | None = None) -> Engine:
    """The engine cfg asks for; "auto" takes TensorRT when a usable GPU is found, else the CPU engine.

    Any GPU failure falls back to the CPU engine with one message: a call must never fail because a driver did.
    ``codes``: the style registry the run shares with its controls (built-in styles plus stored and live ones);
    default: the model's built-in styles.
    """
    if cfg.engine not in ENGINE_KINDS:
        raise VcamError(f"Unknown engine {cfg.engine!r}.", "Choose one of: " + ", ".join(ENGINE_KINDS))
    if cfg.engine == "passthrough" or manifest is None:
        if cfg.person_mode:
            raise VcamError("Person options (--region, --person-strength, --background-strength, --background) need "
                            "a style engine and model.", "Use --engine cpu (or auto) with an installed model.")
        return PassthroughEngine()
    if cfg.person_mode and cfg.engine == "tensorrt":
        raise VcamError("Person options run on the CPU engine only for now.",
                        "Use --engine cpu (or auto), or drop --region / --person-strength / --background-strength / "
                        "--background.")
    # "auto" with person options: the CPU engine, which has the person stage (the TensorRT one does not yet).
    if cfg.engine in ("auto", "tensorrt") and not cfg.person_mode:
        engine = _try_gpu(cfg, manifest, say, codes)
        if engine is not None:
            return engine
    from vcam.engines.cpu import CpuEngine

    return CpuEngine(manifest, cfg, codes=codes)


def _try_gpu(cfg: RunConfig, manifest: Manifest, say: Callable[[str], None],
             codes: StyleCodes | None = None) -> Engine | None:
    try:
        from vcam.engines.gpu_probe import probe
        from vcam.engines.tensorrt import create_gpu_engine, select_engine_kind
    except ImportError as exc:  # the GPU modules are optional
        if cfg.engine == "tensorrt":
            say(f"TensorRT engine unavailable ({exc}); using the CPU engine.")
        return None
    kind, message = select_engine_kind(cfg, probe())
    if kind != "tensorrt":
        if message and cfg.engine == "tensorrt":
            say(message)
        return None
    try:
        return create_gpu_engine(manifest, cfg, codes=codes)
    except Exception as exc:  # noqa: BLE001 - any GPU failure must fall back, with the reason
        say(f"TensorRT engine failed ({exc}); falling back to the CPU engine.")
        return None
