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
- person-aware mode: the person and background strengths (each a number, or None = follow the strength; the
  regions "background" / "person" are person 0 / background 0) ease with the strength, and fade in and out with
  it from and to passthrough. The snapshot carries them only while one is set (or easing to or from one), so an
  engine sees None and skips the matte when person mode is off.
- auto-framing is a switch; its own damping (vcam.person.framing) eases the view in and out.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from vcam.errors import VcamError

QUALITIES = ("auto", "low", "medium", "high")
REGIONS = ("all", "background", "person")
# A region is a pair of overrides (person, background): None follows the strength.
REGION_OVERRIDES: dict[str, tuple[float | None, float | None]] = {
    "all": (None, None), "background": (0.0, None), "person": (None, 0.0)}
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
    person_strength: float | None = None      # eased, 0..1; None (with background None) = person mode off
    background_strength: float | None = None  # eased, 0..1
    # A picture behind the person (BGR uint8, any size; None = the camera's own room); the token changes with it.
    backdrop: object | None = None
    backdrop_token: int = 0
    framing: bool = False                # auto-framing (vcam.person.framing) on


def region_strengths(state: ControlState) -> tuple[float, float]:
    """(person, background) strengths for a frame: an unset one follows the strength."""
    p, b = state.person_strength, state.background_strength
    return (state.strength if p is None else p), (state.strength if b is None else b)


def resolve_region(region: str, person: float | None = None,
                   background: float | None = None) -> tuple[float | None, float | None]:
    """`--region` plus explicit `--person-strength` / `--background-strength` -> the (person, background) overrides:
    an explicit strength wins over the region's, None follows the strength."""
    p, b = Controls._check_region(region)
    p = p if person is None else Controls._check_strength(person)
    b = b if background is None else Controls._check_strength(background)
    return p, b


