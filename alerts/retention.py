"""Evidence retention by disk budget: oldest first, never an open incident's."""

from __future__ import annotations

import logging
from pathlib import Path

from alerts.store import AlertStore
from alerts.workflow import UNDER_DISPATCH

log = logging.getLogger(__name__)

EVIDENCE_SUFFIXES = (".mp4", ".jpg")


def enforce_disk_budget(store: AlertStore, evidence_dir: Path, max_bytes: int) -> int:
    """Delete evidence files, oldest first, until the folder fits in `max_bytes`.

    Files of incidents that are still open or under dispatch are never deleted,
    so the folder can stay over budget while they last. Each deleted file's
    manifest in Redis is marked with `deleted` so the API reports it gone rather
    than missing.
    Returns the number of files deleted.
    """
    files = []
    for path in Path(evidence_dir).glob("*/*"):
        if path.suffix in EVIDENCE_SUFFIXES and path.is_file():
            stat = path.stat()
            files.append((stat.st_mtime, stat.st_size, path))
    total = sum(size for _, size, _ in files)
    deleted = 0
    for _, size, path in sorted(files):
        if total <= max_bytes:
            break
        incident_id = path.stem
        alert = store.get_alert(incident_id)
        if alert is not None and alert["state"] != "close":
            continue
        if store.workflow_status(incident_id) in UNDER_DISPATCH:
            continue
        path.unlink(missing_ok=True)
        total -= size
        deleted += 1
        kind = "clip" if path.suffix == ".mp4" else "snapshot"
        manifest = store.get_evidence(incident_id).get(kind)
        if manifest is not None:
            manifest["deleted"] = "disk budget"
            store.put_evidence(incident_id, kind, manifest)
    if deleted:
        log.info(
            "disk budget: deleted %d evidence files; %d bytes remain", deleted, total
        )
    return deleted
