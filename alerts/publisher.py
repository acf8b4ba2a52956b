"""Background publisher: incident events leave the pipeline in order, and a Redis
outage loses none of them.

The inference core never waits on Redis. It submits events to a queue, and this
thread writes them to the AlertStore. While Redis is unreachable, events go to a
spool file on disk (JSON lines, flushed and fsynced per event) in order, and are
replayed once Redis responds again; the spool also survives a restart. Only
events beyond QUEUE_LIMIT waiting in memory at once would be dropped, and
logged. Replays
are safe to repeat because the store ignores an event id it has already stored.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
import time
from pathlib import Path

import redis

from alerts.store import AlertStore
from vision.incidents import IncidentEvent

log = logging.getLogger(__name__)

QUEUE_LIMIT = 100_000


class EventSpool:
    """Events waiting for Redis, oldest first, kept in memory and in a file."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.records: list[dict] = []
        if self.path.exists():
            for line in self.path.read_text().splitlines():
                try:
                    self.records.append(json.loads(line))
                except json.JSONDecodeError:
                    # A line cut short by a crash mid-write is the only way to
                    # get here; the events before it are intact.
                    log.error("skipping a damaged line in the spool %s", self.path)

    def __len__(self) -> int:
        return len(self.records)

    def append(self, record: dict) -> None:
        with self.path.open("a") as handle:
            handle.write(json.dumps(record, separators=(",", ":")) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        self.records.append(record)

    def drop_first(self, count: int) -> None:
        """Forget the `count` oldest records, rewriting the file atomically."""
        self.records = self.records[count:]
        partial = self.path.with_suffix(".tmp")
        partial.write_text(
            "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in self.records)
        )
        os.replace(partial, self.path)


class AlertPublisher(threading.Thread):
    """Write submitted events to Redis one by one, in submission order."""

    def __init__(
        self, store: AlertStore, spool_path: Path, retry_max_s: float = 10.0
    ) -> None:
        super().__init__(name="alert-publisher", daemon=True)
        self.store = store
        self.spool = EventSpool(spool_path)
        self.retry_max_s = retry_max_s
        self.published = 0
        self.duplicates = 0
        self.failures = 0
        self.rejected = 0
        self._queue: queue.Queue[IncidentEvent] = queue.Queue(QUEUE_LIMIT)
        self._stop_event = threading.Event()
        self._retry_at = 0.0
        self._retry_delay = 0.5
        if len(self.spool):
            log.info("%d events from an earlier run wait in the spool", len(self.spool))

    def submit(self, event: IncidentEvent) -> None:
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            self.rejected += 1
            log.error("alert queue full; dropped event %s", event.event_id)

    @property
    def pending(self) -> int:
        """Events not yet in Redis: queued, being written, or spooled."""
        return self._queue.unfinished_tasks + len(self.spool)

    def stop(self, drain_timeout_s: float = 5.0) -> None:
        """Stop after writing what is queued, waiting at most `drain_timeout_s`.

        Events still unwritten stay in the spool file for the next start.
        """
        deadline = time.monotonic() + drain_timeout_s
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.05)
        self._stop_event.set()
        self.join(timeout=max(0.1, deadline - time.monotonic()) + 1)
        if len(self.spool):
            log.warning(
                "%d events wait in the spool %s for the next start",
                len(self.spool),
                self.spool.path,
            )

    def run(self) -> None:
        while not self._stop_event.is_set():
            try:
                event = self._queue.get(timeout=0.2)
            except queue.Empty:
                event = None
            if event is not None:
                try:
                    self._accept(event)
                finally:
                    self._queue.task_done()
            if len(self.spool) and time.monotonic() >= self._retry_at:
                self._drain_spool()
        # Anything still queued goes to the spool, so nothing is lost on exit.
        while True:
            try:
                event = self._queue.get_nowait()
            except queue.Empty:
                break
            self.spool.append(self._spool_record(event))
            self._queue.task_done()

    def _accept(self, event: IncidentEvent) -> None:
        if len(self.spool):
            # Older events wait in the spool; this one goes behind them.
            self.spool.append(self._spool_record(event))
            return
        try:
            self._count(self.store.publish(event))
        except redis.RedisError as error:
            self.failures += 1
            log.warning(
                "Redis unavailable (%s); spooling events to %s", error, self.spool.path
            )
            self.spool.append(self._spool_record(event))
            self._retry_delay = 0.5
            self._retry_at = time.monotonic() + self._retry_delay

    def _drain_spool(self) -> None:
        done = 0
        try:
            for record in self.spool.records:
                self._count(self.store.publish_record(record))
                done += 1
        except redis.RedisError as error:
            self.failures += 1
            self._retry_delay = min(self.retry_max_s, self._retry_delay * 2)
            self._retry_at = time.monotonic() + self._retry_delay
            log.debug(
                "spool replay failed (%s); next try in %.1f s", error, self._retry_delay
            )
        if done:
            self.spool.drop_first(done)
            log.info("replayed %d spooled events; %d left", done, len(self.spool))

    def _count(self, stored: bool) -> None:
        if stored:
            self.published += 1
        else:
            self.duplicates += 1

    @staticmethod
    def _spool_record(event: IncidentEvent) -> dict:
        return {"event": event.to_dict(), "started_at_unix": event.started_at}
