"""Dust scores near trucks on the test footage, and what the dust rule opens.

Run as `.venv/bin/python -m benchmarks.dust`. Each still photograph is scored as
40 identical frames at 5 fps; each clip is sampled at 5 fps. Two detector set-ups
are measured: the defaults (score threshold 0.3, rule classes `truck`) and a low
one (score threshold 0.1, rule classes `truck` and `train`), because YOLOX-Nano
gives the hazy truck of the second still only 0.1-0.2.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import av
import cv2
import numpy as np

from models.registry import load_model_spec
from sharpeyes.config import DustRuleConfig
from tests.conftest import MEDIA, MODELS
from vision.detector import Detector
from vision.dust import dust_pixels, dust_threshold, scale_image, score_boxes
from vision.rules import CameraInfo, DustRule, Observation

FPS = 5.0
STILL_FRAMES = 40
SOURCES = [
    "stills/dump_truck_dust_1.jpg",
    "stills/dump_truck_dust_2.jpg",
    "uk_motorway_cctv_lorries.mp4",
    "smoke_plume_distant_drone.mp4",
]
SETUPS = {
    "default": (0.3, ["truck"]),
    "low": (0.1, ["truck", "train"]),
}
DETECTED = ["person", "bicycle", "car", "motorcycle", "bus", "train", "truck"]


def frames(path: Path):
    """Yield (media seconds, BGR frame) at FPS."""
    if path.suffix == ".jpg":
        image = cv2.imread(str(path))
        for index in range(STILL_FRAMES):
            yield index / FPS, image
        return
    container = av.open(str(path))
    next_t = 0.0
    try:
        for frame in container.decode(video=0):
            t = float(frame.time or 0.0)
            if t + 1e-6 < next_t:
                continue
            next_t += 1.0 / FPS
            yield t, frame.to_ndarray(format="bgr24")
    finally:
        container.close()


def measure(path: Path, detector: Detector, classes: list[str]) -> dict:
    config = DustRuleConfig(kind="dust", classes=classes)
    rule = DustRule(CameraInfo("bench", "site", ""), 0, config, None)
    scores, dusty_frames, incidents = [], 0, []
    frame_count, truck_count, score_s = 0, 0, 0.0
    veil = []
    last = None
    for t, image in frames(path):
        height, width = image.shape[:2]
        obs = Observation(t, 1.7e9 + t, width, height, t, image)
        found = detector.detect([image])[0]
        trucks = rule.trucks(found, obs)
        started = time.perf_counter()
        results = score_boxes(image, trucks.xyxy, found.xyxy)
        score_s += time.perf_counter() - started
        truck_count += len(trucks)
        frame_count += 1
        frame_scores = [result.score for result in results]
        scores += frame_scores
        if frame_scores and max(frame_scores) >= rule.threshold:
            dusty_frames += 1
        veil.append(float(dust_pixels(scale_image(image)).mean()))
        for event in rule.update(found, obs):
            if event.state == "open":
                incidents.append(f"open at {t:.1f} s, count {event.count}")
        last = obs
    for event in rule.finish(last, "end of file"):
        incidents.append(
            f"close, peak score {event.detail['peak_dust_score']:.3f}, "
            f"peak count {event.peak_count}"
        )
    return {
        "frames": frame_count,
        "trucks": truck_count,
        "max": max(scores) if scores else None,
        "p95": float(np.percentile(scores, 95)) if scores else None,
        "dusty_frames": dusty_frames,
        "veil": float(np.median(veil)),
        "incidents": incidents,
        "ms_per_truck": 1000 * score_s / truck_count if truck_count else None,
    }


def number(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--media", type=Path, default=MEDIA, help="footage folder")
    parser.add_argument("--models", type=Path, default=MODELS, help="weights folder")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    spec = load_model_spec("yolox_nano", args.models)

    print(f"Machine: {platform.machine()}, cv2 threads 1")
    print(f"Threshold at sensitivity 0.5: {dust_threshold(0.5):.2f}")
    print(
        "| source | detector set-up | frames | trucks scored | max score | "
        "p95 score | frames >= threshold | dust-like share of frame | "
        "score ms per truck | incidents |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for setup, (threshold, classes) in SETUPS.items():
        detector = Detector(spec, score_threshold=threshold, keep_classes=DETECTED)
        for source in SOURCES:
            row = measure(args.media / source, detector, classes)
            timing = number(row["ms_per_truck"])
            print(
                f"| {Path(source).name} | {setup} | {row['frames']} | {row['trucks']} "
                f"| {number(row['max'])} | {number(row['p95'])} "
                f"| {row['dusty_frames']} | {row['veil']:.3f} | {timing} "
                f"| {'; '.join(row['incidents']) or 'none'} |"
            )


if __name__ == "__main__":
    main()
