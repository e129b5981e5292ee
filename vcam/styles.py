"""The installed model: its manifest, its styles, and the resolution of a style spec into weights.

A model directory holds ``manifest.json`` (format, version, style names in order, settings, training record),
the ONNX graph the runtimes execute, and the safetensors weights training resumes from. Nothing here imports
torch or unpickles anything.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from vcam.errors import ModelError, VcamError

MANIFEST = "manifest.json"
FORMAT = "vcam-model"
VERSION = 1


def default_model_dir() -> Path:
    """$VCAM_MODEL_DIR, else the models/ of this checkout, else the copy packaged with the wheel."""
    env = os.environ.get("VCAM_MODEL_DIR")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parent
    for cand in (here.parent / "models", here / "_models"):
        if (cand / MANIFEST).is_file():
            return cand
    return here.parent / "models"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class Manifest:
    directory: Path
    styles: tuple[str, ...]
    onnx: str
    onnx_sha256: str
    weights: str
    state_channels: int
    size_multiple: int
    extra: dict = field(default_factory=dict, compare=False)

    @property
    def onnx_path(self) -> Path:
        return self.directory / self.onnx

    @property
    def weights_path(self) -> Path:
        return self.directory / self.weights


def load_manifest(directory: Path | None = None) -> Manifest:
    directory = Path(directory) if directory else default_model_dir()
    path = directory / MANIFEST
    if not path.is_file():
        raise ModelError(f"No model manifest at {path}.",
                         "Reinstall vcam, or point VCAM_MODEL_DIR at a folder written by `vcam train`.")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"The model manifest {path} is corrupt ({exc}).",
                         "Reinstall vcam or re-run `vcam train` to write a new one.") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ModelError(f"{path} is not a vcam model manifest (format field missing or wrong).")
    if data.get("version") != VERSION:
        raise ModelError(f"{path} has manifest version {data.get('version')!r}; this vcam reads version {VERSION}.",
                         "Upgrade vcam, or re-export the model with this version (`vcam export`).")
    try:
        styles = tuple(str(s) for s in data["styles"])
        m = Manifest(directory=directory, styles=styles, onnx=str(data["onnx"]),
                     onnx_sha256=str(data.get("onnx_sha256", "")), weights=str(data.get("weights", "")),
                     state_channels=int(data["state_channels"]), size_multiple=int(data["size_multiple"]),
                     extra=data)
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"The model manifest {path} is missing or has a bad field: {exc}.") from exc
    if not styles or len(set(styles)) != len(styles):
        raise ModelError(f"The model manifest {path} lists no styles or a style twice.")
    return m


def write_manifest(directory: Path, data: dict) -> Path:
    data = {"format": FORMAT, "version": VERSION, **data}
    path = Path(directory) / MANIFEST
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def verify_onnx(manifest: Manifest) -> Path:
    """The ONNX file exists and matches the manifest's hash: a truncated or swapped file is named, not run."""
    path = manifest.onnx_path
    if not path.is_file():
        raise ModelError(f"The model file {path} named by {manifest.directory / MANIFEST} is missing.")
    if manifest.onnx_sha256 and sha256_file(path) != manifest.onnx_sha256:
        raise ModelError(f"The model file {path} does not match its manifest (corrupt or truncated).",
                         "Reinstall vcam, or re-export it with `vcam export`.")
    return path


def parse_style_spec(spec: str) -> dict[str, float]:
    """'starry_night' -> {starry_night: 1}; 'a=0.7,b=0.3' -> {a: 0.7, b: 0.3}; 'none' -> {}."""
    spec = spec.strip()
    if spec.lower() in ("", "none", "passthrough"):
        return {}
    out: dict[str, float] = {}
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        if "=" in part:
            name, _, w = part.partition("=")
            try:
                weight = float(w)
            except ValueError as exc:
                raise VcamError(f"Bad weight {w!r} in style blend {spec!r}.",
                                'Write a blend as "starry_night=0.7,the_scream=0.3".') from exc
        else:
            name, weight = part, 1.0
        if weight < 0:
            raise VcamError(f"Style weights must be >= 0 (got {part!r}).")
        out[name.strip()] = out.get(name.strip(), 0.0) + weight
    if out and sum(out.values()) <= 0:
        raise VcamError(f"The style blend {spec!r} has no positive weight.")
    return out


def resolve_blend(blend: dict[str, float], styles: tuple[str, ...]) -> list[float]:
    """Normalised weight vector in the model's style order; unknown names list the real ones."""
    unknown = [n for n in blend if n not in styles]
    if unknown:
        raise VcamError(f"Unknown style {', '.join(repr(u) for u in unknown)}.",
                        "Installed styles: " + ", ".join(styles) + " (or 'none' for passthrough).")
    total = sum(blend.values())
    return [blend.get(s, 0.0) / total for s in styles]
