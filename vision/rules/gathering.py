"""The gathering rule: at least N people in a zone for T seconds."""

from __future__ import annotations

import enum

import numpy as np

from sharpeyes.config import GatheringRuleConfig
from vision.detections import Detections
from vision.incidents import IncidentEvent
from vision.rules.base import (
    MIN_GAP_FRAMES,
    ActiveHours,
    CameraInfo,
    IncidentRecord,
    Observation,
    open_record,
)
from vision.zones import Zone, normalise_points


class Phase(enum.Enum):
    IDLE = "idle"
    PENDING = "pending"
    OPEN = "open"


def largest_cluster(points: np.ndarray, radius: float) -> np.ndarray:
    """Indexes of the largest group of points linked by steps of at most `radius`.

    Two people belong to one group when a chain of people, each within `radius`
    of the next, joins them (single-linkage clustering).
    """
    count = len(points)
    if count == 0:
        return np.zeros((0,), np.int64)
    near = np.linalg.norm(points[:, None, :] - points[None, :, :], axis=2) <= radius
    group = -np.ones(count, np.int64)
    for seed in range(count):
        if group[seed] >= 0:
            continue
        group[seed] = seed
        stack = [seed]
        while stack:
            current = stack.pop()
            for neighbour in np.flatnonzero(near[current] & (group < 0)):
                group[neighbour] = seed
                stack.append(int(neighbour))
    labels, sizes = np.unique(group, return_counts=True)
    return np.flatnonzero(group == labels[np.argmax(sizes)])


class GatheringRule:
    """Open an incident while at least `min_people` persons stand in a zone.

    The count must hold for `min_seconds` before the incident opens, and stay
    below the threshold for `quiet_seconds` before it closes. Dips shorter than
    `dropout_seconds` (or MIN_GAP_FRAMES frames) do not restart the wait. With
    `cluster_radius`, only the largest group of people standing close together
    counts, so two separate groups of 3 are not one group of 6. After a close, no
    new incident starts for `cooldown_seconds`.
    """

    kind = "gathering"

    def __init__(
        self,
        camera: CameraInfo,
        index: int,
        config: GatheringRuleConfig,
        zone: Zone | None,
    ) -> None:
        self.camera = camera
        self.index = index
        self.config = config
        self.zone = zone
        self.hours = ActiveHours(config.active_hours, camera.timezone)
        self.phase = Phase.IDLE
        self.incident: IncidentRecord | None = None
        self._since_t = 0.0
        self._since_wall = 0.0
        self._last_above_t = 0.0
        self._below_frames = 0
        self._quiet_since_t: float | None = None
        self._quiet_since_wall: float | None = None
        self._cooldown_until = -np.inf
        self._pending_peak: tuple[int, list[dict]] = (0, [])

    def people_in_zone(self, detections: Detections, obs: Observation) -> Detections:
        people = detections.of_classes({"person"})
        people = people.select(people.scores >= self.config.min_score)
        if len(people) == 0:
            return people
        points = normalise_points(people.bottom_centres(), obs.width, obs.height)
        if self.zone is not None:
            inside = self.zone.contains(points)
            people, points = people.select(inside), points[inside]
        if self.config.cluster_radius is not None and len(people):
            # Distances in units of the frame width, so the radius means the same
            # on every axis and at every resolution.
            scaled = points * np.array([1.0, obs.height / obs.width])
            people = people.select(largest_cluster(scaled, self.config.cluster_radius))
        return people

    def update(self, detections: Detections, obs: Observation) -> list[IncidentEvent]:
        if not self.hours.active(obs.wall):
            return self.finish(obs, "outside active hours")
        people = self.people_in_zone(detections, obs)
        count = len(people)
        above = count >= self.config.min_people

        if self.phase is Phase.IDLE:
            if not above or obs.t < self._cooldown_until:
                return []
            self.phase = Phase.PENDING
            self._since_t, self._since_wall = obs.t, obs.wall
            self._last_above_t = obs.t
            self._below_frames = 0
            self._pending_peak = (0, [])

        if self.phase is Phase.PENDING:
            if above:
                self._last_above_t = obs.t
                self._below_frames = 0
                if count > self._pending_peak[0]:
                    self._pending_peak = (count, people.to_records())
                if obs.t - self._since_t >= self.config.min_seconds:
                    return [self._open(count, obs, people.to_records())]
                return []
            self._below_frames += 1
            if self._gap_over(obs.t - self._last_above_t, self.config.dropout_seconds):
                self.phase = Phase.IDLE
            return []

        incident = self.incident
        if above:
            incident.note(count, people.to_records())
            self._quiet_since_t = self._quiet_since_wall = None
            self._below_frames = 0
            return incident.maybe_update(count, obs, self._detail())
        if self._quiet_since_t is None:
            self._quiet_since_t, self._quiet_since_wall = obs.t, obs.wall
        self._below_frames += 1
        if self._gap_over(obs.t - self._quiet_since_t, self.config.quiet_seconds):
            return [
                self._close(count, obs, self._quiet_since_wall, "count below threshold")
            ]
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

    def _gap_over(self, gap_s: float, limit_s: float) -> bool:
        return gap_s >= limit_s and self._below_frames >= MIN_GAP_FRAMES

    def _detail(self) -> dict:
        return {"min_people": self.config.min_people}

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
