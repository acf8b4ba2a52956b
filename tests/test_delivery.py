"""Incident events reach Redis exactly once, across a Redis outage."""

from __future__ import annotations

import json
import re
import time
from collections import Counter

import redis

from alerts.redis_server import EmbeddedRedis
from tests.conftest import media, wait_for
from tests.running import RunningService

EVENT_IN_LOG = re.compile(r"incident \w+ \w+ \w+ \(event (\w+:\d+),")


def test_events_survive_redis_outage(tmp_path, model_dir, rtsp_server):
    server = rtsp_server({"plaza": media("pets09_s2l1_plaza.mp4")})
    store = EmbeddedRedis(tmp_path / "external-redis")
    store.start()
    camera = {
        "url": server.url("plaza"),
        "detect_fps": 7,
        "rules": [
            {
                "kind": "gathering",
                "min_people": 4,
                "min_seconds": 1,
                "quiet_seconds": 1,
                "update_seconds": 1,
            },
            {
                "kind": "gathering",
                "min_people": 6,
                "min_seconds": 1,
                "quiet_seconds": 1,
            },
        ],
    }
    service = RunningService(
        tmp_path, model_dir, {"plaza": camera}, redis_url=store.url
    ).start()
    client = redis.Redis.from_url(store.url)
    try:
        wait_for(lambda: client.xlen("sharpeyes:events") >= 2, 60, message="events")
        store.stop()  # Redis goes away mid-run ...
        time.sleep(15)
        assert "spooling events" in service.log_text()
        store.start()  # ... and comes back on the same port with its AOF.
        client = redis.Redis.from_url(store.url)
        wait_for(lambda: "replayed" in service.log_text(), 30, message="replay")
        time.sleep(3)
    finally:
        code = service.stop()

    logged = EVENT_IN_LOG.findall(service.log_text())
    stored = [
        json.loads(fields[b"event"])["event_id"]
        for _, fields in client.xrange("sharpeyes:events")
    ]
    store.stop()

    assert code == 0
    assert len(logged) >= 4
    counts = Counter(stored)
    assert set(counts) == set(logged)
    assert max(counts.values()) == 1
    assert (tmp_path / "data" / "spool" / "events.jsonl").read_text() == ""
