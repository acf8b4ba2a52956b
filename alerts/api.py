"""HTTP API: alerts and camera status, read from Redis.

The app holds no pipeline state of its own, so it runs inside `sharpeyes run` or
as a separate process (`sharpeyes api`) against the same Redis.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from datetime import datetime
from pathlib import Path as FilePath
from typing import Any, Literal

import redis
from fastapi import FastAPI, HTTPException, Path, Query, Request
from fastapi.responses import (
    FileResponse,
    JSONResponse,
    PlainTextResponse,
    StreamingResponse,
)
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field

from alerts.metrics import build_registry
from alerts.store import AlertQuery, AlertStore
from sharpeyes.config import CAMERA_ID_PATTERN, CameraConfig
from vision.incidents import iso_utc

log = logging.getLogger(__name__)

# A pipeline that has not written camera status for this long is reported as down.
HEARTBEAT_STALE_S = 10.0


class Box(BaseModel):
    label: str = Field(description="Class name, e.g. person.")
    score: float = Field(description="Detector confidence, 0..1.")
    box: list[float] = Field(description="[x1, y1, x2, y2] in frame pixels.")


class Alert(BaseModel):
    id: str = Field(description="Incident id, stable from open to close.")
    event_id: str = Field(description="Id of the latest event: `<id>:<seq>`.")
    seq: int = Field(description="Number of the latest event of this incident.")
    camera_id: str
    site: str
    location: str
    kind: str = Field(description="Rule kind, e.g. gathering.")
    state: Literal["open", "update", "close"] = Field(
        description="State of the latest event."
    )
    zone: str | None
    rule: int = Field(description="Index of the rule in the camera's config.")
    started_at: str = Field(description="UTC ISO-8601 time the condition began.")
    updated_at: str = Field(description="UTC ISO-8601 time of the latest event.")
    ended_at: str | None = Field(description="UTC ISO-8601 time the condition ended.")
    count: int = Field(description="Objects counted at the latest event.")
    peak_count: int = Field(description="Largest count while the incident was open.")
    boxes: list[Box] = Field(description="Boxes counted at the peak.")
    frame_size: list[int] = Field(description="[width, height] of the frame.")
    detail: dict[str, Any]


class AlertWithEvents(Alert):
    events: list[Alert] = Field(
        description="Every event of the incident, oldest first."
    )


class AlertPage(BaseModel):
    items: list[Alert]
    total: int = Field(description="Alerts matching the filters.")
    limit: int
    offset: int
    next_offset: int | None = Field(description="Offset of the next page, if any.")


class CameraStatus(BaseModel):
    camera_id: str
    state: str = Field(
        description="connecting, streaming, reconnecting, failed, stopped, or "
        "offline when the pipeline stopped reporting."
    )
    reason: str = Field(description="Why the camera entered its state.")
    state_since: str | None
    url: str = Field(description="Stream URL with credentials removed.")
    site: str
    location: str
    fps_received: float = Field(description="Decoded frames per second, last 5 s.")
    fps_analysed: float = Field(description="Frames analysed per second, last 5 s.")
    detect_fps: float = Field(description="Configured analysis rate.")
    frames_received: int
    frames_analysed: int
    frames_dropped: int = Field(
        description="Sampled frames replaced before the detector took them."
    )
    decode_errors: int
    reconnects: int
    last_frame_at: str | None
    first_frame_at: str | None = Field(
        description="Arrival of the first frame of the current connection."
    )
    stream_started_at: str | None = Field(
        description="Estimated capture time of that first frame, from the stream's "
        "timestamps; earlier than first_frame_at by the buffering delay."
    )
    last_frame_age_s: float | None = Field(description="Seconds since the last frame.")
    latency_s: float | None = Field(
        description="Seconds from capture to rules done for the latest analysed frame."
    )
    keyframes_only: bool = Field(description="Whether low-power mode is on.")
    main_url: str | None = Field(
        description="Main stream kept for evidence, credentials removed."
    )
    main_state: str | None = Field(
        description="Reader state of the main stream, when there is one."
    )
    time_to_first_frame_s: float | None
    width: int | None
    height: int | None


class CameraChange(BaseModel):
    camera_id: str
    change: Literal["put", "delete"] = Field(
        description="Accepted change; the pipeline applies it within about 1 s."
    )


class Health(BaseModel):
    status: Literal["ok", "degraded", "down"]
    redis: bool
    pipeline_heartbeat_age_s: float | None


def parse_time(value: datetime | None, name: str) -> float | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise HTTPException(422, f"{name}: time must include a UTC offset, e.g. Z")
    return value.timestamp()


def camera_view(camera_id: str, status: dict[str, Any], stale: bool) -> CameraStatus:
    now = time.time()
    last = status.get("last_frame_at")
    state, reason = status["state"], status.get("reason", "")
    if stale and state != "stopped":
        state, reason = "offline", "pipeline not reporting"
    return CameraStatus(
        camera_id=camera_id,
        state=state,
        reason=reason,
        state_since=iso_utc(status.get("state_since")),
        url=status.get("url", ""),
        site=status.get("site", "other"),
        location=status.get("location", ""),
        fps_received=0.0 if stale else status.get("fps_received", 0.0),
        fps_analysed=0.0 if stale else status.get("fps_analysed", 0.0),
        detect_fps=status.get("detect_fps", 0.0),
        frames_received=status.get("frames_received", 0),
        frames_analysed=status.get("frames_analysed", 0),
        frames_dropped=status.get("frames_dropped", 0),
        decode_errors=status.get("decode_errors", 0),
        reconnects=status.get("reconnects", 0),
        last_frame_at=iso_utc(last),
        first_frame_at=iso_utc(status.get("first_frame_at")),
        stream_started_at=iso_utc(status.get("stream_started_at")),
        last_frame_age_s=round(now - last, 3) if last else None,
        latency_s=status.get("latency_s"),
        keyframes_only=status.get("keyframes_only", False),
        main_url=status.get("main_url"),
        main_state=status.get("main_state"),
        time_to_first_frame_s=status.get("time_to_first_frame_s"),
        width=status.get("width"),
        height=status.get("height"),
    )


def evidence_file(evidence_dir: Path | None, manifest: dict | None) -> FilePath:
    """Resolve a manifest's file inside the evidence folder, or raise 404.

    Only a plain file name from the manifest is used, and the result must lie
    inside the folder, so no request can reach another path.
    """
    if evidence_dir is None or not manifest or not manifest.get("path"):
        raise HTTPException(404, "evidence not found")
    name = manifest["path"]
    camera = manifest.get("camera_id", "")
    if "/" in name or "/" in camera or name.startswith(".") or camera.startswith("."):
        raise HTTPException(404, "evidence not found")
    root = evidence_dir.resolve()
    path = (root / camera / name).resolve()
    if root not in path.parents or not path.is_file():
        raise HTTPException(404, "evidence not found")
    return path


SSE_KEEPALIVE_S = 15.0
# A camera entry is well under 4 KiB; 64 KiB leaves room for many zones.
MAX_BODY_BYTES = 64 * 1024


async def sse_messages(store: AlertStore, request: Request, after: str):
    """Yield SSE messages for stream entries after `after` until the client goes."""
    if after == "$":
        # Resolve "newest" once, so entries added between two reads are not lost.
        newest = await asyncio.to_thread(
            store.client.xrevrange, store.stream_key, count=1
        )
        after = newest[0][0].decode() if newest else "0-0"
    yield ": connected\n\n"
    idle = 0.0
    while not await request.is_disconnected():
        entries = await asyncio.to_thread(
            store.client.xread, {store.stream_key: after}, count=100, block=1000
        )
        if not entries:
            idle += 1.0
            if idle >= SSE_KEEPALIVE_S:
                idle = 0.0
                yield ": keep-alive\n\n"
            continue
        idle = 0.0
        for entry_id, fields in entries[0][1]:
            after = entry_id.decode()
            data = fields[b"event"].decode()
            yield f"id: {after}\nevent: incident\ndata: {data}\n\n"


def create_app(store: AlertStore, evidence_dir: FilePath | None = None) -> FastAPI:
    # NOTE: no endpoint checks who calls it yet (no tokens or roles), so the API
    # must stay on 127.0.0.1 or behind an authenticating proxy.
    app = FastAPI(
        title="sharpeyes",
        version="0.1.0",
        description="Incident alerts and camera status of a sharpeyes pipeline.",
    )

    @app.exception_handler(redis.RedisError)
    async def redis_unavailable(_request, error: redis.RedisError) -> JSONResponse:
        log.warning("Redis request failed: %s", error)
        return JSONResponse(
            status_code=503, content={"detail": "alert store (Redis) unavailable"}
        )

    @app.middleware("http")
    async def limit_body_size(request: Request, call_next):
        """Reject request bodies over MAX_BODY_BYTES before reading them, and
        bodies of unknown length, so no request can make the API buffer much."""
        if request.method in ("POST", "PUT", "PATCH"):
            length = request.headers.get("content-length")
            if length is None:
                return JSONResponse(
                    status_code=411, content={"detail": "Content-Length required"}
                )
            if not length.isdigit() or int(length) > MAX_BODY_BYTES:
                return JSONResponse(
                    status_code=413,
                    content={"detail": f"body larger than {MAX_BODY_BYTES} bytes"},
                )
        return await call_next(request)

    registry = build_registry(store, HEARTBEAT_STALE_S)

    @app.get("/metrics", response_class=PlainTextResponse)
    def metrics() -> PlainTextResponse:
        """Prometheus text exposition of camera, detector and alert counters."""
        return PlainTextResponse(
            generate_latest(registry), media_type=CONTENT_TYPE_LATEST
        )

    @app.get("/healthz", response_model=Health)
    def healthz() -> JSONResponse:
        try:
            store.client.ping()
            _, heartbeat = store.read_camera_status()
        except redis.RedisError:
            body = Health(status="down", redis=False, pipeline_heartbeat_age_s=None)
            return JSONResponse(status_code=503, content=body.model_dump())
        age = round(time.time() - heartbeat, 3) if heartbeat else None
        fresh = age is not None and age < HEARTBEAT_STALE_S
        body = Health(
            status="ok" if fresh else "degraded",
            redis=True,
            pipeline_heartbeat_age_s=age,
        )
        return JSONResponse(status_code=200, content=body.model_dump())

    @app.get("/api/alerts", response_model=AlertPage)
    def list_alerts(
        camera: str | None = Query(None, max_length=64, description="Camera id."),
        kind: str | None = Query(None, max_length=32, description="Rule kind."),
        state: Literal["open", "update", "close"] | None = Query(
            None, description="State of the latest event."
        ),
        since: datetime | None = Query(
            None, description="Only alerts that started at or after this time."
        ),
        until: datetime | None = Query(
            None, description="Only alerts that started at or before this time."
        ),
        limit: int = Query(50, ge=1, le=500, description="Page size."),
        offset: int = Query(0, ge=0, le=1_000_000, description="Alerts to skip."),
    ) -> AlertPage:
        query = AlertQuery(
            camera_id=camera,
            kind=kind,
            state=state,
            since=parse_time(since, "since"),
            until=parse_time(until, "until"),
            limit=limit,
            offset=offset,
        )
        items, total = store.list_alerts(query)
        next_offset = offset + len(items) if offset + len(items) < total else None
        return AlertPage(
            items=items,
            total=total,
            limit=limit,
            offset=offset,
            next_offset=next_offset,
        )

    @app.get(
        "/api/alerts/{alert_id}",
        response_model=AlertWithEvents,
        responses={404: {"description": "No alert with this id."}},
    )
    def get_alert(alert_id: str) -> AlertWithEvents:
        if not alert_id.isalnum() or len(alert_id) > 64:
            raise HTTPException(404, "alert not found")
        alert = store.get_alert(alert_id)
        if alert is None:
            raise HTTPException(404, "alert not found")
        return alert

    def checked_id(alert_id: str) -> str:
        if not alert_id.isalnum() or len(alert_id) > 64:
            raise HTTPException(404, "alert not found")
        return alert_id

    @app.get(
        "/api/alerts/{alert_id}/evidence",
        responses={404: {"description": "No alert with this id."}},
    )
    def get_evidence(alert_id: str) -> dict[str, dict[str, Any]]:
        """Manifests of the alert's snapshot and clip: file name, size, sha256,
        and the real start and end of the clip (Unix seconds)."""
        alert_id = checked_id(alert_id)
        if store.get_alert(alert_id) is None:
            raise HTTPException(404, "alert not found")
        return store.get_evidence(alert_id)

    @app.get(
        "/api/alerts/{alert_id}/snapshot",
        response_class=FileResponse,
        responses={404: {"description": "No snapshot for this id."}},
    )
    def get_snapshot(alert_id: str) -> FileResponse:
        """The JPEG taken when the incident opened, with its boxes drawn."""
        manifest = store.get_evidence(checked_id(alert_id)).get("snapshot")
        return FileResponse(
            evidence_file(evidence_dir, manifest), media_type="image/jpeg"
        )

    @app.get(
        "/api/alerts/{alert_id}/clip",
        response_class=FileResponse,
        responses={404: {"description": "No clip for this id (yet)."}},
    )
    def get_clip(alert_id: str) -> FileResponse:
        """The MP4 clip around the incident, cut without re-encoding."""
        manifest = store.get_evidence(checked_id(alert_id)).get("clip")
        return FileResponse(
            evidence_file(evidence_dir, manifest), media_type="video/mp4"
        )

    @app.get(
        "/api/events/stream",
        response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {}}}},
    )
    async def event_feed(
        request: Request,
        last_event_id: str | None = Query(
            None,
            max_length=40,
            pattern=r"^\d+-\d+$",
            description="Resume after this event id; the Last-Event-ID header, "
            "which browsers send on reconnect, takes precedence.",
        ),
    ) -> StreamingResponse:
        """Server-Sent Events of every incident event as it is stored.

        Each message has the Redis stream entry id as its `id`, `event:
        incident` and the event JSON as `data`. A client that reconnects with
        the last id it saw receives everything it missed, as far back as the
        stream's MAXLEN keeps.
        """
        resume = request.headers.get("last-event-id") or last_event_id
        if resume is not None and not re.fullmatch(r"\d+-\d+", resume):
            raise HTTPException(422, "Last-Event-ID must be a stream id like 1-0")
        return StreamingResponse(
            sse_messages(store, request, resume or "$"),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache"},
        )

    @app.get("/api/counts")
    def line_counts() -> dict[str, dict[str, dict[str, dict[str, int]]]]:
        """Line crossings per camera, line, direction (`in`, `out`) and class,
        counted since the camera's reader started."""
        statuses, _ = store.read_camera_status()
        return {
            camera_id: status.get("line_counts", {})
            for camera_id, status in sorted(statuses.items())
            if status.get("line_counts")
        }

    @app.get("/api/cameras", response_model=list[CameraStatus])
    def list_cameras() -> list[CameraStatus]:
        statuses, heartbeat = store.read_camera_status()
        stale = heartbeat is None or time.time() - heartbeat > HEARTBEAT_STALE_S
        return [
            camera_view(camera_id, status, stale)
            for camera_id, status in sorted(statuses.items())
        ]

    @app.put(
        "/api/cameras/{camera_id}",
        status_code=202,
        response_model=CameraChange,
        responses={422: {"description": "Invalid camera id or config."}},
    )
    def put_camera(
        camera: CameraConfig,
        camera_id: str = Path(pattern=CAMERA_ID_PATTERN, max_length=64),
    ) -> CameraChange:
        """Add a camera or replace its config; the pipeline applies it within about
        a second, without touching other cameras. `${VAR}` references in the body
        are expanded by the pipeline from its own environment."""
        store.set_camera_override(
            camera_id, camera.model_dump(mode="json", exclude_unset=True)
        )
        log.info("camera %s added or changed through the API", camera_id)
        return CameraChange(camera_id=camera_id, change="put")

    @app.delete(
        "/api/cameras/{camera_id}",
        status_code=202,
        response_model=CameraChange,
        responses={404: {"description": "No such camera."}},
    )
    def delete_camera(
        camera_id: str = Path(pattern=CAMERA_ID_PATTERN, max_length=64),
    ) -> CameraChange:
        """Stop and remove a camera, whether it came from the config file or the
        API. A camera from the file stays removed until it is added again."""
        statuses, _ = store.read_camera_status()
        overrides, _ = store.read_camera_overrides()
        if camera_id not in statuses and overrides.get(camera_id) is None:
            raise HTTPException(404, "camera not found")
        store.set_camera_override(camera_id, None)
        log.info("camera %s removed through the API", camera_id)
        return CameraChange(camera_id=camera_id, change="delete")

    return app
