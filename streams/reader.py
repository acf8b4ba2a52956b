"""One supervised reader thread per camera: open, decode, sample, reconnect.

The reader decodes every frame (H.264 needs the references) but converts to a BGR
array only the frames the sampler picks at the camera's detect_fps, and puts each
into a one-frame slot that the inference core empties. A stream that fails, stalls
or ends is reopened after a capped exponential backoff with jitter; a reader never
waits on another camera.
"""

from __future__ import annotations

import enum
import logging
import os
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import av
import av.error

from streams.evidence import PacketRing, finish_requests
from streams.frames import (
    Frame,
    FrameSampler,
    LatestFrameSlot,
    RateMeter,
    StreamClock,
)
from streams.urls import redact_text, redact_url, register_secrets, url_secrets

log = logging.getLogger(__name__)

# A stream that delivered frames this long counts as healthy again, so the next
# failure starts the backoff from the initial delay.
HEALTHY_AFTER_S = 10.0
# Errors that retrying will not heal move the camera to `failed` after this many
# consecutive tries; it is then retried at the slow rate below.
PERMANENT_ERROR_TRIES = 3
FAILED_RETRY_S = 300.0
DECODE_ERROR_LOG_INTERVAL_S = 30.0
# Nice value added to each reader thread, so that inference workers come first.
# NOTE: with 32 cameras on 2 cores, a third more than fit, readers fell about
# 7 % behind their cameras' frame rate in a one-minute test. A longer overload
# may end in stalls and reconnects.
READER_NICE = 19


# Decode errors within this window show a streaming camera as `degraded`.
DEGRADED_WINDOW_S = 10.0


class CameraState(enum.StrEnum):
    CONNECTING = "connecting"
    STREAMING = "streaming"
    DEGRADED = "degraded"  # streaming, with decode errors in the last 10 s
    STALLED = "stalled"  # the stream went silent; waiting to reconnect
    RECONNECTING = "reconnecting"
    FAILED = "failed"
    STOPPED = "stopped"


@dataclass
class StreamSettings:
    """Connection, pacing and retry settings of one stream."""

    url: str
    detect_fps: float = 5.0
    transport: str = "tcp"
    open_timeout_s: float = 10.0
    read_timeout_s: float = 5.0
    retry_initial_s: float = 1.0
    retry_max_s: float = 6.0
    keyframes_only: bool = False
    decode_threads: int = 1


@dataclass
class ReaderStats:
    state: CameraState = CameraState.CONNECTING
    reason: str = ""
    state_since_wall: float = field(default_factory=time.time)
    frames_received: int = 0
    frames_sampled: int = 0
    decode_errors: int = 0
    last_decode_error_mono: float | None = None
    reconnects: int = 0
    last_frame_wall: float | None = None
    first_frame_wall: float | None = None
    connect_started_mono: float | None = None
    time_to_first_frame_s: float | None = None
    width: int | None = None
    height: int | None = None
    stream_started_wall: float | None = None


def lower_thread_priority(logger: logging.Logger) -> None:
    """Raise the calling thread's nice value by READER_NICE (Linux only).

    With one reader per camera, the readers outnumber the inference workers
    many times over. Were they of equal priority, the scheduler would give the
    readers most of a saturated CPU, and sampled frames would be replaced in
    their slots before a worker got to them. A reader that falls behind for a
    moment loses nothing, because its packets wait in the socket buffer.
    """
    try:
        # On Linux a thread id names one thread for setpriority.
        current = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        os.setpriority(
            os.PRIO_PROCESS, threading.get_native_id(), min(19, current + READER_NICE)
        )
    except (AttributeError, OSError) as error:
        logger.debug("could not lower the reader's priority: %s", error)


def is_file_url(url: str) -> bool:
    return "://" not in url or url.lower().startswith("file://")


def open_stream(settings: StreamSettings) -> av.container.InputContainer:
    """Open a stream with PyAV, with open and read timeouts for network sources."""
    if is_file_url(settings.url):
        path = (
            settings.url[7:]
            if settings.url.lower().startswith("file://")
            else settings.url
        )
        return av.open(str(Path(path)), mode="r")
    # No "fflags nobuffer": it discards the packets read while probing the stream,
    # and with them the first keyframe, so a camera with a long GOP shows nothing
    # until its next keyframe.
    options = {
        "rtsp_transport": settings.transport,
        # Socket I/O timeout inside the RTSP demuxer, in microseconds. It applies
        # while opening too, so it is the larger of the two limits; PyAV's own
        # timeouts below end the open and each read at their configured times.
        "timeout": str(
            int(max(settings.open_timeout_s, settings.read_timeout_s) * 1_000_000)
        ),
        # Probe for at most 1 s of media: RTSP cameras describe H.264 in the SDP,
        # and FFmpeg's default of 5 s delays every connect.
        "analyzeduration": "1000000",
    }
    return av.open(
        settings.url,
        mode="r",
        options=options,
        timeout=(settings.open_timeout_s, settings.read_timeout_s),
    )


