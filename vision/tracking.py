"""Multi-object tracking per camera, after ByteTrack (Zhang et al., 2022).

Each frame, tracks are matched to detections in two passes: first to the
confident detections, then the tracks left over to the weak ones, which keeps a
track alive through partial occlusion without letting weak boxes start tracks.
Matching is greedy by IoU within one class, against each track's box moved by
its last velocity. A track is confirmed after `min_hits` matched frames in a
row; until then its detection carries no track id, so two unconfirmed boxes can
never be counted as one identity. A track unmatched for `max_lost_s` is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vision.detections import Detections

NO_TRACK = -1


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of (N, 4) and (M, 4) xyxy boxes."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)


def greedy_match(
    scores: np.ndarray, threshold: float
) -> tuple[list[tuple[int, int]], set[int], set[int]]:
    """Pair rows and columns by descending score above `threshold`.

    Returns the pairs and the unmatched row and column indexes.
    """
    pairs: list[tuple[int, int]] = []
    rows, cols = set(range(scores.shape[0])), set(range(scores.shape[1]))
    if scores.size:
        order = np.dstack(
            np.unravel_index(np.argsort(-scores, axis=None), scores.shape)
        )[0]
        for row, col in order:
            if scores[row, col] < threshold:
                break
            if row in rows and col in cols:
                pairs.append((int(row), int(col)))
                rows.discard(row)
                cols.discard(col)
    return pairs, rows, cols


@dataclass
class Track:
    track_id: int
    box: np.ndarray
    class_id: int
    last_t: float
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(4))
    hits: int = 1
    confirmed: bool = False

    def predicted(self, t: float) -> np.ndarray:
        return self.box + self.velocity * (t - self.last_t)

    def update(self, box: np.ndarray, t: float) -> None:
        dt = t - self.last_t
        if dt > 0:
            # Smooth the velocity so one jittery box does not fling the track.
            self.velocity = 0.5 * self.velocity + 0.5 * (box - self.box) / dt
        self.box = box
        self.last_t = t
        self.hits += 1


class ByteTracker:
    """Assign stable ids to the detections of one camera, frame by frame."""

    def __init__(
        self,
        high_score: float = 0.5,
        match_iou: float = 0.3,
        low_match_iou: float = 0.5,
        min_hits: int = 3,
        max_lost_s: float = 2.0,
    ) -> None:
        self.high_score = high_score
        self.match_iou = match_iou
        self.low_match_iou = low_match_iou
        self.min_hits = min_hits
        self.max_lost_s = max_lost_s
        self.tracks: list[Track] = []
        self._next_id = 1

    def update(self, detections: Detections, t: float) -> Detections:
        """Return the detections with `tracker_ids` set (NO_TRACK until confirmed)."""
        ids = np.full(len(detections), NO_TRACK, np.int64)
        assigned: dict[int, Track] = {}
        self.tracks = [tr for tr in self.tracks if t - tr.last_t <= self.max_lost_s]
        high = np.flatnonzero(detections.scores >= self.high_score)
        low = np.flatnonzero(detections.scores < self.high_score)

        remaining = list(self.tracks)
        for candidates, threshold in (
            (high, self.match_iou),
            (low, self.low_match_iou),
        ):
            if not remaining or len(candidates) == 0:
                continue
            predicted = np.array([track.predicted(t) for track in remaining])
            scores = iou_matrix(predicted, detections.xyxy[candidates])
            same_class = (
                np.array([track.class_id for track in remaining])[:, None]
                == detections.class_ids[candidates][None, :]
            )
            pairs, unmatched_rows, _ = greedy_match(
                np.where(same_class, scores, 0.0), threshold
            )
            for row, col in pairs:
                assigned[int(candidates[col])] = remaining[row]
            remaining = [remaining[row] for row in sorted(unmatched_rows)]

        for index, track in assigned.items():
            track.update(detections.xyxy[index].astype(np.float64), t)
            if track.hits >= self.min_hits:
                track.confirmed = True
            if track.confirmed:
                ids[index] = track.track_id

        # Unconfirmed tracks that missed a frame are dropped at once; confirmed
        # ones wait max_lost_s for their object to reappear.
        self.tracks = [
            track
            for track in self.tracks
            if track in assigned.values()
            or (track.confirmed and t - track.last_t <= self.max_lost_s)
        ]
        for index in high:
            if index not in assigned:
                self.tracks.append(
                    Track(
                        track_id=self._next_id,
                        box=detections.xyxy[index].astype(np.float64),
                        class_id=int(detections.class_ids[index]),
                        last_t=t,
                        confirmed=self.min_hits <= 1,
                    )
                )
                if self.min_hits <= 1:
                    ids[index] = self._next_id
                self._next_id += 1
        return detections.with_tracker_ids(ids)
