"""Readers on streams that differ from the norm: frame rates, a resolution change
in mid-stream, and keyframe-only decoding."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import media
from tests.running import RunningService
from vision.zones import Zone

ZONE = [[0.1, 0.0], [1.0, 0.0], [1.0, 1.0], [0.1, 1.0]]


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True, timeout=120)


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    """Re-encode the shared footage into the variants these tests need."""
    out = tmp_path_factory.mktemp("clips")
    road = str(media("uk_motorway_cctv_lorries.mp4"))
    pets = str(media("pets09_s2l1_plaza.mp4"))
    x264 = ["-c:v", "libx264", "-preset", "ultrafast", "-bf", "0"]
    for fps in (2, 12):
        ffmpeg(
            "-i",
            road,
            "-vf",
            f"fps={fps}",
            *x264,
            "-g",
            str(2 * fps),
            str(out / f"road{fps}.mp4"),
        )
    ffmpeg("-i", road, *x264, "-g", "25", str(out / "road25.mp4"))
    # PETS at 768x576 for 12 s, then the rest scaled to 1152x864, in one MPEG-TS
    # stream whose SPS changes at the join.
    ffmpeg("-i", pets, "-t", "12", *x264, "-g", "14", "-f", "mpegts", str(out / "a.ts"))
    ffmpeg(
        "-ss",
        "12",
        "-i",
        pets,
        "-t",
        "30",
        "-vf",
        "scale=1152:864",
        *x264,
        "-g",
        "14",
        "-f",
        "mpegts",
        str(out / "b.ts"),
    )
    (out / "list.txt").write_text(f"file '{out / 'a.ts'}'\nfile '{out / 'b.ts'}'\n")
    ffmpeg(
        "-f",
        "concat",
        "-safe",
        "0",
        "-i",
        str(out / "list.txt"),
        "-c",
        "copy",
        str(out / "resize.ts"),
    )
    return {
        "road2": out / "road2.mp4",
        "road12": out / "road12.mp4",
        "road25": out / "road25.mp4",
        "resize": out / "resize.ts",
    }


def test_rates_resolution_change_and_keyframes(tmp_path, model_dir, rtsp_server, clips):
    server = rtsp_server(clips)
    base = {"detect_fps": 5, "read_timeout_s": 3}
    cameras = {
        "fps2": {"url": server.url("road2"), **base},
        "fps12": {"url": server.url("road12"), **base},
        "fps25": {
            "url": server.url("road25"),
            **base,
            "rules": [
                {"kind": "line", "name": "km12", "line": [[0.0, 0.55], [1.0, 0.55]]}
            ],
        },
        "keyframes": {"url": server.url("road25"), **base, "keyframes_only": True},
        "resize": {
            "url": server.url("resize"),
            **base,
            "zones": {"plaza": {"polygon": ZONE}},
            "rules": [
                {
                    "kind": "gathering",
                    "zone": "plaza",
                    "min_people": 4,
                    "min_seconds": 2,
                    "quiet_seconds": 4,
                    "update_seconds": 1,
                }
            ],
        },
    }
    service = RunningService(tmp_path, model_dir, cameras).start()
    try:
        service.wait_streaming(cameras, timeout=40)
        time.sleep(8)
        rates = service.cameras()

        # Each camera is analysed at min(source fps, detect_fps), none held back
        # by another.
        assert 1.4 <= rates["fps2"]["fps_analysed"] <= 2.6, rates["fps2"]
        assert 4.0 <= rates["fps12"]["fps_analysed"] <= 6.0, rates["fps12"]
        assert 4.0 <= rates["fps25"]["fps_analysed"] <= 6.0, rates["fps25"]
        assert 20 <= rates["fps25"]["fps_received"] <= 30, rates["fps25"]
        # One keyframe a second reaches the decoder and the detector.
        assert 0.5 <= rates["keyframes"]["fps_received"] <= 1.6, rates["keyframes"]
        assert 0.5 <= rates["keyframes"]["fps_analysed"] <= 1.6, rates["keyframes"]

        resized = service.wait_state("resize", {"streaming", "degraded"}, timeout=5)
        deadline = time.monotonic() + 30
        while resized["width"] != 1152 and time.monotonic() < deadline:
            time.sleep(0.5)
            resized = service.cameras()["resize"]
        assert (resized["width"], resized["height"]) == (1152, 864)
        time.sleep(6)
        resized = service.cameras()["resize"]
        assert resized["reconnects"] == 0
        assert resized["fps_analysed"] >= 4.0

        counts = service.api.get("/api/counts").json()
        alerts = service.api.get("/api/alerts", params={"camera": "resize"}).json()
        events = [
            event
            for alert in alerts["items"]
            for event in service.api.get(f"/api/alerts/{alert['id']}").json()["events"]
        ]
    finally:
        code = service.stop()
    assert code == 0

    # A camera with a line rule runs and counts.
    assert set(counts["fps25"]["km12"]) == {"in", "out"}
    assert sum(sum(d.values()) for d in counts["fps25"]["km12"].values()) >= 1

    sizes_by_incident: dict[str, set] = {}
    for event in events:
        sizes_by_incident.setdefault(event["id"], set()).add(tuple(event["frame_size"]))
    # The crowd stays in the zone across the change, so one incident spans both
    # sizes instead of closing at the switch.
    assert {(768, 576), (1152, 864)} in sizes_by_incident.values()
    zone = Zone.from_points("plaza", ZONE)
    for event in events:
        width, height = event["frame_size"]
        for box in event["boxes"]:
            x1, _, x2, y2 = box["box"]
            assert x2 <= width + 0.5
            assert y2 <= height + 0.5
            point = np.array([[(x1 + x2) / 2 / width, y2 / height]])
            assert zone.contains(point)[0]
