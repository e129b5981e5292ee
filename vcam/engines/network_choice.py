"""Which of the model folder's networks a run uses (vcam.styles.manifest: the plain network and its variants).

The plain network is designed for CPUs that run bf16 natively (AMX, AVX-512 bf16) and for TensorRT: there it holds
960x540 for a 720p output. On an AVX2-only CPU (f32) the governor holds it at 384x216, where it paints little more
than a colour grade; a detail-head variant holds 512x288-768x432 there for the same time and scores much nearer the
paintings (README, Results). So "auto" takes the variant whose ``use_when`` matches the engine this run will use.

A CPU with bf16 runs the plain net at 960x540 when it may use the cores, but a live run's CPU budget (``--cpu-share``,
half of two cores by default) holds it at 640x360 there, where the detail net holds 768x432 and is nearer the
paintings and steadier (README, Results). So a condition may also be the live run's CPU budget in cores
(``cpu_budget``, absent for runs over every frame or without a limit), compared with ``"<=X"`` or ``">=X"``.
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
    """What a variant's ``use_when`` is matched against: the engine kind and, on the CPU, the inference precision
    and the live run's CPU budget in cores (when it has one)."""
    if cfg.engine == "passthrough":
        return {"engine": "passthrough"}
    if gpu(cfg):
        return {"engine": "tensorrt"}
    from vcam.engines.cpu import cpu_budget
    from vcam.engines.cpu_runtime import resolve_precision

    here: dict = {"engine": "cpu", "cpu_precision": resolve_precision(cfg.cpu_precision)}
    budget = cpu_budget(cfg)
    if budget is not None:
        here["cpu_budget"] = round(budget, 3)
    return here


def condition_holds(want, have) -> bool:
    """One condition: equal, or for a number, ``"<=X"`` / ``">=X"`` (a missing value never holds)."""
    if have is None:
        return False
    if isinstance(want, str) and want[:2] in ("<=", ">="):
        if isinstance(have, bool) or not isinstance(have, (int, float)):
            return False
        try:
            bound = float(want[2:])
        except ValueError:
            return False
        return have <= bound if want[:2] == "<=" else have >= bound
    return have == want


def conditions_hold(want: dict, here: dict) -> bool:
    return bool(want) and all(condition_holds(v, here.get(k)) for k, v in want.items())


def choose_network(cfg: RunConfig, manifest: Manifest, say: Callable[[str], None] = print,
                   conditions: Callable[[RunConfig], dict] = run_conditions) -> Manifest:
    """The manifest of the network this run uses: the one ``cfg.network`` names, or for "auto" the first variant
    with one of its ``use_when`` alternatives holding here in full, else the plain network."""
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
        for want in variant.use_when():
            if conditions_hold(want, here):
                why = ", ".join(f"{k} {here[k]}" + (f" ({v})" if v != here[k] else "") for k, v in want.items())
                say(f"Network: {name} (chosen for {why}; --network {BASE_NETWORK} runs the other).")
                return variant
    return manifest
