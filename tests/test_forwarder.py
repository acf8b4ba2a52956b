"""Webhook forwarding to a real HTTP receiver on 127.0.0.1 that fails, times out
and recovers."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from alerts.forwarder import Forwarder, ForwarderSettings, replay
from alerts.store import AlertStore
from tests.conftest import wait_for
from tests.events import incident_event as event

SECRET = "0123456789abcdef-test"


class Receiver:
    """An HTTP server that responds as scripted and counts deliveries per key."""

    def __init__(self, script: list[str]) -> None:
        self.script = list(script)  # "500", "timeout", then "ok" for the rest
        self.delivered: dict[str, int] = {}
        self.requests = 0
        self.bad_signatures = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    receiver.requests += 1
                    action = receiver.script.pop(0) if receiver.script else "ok"
                if action == "timeout":
                    time.sleep(1.5)
                    return
                if action == "500":
                    self.send_response(500)
                    self.end_headers()
                    return
                expected = (
                    "sha256="
                    + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
                )
                with receiver.lock:
                    if self.headers["X-Sharpeyes-Signature"] != expected:
                        receiver.bad_signatures += 1
                    key = self.headers["Idempotency-Key"]
                    receiver.delivered[key] = receiver.delivered.get(key, 0) + 1
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/events"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def settings(url: str, **changes) -> ForwarderSettings:
    values = dict(
        url=url,
        secret=SECRET,
        timeout_s=1.0,
        retry_initial_s=0.1,
        retry_max_s=0.5,
        max_attempts=50,
        reclaim_idle_s=0.5,
    )
    values.update(changes)
    return ForwarderSettings(**values)


@pytest.fixture
def store(redis_client) -> AlertStore:
    return AlertStore(redis_client)


def publish_events(store: AlertStore, count: int) -> list[str]:
    keys = []
    for index in range(count):
        state = ("open", "update", "close")[index % 3]
        store.publish(event(f"inc{index // 3}", index % 3 + 1, state))
        keys.append(f"inc{index // 3}:{state}:{index % 3 + 1}")
    return keys


def test_outage_then_recovery_delivers_each_once(store, redis_client):
    receiver = Receiver(["500", "500", "timeout", "500", "timeout"])
    keys = publish_events(store, 9)
    forwarder = Forwarder(redis_client, settings(receiver.url))
    forwarder.start()
    try:
        wait_for(lambda: len(receiver.delivered) == len(keys), 30, message="delivery")
        time.sleep(0.5)
    finally:
        forwarder.stop()
        forwarder.join(5)
        receiver.close()

    assert set(receiver.delivered) == set(keys)
    assert max(receiver.delivered.values()) == 1
    assert receiver.bad_signatures == 0
    assert receiver.requests >= len(keys) + 5
    pending = redis_client.xpending("sharpeyes:events", "governance")
    assert pending["pending"] == 0


def test_dead_letter_after_bound(store, redis_client):
    receiver = Receiver(["500"] * 1000)
    publish_events(store, 2)
    forwarder = Forwarder(redis_client, settings(receiver.url, max_attempts=3))
    forwarder.start()
    try:
        wait_for(
            lambda: redis_client.llen("sharpeyes:dead-letter") == 2,
            20,
            message="dead letters",
        )
    finally:
        forwarder.stop()
        forwarder.join(5)
        receiver.close()

    dead = [
        json.loads(raw) for raw in redis_client.lrange("sharpeyes:dead-letter", 0, -1)
    ]
    assert [d["event"]["event_id"] for d in dead] == ["inc0:1", "inc0:2"]
    assert all(d["reason"] == "HTTP 500" for d in dead)
    assert redis_client.xpending("sharpeyes:events", "governance")["pending"] == 0


def test_crashed_consumer_entries_reclaimed(store, redis_client):
    receiver = Receiver([])
    keys = publish_events(store, 3)
    crashed = Forwarder(redis_client, settings(receiver.url, consumer="crashed"))
    crashed.ensure_group()
    # The crashed consumer took the entries and never acknowledged them.
    redis_client.xreadgroup(
        "governance", "crashed", {"sharpeyes:events": ">"}, count=10
    )
    survivor = Forwarder(redis_client, settings(receiver.url, consumer="survivor"))
    survivor.start()
    try:
        wait_for(lambda: len(receiver.delivered) == 3, 20, message="reclaimed delivery")
    finally:
        survivor.stop()
        survivor.join(5)
        receiver.close()

    assert set(receiver.delivered) == set(keys)
    assert redis_client.xpending("sharpeyes:events", "governance")["pending"] == 0


def test_replay_range_applies_nothing_twice(store, redis_client):
    receiver = Receiver([])
    keys = publish_events(store, 6)
    now_ms = int(time.time() * 1000)

    first = replay(redis_client, settings(receiver.url), now_ms - 60_000, now_ms + 1000)
    again = replay(redis_client, settings(receiver.url), now_ms - 60_000, now_ms + 1000)
    receiver.close()

    assert first == again == len(keys)
    # Every event arrived twice with the same idempotency key, so a platform
    # that honours the key applies each once.
    assert set(receiver.delivered) == set(keys)
    assert set(receiver.delivered.values()) == {2}


def test_admin_replays_through_api(store, redis_client):
    from fastapi.testclient import TestClient

    from alerts.api import create_app
    from alerts.auth import TokenStore

    receiver = Receiver([])
    keys = publish_events(store, 3)
    admin = TokenStore(redis_client).create("root", "admin")
    client = TestClient(
        create_app(store, forwarder=settings(receiver.url)),
        headers={"Authorization": f"Bearer {admin}"},
    )
    now = time.time()

    response = client.post(
        "/api/replay",
        json={
            "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 60)),
            "until": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + 60)),
        },
    )
    receiver.close()

    assert response.status_code == 200
    assert response.json() == {"replayed": 3}
    assert set(receiver.delivered) == set(keys)
