"""The live event feed, body limits and a fuzzed OpenAPI spec, against real Redis."""

from __future__ import annotations

import json
import threading
import time

import httpx
import pytest
import schemathesis
import schemathesis.checks as checks
import uvicorn
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings

from alerts.api import MAX_BODY_BYTES, create_app
from alerts.auth import TokenStore
from alerts.redis_server import free_port
from alerts.store import AlertStore
from tests.events import incident_event as event


@pytest.fixture
def store(redis_client) -> AlertStore:
    return AlertStore(redis_client)


@pytest.fixture
def auth(store) -> dict[str, str]:
    token = TokenStore(store.client).create("tester", "admin")
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def live_api(store, tmp_path):
    """The app served by uvicorn on 127.0.0.1, for streaming responses."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(store, tmp_path),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="off",
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(5)


def read_messages(lines, count: int) -> list[dict]:
    """Read `count` SSE messages from an iterator of lines, skipping comments."""
    messages, current = [], {}
    for line in lines:
        if line.startswith(":"):
            continue
        if not line:
            if current:
                messages.append(current)
                current = {}
            if len(messages) == count:
                return messages
            continue
        field, _, value = line.partition(": ")
        current[field] = value
    return messages


def test_feed_resumes_after_last_event_id(store, live_api, auth):
    for seq, state in ((1, "open"), (2, "update"), (3, "close")):
        store.publish(event("inc1", seq, state))
    first_id = store.client.xrange("sharpeyes:events", count=1)[0][0].decode()

    with httpx.stream(
        "GET",
        f"{live_api}/api/events/stream",
        headers={"Last-Event-ID": first_id, **auth},
        timeout=10,
    ) as response:
        lines = response.iter_lines()
        missed = read_messages(lines, 2)
        store.publish(event("inc2", 1, "open"))
        live = read_messages(lines, 1)

    assert response.headers["content-type"].startswith("text/event-stream")
    assert [json.loads(m["data"])["event_id"] for m in missed] == ["inc1:2", "inc1:3"]
    assert json.loads(live[0]["data"])["event_id"] == "inc2:1"
    assert all(m["event"] == "incident" for m in missed + live)
    assert missed[1]["id"] > missed[0]["id"] > first_id


def test_feed_carries_transitions(store, live_api, auth):
    from alerts.auth import Principal
    from alerts.workflow import Workflow

    store.publish(event("inc1", 1, "open"))
    with httpx.stream(
        "GET", f"{live_api}/api/events/stream", headers=auth, timeout=10
    ) as response:
        lines = response.iter_lines()
        next(lines)  # the ": connected" comment: the feed is listening
        Workflow(store.client).transition(
            "inc1", "acknowledge", Principal("op", "operator"), note="seen"
        )
        message = read_messages(lines, 1)[0]

    assert message["event"] == "transition"
    transition = json.loads(message["data"])
    assert transition["state"] == "acknowledged"
    assert transition["by"] == "op"


def test_feed_rejects_bad_resume_id(store, auth):
    client = TestClient(create_app(store), headers=auth)

    response = client.get("/api/events/stream", headers={"Last-Event-ID": "../x"})

    assert response.status_code == 422


def test_oversized_body_rejected(store, auth):
    client = TestClient(create_app(store), headers=auth)
    body = {"url": "rtsp://127.0.0.1/x", "location": "x" * (MAX_BODY_BYTES + 10)}

    response = client.put("/api/cameras/plaza", json=body)

    assert response.status_code == 413
    assert store.read_camera_overrides()[0] == {}


# No 5xx, responses and content types as declared. Schemathesis's checks that a
# schema-valid body is accepted are left out: the config validators (known time
# zones, rule zones that exist) are stricter than any JSON schema can express.
FUZZ_CHECKS = [
    checks.not_a_server_error,
    checks.response_schema_conformance,
    checks.content_type_conformance,
    checks.status_code_conformance,
]


def test_openapi_fuzz(store, tmp_path, auth):
    """No 5xx, and every response matches its declared schema.

    Runs schemathesis by hand over every operation, because its pytest plugin
    fails to collect under pytest 9.
    """
    store.publish(event("0123abcd", 1, "open"))
    schema = schemathesis.openapi.from_asgi(
        "/openapi.json", create_app(store, tmp_path)
    )
    checked = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path == "/api/events/stream":
            continue  # endless by design; covered by the feed tests above

        @settings(
            max_examples=30,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        @given(case=operation.as_strategy())
        def call(case):
            case.call_and_validate(checks=FUZZ_CHECKS, headers=auth)

        call()
        checked.append(f"{operation.method.upper()} {operation.path}")

    assert "GET /api/alerts" in checked
    assert "PUT /api/cameras/{camera_id}" in checked
