"""A detector slower than the cameras: frames are dropped, latency stays flat."""

from __future__ import annotations

import time
from pathlib import Path

from sharpeyes.config import parse_config
from sharpeyes.service import Service, build_detector
from tests.conftest import media


class SlowDetector:
    """Wraps the real detector and sleeps before each batch, like an overloaded
    CPU or accelerator would."""

    def __init__(self, inner, delay_s: float, max_batch: int) -> None:
        self.inner = inner
        self.delay_s = delay_s
        self.max_batch = max_batch
        self.class_names = inner.class_names

    def detect(self, images):
        time.sleep(self.delay_s)
        return self.inner.detect(images)


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def test_slow_detector_drops_frames_not_latency(tmp_path, model_dir, rtsp_server):
    server = rtsp_server({"a": media("uk_motorway_cctv_lorries.mp4")})
    cameras = {
        name: {"url": server.url("a"), "detect_fps": 10, "read_timeout_s": 3}
        for name in ("c1", "c2", "c3")
    }
    config = parse_config(
        {
            "data_dir": str(tmp_path / "data"),
            "model": {"name": "yolox_nano", "dir": str(model_dir), "threads": 1},
            "api": {"enabled": False},
            "cameras": cameras,
        },
        tmp_path,
    )
    # Capacity: 2 frames per 0.4 s = 5 frames/s, against 30 frames/s wanted.
    detector = SlowDetector(build_detector(config), delay_s=0.4, max_batch=2)
    service = Service(config, detector=detector)
    service.start()
    try:
        time.sleep(6)
        rss_start = rss_bytes()
        latencies = []
        for _ in range(16):
            time.sleep(1)
            latencies += [service.core.latency(camera_id) for camera_id in cameras]
        rss_end = rss_bytes()
        statuses = service.camera_status()
    finally:
        service.stop()

    latencies = [value for value in latencies if value is not None]
    assert latencies
    # One round of the core takes 0.4-0.8 s per batch, and a camera waits at most
    # two batches, so a frame never waits much more than that.
    assert max(latencies) < 2.5, max(latencies)
    assert sum(latencies[-9:]) / 9 < 2.0
    for camera_id in cameras:
        status = statuses[camera_id]
        assert status["frames_dropped"] > 20, status
        assert status["frames_analysed"] > 5, status
    # Nothing queues up: memory after 16 s of overload is where it was.
    assert rss_end - rss_start < 40 * 1024 * 1024
