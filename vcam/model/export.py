"""Export the trained StyleNet to one ONNX file the CPU runtimes (and TensorRT) execute without torch.

Recurrent state, reset flag and style code are graph inputs, so blending, switching and resetting never need a
re-export; H and W are dynamic (multiples of 4). The built-in styles' codes go to ``styles.safetensors`` beside it.
The manifest gets the ONNX's name and SHA-256, which the engines verify before loading.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from vcam.errors import ModelError
from vcam.model.network import NetShape, StyleBank, StyleNet
from vcam.model.weights import load_weights
from vcam.styles import MANIFEST, STYLE_CODES, VERSION, sha256_file, write_manifest

ONNX_NAME = "vcam.onnx"
INPUTS = ("image", "state", "keep", "style")
OUTPUTS = ("stylized", "new_state")
PARITY_TOL = 1e-4


def load_stylenet(weights: Path) -> tuple[StyleNet, StyleBank, list[str]]:
    """The trained net, its style codes and names from a safetensors weights file."""
    return load_weights(Path(weights))


@contextmanager
def _one_thread() -> Iterator[None]:
    """Tracing and the small self-check need no parallelism; one thread avoids OpenMP stalls on a busy machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


def _example_inputs(net: StyleNet, height: int = 64, width: int = 96) -> tuple[torch.Tensor, ...]:
    return (torch.rand(1, 3, height, width),
            torch.zeros(1, net.shape.state_channels, height // net.shape.stride, width // net.shape.stride),
            torch.zeros(1, 1), torch.randn(1, net.code_dim) * 0.5)


def export_stylenet(net: StyleNet, path: Path, opset: int = 17) -> Path:
    """Write ``net`` as a single-file ONNX graph with dynamic H/W and check it."""
    import onnx

    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    dyn = {"image": {2: "height", 3: "width"}, "state": {2: "height_4", 3: "width_4"},
           "stylized": {2: "height", 3: "width"}, "new_state": {2: "height_4", 3: "width_4"}}
    with _one_thread(), torch.no_grad(), warnings.catch_warnings():
        # The legacy exporter (chosen: one file, opset 17) warns that it is legacy, about InstanceNorm
        # "training mode" (it always uses input statistics, as the net does) and about a spatial-size check
        # traced as a constant; none of them changes the graph.
        warnings.simplefilter("ignore")
        torch.onnx.export(net.eval(), _example_inputs(net), str(tmp), dynamo=False,
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


def parity(net: StyleNet, onnx_path: Path, images: list, code: np.ndarray) -> list[float]:
    """Max abs difference between torch and ONNX Runtime for each output of a recurrent run over ``images``
    ((1,3,H,W) float32 RGB blobs, one size) with style code ``code`` (1, D): the first step resets (keep = 0),
    later ones carry the state. Returns [err_step0, err_step1, ...] (the larger of the two outputs' errors)."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    h, w = images[0].shape[2:]
    s = np.ascontiguousarray(code, np.float32)
    st = torch.zeros(1, net.shape.state_channels, h // net.shape.stride, w // net.shape.stride)
    so = st.numpy().copy()
    errs = []
    for k, x in enumerate(images):
        keep = np.full((1, 1), float(k > 0), np.float32)
        with torch.no_grad():
            ref, st = net(torch.from_numpy(x), st, torch.from_numpy(keep), torch.from_numpy(s))
        got, so = sess.run(None, {"image": x, "state": so, "keep": keep, "style": s})
        errs.append(float(max(np.abs(got - ref.numpy()).max(), np.abs(so - st.numpy()).max())))
    return errs


def save_codes(path: Path, bank: StyleBank, names: list[str]) -> Path:
    """The built-in styles' codes for the runtime, which reads them with numpy (no torch)."""
    from safetensors.numpy import save_file

    tmp = path.with_name(path.name + ".tmp")
    save_file({"codes": bank.codes.detach().numpy().astype(np.float32)}, str(tmp),
              metadata={"styles": json.dumps(list(names))})
    tmp.chmod(0o644)   # safetensors writes 0600; a model folder is read by every user of the install
    tmp.replace(path)
    return path


def export_onnx(weights: Path, out_dir: Path, opset: int = 17) -> Path:
    """Export ``weights`` (safetensors) to ``out_dir/vcam.onnx`` plus the style codes, and record both in
    ``out_dir``'s manifest.

    The manifest beside the weights is the template when ``out_dir`` has none yet; the weights file is copied
    along so the exported folder is a complete model directory.
    """
    weights, out_dir = Path(weights), Path(out_dir)
    net, bank, names = load_stylenet(weights)
    out_dir.mkdir(parents=True, exist_ok=True)
    onnx_path = export_stylenet(net, out_dir / ONNX_NAME, opset=opset)
    # A quick self-check on two random frames (the state carried into the second); tests use real frames.
    probe = [_example_inputs(net, 96, 128)[0].numpy() for _ in range(2)]
    with _one_thread():
        errs = parity(net, onnx_path, probe, bank.codes[:1].detach().numpy())
    if max(errs) > PARITY_TOL:
        raise ModelError(f"The exported {onnx_path} differs from the torch network by {max(errs):.2e} "
                         f"(tolerance {PARITY_TOL:.0e}).", "Report this with your torch and onnxruntime versions.")
    codes_path = save_codes(out_dir / STYLE_CODES, bank, names)

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
    if "net_shape" not in data or NetShape.from_dict(data["net_shape"]) != net.shape:
        # Another shape (e.g. a detail head grown onto the net this folder held): its own rungs, not the old ones.
        data["internal_height_720"] = net.shape.design_height_720
        data["ladder_720"] = list(net.shape.ladder_720)
    data.update({"styles": names, "onnx": ONNX_NAME, "onnx_sha256": sha256_file(onnx_path), "weights": weights.name,
                 "style_codes": codes_path.name, "code_dim": net.code_dim, "net_shape": net.shape.as_dict(),
                 "state_channels": net.shape.state_channels, "size_multiple": net.shape.stride, "onnx_opset": opset})
    data.setdefault("internal_height_720", net.shape.design_height_720)
    data.setdefault("upsample", "bilinear")
    data.setdefault("ladder_720", list(net.shape.ladder_720))
    data.pop("format", None)
    data["version"] = VERSION
    write_manifest(out_dir, data)
    return onnx_path


def export_model(model_dir: Path, out_dir: Path | None = None, opset: int = 17) -> Path:
    """What `vcam export` calls: export the weights a model folder's manifest names (in place by default)."""
    from vcam.styles import load_manifest

    man = load_manifest(Path(model_dir))
    if not man.weights:
        raise ModelError(f"The manifest in {model_dir} names no weights file to export.")
    return export_onnx(man.weights_path, Path(out_dir) if out_dir else man.directory, opset=opset)


# What a variant carries of its own run's manifest; everything else (person segmenter, style encoder, sources) is the
# folder's. The styles must be the folder's, in the same order (vcam.styles.Manifest.variant checks).
VARIANT_FIELDS = ("styles", "state_channels", "size_multiple", "code_dim", "net_shape", "internal_height_720",
                  "ladder_720", "upsample", "temporal", "training", "onnx_opset")


def add_variant(run_dir: Path, model_dir: Path, name: str, use_when: dict | list[dict] | None = None) -> Path:
    """Copy an exported run's network into ``model_dir`` as variant ``name`` (files ``vcam_NAME.onnx``,
    ``vcam_NAME.safetensors``, ``styles_NAME.safetensors``) and list it in that folder's manifest. ``use_when``:
    when --network auto takes it, one dict of conditions or a list of alternatives."""
    from vcam.styles import BASE_NETWORK, load_manifest

    if not name.isidentifier() or name in ("auto", BASE_NETWORK):
        raise ModelError(f"{name!r} cannot name a variant.", "Use letters, digits and _, e.g. detail.")
    run, base = load_manifest(Path(run_dir)), load_manifest(Path(model_dir))
    if run.styles != base.styles:
        raise ModelError(f"{run_dir} has styles {run.styles}; {model_dir} has {base.styles}.",
                         "A variant paints the folder's styles: train it from that folder's network.")
    files = {"onnx": f"vcam_{name}.onnx", "weights": f"vcam_{name}.safetensors",
             "style_codes": f"styles_{name}.safetensors"}
    shutil.copyfile(run.onnx_path, base.directory / files["onnx"])
    shutil.copyfile(run.weights_path, base.directory / files["weights"])
    shutil.copyfile(run.directory / run.style_codes, base.directory / files["style_codes"])
    entry = {k: run.extra[k] for k in VARIANT_FIELDS if k in run.extra}
    entry.update(files, onnx_sha256=sha256_file(base.directory / files["onnx"]), use_when=_use_when_entry(use_when))
    data = json.loads((base.directory / MANIFEST).read_text(encoding="utf-8"))
    data.setdefault("variants", {})[name] = entry
    data.pop("format", None)
    write_manifest(base.directory, data)
    load_manifest(base.directory).variant(name)   # the folder reads back with the new network, or this raises
    return base.directory / MANIFEST


def snapshot_weights(weights: Path, dest_dir: Path | None = None) -> Path:
    """Copy weights (and the manifest beside them) somewhere stable: training rewrites its files every few minutes."""
    weights = Path(weights)
    dest = Path(dest_dir) if dest_dir else Path(tempfile.mkdtemp(prefix="vcam-export-"))
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(weights, dest / weights.name)
    if (weights.parent / MANIFEST).is_file():
        shutil.copyfile(weights.parent / MANIFEST, dest / MANIFEST)
    return dest / weights.name


def calibration_feeds(onnx_path: Path, frames: list, codes: np.ndarray, state_channels: int,
                      sequence: int = 4, state_stride: int = 8) -> list[dict]:
    """Inputs for static int8 calibration: real frames (RGB float32 NCHW blobs, all one size) run in short
    sequences through the fp32 graph so the ``state`` input sees realistic carried states; style codes cycle."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    feeds: list[dict] = []
    state = None
    for i, blob in enumerate(frames):
        if state is None or i % sequence == 0:
            state = np.zeros((1, state_channels, blob.shape[2] // state_stride, blob.shape[3] // state_stride),
                             np.float32)
            keep = np.zeros((1, 1), np.float32)
        else:
            keep = np.ones((1, 1), np.float32)
        style = np.ascontiguousarray(codes[i % len(codes)][None], np.float32)
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


ENCODER_ONNX = "style_encoder.onnx"


def export_style_encoder(weights: Path, model_dir: Path) -> Path:
    """The trained style encoder (safetensors) -> ``model_dir/style_encoder.onnx``, checked against torch, and
    recorded in the model's manifest (name, hash, input size): the runtime then takes any picture as a style."""
    import onnxruntime as ort
    from safetensors import safe_open
    from safetensors.torch import load_file

    from vcam.model.style_encoder import ENCODER_LONG_SIDE, StyleEncoder, export_encoder
    from vcam.styles import load_manifest

    man = load_manifest(model_dir)
    with safe_open(str(weights), framework="pt") as f:
        meta = f.metadata() or {}
    widths = tuple(json.loads(meta["widths"])) if "widths" in meta else (32, 64, 128, 128)
    enc = StyleEncoder(int(meta.get("code_dim", man.style_dim)), widths=widths, hidden=int(meta.get("hidden", 256)))
    enc.load_state_dict(load_file(str(weights)), strict=True)
    enc.eval()
    if enc.mlp[-1].out_features != man.style_dim:
        raise ModelError(f"The style encoder {weights} makes codes of {enc.mlp[-1].out_features} numbers; the model "
                         f"in {model_dir} takes {man.style_dim}.")
    path = export_encoder(enc, Path(model_dir) / ENCODER_ONNX)
    x = torch.rand(1, 3, ENCODER_LONG_SIDE, ENCODER_LONG_SIDE, generator=torch.Generator().manual_seed(0))
    with _one_thread(), torch.no_grad():
        ref = enc(x).numpy()
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(["code"], {"image": x.numpy()})[0]
    if np.abs(got - ref).max() > PARITY_TOL * 10:
        raise ModelError(f"The exported {path} differs from the torch encoder by {np.abs(got - ref).max():.2e}.")
    data = json.loads((Path(model_dir) / MANIFEST).read_text(encoding="utf-8"))
    data.update({"style_encoder": ENCODER_ONNX, "style_encoder_sha256": sha256_file(path),
                 "style_encoder_long_side": ENCODER_LONG_SIDE,
                 "style_encoder_training": {k: meta[k] for k in ("iterations", "minutes") if k in meta}})
    data.pop("format", None)
    data["version"] = VERSION
    write_manifest(Path(model_dir), data)
    return path


PERSON_ONNX = "person.onnx"


def export_person(weights: Path, model_dir: Path) -> Path:
    """The trained person segmenter (safetensors) -> ``model_dir/person.onnx``, checked against torch, and recorded
    in the model's manifest (name, hash, training): the runtime's person options then have their matte. The weights
    go beside it (``person.safetensors``), so a fresh checkout can continue training from what it ships."""
    import onnxruntime as ort
    from safetensors import safe_open

    from vcam.model.segmenter import INPUT_HW, export_segmenter
    from vcam.model.train_person import PERSON_WEIGHTS, load_person_weights

    net = load_person_weights(weights)
    with safe_open(str(weights), framework="pt") as f:
        meta = f.metadata() or {}
    with _one_thread():
        path = export_segmenter(net, Path(model_dir) / PERSON_ONNX)
        x = torch.rand(1, 3, *INPUT_HW, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            ref = net(x).numpy()
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(["matte"], {"image": x.numpy()})[0]
    if np.abs(got - ref).max() > PARITY_TOL * 10:
        raise ModelError(f"The exported {path} differs from the torch segmenter by {np.abs(got - ref).max():.2e}.")
    if Path(weights).resolve() != (Path(model_dir) / PERSON_WEIGHTS).resolve():
        shutil.copyfile(weights, Path(model_dir) / PERSON_WEIGHTS)
    data = json.loads((Path(model_dir) / MANIFEST).read_text(encoding="utf-8"))
    data.update({"person_model": PERSON_ONNX, "person_model_sha256": sha256_file(path),
                 "person_training": {k: meta[k] for k in ("iterations", "minutes") if k in meta}})
    data.pop("format", None)
    data["version"] = VERSION
    write_manifest(Path(model_dir), data)
    return path


def _use_when_entry(use_when: dict | list[dict] | None) -> dict | list[dict]:
    """One alternative is stored as a plain dict (as manifests before alternatives were possible), several as a list."""
    alternatives = [dict(a) for a in (use_when if isinstance(use_when, list) else [use_when or {}]) if a]
    return alternatives if len(alternatives) > 1 else (alternatives[0] if alternatives else {})
