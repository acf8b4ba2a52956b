"""Shared parts of the rules: observations, incident bookkeeping, active hours."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime, time
from zoneinfo import ZoneInfo

import numpy as np

from sharpeyes.config import ACTIVE_HOURS_PATTERN
from vision.incidents import IncidentEvent, new_incident_id

# A dip below a rule's threshold must last this many analysed frames, as well as
# the configured seconds, before it resets a pending incident or closes an open
# one; this keeps a detector that misses objects for a frame or two from
# splitting one incident into several.
MIN_GAP_FRAMES = 3


@dataclass(frozen=True)
class Observation:
    """When and on what frame size a set of detections was made.

    `t` is seconds on a clock that never jumps (monotonic for live cameras, media
    time for files); `wall` is Unix seconds for the timestamps in events. `image`
    is the analysed frame (BGR uint8, `height` x `width`) for rules that look at
    pixels; it is None when an incident is closed without a frame.
    """

    t: float
    wall: float
    width: int
    height: int
    media_s: float | None = None
    image: np.ndarray | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class CameraInfo:
    camera_id: str
    site: str
    location: str
    timezone: str = "UTC"


class ActiveHours:
    """Daily windows such as "20:00-06:00" in a camera's time zone.

    A window whose end is before its start runs over midnight. No windows means
    always active.
    """

    def __init__(self, windows: list[str], timezone: str = "UTC") -> None:
        self.zone = ZoneInfo(timezone)
        self.windows: list[tuple[time, time | None]] = []
        for window in windows:
            if not re.match(ACTIVE_HOURS_PATTERN, window):
                raise ValueError(f"active hours {window!r} must look like 08:00-18:00")
            start, end = window.split("-")
            self.windows.append(
                (
                    time.fromisoformat(start),
                    None if end == "24:00" else time.fromisoformat(end),
                )
            )

    def active(self, wall: float) -> bool:
        if not self.windows:
            return True
        now = datetime.fromtimestamp(wall, self.zone).time()
        for start, end in self.windows:
            if end is None:
                if now >= start:
                    return True
            elif start <= end:
                if start <= now < end:
                    return True
            elif now >= start or now < end:
                return True
        return False


@dataclass
class IncidentRecord:
    """One incident from open to close: its id, event numbers, peak and the rate
    limit of its update events."""

    camera: CameraInfo
    kind: str
    rule: int
    zone: str | None
    update_seconds: float
    started_wall: float
    id: str = field(default_factory=new_incident_id)
    seq: int = 0
    peak: int = 0
    peak_boxes: list[dict] = field(default_factory=list)
    track_ids: set[int] = field(default_factory=set)
    last_event_t: float = -math.inf
    last_reported: tuple = ()

    def note(self, count: int, boxes: list[dict]) -> None:
        """Remember the boxes of the largest count seen, and every track id."""
        if count > self.peak:
            self.peak = count
            self.peak_boxes = boxes
        self.track_ids.update(b["track_id"] for b in boxes if "track_id" in b)

    def event(
        self,
        state: str,
        count: int,
        obs: Observation,
        ended_wall: float | None = None,
        detail: dict | None = None,
    ) -> IncidentEvent:
        self.seq += 1
        self.last_event_t = obs.t
        self.last_reported = (count, self.peak, len(self.track_ids))
        return IncidentEvent(
            id=self.id,
            camera_id=self.camera.camera_id,
            site=self.camera.site,
            location=self.camera.location,
            kind=self.kind,
            state=state,
            seq=self.seq,
            zone=self.zone,
            rule=self.rule,
            started_at=self.started_wall,
            updated_at=obs.wall,
            ended_at=ended_wall,
            count=count,
            peak_count=self.peak,
            boxes=list(self.peak_boxes),
            frame_size=(obs.width, obs.height),
            detail={**(detail or {}), "track_ids": sorted(self.track_ids)},
            media_time_s=obs.media_s,
        )

    def maybe_update(
        self, count: int, obs: Observation, detail: dict | None = None
    ) -> list[IncidentEvent]:
        """Return an update event when something changed and update_seconds passed."""
        if (count, self.peak, len(self.track_ids)) == self.last_reported:
            return []
        if obs.t - self.last_event_t < self.update_seconds:
            return []
        return [self.event("update", count, obs, detail=detail)]


def open_record(
    camera: CameraInfo,
    kind: str,
    rule: int,
    zone: str | None,
    update_seconds: float,
    started_wall: float,
    pending_peak: tuple[int, list[dict]],
    count: int,
    boxes: list[dict],
) -> IncidentRecord:
    """Start the record of an incident that opens now.

    `pending_peak` is the largest (count, boxes) seen while the rule waited.
    That peak may predate the tracks' confirmation, so the opening frame's
    `boxes` are noted too, for the track ids confirmed since.
    """
    record = IncidentRecord(
        camera=camera,
        kind=kind,
        rule=rule,
        zone=zone,
        update_seconds=update_seconds,
        started_wall=started_wall,
    )
    record.note(*pending_peak)
    record.note(count, boxes)
    return record
