"""Append-only audit log in Redis, chained by hashes.

Every record contains the sha256 of the record before it, and its own hash covers
its fields and that link, so changing or deleting any record breaks the chain.
The head (count and last hash) is kept beside the list and updated in the same
transaction, which also exposes a record removed from the end.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

import redis

from vision.incidents import iso_utc

GENESIS = "0" * 64


def record_hash(record: dict[str, Any]) -> str:
    body = {key: value for key, value in record.items() if key != "hash"}
    canonical = json.dumps(
        body, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


class AuditLog:
    def __init__(self, client: redis.Redis, prefix: str = "sharpeyes") -> None:
        self.client = client
        self.key = f"{prefix}:audit"
        self.head_key = f"{prefix}:audit:head"

    def append(
        self,
        actor: str,
        role: str,
        action: str,
        target: str,
        source: str = "",
        detail: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Add one record: who (actor, role), what (action, target, detail),
        when, and from where (source address)."""
        while True:
            with self.client.pipeline() as pipe:
                try:
                    pipe.watch(self.head_key)
                    head = pipe.hgetall(self.head_key)
                    count = int(head.get(b"count", 0))
                    previous = head.get(b"hash", GENESIS.encode()).decode()
                    record = {
                        "seq": count + 1,
                        "at": iso_utc(time.time()),
                        "actor": actor,
                        "role": role,
                        "action": action,
                        "target": target,
                        "source": source,
                        "detail": detail or {},
                        "prev_hash": previous,
                    }
                    record["hash"] = record_hash(record)
                    pipe.multi()
                    pipe.rpush(self.key, json.dumps(record, ensure_ascii=False))
                    pipe.hset(
                        self.head_key,
                        mapping={"count": count + 1, "hash": record["hash"]},
                    )
                    pipe.execute()
                    return record
                except redis.WatchError:
                    continue

    def records(self, offset: int = 0, limit: int = 100) -> list[dict[str, Any]]:
        raw = self.client.lrange(self.key, offset, offset + limit - 1)
        return [json.loads(item) for item in raw]

    def verify(self, evidence: list[tuple[str, Path, str]] = ()) -> dict[str, Any]:
        """Check the chain and the evidence files; return the problems found.

        `evidence` lists (name, path, expected sha256) of files to re-hash.
        """
        problems: list[str] = []
        previous = GENESIS
        count = 0
        for index, raw in enumerate(self.client.lrange(self.key, 0, -1)):
            record = json.loads(raw)
            count += 1
            if record.get("seq") != index + 1:
                problems.append(f"record {index + 1}: sequence is {record.get('seq')}")
            if record.get("prev_hash") != previous:
                problems.append(
                    f"record {index + 1}: link to the previous record broken"
                )
            if record_hash(record) != record.get("hash"):
                problems.append(f"record {index + 1}: content changed")
            previous = record.get("hash", "")
        head = self.client.hgetall(self.head_key)
        if head and (
            int(head[b"count"]) != count or head[b"hash"].decode() != previous
        ):
            problems.append(
                f"head says {int(head[b'count'])} records, the log holds {count}: "
                "records were deleted"
            )
        for name, path, expected in evidence:
            try:
                actual = hashlib.sha256(Path(path).read_bytes()).hexdigest()
            except OSError:
                problems.append(f"{name}: file missing")
                continue
            if actual != expected:
                problems.append(f"{name}: sha256 {actual} does not match {expected}")
        return {
            "records": count,
            "evidence_checked": len(evidence),
            "problems": problems,
        }
