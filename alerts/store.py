"""Alert records in Redis: the event stream, the latest state per incident, indexes.

Keys, under a prefix (default `sharpeyes`):
- the event stream (`alerts.stream_key`): every incident event, XADD with an
  approximate MAXLEN, for consumers such as the governance-platform forwarder;
- `<prefix>:alert:<id>`: hash with the latest event JSON (`json`) and its `seq`;
- `<prefix>:alert:<id>:events`: list of that incident's event JSON, oldest first;
- `<prefix>:alerts` and `<prefix>:alerts:camera:<camera>`: sorted sets of incident
  ids scored by start time, for listing newest first and filtering by time;
- `<prefix>:event-seen:<event id>`: marks an event as stored, so a retried publish
  adds nothing twice;
- `<prefix>:evidence:<id>`: hash of `snapshot` and `clip` manifests (file name,
  sha256, real start and end) of an incident's evidence files;
- `<prefix>:cameras`: hash of camera id to the reader's status JSON;
- `<prefix>:camera-overrides`: cameras added, changed (config JSON) or removed
  (`null`) through the API, with a version counter under `...:version`;
- `<prefix>:pipeline`: JSON counters of the inference core and the publisher;
- `<prefix>:heartbeat`: Unix time of the pipeline's last status write.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from alerts.workflow import UNDER_DISPATCH
from vision.incidents import IncidentEvent

MAX_EVENTS_PER_ALERT = 500

# Atomically store one event unless it was stored before. Returns 1 when stored,
# 0 for a duplicate. The latest state only moves forward in seq, so an old event
# replayed late cannot overwrite a newer one.
PUBLISH_SCRIPT = """
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[5]) then
  return 0
end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*',
           'event', ARGV[1], 'id', ARGV[3], 'event_id', ARGV[6])
local current = tonumber(redis.call('HGET', KEYS[3], 'seq') or '0')
if tonumber(ARGV[7]) > current then
  redis.call('HSET', KEYS[3], 'json', ARGV[1], 'seq', ARGV[7])