def decode_video(
    container: av.container.InputContainer,
    on_decode_error=None,
    keyframes_only: bool = False,
    on_packet=None,
    threads: int = 1,
) -> Iterator[av.VideoFrame]:
    """Yield decoded frames of the first video stream until the stream ends.

    Packets that fail to decode, and frames the decoder marks as corrupt, are
    reported to `on_decode_error` and skipped, so a damaged frame is never handed
    on. With `keyframes_only` the decoder skips every frame but keyframes, which
    costs a fraction of full decoding. `threads` is FFmpeg's decoder thread
    count, 0 for its automatic choice.
    """
    stream = container.streams.video[0]
    # One thread per decoder by default. FFmpeg's own choice starts threads per
    # core for every camera, and with many cameras the cores are busy anyway.
    # NOTE: decoding a file, FFmpeg's choice cost 2-12 % less CPU per frame in
    # benchmarks/THROUGHPUT.md; with many live cameras the two are not compared.
    stream.codec_context.thread_count = threads
    if keyframes_only:
        stream.codec_context.skip_frame = "NONKEY"
    for packet in container.demux(stream):
        if on_packet is not None:
            on_packet(packet)
        try:
            frames = packet.decode()
        except av.error.InvalidDataError as error:
            if on_decode_error is not None:
                on_decode_error(error)
            continue
        for frame in frames:
            if frame.is_corrupt:
                if on_decode_error is not None:
                    on_decode_error(ValueError("decoder marked the frame corrupt"))
                continue
            yield frame
    # Flush frames still held by the decoder.
    try:
        yield from stream.codec_context.decode(None)
    except av.error.FFmpegError:
        pass


def classify_error(
    error: BaseException, elapsed_s: float = 0.0, timeout_s: float = float("inf")
) -> tuple[str, bool]:
    """Return a short reason for a stream error and whether retrying can heal it.

    FFmpeg reports an RTSP server that accepts the connection but never responds
    as invalid data once its socket timeout fires, so any error raised after at
    least `timeout_s` counts as a time-out.
    """
    if isinstance(error, av.error.HTTPUnauthorizedError | av.error.HTTPForbiddenError):
        return "authentication rejected", False
    if isinstance(error, av.error.HTTPNotFoundError):
        return "stream not found", False
    if isinstance(error, av.error.ConnectionRefusedError | ConnectionRefusedError):
        return "connection refused", True
    if isinstance(error, av.error.ExitError | TimeoutError | av.error.TimeoutError):
        return "timed out", True
    if elapsed_s >= timeout_s * 0.95:
        return "timed out", True
    if isinstance(error, av.error.FFmpegError):
        text = (getattr(error, "strerror", None) or str(error)).strip()
        return text or type(error).__name__, True
    if isinstance(error, OSError):
        return error.strerror or type(error).__name__, True
    return f"{type(error).__name__}: {error}", True


