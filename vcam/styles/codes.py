"""Blend weights -> the network's style input, for built-in styles and styles added while running."""

from __future__ import annotations

import threading

import numpy as np

from vcam.styles.manifest import Manifest
from vcam.styles.spec import resolve_blend

_CODE_CACHE_MAX = 256   # eased transitions make many one-off blends


class StyleCodes:
    """Style names -> codes, and a blend -> the network's (1, D) style input (the same blend of the codes).

    Starts with the model's built-in styles; ``add`` registers more while the stream runs (a stored user style, a
    picture sent to the control endpoint), from another thread: the frame thread reads a consistent snapshot.
    Results are cached (most frames repeat the last blend)."""

    def __init__(self, styles: tuple[str, ...], codes: np.ndarray) -> None:
        codes = np.ascontiguousarray(codes, np.float32)
        if codes.ndim != 2 or codes.shape[0] != len(styles):
            raise ValueError(f"{len(styles)} styles but codes of shape {codes.shape}")
        self.builtin = tuple(styles)
        self._codes = {n: codes[i] for i, n in enumerate(styles)}
        self._dim = int(codes.shape[1])
        self._lock = threading.Lock()
        self._cache: dict[tuple, np.ndarray] = {}

    @classmethod
    def of(cls, manifest: Manifest) -> StyleCodes:
        return cls(manifest.styles, manifest.codes())

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def styles(self) -> tuple[str, ...]:
        """Every name a blend may use: the built-in ones first, then those added, in order."""
        return tuple(self._codes)

    def code(self, name: str) -> np.ndarray:
        return self._codes[name].copy()

    def add(self, name: str, code: np.ndarray) -> None:
        """Register (or replace) a style; a replaced one's cached blends are dropped."""
        code = np.asarray(code, np.float32).reshape(-1)
        if code.shape != (self._dim,) or not np.isfinite(code).all():
            raise ValueError(f"a style code must be {self._dim} finite numbers (got shape {code.shape})")
        if name in self.builtin:
            raise ValueError(f"{name!r} is a built-in style")
        with self._lock:
            codes = dict(self._codes)
            codes[name] = code.copy()
            self._codes = codes          # one assignment: readers see the old or the new table, never half
            self._cache = {}

    def remove(self, name: str) -> None:
        if name in self.builtin:
            raise ValueError(f"{name!r} is a built-in style")
        with self._lock:
            codes = dict(self._codes)
            codes.pop(name, None)
            self._codes = codes
            self._cache = {}

    def __call__(self, weights: dict[str, float]) -> np.ndarray:
        key = tuple(sorted(weights.items()))
        cache = self._cache
        vec = cache.get(key)
        if vec is None:
            codes = self._codes
            names = tuple(codes)
            w = resolve_blend(weights, names)
            vec = np.zeros((1, self._dim), np.float32)
            for n, x in zip(names, w, strict=True):
                if x:
                    vec[0] += np.float32(x) * codes[n]
            if len(cache) >= _CODE_CACHE_MAX:
                cache.clear()
            cache[key] = vec
        return vec
