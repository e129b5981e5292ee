"""MediaPipe selfie segmentation (Apache-2.0), the person-matte teacher vcam's own segmenter learns from.

Training and benchmarks only: the runtime never imports this module and vcam never ships these weights. The model
is a TFLite flatbuffer whose one MediaPipe custom op (``Convolution2DTransposeBias``) no CPU runtime here executes,
so this module reads the graph with the ``tflite`` flatbuffer parser and runs it, op by op, in torch:

    teacher = load_selfie_teacher()          # ../shared/data/teachers/mediapipe_selfie, landscape 256x144 model
    matte = teacher(rgb)                     # (N,3,144,256) RGB in [0,1] -> (N,1,144,256) person probability

Activations run as NCHW; TFLite's NHWC weights are permuted once at load. Only the ops this graph uses are
implemented, and an unknown one is refused by name rather than guessed.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vcam.errors import VcamError

DEFAULT_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "teachers" / "mediapipe_selfie"
LANDSCAPE = "selfie_segmentation_landscape.tflite"
INPUT_HW = (144, 256)

# TFLite enums used here (schema.fbs): tensor types, fused activations, padding.
_FLOAT32, _FLOAT16, _INT32 = 0, 1, 2
_SAME = 0
_NHWC_TO_NCHW = {0: 0, 1: 2, 2: 3, 3: 1}


def require_selfie_teacher(directory: Path | None = None) -> Path:
    """The teacher's .tflite file, or a clear error saying what is missing (as on a user's machine)."""
    d = Path(directory) if directory else DEFAULT_DIR
    path = d / LANDSCAPE
    if not path.is_file():
        raise VcamError(f"The MediaPipe selfie teacher is not at {path}.",
                        "Training the person segmenter needs ../shared/data/teachers/mediapipe_selfie beside the "
                        "checkout (training time only).")
    return path


def _tflite():
    try:
        import tflite
    except ImportError as exc:
        raise VcamError("Reading the selfie teacher needs the `tflite` flatbuffer parser.",
                        "pip install -e '.[train]'") from exc
    return tflite


def _activation(x: torch.Tensor, code: int) -> torch.Tensor:
    if code == 0:
        return x
    if code == 1:
        return F.relu(x)
    if code == 3:
        return F.relu6(x)
    raise VcamError(f"Unsupported fused activation {code} in the selfie teacher.")


def _same_pad(x: torch.Tensor, k: tuple[int, int], s: tuple[int, int]) -> torch.Tensor:
    """TFLite SAME padding: the odd pixel goes at the bottom/right (torch's symmetric padding differs)."""
    pads = []
    for size, kk, ss in ((x.shape[3], k[1], s[1]), (x.shape[2], k[0], s[0])):
        out = -(-size // ss)
        total = max((out - 1) * ss + kk - size, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads)


class SelfieTeacher(nn.Module):
    """The TFLite graph as a torch module: a list of ops over a table of tensors."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        tfl = _tflite()
        buf = path.read_bytes()
        try:
            model = tfl.Model.GetRootAsModel(buf, 0)
            graph = model.Subgraphs(0)
        except Exception as exc:  # a flatbuffer that does not parse
            raise VcamError(f"{path} is not a readable TFLite model ({exc}).") from exc
        names = {v: k for k, v in vars(tfl.BuiltinOperator).items() if not k.startswith("_")}
        self._graph = graph
        self._model = model
        self._tfl = tfl
        self.consts: dict[int, np.ndarray] = {}
        for t in range(graph.TensorsLength()):
            arr = self._buffer(t)
            if arr is not None:
                self.consts[t] = arr
        self.ops: list[tuple[str, list[int], list[int], object]] = []
        for i in range(graph.OperatorsLength()):
            op = graph.Operators(i)
            code = model.OperatorCodes(op.OpcodeIndex())
            builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
            name = code.CustomCode().decode() if builtin == tfl.BuiltinOperator.CUSTOM else names.get(builtin, "?")
            ins = [op.Inputs(j) for j in range(op.InputsLength())]
            outs = [op.Outputs(j) for j in range(op.OutputsLength())]
            self.ops.append((name, ins, outs, op))
        self.input_index = graph.Inputs(0)
        self.output_index = graph.Outputs(0)
        self.weights = nn.ParameterDict()
        self._prepare()
        del self._graph, self._model, self._tfl

    def _buffer(self, t: int) -> np.ndarray | None:
        tensor = self._graph.Tensors(t)
        data = self._model.Buffers(tensor.Buffer()).DataAsNumpy()
        if isinstance(data, int) or data.size == 0:
            return None
        dtype = {_FLOAT32: np.float32, _FLOAT16: np.float16, _INT32: np.int32}.get(tensor.Type())
        if dtype is None:
            raise VcamError(f"Unsupported tensor type {tensor.Type()} in the selfie teacher.")
        shape = tuple(int(v) for v in tensor.ShapeAsNumpy()) if tensor.ShapeLength() else ()
        return np.frombuffer(data.tobytes(), dtype).reshape(shape)

    def _prepare(self) -> None:
        """Dequantize the fp16 weights and store them in torch's layout, keyed by tensor index."""
        tfl = self._tfl
        float_consts: dict[int, np.ndarray] = {}
        plan = []
        for name, ins, outs, op in self.ops:
            if name == "DEQUANTIZE":
                float_consts[outs[0]] = self.consts[ins[0]].astype(np.float32)
                continue
            for t in ins:
                if t in self.consts and self.consts[t].dtype == np.float32:
                    float_consts[t] = self.consts[t]
            opts = None
            if name in ("CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "MUL", "MEAN", "RESIZE_BILINEAR"):
                table = op.BuiltinOptions()
                cls = {"CONV_2D": tfl.Conv2DOptions, "DEPTHWISE_CONV_2D": tfl.DepthwiseConv2DOptions,
                       "ADD": tfl.AddOptions, "MUL": tfl.MulOptions, "MEAN": tfl.ReducerOptions,
                       "RESIZE_BILINEAR": tfl.ResizeBilinearOptions}[name]
                o = cls()
                o.Init(table.Bytes, table.Pos)
                opts = o
            elif name == "Convolution2DTransposeBias":
                raw = op.CustomOptionsAsNumpy().tobytes()
                _padding, sw, sh = struct.unpack("<3i", raw[:12])
                opts = (sh, sw)
            elif name not in ("RELU", "HARD_SWISH", "LOGISTIC"):
                raise VcamError(f"The selfie teacher uses op {name}, which this reader does not implement.")
            plan.append((name, ins, outs, opts))
        self.plan = plan
        for name, ins, _outs, _opts in plan:
            if name == "CONV_2D":
                self._store(ins[1], float_consts[ins[1]].transpose(0, 3, 1, 2))          # OHWI -> OIHW
            elif name == "DEPTHWISE_CONV_2D":
                self._store(ins[1], float_consts[ins[1]].transpose(3, 0, 1, 2))          # 1HWC -> C1HW
            elif name == "Convolution2DTransposeBias":
                self._store(ins[1], float_consts[ins[1]].transpose(3, 0, 1, 2))          # OHWI -> IOHW
            if name in ("CONV_2D", "DEPTHWISE_CONV_2D", "Convolution2DTransposeBias"):
                self._store(ins[2], float_consts[ins[2]])
            elif name in ("ADD", "MUL"):
                for t in ins:
                    if t in float_consts:
                        self._store(t, float_consts[t].reshape(1, -1, 1, 1) if float_consts[t].ndim else
                                    float_consts[t])

    def _store(self, t: int, arr: np.ndarray) -> None:
        self.weights[str(t)] = nn.Parameter(torch.from_numpy(np.ascontiguousarray(arr)), requires_grad=False)

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        if tuple(rgb.shape[2:]) != INPUT_HW:
            raise ValueError(f"the selfie teacher takes {INPUT_HW[1]}x{INPUT_HW[0]} input, got {tuple(rgb.shape)}")
        w = self.weights
        v: dict[int, torch.Tensor] = {self.input_index: rgb}
        for name, ins, outs, o in self.plan:
            x = v.get(ins[0])
            if name in ("CONV_2D", "DEPTHWISE_CONV_2D"):
                k = w[str(ins[1])]
                stride = (o.StrideH(), o.StrideW())
                if o.Padding() == _SAME:
                    x = _same_pad(x, (k.shape[2], k.shape[3]), stride)
                groups = x.shape[1] if name == "DEPTHWISE_CONV_2D" else 1
                y = _activation(F.conv2d(x, k, w[str(ins[2])], stride=stride, groups=groups),
                                o.FusedActivationFunction())
            elif name in ("ADD", "MUL"):
                a = v[ins[0]] if ins[0] in v else w[str(ins[0])]
                b = v[ins[1]] if ins[1] in v else w[str(ins[1])]
                y = _activation(a + b if name == "ADD" else a * b, o.FusedActivationFunction())
            elif name == "RELU":
                y = F.relu(x)
            elif name == "HARD_SWISH":
                y = F.hardswish(x)
            elif name == "LOGISTIC":
                y = torch.sigmoid(x)
            elif name == "MEAN":
                axes = tuple(_NHWC_TO_NCHW[int(a)] for a in self.consts[ins[1]].reshape(-1))
                y = x.mean(dim=axes, keepdim=bool(o.KeepDims()))
            elif name == "RESIZE_BILINEAR":
                hw = tuple(int(s) for s in self.consts[ins[1]])
                if o.AlignCorners():
                    y = F.interpolate(x, size=hw, mode="bilinear", align_corners=True)
                elif o.HalfPixelCenters():
                    y = F.interpolate(x, size=hw, mode="bilinear", align_corners=False)
                else:
                    y = _legacy_resize(x, hw)
            else:  # Convolution2DTransposeBias: stride-2 transposed conv whose kernel equals its stride
                k = w[str(ins[1])]
                y = F.conv_transpose2d(x, k, w[str(ins[2])], stride=o)
            v[outs[0]] = y
        return v[self.output_index]


def _legacy_resize(x: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    """TensorFlow's original bilinear resize (no half-pixel offset: source = destination * in/out)."""
    h, w = x.shape[2:]
    ys = torch.arange(hw[0], dtype=x.dtype) * (h / hw[0])
    xs = torch.arange(hw[1], dtype=x.dtype) * (w / hw[1])
    y0 = ys.floor().long().clamp(max=h - 1)
    x0 = xs.floor().long().clamp(max=w - 1)
    y1 = (y0 + 1).clamp(max=h - 1)
    x1 = (x0 + 1).clamp(max=w - 1)
    fy = (ys - y0).view(1, 1, -1, 1)
    fx = (xs - x0).view(1, 1, 1, -1)
    top = x[:, :, y0][:, :, :, x0] * (1 - fx) + x[:, :, y0][:, :, :, x1] * fx
    bot = x[:, :, y1][:, :, :, x0] * (1 - fx) + x[:, :, y1][:, :, :, x1] * fx
    return top * (1 - fy) + bot * fy


def load_selfie_teacher(directory: Path | None = None) -> SelfieTeacher:
    """The landscape (256x144) selfie model, in eval mode, weights frozen."""
    return SelfieTeacher(require_selfie_teacher(directory)).eval().requires_grad_(False)
