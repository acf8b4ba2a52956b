"""Incident events for tests that need stored alerts but no video."""

from __future__ import annotations

from vision.incidents import IncidentEvent

STARTED = 1_780_000_000.0


def incident_event(
    incident: str,
    seq: int,
    state: str,
    camera: str = "plaza",
    kind: str = "gathering",
    started: float = STARTED,
    count: int = 5,
) -> IncidentEvent:
    """One event of `incident`, updated `seq` seconds after it started."""
    return IncidentEvent(
        id=incident,
        camera_id=camera,
        site="square",
        location="gate",
        kind=kind,
        state=state,
        seq=seq,
        zone="centre",
        rule=0,
        started_at=started,
        updated_at=started + seq,
        ended_at=started + seq if state == "close" else None,
        count=count,
        peak_count=count,
        boxes=[{"label": "person", "score": 0.9, "box": [1.0, 2.0, 3.0, 4.0]}],
        frame_size=(768, 576),
    )
