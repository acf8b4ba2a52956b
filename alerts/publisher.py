"""Background publisher: incident events leave the pipeline in order, with retries.

The inference core never waits on Redis. It submits events to a queue, and this
thread writes them to the AlertStore, retrying with backoff while Redis is
unreachable.
"""

from __future__ import annotations

import logging
import queue
import threading
import time

import redis

from alerts.store import AlertStore
from vision.incidents import IncidentEvent

log = logging.getLogger(__name__)

QUEUE_LIMIT = 100_000


class AlertPublisher(threading.Thread):
    """Write submitted events to Redis one by one, in submission order."""

    def __init__(self, store: AlertStore, retry_max_s: float = 10.0) -> None:
        super().__init__(name="alert-publisher", daemon=True)
        self.store = store
        self.retry_max_s = retry_max_s
        self.published = 0
        self.duplicates = 0
        self.failures = 0
        self.rejected = 0
        self._queue: queue.Queue[IncidentEvent] = queue.Queue(QUEUE_LIMIT)
        self._stop_event = threading.Event()

    def submit(self, event: IncidentEvent) -> None:
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            self.rejected += 1
            # NOTE: events beyond QUEUE_LIMIT during a long Redis outage are lost;
            # a disk spool would keep them.
            log.error("alert queue full; dropped event %s", event.event_id)

    @property
    def pending(self) -> int:
        """Events submitted and not yet written, including one being written."""
        return self._queue.unfinished_tasks

    def stop(self, drain_timeout_s: float = 5.0) -> None:
        """Stop after writing what is queued, waiting at most `drain_timeout_s`."""
        deadline = time.monotonic() + drain_timeout_s
        while self.pending and time.monotonic() < deadline and self.is_alive():
            time.sleep(0.05)
        self._stop_event.set()
        self.join(timeout=max(0.1, deadline - time.monotonic()) + 1)
        if self.pending:
            log.error("%d alert events were not written before exit", self.pending)

    def run(self) -> None:
        while not self._stop_event.is_set():
            try:
                event = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            try:
                self._write(event)
            finally:
                self._queue.task_done()

    def _write(self, event: IncidentEvent) -> None:
        delay = 0.2
        while True:
            try:
                if self.store.publish(event):
                    self.published += 1
                else:
                    self.duplicates += 1
                return
            except redis.RedisError as error:
                self.failures += 1
                log.warning(
                    "writing event %s to Redis failed (%s); retrying in %.1f s",
                    event.event_id,
                    error,
                    delay,
                )
                if self._stop_event.wait(delay):
                    log.error("stopped before event %s was written", event.event_id)
                    return
                delay = min(self.retry_max_s, delay * 2)
