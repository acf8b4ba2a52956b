"""Service configuration: a YAML file validated by pydantic models.

Every field carries its description, unit and default. Relative paths are resolved
against the folder of the config file. `${VAR}` in a string value is replaced by the
environment variable VAR, so camera passwords need not be written in the file.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from models.registry import MANIFEST_PATH
from streams.urls import redact_url, url_port_error

CAMERA_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


def known_class_names() -> frozenset[str]:
    """Return every class name that a model in models/manifest.yaml can output."""
    manifest = yaml.safe_load(MANIFEST_PATH.read_text())
    return frozenset(name for names in manifest["classes"].values() for name in names)


def check_classes(names: list[str]) -> list[str]:
    unknown = sorted(set(names) - known_class_names())
    if unknown:
        raise ValueError(f"unknown class names {unknown}; see models/manifest.yaml")
    return names


def check_active_hours(windows: list[str]) -> list[str]:
    for window in windows:
        if not re.match(ACTIVE_HOURS_PATTERN, window):
            raise ValueError(
                f"{window!r} is not a daily window such as 08:00-18:00 "
                "(hours 00-23, end up to 24:00)"
            )
        start, end = window.split("-")
        if start == end:
            raise ValueError(f"{window!r} starts and ends at the same time")
    return windows


ACTIVE_HOURS_PATTERN = r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-4]):[0-5]\d$"
ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class ConfigError(Exception):
    """The config file is unreadable or invalid; the message is one line per fault."""


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


Point = Annotated[
    list[Annotated[float, Field(ge=0.0, le=1.0)]], Field(min_length=2, max_length=2)
]


class ZoneConfig(StrictModel):
    polygon: list[Point] = Field(
        min_length=3,
        description="Polygon corners as [x, y] fractions of frame width and height, "
        "0..1 with the origin at the top-left. A detection is inside when the "
        "bottom-centre of its box is.",
    )


VEHICLES_AND_PEOPLE = ["person", "bicycle", "car", "motorcycle", "bus", "truck"]


class RuleBase(StrictModel):
    active_hours: list[str] = Field(
        default_factory=list,
        description='Daily windows "HH:MM-HH:MM" in the camera\'s time zone when '
        'the rule is active; "20:00-06:00" runs over midnight. Empty means always.',
    )
    update_seconds: float = Field(
        default=5.0,
        ge=0.5,
        le=3600.0,
        description="Minimum time between two update events of one open incident "
        "(seconds).",
    )

    @field_validator("active_hours")
    @classmethod
    def _check_hours(cls, value: list[str]) -> list[str]:
        return check_active_hours(value)


class GatheringRuleConfig(RuleBase):
    kind: Literal["gathering"] = Field(description="Rule type.")
    zone: str | None = Field(
        default=None,
        description="Name of a zone of this camera; null means the whole frame.",
    )
    min_people: int = Field(
        default=5,
        ge=1,
        le=1000,
        description="People needed in the zone to count as a gathering (persons).",
    )
    min_seconds: float = Field(
        default=10.0,
        ge=0.0,
        le=86400.0,
        description="How long the count must stay at or above min_people before an "
        "incident opens (seconds).",
    )
    quiet_seconds: float = Field(
        default=5.0,
        ge=0.0,
        le=86400.0,
        description="How long the count must stay below min_people before an open "
        "incident closes (seconds).",
    )
    dropout_seconds: float = Field(
        default=1.0,
        ge=0.0,
        le=60.0,
        description="Shortest dip below min_people that restarts the min_seconds "
        "wait; shorter dips are treated as detector dropouts (seconds).",
    )
    min_score: float = Field(
        default=0.3,
        ge=0.0,
        le=1.0,
        description="Lowest detector score of a person that is counted (0..1).",
    )
    cluster_radius: float | None = Field(
        default=None,
        gt=0.0,
        le=2.0,
        description="When set, only the largest group of people linked by steps of "
        "at most this distance counts (fraction of the frame width).",
    )
    cooldown_seconds: float = Field(
        default=0.0,
        ge=0.0,
        le=86400.0,
        description="After an incident closes, no new one starts for this long "
        "(seconds).",
    )


class IntrusionRuleConfig(RuleBase):
    kind: Literal["intrusion"] = Field(description="Rule type.")
    zone: str = Field(description="Name of the forbidden zone.")
    classes: list[str] = Field(
        default_factory=lambda: list(VEHICLES_AND_PEOPLE),
        min_length=1,
        description="Classes that count as intruders.",
    )

    @field_validator("classes")
    @classmethod
    def _check_classes(cls, value: list[str]) -> list[str]:
        return check_classes(value)

    min_seconds: float = Field(
        default=0.0,
        ge=0.0,
        le=3600.0,
        description="Time a track must be inside before the alarm (seconds).",
    )
    quiet_seconds: float = Field(
        default=3.0,
        ge=0.0,
        le=3600.0,
        description="Time the zone must stay empty before the incident closes "
        "(seconds).",
    )
    min_frames: int = Field(
        default=2,
        ge=1,
        le=100,
        description="Analysed frames in a row on the other side of the zone edge "
        "before a track counts as entered or left (hysteresis).",
    )


class LoiteringRuleConfig(RuleBase):
    kind: Literal["loitering"] = Field(description="Rule type.")
    zone: str = Field(description="Name of the zone watched.")
    classes: list[str] = Field(
        default_factory=lambda: ["person"],
        min_length=1,
        description="Classes whose tracks are watched.",
    )

    @field_validator("classes")
    @classmethod
    def _check_classes(cls, value: list[str]) -> list[str]:
        return check_classes(value)

    min_seconds: float = Field(
        default=60.0,
        ge=0.0,
        le=86400.0,
        description="Time one track must stay inside before the incident opens "
        "(seconds).",
    )
    quiet_seconds: float = Field(
        default=3.0,
        ge=0.0,
        le=3600.0,
        description="Time the track must be gone from the zone before the incident "
        "closes (seconds).",
    )
    min_frames: int = Field(
        default=2,
        ge=1,
        le=100,
        description="Analysed frames in a row on the other side of the zone edge "
        "before a track counts as entered or left (hysteresis).",
    )


class DustRuleConfig(RuleBase):
    kind: Literal["dust"] = Field(description="Rule type.")
    zone: str | None = Field(
        default=None,
        description="Name of a zone of this camera; a truck counts when the "
        "bottom-centre of its box is inside. Null means the whole frame.",
    )
    classes: list[str] = Field(
        default_factory=lambda: ["truck"],
        min_length=1,
        description="Classes treated as trucks. YOLOX-Nano labels some dump trucks "
        "`train` or `bus`; a class must also be in model.classes to be detected.",
    )

    @field_validator("classes")
    @classmethod
    def _check_classes(cls, value: list[str]) -> list[str]:
        return check_classes(value)

    sensitivity: float = Field(
        default=0.5,
        ge=0.0,
        le=1.0,
        description="0..1; sets the dust score threshold, 0.6 at 0 falling "
        "linearly to 0.1 at 1. Higher finds thinner dust and raises more false "
        "alarms.",
    )
    min_seconds: float = Field(
        default=3.0,
        ge=0.0,
        le=3600.0,
        description="How long some truck must stay dusty before an incident opens "
        "(seconds).",
    )
    quiet_seconds: float = Field(
        default=5.0,
        ge=0.0,
        le=3600.0,
        description="How long no truck may be dusty before an open incident closes "
        "(seconds).",
    )
    dropout_seconds: float = Field(
        default=1.0,
        ge=0.0,
        le=60.0,
        description="Shortest gap without a dusty truck that restarts the "
        "min_seconds wait; shorter gaps are treated as detector dropouts (seconds).",
    )
    cooldown_seconds: float = Field(
        default=0.0,
        ge=0.0,
        le=86400.0,
        description="After an incident closes, no new one starts for this long "
        "(seconds).",
    )


class LineRuleConfig(StrictModel):
    kind: Literal["line"] = Field(description="Rule type.")
    name: str = Field(
        pattern=r"^[A-Za-z0-9_.-]{1,64}$",
        description="Line name in counts and metrics.",
    )
    line: list[Point] = Field(
        min_length=2,
        max_length=2,
        description="[A, B] as normalised [x, y] points. Crossing from the left of "
        "A->B (as seen on screen) to its right counts as `in`, the other way `out`.",
    )
    classes: list[str] = Field(
        default_factory=lambda: list(VEHICLES_AND_PEOPLE),
        min_length=1,
        description="Classes that are counted.",
    )

    @field_validator("classes")
    @classmethod
    def _check_classes(cls, value: list[str]) -> list[str]:
        return check_classes(value)

    @field_validator("line")
    @classmethod
    def _check_line(cls, value: list[list[float]]) -> list[list[float]]:
        if value[0] == value[1]:
            raise ValueError("the two points of the line are the same")
        return value

    margin: float = Field(
        default=0.01,
        ge=0.0,
        le=0.2,
        description="Dead band on each side of the line, as a fraction of the frame "
        "width; a box jittering inside it keeps its side.",
    )


RuleConfig = Annotated[
    GatheringRuleConfig
    | IntrusionRuleConfig
    | LoiteringRuleConfig
    | DustRuleConfig
    | LineRuleConfig,
    Field(discriminator="kind"),
]


class CameraConfig(StrictModel):
    url: str = Field(
        description="Stream URL: rtsp:// or rtsps:// for cameras; a file path or "
        "file:// URL is accepted for testing. May contain ${VAR} references."
    )
    site: Literal["village", "party-member", "road", "square", "site", "other"] = Field(
        default="other", description="Kind of place the camera watches."
    )
    location: str = Field(
        default="", max_length=200, description="Place description shown in alerts."
    )
    enabled: bool = Field(default=True, description="Whether the camera is read.")
    detect_fps: float = Field(
        default=5.0,
        gt=0.0,
        le=60.0,
        description="Frames per second handed to the detector; the rest are decoded "
        "and dropped (frames per second).",
    )
    transport: Literal["tcp", "udp"] = Field(
        default="tcp", description="RTSP transport of the RTP packets."
    )
    open_timeout_s: float = Field(
        default=10.0,
        gt=0.0,
        le=120.0,
        description="Time allowed to connect and receive the stream description "
        "(seconds).",
    )
    read_timeout_s: float = Field(
        default=5.0,
        gt=0.0,
        le=120.0,
        description="Time without data after which the stream counts as stalled and "
        "is reopened (seconds).",
    )
    retry_initial_s: float = Field(
        default=1.0, gt=0.0, le=60.0, description="First reconnect delay (seconds)."
    )
    retry_max_s: float = Field(
        default=6.0,
        gt=0.0,
        le=3600.0,
        description="Cap of the exponentially growing reconnect delay (seconds).",
    )
    keyframes_only: bool = Field(
        default=False,
        description="Low-power mode: decode only keyframes, so at most one frame "
        "per GOP is analysed.",
    )
    decode_threads: int = Field(
        default=1,
        ge=0,
        le=16,
        description="FFmpeg decoder threads for this camera; 0 lets FFmpeg choose, "
        "which starts several threads per camera. A single 4K camera may need "
        "more than one thread to keep up.",
    )
    main_url: str | None = Field(
        default=None,
        description="Full-resolution main stream kept for evidence while `url` "
        "(a low-resolution sub-stream) is analysed. May contain ${VAR} references.",
    )
    zones: dict[str, ZoneConfig] = Field(
        default_factory=dict, description="Named zones, used by rules."
    )
    timezone: str = Field(
        default="UTC",
        description="IANA time zone of the camera, for rules' active hours, e.g. "
        "Asia/Shanghai.",
    )
    exclusions: list[Annotated[list[Point], Field(min_length=3)]] = Field(
        default_factory=list,
        description="Polygons (normalised, like zones) whose detections every rule "
        "ignores, e.g. a poster of a person or a parking bay.",
    )
    mask_clips: bool = Field(
        default=False,
        description="Also burn privacy_masks into evidence clips, which then are "
        "decoded and re-encoded with x264 instead of copied.",
    )
    privacy_masks: list[Annotated[list[Point], Field(min_length=3)]] = Field(
        default_factory=list,
        description="Polygons (normalised [x, y] corners, like zones) filled black "
        "in every snapshot before it is written or served.",
    )
    rules: list[RuleConfig] = Field(
        default_factory=list, description="Incident rules evaluated on this camera."
    )

    @field_validator("url", "main_url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        if not value:
            raise ValueError("must not be empty")
        scheme = value.split("://", 1)[0].lower() if "://" in value else ""
        if scheme and scheme not in ("rtsp", "rtsps", "file"):
            raise ValueError(
                f"scheme {scheme!r} is not supported (use rtsp, rtsps or a file path)"
            )
        port_error = url_port_error(value)
        if port_error:
            raise ValueError(f"invalid port: {port_error}")
        return value

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @model_validator(mode="after")
    def _check_rule_zones(self) -> CameraConfig:
        for index, rule in enumerate(self.rules):
            zone = getattr(rule, "zone", None)
            if zone is not None and zone not in self.zones:
                known = ", ".join(sorted(self.zones)) or "none defined"
                raise ValueError(
                    f"rules.{index}.zone = {zone!r} names no zone of this "
                    f"camera (zones: {known})"
                )
        return self


class ModelConfig(StrictModel):
    name: str = Field(
        default="yolox_nano", description="Model name in models/manifest.yaml."
    )
    dir: Path = Field(
        default=Path("models/weights"),
        description="Folder holding the weight file named in the manifest.",
    )
    providers: list[str] = Field(
        default_factory=lambda: ["CPUExecutionProvider"],
        min_length=1,
        description="onnxruntime execution providers in order of preference, or "
        "[auto] for every accelerator the installed build offers, then the CPU.",
    )
    score_threshold: float = Field(
        default=0.3, ge=0.01, le=1.0, description="Lowest detection score kept (0..1)."
    )
    nms_iou: float = Field(
        default=0.45,
        gt=0.0,
        le=1.0,
        description="Overlap (IoU) above which the weaker of two boxes of one class "
        "is suppressed (0..1).",
    )
    max_batch: int | None = Field(
        default=None,
        ge=1,
        le=64,
        description="Maximum frames per inference run; null picks the first "
        "provider's default: 4 on CPU, 8 on OpenVINO, 32 on CUDA and TensorRT.",
    )
    workers: int | None = Field(
        default=None,
        ge=1,
        le=64,
        description="Inference threads calling the model at once; null picks one "
        "per CPU core (at most 8) on CPU when `threads` is 0, else 1.",
    )
    threads: int = Field(
        default=0,
        ge=0,
        le=64,
        description="onnxruntime intra-op threads per run; 0 shares min(4, CPU "
        "count) among the workers, at least 1 each.",
    )
    fit_canvas: bool = Field(
        default=True,
        description="Shrink the letterbox canvas to the frame's aspect ratio in "
        "steps of 32 px, so a 16:9 frame runs at 256x416 instead of 416x416 with "
        "the same pixels, for about a third less inference work. Scores of "
        "barely found objects (below about 0.2) can move by a few hundredths.",
    )
    tiles: int = Field(
        default=1,
        ge=1,
        le=4,
        description="With N > 1, each frame is also analysed as N x N overlapping "
        "tiles, which finds smaller, farther objects at about N*N + 1 times the "
        "inference cost.",
    )
    classes: list[str] = Field(
        default_factory=lambda: [
            "person",
            "bicycle",
            "car",
            "motorcycle",
            "bus",
            "truck",
        ],
        min_length=1,
        description="Class names kept from the detector output.",
    )


class ApiConfig(StrictModel):
    host: str = Field(default="127.0.0.1", description="Address the API binds to.")
    port: int = Field(
        default=8080, ge=0, le=65535, description="TCP port; 0 picks one."
    )
    enabled: bool = Field(
        default=True, description="Whether `sharpeyes run` also serves the API."
    )
    admin_token: str | None = Field(
        default=None,
        min_length=16,
        description="Bearer token registered for the admin role (name `admin`) "
        "at start-up; use ${VAR}. Other tokens are made with `sharpeyes token` "
        "or POST /api/tokens.",
    )


class AlertsConfig(StrictModel):
    stream_key: str = Field(
        default="sharpeyes:events",
        min_length=1,
        description="Redis stream that incident events are appended to.",
    )
    stream_maxlen: int = Field(
        default=100_000,
        ge=100,
        description="Approximate cap of entries kept in the event stream.",
    )
    retention_days: float = Field(
        default=30.0,
        gt=0.0,
        le=3650.0,
        description="Closed alerts older than this are deleted (days).",
    )


class EvidenceConfig(StrictModel):
    enabled: bool = Field(
        default=True, description="Whether snapshots and clips are written."
    )
    pre_seconds: float = Field(
        default=5.0,
        ge=0.0,
        le=300.0,
        description="Clip length before the incident's start (seconds). The clip "
        "begins at the keyframe at or before that time.",
    )
    post_seconds: float = Field(
        default=5.0,
        ge=0.0,
        le=300.0,
        description="Clip length after the incident opened (seconds).",
    )
    max_disk_mb: float = Field(
        default=10240.0,
        gt=0.0,
        description="Disk budget of the evidence folder (MiB); the oldest files "
        "of closed incidents are deleted first, never those of open ones.",
    )
    ring_seconds: float = Field(
        default=30.0,
        ge=1.0,
        le=600.0,
        description="Encoded video kept in memory per camera (seconds); it must "
        "cover pre_seconds plus the rules' min_seconds for a clip to start early "
        "enough.",
    )


class ForwarderConfig(StrictModel):
    url: str | None = Field(
        default=None,
        description="Governance platform webhook (http or https); null disables "
        "forwarding.",
    )
    secret: str | None = Field(
        default=None,
        min_length=16,
        description="Shared secret for the HMAC-SHA256 body signature; use ${VAR}.",
    )
    timeout_s: float = Field(
        default=10.0, gt=0.0, le=300.0, description="Time allowed per POST (seconds)."
    )
    retry_initial_s: float = Field(
        default=1.0, gt=0.0, le=3600.0, description="First retry delay (seconds)."
    )
    retry_max_s: float = Field(
        default=300.0,
        gt=0.0,
        le=86400.0,
        description="Cap of the doubling retry delay (seconds).",
    )
    max_attempts: int = Field(
        default=200,
        ge=1,
        le=100_000,
        description="Failed tries after which an event moves to the dead-letter "
        "list; with the defaults, about 16 hours of outage.",
    )

    @model_validator(mode="after")
    def _check_pair(self) -> ForwarderConfig:
        if self.url is not None:
            if not self.url.startswith(("http://", "https://")):
                raise ValueError("url must start with http:// or https://")
            if not self.secret:
                raise ValueError("secret is required when url is set")
        return self


class Config(StrictModel):
    redis_url: str | None = Field(
        default=None,
        description="Redis server URL; null starts an embedded Redis with its data "
        "under data_dir.",
    )
    data_dir: Path = Field(
        default=Path("data"), description="Folder for the embedded Redis and state."
    )

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        scheme = value.split("://", 1)[0].lower() if "://" in value else ""
        if scheme not in ("redis", "rediss", "unix"):
            raise ValueError("must start with redis://, rediss:// or unix://")
        port_error = url_port_error(value)
        if port_error:
            raise ValueError(f"invalid port: {port_error}")
        return value

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="Lowest level of log records printed."
    )
    model: ModelConfig = Field(default_factory=ModelConfig, description="Detector.")
    api: ApiConfig = Field(default_factory=ApiConfig, description="HTTP API.")
    alerts: AlertsConfig = Field(
        default_factory=AlertsConfig, description="Alert storage in Redis."
    )
    forwarder: ForwarderConfig = Field(
        default_factory=ForwarderConfig,
        description="Delivery of every event to the governance platform.",
    )
    evidence: EvidenceConfig = Field(
        default_factory=EvidenceConfig,
        description="Snapshots and clips under <data_dir>/evidence.",
    )
    cameras: dict[Annotated[str, Field(pattern=CAMERA_ID_PATTERN)], CameraConfig] = (
        Field(default_factory=dict, description="Cameras by id.")
    )


def expand_env(value: object, path: str) -> object:
    """Replace ${VAR} in every string of a parsed YAML tree; raise ConfigError
    naming the key when a variable is not set."""
    if isinstance(value, dict):
        return {
            k: expand_env(v, f"{path}.{k}" if path else str(k))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [expand_env(v, f"{path}.{i}") for i, v in enumerate(value)]
    if isinstance(value, str):

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in os.environ:
                raise ConfigError(f"{path}: environment variable {name} is not set")
            return os.environ[name]

        return ENV_REFERENCE.sub(substitute, value)
    return value


RULE_KINDS = ("gathering", "intrusion", "loitering", "dust", "line")


def describe_error(error: dict) -> str:
    """Format one pydantic error as `key.path: message (got VALUE)`."""
    parts = list(error["loc"])
    # pydantic names the matched rule kind in the path; the file has no such key.
    parts = [
        part
        for index, part in enumerate(parts)
        if not (part in RULE_KINDS and index > 0 and isinstance(parts[index - 1], int))
    ]
    location = ".".join(str(part) for part in parts)
    value = error.get("input")
    if error["type"] == "missing":
        return f"{location}: missing required key"
    if error["type"] == "union_tag_not_found":
        return f"{location}.kind: missing required key"
    if error["type"] == "union_tag_invalid":
        context = error.get("ctx", {})
        return (
            f"{location}.kind: unknown kind {context.get('tag')!r} "
            f"(known: {context.get('expected_tags')})"
        )
    if error["type"] == "extra_forbidden":
        return f"{location}: unknown key (value {safe_repr(value)})"
    message = error["msg"].removeprefix("Value error, ")
    shown = safe_repr(value)
    if isinstance(value, dict) or shown in message:
        return f"{location}: {message}"
    return f"{location}: {message} (got {shown})"


def safe_repr(value: object) -> str:
    """Repr of a config value for an error message, with URL passwords hidden."""
    if isinstance(value, dict):
        return "{...}"
    if isinstance(value, list) and len(repr(value)) > 80:
        return "[...]"
    if isinstance(value, str) and "://" in value:
        return repr(redact_url(value))
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def parse_config(data: object, base_dir: Path) -> Config:
    """Validate parsed YAML into a Config; raise ConfigError with one line per fault."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError("the top level must be a mapping of keys")
    data = expand_env(data, "")
    try:
        config = Config.model_validate(data)
    except ValidationError as error:
        lines = [describe_error(item) for item in error.errors()]
        raise ConfigError("\n".join(lines)) from None
    return resolve_paths(config, base_dir)


