"""The CPU engine: the exported network on ONNX Runtime or OpenVINO at a reduced internal resolution, then
fast-guided-filter upsampling and the strength blend at the output size (vcam.ops), with the recurrent state
carried between frames and the governor (vcam.engines.governor) holding the frame rate.

Per frame: downscale + convert (pre), the network or a cheaper stand-in the governor picked (infer: run it; reuse:
the scene is static; warp: alternate frames, warp the last output with DIS flow), guided upsampling into one reused
output buffer (post); in person-aware mode (vcam.person) the upsampling runs at strength 1 and the per-pixel
person/background blend (vcam.ops.region) follows it in the same stage, so the governor counts its cost. The state
resets (keep = 0) on the first frame, after a size change, on a scene cut (a large
change of a tiny thumbnail) and when the user asks (reset_token).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import cv2
import numpy as np

from vcam.config import RunConfig, Size
from vcam.control.state import ControlState, region_strengths
from vcam.engines.cpu_meter import usable_cores
from vcam.engines.cpu_runtime import (
    RUNTIMES,
    Runner,
    RunnerPicker,
    available_runtimes,
    open_runner,
    probe,
    requested_runtime,
    resolve_precision,
)
from vcam.engines.governor import Governor, InternalSize, Ladder
from vcam.engines.rung_buffers import RungBuffers
from vcam.errors import ModelError, VcamError
from vcam.frames import to_bgr
from vcam.memory import limit_malloc_arenas, pin_mmap_threshold
from vcam.ops.params import SCENE
from vcam.ops.preprocess import Preprocessor
from vcam.ops.region import SAME, RegionBlender
from vcam.person import PersonMatting, person_model_path
from vcam.person.backdrop import Backdrop
from vcam.styles import Manifest, StyleCodes, verify_onnx

# The share of the governor's frame budget the picker may fill when it saves CPU: the governor steps down when the
# smoothed frame time passes the whole budget, so a runner chosen to save CPU keeps this much headroom below it.
DEADLINE_FRACTION = 0.95
# Rungs above the start that the engine prepares at start beside the one below (_neighbour_rungs): the start-up
# probe guessed one rung low in a Zen 3 soak (384x216 against the 512x288 the governor then climbed to and held).
CLIMB_RUNGS = 1


def cpu_budget(cfg: RunConfig) -> float | None:
    """The process CPU seconds per wall second a run may use: ``cpu_share`` of the usable cores, on live runs only
    (a run over every frame, a demo or a file, wants throughput); None: no limit."""
    if not cfg.realtime or cfg.cpu_share is None or cfg.cpu_share >= 1.0:
        return None
    return cfg.cpu_share * usable_cores()


def _thumb_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(cv2.norm(a, b, cv2.NORM_L1)) / a.size


class CpuEngine:
    name = "cpu"

    def __init__(self, manifest: Manifest, cfg: RunConfig, runtime: str | None = None,
                 codes: StyleCodes | None = None) -> None:
        self.manifest = manifest
        self.styles = manifest.styles
        self.path: Path = verify_onnx(manifest)
        self.cfg = cfg
        self.timings: dict[str, float] = {"pre": 0.0, "infer": 0.0, "post": 0.0}
        self.ladder = Ladder.of(manifest.extra)
        self.stride = manifest.size_multiple     # the recurrent state's resolution is 1 / size_multiple
        self.upsample = str(manifest.extra.get("upsample", "guided"))
        self.governor = Governor(cfg.size, cfg.fps, adaptive=cfg.adaptive, fixed_height=cfg.internal_height,
                                 ladder=self.ladder, cpu_budget=cpu_budget(cfg))
        self.codes = codes or StyleCodes.of(manifest)   # shared with the controls: styles may join while running
        self._keep = np.zeros((1, 1), np.float32)
        self._net_cpu_ms = 0.0
        self._probing = False
        self._reset_token: int | None = None
        self._size: Size | None = None
        self._internal: InternalSize | None = None
        self._rungs = RungBuffers(self.manifest.state_channels, self.stride)
        limit_malloc_arenas()   # before the runtimes start their threads: see vcam.memory
        pin_mmap_threshold()    # before the buffers: large blocks go back to the OS when a size changes
        # Person-aware mode: nothing is opened unless a person option is used (at start here, or live on the
        # request's thread through load_person); a missing or corrupt person.onnx is refused with its reason.
        self.person = PersonMatting(*person_model_path(manifest, cfg.person_model))
        if cfg.person_mode:
            self.person.load()
        self._region = RegionBlender()
        self._backdrop = Backdrop(self._stylize_still)
        self.picker = self._open_runners(runtime or requested_runtime(), cfg.threads,
                                         resolve_precision(cfg.cpu_precision))
        self.governor.ready = lambda s: self.picker.runner.ready((s.padded.height, s.padded.width))
        self._prewarm()
        self._configure(cfg.size)

    # -- runtime and thread choice --------------------------------------------------------------------------
    def _open_runners(self, runtime: str, threads: int, precision: str) -> RunnerPicker:
        if runtime not in ("auto", *RUNTIMES):
            raise VcamError(f"Unknown CPU runtime {runtime!r}.", "Choose one of: auto, " + ", ".join(RUNTIMES))
        runtimes = available_runtimes() if runtime == "auto" else [runtime]
        cores = os.cpu_count() or 1
        counts = [threads] if threads > 0 else ([1, 2] if cores >= 2 else [1])
        runners: list[Runner] = []
        for rt in runtimes:
            for n in counts:
                try:
                    hint = self.governor.internal.padded
                    runners.append(open_runner(rt, self.path, n, (hint.height, hint.width), precision,
                                               state_stride=self.stride))
                except ModelError:
                    for r in runners:
                        r.close()
                    raise
                except VcamError:
                    if runtime != "auto":
                        raise
        if not runners:
            raise VcamError(f"No CPU runtime could load {self.path}.", "Install onnxruntime: pip install onnxruntime")
        dim = runners[0].style_dim
        if dim is not None and dim != self.codes.dim:
            for r in runners:
                r.close()
            raise ModelError(f"The model file {self.path} takes a style input of width {dim} but its manifest's "
                             f"style codes have width {self.codes.dim}.",
                             "Re-export the model (`vcam export`) or reinstall vcam.")
        if len(runners) > 1:
            times = self._probe(runners)
            best_rt = runners[int(np.argmin(times))].runtime
            self.probe_ms = {f"{r.runtime}/{r.threads}t": round(t, 2) for r, t in zip(runners, times, strict=True)}
            keep = [r for r in runners if r.runtime == best_rt]
            for r in runners:
                if r not in keep:
                    r.close()
            picker = RunnerPicker(keep)
            kept = [t for r, t in zip(runners, times, strict=True) if r.runtime == best_rt]
            picker.choose(kept)
            self.governor.fit_start(min(kept), min(r.threads * t for r, t in zip(keep, kept, strict=True)))
            return picker
        self.probe_ms = {}
        return RunnerPicker(runners)

    def _neighbour_rungs(self) -> list[InternalSize]:
        """The rungs an adapting governor may move to from its start: CLIMB_RUNGS above it, then the one below (its
        usual first move). With the start rung these are the three that the runners keep compiled
        (OpenVinoRunner.max_static) and the engine keeps buffers for (RungBuffers.keep)."""
        gov = self.governor
        if not gov.adapting:
            return []
        above = gov.ladder[gov.rung + 1:gov.rung + 1 + CLIMB_RUNGS][::-1]
        return [*above, *([gov.ladder[gov.rung - 1]] if gov.rung > 0 else [])]

    def _prewarm(self) -> None:
        """Compile and run, on every runner, the rungs the governor may move to, then the start one. Issue 14: a
        compile minutes into a run grew resident memory then (+10 MB at 720p here for a first visit to 512x288), and
        a size compiled again after being dropped grew it a little more each time."""
        sizes = [*self._neighbour_rungs(), self.governor.internal]
        if len(sizes) < 2:
            return
        for r in self.picker.runners:
            r.prewarm([(s.padded.height, s.padded.width) for s in sizes])

    def _probe(self, runners: list[Runner]) -> list[float]:
        """Time the candidates on a synthetic frame at the default internal size (interleaved rounds)."""
        internal = self.governor.internal.padded
        h, w = internal.height, internal.width
        rng = np.random.default_rng(0)
        img = rng.random((1, 3, h, w), dtype=np.float32)
        m = self.stride
        state = np.zeros((1, self.manifest.state_channels, h // m, w // m), np.float32)
        keep = np.zeros((1, 1), np.float32)
        style = self.codes({self.styles[0]: 1.0})
        out = np.empty((1, 3, h, w), np.float32)
        new_state = np.empty_like(state)
        return probe(runners, lambda r: r.run(img, state, keep, style, out, new_state))

    # -- buffers for a frame size / internal size ------------------------------------------------------------
    def _configure(self, size: Size) -> None:
        self._size = size
        self.governor.set_output(size)
        self._out = np.empty((size.height, size.width, 3), np.uint8)
        self._full_styl: np.ndarray | None = None    # person mode's strength-1 picture, allocated on first use
        self._rungs.clear()
        self._internal = None
        self._prewarm_rungs()
        self._configure_internal()

    def _prewarm_rungs(self) -> None:
        """Build, and run once, the buffers of the rungs the governor may move to, as _prewarm does their graphs:
        their first use commits their pages and OpenCV's scratch (about 7 MB at 720p), which otherwise came as a
        step in resident memory at the governor's first move, minutes into a run (issue 14's 30-minute soak)."""
        rungs = self._neighbour_rungs()
        if not rungs:
            return
        frame = np.zeros((self._size.height, self._size.width, 3), np.uint8)
        for internal in rungs:
            b = self._rungs.get(internal, self._size, self.upsample, self.picker.runner.threads)
            b.pre(frame)
            b.up(b.stylized, b.pre.guide, frame, 1.0, out=self._out)

    def _configure_internal(self) -> None:
        internal = self.governor.internal
        if internal == self._internal:
            return
        self._internal = internal
        b = self._rungs.get(internal, self._size, self.upsample, self.picker.runner.threads)
        self._pre, self._up, self._states, self._stylized = b.pre, b.up, b.states, b.stylized
        self._warped, self._infer_gray, self._infer_thumb, self._prev_thumb = (b.warped, b.infer_gray,
                                                                                b.infer_thumb, b.prev_thumb)
        self._grid, self._map, self._flow, self._dis = b.grid, b.map, b.flow, b.dis
        for s in self._states:
            s.fill(0.0)
        self._cur = 0
        self._have_output = False
        self._have_prev = False
        self._frames_since_infer = 0
        self._last_style: np.ndarray | None = None
        self._keep[0, 0] = 0.0

    # -- controls -> inputs ----------------------------------------------------------------------------------
    def style_vector(self, weights: dict[str, float]) -> np.ndarray:
        """The (1, D) style input for a blend: the same blend of the styles' codes."""
        return self.codes(weights)

    def reset(self) -> None:
        self._keep[0, 0] = 0.0
        self._have_output = False
        self.person.tracker.reset()

    def load_person(self) -> None:
        """Open the person segmenter now (the controls call it before person mode goes on live); raises the
        VcamError that says why it cannot be used."""
        self.person.load()

    # -- the frame ------------------------------------------------------------------------------------------
    def step(self, image: np.ndarray, controls: ControlState) -> np.ndarray:
        if controls.paused or not controls.weights:
            self.timings = {"pre": 0.0, "infer": 0.0, "post": 0.0}
            return image
        t0 = time.perf_counter()
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            image = to_bgr(image)   # gray, BGRA, 16-bit: converted (unsupported layouts raise VcamError)
        size = Size(image.shape[1], image.shape[0])
        if size != self._size:
            self._configure(size)
        self.governor.set_quality(controls.quality)
        self._configure_internal()
        if controls.reset_token != self._reset_token:
            if self._reset_token is not None:
                self.reset()
            self._reset_token = controls.reset_token
        style = self.style_vector(controls.weights)

        pre = self._pre
        blob = pre(image)
        cut = self._have_prev and _thumb_diff(pre.thumb, self._prev_thumb) > SCENE.scene_cut_diff
        np.copyto(self._prev_thumb, pre.thumb)
        self._have_prev = True
        if cut:
            self.reset()
        style_changed = self._last_style is None or not np.array_equal(style, self._last_style)
        diff = _thumb_diff(pre.thumb, self._infer_thumb) if self._have_output else None
        action = self.governor.decide(diff, self._frames_since_infer,
                                      must_infer=not self._have_output or style_changed)
        t1 = time.perf_counter()

        src = self._stylized
        if action == "infer":
            self._infer(blob, style)
        elif action == "warp":
            src = self._warp(pre.gray_small)
            self._frames_since_infer += 1
        else:
            self._frames_since_infer += 1
        t2 = time.perf_counter()
        sp, sb = region_strengths(controls)
        backdrop = controls.backdrop is not None
        person = (abs(sp - sb) >= SAME or backdrop) and (self.person.ready or self.person.try_load())
        repaint_ms = 0.0
        if person:
            if self._full_styl is None:
                self._full_styl = np.empty_like(self._out)
            self._up(src, pre.guide, image, 1.0, out=self._full_styl)
            matte = self.person(image)
            if backdrop:
                repaints = self._backdrop.repaints
                self._backdrop.update(controls.backdrop, controls.backdrop_token, (size.width, size.height),
                                      style, controls.transitioning)
                repaint_ms = self._backdrop.ms if self._backdrop.repaints != repaints else 0.0
                self._region.composite(image, self._full_styl, matte, sp, self._backdrop.layer(sb), out=self._out)
            else:
                self._region(image, self._full_styl, matte, sp, sb, out=self._out)
        else:
            # Equal strengths (the usual case): the one fused upsample-and-blend, no matte. A segmenter that
            # cannot load leaves the plain strength.
            self.person.skip()
            self._up(src, pre.guide, image, sp if abs(sp - sb) < SAME else controls.strength, out=self._out)
        if self._backdrop.active and not backdrop:
            self._backdrop.update(None, controls.backdrop_token, (size.width, size.height), style, False)
        t3 = time.perf_counter()
        self.timings = {"pre": (t1 - t0) * 1000, "infer": (t2 - t1) * 1000, "post": (t3 - t2) * 1000}
        if person:    # the matte's share of post, only when it ran
            self.timings["person"] = self.person.ms
        if repaint_ms:
            self.timings["backdrop"] = repaint_ms
        # A backdrop repaint is a one-off (a new picture or style), not the frame's steady cost: the governor
        # would otherwise step the picture down for it.
        self.governor.record(action, (t3 - t0) * 1000 - repaint_ms, (t2 - t1) * 1000,
                             self._net_cpu_ms if action == "infer" else None,
                             probing=action == "infer" and self._probing)
        # The picker may save CPU within what the frame budget leaves, only where speed cannot buy a better picture
        # (the best rung, or the CPU budget holds the climb back; elsewhere the fastest runner lets the governor
        # climb) and only live: runs over every frame (demo, files) want throughput.
        if action == "infer" and self.cfg.realtime:
            self.picker.set_deadline(self.governor.net_deadline_ms(DEADLINE_FRACTION))
        return self._out

    def _infer(self, blob: np.ndarray, style: np.ndarray) -> None:
        picker = self.picker
        hw = (blob.shape[2], blob.shape[3])
        idx = picker.next(lambda r: r.ready(hw))
        self._probing = picker.probing       # before report(), which ends a probe on its last frame
        runner = picker.runners[idx]
        s_in, s_out = self._states[self._cur], self._states[1 - self._cur]
        t0, c0 = time.perf_counter(), time.process_time()
        runner.run(blob, s_in, self._keep, style, self._stylized, s_out)
        self._net_cpu_ms = (time.process_time() - c0) * 1000   # every thread's: the runtime's workers included
        picker.report(idx, (time.perf_counter() - t0) * 1000)
        if self._up.threads != picker.runner.threads:
            self._up.set_threads(picker.runner.threads)
        self._cur = 1 - self._cur
        self._keep[0, 0] = 1.0
        self._last_style = style
        self._have_output = True
        self._frames_since_infer = 0
        np.copyto(self._infer_thumb, self._pre.thumb)
        np.copyto(self._infer_gray, self._pre.gray_small)

    def _stylize_still(self, picture: np.ndarray, style: np.ndarray) -> np.ndarray:
        """The backdrop picture (output size, BGR) painted at strength 1: two network passes at the current internal
        size, the second with the first's state, so a still picture gets the look a settled video frame has. Its
        buffers are allocated per call: this runs once per picture and style, never per frame."""
        internal = self._internal
        pre = Preprocessor(self._size, internal.size, internal.padded, guide=self.upsample == "guided")
        blob = pre(picture)
        states = [np.zeros_like(self._states[0]) for _ in range(2)]
        out = np.empty_like(self._stylized)
        runner = self.picker.runner
        for i, keep in enumerate((0.0, 1.0)):
            runner.run(blob, states[i], np.full((1, 1), keep, np.float32), style, out, states[1 - i])
        return self._up(out, pre.guide, picture, 1.0, out=np.empty_like(self._out))

    def _warp(self, gray: np.ndarray) -> np.ndarray:
        """The last network output moved to the current frame with DIS flow (current -> last inferred)."""
        flow = self._dis.calc(gray, self._infer_gray, self._flow)
        gx, gy = self._grid
        mx, my = self._map
        np.add(gx, flow[:, :, 0], out=mx)
        np.add(gy, flow[:, :, 1], out=my)
        h, w = gray.shape
        for c in range(3):
            cv2.remap(self._stylized[0, c, :h, :w], mx, my, cv2.INTER_LINEAR, dst=self._warped[c],
                      borderMode=cv2.BORDER_REPLICATE)
        return self._warped

    # -- reporting ------------------------------------------------------------------------------------------
    def info(self) -> dict:
        r = self.picker.runner
        internal = self._internal or self.governor.internal
        return {"engine": self.name, "runtime": r.runtime, "precision": r.precision, "threads": r.threads,
                "internal_size": str(internal.size), "network_size": str(internal.padded),
                "governor": self.governor.summary(), "governor_state": self.governor.state(),
                "probe_ms": self.probe_ms, "styles": list(self.codes.styles), "model": self.path.name,
                "network": self.manifest.network,
                "person": self.person.info()}

    def close(self) -> None:
        if getattr(self, "_rungs", None) is not None:
            self._rungs.clear()
        self.picker.close()
        self.person.close()
