"""The inference core: one thread that batches the waiting frames of all cameras.

Each camera reader leaves at most one frame in its slot. The core takes every
waiting frame (up to the model's batch size, starting from a rotating camera so
none is starved), runs one detector call and hands each frame's detections to the
sink. A camera whose slot is refilled before the core comes back loses the older
frame; that drop is counted by the slot.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from streams.frames import Frame, LatestFrameSlot, RateMeter
from vision.detections import Detections
from vision.detector import Detector

log = logging.getLogger(__name__)


@dataclass
class CoreStats:
    batches: int = 0
    frames: int = 0
    inference_s: float = 0.0
    batch_sizes: dict[int, int] = field(default_factory=dict)
    errors: int = 0


class InferenceCore(threading.Thread):
    """Run the detector on the newest frame of every camera, in batches."""

    def __init__(
        self, detector: Detector, sink: Callable[[Frame, Detections], None]
    ) -> None:
        super().__init__(name="inference-core", daemon=True)
        self.detector = detector
        self.sink = sink
        self.stats = CoreStats()
        self.ready = threading.Event()
        self._slots: dict[str, LatestFrameSlot] = {}
        self._analysed: dict[str, RateMeter] = {}
        self._analysed_count: dict[str, int] = {}
        self._latency: dict[str, float] = {}
        self._lock = threading.Lock()
        self._stop_event = threading.Event()
        self._rotation = 0

    def add_camera(self, camera_id: str) -> LatestFrameSlot:
        slot = LatestFrameSlot(self.ready)
        with self._lock:
            self._slots[camera_id] = slot
            self._analysed[camera_id] = RateMeter()
            self._analysed_count.setdefault(camera_id, 0)
        return slot

    def remove_camera(self, camera_id: str) -> None:
        with self._lock:
            self._slots.pop(camera_id, None)
            self._analysed.pop(camera_id, None)
            self._analysed_count.pop(camera_id, None)

    def analysed_rate(self, camera_id: str) -> float:
        meter = self._analysed.get(camera_id)
        return meter.rate() if meter else 0.0

    def analysed_count(self, camera_id: str) -> int:
        return self._analysed_count.get(camera_id, 0)

    def latency(self, camera_id: str) -> float | None:
        """Seconds from capture to rules done for the camera's latest frame."""
        return self._latency.get(camera_id)

    def stop(self) -> None:
        self._stop_event.set()
        self.ready.set()

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.ready.wait(timeout=0.5)
            self.ready.clear()
            frames = self._collect()
            if frames:
                self._analyse(frames)

    def _collect(self) -> list[Frame]:
        with self._lock:
            slots = list(self._slots.values())
        if not slots:
            return []
        self._rotation = (self._rotation + 1) % len(slots)
        ordered = slots[self._rotation :] + slots[: self._rotation]
        frames: list[Frame] = []
        for slot in ordered:
            if len(frames) == self.detector.max_batch:
                # Frames left behind stay in their slots for the next round.
                self.ready.set()
                break
            frame = slot.take()
            if frame is not None:
                frames.append(frame)
        return frames

    def _analyse(self, frames: list[Frame]) -> None:
        started = time.perf_counter()
        try:
            results = self.detector.detect([frame.image for frame in frames])
        except Exception:
            self.stats.errors += 1
            log.exception("detector failed on a batch of %d frames", len(frames))
            return
        elapsed = time.perf_counter() - started
        stats = self.stats
        stats.batches += 1
        stats.frames += len(frames)
        stats.inference_s += elapsed
        stats.batch_sizes[len(frames)] = stats.batch_sizes.get(len(frames), 0) + 1

        now = time.monotonic()
        for frame, detections in zip(frames, results, strict=True):
            meter = self._analysed.get(frame.camera_id)
            if meter is not None:
                meter.tick(now)
                self._analysed_count[frame.camera_id] += 1
            try:
                self.sink(frame, detections)
            except Exception:
                log.exception("rules failed on a frame of camera %s", frame.camera_id)
            self._latency[frame.camera_id] = time.monotonic() - frame.monotonic_s
