"""Person detection and gathering accuracy against MOT ground truth.

    .venv/bin/python -m benchmarks.accuracy

For PETS09-S2L1 and TUD-Campus, runs YOLOX-Nano (416 x 416 input) on every frame,
whole-frame and with 2 x 2 tiles, and reports for several score thresholds,
on the whole frame and (PETS) within the plaza zone x >= 0.1 that the tests use:
precision and recall at IoU 0.5, and the mean absolute error of the per-frame
person count. Ground-truth boxes flagged 0 (ignore) are honoured: a detection
that matches one is neither a true nor a false positive, and missing one is no
miss. It then compares gathering incidents from the detections with those the
same rule derives from the ground truth. The results are appended to
benchmarks/ACCURACY.md.
"""

from __future__ import annotations

import argparse
import platform
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import av
import numpy as np

from benchmarks.mot import as_detections, load_mot
from models.registry import load_model_spec
from sharpeyes.config import CameraConfig
from tests.conftest import MEDIA, MODELS
from vision.detections import Detections
from vision.detector import Detector
from vision.rules import CameraInfo, GatheringRule, Observation
from vision.tracking import iou_matrix
from vision.zones import Zone

PAGE = Path(__file__).with_name("ACCURACY.md")
CLIPS = {
    "PETS09-S2L1": ("pets09_s2l1_plaza.mp4", "pets09_s2l1_plaza.gt.txt", 7.0),
    "TUD-Campus": ("tud_campus_walkers.mp4", "tud_campus_walkers.gt.txt", 25.0),
}
THRESHOLDS = (0.2, 0.3, 0.4, 0.5)
GATHERING_ZONE = [[0.1, 0.0], [1.0, 0.0], [1.0, 1.0], [0.1, 1.0]]
GATHERING_RULE = {
    "kind": "gathering",
    "zone": "plaza",
    "min_people": 5,
    "min_seconds": 5,
    "quiet_seconds": 5,
}


@dataclass
class Score:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    count_error: float = 0.0
    frames: int = 0

    @property
    def precision(self) -> float:
        return self.tp / max(1, self.tp + self.fp)

    @property
    def recall(self) -> float:
        return self.tp / max(1, self.tp + self.fn)


def score_frame(
    found: Detections, truth, score: Score, region: Zone | None, size
) -> None:
    """Greedy matching at IoU 0.5, best detections first.

    With a `region`, detections whose bottom-centre lies outside it are dropped
    and ground-truth boxes outside it are treated as ignored, which evaluates
    what a camera with that zone or exclusion would count.
    """
    boxes = truth.boxes if truth is not None else np.zeros((0, 4), np.float32)
    ignored = truth.ignored if truth is not None else np.zeros((0,), bool)
    if region is not None:
        scale = np.array(size, np.float64)
        found = found.select(region.contains(found.bottom_centres() / scale))
        centres = np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, boxes[:, 3]], axis=1)
        ignored = ignored | ~region.contains(centres / scale)
    order = np.argsort(-found.scores)
    ious = iou_matrix(found.xyxy[order], boxes)
    used = np.zeros(len(boxes), bool)
    counted = 0
    for row in range(len(order)):
        candidates = np.where(~used & (ious[row] >= 0.5))[0]
        if len(candidates) == 0:
            score.fp += 1
            counted += 1
            continue
        best = candidates[np.argmax(ious[row, candidates])]
        used[best] = True
        if not ignored[best]:
            score.tp += 1
            counted += 1
    score.fn += int((~used & ~ignored).sum())
    score.count_error += abs(counted - int((~ignored).sum()))
    score.frames += 1


def decode(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="bgr24") for frame in container.decode(video=0)]


