"""Detections of one frame as parallel NumPy arrays, in original-frame pixels."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Detections:
    """Boxes found in one frame.

    `xyxy` contains (x1, y1, x2, y2) per row in pixels of the original frame, `scores`
    the confidence 0..1 and `class_ids` indexes into `class_names`. `tracker_ids`,
    set by a tracker, contains each box's track id, or -1 where no confirmed track
    owns it.
    """

    xyxy: np.ndarray
    scores: np.ndarray
    class_ids: np.ndarray
    class_names: tuple[str, ...]
    tracker_ids: np.ndarray | None = None

    @classmethod
    def empty(cls, class_names: tuple[str, ...]) -> Detections:
        return cls(
            xyxy=np.zeros((0, 4), np.float32),
            scores=np.zeros((0,), np.float32),
            class_ids=np.zeros((0,), np.int64),
            class_names=class_names,
        )

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    @property
    def labels(self) -> list[str]:
        return [self.class_names[i] for i in self.class_ids]

    def select(self, mask: np.ndarray) -> Detections:
        return Detections(
            xyxy=self.xyxy[mask],
            scores=self.scores[mask],
            class_ids=self.class_ids[mask],
            class_names=self.class_names,
            tracker_ids=None if self.tracker_ids is None else self.tracker_ids[mask],
        )

    def with_tracker_ids(self, tracker_ids: np.ndarray) -> Detections:
        return Detections(
            xyxy=self.xyxy,
            scores=self.scores,
            class_ids=self.class_ids,
            class_names=self.class_names,
            tracker_ids=tracker_ids,
        )

    def of_classes(self, names: frozenset[str] | set[str]) -> Detections:
        wanted = [i for i, name in enumerate(self.class_names) if name in names]
        return self.select(np.isin(self.class_ids, wanted))

    def bottom_centres(self) -> np.ndarray:
        """Return (N, 2) points where each box touches the ground, in pixels."""
        x = (self.xyxy[:, 0] + self.xyxy[:, 2]) / 2.0
        return np.stack([x, self.xyxy[:, 3]], axis=1)

    def to_records(self) -> list[dict]:
        """Return JSON-ready boxes: label, score and [x1, y1, x2, y2] in pixels."""
        records = []
        for index in range(len(self)):
            record = {
                "label": self.class_names[int(self.class_ids[index])],
                "score": round(float(self.scores[index]), 3),
                "box": [round(float(v), 1) for v in self.xyxy[index]],
            }
            if self.tracker_ids is not None and self.tracker_ids[index] >= 0:
                record["track_id"] = int(self.tracker_ids[index])
            records.append(record)
        return records
