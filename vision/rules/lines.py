"""Directed line counting: tracked objects crossing a line, per direction."""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from sharpeyes.config import LineRuleConfig
from vision.detections import Detections
from vision.rules.base import Observation
from vision.tracking import NO_TRACK
from vision.zones import normalise_points


class LineCounter:
    """Count tracks whose bottom-centre crosses the segment from A to B.

    Looking from A towards B, a crossing from the left side to the right side
    counts as `in`, the other way as `out`. A point within `margin` (fraction of
    the frame width) of the line keeps its previous side, so a box jittering on
    the line is counted once. Only crossings within the segment's length count.
    """

    kind = "line"

    def __init__(self, index: int, config: LineRuleConfig) -> None:
        self.index = index
        self.config = config
        self.name = config.name
        self.a = np.asarray(config.line[0], float)
        self.b = np.asarray(config.line[1], float)
        self.classes = set(config.classes)
        self.counts: dict[str, dict[str, int]] = {
            "in": defaultdict(int),
            "out": defaultdict(int),
        }
        self._side: dict[int, int] = {}
        self._last_seen: dict[int, float] = {}

    def update(self, detections: Detections, obs: Observation) -> list:
        """Update the counts; returns no incident events."""
        objects = detections.of_classes(self.classes)
        if objects.tracker_ids is None or len(objects) == 0:
            return []
        aspect = np.array([1.0, obs.height / obs.width])
        points = normalise_points(objects.bottom_centres(), obs.width, obs.height)
        a, b = self.a * aspect, self.b * aspect
        direction = b - a
        length = np.linalg.norm(direction)
        for index, track_id in enumerate(objects.tracker_ids):
            if track_id == NO_TRACK:
                continue
            point = points[index] * aspect
            offset = point - a
            signed = (direction[0] * offset[1] - direction[1] * offset[0]) / length
            along = float(np.dot(offset, direction) / length**2)
            track_id = int(track_id)
            self._last_seen[track_id] = obs.t
            if abs(signed) < self.config.margin:
                continue
            # Image y points down, so a positive cross product is the right side
            # of A->B as seen on screen.
            side = 1 if signed > 0 else -1
            previous = self._side.get(track_id)
            self._side[track_id] = side
            if previous is None or previous == side or not 0.0 <= along <= 1.0:
                continue
            label = objects.class_names[int(objects.class_ids[index])]
            self.counts["in" if side > 0 else "out"][label] += 1
        for track_id in [t for t, seen in self._last_seen.items() if obs.t - seen > 10]:
            self._last_seen.pop(track_id)
            self._side.pop(track_id, None)
        return []

    def finish(self, obs: Observation, reason: str) -> list:
        return []

    def totals(self) -> dict[str, dict[str, int]]:
        return {
            direction: dict(by_class) for direction, by_class in self.counts.items()
        }
