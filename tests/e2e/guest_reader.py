"""Inside the e2e guest: read a virtual camera with OpenCV's V4L2 capture, the way a video-call app would, and dump
every frame as raw BGR for the host to decode. Runs until killed; each frame is written as soon as it arrives.

Usage: guest_reader.py DEVICE OUT_RAW READY_FILE
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

import cv2


def main() -> int:
    device, out_path, ready = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    # OpenCV 5's V4L2 backend opens cameras by index only ("can't be used to capture by name"): /dev/videoN -> N.
    index = int(re.fullmatch(r"/dev/video(\d+)", device).group(1))
    ready.write_text("imported\n")          # the host side waits for this before starting the writer
    meta = out_path.with_suffix(".json")
    t0 = time.monotonic()
    attempts = 0
    with open(out_path, "wb", buffering=0) as out, open(out_path.with_suffix(".times"), "w") as times:
        while True:
            # With exclusive_caps=1 the node offers capture only once a writer has set a format and sent a frame:
            # until then opening or reading fails, so poll.
            cap = cv2.VideoCapture(index, cv2.CAP_V4L2)
            attempts += 1
            ok, frame = (cap.read() if cap.isOpened() else (False, None))
            if not ok:
                cap.release()
                time.sleep(0.1)
                continue
            meta.write_text(json.dumps({"width": frame.shape[1], "height": frame.shape[0],
                                        "fourcc": int(cap.get(cv2.CAP_PROP_FOURCC)), "open_attempts": attempts,
                                        "first_frame_s": round(time.monotonic() - t0, 3)}))
            while ok:
                out.write(frame.tobytes())
                times.write(f"{time.monotonic() - t0:.4f}\n")
                times.flush()
                ok, frame = cap.read()
            cap.release()


if __name__ == "__main__":
    sys.exit(main())
