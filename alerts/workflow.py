"""The operators' and squads' workflow on an alert: acknowledge, dispatch,
en route, resolve, or close as a false alarm.

Each alert's workflow is a JSON record in Redis with its status and full history
(who, role, when, note). Every transition is also appended to the event stream
as a `transition` entry, so the live feed and the forwarder carry it.
"""

from __future__ import annotations

import json
import time
from typing import Any

import redis

from alerts.auth import Principal
from vision.incidents import iso_utc

# action: (statuses it may start from, status it leads to)
TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    "acknowledge": (frozenset({"new"}), "acknowledged"),
    "dispatch": (frozenset({"new", "acknowledged"}), "dispatched"),
    "en_route": (frozenset({"dispatched"}), "en_route"),
    "resolve": (frozenset({"dispatched", "en_route"}), "resolved"),
    "false_alarm": (frozenset({"new", "acknowledged", "dispatched"}), "false_alarm"),
}
# Statuses whose evidence retention must keep.
UNDER_DISPATCH = frozenset({"dispatched", "en_route"})


class TransitionError(Exception):
    """The action is not allowed from the alert's current status."""


class Workflow:
    def __init__(
        self,
        client: redis.Redis,
        stream_key: str = "sharpeyes:events",
        stream_maxlen: int = 100_000,
        prefix: str = "sharpeyes",
    ) -> None:
        self.client = client
        self.stream_key = stream_key
        self.stream_maxlen = stream_maxlen
        self.prefix = prefix

    def _key(self, alert_id: str) -> str:
        return f"{self.prefix}:workflow:{alert_id}"

    def _squad_key(self, squad: str) -> str:
        return f"{self.prefix}:dispatches:{squad}"

    def state(self, alert_id: str) -> dict[str, Any]:
        raw = self.client.get(self._key(alert_id))
        if raw is None:
            return {"status": "new", "squad": None, "history": []}
        return json.loads(raw)

    def states(self, alert_ids: list[str]) -> dict[str, dict[str, Any]]:
        if not alert_ids:
            return {}
        raws = self.client.mget([self._key(alert_id) for alert_id in alert_ids])
        return {
            alert_id: json.loads(raw)
            if raw
            else {"status": "new", "squad": None, "history": []}
            for alert_id, raw in zip(alert_ids, raws, strict=True)
        }

    def transition(
        self,
        alert_id: str,
        action: str,
        who: Principal,
        note: str = "",
        squad: str | None = None,
    ) -> dict[str, Any]:
        """Apply `action`; raise TransitionError (HTTP 409) when it is not allowed
        from the current status. Returns the new workflow record."""
        sources, target = TRANSITIONS[action]
        key = self._key(alert_id)
        while True:
            with self.client.pipeline() as pipe:
                try:
                    pipe.watch(key)
                    raw = pipe.get(key)
                    state = (
                        json.loads(raw)
                        if raw
                        else {"status": "new", "squad": None, "history": []}
                    )
                    if state["status"] not in sources:
                        raise TransitionError(
                            f"cannot {action.replace('_', ' ')} an alert that is "
                            f"{state['status'].replace('_', ' ')}"
                        )
                    entry = {
                        "action": action,
                        "status": target,
                        "by": who.name,
                        "role": who.role,
                        "at": iso_utc(time.time()),
                        "note": note,
                    }
                    if squad is not None:
                        entry["squad"] = squad
                        state["squad"] = squad
                    state["status"] = target
                    state["history"].append(entry)
                    feed = {
                        "type": "transition",
                        "id": alert_id,
                        "state": target,
                        "seq": len(state["history"]),
                        "squad": state["squad"],
                        **entry,
                    }
                    pipe.multi()
                    pipe.set(key, json.dumps(state))
                    if action == "dispatch":
                        pipe.zadd(self._squad_key(squad), {alert_id: time.time()})
                    pipe.xadd(
                        self.stream_key,
                        {"transition": json.dumps(feed), "id": alert_id},
                        maxlen=self.stream_maxlen,
                        approximate=True,
                    )
                    pipe.execute()
                    return state
                except redis.WatchError:
                    continue

    def dispatched_to(self, squad: str) -> list[str]:
        return [
            raw.decode() for raw in self.client.zrevrange(self._squad_key(squad), 0, -1)
        ]

    def all_dispatched(self) -> list[str]:
        ids: set[str] = set()
        for key in self.client.scan_iter(f"{self.prefix}:dispatches:*"):
            ids.update(raw.decode() for raw in self.client.zrange(key, 0, -1))
        return sorted(ids)