def region_name(person: float | None, background: float | None) -> str:
    """'all', 'background' (only the background painted), 'person', or 'custom' for other settings."""
    if person is None and background is None:
        return "all"
    if person == 0.0 and background != 0.0:
        return "background"
    if background == 0.0 and person != 0.0:
        return "person"
    return "custom"


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
                 quality: str = "auto", person_strength: float | None = None,
                 background_strength: float | None = None) -> None:
        self.styles = tuple(styles)
        self.transition_s = self._check_transition(transition_s)
        self._clock = clock
        self._lock = threading.Lock()
        target = self._normalise(blend or {})
        self._strength = self._check_strength(strength)   # the user's setting
        self._person = self._check_optional(person_strength)      # None = follow the strength
        self._background = self._check_optional(background_strength)
        # Called before person mode is switched on (the runner installs a check that the segmenter can load): a
        # missing person.onnx is refused at the request, with the reason, and the look stays as it was.
        self.person_check: Callable[[], None] | None = None
        self.framing_check: Callable[[], None] | None = None   # the same for auto-framing (its segmenter)
        self._framing = False
        self._target_w = target                             # the user's blend; {} = passthrough
        # The eased segment currently shown: from -> to, started at _t_change (None = at rest on the target).
        self._from_w = dict(target)
        self._to_w = dict(target)
        self._from_s = self._to_s = self._strength
        self._from_pb = self._to_pb = self._region_now()
        self._from_ovr = self._to_ovr = self._overridden()
        self._t_change: float | None = None
        self._paused = False
        self._reset_token = 0
        self._backdrop = None          # BGR uint8 picture behind the person (not stored in presets: it is bytes)
        self._backdrop_token = 0
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

    @classmethod
    def _check_optional(cls, v: float | None) -> float | None:
        return None if v is None else cls._check_strength(v)

    @staticmethod
    def _check_region(name: str) -> tuple[float | None, float | None]:
        if not isinstance(name, str) or name.strip().lower() not in REGIONS:
            raise VcamError(f"Unknown region {name!r}.", "Choose one of: " + ", ".join(REGIONS))
        return REGION_OVERRIDES[name.strip().lower()]

    def _check_person(self, person: float | None, background: float | None) -> None:
        if (person is not None or background is not None) and self.person_check is not None:
            self.person_check()

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
    def _overridden(self) -> bool:
        return self._person is not None or self._background is not None

    def _region_now(self, strength: float | None = None) -> tuple[float, float]:
        s = self._strength if strength is None else strength
        return (s if self._person is None else self._person), (s if self._background is None else self._background)

    def _progress(self, now: float) -> float:
        if self._t_change is None or self.transition_s <= 0:
            return 1.0
        return _smoothstep((now - self._t_change) / self.transition_s)

    def _current(self, now: float) -> tuple[dict[str, float], float, bool, tuple[float, float] | None]:
        """The eased blend, strength, whether easing, and the eased (person, background) strengths (None while
        person mode is off and not easing to or from it)."""
        a = self._progress(now)
        if a >= 1.0:
            self._t_change = None
            return dict(self._target_w), self._strength, False, (self._region_now() if self._overridden() else None)
        names = set(self._from_w) | set(self._to_w)
        w = {n: (1 - a) * self._from_w.get(n, 0.0) + a * self._to_w.get(n, 0.0) for n in names}
        pb = None
        if self._from_ovr or self._to_ovr:
            pb = ((1 - a) * self._from_pb[0] + a * self._to_pb[0], (1 - a) * self._from_pb[1] + a * self._to_pb[1])
        return {n: v for n, v in w.items() if v > 0}, (1 - a) * self._from_s + a * self._to_s, True, pb

    def _begin(self, weights: dict[str, float] | None, strength: float | None,
               overrides: tuple[float | None, float | None] | None = None) -> None:
        now = self._clock()
        cur_w, cur_s, _, cur_pb = self._current(now)
        from_ovr = cur_pb is not None
        cur_pb = cur_pb if cur_pb is not None else (cur_s, cur_s)
        if weights is not None:
            self._target_w = weights
        if strength is not None:
            self._strength = strength
        if overrides is not None:
            self._person, self._background = overrides
        self.version += 1
        if not cur_w:
            if not self._target_w:
                self._t_change = None      # passthrough stays passthrough: nothing to ease
                return
            # From passthrough, fade the look in by strength rather than blending from nothing.
            cur_w, cur_s, cur_pb = dict(self._target_w), 0.0, (0.0, 0.0)
        self._from_w, self._from_s, self._from_pb, self._from_ovr = cur_w, cur_s, cur_pb, from_ovr
        self._to_ovr = self._overridden()
        if self._target_w:
            self._to_w, self._to_s, self._to_pb = dict(self._target_w), self._strength, self._region_now()
        else:
            # To passthrough: hold the weights (they must keep summing to 1) and fade the strength out.
            self._to_w, self._to_s, self._to_pb = dict(cur_w), 0.0, (0.0, 0.0)
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

    def set_region(self, name: str) -> None:
        """all | background | person: which part is painted at the strength (the other at 0)."""
        pb = self._check_region(name)
        self._check_person(*pb)
        with self._lock:
            self._begin(None, None, pb)

    def set_person_strength(self, value: float | None) -> None:
        """The person's strength (None: follow the strength)."""
        v = self._check_optional(value)
        with self._lock:
            pb = (v, self._background)
        self._check_person(*pb)
        with self._lock:
            self._begin(None, None, (v, self._background))

    def set_background_strength(self, value: float | None) -> None:
        """The background's strength (None: follow the strength)."""
        v = self._check_optional(value)
        with self._lock:
            pb = (self._person, v)
        self._check_person(*pb)
        with self._lock:
            self._begin(None, None, (self._person, v))

    def cycle_region(self) -> str:
        """all -> background -> person -> all (a key); returns the new region."""
        with self._lock:
            cur = region_name(self._person, self._background)
        nxt = REGIONS[(REGIONS.index(cur) + 1) % len(REGIONS)] if cur in REGIONS else "all"
        self.set_region(nxt)
        return nxt

    def set_backdrop(self, picture: object | None) -> None:
        """A picture (BGR uint8 HxWx3) to put behind the person, or None for the camera's room again."""
        if picture is not None:
            import numpy as np

            if not isinstance(picture, np.ndarray) or picture.dtype != np.uint8 or picture.ndim != 3 \
                    or picture.shape[2] != 3:
                raise VcamError("A background picture must be a decoded colour image.")
            self._check_person(0.0, None)
        with self._lock:
            self._backdrop = picture
            self._backdrop_token += 1
            self.version += 1

    def set_framing(self, on: bool) -> None:
        """Auto-framing on or off (off eases back out to the whole frame)."""
        if not isinstance(on, bool):
            raise VcamError("Auto-framing is on or off.", "Use `vcam ctl frame auto` or `vcam ctl frame off`.")
        if on and self.framing_check is not None:
            self.framing_check()
        with self._lock:
            self._framing = on
            self.version += 1

    def toggle_framing(self) -> bool:
        """A key: returns the new setting."""
        with self._lock:
            on = not self._framing
        self.set_framing(on)
        return on

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

    def apply_look(self, blend: Mapping[str, float], strength: float, quality: str, ease: bool = True,
                   person: float | None = None, background: float | None = None) -> None:
        """Set blend, strength, quality and the region strengths at once (a preset: a look without person or
        background strengths paints everything): all validated before anything changes.

        ``ease=False`` jumps straight there (before the first frame, e.g. `vcam run --preset`).
        """
        w, s, q = self._normalise(blend), self._check_strength(strength), self._check_quality(quality)
        pb = (self._check_optional(person), self._check_optional(background))
        self._check_person(*pb)
        with self._lock:
            self._quality = q
            self._begin(w, s, pb)
            if not ease:
                self._t_change = None

    # -- readers ------------------------------------------------------------------------------------
    def snapshot(self) -> ControlState:
        """What the engine uses for the next frame (the pipeline calls this once per frame)."""
        with self._lock:
            w, s, moving, pb = self._current(self._clock())
            p, b = pb if pb is not None else (None, None)
            return ControlState(weights=w, strength=s, paused=self._paused, reset_token=self._reset_token,
                                backdrop=self._backdrop, backdrop_token=self._backdrop_token,
                                quality=self._quality, target=dict(self._target_w), transitioning=moving,
                                person_strength=p, background_strength=b, framing=self._framing)

    def look(self) -> dict:
        """The user's settings (targets, not eased values): what a preset stores. "person" and "background" appear
        only when set (absent: they follow the strength)."""
        with self._lock:
            out: dict = {"blend": dict(self._target_w), "strength": self._strength, "quality": self._quality}
            for key, v in (("person", self._person), ("background", self._background)):
                if v is not None:
                    out[key] = v
            return out

    def as_dict(self) -> dict:
        """Everything a status report shows, read under one lock so the fields agree."""
        with self._lock:
            w, s, moving, pb = self._current(self._clock())
            return {"styles": list(self.styles), "style": describe_blend(self._target_w),
                    "blend": dict(self._target_w), "current": w, "strength": self._strength,
                    "current_strength": round(s, 6), "paused": self._paused, "quality": self._quality,
                    "transition_s": self.transition_s, "transitioning": moving,
                    "reset_token": self._reset_token, "version": self.version,
                    "frame": "auto" if self._framing else "off",
                    "background_image": None if self._backdrop is None else
                    f"{self._backdrop.shape[1]}x{self._backdrop.shape[0]}",
                    "region": region_name(self._person, self._background), "person_strength": self._person,
                    "background_strength": self._background,
                    "current_region": None if pb is None else [round(pb[0], 6), round(pb[1], 6)]}
