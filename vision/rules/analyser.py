"""All rules of one camera, fed from one tracker."""

from __future__ import annotations

import logging

import numpy as np

from sharpeyes.config import CameraConfig
from vision.detections import Detections
from vision.incidents import IncidentEvent
from vision.rules.base import CameraInfo, Observation
from vision.rules.dust import DustRule
from vision.rules.gathering import GatheringRule
from vision.rules.lines import LineCounter
from vision.rules.presence import IntrusionRule, LoiteringRule
from vision.tracking import ByteTracker
from vision.zones import Zone, normalise_points

log = logging.getLogger("vision.rules")


class CameraAnalyser:
    """Track the detections of each analysed frame and feed them to every rule."""

    def __init__(self, camera_id: str, config: CameraConfig) -> None:
        self.camera_id = camera_id
        self.log = log.getChild(camera_id)
        info = CameraInfo(camera_id, config.site, config.location, config.timezone)
        zones = {
            name: Zone.from_points(name, zone.polygon)
            for name, zone in config.zones.items()
        }
        self.exclusions = [
            Zone.from_points(f"exclusion{i}", polygon)
            for i, polygon in enumerate(config.exclusions)
        ]
        self.tracker = ByteTracker()
        self.rules = []
        for index, rule in enumerate(config.rules):
            zone = zones.get(rule.zone) if getattr(rule, "zone", None) else None
            if rule.kind == "gathering":
                self.rules.append(GatheringRule(info, index, rule, zone))
            elif rule.kind == "intrusion":
                self.rules.append(IntrusionRule(info, index, rule, zone))
            elif rule.kind == "loitering":
                self.rules.append(LoiteringRule(info, index, rule, zone))
            elif rule.kind == "dust":
                self.rules.append(DustRule(info, index, rule, zone))
            elif rule.kind == "line":
                self.rules.append(LineCounter(index, rule))

    def process(self, detections: Detections, obs: Observation) -> list[IncidentEvent]:
        if self.exclusions and len(detections):
            points = normalise_points(
                detections.bottom_centres(), obs.width, obs.height
            )
            excluded = np.zeros(len(detections), bool)
            for zone in self.exclusions:
                excluded |= zone.contains(points)
            detections = detections.select(~excluded)
        detections = self.tracker.update(detections, obs.t)
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

    def line_counts(self) -> dict[str, dict[str, dict[str, int]]]:
        """Crossings so far by line name, direction (`in`, `out`) and class."""
        return {r.name: r.totals() for r in self.rules if isinstance(r, LineCounter)}

    def _log(self, events: list[IncidentEvent]) -> None:
        for event in events:
            self.log.info(
                "incident %s %s %s (event %s, count %d, peak %d)",
                event.kind,
                event.id,
                event.state,
                event.event_id,
                event.count,
                event.peak_count,
            )
