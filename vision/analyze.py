"""Offline twin of a camera: run its decoder, detector and rules on a recorded file.

The file is read as fast as the CPU allows, but every rule runs on the file's own
timeline, so its incidents match what a live camera would have produced.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path

from sharpeyes.config import CameraConfig
from streams.frames import FrameSampler
from streams.reader import StreamSettings, decode_video, open_stream
from vision.detector import Detector
from vision.incidents import IncidentEvent
from vision.rules import CameraAnalyser, Observation

log = logging.getLogger(__name__)


def analyze_file(
    path: Path,
    camera_id: str,
    camera: CameraConfig,
    detector: Detector,
    emit: Callable[[IncidentEvent], None],
    start_wall: float | None = None,
    counts: dict | None = None,
) -> int:
    """Analyse `path` as camera `camera_id` and pass each incident event to `emit`.

    Event timestamps are `start_wall` plus the media time; by default it is the
    file's creation_time tag, or now when the file has none. Incidents
    still open at the end of the file are closed there. When `counts` is a dict,
    it receives the line counts at the end. Returns the number of frames analysed.
    """
    analyser = CameraAnalyser(camera_id, camera)
    sampler = FrameSampler(camera.detect_fps)
    decode_errors = 0

    def count_error(error: Exception) -> None:
        nonlocal decode_errors
        decode_errors += 1

    analysed = 0
    last_obs: Observation | None = None
    container = open_stream(StreamSettings(url=str(path)))
    if start_wall is None:
        start_wall = recording_start(container) or time.time()
    try:
        stream = container.streams.video[0]
        origin = (
            float(stream.start_time * stream.time_base) if stream.start_time else 0.0
        )
        fallback_rate = float(stream.average_rate or 25)
        for index, frame in enumerate(decode_video(container, count_error)):
            if frame.time is not None:
                media_s = float(frame.time) - origin
            else:
                media_s = index / fallback_rate
            if not sampler.due(media_s):
                continue
            image = frame.to_ndarray(format="bgr24")
            detections = detector.detect([image])[0]
            last_obs = Observation(
                t=media_s,
                wall=start_wall + media_s,
                width=frame.width,
                height=frame.height,
                media_s=media_s,
                image=image,
            )
            analysed += 1
            for event in analyser.process(detections, last_obs):
                emit(event)
    finally:
        container.close()

    if last_obs is not None:
        for event in analyser.finish(last_obs, "end of file"):
            emit(event)
    if counts is not None:
        counts.update(analyser.line_counts())
    if decode_errors:
        log.warning("%s: %d packets failed to decode", path, decode_errors)
    return analysed


def recording_start(container) -> float | None:
    """Return the file's creation_time tag as Unix seconds, if it has a usable one."""
    from datetime import datetime

    tag = container.metadata.get("creation_time")
    if not tag:
        return None
    try:
        moment = datetime.fromisoformat(tag.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None or moment.year < 2000:
        return None
    return moment.timestamp()


def print_event(event: IncidentEvent) -> None:
    print(json.dumps(event.to_dict(), ensure_ascii=False), flush=True)
