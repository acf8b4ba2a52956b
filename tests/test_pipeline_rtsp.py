"""`sharpeyes run` end to end: RTSP cameras, detector, rules, Redis and the API."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import httpx
import pytest
import redis
import yaml

from alerts.redis_server import free_port
from benchmarks.mot import spans_from_events
from tests.conftest import REPO, media, wait_for
from tests.footage import (
    PETS_CLIP,
    PETS_FPS,
    PETS_FRAMES,
    TOLERANCE_S,
    assert_spans_match,
    pets_camera,
    pets_expected_spans,
)
from tests.running import ADMIN_TOKEN

CAMERA_PASSWORD = "Pa55-w0rd-xyz"


def unix(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()


def start_service(config_path: Path, log_path: Path) -> subprocess.Popen:
    log = log_path.open("w")
    return subprocess.Popen(
        [sys.executable, "-m", "sharpeyes", "run", "--config", str(config_path)],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=REPO,
        env={**os.environ, "REFUSED_PASSWORD": CAMERA_PASSWORD},
    )


def stop_service(process: subprocess.Popen) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            pytest.fail("sharpeyes run did not stop within 40 s of SIGTERM")
    return process.returncode


@pytest.mark.slow
def test_rtsp_plaza_gatherings_reach_api(tmp_path, model_dir, rtsp_server):
    server = rtsp_server({"plaza": media(PETS_CLIP)})
    closed_port = free_port()
    api_port = free_port()
    config = {
        "redis_url": None,
        "data_dir": str(tmp_path / "data"),
        "model": {"name": "yolox_nano", "dir": str(model_dir)},
        "api": {"host": "127.0.0.1", "port": api_port, "admin_token": ADMIN_TOKEN},
        "cameras": {
            "plaza": pets_camera(server.url("plaza")),
            "refused": {
                "url": f"rtsp://admin:${{REFUSED_PASSWORD}}@127.0.0.1:{closed_port}/cam",
                "site": "village",
                "retry_initial_s": 0.5,
                "retry_max_s": 2,
            },
        },
    }
    config_path = tmp_path / "config.yaml"
    config_path.write_text(yaml.safe_dump(config))
    log_path = tmp_path / "run.log"
    expected = pets_expected_spans()
    clip_s = PETS_FRAMES / PETS_FPS

    process = start_service(config_path, log_path)
    api = httpx.Client(
        base_url=f"http://127.0.0.1:{api_port}",
        timeout=5,
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    try:

        def cameras() -> dict | None:
            if process.poll() is not None:
                pytest.fail(f"sharpeyes run exited: {log_path.read_text()[-3000:]}")
            try:
                return {c["camera_id"]: c for c in api.get("/api/cameras").json()}
            except httpx.TransportError:
                return None

        status = wait_for(
            lambda: (
                (c := cameras())
                and c.get("plaza", {}).get("state") == "streaming"
                and c
            ),
            timeout=60,
            message="plaza streaming",
        )
        assert status["refused"]["state"] in ("connecting", "reconnecting")

        # Let the stream clock settle on the smallest network delay, then take the
        # instant of media time 0 as the origin for comparing with ground truth.
        time.sleep(8)
        status = cameras()
        origin = unix(status["plaza"]["stream_started_at"])
        assert status["refused"]["state"] == "reconnecting"
        assert status["refused"]["reconnects"] >= 2
        assert status["plaza"]["fps_analysed"] >= 0.8 * PETS_FPS

        def closed_alerts() -> list[dict] | None:
            cameras()
            body = api.get(
                "/api/alerts", params={"camera": "plaza", "limit": 100}
            ).json()
            done = [
                a
                for a in body["items"]
                if a["state"] == "close" and unix(a["started_at"]) - origin < clip_s
            ]
            return done if len(done) >= len(expected) else None

        wait_for(closed_alerts, timeout=clip_s + 60, interval=1, message="incidents")

        records = []
        for alert in api.get("/api/alerts", params={"limit": 100}).json()["items"]:
            full = api.get(f"/api/alerts/{alert['id']}").json()
            records.extend(full["events"])
        spans = sorted(
            spans_from_events(records, origin_s=origin), key=lambda s: s.opened_s
        )
        spans = [s for s in spans if s.opened_s < clip_s + TOLERANCE_S]
        assert_spans_match(expected, spans, clip_s)

        api_text = api.get("/api/cameras").text + api.get("/api/alerts").text
        assert CAMERA_PASSWORD not in api_text
        assert "***@127.0.0.1" in api_text

        url = (tmp_path / "data" / "redis" / "redis.url").read_text().strip()
        stream = redis.Redis.from_url(url).xrange("sharpeyes:events")
        stream_events = [json.loads(fields[b"event"]) for _, fields in stream]
        assert {e["event_id"] for e in stream_events} >= {
            r["event_id"] for r in records
        }
    finally:
        api.close()
        code = stop_service(process)

    log_text = log_path.read_text()
    assert code == 0, log_text[-3000:]
    assert CAMERA_PASSWORD not in log_text
    assert "embedded Redis stopped" in log_text
    assert "Traceback" not in log_text
