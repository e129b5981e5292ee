"""Person-aware mode: vcam's own person segmenter (ONNX) and the matte that steers per-region strength.

- ``segmenter``: the network at 256x144 on OpenVINO or ONNX Runtime, into preallocated buffers;
- ``matte``: temporal smoothing that follows motion, then edge refinement at the output size (fast guided filter);
- ``stage``: both together for an engine, loaded only when a person option is used.

The per-pixel strength blend itself is ``vcam.ops.region``.
"""

from vcam.person.matte import MatteParams, MatteTracker
from vcam.person.segmenter import (
    INPUT_NAME,
    INPUT_SIZE,
    OUTPUT_NAME,
    PERSON_ONNX,
    PersonSegmenter,
    check_person_model,
    person_model_path,
)
from vcam.person.stage import PersonMatting

__all__ = ["INPUT_NAME", "INPUT_SIZE", "OUTPUT_NAME", "PERSON_ONNX", "MatteParams", "MatteTracker", "PersonMatting",
           "PersonSegmenter", "check_person_model", "person_model_path"]