class CameraReader(threading.Thread):
    """Read one camera until stopped, putting sampled frames into `slot`.

    With a `ring`, every demuxed packet also goes into it and the reader writes
    the ring's due evidence clips. Without a `slot` the reader only records: it
    demuxes packets for the ring and decodes nothing, which is how the main
    stream of a camera analysed on its sub-stream is kept.
    """

    def __init__(
        self,
        camera_id: str,
        settings: StreamSettings,
        slot: LatestFrameSlot | None,
        on_disconnect=None,
        ring: PacketRing | None = None,
    ) -> None:
        super().__init__(name=f"reader-{camera_id}", daemon=True)
        self.camera_id = camera_id
        self.settings = settings
        self.slot = slot
        self.ring = ring
        self.stats = ReaderStats()
        self.received_rate = RateMeter()
        self.log = log.getChild(camera_id)
        self._on_disconnect = on_disconnect
        self._stop_event = threading.Event()
        self._sampler = FrameSampler(settings.detect_fps)
        self._clock = StreamClock()
        self._first_pts: float | None = None
        self._last_activity_mono = time.monotonic()
        self._opened = False
        self._secrets = url_secrets(settings.url)
        register_secrets(self._secrets)
        self._last_decode_log = 0.0
        self._decode_errors_unlogged = 0
        self._frame_index = 0

    @property
    def safe_url(self) -> str:
        return redact_url(self.settings.url)

    def stop(self) -> None:
        self._stop_event.set()

    def run(self) -> None:
        lower_thread_priority(self.log)
        attempt = 0
        permanent_failures = 0
        while not self._stop_event.is_set():
            if not attempt:
                self._set_state(CameraState.CONNECTING, "opening stream")
            elif self.stats.state is not CameraState.STALLED:
                self._set_state(CameraState.RECONNECTING, self.stats.reason)
            started = time.monotonic()
            try:
                self._read_once()
                reason, healable = "stream ended", True
            except Exception as error:  # noqa: BLE001 - every failure is retried
                timeout = (
                    self.settings.read_timeout_s
                    if self._opened
                    else self.settings.open_timeout_s
                )
                reason, healable = classify_error(
                    error, time.monotonic() - self._last_activity_mono, timeout
                )
                reason = redact_text(reason, self._secrets)
            if self._stop_event.is_set():
                break
            if self._on_disconnect is not None:
                self._on_disconnect(self.camera_id, reason)

            streamed = self.stats.first_frame_wall is not None
            if streamed and time.monotonic() - started >= HEALTHY_AFTER_S:
                attempt = 0
            permanent_failures = 0 if healable else permanent_failures + 1
            attempt += 1
            self.stats.reconnects += 1

            if permanent_failures >= PERMANENT_ERROR_TRIES:
                delay = FAILED_RETRY_S
                state = CameraState.FAILED
            else:
                base = min(
                    self.settings.retry_max_s,
                    self.settings.retry_initial_s * 2 ** (attempt - 1),
                )
                delay = base * random.uniform(0.5, 1.0)
                # A stream that went silent stays `stalled` while the tries to
                # reopen it time out too, which distinguishes a frozen link or camera
                # from one that refuses connections.
                stalled = reason == "timed out" and (
                    streamed or self.stats.state is CameraState.STALLED
                )
                state = CameraState.STALLED if stalled else CameraState.RECONNECTING
                if stalled:
                    reason = f"no data for {self.settings.read_timeout_s:g} s"
            self._set_state(state, reason)
            self.log.warning(
                "stream %s: %s (%s); retrying in %.1f s",
                self.safe_url,
                state.value,
                reason,
                delay,
            )
            self._stop_event.wait(delay)
        self._set_state(CameraState.STOPPED, "stopped")

    def _read_once(self) -> None:
        self.stats.connect_started_mono = time.monotonic()
        self.stats.first_frame_wall = None
        self.stats.stream_started_wall = None
        self._sampler.reset()
        self._clock.reset()
        self._first_pts = None
        self._last_activity_mono = time.monotonic()
        self._opened = False

        self.log.info("opening %s", self.safe_url)
        container = open_stream(self.settings)
        self._opened = True
        self._last_activity_mono = time.monotonic()
        stream = container.streams.video[0]
        if self.ring is not None:
            self.ring.reset()

        try:
            if self.slot is None:
                self._record_only(container, stream)
                return
            frames = decode_video(
                container,
                self._count_decode_error,
                self.settings.keyframes_only,
                on_packet=lambda packet: self._keep_packet(packet, stream),
                threads=self.settings.decode_threads,
            )
            for frame in frames:
                if self._stop_event.is_set():
                    return
                self._last_activity_mono = time.monotonic()
                self._handle_frame(frame)
        finally:
            if self.ring is not None:
                # Clips still waiting get what the ring contains before the input,
                # whose codec parameters they copy, goes away.
                finish_requests(self.ring, self.ring.pending(), stream, self.log)
            container.close()

    def _keep_packet(self, packet: av.Packet, stream) -> None:
        if self.ring is None:
            return
        now = time.monotonic()
        self.ring.add(packet, now)
        due = self.ring.due(now)
        if due:
            finish_requests(self.ring, due, stream, self.log)

    def _record_only(self, container, stream) -> None:
        stats = self.stats
        for packet in container.demux(stream):
            if self._stop_event.is_set():
                return
            if packet.size == 0:
                continue
            now_mono = time.monotonic()
            self._last_activity_mono = now_mono
            stats.frames_received += 1
            stats.last_frame_wall = time.time()
            self.received_rate.tick(now_mono)
            if stats.first_frame_wall is None:
                stats.first_frame_wall = stats.last_frame_wall
                stats.time_to_first_frame_s = now_mono - stats.connect_started_mono
                self._set_state(CameraState.STREAMING, "first packet received")
                self.log.info("recording after %.2f s", stats.time_to_first_frame_s)
            self._keep_packet(packet, stream)

    def _handle_frame(self, frame: av.VideoFrame) -> None:
        now_mono, now_wall = time.monotonic(), time.time()
        stats = self.stats
        stats.frames_received += 1
        stats.last_frame_wall = now_wall
        self.received_rate.tick(now_mono)
        if stats.first_frame_wall is None:
            stats.first_frame_wall = now_wall
            stats.time_to_first_frame_s = now_mono - (
                stats.connect_started_mono or now_mono
            )
            self._set_state(CameraState.STREAMING, "first frame received")
            self.log.info(
                "streaming %dx%d after %.2f s",
                frame.width,
                frame.height,
                stats.time_to_first_frame_s,
            )
        elif (frame.width, frame.height) != (stats.width, stats.height):
            self.log.info("resolution changed to %dx%d", frame.width, frame.height)
        stats.width, stats.height = frame.width, frame.height

        # Time the frame on the stream's own clock, so that frames that arrive in
        # a burst keep their real spacing for the sampler and the rules.
        media_s = None
        if frame.time is not None:
            if self._first_pts is None:
                self._first_pts = float(frame.time)
            media_s = float(frame.time) - self._first_pts
        captured_mono = self._clock.map(media_s, now_mono)
        wall_minus_mono = now_wall - now_mono
        captured_wall = captured_mono + wall_minus_mono
        if self._clock.offset is not None:
            stats.stream_started_wall = self._clock.offset + wall_minus_mono

        if not self._sampler.due(captured_mono):
            return
        stats.frames_sampled += 1
        self._frame_index += 1
        self.slot.put(
            Frame(
                camera_id=self.camera_id,
                image=frame.to_ndarray(format="bgr24"),
                monotonic_s=captured_mono,
                wall_s=captured_wall,
                media_s=media_s,
                index=self._frame_index,
                received_s=now_mono,
            )
        )

    def _count_decode_error(self, error: Exception) -> None:
        self.stats.decode_errors += 1
        self.stats.last_decode_error_mono = time.monotonic()
        self._decode_errors_unlogged += 1
        now = time.monotonic()
        if now - self._last_decode_log >= DECODE_ERROR_LOG_INTERVAL_S:
            self.log.warning(
                "%d packets failed to decode (latest: %s)",
                self._decode_errors_unlogged,
                error,
            )
            self._last_decode_log = now
            self._decode_errors_unlogged = 0

    def _set_state(self, state: CameraState, reason: str) -> None:
        if state != self.stats.state or reason != self.stats.reason:
            self.stats.state = state
            self.stats.reason = reason
            self.stats.state_since_wall = time.time()

    def status(self) -> dict:
        """Return a JSON-ready snapshot of this reader's state and counters."""
        stats = self.stats
        now = time.time()
        state = stats.state
        recent_error = stats.last_decode_error_mono is not None and (
            time.monotonic() - stats.last_decode_error_mono < DEGRADED_WINDOW_S
        )
        if state is CameraState.STREAMING and recent_error:
            state = CameraState.DEGRADED
        return {
            "state": state.value,
            "reason": "decode errors in the last 10 s"
            if recent_error and state is CameraState.DEGRADED
            else stats.reason,
            "state_since": stats.state_since_wall,
            "fps_received": round(self.received_rate.rate(), 2),
            "frames_received": stats.frames_received,
            "frames_sampled": stats.frames_sampled,
            "frames_dropped": self.slot.dropped if self.slot else 0,
            "decode_errors": stats.decode_errors,
            "reconnects": stats.reconnects,
            "last_frame_at": stats.last_frame_wall,
            "last_frame_age_s": (
                round(now - stats.last_frame_wall, 3) if stats.last_frame_wall else None
            ),
            "first_frame_at": stats.first_frame_wall,
            "stream_started_at": stats.stream_started_wall,
            "time_to_first_frame_s": stats.time_to_first_frame_s,
            "width": stats.width,
            "height": stats.height,
        }
