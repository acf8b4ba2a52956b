"""Evidence clips cut from a ring of encoded packets, without re-encoding.

A camera's reader (or, with a sub-stream, a second reader of the main stream)
adds every demuxed video packet to a PacketRing. The ring keeps whole GOPs
covering at least the last `seconds`, so a clip can always start at the keyframe
at or before the requested start. Clips are written by the thread that owns the
stream, while its input container is open, because the output stream copies
its codec parameters from the input stream.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import av

from streams.masking import write_masked_clip

log = logging.getLogger(__name__)


@dataclass
class RingPacket:
    packet: av.Packet
    arrival_mono: float


@dataclass
class ClipRequest:
    """A clip to write once the stream has passed `end_mono` (monotonic seconds)."""

    start_mono: float
    end_mono: float
    path: Path
    on_done: Callable[[dict], None]
    meta: dict = field(default_factory=dict)
    masks: list | None = None


class PacketRing:
    """Whole GOPs of one stream session, trimmed to the last `seconds`."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._gops: deque[list[RingPacket]] = deque()
        self._requests: list[ClipRequest] = []
        self._lock = threading.Lock()

    def reset(self) -> None:
        """Forget the packets of the previous session (new codec parameters)."""
        with self._lock:
            self._gops.clear()

    def request(self, request: ClipRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def add(self, packet: av.Packet, now_mono: float) -> None:
        if packet.size == 0:
            return
        item = RingPacket(packet, now_mono)
        with self._lock:
            if packet.is_keyframe or not self._gops:
                if not packet.is_keyframe and not self._gops:
                    return  # a clip must start at a keyframe; wait for one
                self._gops.append([item])
            else:
                self._gops[-1].append(item)
            cutoff = now_mono - self.seconds
            while len(self._gops) > 1 and self._gops[1][0].arrival_mono <= cutoff:
                self._gops.popleft()

    def due(self, now_mono: float) -> list[ClipRequest]:
        with self._lock:
            ready = [r for r in self._requests if r.end_mono <= now_mono]
            self._requests = [r for r in self._requests if r.end_mono > now_mono]
        return ready

    def pending(self) -> list[ClipRequest]:
        with self._lock:
            ready, self._requests = self._requests, []
        return ready

    def select(self, start_mono: float, end_mono: float) -> list[RingPacket]:
        """Packets from the keyframe at or before `start_mono` up to `end_mono`."""
        with self._lock:
            gops = list(self._gops)
        first = 0
        for index, gop in enumerate(gops):
            if gop[0].arrival_mono <= start_mono:
                first = index
        chosen = [item for gop in gops[first:] for item in gop]
        return [item for item in chosen if item.arrival_mono <= end_mono]


def write_clip(
    packets: list[RingPacket],
    template: av.video.stream.VideoStream,
    path: Path,
    masks: list | None = None,
) -> dict:
    """Remux `packets` into an MP4 at `path`; return its manifest fields.

    Timestamps are shifted so the clip starts at 0. With `masks`, the clip is
    decoded, masked and re-encoded instead (see streams.masking). Raises
    ValueError when there is nothing to write.
    """
    if not packets:
        raise ValueError("no packets in the requested window")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".part")
    first = packets[0].packet
    if masks:
        written = write_masked_clip(packets, template, partial, masks)
        partial.replace(path)
        return {
            "packets": written,
            "bytes": path.stat().st_size,
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "starts_with_keyframe": bool(first.is_keyframe),
            "masked": True,
            "first_arrival_mono": packets[0].arrival_mono,
            "last_arrival_mono": packets[-1].arrival_mono,
        }
    base = first.dts if first.dts is not None else (first.pts or 0)
    written = 0
    with av.open(str(partial), mode="w", format="mp4") as output:
        stream = output.add_stream_from_template(template)
        last_dts = None
        for item in packets:
            packet = item.packet
            if packet.pts is None and packet.dts is None:
                continue
            dts = packet.dts if packet.dts is not None else packet.pts
            if last_dts is not None and dts <= last_dts:
                continue  # a repeated timestamp would make the muxer fail
            last_dts = dts
            # Mux a copy: muxing rescales a packet's timestamps in place, and the
            # ring's packet may go into another clip later.
            copy = av.Packet(bytes(packet))
            copy.time_base = packet.time_base
            copy.pts = None if packet.pts is None else packet.pts - base
            copy.dts = dts - base
            copy.is_keyframe = packet.is_keyframe
            copy.stream = stream
            output.mux(copy)
            written += 1
    partial.replace(path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return {
        "packets": written,
        "bytes": path.stat().st_size,
        "sha256": digest,
        "starts_with_keyframe": bool(first.is_keyframe),
        "first_arrival_mono": packets[0].arrival_mono,
        "last_arrival_mono": packets[-1].arrival_mono,
    }


def finish_requests(
    ring: PacketRing,
    requests: list[ClipRequest],
    template: av.video.stream.VideoStream,
    camera_log: logging.Logger,
) -> None:
    """Write each request's clip and hand its manifest to the request's callback."""
    wall_minus_mono = time.time() - time.monotonic()
    for request in requests:
        manifest = dict(request.meta)
        manifest.update(
            requested_start=request.start_mono + wall_minus_mono,
            requested_end=request.end_mono + wall_minus_mono,
        )
        try:
            result = write_clip(
                ring.select(request.start_mono, request.end_mono),
                template,
                request.path,
                request.masks,
            )
        except (ValueError, OSError, av.error.FFmpegError) as error:
            camera_log.warning(
                "evidence clip %s not written: %s", request.path.name, error
            )
            manifest.update(error=str(error))
            request.on_done(manifest)
            continue
        manifest.update(
            path=request.path.name,
            start=result.pop("first_arrival_mono") + wall_minus_mono,
            end=result.pop("last_arrival_mono") + wall_minus_mono,
            **result,
        )
        camera_log.info(
            "evidence clip %s written (%d packets, %d bytes)",
            request.path.name,
            manifest["packets"],
            manifest["bytes"],
        )
        request.on_done(manifest)
