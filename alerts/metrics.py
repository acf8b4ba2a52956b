"""Prometheus metrics built at scrape time from the status the pipeline writes to
Redis, so `/metrics` works in `sharpeyes run` and in a separate `sharpeyes api`."""

from __future__ import annotations

import time
from collections.abc import Iterator

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry

from alerts.store import AlertStore

CAMERA_STATES = (
    "connecting",
    "streaming",
    "degraded",
    "stalled",
    "reconnecting",
    "failed",
    "stopped",
)
CAMERA_COUNTERS = (
    ("frames_received", "Frames decoded from the camera."),
    ("frames_analysed", "Frames the detector analysed."),
    ("frames_dropped", "Sampled frames replaced before the detector took them."),
    ("decode_errors", "Packets or frames that failed to decode."),
    ("reconnects", "Times the stream was reopened."),
)


class PipelineCollector(Collector):
    def __init__(self, store: AlertStore, stale_after_s: float) -> None:
        self.store = store
        self.stale_after_s = stale_after_s

    def collect(self) -> Iterator[Metric]:
        statuses, heartbeat = self.store.read_camera_status()
        pipeline = self.store.read_pipeline_stats()
        now = time.time()
        up = heartbeat is not None and now - heartbeat < self.stale_after_s

        yield GaugeMetricFamily(
            "sharpeyes_pipeline_up",
            "1 when the pipeline wrote its status within the stale limit.",
            value=1.0 if up else 0.0,
        )
        for name, help_text in CAMERA_COUNTERS:
            family = CounterMetricFamily(
                f"sharpeyes_camera_{name}", help_text, labels=["camera"]
            )
            for camera_id, status in statuses.items():
                family.add_metric([camera_id], float(status.get(name, 0)))
            yield family

        state = GaugeMetricFamily(
            "sharpeyes_camera_state",
            "1 for the camera's current reader state.",
            labels=["camera", "state"],
        )
        age = GaugeMetricFamily(
            "sharpeyes_camera_last_frame_age_seconds",
            "Seconds since the camera's last decoded frame.",
            labels=["camera"],
        )
        fps_received = GaugeMetricFamily(
            "sharpeyes_camera_fps_received",
            "Decoded frames per second over the last 5 s.",
            labels=["camera"],
        )
        fps_analysed = GaugeMetricFamily(
            "sharpeyes_camera_fps_analysed",
            "Analysed frames per second over the last 5 s.",
            labels=["camera"],
        )
        latency = GaugeMetricFamily(
            "sharpeyes_camera_latency_seconds",
            "Seconds from capture to rules done for the latest analysed frame.",
            labels=["camera"],
        )
        for camera_id, status in statuses.items():
            current = status.get("state", "stopped") if up else "stopped"
            for name in CAMERA_STATES:
                state.add_metric([camera_id, name], 1.0 if name == current else 0.0)
            if status.get("last_frame_at"):
                age.add_metric([camera_id], now - status["last_frame_at"])
            fps_received.add_metric([camera_id], status.get("fps_received", 0.0))
            fps_analysed.add_metric([camera_id], status.get("fps_analysed", 0.0))
            if status.get("latency_s") is not None:
                latency.add_metric([camera_id], status["latency_s"])
        yield from (state, age, fps_received, fps_analysed, latency)

        crossings = CounterMetricFamily(
            "sharpeyes_line_crossings",
            "Tracked objects that crossed a counting line, since the camera started.",
            labels=["camera", "line", "direction", "class"],
        )
        for camera_id, status in statuses.items():
            for line, directions in status.get("line_counts", {}).items():
                for direction, by_class in directions.items():
                    for label, count in by_class.items():
                        crossings.add_metric([camera_id, line, direction, label], count)
        yield crossings

        core = pipeline.get("core", {})
        yield CounterMetricFamily(
            "sharpeyes_detector_batches",
            "Detector runs.",
            value=float(core.get("batches", 0)),
        )
        yield CounterMetricFamily(
            "sharpeyes_detector_frames",
            "Frames passed to the detector.",
            value=float(core.get("frames", 0)),
        )
        yield CounterMetricFamily(
            "sharpeyes_detector_inference_seconds",
            "Time spent in detector runs, pre- and post-processing included.",
            value=float(core.get("inference_s", 0.0)),
        )
        sizes = CounterMetricFamily(
            "sharpeyes_detector_batch_size_runs",
            "Detector runs by batch size.",
            labels=["size"],
        )
        for size, count in sorted(core.get("batch_sizes", {}).items()):
            sizes.add_metric([str(size)], float(count))
        yield sizes

        latency = core.get("latency")
        if latency:
            buckets = [(bound, float(n)) for bound, n in latency["buckets"].items()]
            buckets.append(("+Inf", float(latency["count"])))
            yield HistogramMetricFamily(
                "sharpeyes_frame_latency_seconds",
                "Seconds from a frame's arrival at its reader to the rules being "
                "done with it, over all cameras.",
                buckets=buckets,
                sum_value=latency["sum"],
            )

        publisher = pipeline.get("publisher", {})
        yield CounterMetricFamily(
            "sharpeyes_alert_events_published",
            "Incident events written to Redis.",
            value=float(publisher.get("published", 0)),
        )
        yield GaugeMetricFamily(
            "sharpeyes_alert_events_pending",
            "Incident events waiting to be written to Redis.",
            value=float(publisher.get("pending", 0)),
        )


def build_registry(store: AlertStore, stale_after_s: float) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(PipelineCollector(store, stale_after_s))
    return registry
