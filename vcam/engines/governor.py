"""Adaptive quality: hold the target frame rate by choosing the network's internal resolution, and save CPU when
the scene is static.

Per frame the engine asks ``decide()`` what to do and reports the measured step time with ``record()``:
- ``infer``: run the network at ``internal`` (the current rung of a ladder of internal heights);
- ``reuse``: the low-res frame barely changed since the last inference: reuse that network output (the guided
  filter still applies it to the new camera frame, so camera noise and small motion stay live);
- ``warp``: even the lowest rung is too slow: stylize every other frame and, in between, warp the last network
  output with DIS optical flow at low resolution.

Rung changes use hysteresis: step down after a few frames over budget, step up only after a long stretch with room
to spare at the next rung (predicted from the measured inference time and the pixel ratio), and a rung that was
too slow is not retried for a while (longer each time it fails again).

On a live run the governor also holds a CPU budget (``cpu_budget``: process CPU seconds per wall second, from
``RunConfig.cpu_share`` of the cores), so the call app beside vcam keeps the rest: it climbs only when the next
rung's predicted CPU fits, steps down (never into alternate frames) when the measured CPU stays over, and while
the CPU is what holds the picture back it says so (``cpu_bound``), and the engine then lets its thread picker
choose the runner that costs the least CPU instead of the fastest.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

from vcam.config import Size
from vcam.engines.cpu_meter import CpuMeter
from vcam.ops.params import DEFAULT_RUNG, LADDER_720, SCENE, SIZE_MULTIPLE

# The share of the frame budget the network may take at the start rung fit_start picks (the rest: pre/post work).
START_SHARE = 0.75
# The share of the CPU budget's per-frame time the network may take at the start rung: capture, pre/post-processing
# and the sinks take the rest (about half of a live 720p frame's process CPU on an AVX2 Zen 3 at 512x288).
START_CPU_SHARE = 0.55
# A climb must leave this much of the CPU budget unused, by prediction: the step down happens at the whole budget.
CPU_CLIMB_SHARE = 0.9
CPU_BOUND_HOLD_S = 30.0
# While the CPU budget holds the picture back, the step time may reach this share of the frame interval before the
# governor gives the saving up (the fastest runner back) or steps down.
RATE_FIRST_SHARE = 0.95
# How long a rung where the cheaper runner cost the frame rate keeps the fastest one (doubling each time again).
RATE_FIRST_HOLD_S = 60.0
MIN_INTERNAL = 32         # the network's dilated blocks need at least a few rows/cols at the trunk
QUALITY_RUNG = {"low": 0, "medium": None, "high": -1}   # None: the model's starting rung


def _round_to(v: float, m: int) -> int:
    return max(m, int(round(v / m)) * m)


@dataclass(frozen=True)
class InternalSize:
    """The network input size for one rung: ``size`` the frame is downscaled to, ``padded`` what the net runs at
    (``size`` rounded up to the model's size multiple, filled by edge reflection; the output is cropped back)."""

    size: Size
    padded: Size

    @classmethod
    def for_height(cls, output: Size, height: int, multiple: int = SIZE_MULTIPLE) -> InternalSize:
        h = max(MIN_INTERNAL, int(height))
        w = max(MIN_INTERNAL, int(round(h * output.width / output.height)))
        pad = lambda v: int(math.ceil(v / multiple)) * multiple  # noqa: E731
        return cls(Size(w, h), Size(pad(w), pad(h)))


@dataclass(frozen=True)
class Ladder:
    """A model's internal sizes, as heights for a 720p output (other outputs scale them), where it starts, and
    the multiple its H and W must have. From the manifest (``ladder_720``, ``internal_height_720``,
    ``size_multiple``); a model without them gets the first model's (144..360, starting at 180, multiple 4)."""

    heights_720: tuple[int, ...] = LADDER_720
    start_720: int = LADDER_720[DEFAULT_RUNG]
    multiple: int = SIZE_MULTIPLE

    @classmethod
    def of(cls, extra: dict) -> Ladder:
        heights = tuple(int(h) for h in extra.get("ladder_720") or LADDER_720)
        start = int(extra.get("internal_height_720") or heights[min(DEFAULT_RUNG, len(heights) - 1)])
        if start not in heights:
            start = heights[min(DEFAULT_RUNG, len(heights) - 1)]
        return cls(heights, start, int(extra.get("size_multiple") or SIZE_MULTIPLE))

    @property
    def start_rung(self) -> int:
        return self.heights_720.index(self.start_720)

    def sizes(self, output: Size) -> list[InternalSize]:
        """The 720p heights as height ratios applied to ``output``: exact ratios such as 4 or 4/3 let the upsampler
        run in cache-sized bands, so heights are H / ratio when that is a whole number."""
        sizes: list[InternalSize] = []
        for h720 in self.heights_720:
            r = Fraction(720, h720)
            exact = Fraction(output.height) / r
            h = int(exact) if exact.denominator == 1 else int(round(float(exact)))
            h = min(h, max(MIN_INTERNAL, output.height))
            s = InternalSize.for_height(output, h, self.multiple)
            if not sizes or s.size != sizes[-1].size:
                sizes.append(s)
        return sizes


def ladder_for(output: Size, ladder: Ladder | None = None) -> list[InternalSize]:
    return (ladder or Ladder()).sizes(output)


def default_internal(output: Size, ladder: Ladder | None = None) -> InternalSize:
    ladder = ladder or Ladder()
    lad = ladder.sizes(output)
    return lad[min(ladder.start_rung, len(lad) - 1)]


class Governor:
    """Chooses the internal size and the per-frame action from measured step times (milliseconds)."""

    def __init__(self, output: Size, target_fps: float = 30.0, adaptive: bool = True,
                 fixed_height: int | None = None, budget_fraction: float = 0.8,
                 down_after: int = 6, up_after: int = 45, cooldown: int = 15, ladder: Ladder | None = None,
                 cpu_budget: float | None = None, meter: CpuMeter | None = None, cpu_down_after: int = 150
                 ) -> None:
        self.model_ladder = ladder or Ladder()
        self.start = self.model_ladder.start_rung
        self.target_fps = float(target_fps) if target_fps > 0 else 30.0
        self.adaptive = adaptive
        self.fixed_height = fixed_height
        # The engine gets this share of a frame; capture conversion and the sinks need the rest.
        self.budget_ms = 1000.0 / self.target_fps * budget_fraction
        self.down_after, self.up_after, self.cooldown = down_after, up_after, cooldown
        self.quality = "auto"
        self.output = output
        # Whether a rung can run at full speed now (the engine's runner has its graph compiled); None: always. A
        # rung that cannot waits (its compile runs in the background) instead of running the slower dynamic graph,
        # whose scratch memory would then stay at the size's high-water mark for the rest of the run (issue 14).
        self.ready: Callable[[InternalSize], bool] | None = None
        self._net_ms_per_px: float | None = None   # from the engine's start-up probe (fit_start)
        self._net_cpu_ms_per_px: float | None = None
        # CPU seconds per wall second the run may use; None: no limit (runs over every frame, or the user's choice).
        self.cpu_budget = cpu_budget if cpu_budget and cpu_budget > 0 else None
        self.meter = (meter or CpuMeter()) if self.cpu_budget else None
        # Inferred frames over the CPU budget before a step down: time for the thread picker to try the cheaper
        # runner first (it re-measures within ~40 inferences of being asked to save CPU).
        self.cpu_down_after = cpu_down_after
        self._cpu_bound_until = -1
        # Rungs where saving CPU cost the frame rate (a cheaper runner went over the frame budget): there the fastest
        # runner stays for a while (frame, until), doubling each time; the frame rate comes before the CPU share.
        self._rate_first: dict[int, int] = {}
        self._rate_first_count: dict[int, int] = {}
        self._reset_for(output)

    # -- configuration ---------------------------------------------------------------------------------------
    def _reset_for(self, output: Size) -> None:
        self.output = output
        if self.fixed_height:
            self.ladder = [InternalSize.for_height(output, self.fixed_height, self.model_ladder.multiple)]
        else:
            self.ladder = self.model_ladder.sizes(output)
        self.rung = min(self.start, len(self.ladder) - 1)
        if self.quality in QUALITY_RUNG and not self.fixed_height:
            self.rung = min(self._quality_rung(self.quality), len(self.ladder) - 1)
        elif self._net_ms_per_px is not None and self.adapting:
            self.rung = self._fitting_rung(self.rung)
        self.alternate = False
        self._ema_infer: float | None = None   # full step time on frames that ran the network
        self._ema_net: float | None = None     # the network alone on those frames
        self._ema_cheap: float | None = None   # step time on reuse/warp frames
        self._ema_net_cpu: float | None = None  # process CPU ms of the network call on inferred frames
        self._cpu_over = 0
        self._over = self._under = 0
        self._since_change = 0
        self._frame = 0
        self._blocked_until: dict[int, int] = {}
        self._fail_count: dict[int, int] = {}
        self._last_action = "infer"
        self._pending: int | None = None      # a rung chosen while its graph was not ready yet
        self.counts = {"infer": 0, "reuse": 0, "warp": 0}
        self.changes = 0

    def fit_start(self, net_ms: float, net_cpu_ms: float | None = None) -> None:
        """Start at the highest rung, at or below the current one, whose network time fits START_SHARE of the frame
        budget, judged from ``net_ms`` measured at the current rung and scaled by pixels. On a CPU that cannot run
        the start rung (f32 on an AVX2 Zen 3: 164 ms at 1440x816 for 1080p) the governor would otherwise walk down one
        rung per cooldown for seconds, compiling each graph on the way. Adapting goes on from there as usual.
        ``net_cpu_ms``: the cheapest runner's CPU time there (threads x ms); with a CPU budget the start rung must
        also fit START_CPU_SHARE of the budget's time per frame."""
        if net_ms <= 0:
            return
        self._net_ms_per_px = net_ms / _pixels(self.internal)
        if net_cpu_ms is not None and net_cpu_ms > 0:
            self._net_cpu_ms_per_px = net_cpu_ms / _pixels(self.internal)
        if self.adapting:
            self.rung = self._fitting_rung(self.rung)

    def _fitting_rung(self, top: int) -> int:
        per_px, limit = self._net_ms_per_px or 0.0, START_SHARE * self.budget_ms
        cpu_per_px = self._net_cpu_ms_per_px if self.cpu_budget else None
        cpu_limit = START_CPU_SHARE * 1000.0 * (self.cpu_budget or 0.0) / self.target_fps
        for r in range(top, 0, -1):
            px = _pixels(self.ladder[r])
            if per_px * px <= limit and (cpu_per_px is None or cpu_per_px * px <= cpu_limit):
                return r
        return 0

    def set_output(self, output: Size) -> None:
        if output != self.output:
            self._reset_for(output)

    def set_quality(self, quality: str) -> None:
        """'auto' adapts; 'low' / 'medium' / 'high' pin the lowest, default or highest rung."""
        if quality == self.quality:
            return
        self.quality = quality
        if quality in QUALITY_RUNG and not self.fixed_height:
            self.request_rung(min(self._quality_rung(quality), len(self.ladder) - 1))
            self.alternate = False
        elif self._pending is not None:
            self._pending = None   # back to auto: the adaptive steps choose again

    def _quality_rung(self, quality: str) -> int:
        rung = QUALITY_RUNG[quality]
        return self.start if rung is None else rung % len(self.ladder)

    @property
    def internal(self) -> InternalSize:
        return self.ladder[self.rung]

    def net_deadline_ms(self, fraction: float) -> float | None:
        """The network time that ``fraction`` of the frame budget leaves beside the rest of the frame's work (the
        smoothed step time minus the network's), where speed cannot buy a better picture: at the best picture, or
        while the CPU budget holds it back. None elsewhere (the fastest runner lets the governor climb) or before a
        frame."""
        if not (self.at_best or self.cpu_bound) or self._ema_infer is None or self._ema_net is None:
            return None
        return self.budget_ms * fraction - (self._ema_infer - self._ema_net)

    @property
    def at_best(self) -> bool:
        """No better picture to climb to: the top rung (every frame inferred), or a size that does not adapt."""
        return not self.alternate and (not self.adapting or self.rung == len(self.ladder) - 1)

    @property
    def adapting(self) -> bool:
        return self.adaptive and self.quality == "auto" and not self.fixed_height

    # -- per frame -------------------------------------------------------------------------------------------
    def decide(self, diff_since_infer: float | None, frames_since_infer: int, must_infer: bool = False) -> str:
        """'infer', 'reuse' or 'warp' for this frame. ``diff_since_infer`` is the thumbnail mean absolute
        difference to the last inferred frame (None when there is none); ``must_infer`` after a reset, a cut,
        a size or style change."""
        if must_infer or diff_since_infer is None or not self.adaptive:
            return "infer"
        if diff_since_infer < SCENE.static_diff and frames_since_infer < SCENE.max_reuse_frames:
            return "reuse"
        if self.alternate and self._last_action == "infer" and frames_since_infer < 2:
            return "warp"
        return "infer"

    def record(self, action: str, step_ms: float, net_ms: float = 0.0, net_cpu_ms: float | None = None,
               probing: bool = False) -> bool:
        """Feed the measured time of the step just done (``net_cpu_ms``: the process CPU time of its network call);
        True when the internal size changed. ``probing``: the thread picker was timing another runner on this
        frame; its time says nothing about the runner that will run, so it moves no decision (a slow candidate's
        frames had pushed the smoothed time over the budget and the picture down a rung, into alternate frames
        at the lowest)."""
        self._frame += 1
        self._since_change += 1
        self._last_action = action
        self.counts[action] = self.counts.get(action, 0) + 1
        if self.meter is not None:
            self.meter.tick(action == "infer")
        if probing:
            return False
        if action == "infer":
            self._ema_infer = _ema(self._ema_infer, step_ms)
            self._ema_net = _ema(self._ema_net, net_ms)
            if net_cpu_ms is not None:
                self._ema_net_cpu = _ema(self._ema_net_cpu, net_cpu_ms)
        else:
            self._ema_cheap = _ema(self._ema_cheap, step_ms)
            return False
        if self._pending is not None:
            # A move is waiting for its graph: no other step meanwhile (the frames still run the current rung).
            return self.request_rung(self._pending)
        if not self.adapting or self._since_change < self.cooldown:
            return False
        t = self._ema_infer
        # Held by the CPU budget on a cheaper runner, the step may use the frame interval itself: the frame rate
        # is only lost past it (capture runs on its own thread), and the 20% kept for the rest would otherwise
        # send every small slowdown back to the costly runner.
        limit = RATE_FIRST_SHARE * 1000.0 / self.target_fps if self.cpu_bound else self.budget_ms
        if t > limit:
            self._over += 1
            self._under = 0
            if self._over >= self.down_after:
                if self.cpu_bound:
                    # Likely the cheaper runner the CPU budget asked for: back to the fastest before a step down.
                    self._put_rate_first()
                    return False
                return self._step_down()
            return False
        self._over = 0
        if self._cpu_over_budget():
            self._under = 0
            return self._step_down(alternate=False) if self._cpu_over >= self.cpu_down_after else False
        if self.alternate:
            if t < 0.9 * self.budget_ms:
                self._under += 1
                if self._under >= self.up_after:
                    self.alternate = False
                    self._under = 0
                    self._since_change = 0
            return False
        if self.rung + 1 < len(self.ladder) and self._blocked_until.get(self.rung + 1, -1) < self._frame:
            ratio = _pixels(self.ladder[self.rung + 1]) / _pixels(self.internal)
            predicted = t + (self._ema_net or 0.0) * (ratio - 1.0)
            cpu_ok = self._cpu_allows(ratio)     # judged on every frame: it keeps cpu_bound up to date
            if predicted < 0.85 * self.budget_ms and cpu_ok:
                self._under += 1
                if self._under >= self.up_after:
                    return self.request_rung(self.rung + 1)
                return False
        self._under = 0
        return False

    def _cpu_over_budget(self) -> bool:
        """Count inferred frames while the measured CPU is over the budget; True while it is (and sets cpu_bound)."""
        rate = self.meter.rate if self.meter is not None else None
        if rate is None or rate <= self.cpu_budget:
            self._cpu_over = 0
            return False
        self._cpu_over += 1
        self._hold_cpu_bound()
        return True

    def _hold_cpu_bound(self) -> None:
        # Held for a while after the last sign: a cheaper runner often shows room that the faster one would not have,
        # and flipping between them each re-measure would cost more than it saves.
        self._cpu_bound_until = self._frame + int(CPU_BOUND_HOLD_S * self.target_fps)

    def _put_rate_first(self) -> None:
        n = self._rate_first_count.get(self.rung, 0) + 1
        self._rate_first_count[self.rung] = n
        self._rate_first[self.rung] = self._frame + int(RATE_FIRST_HOLD_S * self.target_fps) * 2 ** min(n - 1, 4)
        self._cpu_bound_until = -1
        self._over = self._under = 0
        self._ema_infer = self._ema_net = None     # judge the fastest runner on its own frames

    @property
    def cpu_bound(self) -> bool:
        """The CPU budget, not the frame rate, is what holds the picture back (lately), and saving CPU here has
        not cost the frame rate."""
        return self._frame < self._cpu_bound_until and self._rate_first.get(self.rung, -1) <= self._frame

    def _cpu_allows(self, ratio: float) -> bool:
        """Whether the next rung (``ratio`` times the pixels) is predicted to fit the CPU budget: the measured rate
        plus the network's CPU per inference scaled by pixels. Unknown (no window yet) does not allow a climb. A
        climb the CPU forbids holds cpu_bound."""
        if self.meter is None:
            return True
        rate, per_s = self.meter.rate, self.meter.infer_rate
        if rate is None or per_s is None or self._ema_net_cpu is None:
            return False
        predicted = rate + per_s * self._ema_net_cpu / 1000.0 * (ratio - 1.0)
        if predicted >= CPU_CLIMB_SHARE * self.cpu_budget:
            self._hold_cpu_bound()
            return False
        return True

    def _step_down(self, alternate: bool = True) -> bool:
        """One rung down; at the lowest, alternate frames (only for the frame rate: ``alternate`` False, for CPU,
        stays on the lowest rung, since alternate frames cost the picture its steadiness)."""
        failed = self.rung
        if failed == 0 and not alternate:
            self._cpu_over = 0
            return False
        n = self._fail_count.get(failed, 0) + 1
        self._fail_count[failed] = n
        # Do not climb back into a rung that was too slow for ~10 s, doubling each time it fails again.
        self._blocked_until[failed] = self._frame + int(10 * self.target_fps) * 2 ** min(n - 1, 4)
        if not alternate:
            # Left for CPU where only the fastest runner held the frame rate: climbing back would run it again.
            self._blocked_until[failed] = max(self._blocked_until[failed], self._rate_first.get(failed, -1))
        if self.rung > 0:
            return self.request_rung(self.rung - 1)
        if not self.alternate:
            self.alternate = True
            self._since_change = 0
            self._over = 0
        return False

    def _is_ready(self, rung: int) -> bool:
        return self.ready is None or self.ready(self.ladder[rung])

    def request_rung(self, rung: int) -> bool:
        """Move to ``rung`` now if its graph is ready, else as soon as it is (checked on every inferred frame);
        True when the internal size changed."""
        if rung == self.rung or self._is_ready(rung):
            self._pending = None
            return self._move_to(rung)
        self._pending = rung
        self._over = self._under = 0
        return False

    def _move_to(self, rung: int) -> bool:
        changed = rung != self.rung
        self.rung = rung
        self._over = self._under = self._cpu_over = 0
        if changed and self.meter is not None:
            self.meter.reset()      # the work per frame just changed: judge the new rung on its own window
        self._since_change = 0
        self._ema_infer = self._ema_net = None
        if changed:
            self.changes += 1
        return changed

    # -- reporting -------------------------------------------------------------------------------------------
    def summary(self) -> str:
        """One short line for the HUD, e.g. '180p auto', '144p alt', '270p high', '288p auto cpu'."""
        mode = "fixed" if self.fixed_height else (self.quality if self.adaptive else "off")
        if self.alternate:
            mode += " alt"
        if self.cpu_bound:
            mode += " cpu"      # held by the CPU budget (--cpu-share), not the frame rate
        return f"{self.internal.size.height}p {mode}"

    def state(self) -> dict:
        return {"internal": str(self.internal.size), "rung": self.rung,
                "ladder": [s.size.height for s in self.ladder], "adaptive": self.adaptive,
                "quality": self.quality, "alternate": self.alternate, "budget_ms": round(self.budget_ms, 2),
                "frame_ms": None if self._ema_infer is None else round(self._ema_infer, 2),
                "cpu_budget": self.cpu_budget, "cpu_bound": self.cpu_bound,
                "cpu_per_s": None if self.meter is None or self.meter.rate is None else round(self.meter.rate, 3),
                "counts": dict(self.counts), "changes": self.changes}


def _ema(prev: float | None, v: float, alpha: float = 0.25) -> float:
    return v if prev is None else prev + alpha * (v - prev)


def _pixels(s: InternalSize) -> int:
    return s.padded.width * s.padded.height
