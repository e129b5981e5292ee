"""A tiny person segmenter for tests, built with onnx.helper (no torch): matte = sigmoid(k * (red - 0.5)), so a
test paints its "person" pure red (matte ~1) on a dark background (matte ~0). Same interface as models/person.onnx:
input ``image`` (1,3,144,256) RGB in [0,1], output ``matte`` (1,1,144,256)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

RED = (0, 0, 255)       # BGR: the colour the tiny segmenter calls "person"
GAIN = 40.0             # sigmoid(40 * 0.5) = 1 - 2e-9: a hard matte on pure colours


def write_tiny_person(path: Path, gain: float = GAIN, dynamic: bool = False,
                      names: tuple[str, str] = ("image", "matte")) -> Path:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    shape_in = ["n", 3, "h", "w"] if dynamic else [1, 3, 144, 256]
    shape_out = ["n", 1, "h", "w"] if dynamic else [1, 1, 144, 256]
    w = numpy_helper.from_array(np.array([gain, 0.0, 0.0], np.float32).reshape(1, 3, 1, 1), "w")
    b = numpy_helper.from_array(np.array([-gain * 0.5], np.float32), "b")
    graph = helper.make_graph(
        [helper.make_node("Conv", [names[0], "w", "b"], ["logit"]),
         helper.make_node("Sigmoid", ["logit"], [names[1]])],
        "tiny_person",
        [helper.make_tensor_value_info(names[0], TensorProto.FLOAT, shape_in)],
        [helper.make_tensor_value_info(names[1], TensorProto.FLOAT, shape_out)],
        initializer=[w, b])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def person_frame(h: int, w: int, box: tuple[int, int, int, int], background: int = 40) -> np.ndarray:
    """A dark gray BGR frame with a pure red rectangle (x0, y0, x1, y1) as the "person"."""
    img = np.full((h, w, 3), background, np.uint8)
    x0, y0, x1, y1 = box
    img[y0:y1, x0:x1] = RED
    return img


STYLE_DIM = 4
STATE_CHANNELS = 4


def write_tiny_style_model(directory: Path, person: bool = True) -> Path:
    """A style model folder the CPU engine runs, built with onnx.helper (no torch): one style, "invert", whose
    picture is 1 - image (so a test knows the fully stylized frame: 255 - frame), and a state that is carried
    through; with ``person`` the tiny segmenter as person.onnx beside it (recorded in the manifest)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from safetensors.numpy import save_file

    from vcam.styles import STYLE_CODES, sha256_file, write_manifest

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    one = numpy_helper.from_array(np.ones((1,), np.float32), "one")
    zero = numpy_helper.from_array(np.zeros((1,), np.float32), "zero")
    nodes = [
        helper.make_node("ReduceSum", ["style"], ["style_sum"], keepdims=1),     # uses the style input
        helper.make_node("Mul", ["style_sum", "zero"], ["nothing"]),
        helper.make_node("Sub", ["one", "image"], ["inverted"]),
        helper.make_node("Add", ["inverted", "nothing"], ["stylized"]),
        helper.make_node("Mul", ["state", "keep"], ["kept"]),
        helper.make_node("Add", ["kept", "nothing"], ["new_state"]),
    ]
    f = TensorProto.FLOAT
    graph = helper.make_graph(
        nodes, "tiny_style",
        [helper.make_tensor_value_info("image", f, [1, 3, "h", "w"]),
         helper.make_tensor_value_info("state", f, [1, STATE_CHANNELS, "sh", "sw"]),
         helper.make_tensor_value_info("keep", f, [1, 1]),
         helper.make_tensor_value_info("style", f, [1, STYLE_DIM])],
        [helper.make_tensor_value_info("stylized", f, [1, 3, "h", "w"]),
         helper.make_tensor_value_info("new_state", f, [1, STATE_CHANNELS, "sh", "sw"])],
        initializer=[one, zero])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(directory / "vcam.onnx"))
    save_file({"codes": np.eye(1, STYLE_DIM, dtype=np.float32)}, str(directory / STYLE_CODES))
    data = {"styles": ["invert"], "onnx": "vcam.onnx", "onnx_sha256": sha256_file(directory / "vcam.onnx"),
            "weights": "", "style_codes": STYLE_CODES, "state_channels": STATE_CHANNELS, "size_multiple": 8,
            "code_dim": STYLE_DIM, "upsample": "bilinear", "ladder_720": [360, 720], "internal_height_720": 720}
    if person:
        write_tiny_person(directory / "person.onnx")
        data.update(person_model="person.onnx", person_model_sha256=sha256_file(directory / "person.onnx"))
    write_manifest(directory, data)
    return directory
