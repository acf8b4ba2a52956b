"""Forward incident events to the county governance platform's webhook.

A Redis consumer group on the event stream gives at-least-once delivery: an
entry is acknowledged only after the platform responded with 2xx, or after it was
moved to the dead-letter list. Entries a crashed consumer left pending are
reclaimed with XAUTOCLAIM once idle for `reclaim_idle_s`. Each POST carries the
event JSON, an HMAC-SHA256 signature of the body in `X-Sharpeyes-Signature`
(`sha256=<hex>`), and an `Idempotency-Key` of incident id, state and sequence
(for a workflow transition: its status and number in the alert's history),
so the platform can apply each event once however often it is delivered.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
from dataclasses import dataclass

import httpx
import redis

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Sharpeyes-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"


def sign(body: bytes, secret: str) -> str:
    """Return the signature header value for a request body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def idempotency_key(event: dict) -> str:
    return f"{event['id']}:{event['state']}:{event['seq']}"


@dataclass
class ForwarderSettings:
    url: str
    secret: str
    stream_key: str = "sharpeyes:events"
    group: str = "governance"
    consumer: str = "forwarder-1"
    timeout_s: float = 10.0
    retry_initial_s: float = 1.0
    retry_max_s: float = 300.0
    max_attempts: int = 20
    reclaim_idle_s: float = 60.0
    dead_letter_key: str = "sharpeyes:dead-letter"


class Forwarder(threading.Thread):
    """Deliver every stream entry to the webhook, in order, until stopped."""

    def __init__(self, client: redis.Redis, settings: ForwarderSettings) -> None:
        super().__init__(name="forwarder", daemon=True)
        self.client = client
        self.settings = settings
        self.delivered = 0
        self.dead_lettered = 0
        self._stop_event = threading.Event()
        self._http = httpx.Client(timeout=settings.timeout_s)
        self._attempts: dict[bytes, int] = {}

    def stop(self) -> None:
        self._stop_event.set()

    def ensure_group(self) -> None:
        try:
            self.client.xgroup_create(
                self.settings.stream_key, self.settings.group, id="0", mkstream=True
            )
        except redis.ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise

    def run(self) -> None:
        delay = self.settings.retry_initial_s
        while not self._stop_event.is_set():
            try:
                self.ensure_group()
                while not self._stop_event.is_set():
                    self._step()
                    delay = self.settings.retry_initial_s
            except redis.RedisError as error:
                log.warning(
                    "forwarder lost Redis (%s); retrying in %.1f s", error, delay
                )
                self._stop_event.wait(delay)
                delay = min(self.settings.retry_max_s, delay * 2)
        self._http.close()

    def _step(self) -> None:
        settings = self.settings
        # Entries of a consumer that crashed mid-delivery come back after a while.
        _, reclaimed, *_ = self.client.xautoclaim(
            settings.stream_key,
            settings.group,
            settings.consumer,
            min_idle_time=int(settings.reclaim_idle_s * 1000),
            start_id="0-0",
            count=10,
        )
        # Our own pending entries first (a failed delivery is retried in order),
        # then new ones.
        pending = self.client.xreadgroup(
            settings.group, settings.consumer, {settings.stream_key: "0"}, count=10
        )
        entries = pending[0][1] if pending else []
        entries = reclaimed + [e for e in entries if e not in reclaimed]
        if not entries:
            new = self.client.xreadgroup(
                settings.group,
                settings.consumer,
                {settings.stream_key: ">"},
                count=10,
                block=1000,
            )
            entries = new[0][1] if new else []
        for entry_id, fields in entries:
            if self._stop_event.is_set():
                return
            if not self._deliver(entry_id, fields):
                return  # wait before retrying, keeping order

    def _deliver(self, entry_id: bytes, fields: dict) -> bool:
        settings = self.settings
        # Incident events and workflow transitions both go to the platform.
        body = fields.get(b"event") or fields[b"transition"]
        event = json.loads(body)
        key = idempotency_key(event)
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(body, settings.secret),
            IDEMPOTENCY_HEADER: key,
        }
        try:
            response = self._http.post(settings.url, content=body, headers=headers)
            ok = 200 <= response.status_code < 300
            reason = f"HTTP {response.status_code}"
        except httpx.HTTPError as error:
            ok, reason = False, f"{type(error).__name__}: {error}"
        if ok:
            self.client.xack(settings.stream_key, settings.group, entry_id)
            self._attempts.pop(entry_id, None)
            self.delivered += 1
            return True

        attempts = self._attempts.get(entry_id, 0) + 1
        self._attempts[entry_id] = attempts
        if attempts >= settings.max_attempts:
            record = {"event": event, "reason": reason, "attempts": attempts}
            pipe = self.client.pipeline()
            pipe.rpush(settings.dead_letter_key, json.dumps(record))
            pipe.xack(settings.stream_key, settings.group, entry_id)
            pipe.execute()
            self._attempts.pop(entry_id, None)
            self.dead_lettered += 1
            log.error(
                "event %s moved to the dead-letter list after %d tries: %s",
                key,
                attempts,
                reason,
            )
            return True
        delay = min(
            settings.retry_max_s, settings.retry_initial_s * 2 ** (attempts - 1)
        )
        log.warning(
            "delivering event %s failed (%s); try %d, next in %.1f s",
            key,
            reason,
            attempts,
            delay,
        )
        self._stop_event.wait(delay)
        return False


def replay(
    client: redis.Redis,
    settings: ForwarderSettings,
    since_ms: int,
    until_ms: int,
) -> int:
    """Post again every stream entry between two times (Unix milliseconds, from
    the entry ids); return how many were delivered. The receiver's idempotency
    check keeps replays from being applied twice."""
    delivered = 0
    with httpx.Client(timeout=settings.timeout_s) as http:
        for _, fields in client.xrange(
            settings.stream_key, f"{since_ms}-0", f"{until_ms}-9999999"
        ):
            body = fields[b"event"]
            event = json.loads(body)
            response = http.post(
                settings.url,
                content=body,
                headers={
                    "Content-Type": "application/json",
                    SIGNATURE_HEADER: sign(body, settings.secret),
                    IDEMPOTENCY_HEADER: idempotency_key(event),
                },
            )
            if 200 <= response.status_code < 300:
                delivered += 1
            else:
                log.warning(
                    "replay of %s failed: HTTP %d",
                    idempotency_key(event),
                    response.status_code,
                )
    return delivered
