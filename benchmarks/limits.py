"""The two limits of a machine for the pipeline: decode-only and inference-only.

Both run flat out on every core, with the settings the service uses, so that
the pipeline's camera count can be compared with the count these costs allow.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from models.registry import ModelSpec
from streams.reader import StreamSettings, decode_video, open_stream
from vision.detector import Detector, letterbox_into


@dataclass(frozen=True)
class Throughput:
    """Items per second over all threads, and the core-seconds one item cost."""

    label: str
    per_second: float
    core_seconds: float


def process_cpu_s() -> float:
    times = os.times()
    return times.user + times.system


def run_threads(count: int, target, seconds: float) -> tuple[int, float, float]:
    """Run `target(deadline)` in `count` threads; return items, wall and CPU s."""
    done: list[int] = []
    lock = threading.Lock()

    def work() -> None:
        items = target(time.monotonic() + seconds)
        with lock:
            done.append(items)

    threads = [threading.Thread(target=work) for _ in range(count)]
    cpu_before, started = process_cpu_s(), time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(done), time.monotonic() - started, process_cpu_s() - cpu_before


def decode_throughput(clip: Path, seconds: float, decode_threads: int) -> Throughput:
    """Decode `clip` in one thread per core, restarting it at its end."""
    cores = os.cpu_count() or 1

    def decode(deadline: float) -> int:
        frames = 0
        while time.monotonic() < deadline:
            container = open_stream(StreamSettings(url=str(clip)))
            try:
                for _ in decode_video(container, threads=decode_threads):
                    frames += 1
                    if time.monotonic() >= deadline:
                        break
            finally:
                container.close()
        return frames

    frames, wall, cpu = run_threads(cores, decode, seconds)
    return Throughput(
        f"decode, {cores} threads, {decode_threads or 'auto'} FFmpeg threads each",
        frames / wall,
        cpu / frames,
    )


def rtsp_decode_cost(urls: list[str], seconds: float) -> Throughput:
    """Decode live RTSP streams, one thread each, and return the CPU one frame
    costs, receiving and depacketising included.

    A live stream cannot go faster than its camera, so the rate over all cores
    is derived from that cost. The first 3 s, while streams connect, are not
    counted.
    """
    cores = os.cpu_count() or 1
    counts = [0] * len(urls)
    stop = threading.Event()

    def decode(index: int) -> None:
        container = open_stream(StreamSettings(url=urls[index]))
        try:
            for _ in decode_video(container):
                counts[index] += 1
                if stop.is_set():
                    break
        finally:
            container.close()

    threads = [
        threading.Thread(target=decode, args=(i,), daemon=True)
        for i in range(len(urls))
    ]
    for thread in threads:
        thread.start()
    time.sleep(3.0)
    frames_before, cpu_before = sum(counts), process_cpu_s()
    time.sleep(seconds)
    frames, cpu = sum(counts) - frames_before, process_cpu_s() - cpu_before
    stop.set()
    for thread in threads:
        thread.join(timeout=10)
    cost = cpu / max(frames, 1)
    return Throughput(
        f"decode of {len(urls)} RTSP streams, 1 FFmpeg thread each",
        cores / cost,
        cost,
    )


def sample_frames(clip: Path, count: int) -> list[np.ndarray]:
    """Return `count` BGR frames spread over the first seconds of `clip`."""
    frames = []
    with av.open(str(clip)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index % 5 == 0:
                frames.append(frame.to_ndarray(format="bgr24"))
            if len(frames) == count:
                break
    return frames


def inference_throughput(
    spec: ModelSpec,
    frames: list[np.ndarray],
    workers: int,
    threads: int,
    batch: int,
    seconds: float,
) -> Throughput:
    """Run the model alone on letterboxed `frames` from `workers` threads.

    The session and input canvas are the detector's own, so the cost is the one
    the pipeline pays. Letterboxing is done once beforehand and not timed.
    """
    detector = Detector(
        spec, max_batch=batch, workers=workers, intra_op_threads=threads
    )
    canvas = detector.canvas_for(*frames[0].shape[:2])
    session = detector.session
    name = session.get_inputs()[0].name
    inputs = np.empty((batch, 3, *canvas), np.float32)
    for i in range(batch):
        letterbox_into(frames[i % len(frames)], inputs[i])
    session.run(None, {name: inputs})

    def infer(deadline: float) -> int:
        images = 0
        while time.monotonic() < deadline:
            session.run(None, {name: inputs})
            images += batch
        return images

    images, wall, cpu = run_threads(workers, infer, seconds)
    return Throughput(
        f"inference at {canvas[0]}x{canvas[1]}, {workers} workers x {threads} "
        f"threads, batch {batch}",
        images / wall,
        cpu / images,
    )


def best_inference(
    spec: ModelSpec, frames: list[np.ndarray], seconds: float
) -> tuple[Throughput, list[Throughput]]:
    """Try the worker, thread and batch layouts that fit this machine's cores;
    return the fastest and all of them."""
    cores = os.cpu_count() or 1
    layouts = {(cores, 1, 1), (cores, 1, 4), (1, cores, 1), (1, cores, 8)}
    if not spec.dynamic_batch:
        layouts = {(w, t, 1) for w, t, _ in layouts}
    tried = [
        inference_throughput(spec, frames, workers, threads, batch, seconds)
        for workers, threads, batch in sorted(layouts)
    ]
    return max(tried, key=lambda result: result.per_second), tried
