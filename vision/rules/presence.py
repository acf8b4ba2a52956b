"""Rules on tracked objects inside a zone: intrusion and loitering."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sharpeyes.config import IntrusionRuleConfig, LoiteringRuleConfig
from vision.detections import Detections
from vision.incidents import IncidentEvent
from vision.rules.base import ActiveHours, CameraInfo, IncidentRecord, Observation
from vision.tracking import NO_TRACK
from vision.zones import Zone, normalise_points


@dataclass
class Membership:
    inside: bool
    since_t: float
    since_wall: float
    streak: int = 0
    last_seen_t: float = 0.0


class ZoneMembership:
    """Zone membership of tracks, with hysteresis.

    A track changes side only after `min_frames` analysed frames in a row on the
    other side, so a box whose bottom-centre jitters across the zone edge does
    not produce repeated enter and exit events. Tracks unseen for `forget_s` are
    dropped.
    """

    def __init__(self, zone: Zone, min_frames: int = 2, forget_s: float = 2.0) -> None:
        self.zone = zone
        self.min_frames = min_frames
        self.forget_s = forget_s
        self.members: dict[int, Membership] = {}

    def update(self, detections: Detections, obs: Observation) -> dict[int, int]:
        """Update with tracked detections; return {track id: detection index} of
        the tracks now inside."""
        ids = detections.tracker_ids
        if ids is None:
            ids = np.full(len(detections), NO_TRACK)
        points = normalise_points(detections.bottom_centres(), obs.width, obs.height)
        inside_now = self.zone.contains(points)
        index_of = {}
        for index, track_id in enumerate(ids):
            if track_id == NO_TRACK:
                continue
            track_id = int(track_id)
            index_of[track_id] = index
            member = self.members.get(track_id)
            if member is None:
                # A new track starts outside; entering takes min_frames like any
                # other change, unless it needs only one.
                member = self.members[track_id] = Membership(False, obs.t, obs.wall)
            member.last_seen_t = obs.t
            if bool(inside_now[index]) == member.inside:
                member.streak = 0
                continue
            member.streak += 1
            if member.streak >= self.min_frames:
                member.inside = not member.inside
                member.since_t, member.since_wall = obs.t, obs.wall
                member.streak = 0
        for track_id in [
            t for t, m in self.members.items() if obs.t - m.last_seen_t > self.forget_s
        ]:
            del self.members[track_id]
        return {
            track_id: index_of[track_id]
            for track_id, member in self.members.items()
            if member.inside and track_id in index_of
        }


class TrackedZoneRule:
    """Shared set-up of the rules that follow tracks in and out of one zone."""

    def __init__(
        self,
        camera: CameraInfo,
        index: int,
        config: IntrusionRuleConfig | LoiteringRuleConfig,
        zone: Zone,
    ) -> None:
        self.camera = camera
        self.index = index
        self.config = config
        self.zone = zone
        self.hours = ActiveHours(config.active_hours, camera.timezone)
        self.membership = ZoneMembership(zone, config.min_frames, config.quiet_seconds)

    def new_incident(self, started_wall: float) -> IncidentRecord:
        return IncidentRecord(
            self.camera,
            self.kind,
            self.index,
            self.zone.name,
            self.config.update_seconds,
            started_wall=started_wall,
        )


class IntrusionRule(TrackedZoneRule):
    """An incident while tracked objects of the given classes are in a forbidden
    zone during active hours.

    One incident covers the zone from the first entry until it has been empty
    for `quiet_seconds`; each new track entering raises an update.
    """

    kind = "intrusion"

    def __init__(
        self, camera: CameraInfo, index: int, config: IntrusionRuleConfig, zone: Zone
    ) -> None:
        super().__init__(camera, index, config, zone)
        self.incident: IncidentRecord | None = None
        self._empty_since: tuple[float, float] | None = None

    def update(self, detections: Detections, obs: Observation) -> list[IncidentEvent]:
        if not self.hours.active(obs.wall):
            return self.finish(obs, "outside active hours")
        objects = detections.of_classes(set(self.config.classes))
        inside = self.membership.update(objects, obs)
        members = self.membership.members
        due = {
            track_id: index
            for track_id, index in inside.items()
            if obs.t - members[track_id].since_t >= self.config.min_seconds
        }
        count = len(due)
        boxes = objects.select(np.array(list(due.values()), np.int64)).to_records()

        if self.incident is None:
            if not due:
                return []
            first = min(members[t].since_wall for t in due)
            self.incident = self.new_incident(started_wall=first)
            self.incident.note(count, boxes)
            self._empty_since = None
            return [self.incident.event("open", count, obs)]

        if due:
            self._empty_since = None
            self.incident.note(count, boxes)
            return self.incident.maybe_update(count, obs)
        if self._empty_since is None:
            self._empty_since = (obs.t, obs.wall)
        if obs.t - self._empty_since[0] >= self.config.quiet_seconds:
            return self._close(obs, self._empty_since[1], "zone empty")
        return []

    def finish(self, obs: Observation, reason: str) -> list[IncidentEvent]:
        if self.incident is None:
            return []
        ended = self._empty_since[1] if self._empty_since else obs.wall
        return self._close(obs, ended, reason)

    def _close(
        self, obs: Observation, ended: float, reason: str
    ) -> list[IncidentEvent]:
        incident, self.incident = self.incident, None
        return [incident.event("close", 0, obs, ended, {"close_reason": reason})]


class LoiteringRule(TrackedZoneRule):
    """An incident per track that stays inside a zone longer than `min_seconds`.

    It closes when the track has left the zone, or not been seen, for
    `quiet_seconds`.
    """

    kind = "loitering"

    def __init__(
        self, camera: CameraInfo, index: int, config: LoiteringRuleConfig, zone: Zone
    ) -> None:
        super().__init__(camera, index, config, zone)
        self.open: dict[int, IncidentRecord] = {}
        self._last_inside: dict[int, tuple[float, float]] = {}

    def update(self, detections: Detections, obs: Observation) -> list[IncidentEvent]:
        if not self.hours.active(obs.wall):
            return self.finish(obs, "outside active hours")
        objects = detections.of_classes(set(self.config.classes))
        inside = self.membership.update(objects, obs)
        members = self.membership.members
        events: list[IncidentEvent] = []
        for track_id, index in inside.items():
            self._last_inside[track_id] = (obs.t, obs.wall)
            dwell = obs.t - members[track_id].since_t
            boxes = objects.select(np.array([index])).to_records()
            incident = self.open.get(track_id)
            if incident is None and dwell >= self.config.min_seconds:
                incident = self.new_incident(members[track_id].since_wall)
                incident.note(1, boxes)
                self.open[track_id] = incident
                events.append(incident.event("open", 1, obs, detail=self._dwell(dwell)))
        for track_id in list(self.open):
            last_t, last_wall = self._last_inside.get(track_id, (obs.t, obs.wall))
            if obs.t - last_t >= self.config.quiet_seconds:
                incident = self.open.pop(track_id)
                self._last_inside.pop(track_id, None)
                detail = {
                    "close_reason": "left the zone",
                    **self._dwell(last_wall - incident.started_wall),
                }
                events.append(incident.event("close", 0, obs, last_wall, detail))
        return events

    def finish(self, obs: Observation, reason: str) -> list[IncidentEvent]:
        events = []
        for track_id, incident in self.open.items():
            _, last_wall = self._last_inside.get(track_id, (obs.t, obs.wall))
            events.append(
                incident.event("close", 0, obs, last_wall, {"close_reason": reason})
            )
        self.open.clear()
        return events

    @staticmethod
    def _dwell(seconds: float) -> dict:
        return {"dwell_s": round(seconds, 1)}
