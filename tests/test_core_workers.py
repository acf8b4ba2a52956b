"""Inference workers keep each camera's frames in order and use every worker."""

from __future__ import annotations

import threading
import time

import numpy as np

from streams.frames import Frame
from vision.core import InferenceCore
from vision.detections import Detections


class SleepyDetector:
    """Takes 20 ms per batch and records how many batches ran at once."""

    max_batch = 2
    workers = 3
    class_names = ("person",)

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running = 0
        self.max_concurrent = 0

    def detect(self, images):
        with self.lock:
            self.running += 1
            self.max_concurrent = max(self.max_concurrent, self.running)
        time.sleep(0.02)
        with self.lock:
            self.running -= 1
        return [Detections.empty(self.class_names) for _ in images]


def frame(camera_id: str, index: int) -> Frame:
    now = time.monotonic()
    return Frame(
        camera_id=camera_id,
        image=np.zeros((8, 8, 3), np.uint8),
        monotonic_s=now,
        wall_s=time.time(),
        media_s=None,
        index=index,
        received_s=now,
    )


def test_workers_keep_camera_order():
    detector = SleepyDetector()
    seen: dict[str, list[int]] = {}
    in_sink: set[str] = set()
    overlaps = []
    lock = threading.Lock()

    def sink(item: Frame, _detections) -> None:
        with lock:
            if item.camera_id in in_sink:
                overlaps.append(item.camera_id)
            in_sink.add(item.camera_id)
        time.sleep(0.002)
        with lock:
            in_sink.discard(item.camera_id)
            seen.setdefault(item.camera_id, []).append(item.index)

    core = InferenceCore(detector, sink)
    slots = {name: core.add_camera(name) for name in ("a", "b", "c", "d", "e")}
    core.start()
    try:
        for index in range(1, 60):
            for name, slot in slots.items():
                slot.put(frame(name, index))
            time.sleep(0.005)
        time.sleep(0.2)
    finally:
        core.stop()
        core.join(timeout=5)

    assert not core.is_alive()
    assert core.workers == 3
    assert detector.max_concurrent >= 2
    assert overlaps == []
    for name in slots:
        indexes = seen[name]
        assert indexes == sorted(indexes), name
        assert len(set(indexes)) == len(indexes), name
        assert indexes[-1] == 59, name
    assert core.stats.latency.total == sum(len(v) for v in seen.values())
