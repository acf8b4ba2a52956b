"""Soak benchmark: several cameras for many minutes, with a forced reconnect.

    .venv/bin/python -m benchmarks.soak --minutes 10 --cameras 4

Serves real clips over RTSP on 127.0.0.1 through fault proxies, runs
`sharpeyes run`, drops one camera's connection every --reconnect-every seconds
(rotating through the cameras), and samples the service every 5 s: RSS, and per
camera the capture-to-rules latency of the latest frame, analysed fps and state.
It prints a summary and appends it to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from tests.conftest import MEDIA, MODELS, start_rtsp_server
from tests.faultproxy import FaultProxy
from tests.running import RunningService

RESULTS = Path(__file__).with_name("RESULTS.md")
CLIPS = ["uk_motorway_cctv_lorries.mp4", "pets09_s2l1_plaza.mp4"]


def slope_per_hour(times: list[float], values: list[float]) -> float:
    """Least-squares slope of values over times (seconds), per hour."""
    mean_t, mean_v = statistics.fmean(times), statistics.fmean(values)
    numerator = sum(
        (t - mean_t) * (v - mean_v) for t, v in zip(times, values, strict=True)
    )
    denominator = sum((t - mean_t) ** 2 for t in times)
    return numerator / denominator * 3600 if denominator else 0.0


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def run(
    minutes: float, cameras: int, reconnect_every: float, detect_fps: float
) -> dict:
    work = Path(tempfile.mkdtemp(prefix="sharpeyes-soak-"))
    mounts = {f"clip{i}": MEDIA / CLIPS[i % len(CLIPS)] for i in range(cameras)}
    server = start_rtsp_server(mounts)
    proxies = [FaultProxy(server.port) for _ in range(cameras)]
    config = {
        f"cam{i}": {
            "url": f"rtsp://127.0.0.1:{proxy.port}/clip{i}",
            "detect_fps": detect_fps,
        }
        for i, proxy in enumerate(proxies)
    }
    service = RunningService(work, MODELS, config).start()
    samples = []
    try:
        service.wait_streaming(config, timeout=60)
        started = time.monotonic()
        next_drop = reconnect_every
        drops = 0
        while (elapsed := time.monotonic() - started) < minutes * 60:
            if elapsed >= next_drop:
                proxies[drops % cameras].drop_connections()
                drops += 1
                next_drop += reconnect_every
            statuses = service.cameras()
            samples.append(
                {
                    "t": elapsed,
                    "rss_mb": service.rss_bytes() / 2**20,
                    "latency_s": [s["latency_s"] for s in statuses.values()],
                    "fps_analysed": [s["fps_analysed"] for s in statuses.values()],
                    "states": [s["state"] for s in statuses.values()],
                    "dropped": sum(s["frames_dropped"] for s in statuses.values()),
                    "reconnects": sum(s["reconnects"] for s in statuses.values()),
                }
            )
            time.sleep(5)
    finally:
        service.stop()
        for proxy in proxies:
            proxy.close()
        server.stop()

    warm = [s for s in samples if s["t"] >= 60] or samples
    per_minute = {}
    for sample in samples:
        minute = int(sample["t"] // 60)
        values = [v for v in sample["latency_s"] if v is not None]
        per_minute.setdefault(minute, []).extend(values)
    latency_by_minute = {
        minute: (round(percentile(v, 0.5), 3), round(percentile(v, 0.95), 3))
        for minute, v in sorted(per_minute.items())
        if v
    }
    all_latency = [v for s in warm for v in s["latency_s"] if v is not None]
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.node()} {platform.machine()}, {_cpus()} CPUs",
        "command": (
            f"python -m benchmarks.soak --minutes {minutes:g} --cameras {cameras} "
            f"--reconnect-every {reconnect_every:g} --detect-fps {detect_fps:g}"
        ),
        "minutes": minutes,
        "cameras": cameras,
        "forced_reconnects": drops,
        "reconnects_total": samples[-1]["reconnects"] if samples else 0,
        "rss_start_mb": round(warm[0]["rss_mb"], 1),
        "rss_end_mb": round(warm[-1]["rss_mb"], 1),
        "rss_slope_mb_per_hour": round(
            slope_per_hour([s["t"] for s in warm], [s["rss_mb"] for s in warm]), 2
        ),
        "latency_p50_s": round(percentile(all_latency, 0.5), 3),
        "latency_p95_s": round(percentile(all_latency, 0.95), 3),
        "latency_by_minute_p50_p95": latency_by_minute,
        "mean_fps_analysed": round(
            statistics.fmean(v for s in warm for v in s["fps_analysed"]), 2
        ),
        "frames_dropped": samples[-1]["dropped"] if samples else 0,
    }


def _cpus() -> int:
    import os

    return os.cpu_count() or 0


def record(result: dict) -> None:
    minutes = ", ".join(
        f"{m}: {p50}/{p95}"
        for m, (p50, p95) in result["latency_by_minute_p50_p95"].items()
    )
    row = (
        f"\n### Soak {result['date']}\n\n"
        f"- Command: `{result['command']}`\n"
        f"- Machine: {result['machine']}\n"
        f"- Cameras: {result['cameras']} for {result['minutes']:g} min; forced "
        f"reconnects {result['forced_reconnects']}, reconnects in total "
        f"{result['reconnects_total']}\n"
        f"- RSS: {result['rss_start_mb']} MB after the first minute, "
        f"{result['rss_end_mb']} MB at the end; slope "
        f"{result['rss_slope_mb_per_hour']} MB/h\n"
        f"- Capture-to-rules latency of the latest frame, sampled every 5 s: p50 "
        f"{result['latency_p50_s']} s, p95 {result['latency_p95_s']} s\n"
        f"- Latency p50/p95 (s) by minute: {minutes}\n"
        f"- Mean analysed fps per camera: {result['mean_fps_analysed']}; frames "
        f"dropped: {result['frames_dropped']}\n"
    )
    with RESULTS.open("a") as handle:
        handle.write(row)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="run length")
    parser.add_argument("--cameras", type=int, default=4, help="number of cameras")
    parser.add_argument(
        "--reconnect-every", type=float, default=60.0, help="seconds between drops"
    )
    parser.add_argument("--detect-fps", type=float, default=5.0, help="per camera")
    parser.add_argument("--no-record", action="store_true", help="do not append")
    args = parser.parse_args()
    result = run(args.minutes, args.cameras, args.reconnect_every, args.detect_fps)
    print(json.dumps(result, indent=2))
    if not args.no_record:
        record(result)


if __name__ == "__main__":
    main()
