"""Incident rules on the detections of one camera.

Each rule is a small state machine with one entry point, `update`, that takes the
detections of one analysed frame and returns the incident events it causes. Rules
never look at pixels, so they are tested with tables of detection sequences.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass

from sharpeyes.config import CameraConfig, GatheringRuleConfig
from vision.detections import Detections
from vision.incidents import IncidentEvent, new_incident_id
from vision.zones import Zone, normalise_points

log = logging.getLogger(__name__)

# A dip below the threshold must last this many analysed frames, as well as the
# configured seconds, before it resets a pending gathering or closes an open one;
# this keeps a detector that misses people for a frame or two from splitting one
# incident into several.
MIN_GAP_FRAMES = 3


@dataclass(frozen=True)
class Observation:
    """When and on what frame size a set of detections was made.

    `t` is seconds on a clock that never jumps (monotonic for live cameras, media
    time for files); `wall` is Unix seconds for the timestamps in events.
    """

    t: float
    wall: float
    width: int
    height: int
    media_s: float | None = None


class Phase(enum.Enum):
    IDLE = "idle"
    PENDING = "pending"
    OPEN = "open"


@dataclass(frozen=True)
class CameraInfo:
    camera_id: str
    site: str
    location: str


class GatheringRule:
    """Open an incident while at least `min_people` persons stand in a zone.

    The count must hold for `min_seconds` before the incident opens, and stay below
    the threshold for `quiet_seconds` before it closes. Dips shorter than
    `dropout_seconds` (or MIN_GAP_FRAMES frames) do not restart the wait.
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
        self.phase = Phase.IDLE
        self._since_t = 0.0
        self._since_wall = 0.0
        self._last_above_t = 0.0
        self._below_frames = 0
        self._quiet_since_t: float | None = None
        self._quiet_since_wall: float | None = None
        self._incident_id = ""
        self._seq = 0
        self._peak = 0
        self._peak_boxes: list[dict] = []
        self._last_event_t = 0.0
        self._last_reported = (0, 0)
        self._frame_size = (0, 0)

    def people_in_zone(self, detections: Detections, obs: Observation) -> Detections:
        people = detections.of_classes({"person"})
        people = people.select(people.scores >= self.config.min_score)
        if self.zone is None or len(people) == 0:
            return people
        points = normalise_points(people.bottom_centres(), obs.width, obs.height)
        return people.select(self.zone.contains(points))

    def update(self, detections: Detections, obs: Observation) -> list[IncidentEvent]:
        people = self.people_in_zone(detections, obs)
        count = len(people)
        above = count >= self.config.min_people
        self._frame_size = (obs.width, obs.height)

        if self.phase is Phase.IDLE:
            if above:
                self.phase = Phase.PENDING
                self._since_t, self._since_wall = obs.t, obs.wall
                self._last_above_t = obs.t
                self._below_frames = 0
                self._peak, self._peak_boxes = 0, []
            else:
                return []

        if self.phase is Phase.PENDING:
            if above:
                self._last_above_t = obs.t
                self._below_frames = 0
                self._note_peak(count, people)
                if obs.t - self._since_t >= self.config.min_seconds:
                    return [self._open(count, obs)]
                return []
            self._below_frames += 1
            if self._gap_over(obs.t - self._last_above_t, self.config.dropout_seconds):
                self.phase = Phase.IDLE
            return []

        # Phase.OPEN
        if above:
            self._note_peak(count, people)
            self._quiet_since_t = self._quiet_since_wall = None
            self._below_frames = 0
            return self._maybe_update(count, obs)
        if self._quiet_since_t is None:
            self._quiet_since_t, self._quiet_since_wall = obs.t, obs.wall
        self._below_frames += 1
        if self._gap_over(obs.t - self._quiet_since_t, self.config.quiet_seconds):
            return [self._close(count, obs, ended_wall=self._quiet_since_wall)]
        return self._maybe_update(count, obs)

    def finish(self, obs: Observation, reason: str) -> list[IncidentEvent]:
        """Close an open incident because the stream ended or the rule is removed."""
        if self.phase is not Phase.OPEN:
            self.phase = Phase.IDLE
            return []
        ended = (
            self._quiet_since_wall if self._quiet_since_wall is not None else obs.wall
        )
        return [self._close(0, obs, ended_wall=ended, reason=reason)]

    def _gap_over(self, gap_s: float, limit_s: float) -> bool:
        return gap_s >= limit_s and self._below_frames >= MIN_GAP_FRAMES

    def _note_peak(self, count: int, people: Detections) -> None:
        if count > self._peak:
            self._peak = count
            self._peak_boxes = people.to_records()

    def _open(self, count: int, obs: Observation) -> IncidentEvent:
        self.phase = Phase.OPEN
        self._incident_id = new_incident_id()
        self._seq = 0
        self._quiet_since_t = self._quiet_since_wall = None
        return self._event("open", count, obs, ended_wall=None)

    def _maybe_update(self, count: int, obs: Observation) -> list[IncidentEvent]:
        if (count, self._peak) == self._last_reported:
            return []
        if obs.t - self._last_event_t < self.config.update_seconds:
            return []
        return [self._event("update", count, obs, ended_wall=None)]

    def _close(
        self,
        count: int,
        obs: Observation,
        ended_wall: float | None,
        reason: str = "count below threshold",
    ) -> IncidentEvent:
        self.phase = Phase.IDLE
        event = self._event("close", count, obs, ended_wall=ended_wall)
        event.detail["close_reason"] = reason
        return event

    def _event(
        self, state: str, count: int, obs: Observation, ended_wall: float | None
    ) -> IncidentEvent:
        self._seq += 1
        self._last_event_t = obs.t
        self._last_reported = (count, self._peak)
        return IncidentEvent(
            id=self._incident_id,
            camera_id=self.camera.camera_id,
            site=self.camera.site,
            location=self.camera.location,
            kind=self.kind,
            state=state,
            seq=self._seq,
            zone=self.zone.name if self.zone else None,
            rule=self.index,
            started_at=self._since_wall,
            updated_at=obs.wall,
            ended_at=ended_wall,
            count=count,
            peak_count=self._peak,
            boxes=list(self._peak_boxes),
            frame_size=self._frame_size,
            detail={"min_people": self.config.min_people},
            media_time_s=obs.media_s,
        )


class CameraAnalyser:
    """All rules of one camera; feeds each analysed frame's detections to them."""

    def __init__(self, camera_id: str, config: CameraConfig) -> None:
        self.camera_id = camera_id
        self.log = log.getChild(camera_id)
        info = CameraInfo(camera_id, config.site, config.location)
        zones = {
            name: Zone.from_points(name, zone.polygon)
            for name, zone in config.zones.items()
        }
        self.rules = [
            GatheringRule(
                info, index, rule, zones.get(rule.zone) if rule.zone else None
            )
            for index, rule in enumerate(config.rules)
        ]

    def process(self, detections: Detections, obs: Observation) -> list[IncidentEvent]:
        events: list[IncidentEvent] = []
        for rule in self.rules:
            events.extend(rule.update(detections, obs))
        self._log(events)
        return events

    def finish(self, obs: Observation, reason: str) -> list[IncidentEvent]:
        events: list[IncidentEvent] = []
        for rule in self.rules:
            events.extend(rule.finish(obs, reason))
        self._log(events)
        return events

    def _log(self, events: list[IncidentEvent]) -> None:
        for event in events:
            self.log.info(
                "incident %s %s %s (count %d, peak %d)",
                event.kind,
                event.id,
                event.state,
                event.count,
                event.peak_count,
            )
