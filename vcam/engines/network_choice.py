"""Which of the model folder's networks a run uses (vcam.styles.manifest: the plain network and its variants).

The plain network is designed for CPUs that run bf16 natively (AMX, AVX-512 bf16) and for TensorRT: there it holds
960x540 for a 720p output. On an AVX2-only CPU (f32) the governor holds it at 384x216, where it paints little more
than a colour grade; a detail-head variant holds 512x288-768x432 there for the same time and scores much nearer the
paintings (README, Results). So "auto" takes the variant whose ``use_when`` matches the engine this run will use.
"""

from __future__ import annotations

from collections.abc import Callable

from vcam.config import RunConfig
from vcam.errors import VcamError
from vcam.styles import BASE_NETWORK, Manifest

NETWORK_CHOICES = ("auto", BASE_NETWORK)   # plus the variants a model folder lists


def _gpu_will_run(cfg: RunConfig) -> bool:
    """Whether create_engine will take TensorRT for this run (it does so only when the probe finds a usable GPU)."""
    if cfg.engine not in ("auto", "tensorrt") or cfg.person_mode:
        return False
    try:
        from vcam.engines.gpu_probe import probe
    except ImportError:
        return False
    return probe().usable


def run_conditions(cfg: RunConfig, gpu: Callable[[RunConfig], bool] = _gpu_will_run) -> dict:
    """What a variant's ``use_when`` is matched against: the engine kind and, on the CPU, the inference precision."""
    if cfg.engine == "passthrough":
        return {"engine": "passthrough"}
    if gpu(cfg):
        return {"engine": "tensorrt"}
    from vcam.engines.cpu_runtime import resolve_precision

    return {"engine": "cpu", "cpu_precision": resolve_precision(cfg.cpu_precision)}


def choose_network(cfg: RunConfig, manifest: Manifest, say: Callable[[str], None] = print,
                   conditions: Callable[[RunConfig], dict] = run_conditions) -> Manifest:
    """The manifest of the network this run uses: the one ``cfg.network`` names, or for "auto" the first variant
    whose ``use_when`` all hold here, else the plain network."""
    if cfg.network != "auto":
        if cfg.network not in manifest.networks:
            raise VcamError(f"The model in {manifest.directory} has no network {cfg.network!r}.",
                            "Choose one of: auto, " + ", ".join(manifest.networks))
        return manifest.variant(cfg.network)
    if len(manifest.networks) == 1:
        return manifest
    here = conditions(cfg)
    for name in manifest.networks[1:]:
        variant = manifest.variant(name)
        want = variant.use_when()
        if want and all(here.get(k) == v for k, v in want.items()):
            why = ", ".join(f"{k} {v}" for k, v in want.items())
            say(f"Network: {name} (chosen for {why}; --network {BASE_NETWORK} runs the other).")
            return variant
    return manifest
