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


@dataclass(frozen=True)
class IncidentSpan:
    """When an incident opened and when its condition ended, in media seconds."""

    opened_s: float
    ended_s: float | None
    closed: bool


def gathering_spans_from_ground_truth(
    frames: dict[int, GroundTruthFrame],
    frame_count: int,
    fps: float,
    size: tuple[int, int],
    rule_config,
    zone,
) -> list[IncidentSpan]:
    """Run the gathering rule on ground-truth boxes; return the incidents it opens.

    Using the rule itself, not a count threshold, gives the expected incidents the
    same min_seconds and quiet_seconds delays as the detector's.
    """
    from vision.rules import CameraInfo, GatheringRule, Observation

    rule = GatheringRule(CameraInfo("gt", "other", ""), 0, rule_config, zone)
    events = []
    obs = None
    for index in range(frame_count):
        t = index / fps
        obs = Observation(t=t, wall=t, width=size[0], height=size[1], media_s=t)
        events += rule.update(as_detections(frames.get(index)), obs)
    if obs is not None:
        events += rule.finish(obs, "end of file")
    return spans_from_events([event.to_dict() for event in events], origin_s=0.0)


def spans_from_events(
    records: list[dict], origin_s: float | None = None
) -> list[IncidentSpan]:
    """Pair open and close event records by incident id into spans.

    `origin_s` is the Unix time of media time 0. When it is None, each record's own
    origin is taken from its `updated_at` minus its `media_time_s`, as written by
    `sharpeyes analyze`.
    """
    from datetime import datetime

    def unix(value: str) -> float:
        return datetime.fromisoformat(value).timestamp()

    spans: dict[str, dict] = {}
    for record in records:
        origin = origin_s
        if origin is None:
            origin = unix(record["updated_at"]) - record["media_time_s"]
        span = spans.setdefault(
            record["id"], {"opened": None, "ended": None, "closed": False}
        )
        if record["state"] == "open":
            span["opened"] = unix(record["updated_at"]) - origin
        elif record["state"] == "close":
            span["closed"] = True
            if record["ended_at"] is not None:
                span["ended"] = unix(record["ended_at"]) - origin
    return [
        IncidentSpan(opened_s=s["opened"], ended_s=s["ended"], closed=s["closed"])
        for s in spans.values()
        if s["opened"] is not None
    ]
