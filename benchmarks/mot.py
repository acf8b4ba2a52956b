"""MOTChallenge ground truth: per-frame person boxes as Detections.

The 2D MOT 2015 text format has one line per person per frame:
`frame, track_id, left, top, width, height, flag, x, y, z`, with 1-based frames
(gt frame f is decoded frame f - 1) and flag 0 marking boxes to ignore.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vision.detections import Detections

PERSON_ONLY = ("person",)


@dataclass(frozen=True)
class GroundTruthFrame:
    boxes: np.ndarray  # (N, 4) x1, y1, x2, y2 pixels
    track_ids: np.ndarray
    ignored: np.ndarray  # bool, True where the flag is 0


def load_mot(path: Path) -> dict[int, GroundTruthFrame]:
    """Read a MOT gt.txt into frames keyed by 0-based decoded frame index."""
    rows: dict[int, list[tuple[float, ...]]] = defaultdict(list)
    for line in Path(path).read_text().splitlines():
        if not line.strip():
            continue
        fields = line.split(",")
        frame, track = int(fields[0]), int(fields[1])
        left, top, width, height = (float(v) for v in fields[2:6])
        flag = int(float(fields[6]))
        rows[frame - 1].append((left, top, left + width, top + height, track, flag))
    frames = {}
    for index, items in rows.items():
        array = np.asarray(items, dtype=np.float64)
        frames[index] = GroundTruthFrame(
            boxes=array[:, :4].astype(np.float32),
            track_ids=array[:, 4].astype(np.int64),
            ignored=array[:, 5] == 0,
        )
    return frames


def as_detections(
    frame: GroundTruthFrame | None, counted_only: bool = True
) -> Detections:
    """Turn a ground-truth frame into person Detections with score 1."""
    if frame is None:
        return Detections.empty(PERSON_ONLY)
    keep = ~frame.ignored if counted_only else np.ones(len(frame.boxes), bool)
    count = int(keep.sum())
    return Detections(
        xyxy=frame.boxes[keep],
        scores=np.ones(count, np.float32),
        class_ids=np.zeros(count, np.int64),
        class_names=PERSON_ONLY,
    )
