"""Tokens and roles on every endpoint, the dispatch workflow, and the audit log,
against a real Redis server."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from alerts.api import create_app
from alerts.audit import AuditLog
from alerts.auth import ROLES, TokenStore
from alerts.store import AlertStore
from tests.conftest import run_cli
from tests.events import incident_event as event

ALERT = "a1b2c3"
BODY_CAMERA = {"url": "rtsp://127.0.0.1/x"}

# (method, path, json body, roles allowed besides admin)
MATRIX = [
    ("GET", "/api/alerts", None, {"operator", "auditor"}),
    ("GET", f"/api/alerts/{ALERT}", None, {"operator", "auditor"}),
    ("GET", f"/api/alerts/{ALERT}/evidence", None, {"operator", "auditor"}),
    ("GET", f"/api/alerts/{ALERT}/snapshot", None, {"operator", "auditor"}),
    ("GET", f"/api/alerts/{ALERT}/clip", None, {"auditor"}),
    ("POST", f"/api/alerts/{ALERT}/acknowledge", {"note": "seen"}, {"operator"}),
    ("POST", f"/api/alerts/{ALERT}/dispatch", {"squad": "s1"}, {"operator"}),
    ("POST", f"/api/alerts/{ALERT}/false-alarm", {"note": "a poster"}, {"operator"}),
    ("GET", "/api/dispatches", None, {"operator", "squad", "auditor"}),
    ("POST", f"/api/dispatches/{ALERT}/en-route", {}, {"squad"}),
    ("POST", f"/api/dispatches/{ALERT}/resolve", {"note": "done"}, {"squad"}),
    ("GET", "/api/cameras", None, {"operator", "engineer", "auditor"}),
    ("GET", "/api/counts", None, {"operator", "engineer", "auditor"}),
    ("PUT", "/api/cameras/gate", BODY_CAMERA, {"engineer"}),
    ("DELETE", "/api/cameras/gate", None, {"engineer"}),
    ("GET", "/api/audit", None, {"auditor"}),
    ("GET", "/api/audit/verify", None, {"auditor"}),
    ("GET", "/api/tokens", None, set()),
    ("POST", "/api/tokens", {"name": "new", "role": "operator"}, set()),
    ("DELETE", "/api/tokens/nobody", None, set()),
    (
        "POST",
        "/api/replay",
        {"since": "2026-01-01T00:00:00Z", "until": "2026-01-02T00:00:00Z"},
        set(),
    ),
]


@pytest.fixture
def store(redis_client, tmp_path) -> AlertStore:
    store = AlertStore(redis_client, evidence_dir=tmp_path)
    store.publish(event(ALERT, 1, "open"))
    return store


@pytest.fixture
def clients(store, tmp_path) -> dict[str, TestClient]:
    tokens = TokenStore(store.client)
    app = create_app(store, tmp_path)
    made = {}
    for role in ROLES:
        token = tokens.create(
            f"{role}-1", role, squad="s1" if role == "squad" else None
        )
        made[role] = TestClient(app, headers={"Authorization": f"Bearer {token}"})
    made["anonymous"] = TestClient(app)
    made["forged"] = TestClient(app, headers={"Authorization": "Bearer se_forged"})
    return made


@pytest.mark.parametrize(("method", "path", "body", "allowed"), MATRIX)
def test_role_matrix(clients, method, path, body, allowed):
    for role in ROLES:
        response = clients[role].request(method, path, json=body)
        role_denied = response.status_code == 403 and (
            response.json()["detail"] == f"role {role} may not do this"
        )
        # An allowed role may still meet a 403 of the resource itself (a squad
        # acting on another squad's dispatch), but never the role check's.
        if role == "admin" or role in allowed:
            assert response.status_code != 401, (role, response.text)
            assert not role_denied, (role, response.text)
        else:
            assert role_denied, (role, response.status_code, response.text)
    assert clients["anonymous"].request(method, path, json=body).status_code == 401
    assert clients["forged"].request(method, path, json=body).status_code == 401


def test_health_and_metrics_need_no_token(clients):
    assert clients["anonymous"].get("/healthz").status_code in (200, 503)
    assert clients["anonymous"].get("/metrics").status_code == 200


def test_workflow_from_dispatch_to_resolve(clients, store):
    operator, squad = clients["operator"], clients["squad"]

    early = squad.post(f"/api/dispatches/{ALERT}/resolve", json={"note": "done"})
    assert early.status_code == 403  # not dispatched to this squad, or to any
    assert operator.post(f"/api/alerts/{ALERT}/acknowledge", json={}).status_code == 200
    again = operator.post(f"/api/alerts/{ALERT}/acknowledge", json={})
    assert again.status_code == 409
    dispatched = operator.post(
        f"/api/alerts/{ALERT}/dispatch", json={"squad": "s1", "note": "go"}
    )
    assert dispatched.json()["status"] == "dispatched"
    assert [a["id"] for a in squad.get("/api/dispatches").json()] == [ALERT]
    assert squad.post(f"/api/dispatches/{ALERT}/en-route", json={}).status_code == 200
    resolved = squad.post(f"/api/dispatches/{ALERT}/resolve", json={"note": "cleared"})
    late = operator.post(f"/api/alerts/{ALERT}/false-alarm", json={"note": "oops"})

    assert resolved.status_code == 200
    assert late.status_code == 409
    history = operator.get(f"/api/alerts/{ALERT}").json()["workflow"]["history"]
    assert [h["action"] for h in history] == [
        "acknowledge",
        "dispatch",
        "en_route",
        "resolve",
    ]
    assert [h["by"] for h in history] == [
        "operator-1",
        "operator-1",
        "squad-1",
        "squad-1",
    ]
    assert all(h["at"].endswith("+00:00") for h in history)
    feed = [
        json.loads(fields[b"transition"])["state"]
        for _, fields in store.client.xrange("sharpeyes:events")
        if b"transition" in fields
    ]
    assert feed == ["acknowledged", "dispatched", "en_route", "resolved"]


def test_resolving_undispatched_alert_conflicts(clients, store):
    admin = clients["admin"]

    response = admin.post(f"/api/dispatches/{ALERT}/resolve", json={"note": "x"})

    assert response.status_code == 409
    assert "new" in response.json()["detail"]


def test_other_squad_cannot_touch_dispatch(clients, store):
    clients["operator"].post(f"/api/alerts/{ALERT}/dispatch", json={"squad": "s2"})

    response = clients["squad"].post(f"/api/dispatches/{ALERT}/en-route", json={})

    assert response.status_code == 403
    assert clients["squad"].get("/api/dispatches").json() == []


def test_false_alarm_needs_reason(clients):
    response = clients["operator"].post(f"/api/alerts/{ALERT}/false-alarm", json={})

    assert response.status_code == 422


def test_audit_records_actions_and_detects_tampering(clients, store, tmp_path):
    clients["operator"].post(f"/api/alerts/{ALERT}/acknowledge", json={"note": "seen"})
    clients["engineer"].put("/api/cameras/gate", json=BODY_CAMERA)
    clients["admin"].post("/api/tokens", json={"name": "new", "role": "auditor"})
    auditor = clients["auditor"]

    records = auditor.get("/api/audit").json()
    clean = auditor.get("/api/audit/verify").json()

    assert [r["action"] for r in records] == [
        "acknowledge",
        "camera_put",
        "token_create",
    ]
    assert [r["actor"] for r in records] == ["operator-1", "engineer-1", "admin-1"]
    assert all(r["source"] for r in records)
    assert clean["problems"] == []

    # Change one record, then delete the last one.
    log = AuditLog(store.client)
    changed = json.loads(store.client.lindex(log.key, 0))
    changed["actor"] = "someone-else"
    store.client.lset(log.key, 0, json.dumps(changed))
    assert any(
        "content changed" in p for p in AuditLog(store.client).verify()["problems"]
    )
    store.client.lset(log.key, 0, json.dumps({**changed, "actor": "operator-1"}))
    store.client.rpop(log.key)

    problems = auditor.get("/api/audit/verify").json()["problems"]
    assert any("records were deleted" in p for p in problems)


def test_verify_detects_changed_clip(clients, store, tmp_path):
    clip = tmp_path / "plaza" / f"{ALERT}.mp4"
    clip.parent.mkdir(parents=True)
    clip.write_bytes(b"original clip")
    import hashlib

    store.put_evidence(
        ALERT,
        "clip",
        {
            "path": clip.name,
            "camera_id": "plaza",
            "sha256": hashlib.sha256(b"original clip").hexdigest(),
        },
    )
    assert clients["auditor"].get("/api/audit/verify").json()["problems"] == []
    clip.write_bytes(b"edited clip")

    problems = clients["auditor"].get("/api/audit/verify").json()["problems"]

    assert any(f"clip of {ALERT}" in p and "does not match" in p for p in problems)
    downloaded = clients["auditor"].get(f"/api/alerts/{ALERT}/clip")
    assert downloaded.status_code == 200
    actions = [r["action"] for r in AuditLog(store.client).records()]
    assert "evidence_download" in actions


def test_cli_audit_verify_exit_code(store, redis_server, tmp_path):
    AuditLog(store.client).append("cli", "admin", "token_create", "x")
    config = tmp_path / "config.yaml"
    config.write_text(f"redis_url: {redis_server.url}\ndata_dir: {tmp_path}\n")

    clean = run_cli("audit", "verify", "--config", str(config), timeout=60)
    store.client.lset("sharpeyes:audit", 0, json.dumps({"seq": 1, "hash": "x"}))
    broken = run_cli("audit", "verify", "--config", str(config), timeout=60)

    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert broken.returncode == 1
    assert "PROBLEM" in broken.stdout
