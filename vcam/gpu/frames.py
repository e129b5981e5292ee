"""The per-frame GPU work of the TensorRT engine: upload, pre-processing kernel, network, guided filter, output
conversion, download. Everything is allocated once per (frame size, internal size); after a few warm-up frames the
whole sequence is captured into a CUDA graph and replayed, one launch per frame.

It talks to a ``device`` (vcam.gpu.device.CudaDevice, or the host emulation in the tests) and a ``network``
(vcam.gpu.trt_runtime.TrtNetwork, or ONNX Runtime in the tests) through small interfaces, so the wiring runs in CI.

Buffers per slot (two, alternating frames): the pinned camera frame, its device copy, the pinned output. While the
caller fills slot n+1 the GPU may still be reading slot n (``latency_frames=1``: the result of frame n-1 is
returned, the upload of frame n overlaps the caller's work).
"""

from __future__ import annotations

import numpy as np

from vcam.config import Size
from vcam.errors import VcamError
from vcam.gpu.args import grid_for
from vcam.gpu.preplan import plan_resize

FORMATS = {"bgr": 0, "i420": 1, "nv12": 2}
WARMUP_FRAMES = 3           # eager frames before capture: TensorRT does lazy setup on its first enqueues


def output_bytes(fmt: str, size: Size) -> int:
    w, h = size.width, size.height
    return w * h * 3 if fmt == "bgr" else w * h + 2 * ((w + 1) // 2) * ((h + 1) // 2)


def output_view(buf: np.ndarray, fmt: str, size: Size) -> np.ndarray:
    """BGR: (H, W, 3); I420/NV12: the (H*3/2, W) layout OpenCV and pyvirtualcam use."""
    if fmt == "bgr":
        return buf.reshape(size.height, size.width, 3)
    return buf.reshape(size.height * 3 // 2, size.width)


class FramePipeline:
    def __init__(self, device, network, frame: Size, internal: Size, padded: Size, style_dim: int,
                 out_fmt: str = "bgr", use_graph: bool = True, latency_frames: int = 0,
                 upsample: str = "guided") -> None:
        if out_fmt not in FORMATS:
            raise VcamError(f"Unknown output format {out_fmt!r}.", "Choose one of: " + ", ".join(FORMATS))
        if out_fmt != "bgr" and not frame.is_even:
            raise VcamError(f"{out_fmt.upper()} output needs an even size, got {frame}.")
        self.dev, self.net = device, network
        self.frame, self.internal, self.padded = frame, internal, padded
        self.fmt = out_fmt
        self.upsample = upsample        # "guided" or "bilinear", as vcam.ops.guided.GuidedUpsampler
        self.plan = plan_resize(frame, internal)
        self.use_graph = use_graph
        self.latency_frames = 1 if latency_frames else 0
        d = device
        W, H, w, h = frame.width, frame.height, internal.width, internal.height
        pw, ph = padded.width, padded.height
        self._img_dtype = network.dtype("image")
        if self._img_dtype not in (np.float32, np.float16) or network.dtype("stylized") != np.float32:
            raise VcamError(f"The network's I/O types (image {self._img_dtype}, stylized "
                            f"{network.dtype('stylized')}) are not what the kernels read and write.")
        self._state_bytes = network.nbytes("state")
        # Two slots of camera frame / output (pinned + device).
        self.h_frame = [d.pinned((H, W, 3), np.uint8) for _ in range(2)]
        self.d_frame = [d.alloc(H * W * 3) for _ in range(2)]
        nout = output_bytes(out_fmt, frame)
        self.h_out = [d.pinned((nout,), np.uint8) for _ in range(2)]
        self.d_out = d.alloc(nout)
        # Per-frame parameters: keep (1), style (S), strength (s, 255 s, 1 - s); one pinned block, three uploads.
        self.h_params = d.pinned((1 + style_dim + 3,), np.float32)
        self.d_keep, self.d_style, self.d_strength = d.alloc(4), d.alloc(4 * style_dim), d.alloc(12)
        self.d_input = d.alloc(network.nbytes("image"))
        self.d_state = d.alloc(self._state_bytes)
        self.d_new_state = d.alloc(self._state_bytes)
        self.d_stylized = d.alloc(network.nbytes("stylized"))
        self.d_guide = d.alloc(w * h * 4)
        self.d_A, self.d_B = d.alloc(w * h * 12), d.alloc(w * h * 12)
        self.d_coef_a, self.d_coef_b = d.alloc(w * h * 12), d.alloc(w * h * 12)
        d.fill(self.d_state, 0)
        d.fill(self.d_coef_a, 0)        # stays 0 in "bilinear" mode
        for name, buf in (("image", self.d_input), ("state", self.d_state), ("keep", self.d_keep),
                          ("style", self.d_style), ("stylized", self.d_stylized), ("new_state", self.d_new_state)):
            network.bind(name, buf.ptr)
        self._ev = [[d.event() for _ in range(4)] for _ in range(2)]   # per slot: stage boundaries
        self._done = [d.event() for _ in range(2)]
        self._pending = [False, False]
        self._graphs: list[object | None] = [None, None]
        self._frames = 0
        self._style_dim = style_dim
        self.timings = {"pre": 0.0, "infer": 0.0, "post": 0.0}
        self._grid_pad = grid_for(pw, ph)
        self._grid_low = grid_for(w, h)
        self._grid_full = grid_for(W, H)

    # -- one frame ------------------------------------------------------------------------------------------
    def _planes(self) -> tuple:
        W, H = self.frame.width, self.frame.height
        base = self.d_out.ptr
        if self.fmt == "bgr":
            return (base, W * 3, 0, 0, 0, 0)
        cw, ch = (W + 1) // 2, (H + 1) // 2
        if self.fmt == "i420":
            return (base, W, base + W * H, cw, base + W * H + cw * ch, cw)
        return (base, W, base + W * H, 2 * cw, 0, 0)

    def _enqueue(self, slot: int) -> None:
        """Everything one frame does on the stream (what a CUDA graph captures)."""
        d, net = self.dev, self.net
        W, H, w, h = self.frame.width, self.frame.height, self.internal.width, self.internal.height
        pw, ph = self.padded.width, self.padded.height
        S = self._style_dim
        ev = self._ev[slot]
        d.record(ev[0])
        d.upload(self.d_frame[slot], self.h_frame[slot])
        d.upload(self.d_keep, self.h_params[:1])
        d.upload(self.d_style, self.h_params[1:1 + S])
        d.upload(self.d_strength, self.h_params[1 + S:])
        f32 = self._img_dtype == np.float32
        d.launch("vcam_pre_bgr", *self._grid_pad, self.d_frame[slot], W * 3, W, H, self.plan.halvings,
                 self.plan.mode, w, h, pw, ph, self.d_input if f32 else 0, 0 if f32 else self.d_input, self.d_guide,
                 0, 0)
        d.record(ev[1])
        net.enqueue(d.stream_handle)
        d.copy(self.d_state, self.d_new_state, self._state_bytes)
        d.record(ev[2])
        if self.upsample == "bilinear":
            d.launch("vcam_up_plain", *self._grid_low, self.d_stylized, w, h, pw, ph, self.d_strength, self.d_coef_b)
        else:
            d.launch("vcam_gf_coeffs", *self._grid_low, self.d_guide, self.d_stylized, w, h, pw, ph, self.d_A,
                     self.d_B)
            d.launch("vcam_gf_smooth", *self._grid_low, self.d_A, self.d_B, w, h, self.d_strength, self.d_coef_a,
                     self.d_coef_b)
        d.launch("vcam_gf_apply", *self._grid_full, self.d_frame[slot], W * 3, W, H, self.d_coef_a, self.d_coef_b,
                 w, h, self.d_strength, FORMATS[self.fmt], *self._planes())
        d.download(self.h_out[slot], self.d_out)
        d.record(ev[3])

    def submit(self, image: np.ndarray, style: np.ndarray, keep: float, strength: float) -> int:
        """Queue one frame; returns its slot. The camera frame is copied into pinned memory first."""
        slot = self._frames % 2
        if self._pending[slot]:                  # the slot's previous frame must have left the GPU
            self.dev.event_synchronize(self._done[slot])
            self._pending[slot] = False
        np.copyto(self.h_frame[slot], image)
        p = self.h_params
        S = self._style_dim
        s = min(max(float(strength), 0.0), 1.0)
        p[0] = keep
        p[1:1 + S] = style.reshape(-1)
        # Computed in double and rounded once, exactly as the CPU reference scales its coefficients.
        p[1 + S:] = (np.float32(s), np.float32(255.0 * s), np.float32(1.0 - s) if s < 1.0 else np.float32(0.0))
        graph = self._graphs[slot]
        if graph is not None:
            self.dev.replay(graph)
        elif self.use_graph and self._frames >= WARMUP_FRAMES:
            self.dev.begin_capture()
            try:
                self._enqueue(slot)
            finally:
                graph = self.dev.end_capture()
            self._graphs[slot] = graph
            self.dev.replay(graph)
        else:
            self._enqueue(slot)
        self.dev.record(self._done[slot])
        self._pending[slot] = True
        self._frames += 1
        return slot

    def result(self, slot: int) -> np.ndarray:
        """Wait for a submitted frame and return its output (a view of pinned memory, valid until the slot is
        reused two frames later)."""
        self.dev.event_synchronize(self._done[slot])
        self._pending[slot] = False
        ev = self._ev[slot]
        try:
            self.timings = {"pre": self.dev.elapsed_ms(ev[0], ev[1]), "infer": self.dev.elapsed_ms(ev[1], ev[2]),
                            "post": self.dev.elapsed_ms(ev[2], ev[3])}
        except VcamError:   # timing is best effort (e.g. events inside a graph on an old driver)
            pass
        return output_view(self.h_out[slot], self.fmt, self.frame)

    def process(self, image: np.ndarray, style: np.ndarray, keep: float, strength: float) -> np.ndarray | None:
        """Submit a frame and return an output: its own (latency 0) or the previous frame's (latency 1; None for
        the very first frame)."""
        slot = self.submit(image, style, keep, strength)
        if self.latency_frames == 0:
            return self.result(slot)
        prev = 1 - slot
        if self._frames < 2:
            return None
        return self.result(prev)

    def close(self) -> None:
        for g in self._graphs:
            if g is not None:
                self.dev.drop_graph(g)
        self._graphs = [None, None]
