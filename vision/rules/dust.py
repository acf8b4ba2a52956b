"""The dust rule: a truck with a dust plume beside or behind it for T seconds."""

from __future__ import annotations

import enum

import numpy as np

from sharpeyes.config import DustRuleConfig
from vision.detections import Detections
from vision.dust import DustBackground, dust_threshold, learn_background, score_boxes
from vision.incidents import IncidentEvent
from vision.rules.base import (
    MIN_GAP_FRAMES,
    ActiveHours,
    CameraInfo,
    IncidentRecord,
    Observation,
    open_record,
)
from vision.tracking import iou_matrix
from vision.zones import Zone, normalise_points

# Boxes that overlap at least this much (IoU) are taken as one object, whose
# class is the label with the highest score.
SAME_OBJECT_IOU = 0.6
# Minimum time between two truck-free frames learned into the background
# (seconds).
BACKGROUND_INTERVAL_S = 2.0


class Phase(enum.Enum):
    IDLE = "idle"
    PENDING = "pending"
    OPEN = "open"


class DustRule:
    """Open an incident while at least one truck in a zone trails dust.

    Each frame, every truck whose box's bottom-centre is in the zone gets a dust
    score from `vision.dust.score_boxes`. A truck is dusty when its score reaches
    the threshold that `sensitivity` sets. The incident opens once some truck has
    been dusty for `min_seconds` and closes after `quiet_seconds` without one.
    Dips shorter than `dropout_seconds` (or MIN_GAP_FRAMES frames), such as a
    frame where the detector misses the truck, do not restart the wait. After a
    close, no new incident starts for `cooldown_seconds`. `count` is the number
    of dusty trucks and `detail.peak_dust_score` the highest score so far.

    Frames without any truck are learned, one every BACKGROUND_INTERVAL_S, into
    the camera's background, which then becomes the reference of the score.
    """

    kind = "dust"

    def __init__(
        self,
        camera: CameraInfo,
        index: int,
        config: DustRuleConfig,
        zone: Zone | None,
    ) -> None:
        self.camera = camera
        self.index = index
        self.config = config
        self.zone = zone
        self.classes = set(config.classes)
        self.threshold = dust_threshold(config.sensitivity)
        self.hours = ActiveHours(config.active_hours, camera.timezone)
        self.background = DustBackground()
        self.phase = Phase.IDLE
        self.incident: IncidentRecord | None = None
        self._since_t = 0.0
        self._since_wall = 0.0
        self._last_above_t = 0.0
        self._below_frames = 0
        self._quiet_since_t: float | None = None
        self._quiet_since_wall: float | None = None
        self._cooldown_until = -np.inf
        self._last_learned_t = -np.inf
        self._pending_peak: tuple[int, list[dict]] = (0, [])
        self._score = 0.0
        self._peak_score = 0.0

    def trucks(self, detections: Detections, obs: Observation) -> Detections:
        """Return the boxes whose best label is one of the rule's classes and,
        with a zone, whose bottom-centre lies inside it.

        Per-class NMS keeps every label of one object (a dump truck may come as
        `truck` and `train`), so boxes that overlap a higher-scoring box of any
        class by SAME_OBJECT_IOU are dropped first.
        """
        if len(detections) == 0:
            return detections
        order = np.argsort(-detections.scores, kind="stable")
        overlap = iou_matrix(detections.xyxy[order], detections.xyxy[order])
        kept = np.ones(len(order), bool)
        for rank in range(len(order)):
            if kept[rank]:
                later = np.arange(len(order)) > rank
                kept &= ~(later & (overlap[rank] >= SAME_OBJECT_IOU))
        best = detections.select(np.sort(order[kept]))
        trucks = best.of_classes(self.classes)
        if self.zone is not None and len(trucks):
            points = normalise_points(trucks.bottom_centres(), obs.width, obs.height)
            trucks = trucks.select(self.zone.contains(points))
        return trucks

    def update(self, detections: Detections, obs: Observation) -> list[IncidentEvent]:
        if not self.hours.active(obs.wall):
            return self.finish(obs, "outside active hours")
        trucks = self.trucks(detections, obs)
        scores = np.zeros(len(trucks))
        if obs.image is not None:
            if len(trucks):
                found = score_boxes(
                    obs.image, trucks.xyxy, detections.xyxy, self.background
                )
                scores = np.array([result.score for result in found])
            elif self._may_learn(detections, obs):
                learn_background(self.background, obs.image, detections.xyxy)
                self._last_learned_t = obs.t
        return self.decide(trucks, scores, obs)

    def decide(
        self, trucks: Detections, scores: np.ndarray, obs: Observation
    ) -> list[IncidentEvent]:
        """Advance the incident on the trucks of one frame and their dust scores.

        This is the whole state machine, without pixels, so tables of (boxes,
        scores) test it.
        """
        dusty = np.flatnonzero(np.asarray(scores) >= self.threshold)
        count = len(dusty)
        above = count >= 1
        self._score = float(np.max(scores)) if len(scores) else 0.0
        boxes = self._records(trucks, scores, dusty)

        if self.phase is Phase.IDLE:
            if not above or obs.t < self._cooldown_until:
                return []
            self.phase = Phase.PENDING
            self._since_t, self._since_wall = obs.t, obs.wall
            self._last_above_t = obs.t
            self._below_frames = 0
            self._pending_peak = (0, [])
            self._peak_score = 0.0

        if self.phase is Phase.PENDING:
            if above:
                self._last_above_t = obs.t
                self._below_frames = 0
                self._peak_score = max(self._peak_score, self._score)
                if count > self._pending_peak[0]:
                    self._pending_peak = (count, boxes)
                if obs.t - self._since_t >= self.config.min_seconds:
                    return [self._open(count, obs, boxes)]
                return []
            self._below_frames += 1
            if self._gap_over(obs.t - self._last_above_t, self.config.dropout_seconds):
                self.phase = Phase.IDLE
            return []

        incident = self.incident
        if above:
            self._peak_score = max(self._peak_score, self._score)
            incident.note(count, boxes)
            self._quiet_since_t = self._quiet_since_wall = None
            self._below_frames = 0
            return incident.maybe_update(count, obs, self._detail())
        if self._quiet_since_t is None:
            self._quiet_since_t, self._quiet_since_wall = obs.t, obs.wall
        self._below_frames += 1
        if self._gap_over(obs.t - self._quiet_since_t, self.config.quiet_seconds):
            return [self._close(count, obs, self._quiet_since_wall, "no dusty truck")]
        return incident.maybe_update(count, obs, self._detail())

    def finish(self, obs: Observation, reason: str) -> list[IncidentEvent]:
        """Close an open incident because the stream ended, the rule was removed or
        its active hours are over."""
        if self.phase is not Phase.OPEN:
            self.phase = Phase.IDLE
            return []
        ended = (
            self._quiet_since_wall if self._quiet_since_wall is not None else obs.wall
        )
        return [self._close(0, obs, ended, reason)]

    def _may_learn(self, detections: Detections, obs: Observation) -> bool:
        """Return whether to learn this frame into the background: with no
        pending or open incident, no box of the rule's classes anywhere in the
        frame and none learned in the last BACKGROUND_INTERVAL_S."""
        return (
            self.phase is Phase.IDLE
            and len(detections.of_classes(self.classes)) == 0
            and obs.t - self._last_learned_t >= BACKGROUND_INTERVAL_S
        )

    def _gap_over(self, gap_s: float, limit_s: float) -> bool:
        return gap_s >= limit_s and self._below_frames >= MIN_GAP_FRAMES

    @staticmethod
    def _records(
        trucks: Detections, scores: np.ndarray, dusty: np.ndarray
    ) -> list[dict]:
        records = trucks.select(dusty).to_records()
        for record, index in zip(records, dusty, strict=True):
            record["dust_score"] = round(float(scores[index]), 3)
        return records

    def _detail(self) -> dict:
        return {
            "dust_score": round(self._score, 3),
            "peak_dust_score": round(self._peak_score, 3),
            "threshold": round(self.threshold, 3),
        }

    def _open(self, count: int, obs: Observation, boxes: list[dict]) -> IncidentEvent:
        self.phase = Phase.OPEN
        self._quiet_since_t = self._quiet_since_wall = None
        self.incident = open_record(
            self.camera,
            self.kind,
            self.index,
            self.zone.name if self.zone else None,
            self.config.update_seconds,
            self._since_wall,
            self._pending_peak,
            count,
            boxes,
        )
        return self.incident.event("open", count, obs, detail=self._detail())

    def _close(
        self, count: int, obs: Observation, ended_wall: float, reason: str
    ) -> IncidentEvent:
        self.phase = Phase.IDLE
        self._cooldown_until = obs.t + self.config.cooldown_seconds
        detail = {**self._detail(), "close_reason": reason}
        return self.incident.event("close", count, obs, ended_wall, detail)
