"""Alert storage and the HTTP API against a real Redis server."""

from __future__ import annotations

import json
import time

import pytest
from fastapi.testclient import TestClient

from alerts.api import create_app
from alerts.auth import TokenStore
from alerts.store import AlertStore
from tests.events import incident_event as event

BASE = 1_780_000_000.0


@pytest.fixture
def store(redis_client) -> AlertStore:
    return AlertStore(redis_client, stream_key="test:events")


@pytest.fixture
def client(store) -> TestClient:
    token = TokenStore(store.client).create("tester", "admin")
    return TestClient(create_app(store), headers={"Authorization": f"Bearer {token}"})


def test_publish_is_idempotent(store, redis_client):
    first = event("a1", 1, "open")

    assert store.publish(first) is True
    assert store.publish(first) is False
    assert redis_client.xlen("test:events") == 1
    entry = redis_client.xrange("test:events")[0][1]
    assert json.loads(entry[b"event"])["event_id"] == "a1:1"


def test_late_old_event_does_not_regress_state(store):
    store.publish(event("a1", 1, "open"))
    store.publish(event("a1", 3, "close"))
    store.publish(event("a1", 2, "update"))

    alert = store.get_alert("a1")

    assert alert["state"] == "close"
    assert [e["seq"] for e in alert["events"]] == [1, 3, 2]


def test_list_newest_first_with_paging(store, client):
    for index in range(5):
        store.publish(event(f"i{index}", 1, "open", started=BASE + index * 60))

    first = client.get("/api/alerts", params={"limit": 2}).json()
    second = client.get("/api/alerts", params={"limit": 2, "offset": 2}).json()
    last = client.get("/api/alerts", params={"limit": 2, "offset": 4}).json()

    assert [a["id"] for a in first["items"]] == ["i4", "i3"]
    assert first["total"] == 5
    assert first["next_offset"] == 2
    assert [a["id"] for a in second["items"]] == ["i2", "i1"]
    assert [a["id"] for a in last["items"]] == ["i0"]
    assert last["next_offset"] is None


def test_filters(store, client):
    store.publish(event("p1", 1, "open", camera="plaza"))
    store.publish(event("p2", 1, "open", camera="plaza", started=BASE + 100))
    store.publish(event("p2", 2, "close", camera="plaza", started=BASE + 100))
    store.publish(
        event("r1", 1, "open", camera="road", kind="dust", started=BASE + 200)
    )

    def ids(**params):
        body = client.get("/api/alerts", params=params).json()
        return [a["id"] for a in body["items"]]

    assert ids(camera="plaza") == ["p2", "p1"]
    assert ids(kind="dust") == ["r1"]
    assert ids(state="close") == ["p2"]
    assert ids(state="active") == ["r1", "p1"]
    assert ids(state="open", camera="plaza") == ["p1"]
    assert ids(since="2026-05-28T20:28:00+00:00") == ["r1", "p2"]
    assert ids(until="2026-05-28T20:27:00Z") == ["p1"]


def test_times_are_utc_with_offset(store, client):
    store.publish(event("a1", 1, "open"))

    alert = client.get("/api/alerts/a1").json()

    assert alert["started_at"].endswith("+00:00")
    assert alert["updated_at"].endswith("+00:00")


def test_time_filter_without_offset_rejected(client):
    response = client.get("/api/alerts", params={"since": "2026-01-01T00:00:00"})

    assert response.status_code == 422
    assert "UTC offset" in response.text


def test_get_alert_with_history(store, client):
    store.publish(event("a1", 1, "open"))
    store.publish(event("a1", 2, "close"))

    alert = client.get("/api/alerts/a1").json()

    assert alert["state"] == "close"
    assert [e["state"] for e in alert["events"]] == ["open", "close"]


@pytest.mark.parametrize("bad_id", ["missing", "..%2F..%2Fetc", "a" * 65])
def test_unknown_alert_is_404(client, bad_id):
    assert client.get(f"/api/alerts/{bad_id}").status_code == 404


def test_cameras_report_status_and_age(store, client):
    now = time.time()
    store.write_camera_status(
        {
            "plaza": {
                "state": "streaming",
                "reason": "first frame received",
                "state_since": now - 10,
                "url": "rtsp://127.0.0.1/plaza",
                "fps_received": 7.0,
                "fps_analysed": 5.0,
                "detect_fps": 5.0,
                "last_frame_at": now - 0.5,
            }
        }
    )

    cameras = client.get("/api/cameras").json()

    assert [c["camera_id"] for c in cameras] == ["plaza"]
    assert cameras[0]["state"] == "streaming"
    assert cameras[0]["fps_analysed"] == 5.0
    assert 0.4 <= cameras[0]["last_frame_age_s"] < 5


def test_cameras_offline_when_pipeline_silent(store, client, redis_client):
    store.write_camera_status({"plaza": {"state": "streaming", "fps_received": 7.0}})
    redis_client.set("sharpeyes:heartbeat", time.time() - 60)

    cameras = client.get("/api/cameras").json()

    assert cameras[0]["state"] == "offline"
    assert cameras[0]["fps_received"] == 0.0


def test_healthz(store, client):
    assert client.get("/healthz").json()["status"] == "degraded"
    store.write_camera_status({})

    body = client.get("/healthz").json()

    assert body["status"] == "ok"
    assert body["redis"] is True


def test_redis_down_gives_503(store, client, redis_server):
    redis_server.stop()

    assert client.get("/healthz").status_code == 503
    assert client.get("/api/alerts").status_code == 503


def test_metrics_expose_camera_and_detector_counters(store, client):
    from prometheus_client.parser import text_string_to_metric_families

    store.write_camera_status(
        {
            "plaza": {
                "state": "stalled",
                "frames_received": 120,
                "frames_analysed": 30,
                "frames_dropped": 4,
                "decode_errors": 2,
                "reconnects": 3,
                "last_frame_at": time.time() - 2.0,
                "fps_analysed": 5.0,
                "latency_s": 0.12,
            }
        },
        {
            "core": {
                "batches": 7,
                "frames": 30,
                "inference_s": 0.5,
                "batch_sizes": {"4": 7},
            },
            "publisher": {"published": 9, "pending": 0},
        },
    )

    response = client.get("/metrics")
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }

    assert response.status_code == 200
    camera = (("camera", "plaza"),)
    assert samples[("sharpeyes_camera_frames_received_total", camera)] == 120
    assert samples[("sharpeyes_camera_frames_dropped_total", camera)] == 4
    assert samples[("sharpeyes_camera_decode_errors_total", camera)] == 2
    assert samples[("sharpeyes_camera_reconnects_total", camera)] == 3
    state = (("camera", "plaza"), ("state", "stalled"))
    assert samples[("sharpeyes_camera_state", state)] == 1
    assert 1.5 < samples[("sharpeyes_camera_last_frame_age_seconds", camera)] < 10
    assert samples[("sharpeyes_detector_batch_size_runs_total", (("size", "4"),))] == 7
    assert samples[("sharpeyes_detector_inference_seconds_total", ())] == 0.5
    assert samples[("sharpeyes_pipeline_up", ())] == 1