def gathering_spans(detections: list[Detections], fps: float, size) -> list:
    from benchmarks.mot import spans_from_events

    camera = CameraConfig.model_validate(
        {
            "url": "rtsp://x/y",
            "zones": {"plaza": {"polygon": GATHERING_ZONE}},
            "rules": [GATHERING_RULE],
        }
    )
    rule = GatheringRule(
        CameraInfo("bench", "other", ""),
        0,
        camera.rules[0],
        Zone.from_points("plaza", GATHERING_ZONE),
    )
    events = []
    obs = None
    for index, found in enumerate(detections):
        t = index / fps
        obs = Observation(t, t, size[0], size[1], t)
        events += rule.update(found, obs)
    events += rule.finish(obs, "end of file")
    return spans_from_events([e.to_dict() for e in events], origin_s=0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-record", action="store_true", help="do not append")
    args = parser.parse_args()

    spec = load_model_spec("yolox_nano", MODELS)
    lowest = min(THRESHOLDS)
    detectors = {
        "whole frame": Detector(spec, score_threshold=lowest, keep_classes=["person"]),
        "2x2 tiles + whole": Detector(
            spec, score_threshold=lowest, keep_classes=["person"], tiles=2
        ),
    }
    rows = []
    gathering_lines = []
    for clip_name, (video, gt_file, fps) in CLIPS.items():
        frames = decode(MEDIA / video)
        truth = load_mot(MEDIA / gt_file)
        size = (frames[0].shape[1], frames[0].shape[0])
        regions = {"whole frame": None}
        if clip_name == "PETS09-S2L1":
            regions["x >= 0.1"] = Zone.from_points("plaza", GATHERING_ZONE)
        for mode, detector in detectors.items():
            found_all = [detector.detect([frame])[0] for frame in frames]
            for threshold in THRESHOLDS:
                kept = [f.select(f.scores >= threshold) for f in found_all]
                for region_name, region in regions.items():
                    score = Score()
                    for index, found in enumerate(kept):
                        score_frame(found, truth.get(index), score, region, size)
                    rows.append((clip_name, mode, region_name, threshold, score))
                if clip_name == "PETS09-S2L1" and threshold == 0.3:
                    expected = gathering_spans(
                        [as_detections(truth.get(i)) for i in range(len(frames))],
                        fps,
                        size,
                    )
                    got = gathering_spans(kept, fps, size)
                    gathering_lines.append(describe_gathering(mode, expected, got))
            print(clip_name, mode, "done", flush=True)

    date = datetime.now(UTC).isoformat(timespec="seconds")
    lines = [
        f"\n## Run {date}\n",
        "- Command: `python -m benchmarks.accuracy`",
        f"- Machine: {platform.node()} {platform.machine()}",
        f"- Model: {spec.name} ({spec.path.name}), input at most {spec.input_width}"
        f"x{spec.input_height}, the letterbox canvas fitted to each frame's aspect "
        "ratio (model.fit_canvas), per-class NMS IoU 0.45, class person only",
        "- Matching: IoU >= 0.5, greedy by score; ignore-flagged boxes neither "
        "count nor miss",
        "",
        "| clip | input | region | score threshold | precision | recall | count "
        "error per frame |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for clip_name, mode, region_name, threshold, score in rows:
        lines.append(
            f"| {clip_name} | {mode} | {region_name} | {threshold} | "
            f"{score.precision:.3f} | "
            f"{score.recall:.3f} | {score.count_error / score.frames:.2f} |"
        )
    lines += [
        "",
        "Gathering on PETS09-S2L1 (zone x >= 0.1, 5 people for 5 s, quiet 5 s, "
        "score threshold 0.3), against incidents the same rule derives from the "
        "ground truth:",
        "",
        *gathering_lines,
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_record:
        if not PAGE.exists():
            PAGE.write_text(
                "# Accuracy\n\nPerson detection and incident accuracy against MOT "
                "ground truth, one section per run of `benchmarks/accuracy.py`.\n"
            )
        with PAGE.open("a") as handle:
            handle.write(text)


def describe_gathering(mode: str, expected, got) -> str:
    pairs = []
    for want in expected:
        match = min(got, key=lambda g: abs(g.opened_s - want.opened_s), default=None)
        if match is None:
            pairs.append(f"expected open {want.opened_s:.1f} s: missed")
            continue
        end = (
            f", end {want.ended_s:.1f} vs {match.ended_s:.1f} s"
            if want.ended_s is not None and match.ended_s is not None
            else ""
        )
        pairs.append(f"open {want.opened_s:.1f} vs {match.opened_s:.1f} s{end}")
    return f"- {mode}: {len(expected)} expected, {len(got)} found; " + "; ".join(pairs)


if __name__ == "__main__":
    main()
