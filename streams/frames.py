"""Frame hand-over between a camera reader and the inference core."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Frame:
    """One decoded frame chosen for analysis.

    `monotonic_s` is the estimated capture time on this host's monotonic clock
    (see StreamClock), used for durations; `wall_s` is the same instant in Unix
    seconds, used for timestamps. `media_s` is the presentation time from the
    first frame of the current connection, when the stream carries timestamps.
    `received_s` is when the decoder put the frame out, on the monotonic clock;
    latencies count from it.
    """

    camera_id: str
    image: np.ndarray
    monotonic_s: float
    wall_s: float
    media_s: float | None
    index: int
    received_s: float

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    @property
    def height(self) -> int:
        return int(self.image.shape[0])


class LatestFrameSlot:
    """A one-frame mailbox: a new frame replaces one that was not yet taken.

    This is what keeps latency from building up when the detector is slower than
    the cameras: frames are dropped and counted, never queued.
    """

    def __init__(self, ready: threading.Event | None = None) -> None:
        self._lock = threading.Lock()
        self._frame: Frame | None = None
        self._ready = ready
        self.dropped = 0

    def put(self, frame: Frame) -> None:
        with self._lock:
            if self._frame is not None:
                self.dropped += 1
            self._frame = frame
        if self._ready is not None:
            self._ready.set()

    def take(self) -> Frame | None:
        with self._lock:
            frame, self._frame = self._frame, None
        return frame

    def clear(self) -> None:
        with self._lock:
            self._frame = None


class FrameSampler:
    """Pick frames at a target rate from a stream of timestamps in seconds.

    A frame is due once its time reaches the next slot; slots advance by one
    period, and skip ahead after a gap so that a burst is not analysed to catch up.
    """

    def __init__(self, fps: float) -> None:
        self.period = 1.0 / fps
        self._next: float | None = None

    def reset(self) -> None:
        self._next = None

    def due(self, t: float) -> bool:
        if self._next is None or t < self._next - 10 * self.period:
            # First frame, or the clock went backwards (a new stream): start over.
            self._next = t
        if t + 1e-6 < self._next:
            return False
        self._next += self.period
        if self._next <= t:
            self._next = t + self.period
        return True


class RateMeter:
    """Events per second over a sliding window of monotonic time."""

    def __init__(self, window_s: float = 5.0) -> None:
        self.window_s = window_s
        self._times: deque[float] = deque()
        self._lock = threading.Lock()

    def tick(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            self._times.append(now)
            self._trim(now)

    def rate(self, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        with self._lock:
            self._trim(now)
            return len(self._times) / self.window_s

    def _trim(self, now: float) -> None:
        while self._times and self._times[0] < now - self.window_s:
            self._times.popleft()


class StreamClock:
    """Map a stream's presentation times onto this host's monotonic clock.

    A frame cannot arrive before it was captured, so the smallest seen value of
    (arrival - pts) is the best estimate of the offset between the two clocks: it
    comes from the frame that waited least in network and decoder buffers. This
    keeps the frames that FFmpeg buffers while probing a new stream, which arrive
    in a burst, spread out on their real timeline. When the stream falls more than
    MAX_LAG_S behind that estimate (camera clock drift or a timestamp jump), the
    offset is taken from the current frame again. Mapped times never go backwards.
    """

    MAX_LAG_S = 5.0

    def __init__(self) -> None:
        self._offset: float | None = None
        self._last: float | None = None

    def reset(self) -> None:
        self._offset = None
        self._last = None

    @property
    def offset(self) -> float | None:
        """Monotonic time that corresponds to presentation time 0."""
        return self._offset

    def map(self, pts_s: float | None, arrival_s: float) -> float:
        if pts_s is None:
            mapped = arrival_s
        else:
            candidate = arrival_s - pts_s
            if (
                self._offset is None
                or candidate < self._offset
                or candidate - self._offset > self.MAX_LAG_S
            ):
                self._offset = candidate
            mapped = pts_s + self._offset
        if self._last is not None and mapped < self._last:
            mapped = self._last
        self._last = mapped
        return mapped
