"""The installed model: its manifest and files.

A model directory holds ``manifest.json`` (format, version, style names in order, settings, training record),
the ONNX graph the runtimes execute, ``styles.safetensors`` with each built-in style's code (version 2), and the
safetensors weights training resumes from. Nothing here imports torch or unpickles anything.

A manifest may also list **network variants** (``variants``): other networks for the same styles, in the same folder,
each with the fields that differ (its ONNX, weights, codes, shape, ladder) and when the engine should prefer it
(``use_when``, e.g. ``{"cpu_precision": "f32"}``: a CPU without bf16 holds a detail-head net at a higher size than the
plain one; a list of such dicts means any of them). ``Manifest.variant(name)`` is that network as a manifest of its
own; the person segmenter and the style encoder stay shared. vcam.engines.network_choice picks one for a run.

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
BASE_NETWORK = "plain"   # the name of the network the manifest's own fields describe


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
    network: str = BASE_NETWORK           # which of the folder's networks this is (see ``variant``)

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

    @property
    def networks(self) -> tuple[str, ...]:
        """The networks this folder holds: the plain one, then its variants."""
        return (BASE_NETWORK, *sorted(self._variants()))

    @property
    def code_space(self) -> str:
        """What a stored style's code is tied to: the plain network's ONNX hash. A variant fine-tuned from it shares
        its codes' meaning (the style encoder's codes serve both), so a style stored for one runs on the other."""
        return str(self.extra.get("code_space") or self.onnx_sha256)

    def use_when(self) -> list[dict]:
        """The conditions under which vcam.engines.network_choice prefers this network: alternatives, each a dict of
        conditions that must all hold (empty: only when asked). The manifest stores one dict or a list of them."""
        raw = self.extra.get("use_when") or []
        alternatives = raw if isinstance(raw, list) else [raw]
        if not all(isinstance(a, dict) for a in alternatives):
            raise ModelError(f"{self.directory / MANIFEST}: network {self.network!r} has a malformed use_when "
                             f"({raw!r}).", 'Write a dict of conditions, e.g. {"cpu_precision": "f32"}, or a list.')
        return [dict(a) for a in alternatives if a]

    def _variants(self) -> dict:
        v = self.extra.get("variants") or {}
        return v if isinstance(v, dict) else {}

    def variant(self, name: str) -> Manifest:
        """The folder's network ``name`` as a manifest: the variant's fields over the plain one's, same folder."""
        if name == self.network:
            return self
        if name == BASE_NETWORK and self.network != BASE_NETWORK:
            raise ModelError(f"Ask the folder's own manifest for {BASE_NETWORK!r}, not variant {self.network!r}.")
        entry = self._variants().get(name)
        if not isinstance(entry, dict):
            raise ModelError(f"The model in {self.directory} has no network {name!r}.",
                             "Choose one of: auto, " + ", ".join(self.networks))
        base = {k: v for k, v in self.extra.items() if k not in ("variants", "use_when")}
        data = {**base, **entry, "code_space": self.code_space}
        m = _from_data(self.directory, data, self.directory / MANIFEST, network=name)
        if m.styles != self.styles or m.style_dim != self.style_dim:
            raise ModelError(f"Network {name!r} in {self.directory / MANIFEST} lists other styles or another code "
                             f"width than the plain network ({m.styles} / {m.style_dim}).",
                             "Re-add the variant with `vcam export RUN --into MODELS --as NAME`.")
        return m


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
    return _from_data(directory, data, path)


def _from_data(directory: Path, data: dict, path: Path, network: str = BASE_NETWORK) -> Manifest:
    try:
        styles = tuple(str(s) for s in data["styles"])
        m = Manifest(directory=directory, styles=styles, onnx=str(data["onnx"]),
                     onnx_sha256=str(data.get("onnx_sha256", "")), weights=str(data.get("weights", "")),
                     state_channels=int(data["state_channels"]), size_multiple=int(data["size_multiple"]),
                     extra=data, version=int(data["version"]), style_codes=str(data.get("style_codes", STYLE_CODES)),
                     network=network)
        if m.version >= 2 and m.style_dim <= 0:
            raise ValueError("code_dim must be a positive integer")
        if not isinstance(data.get("variants", {}), dict):
            raise ValueError("variants must map names to networks")
    except (KeyError, TypeError, ValueError) as exc:
        where = "" if network == BASE_NETWORK else f" (network {network!r})"
        raise ModelError(f"The model manifest {path} is missing or has a bad field{where}: {exc}.") from exc
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
