"""The naive baseline: one OpenCV VideoCapture loop per camera, no batching.

    .venv/bin/python -m benchmarks.naive --fps 5 --seconds 30 --warmup 10 URL...

Each camera gets a thread that reads every frame with `cv2.VideoCapture` (FFmpeg
backend, RTSP over TCP) and calls `session.run` on one letterboxed frame out of
every source-fps / --fps, with onnxruntime's default session options. This is
the loop most prototypes start from. After --warmup seconds it counts for
--seconds how many frames each camera analysed, then prints one JSON line:
{"fps": [per camera], "cpu_cores": process CPU over the window}.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time

# OpenCV reads its FFmpeg options from the environment when a capture opens.
os.environ.setdefault("OPENCV_FFMPEG_CAPTURE_OPTIONS", "rtsp_transport;tcp")

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402

from models.registry import load_model_spec  # noqa: E402
from tests.conftest import MODELS  # noqa: E402
from vision.detector import letterbox_into  # noqa: E402


def camera_loop(url, session, spec, every: int, counts, index, stop) -> None:
    capture = cv2.VideoCapture(url, cv2.CAP_FFMPEG)
    name = session.get_inputs()[0].name
    batch = np.empty((1, 3, spec.input_height, spec.input_width), np.float32)
    frame_number = 0
    while not stop.is_set():
        ok, image = capture.read()
        if not ok:
            break
        frame_number += 1
        if frame_number % every:
            continue
        letterbox_into(image, batch[0])
        session.run(None, {name: batch})
        counts[index] += 1
    capture.release()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("urls", nargs="+", help="RTSP URLs, one per camera")
    parser.add_argument(
        "--fps", type=float, default=5.0, help="analysed frames/s per camera"
    )
    parser.add_argument(
        "--source-fps", type=float, default=25.0, help="frame rate of the streams"
    )
    parser.add_argument(
        "--seconds", type=float, default=30.0, help="counting window in seconds"
    )
    parser.add_argument(
        "--warmup", type=float, default=10.0, help="seconds read before counting"
    )
    args = parser.parse_args()

    spec = load_model_spec("yolox_nano", MODELS)
    session = ort.InferenceSession(str(spec.path), providers=["CPUExecutionProvider"])
    every = max(1, round(args.source_fps / args.fps))
    counts = [0] * len(args.urls)
    stop = threading.Event()
    threads = [
        threading.Thread(
            target=camera_loop,
            args=(url, session, spec, every, counts, i, stop),
            daemon=True,
        )
        for i, url in enumerate(args.urls)
    ]
    for thread in threads:
        thread.start()
    time.sleep(args.warmup)
    before, cpu_before = list(counts), os.times()
    started = time.monotonic()
    time.sleep(args.seconds)
    elapsed = time.monotonic() - started
    after, cpu_after = list(counts), os.times()
    stop.set()
    cpu = (cpu_after.user + cpu_after.system) - (cpu_before.user + cpu_before.system)
    fps = [round((a - b) / elapsed, 3) for a, b in zip(after, before, strict=True)]
    print(json.dumps({"fps": fps, "cpu_cores": round(cpu / elapsed, 3)}), flush=True)
    # Capture threads may sit in a blocking read; the process exit ends them.
    os._exit(0)


if __name__ == "__main__":
    main()
