"""The user's own styles: `vcam styles add NAME PICTURE` stores a code and a thumbnail in the config folder.

    <config dir>/styles/NAME.safetensors   the code (and the model it was made for, in the metadata)
    <config dir>/styles/NAME.png           a thumbnail of the picture (for people; vcam never reads it back)

Safe formats only (safetensors read with numpy, PNG): a stored style is data, never code. A code belongs to the
model that encoded it (its manifest's ONNX hash): a style stored for another model is listed as stale, with the
fix (add it again), rather than used.
"""

from __future__ import annotations

import contextlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vcam.control.paths import config_dir
from vcam.errors import VcamError

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,47}$")


@dataclass(frozen=True)
class UserStyle:
    name: str
    code: np.ndarray
    model: str           # the ONNX sha256 of the model it was made for
    source: str          # the picture's file name (for `vcam styles`)


def check_name(name: str, taken: tuple[str, ...] = ()) -> str:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise VcamError(f"Style name {name!r} is not allowed.",
                        "Use 1-48 letters, digits, '_' or '-', starting with a letter or digit.")
    if name in taken:
        raise VcamError(f"{name!r} is a built-in style.", "Pick another name.")
    return name


class UserStyles:
    def __init__(self, directory: Path | None = None) -> None:
        self.dir = Path(directory) if directory else config_dir() / "styles"

    def add(self, name: str, code: np.ndarray, model: str, source: str, thumbnail_png: bytes,
            builtin: tuple[str, ...] = ()) -> Path:
        from safetensors.numpy import save_file

        check_name(name, builtin)
        self.dir.mkdir(parents=True, exist_ok=True)
        path = self.dir / f"{name}.safetensors"
        tmp = path.with_name(f".{name}.tmp")
        save_file({"code": np.asarray(code, np.float32).reshape(1, -1)}, str(tmp),
                  metadata={"model": model, "source": source, "format": "vcam-style", "version": "1"})
        tmp.replace(path)
        (self.dir / f"{name}.png").write_bytes(thumbnail_png)
        return path

    def remove(self, name: str) -> None:
        check_name(name)
        path = self.dir / f"{name}.safetensors"
        if not path.is_file():
            raise VcamError(f"No stored style named {name!r}.", "See `vcam styles` for the list.")
        path.unlink()
        with contextlib.suppress(OSError):
            (self.dir / f"{name}.png").unlink()

    def load(self, name: str) -> UserStyle:
        from safetensors import safe_open

        path = self.dir / f"{name}.safetensors"
        try:
            with safe_open(str(path), framework="np") as f:
                meta = f.metadata() or {}
                code = f.get_tensor("code").astype(np.float32).reshape(-1)
        except FileNotFoundError:
            raise VcamError(f"No stored style named {name!r}.", "See `vcam styles` for the list.") from None
        except Exception as exc:  # safetensors raises its own types for damaged files
            raise VcamError(f"The stored style {path} is damaged ({type(exc).__name__}).",
                            f"Remove it (`vcam styles remove {name}`) and add it again.") from None
        return UserStyle(name, code, meta.get("model", ""), meta.get("source", ""))

    def names(self) -> list[str]:
        if not self.dir.is_dir():
            return []
        return sorted(p.stem for p in self.dir.glob("*.safetensors") if NAME_RE.match(p.stem))

    def usable(self, model: str, dim: int) -> tuple[list[UserStyle], list[str]]:
        """(styles made for this model, messages about the others): damaged or stale ones never stop a run."""
        ok, notes = [], []
        for n in self.names():
            try:
                s = self.load(n)
            except VcamError as exc:
                notes.append(f"{exc.message} {exc.hint or ''}".strip())
                continue
            if s.model != model or s.code.shape != (dim,):
                notes.append(f"Stored style {n!r} was made for another model: add it again with `vcam styles add "
                             f"{n} PICTURE`.")
                continue
            ok.append(s)
        return ok, notes

    def describe(self) -> list[dict]:
        out = []
        for n in self.names():
            try:
                s = self.load(n)
                out.append({"name": n, "source": s.source, "model": s.model[:12]})
            except VcamError as exc:
                out.append({"name": n, "error": str(exc).splitlines()[0]})
        return out


def to_json(styles: list[dict]) -> str:
    return json.dumps(styles, indent=2)
