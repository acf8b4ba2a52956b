"""The inference core: worker threads that batch the waiting frames of all cameras.

Each camera reader leaves at most one frame in its slot. A free worker takes every
waiting frame (up to the model's batch size, starting from a rotating camera so
none is starved), runs one detector call and hands each frame's detections to the
sink. A camera whose slot is refilled before a worker comes back loses the older
frame; that drop is counted by the slot.

Workers are threads, not processes: onnxruntime, PyAV's decoder and OpenCV release
the GIL, which a profile of 20 cameras found held in 19 % of its samples
(benchmarks/THROUGHPUT.md). A camera with a frame in flight is skipped until that
frame is done, so its frames reach the rules in order.
"""

from __future__ import annotations

import bisect
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from streams.frames import Frame, LatestFrameSlot, RateMeter
from vision.detections import Detections
from vision.detector import Detector

log = logging.getLogger(__name__)

# Upper bounds, in seconds, of the frame latency histogram's buckets.
LATENCY_BUCKETS_S = (
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.15,
    0.2,
    0.3,
    0.5,
    0.75,
    1.0,
    1.5,
    2.5,
    5.0,
    10.0,
)


@dataclass
class LatencyHistogram:
    """Cumulative counts of latencies, in the shape of a Prometheus histogram."""

    bounds: tuple[float, ...] = LATENCY_BUCKETS_S
    counts: list[int] = field(default_factory=lambda: [0] * len(LATENCY_BUCKETS_S))
    total: int = 0
    sum_s: float = 0.0

    def observe(self, seconds: float) -> None:
        index = bisect.bisect_left(self.bounds, seconds)
        if index < len(self.counts):
            self.counts[index] += 1
        self.total += 1
        self.sum_s += seconds

    def to_dict(self) -> dict:
        """Return cumulative bucket counts keyed by upper bound, as JSON."""
        cumulative, running = {}, 0
        for bound, count in zip(self.bounds, self.counts, strict=True):
            running += count
            cumulative[f"{bound:g}"] = running
        return {"buckets": cumulative, "count": self.total, "sum": self.sum_s}


@dataclass
class CoreStats:
    batches: int = 0
    frames: int = 0
    inference_s: float = 0.0
    batch_sizes: dict[int, int] = field(default_factory=dict)
    errors: int = 0
    latency: LatencyHistogram = field(default_factory=LatencyHistogram)


class InferenceCore:
    """Run the detector on the newest frame of every camera, in batches.

    `detector.workers` threads (1 if the detector does not say) call the
    detector at the same time; `stats` is updated under one lock.
    """

    def __init__(
        self, detector: Detector, sink: Callable[[Frame, Detections], None]
    ) -> None:
        self.detector = detector
        self.sink = sink
        self.stats = CoreStats()
        self.ready = threading.Event()
        self.workers = max(1, int(getattr(detector, "workers", 1)))
        self._slots: dict[str, LatestFrameSlot] = {}
        self._analysed: dict[str, RateMeter] = {}
        self._analysed_count: dict[str, int] = {}
        self._latency: dict[str, float] = {}
        self._busy: set[str] = set()
        self._lock = threading.Lock()
        self._stop_event = threading.Event()
        self._rotation = 0
        self._threads = [
            threading.Thread(target=self._work, name=f"inference-{i}", daemon=True)
            for i in range(self.workers)
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def join(self, timeout: float | None = None) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in self._threads:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            thread.join(left)

    def is_alive(self) -> bool:
        return any(thread.is_alive() for thread in self._threads)

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
        """Seconds from arrival at the reader to rules done for the camera's
        latest frame."""
        return self._latency.get(camera_id)

    def stop(self) -> None:
        self._stop_event.set()
        self.ready.set()

    def _work(self) -> None:
        while not self._stop_event.is_set():
            self.ready.wait(timeout=0.5)
            frames = self._collect()
            if not frames:
                continue
            try:
                self._analyse(frames)
            finally:
                with self._lock:
                    self._busy.difference_update(f.camera_id for f in frames)
                # A frame that arrived while its camera was busy waits in its
                # slot; wake a worker for it.
                self.ready.set()

    def _collect(self) -> list[Frame]:
        with self._lock:
            # Cleared under the lock, so a worker that finds nothing to take
            # has seen every frame put before the clear.
            self.ready.clear()
            slots = list(self._slots.items())
            if not slots:
                return []
            self._rotation = (self._rotation + 1) % len(slots)
            ordered = slots[self._rotation :] + slots[: self._rotation]
            frames: list[Frame] = []
            for camera_id, slot in ordered:
                if camera_id in self._busy:
                    continue
                if len(frames) == self.detector.max_batch:
                    # Frames left behind stay in their slots for the next worker.
                    self.ready.set()
                    break
                frame = slot.take()
                if frame is not None:
                    frames.append(frame)
                    self._busy.add(camera_id)
        return frames

    def _analyse(self, frames: list[Frame]) -> None:
        started = time.perf_counter()
        try:
            results = self.detector.detect([frame.image for frame in frames])
        except Exception:
            with self._lock:
                self.stats.errors += 1
            log.exception("detector failed on a batch of %d frames", len(frames))
            return
        elapsed = time.perf_counter() - started
        with self._lock:
            stats = self.stats
            stats.batches += 1
            stats.frames += len(frames)
            stats.inference_s += elapsed
            sizes = stats.batch_sizes
            sizes[len(frames)] = sizes.get(len(frames), 0) + 1

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
            latency = time.monotonic() - frame.received_s
            self._latency[frame.camera_id] = latency
            with self._lock:
                self.stats.latency.observe(latency)
