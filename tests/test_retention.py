"""Evidence retention by disk budget against real Redis and real files."""

from __future__ import annotations

import os

import pytest

from alerts.retention import enforce_disk_budget
from alerts.store import AlertStore
from tests.events import incident_event


def event(incident: str, state: str):
    return incident_event(incident, 1 if state == "open" else 2, state)


@pytest.fixture
def store(redis_client) -> AlertStore:
    return AlertStore(redis_client)


def make_evidence(store, folder, incident: str, age_s: float) -> None:
    for suffix, kind in ((".jpg", "snapshot"), (".mp4", "clip")):
        path = folder / "plaza" / f"{incident}{suffix}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * 1000)
        stamp = 1_780_000_000 - age_s
        os.utime(path, (stamp, stamp))
        store.put_evidence(incident, kind, {"path": path.name, "camera_id": "plaza"})


def test_oldest_closed_deleted_first_open_kept(store, tmp_path):
    store.publish(event("oldopen", "open"))
    for incident in ("oldclosed", "newclosed"):
        store.publish(event(incident, "open"))
        store.publish(event(incident, "close"))
    make_evidence(store, tmp_path, "oldopen", age_s=300)
    make_evidence(store, tmp_path, "oldclosed", age_s=200)
    make_evidence(store, tmp_path, "newclosed", age_s=100)

    deleted = enforce_disk_budget(store, tmp_path, max_bytes=3000)

    remaining = sorted(p.name for p in (tmp_path / "plaza").iterdir())
    assert deleted == 3
    assert remaining == ["newclosed.mp4", "oldopen.jpg", "oldopen.mp4"]
    assert store.get_evidence("oldclosed")["clip"]["deleted"] == "disk budget"
    assert "deleted" not in store.get_evidence("oldopen")["clip"]


def test_under_budget_deletes_nothing(store, tmp_path):
    store.publish(event("a", "open"))
    store.publish(event("a", "close"))
    make_evidence(store, tmp_path, "a", age_s=10)

    assert enforce_disk_budget(store, tmp_path, max_bytes=10_000) == 0
    assert len(list((tmp_path / "plaza").iterdir())) == 2


def test_dispatched_incident_evidence_kept(store, tmp_path):
    from alerts.auth import Principal
    from alerts.workflow import Workflow

    store.publish(event("sent", "open"))
    store.publish(event("sent", "close"))
    make_evidence(store, tmp_path, "sent", age_s=500)
    Workflow(store.client).transition(
        "sent", "dispatch", Principal("op", "operator"), squad="s1"
    )

    deleted = enforce_disk_budget(store, tmp_path, max_bytes=0)
    removed = store.purge_closed_before(2_000_000_000)

    assert deleted == 0
    assert removed == 0
    assert len(list((tmp_path / "plaza").iterdir())) == 2
