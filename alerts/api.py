"""HTTP API: alerts and camera status, read from Redis.

The app keeps no pipeline state of its own, so it runs inside `sharpeyes run` or
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

import httpx
import redis
from fastapi import Body, Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.responses import (
    FileResponse,
    JSONResponse,
    PlainTextResponse,
    StreamingResponse,
)
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from alerts.audit import AuditLog
from alerts.auth import Principal, TokenStore
from alerts.forwarder import ForwarderSettings, replay
from alerts.metrics import build_registry
from alerts.store import AlertQuery, AlertStore
from alerts.workflow import TransitionError, Workflow
from sharpeyes.config import CAMERA_ID_PATTERN, CameraConfig
from vision.incidents import iso_utc

log = logging.getLogger(__name__)

# A pipeline that has not written camera status for this long is reported as down.
HEARTBEAT_STALE_S = 10.0
SQUAD_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
ERRORS = {
    401: {"description": "Missing or invalid bearer token."},
    403: {"description": "The token's role may not do this."},
}


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


class WorkflowEntry(BaseModel):
    action: str
    status: str
    by: str = Field(description="Token name of who acted.")
    role: str
    at: str = Field(description="UTC ISO-8601 time of the transition.")
    note: str
    squad: str | None = None


class WorkflowState(BaseModel):
    status: Literal[
        "new", "acknowledged", "dispatched", "en_route", "resolved", "false_alarm"
    ]
    squad: str | None = Field(description="Squad the alert was dispatched to.")
    history: list[WorkflowEntry] = Field(description="Every transition, oldest first.")


class AlertDetail(AlertWithEvents):
    workflow: WorkflowState


class Note(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = Field(default="", max_length=1000, description="Free text.")


class DispatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    squad: str = Field(pattern=SQUAD_PATTERN, description="Squad id.")
    note: str = Field(default="", max_length=1000, description="Instructions.")


class Reason(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = Field(min_length=1, max_length=1000, description="Why; required.")


class TokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=SQUAD_PATTERN, description="Who the token is for.")
    role: Literal["operator", "squad", "engineer", "auditor", "admin"]
    squad: str | None = Field(
        default=None, pattern=SQUAD_PATTERN, description="Squad id, for squad tokens."
    )


class ReplayRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    since: AwareDatetime = Field(description="Start, ISO-8601 with offset.")
    until: AwareDatetime = Field(description="End, ISO-8601 with offset.")


class TokenCreated(BaseModel):
    name: str
    role: str
    squad: str | None
    token: str = Field(description="The bearer token; shown only this once.")


class TokenInfo(BaseModel):
    name: str
    role: str
    squad: str | None
    created_at: str = Field(description="UTC ISO-8601 time the token was made.")


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


MANIFEST_TIMES = ("start", "end", "requested_start", "requested_end", "taken_at")


def with_iso_times(manifest: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of a manifest with its Unix-second times as UTC ISO-8601
    strings, like every other time the API serves."""
    return {
        key: iso_utc(value) if key in MANIFEST_TIMES and value is not None else value
        for key, value in manifest.items()
    }


def invalid(location: list[str], message: str) -> HTTPException:
    """Build a 422 shaped like FastAPI's validation errors, as the schema declares."""
    return HTTPException(
        422, [{"loc": location, "msg": message, "type": "value_error"}]
    )


def parse_time(value: datetime | None, name: str) -> float | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise invalid(["query", name], "time must include a UTC offset, e.g. Z")
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


def evidence_files(store: AlertStore, evidence_dir: FilePath | None) -> list:
    """(name, path, sha256) of every evidence file still meant to exist."""
    found = []
    if evidence_dir is None:
        return found
    for key in store.client.scan_iter(f"{store.prefix}:evidence:*"):
        incident_id = key.decode().rsplit(":", 1)[1]
        for kind, manifest in store.get_evidence(incident_id).items():
            if (
                manifest.get("sha256")
                and manifest.get("path")
                and not manifest.get("deleted")
            ):
                path = evidence_dir / manifest.get("camera_id", "") / manifest["path"]
                found.append((f"{kind} of {incident_id}", path, manifest["sha256"]))
    return found


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
            kind = "incident" if b"event" in fields else "transition"
            data = fields[b"event" if kind == "incident" else b"transition"].decode()
            yield f"id: {after}\nevent: {kind}\ndata: {data}\n\n"


