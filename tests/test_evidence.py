"""Evidence for an incident: a snapshot and a clip cut from the main stream while
the low-resolution sub-stream is analysed."""

from __future__ import annotations

import hashlib
import json
import subprocess
from datetime import datetime

import cv2
import numpy as np

from tests.conftest import media, wait_for
from tests.running import RunningService

CLIP = "pets09_s2l1_plaza.mp4"


def probe(path) -> dict:
    output = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-show_entries",
            "stream=width,height:format=duration",
            "-of",
            "json",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    return json.loads(output)


def test_substream_analysed_main_stream_clipped(tmp_path, model_dir, rtsp_server):
    main = rtsp_server({"main": media(CLIP)})
    sub = rtsp_server(
        {"sub": media(CLIP)}, "--size", "384x288", "--fps", "7", "--gop", "14"
    )
    camera = {
        "url": sub.url("sub"),
        "main_url": main.url("main"),
        "detect_fps": 7,
        # The left quarter of the frame is masked for privacy.
        "privacy_masks": [[[0, 0], [0.25, 0], [0.25, 1], [0, 1]]],
        "mask_clips": True,
        "rules": [
            {"kind": "gathering", "min_people": 3, "min_seconds": 2, "quiet_seconds": 5}
        ],
    }
    service = RunningService(
        tmp_path,
        model_dir,
        {"plaza": camera},
        evidence={"pre_seconds": 3, "post_seconds": 3},
    ).start()
    try:
        status = service.wait_state("plaza", {"streaming"}, timeout=40)
        wait_for(
            lambda: service.cameras()["plaza"]["main_state"] == "streaming",
            20,
            message="main stream recording",
        )
        alert = wait_for(
            lambda: (
                (items := service.api.get("/api/alerts").json()["items"]) and items[0]
            ),
            40,
            message="an incident",
        )
        evidence = wait_for(
            lambda: (
                (found := service.api.get(f"/api/alerts/{alert['id']}/evidence").json())
                and "clip" in found
                and found
            ),
            20,
            message="clip manifest",
        )
        opened_event = service.api.get(f"/api/alerts/{alert['id']}").json()["events"][0]
        clip_bytes = service.api.get(f"/api/alerts/{alert['id']}/clip").content
        snapshot_bytes = service.api.get(f"/api/alerts/{alert['id']}/snapshot").content
        status = service.cameras()["plaza"]
        missing = service.api.get("/api/alerts/0123abcd/clip")
        traversal = service.api.get("/api/alerts/..%2F..%2Fetc%2Fpasswd/clip")
    finally:
        assert service.stop() == 0

    assert (status["width"], status["height"]) == (384, 288)
    clip, snapshot = evidence["clip"], evidence["snapshot"]
    assert "error" not in clip, clip
    assert clip["stream"] == "main"
    assert clip["starts_with_keyframe"] is True
    assert clip["masked"] is True
    assert hashlib.sha256(clip_bytes).hexdigest() == clip["sha256"]
    assert hashlib.sha256(snapshot_bytes).hexdigest() == snapshot["sha256"]

    # The clip covers the incident from its start to post_seconds after it opened.
    started = datetime.fromisoformat(alert["started_at"]).timestamp()
    opened = datetime.fromisoformat(opened_event["updated_at"]).timestamp()
    assert clip["start"].endswith("+00:00")
    clip_start = datetime.fromisoformat(clip["start"]).timestamp()
    clip_end = datetime.fromisoformat(clip["end"]).timestamp()
    assert clip_start <= started
    assert clip_end >= opened + 3 - 0.5

    path = tmp_path / "clip.mp4"
    path.write_bytes(clip_bytes)
    info = probe(path)
    assert (info["streams"][0]["width"], info["streams"][0]["height"]) == (768, 576)
    assert float(info["format"]["duration"]) >= clip_end - clip_start - 1

    capture = cv2.VideoCapture(str(path))
    ok, first_frame = capture.read()
    capture.release()
    assert ok
    assert first_frame[:, :180].mean() < 5  # the mask, burned into the clip
    assert first_frame[:, 200:].mean() > 50

    image = cv2.imdecode(np.frombuffer(snapshot_bytes, np.uint8), cv2.IMREAD_COLOR)
    assert image.shape[:2] == (288, 384)
    # Masked black; only thin box outlines may cross the mask.
    assert image[:, :90].mean() < 5
    assert image[:, 100:].max() > 100
    assert missing.status_code == 404
    assert traversal.status_code == 404