def parse_camera(camera_id: str, data: dict) -> CameraConfig:
    """Validate one camera entry (as sent to the API); expand ${VAR} references."""
    if not re.match(CAMERA_ID_PATTERN, camera_id):
        raise ConfigError(f"cameras.{camera_id}: invalid camera id")
    data = expand_env(data, f"cameras.{camera_id}")
    try:
        return CameraConfig.model_validate(data)
    except ValidationError as error:
        lines = [describe_error(item) for item in error.errors()]
        raise ConfigError(
            "; ".join(f"cameras.{camera_id}.{line}" for line in lines)
        ) from None


def resolve_paths(config: Config, base_dir: Path) -> Config:
    data_dir = (
        config.data_dir if config.data_dir.is_absolute() else base_dir / config.data_dir
    )
    model_dir = (
        config.model.dir
        if config.model.dir.is_absolute()
        else base_dir / config.model.dir
    )
    model = config.model.model_copy(update={"dir": model_dir.resolve()})
    return config.model_copy(update={"data_dir": data_dir.resolve(), "model": model})


def load_config(path: Path) -> Config:
    """Read and validate a YAML config file."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as error:
        raise ConfigError(
            f"config: cannot read {str(path)!r}: {error.strerror}"
        ) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"invalid YAML in {str(path)!r}{where}") from None
    return parse_config(data, path.resolve().parent)
