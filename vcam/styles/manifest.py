"""The installed model: its manifest and files.

A model directory holds ``manifest.json`` (format, version, style names in order, settings, training record),
the ONNX graph the runtimes execute, ``styles.safetensors`` with each built-in style's code (version 2), and the
safetensors weights training resumes from. Nothing here imports torch or unpickles anything.

The network's ``style`` input is a code vector (version 2): a blend of styles is the same blend of their codes
(vcam.styles.codes). A version-1 model took the blend weights themselves; it reads as codes that are the identity
matrix, so both kinds run through the same engines.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vcam.errors import ModelError

MANIFEST = "manifest.json"
STYLE_CODES = "styles.safetensors"
FORMAT = "vcam-model"
VERSION = 2
READABLE_VERSIONS = (1, 2)


def default_model_dir() -> Path:
    """$VCAM_MODEL_DIR, else the models/ of this checkout, else the copy packaged with the wheel."""
    env = os.environ.get("VCAM_MODEL_DIR")
    if env:
        return Path(env)
    package = Path(__file__).resolve().parents[1]      # vcam/
    for cand in (package.parent / "models", package / "_models"):
        if (cand / MANIFEST).is_file():
            return cand
    return package.parent / "models"


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
    version: int = VERSION
    style_codes: str = ""                 # version 2: the codes file beside the ONNX

    @property
    def onnx_path(self) -> Path:
        return self.directory / self.onnx

    @property
    def style_dim(self) -> int:
        """Width of the network's ``style`` input."""
        return int(self.extra.get("code_dim", 0)) if self.version >= 2 else len(self.styles)

    def codes(self) -> np.ndarray:
        """(S, style_dim) float32: the built-in styles' codes, in the order of ``styles``."""
        if self.version < 2:
            return np.eye(len(self.styles), dtype=np.float32)
        path = self.directory / self.style_codes
        if not path.is_file():
            raise ModelError(f"The style codes {path} named by {self.directory / MANIFEST} are missing.",
                             "Reinstall vcam, or re-export the model with `vcam export`.")
        try:
            from safetensors.numpy import load_file

            codes = load_file(str(path))["codes"].astype(np.float32)
        except Exception as exc:  # safetensors raises its own error types for bad headers or truncation
            raise ModelError(f"The style codes file {path} cannot be read ({type(exc).__name__}: {exc}).",
                             "Reinstall vcam, or re-export the model with `vcam export`.") from exc
        if codes.shape != (len(self.styles), self.style_dim):
            raise ModelError(f"The style codes in {path} have shape {codes.shape}; the manifest lists "
                             f"{len(self.styles)} styles of dimension {self.style_dim}.",
                             "Re-export the model with `vcam export`.")
        return codes

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
    version = data.get("version")
    if version not in READABLE_VERSIONS:
        raise ModelError(f"{path} has manifest version {version!r}; this vcam reads versions "
                         f"{', '.join(map(str, READABLE_VERSIONS))}.",
                         "Upgrade vcam, or re-export the model with this version (`vcam export`).")
    try:
        styles = tuple(str(s) for s in data["styles"])
        m = Manifest(directory=directory, styles=styles, onnx=str(data["onnx"]),
                     onnx_sha256=str(data.get("onnx_sha256", "")), weights=str(data.get("weights", "")),
                     state_channels=int(data["state_channels"]), size_multiple=int(data["size_multiple"]),
                     extra=data, version=int(version), style_codes=str(data.get("style_codes", STYLE_CODES)))
        if m.version >= 2 and m.style_dim <= 0:
            raise ValueError("code_dim must be a positive integer")
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