end
redis.call('RPUSH', KEYS[4], ARGV[1])
redis.call('LTRIM', KEYS[4], -tonumber(ARGV[8]), -1)
redis.call('ZADD', KEYS[5], ARGV[4], ARGV[3])
redis.call('ZADD', KEYS[6], ARGV[4], ARGV[3])
return 1
"""


@dataclass(frozen=True)
class AlertQuery:
    camera_id: str | None = None
    kind: str | None = None
    state: str | None = None
    since: float | None = None
    until: float | None = None
    limit: int = 50
    offset: int = 0


class AlertStore:
    """Read and write alerts in Redis; safe to share between threads."""

    def __init__(
        self,
        client: redis.Redis,
        stream_key: str = "sharpeyes:events",
        stream_maxlen: int = 100_000,
        prefix: str = "sharpeyes",
        retention_s: float = 30 * 86400,
        evidence_dir: Path | None = None,
    ) -> None:
        self.client = client
        self.evidence_dir = evidence_dir
        self.stream_key = stream_key
        self.stream_maxlen = stream_maxlen
        self.prefix = prefix
        self.retention_s = retention_s
        self._publish = client.register_script(PUBLISH_SCRIPT)

    def _alert_key(self, incident_id: str) -> str:
        return f"{self.prefix}:alert:{incident_id}"

    def _camera_index(self, camera_id: str) -> str:
        return f"{self.prefix}:alerts:camera:{camera_id}"

    @property
    def _index(self) -> str:
        return f"{self.prefix}:alerts"

    def publish(self, event: IncidentEvent) -> bool:
        """Store one event; return False when it was stored before."""
        return self.publish_record(
            {"event": event.to_dict(), "started_at_unix": event.started_at}
        )

    def publish_record(self, record: dict[str, Any]) -> bool:
        """Store one spooled event record (`event` JSON and `started_at_unix`)."""
        event = dict(record["event"])
        event.pop("media_time_s", None)
        payload = json.dumps(event, ensure_ascii=False, separators=(",", ":"))
        alert_key = self._alert_key(event["id"])
        stored = self._publish(
            keys=[
                f"{self.prefix}:event-seen:{event['event_id']}",
                self.stream_key,
                alert_key,
                alert_key + ":events",
                self._index,
                self._camera_index(event["camera_id"]),
            ],
            args=[
                payload,
                self.stream_maxlen,
                event["id"],
                record["started_at_unix"],
                int(self.retention_s),
                event["event_id"],
                event["seq"],
                MAX_EVENTS_PER_ALERT,
            ],
        )
        return bool(stored)

    def get_alert(self, incident_id: str) -> dict[str, Any] | None:
        raw = self.client.hget(self._alert_key(incident_id), "json")
        if raw is None:
            return None
        alert = json.loads(raw)
        events = self.client.lrange(self._alert_key(incident_id) + ":events", 0, -1)
        alert["events"] = [json.loads(item) for item in events]
        return alert

    def list_alerts(self, query: AlertQuery) -> tuple[list[dict[str, Any]], int]:
        """Return one page of alerts, newest first, and the number that match."""
        index = self._camera_index(query.camera_id) if query.camera_id else self._index
        high = "+inf" if query.until is None else query.until
        low = "-inf" if query.since is None else query.since
        ids = self.client.zrevrangebyscore(index, high, low)
        if not query.kind and not query.state:
            page_ids = ids[query.offset : query.offset + query.limit]
            return self._load(page_ids), len(ids)

        matches: list[dict[str, Any]] = []
        chunk = 500
        for start in range(0, len(ids), chunk):
            for alert in self._load(ids[start : start + chunk]):
                if query.kind and alert["kind"] != query.kind:
                    continue
                if query.state == "active" and alert["state"] == "close":
                    continue
                if (
                    query.state not in (None, "active")
                    and alert["state"] != query.state
                ):
                    continue
                matches.append(alert)
        return matches[query.offset : query.offset + query.limit], len(matches)

    def _load(self, ids: list[bytes]) -> list[dict[str, Any]]:
        if not ids:
            return []
        pipe = self.client.pipeline(transaction=False)
        for incident_id in ids:
            pipe.hget(self._alert_key(incident_id.decode()), "json")
        return [json.loads(raw) for raw in pipe.execute() if raw is not None]

    def purge_closed_before(self, cutoff_unix: float) -> int:
        """Delete closed alerts that started before `cutoff_unix`; return how many."""
        removed = 0
        for raw_id in self.client.zrangebyscore(self._index, "-inf", cutoff_unix):
            incident_id = raw_id.decode()
            raw = self.client.hget(self._alert_key(incident_id), "json")
            alert = json.loads(raw) if raw else None
            if alert is not None and alert["state"] != "close":
                continue
            if self.workflow_status(incident_id) in UNDER_DISPATCH:
                continue  # evidence of an incident under dispatch is kept
            pipe = self.client.pipeline()
            pipe.delete(
                self._alert_key(incident_id), self._alert_key(incident_id) + ":events"
            )
            pipe.zrem(self._index, incident_id)
            if alert is not None:
                pipe.zrem(self._camera_index(alert["camera_id"]), incident_id)
            pipe.execute()
            removed += 1
        return removed

    def write_camera_status(
        self,
        statuses: dict[str, dict[str, Any]],
        pipeline_stats: dict[str, Any] | None = None,
    ) -> None:
        """Replace the cameras' status, store pipeline counters, and beat the heart."""
        key = f"{self.prefix}:cameras"
        pipe = self.client.pipeline()
        if pipeline_stats is not None:
            pipe.set(f"{self.prefix}:pipeline", json.dumps(pipeline_stats))
        pipe.delete(key)
        if statuses:
            pipe.hset(
                key,
                mapping={cid: json.dumps(status) for cid, status in statuses.items()},
            )
        pipe.set(f"{self.prefix}:heartbeat", time.time())
        pipe.execute()

    def set_camera_override(
        self, camera_id: str, config: dict[str, Any] | None
    ) -> None:
        """Record a camera added or changed (`config`) or removed (None) at runtime."""
        pipe = self.client.pipeline()
        pipe.hset(f"{self.prefix}:camera-overrides", camera_id, json.dumps(config))
        pipe.incr(f"{self.prefix}:camera-overrides:version")
        pipe.execute()

    def camera_overrides_version(self) -> int:
        return int(self.client.get(f"{self.prefix}:camera-overrides:version") or 0)

    def read_camera_overrides(self) -> tuple[dict[str, dict[str, Any] | None], int]:
        """Return runtime camera changes (None marks a removal) and their version."""
        pipe = self.client.pipeline(transaction=True)
        pipe.hgetall(f"{self.prefix}:camera-overrides")
        pipe.get(f"{self.prefix}:camera-overrides:version")
        raw, version = pipe.execute()
        overrides = {key.decode(): json.loads(value) for key, value in raw.items()}
        return overrides, int(version or 0)

    def workflow_status(self, incident_id: str) -> str:
        """Dispatch workflow status of an incident (`new` when none was set)."""
        raw = self.client.get(f"{self.prefix}:workflow:{incident_id}")
        return json.loads(raw)["status"] if raw else "new"

    def put_evidence(
        self, incident_id: str, kind: str, manifest: dict[str, Any]
    ) -> None:
        """Record a snapshot or clip manifest (with its sha256) for an incident."""
        self.client.hset(
            f"{self.prefix}:evidence:{incident_id}", kind, json.dumps(manifest)
        )

    def get_evidence(self, incident_id: str) -> dict[str, dict[str, Any]]:
        raw = self.client.hgetall(f"{self.prefix}:evidence:{incident_id}")
        return {key.decode(): json.loads(value) for key, value in raw.items()}

    def read_pipeline_stats(self) -> dict[str, Any]:
        raw = self.client.get(f"{self.prefix}:pipeline")
        return json.loads(raw) if raw else {}

    def read_camera_status(self) -> tuple[dict[str, dict[str, Any]], float | None]:
        """Return the cameras' last reported status and the pipeline heartbeat time."""
        pipe = self.client.pipeline(transaction=False)
        pipe.hgetall(f"{self.prefix}:cameras")
        pipe.get(f"{self.prefix}:heartbeat")
        raw, heartbeat = pipe.execute()
        statuses = {key.decode(): json.loads(value) for key, value in raw.items()}
        return statuses, float(heartbeat) if heartbeat else None
