"""Named looks (blend, strength, quality, person-aware strengths) in one JSON file in the user's config dir (see
paths.py).

File format (``presets.json``)::

    {"format": "vcam-presets", "version": 1,
     "presets": {"calm": {"blend": {"starry_night": 0.7, "udnie": 0.3}, "strength": 0.8, "quality": "auto"},
                 "room": {"blend": {"udnie": 1.0}, "strength": 1.0, "quality": "auto", "person": 0.0}}}

``person`` / ``background`` (0..1) are optional: absent, that region follows ``strength`` (files written before
person-aware mode read unchanged; such a look paints everything).

Names are ``[A-Za-z0-9_-]{1,40}``: they are keys in this file, never paths.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from vcam.control.paths import config_dir
from vcam.control.state import QUALITIES, Controls, _is_number
from vcam.errors import VcamError

FILE_NAME = "presets.json"
FORMAT = "vcam-presets"
VERSION = 1
NAME_RE = re.compile(r"[A-Za-z0-9_-]{1,40}")


def check_name(name: object) -> str:
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise VcamError(f"Bad preset name {name!r}.", "Use 1-40 letters, digits, '_' or '-'.")
    return name


@dataclass(frozen=True)
class Look:
    blend: dict[str, float]
    strength: float = 1.0
    quality: str = "auto"
    person: float | None = None        # None: follows strength
    background: float | None = None

    @classmethod
    def from_dict(cls, data: object, where: str) -> Look:
        """Validate one stored entry; ``where`` names the preset and file in the error."""
        if not isinstance(data, Mapping):
            raise VcamError(f"{where} is not an object.")
        blend, strength, quality = data.get("blend", {}), data.get("strength", 1.0), data.get("quality", "auto")
        if not isinstance(blend, Mapping) or not all(
                isinstance(k, str) and _is_number(v) and v >= 0 for k, v in blend.items()):
            raise VcamError(f"{where} has a bad blend (style names to weights >= 0 expected).")
        if not _is_number(strength) or not 0 <= strength <= 1:
            raise VcamError(f"{where} has a bad strength {strength!r} (0..1 expected).")
        if quality not in QUALITIES:
            raise VcamError(f"{where} has a bad quality {quality!r} (one of {', '.join(QUALITIES)}).")
        regions = {}
        for key in ("person", "background"):
            v = data.get(key)
            if v is not None and (not _is_number(v) or not 0 <= v <= 1):
                raise VcamError(f"{where} has a bad {key} strength {v!r} (0..1 expected).")
            regions[key] = None if v is None else float(v)
        return cls(blend={k: float(v) for k, v in blend.items()}, strength=float(strength), quality=quality,
                   **regions)

    def to_dict(self) -> dict:
        out: dict = {"blend": dict(self.blend), "strength": self.strength, "quality": self.quality}
        for key, v in (("person", self.person), ("background", self.background)):
            if v is not None:
                out[key] = v
        return out


class PresetStore:
    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path else config_dir() / FILE_NAME
        self._lock = threading.Lock()   # the control server saves from its request threads

    # -- file ---------------------------------------------------------------------------------------
    def _corrupt(self, why: str) -> VcamError:
        return VcamError(f"The preset file {self.path} is corrupt ({why}).",
                         f"Fix it by hand, or delete {self.path} to start over (this loses the saved presets).")

    def _read(self) -> dict[str, Look]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except (OSError, UnicodeDecodeError) as exc:
            raise self._corrupt(f"cannot be read: {exc}") from exc
        try:
            data = json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise self._corrupt(f"not valid JSON: {exc}") from exc
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise self._corrupt("not a vcam preset file: the format field is missing or wrong")
        if data.get("version") != VERSION:
            raise VcamError(f"The preset file {self.path} has version {data.get('version')!r}; "
                            f"this vcam reads version {VERSION}.", "Upgrade vcam, or move the file away.")
        presets = data.get("presets")
        if not isinstance(presets, dict):
            raise self._corrupt("'presets' is not an object")
        out: dict[str, Look] = {}
        for name, entry in presets.items():
            if not isinstance(name, str) or not NAME_RE.fullmatch(name):
                raise self._corrupt(f"bad preset name {name!r}")
            try:
                out[name] = Look.from_dict(entry, f"Preset {name!r}")
            except VcamError as exc:
                raise self._corrupt(exc.message) from exc
        return out

    def _write(self, presets: dict[str, Look]) -> None:
        data = {"format": FORMAT, "version": VERSION,
                "presets": {n: presets[n].to_dict() for n in sorted(presets)}}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
            tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
            tmp.replace(self.path)   # atomic: a crash never leaves half a file
        except OSError as exc:
            raise VcamError(f"Cannot write the preset file {self.path}: {exc}.",
                            "Check the permissions of that folder, or set VCAM_CONFIG_DIR.") from exc

    # -- API ----------------------------------------------------------------------------------------
    def all(self) -> dict[str, Look]:
        with self._lock:
            return self._read()

    def names(self) -> list[str]:
        return sorted(self.all())

    def get(self, name: str) -> Look:
        check_name(name)
        presets = self.all()
        if name not in presets:
            have = ", ".join(sorted(presets)) or "none saved yet"
            raise VcamError(f"No preset named {name!r}.", f"Saved presets: {have} (in {self.path}).")
        return presets[name]

    def save(self, name: str, look: Look) -> None:
        check_name(name)
        with self._lock:
            presets = self._read()
            presets[name] = look
            self._write(presets)

    def delete(self, name: str) -> None:
        check_name(name)
        with self._lock:
            presets = self._read()
            if name not in presets:
                raise VcamError(f"No preset named {name!r} to delete.",
                                f"Saved presets: {', '.join(sorted(presets)) or 'none'}.")
            del presets[name]
            self._write(presets)


def save_current(controls: Controls, name: str, store: PresetStore | None = None) -> Look:
    look = Look.from_dict(controls.look(), "The current look")
    (store or PresetStore()).save(name, look)
    return look


def apply_preset(controls: Controls, name: str, store: PresetStore | None = None, ease: bool = True) -> Look:
    """Ease the running look to a saved preset; `vcam run --preset NAME` calls it with ease=False at start."""
    store = store or PresetStore()
    look = store.get(name)
    try:
        controls.apply_look(look.blend, look.strength, look.quality, ease=ease, person=look.person,
                            background=look.background)
    except VcamError as exc:
        raise VcamError(f"Preset {name!r} cannot be applied: {exc.message}",
                        exc.hint or f"Re-save it, or edit {store.path}.") from exc
    return look
