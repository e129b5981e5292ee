"""Export the trained StyleNet to one ONNX file the CPU runtimes (and TensorRT) execute without torch.

Recurrent state, reset flag and style weights are graph inputs, so blending, switching and resetting never need a
re-export; H and W are dynamic (multiples of 4). The manifest next to the ONNX gets its name and SHA-256, which the
engines verify before loading.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from vcam.errors import ModelError
from vcam.model.network import SIZE_MULTIPLE, STATE_CHANNELS, StyleNet
from vcam.styles import MANIFEST, sha256_file, write_manifest

ONNX_NAME = "vcam.onnx"
INPUTS = ("image", "state", "keep", "style")
OUTPUTS = ("stylized", "new_state")
PARITY_TOL = 1e-4


def _styles_of(weights: Path, tensors: dict[str, torch.Tensor]) -> list[str] | None:
    """Style names from the manifest beside the weights, else from the safetensors metadata."""
    man = weights.parent / MANIFEST
    if man.is_file():
        try:
            styles = json.loads(man.read_text(encoding="utf-8")).get("styles")
            if styles:
                return [str(s) for s in styles]
        except (UnicodeDecodeError, json.JSONDecodeError):
            pass
    from safetensors import safe_open

    with safe_open(str(weights), "pt") as f:
        meta = f.metadata() or {}
    if "styles" in meta:
        return [str(s) for s in json.loads(meta["styles"])]
    return None


def load_stylenet(weights: Path) -> tuple[StyleNet, list[str]]:
    """StyleNet with the weights of a safetensors file; the number of styles comes from the tensor shapes."""
    from safetensors.torch import load_file

    weights = Path(weights)
    if not weights.is_file():
        raise ModelError(f"No weights file at {weights}.", "Train a model first (`vcam train`) or pass its path.")
    try:
        sd = load_file(str(weights))
    except Exception as exc:  # safetensors raises its own error types for bad headers/truncation
        raise ModelError(f"The weights file {weights} cannot be read ({exc}).",
                         "Re-run `vcam train` or restore the file.") from exc
    gamma = sd.get("n1.gamma")
    if gamma is None or gamma.ndim != 2:
        raise ModelError(f"{weights} does not hold StyleNet weights (no n1.gamma tensor).")
    num_styles = int(gamma.shape[0])
    net = StyleNet(num_styles)
    try:
        net.load_state_dict(sd, strict=True)
    except RuntimeError as exc:
        raise ModelError(f"{weights} does not match this vcam's network ({exc}).") from exc
    net.eval()
    names = _styles_of(weights, sd) or [f"style{i}" for i in range(num_styles)]
    if len(names) != num_styles:
        raise ModelError(f"{weights} has {num_styles} styles but its manifest lists {len(names)}.")
    return net, names


@contextmanager
def _one_thread() -> Iterator[None]:
    """Tracing and the small self-check need no parallelism; one thread avoids OpenMP stalls on a busy machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


