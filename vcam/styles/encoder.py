"""Any picture -> a style code, at run time: the model's style encoder (ONNX) on ONNX Runtime.

Called off the frame thread (the control endpoint's request thread, or at start-up), once per picture: a few
milliseconds for a 512 px picture (benchmarks/bench_style_image.py). One thread, so the stream's inference keeps its
cores. The picture is prepared exactly as in training (vcam.model.distill.square): RGB in [0, 1], the long side
resized to the encoder's size with an area filter, the short side padded by reflection.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from vcam.errors import ModelError
from vcam.styles.manifest import Manifest, sha256_file


def prepare(rgb: np.ndarray, long_side: int) -> np.ndarray:
    """(1,3,S,S) float32 from an HxWx3 uint8 RGB picture."""
    h, w = rgb.shape[:2]
    s = long_side / max(h, w)
    small = cv2.resize(rgb.astype(np.float32) / 255.0, (max(1, round(w * s)), max(1, round(h * s))),
                       interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC)
    ph, pw = long_side - small.shape[0], long_side - small.shape[1]
    sq = cv2.copyMakeBorder(small, ph // 2, ph - ph // 2, pw // 2, pw - pw // 2, cv2.BORDER_REFLECT_101)
    return np.ascontiguousarray(np.clip(sq, 0, 1).transpose(2, 0, 1)[None], np.float32)


class StyleEncoder:
    """The manifest's ``style_encoder`` graph: image (1,3,S,S) -> code (1,D)."""

    def __init__(self, manifest: Manifest, threads: int = 1) -> None:
        import onnxruntime as ort

        name = manifest.extra.get("style_encoder")
        if not name:
            raise ModelError(f"The model in {manifest.directory} has no style encoder: it cannot take a picture as "
                             "a style.", "Use one of its styles (`vcam styles`), or a vcam whose model has one.")
        path = Path(manifest.directory) / name
        if not path.is_file():
            raise ModelError(f"The style encoder {path} named by the manifest is missing.", "Reinstall vcam.")
        want = manifest.extra.get("style_encoder_sha256")
        if want and sha256_file(path) != want:
            raise ModelError(f"The style encoder {path} does not match its manifest (corrupt or truncated).",
                             "Reinstall vcam, or re-export the model.")
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        except Exception as exc:  # ORT raises its own Fail/InvalidProtobuf types
            raise ModelError(f"The style encoder {path} cannot be loaded ({type(exc).__name__}).",
                             "Reinstall vcam.") from exc
        self.long_side = int(manifest.extra.get("style_encoder_long_side", 256))
        self.dim = manifest.style_dim

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        code = self.session.run(["code"], {"image": prepare(rgb, self.long_side)})[0].reshape(-1)
        if code.shape != (self.dim,) or not np.isfinite(code).all():
            raise ModelError(f"The style encoder returned a code of shape {code.shape}; the network takes {self.dim}.")
        return code.astype(np.float32)
