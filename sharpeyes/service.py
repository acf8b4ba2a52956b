"""The main job: readers -> inference core -> rules -> publisher -> Redis, plus API.

`Service.run()` starts every part, serves until SIGINT or SIGTERM, and stops the
parts in reverse order: readers first, so no new frames arrive, then the core, then
the publisher after it has written what is queued, then the embedded Redis.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

import redis
import uvicorn

from alerts.api import create_app
from alerts.audit import AuditLog
from alerts.auth import TokenStore
from alerts.forwarder import Forwarder, ForwarderSettings
from alerts.publisher import AlertPublisher
from alerts.redis_server import EmbeddedRedis, RedisStartError, find_running
from alerts.retention import enforce_disk_budget
from alerts.store import AlertStore
from models.registry import load_model_spec
from sharpeyes.config import (
    CameraConfig,
    Config,
    ConfigError,
    load_config,
    parse_camera,
)
from streams.evidence import ClipRequest, PacketRing
from streams.frames import Frame
from streams.reader import CameraReader, StreamSettings
from streams.urls import redact_url
from vision.core import InferenceCore
from vision.detections import Detections
from vision.detector import Detector
from vision.rules import CameraAnalyser, Observation
from vision.snapshots import draw_snapshot, write_jpeg

log = logging.getLogger(__name__)

STATUS_INTERVAL_S = 1.0
REDIS_LOG_INTERVAL_S = 60.0
PURGE_INTERVAL_S = 3600.0
BUDGET_INTERVAL_S = 60.0
# How long a thread that wants the GIL waits for one running Python, in seconds
# (Python's default is 0.005). Tracking and rules run Python for a millisecond or
# more per frame, so with the default the readers and workers queued behind them
# while cores sat idle, and sampled frames were replaced in their slots. At 1 ms
# the benchmark in benchmarks/THROUGHPUT.md held 24 cameras of 720p, not 20.
GIL_SWITCH_INTERVAL_S = 0.001


def connect_redis(config: Config) -> tuple[redis.Redis, str, EmbeddedRedis | None]:
    """Connect to `redis_url`, to a running embedded Redis, or start one.

    Returns the client, the URL it uses and the embedded server this call started.
    """
    embedded = None
    url = config.redis_url
    if url is None:
        directory = config.data_dir / "redis"
        url = find_running(directory)
        if url is None:
            embedded = EmbeddedRedis(directory)
            url = embedded.start()
        else:
            log.info("using the embedded Redis already serving %s", directory)
    client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
    return client, url, embedded


def build_detector(config: Config) -> Detector:
    spec = load_model_spec(config.model.name, config.model.dir)
    return Detector(
        spec,
        providers=config.model.providers,
        score_threshold=config.model.score_threshold,
        nms_iou=config.model.nms_iou,
        max_batch=config.model.max_batch,
        intra_op_threads=config.model.threads,
        workers=config.model.workers,
        keep_classes=config.model.classes,
        tiles=config.model.tiles,
        fit_canvas=config.model.fit_canvas,
    )


def stream_settings(camera: CameraConfig) -> StreamSettings:
    return StreamSettings(
        url=camera.url,
        detect_fps=camera.detect_fps,
        transport=camera.transport,
        open_timeout_s=camera.open_timeout_s,
        read_timeout_s=camera.read_timeout_s,
        retry_initial_s=camera.retry_initial_s,
        retry_max_s=camera.retry_max_s,
        keyframes_only=camera.keyframes_only,
        decode_threads=camera.decode_threads,
    )


@dataclass
class CameraRuntime:
    """The running parts of one camera."""

    camera_id: str
    config: CameraConfig
    reader: CameraReader
    analyser: CameraAnalyser
    lock: threading.Lock
    last_obs: Observation | None = None
    ring: PacketRing | None = None
    recorder: CameraReader | None = None


class ServiceError(Exception):
    """The service cannot start; the message names the config key at fault."""


class Service:
    """The running pipeline. `config_path`, when given, is re-read on SIGHUP."""

    def __init__(
        self,
        config: Config,
        config_path: Path | None = None,
        detector: Detector | None = None,
    ) -> None:
        self.config = config
        self.config_path = config_path
        self.detector = detector
        self.cameras: dict[str, CameraRuntime] = {}
        self._retired: list[CameraReader] = []
        self.invalid_cameras: dict[str, str] = {}
        self._pending_evidence: list[tuple[str, str, dict]] = []
        self._overrides_version: int | None = None
        self._reload_requested = threading.Event()
        self._stop_event = threading.Event()
        self._redis_down_since: float | None = None
        self._redis_last_log = 0.0
        self._redis_failures = 0
        self.core: InferenceCore | None = None
        self.forwarder: Forwarder | None = None
        self.publisher: AlertPublisher | None = None
        self._embedded: EmbeddedRedis | None = None
        self._api_server: uvicorn.Server | None = None
        self._api_thread: threading.Thread | None = None

    def start(self) -> None:
        # Load the model first: a bad weight file should fail before anything runs.
        if self.detector is None:
            self.detector = build_detector(self.config)
        client, self.redis_url, self._embedded = connect_redis(self.config)
        self.evidence_dir = self.config.data_dir / "evidence"
        self.store = AlertStore(
            client,
            stream_key=self.config.alerts.stream_key,
            stream_maxlen=self.config.alerts.stream_maxlen,
            retention_s=self.config.alerts.retention_days * 86400,
            evidence_dir=self.evidence_dir,
        )
        if self.config.api.admin_token:
            TokenStore(client).create(
                "admin", "admin", token=self.config.api.admin_token
            )
        self.audit = AuditLog(client)
        self.publisher = AlertPublisher(
            self.store, self.config.data_dir / "spool" / "events.jsonl"
        )
        self.publisher.start()

        if self.config.forwarder.url:
            forwarder = self.config.forwarder
            self.forwarder = Forwarder(
                redis.Redis.from_url(self.redis_url, socket_timeout=30),
                ForwarderSettings(
                    url=forwarder.url,
                    secret=forwarder.secret,
                    stream_key=self.config.alerts.stream_key,
                    timeout_s=forwarder.timeout_s,
                    retry_initial_s=forwarder.retry_initial_s,
                    retry_max_s=forwarder.retry_max_s,
                    max_attempts=forwarder.max_attempts,
                ),
            )
            self.forwarder.start()
        self.core = InferenceCore(self.detector, self._on_detections)
        self.core.start()
        self.apply_cameras(self.desired_cameras())
        if self.config.api.enabled:
            self._start_api()
        log.info("sharpeyes running with %d cameras", len(self.cameras))

    def add_camera(self, camera_id: str, camera: CameraConfig) -> None:
        slot = self.core.add_camera(camera_id)
        ring = None
        recorder = None
        if self.config.evidence.enabled:
            ring = PacketRing(self.config.evidence.ring_seconds)
        if ring is not None and camera.main_url:
            main = replace(stream_settings(camera), url=camera.main_url)
            recorder = CameraReader(f"{camera_id}.main", main, None, ring=ring)
        reader = CameraReader(
            camera_id,
            stream_settings(camera),
            slot,
            on_disconnect=self._on_disconnect,
            ring=None if recorder else ring,
        )
        self.cameras[camera_id] = CameraRuntime(
            camera_id=camera_id,
            config=camera,
            reader=reader,
            analyser=CameraAnalyser(camera_id, camera),
            lock=threading.Lock(),
            ring=ring,
            recorder=recorder,
        )
        reader.start()
        if recorder is not None:
            recorder.start()

    def remove_camera(self, camera_id: str, reason: str) -> None:
        """Stop one camera's reader and close its open incidents."""
        runtime = self.cameras.pop(camera_id, None)
        if runtime is None:
            return
        runtime.reader.stop()
        if runtime.recorder is not None:
            runtime.recorder.stop()
            self._retired.append(runtime.recorder)
        # The reader may sit in a blocking read for up to read_timeout_s; it is
        # joined at shutdown instead of holding up the other cameras now.
        self._retired.append(runtime.reader)
        self.core.remove_camera(camera_id)
        with runtime.lock:
            if runtime.last_obs is not None:
                for event in runtime.analyser.finish(runtime.last_obs, reason):
                    self.publisher.submit(event)
        log.info("camera %s removed (%s)", camera_id, reason)

    def desired_cameras(self) -> dict[str, CameraConfig]:
        """Cameras of the config file, overlaid with those changed through the API.

        An API entry that fails validation (for example an unset ${VAR}) is logged
        and skipped; the camera keeps its previous config, if it had one.
        """
        cameras = dict(self.config.cameras)
        self.invalid_cameras = {}
        try:
            overrides, self._overrides_version = self.store.read_camera_overrides()
        except redis.RedisError as error:
            log.warning("reading camera changes from Redis failed: %s", error)
            overrides = {}
        for camera_id, raw in overrides.items():
            if raw is None:
                cameras.pop(camera_id, None)
                continue
            try:
                cameras[camera_id] = parse_camera(camera_id, raw)
            except ConfigError as error:
                log.error("camera %s from the API is invalid: %s", camera_id, error)
                self.invalid_cameras[camera_id] = str(error)
                if camera_id in self.cameras:
                    cameras[camera_id] = self.cameras[camera_id].config
        return {cid: camera for cid, camera in cameras.items() if camera.enabled}

    def apply_cameras(self, desired: dict[str, CameraConfig]) -> None:
        """Start, restart or stop readers so that exactly `desired` cameras run."""
        for camera_id in list(self.cameras):
            if camera_id not in desired:
                self.remove_camera(camera_id, "camera removed from config")
        for camera_id, camera in desired.items():
            current = self.cameras.get(camera_id)
            if current is not None and current.config == camera:
                continue
            if current is not None:
                self.remove_camera(camera_id, "camera config changed")
            self.add_camera(camera_id, camera)
            log.info("camera %s started", camera_id)

    def reload(self) -> None:
        """Re-read the config file and apply its camera changes; keep running on
        errors. Changes outside `cameras` need a restart and are only logged."""
        if self.config_path is None:
            log.warning("reload requested, but the service has no config file")
            return
        try:
            new = load_config(self.config_path)
        except ConfigError as error:
            log.error("config reload rejected, cameras unchanged: %s", error)
            return
        for key in Config.model_fields:
            if key != "cameras" and getattr(new, key) != getattr(self.config, key):
                log.warning("config key %s changed; it applies after a restart", key)
        self.config = self.config.model_copy(update={"cameras": new.cameras})
        self.apply_cameras(self.desired_cameras())
        try:
            self.audit.append(
                "sighup",
                "engineer",
                "config_reload",
                str(self.config_path),
                detail={"cameras": sorted(self.cameras)},
            )
        except redis.RedisError as error:
            log.warning("audit record of the reload failed: %s", error)
        log.info("config reloaded: %d cameras running", len(self.cameras))

    def _poll_camera_overrides(self) -> None:
        try:
            version = self.store.camera_overrides_version()
        except redis.RedisError:
            return
        if version != self._overrides_version:
            self.apply_cameras(self.desired_cameras())

    def _on_detections(self, frame: Frame, detections: Detections) -> None:
        runtime = self.cameras.get(frame.camera_id)
        if runtime is None:
            return
        obs = Observation(
            t=frame.monotonic_s,
            wall=frame.wall_s,
            width=frame.width,
            height=frame.height,
            image=frame.image,
        )
        with runtime.lock:
            # Kept for closing incidents later; the frame itself need not stay.
            runtime.last_obs = replace(obs, image=None)
            events = runtime.analyser.process(detections, obs)
        for event in events:
            self.publisher.submit(event)
            if event.state == "open" and self.config.evidence.enabled:
                self._collect_evidence(runtime, frame, event)

    def _collect_evidence(self, runtime: CameraRuntime, frame: Frame, event) -> None:
        """Write the snapshot now and ask the ring for the clip once the post
        window has passed."""
        folder = self.evidence_dir / runtime.camera_id
        base = {"incident_id": event.id, "camera_id": runtime.camera_id}
        try:
            result = write_jpeg(
                draw_snapshot(frame.image, event.boxes, runtime.config.privacy_masks),
                folder / f"{event.id}.jpg",
            )
            snapshot = {**base, "path": f"{event.id}.jpg", "taken_at": frame.wall_s}
            self._store_evidence(event.id, "snapshot", {**snapshot, **result})
        except (OSError, ValueError) as error:
            runtime.analyser.log.warning("snapshot of %s failed: %s", event.id, error)
        if runtime.ring is None:
            return
        evidence = self.config.evidence
        wall_minus_mono = time.time() - time.monotonic()
        runtime.ring.request(
            ClipRequest(
                start_mono=event.started_at - wall_minus_mono - evidence.pre_seconds,
                end_mono=time.monotonic() + evidence.post_seconds,
                path=folder / f"{event.id}.mp4",
                on_done=lambda manifest: self._store_evidence(
                    event.id, "clip", manifest
                ),
                meta={**base, "stream": "main" if runtime.recorder else "analysed"},
                masks=(
                    runtime.config.privacy_masks if runtime.config.mask_clips else None
                ),
            )
        )

    def _store_evidence(self, incident_id: str, kind: str, manifest: dict) -> None:
        try:
            self.store.put_evidence(incident_id, kind, manifest)
        except redis.RedisError as error:
            # Kept and written again from the housekeeping loop once Redis is back.
            log.warning(
                "storing %s manifest of %s failed (%s); will retry",
                kind,
                incident_id,
                error,
            )
            self._pending_evidence.append((incident_id, kind, manifest))

    def _retry_evidence(self) -> None:
        while self._pending_evidence:
            incident_id, kind, manifest = self._pending_evidence[0]
            self.store.put_evidence(incident_id, kind, manifest)
            self._pending_evidence.pop(0)

    def _on_disconnect(self, camera_id: str, reason: str) -> None:
        runtime = self.cameras.get(camera_id)
        if runtime is not None:
            runtime.analyser.log.debug("reader disconnected: %s", reason)

    def _expire_incidents(self) -> None:
        """Close incidents of cameras that have sent no frame for a quiet period."""
        now = time.monotonic()
        for runtime in list(self.cameras.values()):
            with runtime.lock:
                obs = runtime.last_obs
                if obs is None:
                    continue
                quiet = max(
                    (
                        getattr(rule.config, "quiet_seconds", 0.0)
                        for rule in runtime.analyser.rules
                    ),
                    default=0.0,
                )
                if now - obs.t < quiet + runtime.config.read_timeout_s:
                    continue
                gone = Observation(
                    t=now, wall=time.time(), width=obs.width, height=obs.height
                )
                events = runtime.analyser.finish(gone, "no video from camera")
                runtime.last_obs = None
            for event in events:
                self.publisher.submit(event)

    def camera_status(self) -> dict[str, dict]:
        statuses = {
            camera_id: {"state": "failed", "reason": f"invalid config: {reason}"}
            for camera_id, reason in self.invalid_cameras.items()
            if camera_id not in self.cameras
        }
        for camera_id, runtime in self.cameras.items():
            status = runtime.reader.status()
            status.update(
                url=redact_url(runtime.config.url),
                site=runtime.config.site,
                location=runtime.config.location,
                detect_fps=runtime.config.detect_fps,
                fps_analysed=round(self.core.analysed_rate(camera_id), 2),
                frames_analysed=self.core.analysed_count(camera_id),
                latency_s=self.core.latency(camera_id),
                keyframes_only=runtime.config.keyframes_only,
                main_url=(
                    redact_url(runtime.config.main_url)
                    if runtime.config.main_url
                    else None
                ),
                main_state=(
                    runtime.recorder.status()["state"] if runtime.recorder else None
                ),
                line_counts=runtime.analyser.line_counts(),
            )
            statuses[camera_id] = status
        return statuses

    def pipeline_stats(self) -> dict:
        core = self.core.stats
        return {
            "core": {
                "batches": core.batches,
                "frames": core.frames,
                "inference_s": round(core.inference_s, 3),
                "batch_sizes": {str(k): v for k, v in core.batch_sizes.items()},
                "errors": core.errors,
                "latency": core.latency.to_dict(),
            },
            "publisher": {
                "published": self.publisher.published,
                "duplicates": self.publisher.duplicates,
                "failures": self.publisher.failures,
                "pending": self.publisher.pending,
            },
        }

    def _start_api(self) -> None:
        app = create_app(
            self.store,
            self.evidence_dir,
            self.forwarder.settings if self.forwarder else None,
        )
        config = uvicorn.Config(
            app,
            host=self.config.api.host,
            port=self.config.api.port,
            log_level="warning",
            access_log=False,
            lifespan="off",
        )
        self._api_server = uvicorn.Server(config)
        self._api_thread = threading.Thread(
            target=self._api_server.run, name="api", daemon=True
        )
        self._api_thread.start()
        deadline = time.monotonic() + 10
        while not self._api_server.started:
            if not self._api_thread.is_alive() or time.monotonic() > deadline:
                raise ServiceError(
                    f"api.port: cannot listen on {self.config.api.host}:"
                    f"{self.config.api.port} (address in use or not allowed)"
                )
            time.sleep(0.02)
        log.info(
            "API listening on http://%s:%d", self.config.api.host, self.config.api.port
        )

    def run(self) -> None:
        """Start, then run housekeeping until a stop signal arrives."""
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._request_stop)
        signal.signal(signal.SIGHUP, self._request_reload)
        try:
            self.start()
            last_purge = last_budget = 0.0
            while not self._stop_event.wait(STATUS_INTERVAL_S):
                try:
                    self._housekeeping_steps()
                except Exception:
                    # A bug in one step must not take every camera down with it.
                    log.exception("housekeeping step failed; carrying on")
                try:
                    self._retry_evidence()
                    self.store.write_camera_status(
                        self.camera_status(), self.pipeline_stats()
                    )
                    if time.monotonic() - last_budget > BUDGET_INTERVAL_S:
                        last_budget = time.monotonic()
                        enforce_disk_budget(
                            self.store,
                            self.evidence_dir,
                            int(self.config.evidence.max_disk_mb * 2**20),
                        )
                    if time.monotonic() - last_purge > PURGE_INTERVAL_S:
                        cutoff = time.time() - self.config.alerts.retention_days * 86400
                        removed = self.store.purge_closed_before(cutoff)
                        if removed:
                            log.info("retention removed %d closed alerts", removed)
                        last_purge = time.monotonic()
                    self._redis_ok()
                except redis.RedisError as error:
                    self._redis_failed(error)
        finally:
            self.stop()

    def _housekeeping_steps(self) -> None:
        if self._reload_requested.is_set():
            self._reload_requested.clear()
            self.reload()
        self._supervise_redis()
        self._poll_camera_overrides()
        self._expire_incidents()

    def _supervise_redis(self) -> None:
        if self._embedded is not None and not self._embedded.alive():
            try:
                self._embedded.restart()
            except RedisStartError as error:
                log.error("restarting the embedded Redis failed: %s", error)

    def _redis_failed(self, error: redis.RedisError) -> None:
        """Log a Redis outage once, then once a minute with the failure count."""
        now = time.monotonic()
        self._redis_failures += 1
        if self._redis_down_since is None:
            self._redis_down_since = now
            self._redis_last_log = now
            log.warning("writing status to Redis failed: %s", error)
        elif now - self._redis_last_log >= REDIS_LOG_INTERVAL_S:
            self._redis_last_log = now
            log.warning(
                "Redis still unavailable after %.0f s (%d failed writes): %s",
                now - self._redis_down_since,
                self._redis_failures,
                error,
            )

    def _redis_ok(self) -> None:
        if self._redis_down_since is not None:
            log.info(
                "Redis available again after %.0f s",
                time.monotonic() - self._redis_down_since,
            )
            self._redis_down_since = None
            self._redis_failures = 0

    def _request_reload(self, _signum: int, _frame) -> None:
        log.info("received SIGHUP; reloading cameras from %s", self.config_path)
        self._reload_requested.set()

    def _request_stop(self, signum: int, _frame) -> None:
        log.info("received %s; stopping", signal.Signals(signum).name)
        self._stop_event.set()

    def stop(self) -> None:
        """Stop every part that started, in order; the embedded Redis stops last
        even when an earlier step fails."""
        try:
            self._stop_pipeline()
        finally:
            if self._api_server is not None:
                self._api_server.should_exit = True
                self._api_thread.join(timeout=10)
            if self.forwarder is not None:
                self.forwarder.stop()
                self.forwarder.join(timeout=15)
            if self._embedded is not None:
                self._embedded.stop()
            log.info("sharpeyes stopped")

    def _stop_pipeline(self) -> None:
        readers = [runtime.reader for runtime in self.cameras.values()]
        readers += [r.recorder for r in self.cameras.values() if r.recorder]
        for reader in readers + self._retired:
            reader.stop()
        for reader in readers + self._retired:
            reader.join(timeout=15)
            if reader.is_alive():
                log.warning("reader of camera %s did not stop", reader.camera_id)
        if self.core is not None:
            self.core.stop()
            self.core.join(timeout=10)
        if self.publisher is None:
            return
        for runtime in self.cameras.values():
            if runtime.last_obs is not None:
                for event in runtime.analyser.finish(
                    runtime.last_obs, "service stopped"
                ):
                    self.publisher.submit(event)
        try:
            self.store.write_camera_status(self.camera_status(), self.pipeline_stats())
        except redis.RedisError:
            pass
        self.publisher.stop()
