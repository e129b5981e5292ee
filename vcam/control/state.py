"""The one thread-safe object through which controls reach the running pipeline.

Writers (preview keys, terminal keys, the localhost endpoint, the CLI) call the setters from any thread; the
pipeline calls ``snapshot()`` once per frame and hands the immutable result to the engine. Style and strength
changes ease in over ``transition_s`` (smoothstep), so a switch is a short cross-fade of the style
parameters, not a jump; the network's recurrent state smooths what is left.

Easing rules (each change starts from what is on screen at that moment, so a change in the middle of a
transition never jumps):

- style A -> style/blend B: the weights cross-fade; they stay a convex combination (sum 1) all the way, which
  is what the network's conditional instance norm expects.
- passthrough -> a style: the weights are B from the first frame and the strength fades in from 0.
- a style -> passthrough ("none"): the weights stay where they are and the strength fades out to 0; only then
  do the weights become empty (the engine's passthrough).
- strength changes ease the same way; pause, reset and quality take effect on the next frame.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from vcam.errors import VcamError

QUALITIES = ("auto", "low", "medium", "high")
NONE_NAMES = ("none", "passthrough")
MAX_TRANSITION_S = 10.0


@dataclass(frozen=True)
class ControlState:
    weights: dict[str, float]            # the eased blend now (sums to 1); empty = passthrough
    strength: float                      # eased, 0..1
    paused: bool = False                 # passthrough without touching the style settings
    reset_token: int = 0                 # changes when the user asks to reset the recurrent state
    quality: str = "auto"
    target: dict[str, float] = field(default_factory=dict)  # where the blend is heading
    transitioning: bool = False


def _smoothstep(x: float) -> float:
    x = min(max(x, 0.0), 1.0)
    return x * x * (3 - 2 * x)


def describe_blend(weights: Mapping[str, float]) -> str:
    """A short label for the HUD and status: 'none', 'starry_night', 'starry_night 70% + udnie 30%'."""
    if not weights:
        return "none"
    items = sorted(weights.items(), key=lambda kv: (-kv[1], kv[0]))
    if len(items) == 1:
        return items[0][0]
    return " + ".join(f"{n} {round(w * 100)}%" for n, w in items)


def _is_number(v: object) -> bool:
    # bool is an int subclass; True as a weight or a strength is a client bug, not 1.0.
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


class Controls:
    def __init__(self, styles: tuple[str, ...], blend: dict[str, float] | None = None, strength: float = 1.0,
                 transition_s: float = 0.3, clock: Callable[[], float] = time.monotonic,
                 quality: str = "auto") -> None:
        self.styles = tuple(styles)
        self.transition_s = self._check_transition(transition_s)
        self._clock = clock
        self._lock = threading.Lock()
        target = self._normalise(blend or {})
        self._strength = self._check_strength(strength)   # the user's setting
        self._target_w = target                             # the user's blend; {} = passthrough
        # The eased segment currently shown: from -> to, started at _t_change (None = at rest on the target).
        self._from_w = dict(target)
        self._to_w = dict(target)
        self._from_s = self._to_s = self._strength
        self._t_change: float | None = None
        self._paused = False
        self._reset_token = 0
        self._quality = self._check_quality(quality)
        self.version = 0                  # bumps on every change (status endpoints, tests)

    # -- validation ---------------------------------------------------------------------------------
    def _normalise(self, blend: Mapping[str, float]) -> dict[str, float]:
        if not isinstance(blend, Mapping):
            raise VcamError("A style blend must map style names to weights.")
        unknown = [n for n in blend if n not in self.styles]
        if unknown:
            installed = ", ".join(self.styles) if self.styles else "(none: this engine has no styles)"
            raise VcamError(f"Unknown style {', '.join(repr(u) for u in unknown)}.",
                            f"Installed styles: {installed} (or 'none').")
        if not all(_is_number(w) and w >= 0 for w in blend.values()):
            raise VcamError("Style weights must be finite numbers >= 0.")
        total = float(sum(blend.values()))
        if blend and total <= 0:
            raise VcamError("A style blend needs at least one positive weight.")
        return {n: float(w) / total for n, w in blend.items() if w > 0}

    @staticmethod
    def _check_strength(v: float) -> float:
        if not _is_number(v) or not 0.0 <= v <= 1.0:
            raise VcamError(f"Strength must be a number between 0 and 1 (got {v!r}).")
        return float(v)

    @staticmethod
    def _check_quality(q: str) -> str:
        if q not in QUALITIES:
            raise VcamError(f"Unknown quality {q!r}.", "Choose one of: " + ", ".join(QUALITIES))
        return q

    @staticmethod
    def _check_transition(t: float) -> float:
        if not _is_number(t) or not 0.0 <= t <= MAX_TRANSITION_S:
            raise VcamError(f"The transition time must be between 0 and {MAX_TRANSITION_S:g} s (got {t!r}).")
        return float(t)

    def _style_blend(self, name: str) -> dict[str, float]:
        if not isinstance(name, str):
            raise VcamError(f"A style name must be text (got {name!r}).")
        return {} if name.strip().lower() in NONE_NAMES else self._normalise({name: 1.0})

    # -- current eased values (lock held) -----------------------------------------------------------
    def _progress(self, now: float) -> float:
        if self._t_change is None or self.transition_s <= 0:
            return 1.0
        return _smoothstep((now - self._t_change) / self.transition_s)

    def _current(self, now: float) -> tuple[dict[str, float], float, bool]:
        a = self._progress(now)
        if a >= 1.0:
            self._t_change = None
            return dict(self._target_w), self._strength, False
        names = set(self._from_w) | set(self._to_w)
        w = {n: (1 - a) * self._from_w.get(n, 0.0) + a * self._to_w.get(n, 0.0) for n in names}
        return {n: v for n, v in w.items() if v > 0}, (1 - a) * self._from_s + a * self._to_s, True

    def _begin(self, weights: dict[str, float] | None, strength: float | None) -> None:
        now = self._clock()
        cur_w, cur_s, _ = self._current(now)
        if weights is not None:
            self._target_w = weights
        if strength is not None:
            self._strength = strength
        self.version += 1
        if not cur_w:
            if not self._target_w:
                self._t_change = None      # passthrough stays passthrough: nothing to ease
                return
            # From passthrough, fade the look in by strength rather than blending from nothing.
            cur_w, cur_s = dict(self._target_w), 0.0
        self._from_w, self._from_s = cur_w, cur_s
        if self._target_w:
            self._to_w, self._to_s = dict(self._target_w), self._strength
        else:
            # To passthrough: hold the weights (they must keep summing to 1) and fade the strength out.
            self._to_w, self._to_s = dict(cur_w), 0.0
        self._t_change = now

    # -- setters (any thread) -----------------------------------------------------------------------
    def add_style(self, name: str) -> None:
        """Accept one more style name (a stored style or a picture the engine now has a code for)."""
        if not isinstance(name, str) or not name or name.strip().lower() in NONE_NAMES:
            raise VcamError(f"Bad style name {name!r}.")
        with self._lock:
            if name not in self.styles:
                self.styles = (*self.styles, name)
                self.version += 1

    def set_blend(self, blend: Mapping[str, float]) -> None:
        w = self._normalise(blend)
        with self._lock:
            self._begin(w, None)

    def set_style(self, name: str) -> None:
        w = self._style_blend(name)
        with self._lock:
            self._begin(w, None)

    def set_strength(self, value: float) -> None:
        v = self._check_strength(value)
        with self._lock:
            self._begin(None, v)

    def nudge_strength(self, delta: float) -> None:
        with self._lock:
            # Rounded so ten presses of +0.1 land on 1.0, not 0.9999999999999999.
            v = round(min(1.0, max(0.0, self._strength + delta)), 6)
            self._begin(None, v)

    def set_paused(self, paused: bool) -> None:
        with self._lock:
            self._paused = bool(paused)
            self.version += 1

    def toggle_pause(self) -> None:
        with self._lock:
            self._paused = not self._paused
            self.version += 1

    def request_reset(self) -> None:
        with self._lock:
            self._reset_token += 1
            self.version += 1

    def set_quality(self, quality: str) -> None:
        q = self._check_quality(quality)
        with self._lock:
            self._quality = q
            self.version += 1

    def set_transition(self, seconds: float) -> None:
        t = self._check_transition(seconds)
        with self._lock:
            self.transition_s = t
            self.version += 1

    def apply_look(self, blend: Mapping[str, float], strength: float, quality: str, ease: bool = True) -> None:
        """Set blend, strength and quality at once (a preset): all validated before anything changes.

        ``ease=False`` jumps straight there (before the first frame, e.g. `vcam run --preset`).
        """
        w, s, q = self._normalise(blend), self._check_strength(strength), self._check_quality(quality)
        with self._lock:
            self._quality = q
            self._begin(w, s)
            if not ease:
                self._t_change = None

    # -- readers ------------------------------------------------------------------------------------
    def snapshot(self) -> ControlState:
        """What the engine uses for the next frame (the pipeline calls this once per frame)."""
        with self._lock:
            w, s, moving = self._current(self._clock())
            return ControlState(weights=w, strength=s, paused=self._paused, reset_token=self._reset_token,
                                quality=self._quality, target=dict(self._target_w), transitioning=moving)

    def look(self) -> dict:
        """The user's settings (targets, not eased values): what a preset stores."""
        with self._lock:
            return {"blend": dict(self._target_w), "strength": self._strength, "quality": self._quality}

    def as_dict(self) -> dict:
        """Everything a status report shows, read under one lock so the fields agree."""
        with self._lock:
            w, s, moving = self._current(self._clock())
            return {"styles": list(self.styles), "style": describe_blend(self._target_w),
                    "blend": dict(self._target_w), "current": w, "strength": self._strength,
                    "current_strength": round(s, 6), "paused": self._paused, "quality": self._quality,
                    "transition_s": self.transition_s, "transitioning": moving,
                    "reset_token": self._reset_token, "version": self.version}