def create_app(
    store: AlertStore,
    evidence_dir: FilePath | None = None,
    forwarder: ForwarderSettings | None = None,
) -> FastAPI:
    """Build the API on a store; tokens, workflow and audit log share its Redis.

    Every endpoint but /healthz and /metrics needs `Authorization: Bearer
    <token>`, and the token's role must be allowed on it (admin always is).
    """
    app = FastAPI(
        title="sharpeyes",
        version="0.1.0",
        description="Incident alerts, dispatch workflow, evidence and camera status "
        "of a sharpeyes pipeline.",
        responses=ERRORS,
    )
    tokens = TokenStore(store.client, store.prefix)
    audit = AuditLog(store.client, store.prefix)
    workflow = Workflow(
        store.client, store.stream_key, store.stream_maxlen, store.prefix
    )
    bearer = HTTPBearer(auto_error=False)

    def allow(*roles: str):
        def check(
            credentials: HTTPAuthorizationCredentials | None = Depends(bearer),
        ) -> Principal:
            if credentials is None:
                raise HTTPException(
                    401, "missing bearer token", {"WWW-Authenticate": "Bearer"}
                )
            who = tokens.lookup(credentials.credentials)
            if who is None:
                raise HTTPException(
                    401, "invalid or revoked token", {"WWW-Authenticate": "Bearer"}
                )
            if who.role != "admin" and who.role not in roles:
                raise HTTPException(403, f"role {who.role} may not do this")
            return who

        return check

    def record(who: Principal, request: Request, action: str, target: str, **detail):
        source = request.client.host if request.client else ""
        audit.append(who.name, who.role, action, target, source, detail)

    def with_workflow(alert: dict) -> dict:
        alert["workflow"] = workflow.state(alert["id"])
        return alert

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
        state: Literal["open", "update", "close", "active"] | None = Query(
            None,
            description="State of the latest event; `active` matches open and "
            "update, so every incident not closed yet.",
        ),
        since: datetime | None = Query(
            None, description="Only alerts that started at or after this time."
        ),
        until: datetime | None = Query(
            None, description="Only alerts that started at or before this time."
        ),
        limit: int = Query(50, ge=1, le=500, description="Page size."),
        offset: int = Query(0, ge=0, le=1_000_000, description="Alerts to skip."),
        who: Principal = Depends(allow("operator", "auditor")),
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
        states = workflow.states([item["id"] for item in items])
        for item in items:
            item["workflow_status"] = states[item["id"]]["status"]
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
        response_model=AlertDetail,
        responses={404: {"description": "No alert with this id."}},
    )
    def get_alert(
        alert_id: str, who: Principal = Depends(allow("operator", "auditor"))
    ) -> AlertDetail:
        return with_workflow(existing_alert(alert_id))

    def existing_alert(alert_id: str) -> dict:
        if not alert_id.isalnum() or len(alert_id) > 64:
            raise HTTPException(404, "alert not found")
        alert = store.get_alert(alert_id)
        if alert is None:
            raise HTTPException(404, "alert not found")
        return alert

    def apply(alert_id: str, action: str, who: Principal, request: Request, **kw):
        existing_alert(alert_id)
        try:
            state = workflow.transition(alert_id, action, who, **kw)
        except TransitionError as error:
            raise HTTPException(409, str(error)) from None
        record(who, request, action, alert_id, **kw)
        return state

    @app.post(
        "/api/alerts/{alert_id}/acknowledge",
        response_model=WorkflowState,
        responses={
            404: {"description": "No such alert."},
            409: {"description": "Not allowed now."},
        },
    )
    def acknowledge(
        alert_id: str,
        request: Request,
        body: Note = Body(default_factory=Note),
        who: Principal = Depends(allow("operator")),
    ) -> WorkflowState:
        """Acknowledge a new alert."""
        return apply(alert_id, "acknowledge", who, request, note=body.note)

    @app.post(
        "/api/alerts/{alert_id}/dispatch",
        response_model=WorkflowState,
        responses={
            404: {"description": "No such alert."},
            409: {"description": "Not allowed now."},
        },
    )
    def dispatch(
        alert_id: str,
        body: DispatchRequest,
        request: Request,
        who: Principal = Depends(allow("operator")),
    ) -> WorkflowState:
        """Dispatch a new or acknowledged alert to an enforcement squad."""
        return apply(
            alert_id, "dispatch", who, request, note=body.note, squad=body.squad
        )

    @app.post(
        "/api/alerts/{alert_id}/false-alarm",
        response_model=WorkflowState,
        responses={
            404: {"description": "No such alert."},
            409: {"description": "Not allowed now."},
        },
    )
    def false_alarm(
        alert_id: str,
        body: Reason,
        request: Request,
        who: Principal = Depends(allow("operator")),
    ) -> WorkflowState:
        """Close an alert that is not resolved yet as a false alarm, with a reason."""
        return apply(alert_id, "false_alarm", who, request, note=body.note)

    @app.get("/api/dispatches", response_model=list[AlertDetail])
    def list_dispatches(
        who: Principal = Depends(allow("squad", "operator", "auditor")),
    ) -> list[AlertDetail]:
        """List dispatched alerts: a squad gets only its own, other roles all."""
        ids = (
            workflow.dispatched_to(who.squad)
            if who.role == "squad"
            else workflow.all_dispatched()
        )
        alerts = [store.get_alert(alert_id) for alert_id in ids]
        return [with_workflow(alert) for alert in alerts if alert is not None]

    def squad_action(
        alert_id: str, action: str, who: Principal, request: Request, note: str
    ):
        if who.role == "squad" and workflow.state(alert_id).get("squad") != who.squad:
            raise HTTPException(403, "this alert is not dispatched to your squad")
        return apply(alert_id, action, who, request, note=note)

    @app.post(
        "/api/dispatches/{alert_id}/en-route",
        response_model=WorkflowState,
        responses={
            404: {"description": "No such alert."},
            409: {"description": "Not allowed now."},
        },
    )
    def en_route(
        alert_id: str,
        request: Request,
        body: Note = Body(default_factory=Note),
        who: Principal = Depends(allow("squad")),
    ) -> WorkflowState:
        """Mark a dispatch as en route to the incident."""
        return squad_action(alert_id, "en_route", who, request, body.note)

    @app.post(
        "/api/dispatches/{alert_id}/resolve",
        response_model=WorkflowState,
        responses={
            404: {"description": "No such alert."},
            409: {"description": "Not allowed now."},
        },
    )
    def resolve(
        alert_id: str,
        body: Reason,
        request: Request,
        who: Principal = Depends(allow("squad")),
    ) -> WorkflowState:
        """Mark a dispatch as resolved; the note records how."""
        return squad_action(alert_id, "resolve", who, request, body.note)

    @app.get("/api/audit")
    def audit_log(
        offset: int = Query(0, ge=0, le=10_000_000),
        limit: int = Query(100, ge=1, le=1000),
        who: Principal = Depends(allow("auditor")),
    ) -> list[dict[str, Any]]:
        """Audit records, oldest first: who, role, action, target, when, from where."""
        return audit.records(offset, limit)

    @app.get("/api/audit/verify")
    def audit_verify(
        request: Request, who: Principal = Depends(allow("auditor"))
    ) -> dict[str, Any]:
        """Check the audit chain and re-hash every evidence file against its
        recorded sha256; `problems` lists what does not match."""
        report = audit.verify(evidence_files(store, evidence_dir))
        record(who, request, "audit_verify", "audit", problems=len(report["problems"]))
        return report

    @app.post(
        "/api/replay",
        responses={409: {"description": "No forwarder is configured."}},
    )
    def replay_range(
        body: ReplayRequest, request: Request, who: Principal = Depends(allow())
    ) -> dict[str, int]:
        """Post the events stored between two times to the webhook again; the
        platform's idempotency check keeps it from applying any twice."""
        if forwarder is None:
            raise HTTPException(409, "forwarder.url is not configured")
        since, until = body.since.timestamp(), body.until.timestamp()
        if since > until:
            raise invalid(["body", "since"], "since is after until")
        try:
            count = replay(
                store.client, forwarder, int(since * 1000), int(until * 1000)
            )
        except httpx.HTTPError as error:
            raise HTTPException(502, f"webhook failed: {error}") from None
        record(
            who, request, "replay", "forwarder", since=since, until=until, count=count
        )
        return {"replayed": count}

    @app.post("/api/tokens", response_model=TokenCreated, status_code=201)
    def create_token(
        body: TokenRequest, request: Request, who: Principal = Depends(allow())
    ) -> TokenCreated:
        """Create (or replace) a named token; the token is shown only here."""
        if body.role == "squad" and not body.squad:
            raise invalid(["body", "squad"], "squad tokens need a squad id")
        token = tokens.create(body.name, body.role, body.squad)
        record(
            who, request, "token_create", body.name, role=body.role, squad=body.squad
        )
        return TokenCreated(
            name=body.name, role=body.role, squad=body.squad, token=token
        )

    @app.get("/api/tokens", response_model=list[TokenInfo])
    def list_tokens(who: Principal = Depends(allow())) -> list[TokenInfo]:
        return [
            TokenInfo(**{**record, "created_at": iso_utc(record["created_at"])})
            for record in tokens.list()
        ]

    @app.delete(
        "/api/tokens/{name}",
        status_code=204,
        responses={404: {"description": "No such token."}},
    )
    def revoke_token(
        request: Request,
        name: str = Path(pattern=SQUAD_PATTERN),
        who: Principal = Depends(allow()),
    ) -> None:
        if not tokens.revoke(name):
            raise HTTPException(404, "token not found")
        record(who, request, "token_revoke", name)

    def checked_id(alert_id: str) -> str:
        if not alert_id.isalnum() or len(alert_id) > 64:
            raise HTTPException(404, "alert not found")
        return alert_id

    @app.get(
        "/api/alerts/{alert_id}/evidence",
        responses={404: {"description": "No alert with this id."}},
    )
    def get_evidence(
        alert_id: str, who: Principal = Depends(allow("operator", "auditor"))
    ) -> dict[str, dict[str, Any]]:
        """Return the manifests of the alert's snapshot and clip: file name, size,
        sha256, and the requested and real start and end of the clip."""
        alert_id = checked_id(alert_id)
        if store.get_alert(alert_id) is None:
            raise HTTPException(404, "alert not found")
        return {
            kind: with_iso_times(manifest)
            for kind, manifest in store.get_evidence(alert_id).items()
        }

    @app.get(
        "/api/alerts/{alert_id}/snapshot",
        response_class=FileResponse,
        responses={404: {"description": "No snapshot for this id."}},
    )
    def get_snapshot(
        alert_id: str,
        request: Request,
        who: Principal = Depends(allow("operator", "auditor")),
    ) -> FileResponse:
        """Return the JPEG taken when the incident opened, with its boxes drawn."""
        manifest = store.get_evidence(checked_id(alert_id)).get("snapshot")
        path = evidence_file(evidence_dir, manifest)
        record(who, request, "evidence_view", alert_id, kind="snapshot")
        return FileResponse(path, media_type="image/jpeg")

    @app.get(
        "/api/alerts/{alert_id}/clip",
        response_class=FileResponse,
        responses={404: {"description": "No clip for this id (yet)."}},
    )
    def get_clip(
        alert_id: str, request: Request, who: Principal = Depends(allow("auditor"))
    ) -> FileResponse:
        """Return the MP4 clip around the incident, cut from the packet ring."""
        manifest = store.get_evidence(checked_id(alert_id)).get("clip")
        path = evidence_file(evidence_dir, manifest)
        record(who, request, "evidence_download", alert_id, kind="clip")
        return FileResponse(path, media_type="video/mp4")

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
        who: Principal = Depends(allow("operator", "auditor")),
    ) -> StreamingResponse:
        """Server-Sent Events of every incident event as it is stored.

        Each message has the Redis stream entry id as its `id`, `event:
        incident` and the event JSON as `data`. A client that reconnects with
        the last id it saw receives everything it missed, as far back as the
        stream's MAXLEN keeps.
        """
        resume = request.headers.get("last-event-id") or last_event_id
        if resume is not None and not re.fullmatch(r"\d+-\d+", resume):
            raise invalid(
                ["header", "last-event-id"], "must be a stream id such as 1-0"
            )
        return StreamingResponse(
            sse_messages(store, request, resume or "$"),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache"},
        )

    @app.get("/api/counts")
    def line_counts(
        who: Principal = Depends(allow("operator", "engineer", "auditor")),
    ) -> dict[str, dict[str, dict[str, dict[str, int]]]]:
        """Line crossings per camera, line, direction (`in`, `out`) and class,
        counted since the camera's reader started."""
        statuses, _ = store.read_camera_status()
        return {
            camera_id: status.get("line_counts", {})
            for camera_id, status in sorted(statuses.items())
            if status.get("line_counts")
        }

    @app.get("/api/cameras", response_model=list[CameraStatus])
    def list_cameras(
        who: Principal = Depends(allow("operator", "engineer", "auditor")),
    ) -> list[CameraStatus]:
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
        request: Request,
        camera_id: str = Path(pattern=CAMERA_ID_PATTERN, max_length=64),
        who: Principal = Depends(allow("engineer")),
    ) -> CameraChange:
        """Add a camera or replace its config; the pipeline applies it within about
        a second, without touching other cameras. `${VAR}` references in the body
        are expanded by the pipeline from its own environment."""
        store.set_camera_override(
            camera_id, camera.model_dump(mode="json", exclude_unset=True)
        )
        record(who, request, "camera_put", camera_id)
        log.info("camera %s added or changed through the API", camera_id)
        return CameraChange(camera_id=camera_id, change="put")

    @app.delete(
        "/api/cameras/{camera_id}",
        status_code=202,
        response_model=CameraChange,
        responses={404: {"description": "No such camera."}},
    )
    def delete_camera(
        request: Request,
        camera_id: str = Path(pattern=CAMERA_ID_PATTERN, max_length=64),
        who: Principal = Depends(allow("engineer")),
    ) -> CameraChange:
        """Stop and remove a camera, whether it came from the config file or the
        API. A camera from the file stays removed until it is added again."""
        statuses, _ = store.read_camera_status()
        overrides, _ = store.read_camera_overrides()
        if camera_id not in statuses and overrides.get(camera_id) is None:
            raise HTTPException(404, "camera not found")
        store.set_camera_override(camera_id, None)
        record(who, request, "camera_delete", camera_id)
        log.info("camera %s removed through the API", camera_id)
        return CameraChange(camera_id=camera_id, change="delete")

    return app
