"""Incident events: the JSON record that rules emit and alerts deliver."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


def iso_utc(unix_s: float | None) -> str | None:
    """Format Unix seconds as UTC ISO-8601 with offset and milliseconds."""
    if unix_s is None:
        return None
    return datetime.fromtimestamp(unix_s, UTC).isoformat(timespec="milliseconds")


def new_incident_id() -> str:
    return uuid.uuid4().hex


@dataclass
class IncidentEvent:
    """One state change of an incident: `open`, `update` or `close`.

    `seq` counts the events of one incident from 1, so (id, seq) identifies an
    event. Times are Unix seconds here and ISO-8601 strings in `to_dict`.
    """

    id: str
    camera_id: str
    site: str
    location: str
    kind: str
    state: str
    seq: int
    zone: str | None
    rule: int
    started_at: float
    updated_at: float
    ended_at: float | None
    count: int
    peak_count: int
    boxes: list[dict[str, Any]]
    frame_size: tuple[int, int]
    detail: dict[str, Any] = field(default_factory=dict)
    media_time_s: float | None = None

    @property
    def event_id(self) -> str:
        return f"{self.id}:{self.seq}"

    def to_dict(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "id": self.id,
            "event_id": self.event_id,
            "seq": self.seq,
            "camera_id": self.camera_id,
            "site": self.site,
            "location": self.location,
            "kind": self.kind,
            "state": self.state,
            "zone": self.zone,
            "rule": self.rule,
            "started_at": iso_utc(self.started_at),
            "updated_at": iso_utc(self.updated_at),
            "ended_at": iso_utc(self.ended_at),
            "count": self.count,
            "peak_count": self.peak_count,
            "boxes": self.boxes,
            "frame_size": list(self.frame_size),
            "detail": self.detail,
        }
        if self.media_time_s is not None:
            record["media_time_s"] = round(self.media_time_s, 3)
        return record