def _example_inputs(num_styles: int, height: int = 64, width: int = 96) -> tuple[torch.Tensor, ...]:
    style = torch.zeros(1, num_styles)
    style[0, 0] = 1.0
    return (torch.rand(1, 3, height, width),
            torch.zeros(1, STATE_CHANNELS, height // SIZE_MULTIPLE, width // SIZE_MULTIPLE),
            torch.zeros(1, 1), style)


def export_stylenet(net: StyleNet, path: Path, opset: int = 17) -> Path:
    """Write ``net`` as a single-file ONNX graph with dynamic H/W and check it."""
    import onnx

    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    dyn = {"image": {2: "height", 3: "width"}, "state": {2: "height_4", 3: "width_4"},
           "stylized": {2: "height", 3: "width"}, "new_state": {2: "height_4", 3: "width_4"}}
    with _one_thread(), torch.no_grad(), warnings.catch_warnings():
        # The legacy exporter (chosen: one file, opset 17) warns that it is legacy, about InstanceNorm
        # "training mode" (it always uses input statistics, as the net does), about Slice folding in the
        # reflect pads and a spatial-size check traced as a constant; none of them changes the graph.
        warnings.simplefilter("ignore")
        torch.onnx.export(net.eval(), _example_inputs(net.num_styles), str(tmp), dynamo=False,
                          opset_version=opset, input_names=list(INPUTS), output_names=list(OUTPUTS),
                          dynamic_axes=dyn, do_constant_folding=True)
    model = onnx.load(str(tmp))
    for out in model.graph.output:   # batch is 1 (the inputs say so); the tracer leaves odd names on outputs
        out.type.tensor_type.shape.dim[0].dim_value = 1
    # The legacy exporter may spill weights to side files for big models; ours must stay one file.
    onnx.save_model(model, str(tmp), save_as_external_data=False)
    onnx.checker.check_model(str(tmp), full_check=True)
    tmp.replace(path)
    return path


def parity(net: StyleNet, onnx_path: Path, images: list, style: list[float] | None = None) -> list[float]:
    """Max abs difference between torch and ONNX Runtime for each output of a recurrent run over ``images``
    ((1,3,H,W) float32 RGB blobs, one size): the first step resets (keep = 0), later ones carry the state.
    Returns [err_step0, err_step1, ...] (the larger of the two outputs' errors per step)."""
    import numpy as np
    import onnxruntime as ort

    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    h, w = images[0].shape[2:]
    s = np.zeros((1, net.num_styles), np.float32)
    if style is None:
        s[0, 0] = 1.0
    else:
        s[0, :] = style
    st = torch.zeros(1, STATE_CHANNELS, h // SIZE_MULTIPLE, w // SIZE_MULTIPLE)
    so = st.numpy().copy()
    errs = []
    for k, x in enumerate(images):
        keep = np.full((1, 1), float(k > 0), np.float32)
        with torch.no_grad():
            ref, st = net(torch.from_numpy(x), st, torch.from_numpy(keep), torch.from_numpy(s))
        got, so = sess.run(None, {"image": x, "state": so, "keep": keep, "style": s})
        errs.append(float(max(np.abs(got - ref.numpy()).max(), np.abs(so - st.numpy()).max())))
    return errs


def export_onnx(weights: Path, out_dir: Path, opset: int = 17) -> Path:
    """Export ``weights`` (safetensors) to ``out_dir/vcam.onnx`` and record it in ``out_dir``'s manifest.

    The manifest beside the weights is the template when ``out_dir`` has none yet; the weights file is copied
    along so the exported folder is a complete model directory.
    """
    weights, out_dir = Path(weights), Path(out_dir)
    net, names = load_stylenet(weights)
    out_dir.mkdir(parents=True, exist_ok=True)
    onnx_path = export_stylenet(net, out_dir / ONNX_NAME, opset=opset)
    # A quick self-check on two random frames (the state carried into the second); tests use real frames.
    probe = [_example_inputs(net.num_styles, 96, 128)[0].numpy() for _ in range(2)]
    with _one_thread():
        errs = parity(net, onnx_path, probe)
    if max(errs) > PARITY_TOL:
        raise ModelError(f"The exported {onnx_path} differs from the torch network by {max(errs):.2e} "
                         f"(tolerance {PARITY_TOL:.0e}).", "Report this with your torch and onnxruntime versions.")

    data: dict = {}
    for cand in (out_dir / MANIFEST, weights.parent / MANIFEST):
        if cand.is_file():
            try:
                data = json.loads(cand.read_text(encoding="utf-8"))
                break
            except (UnicodeDecodeError, json.JSONDecodeError):
                continue
    if weights.parent.resolve() != out_dir.resolve():
        shutil.copyfile(weights, out_dir / weights.name)
    data.update({"styles": names, "onnx": ONNX_NAME, "onnx_sha256": sha256_file(onnx_path), "weights": weights.name,
                 "state_channels": STATE_CHANNELS, "size_multiple": SIZE_MULTIPLE, "onnx_opset": opset})
    data.pop("format", None)
    data.pop("version", None)
    write_manifest(out_dir, data)
    return onnx_path


def export_model(model_dir: Path, out_dir: Path | None = None, opset: int = 17) -> Path:
    """What `vcam export` calls: export the weights a model folder's manifest names (in place by default)."""
    from vcam.styles import load_manifest

    man = load_manifest(Path(model_dir))
    if not man.weights:
        raise ModelError(f"The manifest in {model_dir} names no weights file to export.")
    return export_onnx(man.weights_path, Path(out_dir) if out_dir else man.directory, opset=opset)


def snapshot_weights(weights: Path, dest_dir: Path | None = None) -> Path:
    """Copy weights (and the manifest beside them) somewhere stable: training rewrites its files every few minutes."""
    weights = Path(weights)
    dest = Path(dest_dir) if dest_dir else Path(tempfile.mkdtemp(prefix="vcam-export-"))
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(weights, dest / weights.name)
    if (weights.parent / MANIFEST).is_file():
        shutil.copyfile(weights.parent / MANIFEST, dest / MANIFEST)
    return dest / weights.name


def calibration_feeds(onnx_path: Path, frames: list, num_styles: int, sequence: int = 4) -> list[dict]:
    """Inputs for static int8 calibration: real frames (RGB float32 NCHW blobs, all one size) run in short
    sequences through the fp32 graph so the ``state`` input sees realistic carried states; styles cycle."""
    import numpy as np
    import onnxruntime as ort

    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    feeds: list[dict] = []
    state = None
    for i, blob in enumerate(frames):
        if state is None or i % sequence == 0:
            state = np.zeros((1, STATE_CHANNELS, blob.shape[2] // 4, blob.shape[3] // 4), np.float32)
            keep = np.zeros((1, 1), np.float32)
        else:
            keep = np.ones((1, 1), np.float32)
        style = np.zeros((1, num_styles), np.float32)
        style[0, i % num_styles] = 1.0
        feed = {"image": blob, "state": state, "keep": keep, "style": style}
        feeds.append(feed)
        state = sess.run(["new_state"], feed)[0]
    return feeds


def quantize_int8(onnx_path: Path, out_path: Path, feeds: list[dict]) -> Path:
    """Static QDQ int8 copy of the graph (per-channel int8 weights, uint8 activations, convolutions only: the
    instance norms and the style mixing stay float), calibrated on ``feeds``. OpenVINO runs it with int8 kernels."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class _Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._it = iter(feeds)

        def get_next(self) -> dict | None:
            return next(self._it, None)

    out_path = Path(out_path)
    with tempfile.TemporaryDirectory() as tmp:
        prep = Path(tmp) / "prep.onnx"
        quant_pre_process(str(onnx_path), str(prep), skip_symbolic_shape=True)
        quantize_static(str(prep), str(out_path), _Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, op_types_to_quantize=["Conv"])
    return out_path
