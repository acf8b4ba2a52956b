"""Frame-rate benchmark: how many cameras `sharpeyes run` holds on this machine.

    .venv/bin/python -m benchmarks.throughput --counts 16,20,24,28,32

Re-encodes the PETS09 clip to 1280x720 and 1920x1080 at 25 fps, as H.264 with a
2 s GOP and no B-frames like fixed cameras send. It serves the clip N times over
RTSP on 127.0.0.1 and runs `sharpeyes run` on the N cameras at detect_fps 5,
with a gathering and a loitering rule each. After a warm-up it measures for
--seconds:

- analysed fps per camera and frames dropped;
- latency from a frame's arrival at its reader to the rules being done with it
  (from the service's /metrics histogram), and from the frame's capture time to
  its incident event arriving on the API's SSE feed (p50, p95);
- CPU of the service (its embedded Redis included) per camera, the RTSP
  server's CPU, and the service's RSS.

A camera count holds when every camera keeps at least 95 % of its detect fps and
both p95 latencies are under 1 s. In the same run it measures decode-only and
inference-only throughput (benchmarks/limits.py), the camera count those two
costs allow, and the naive baseline (benchmarks/naive.py). With --soak-minutes
it then runs the largest 720p count that held for that long and reports latency
per minute. The result is appended to benchmarks/THROUGHPUT.md. --quick runs a
small version in about a minute, for CI, and records nothing unless --record.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from benchmarks.limits import (
    best_inference,
    decode_throughput,
    rtsp_decode_cost,
    sample_frames,
)
from models.registry import load_model_spec
from tests.conftest import MEDIA, MODELS, REPO, start_rtsp_server
from tests.running import RunningService

PAGE = Path(__file__).with_name("THROUGHPUT.md")
SOURCE_FPS = 25
GOP_FRAMES = 50
SIZES = {720: (1280, 720), 1080: (1920, 1080)}
TICKS = os.sysconf("SC_CLK_TCK")
HOLD_SHARE = 0.95
MAX_P95_S = 1.0
WHOLE_FRAME = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]


def make_clip(height: int, seconds: float) -> Path:
    """Return PETS09 at `height`p25, looped to `seconds`, cached between runs."""
    width, height = SIZES[height]
    folder = Path(tempfile.gettempdir()) / "sharpeyes-bench"
    folder.mkdir(exist_ok=True)
    clip = folder / f"pets_{height}p25_{seconds:g}s.mp4"
    if clip.exists():
        return clip
    partial = clip.with_suffix(".part.mp4")
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-stream_loop",
            "-1",
            "-i",
            str(MEDIA / "pets09_s2l1_plaza.mp4"),
            "-t",
            f"{seconds:g}",
            "-vf",
            f"scale={width}:{height},fps={SOURCE_FPS}",
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-g",
            str(GOP_FRAMES),
            "-bf",
            "0",
            "-an",
            str(partial),
        ],
        check=True,
        timeout=1800,
    )
    partial.rename(clip)
    return clip


def process_tree_cpu_s(pid: int) -> float:
    """CPU seconds of `pid` and its live children (the embedded Redis)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if entry.name == str(pid) or fields[1] == str(pid):
            total += (int(fields[11]) + int(fields[12])) / TICKS
    return total


def histogram_quantile(buckets: list[tuple[float, float]], q: float) -> float | None:
    """Estimate quantile `q` from cumulative (upper bound, count) pairs, by linear
    interpolation within the bucket, as Prometheus' histogram_quantile does."""
    total = buckets[-1][1] if buckets else 0
    if total <= 0:
        return None
    rank = q * total
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if bound == float("inf"):
                return lower_bound
            share = (rank - lower_count) / max(count - lower_count, 1e-9)
            return lower_bound + (bound - lower_bound) * share
        lower_bound, lower_count = bound, count
    return lower_bound


def read_latency_buckets(service: RunningService) -> list[tuple[float, float]]:
    text = service.api.get("/metrics").text
    for family in text_string_to_metric_families(text):
        if family.name == "sharpeyes_frame_latency_seconds":
            return sorted(
                (float(s.labels["le"]), s.value)
                for s in family.samples
                if s.name.endswith("_bucket")
            )
    return []


def bucket_delta(after, before) -> list[tuple[float, float]]:
    if not before:
        return after
    old = dict(before)
    return [(bound, count - old.get(bound, 0.0)) for bound, count in after]


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class AlertFeed(threading.Thread):
    """Read the API's SSE feed and keep, per incident event, how long after its
    frame's capture time the event arrived."""

    def __init__(self, service: RunningService) -> None:
        super().__init__(name="alert-feed", daemon=True)
        self.base_url = str(service.api.base_url)
        self.headers = dict(service.api.headers)
        self.samples: list[tuple[float, float]] = []
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            try:
                self._read()
            except httpx.HTTPError:
                self._stop_event.wait(0.5)

    def _read(self) -> None:
        with httpx.Client(base_url=self.base_url, headers=self.headers) as client:
            timeout = httpx.Timeout(5, read=30)
            with client.stream("GET", "/api/events/stream", timeout=timeout) as feed:
                kind = None
                for line in feed.iter_lines():
                    if self._stop_event.is_set():
                        return
                    if line.startswith("event:"):
                        kind = line.split(":", 1)[1].strip()
                    elif line.startswith("data:") and kind == "incident":
                        arrived = time.time()
                        event = json.loads(line.split(":", 1)[1])
                        frame_time = datetime.fromisoformat(event["updated_at"])
                        self.samples.append((arrived, arrived - frame_time.timestamp()))

    def between(self, start: float, end: float) -> list[float]:
        return [latency for at, latency in self.samples if start <= at < end]

    def stop(self) -> None:
        self._stop_event.set()


def fresh_status(service: RunningService, timeout: float = 3.0) -> dict[str, dict]:
    """Return camera status just after the service wrote it (once a second), so
    that two readings are a whole number of writes apart."""
    first = service.cameras()
    key = {c: s.get("frames_received") for c, s in first.items()}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.05)
        current = service.cameras()
        if {c: s.get("frames_received") for c, s in current.items()} != key:
            return current
    return service.cameras()


class Window:
    """Counters of a running service at one moment."""

    def __init__(self, service: RunningService, server) -> None:
        self.statuses = fresh_status(service)
        self.at = time.monotonic()
        self.wall = time.time()
        self.buckets = read_latency_buckets(service)
        self.service_cpu = process_tree_cpu_s(service.process.pid)
        self.server_cpu = process_tree_cpu_s(server.process.pid)
        self.rss_mb = service.rss_bytes() / 2**20


def summarise(before: Window, after: Window, feed: AlertFeed, detect_fps: float):
    elapsed = after.at - before.at
    cameras = sorted(after.statuses)
    rates = [
        (
            after.statuses[c]["frames_analysed"]
            - before.statuses.get(c, {}).get("frames_analysed", 0)
        )
        / elapsed
        for c in cameras
    ]
    dropped = sum(
        after.statuses[c]["frames_dropped"]
        - before.statuses.get(c, {}).get("frames_dropped", 0)
        for c in cameras
    )
    buckets = bucket_delta(after.buckets, before.buckets)
    alerts = feed.between(before.wall, after.wall)
    service_cores = (after.service_cpu - before.service_cpu) / elapsed
    row = {
        "cameras": len(cameras),
        "seconds": round(elapsed, 1),
        "min_fps": round(min(rates), 2) if rates else 0.0,
        "mean_fps": round(sum(rates) / len(rates), 2) if rates else 0.0,
        "dropped": dropped,
        "rules_p50_s": rounded(histogram_quantile(buckets, 0.5)),
        "rules_p95_s": rounded(histogram_quantile(buckets, 0.95)),
        "alerts": len(alerts),
        "alert_p50_s": rounded(percentile(alerts, 0.5)),
        "alert_p95_s": rounded(percentile(alerts, 0.95)),
        "service_cores": round(service_cores, 3),
        "cores_per_camera": round(service_cores / max(len(cameras), 1), 4),
        "server_cores": round((after.server_cpu - before.server_cpu) / elapsed, 3),
        "rss_mb": round(after.rss_mb, 1),
    }
    p95s = [row["rules_p95_s"], row["alert_p95_s"]]
    row["holds"] = (
        bool(rates)
        and row["min_fps"] >= HOLD_SHARE * detect_fps
        and all(p is not None and p < MAX_P95_S for p in p95s)
    )
    return row


def rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def camera_config(url: str, detect_fps: float) -> dict:
    return {
        "url": url,
        "detect_fps": detect_fps,
        "zones": {"all": {"polygon": WHOLE_FRAME}},
        "rules": [
            {
                "kind": "gathering",
                "zone": "all",
                "min_people": 3,
                "min_seconds": 2,
                "quiet_seconds": 2,
            },
            {"kind": "loitering", "zone": "all", "min_seconds": 30},
        ],
    }


def run_pipeline(
    clip: Path,
    count: int,
    seconds: float,
    warmup: float,
    detect_fps: float,
    minutes: float = 0.0,
    profile: bool = False,
) -> dict:
    """Run `sharpeyes run` on `count` RTSP copies of `clip` and summarise one
    measuring window.

    With `minutes` the summary also has one row per minute. With `profile` the
    window is spent in py-spy, whose profiles are added to the summary.
    """
    work = Path(tempfile.mkdtemp(prefix="sharpeyes-fps-"))
    server = start_rtsp_server({f"c{i}": clip for i in range(count)})
    cameras = {
        f"c{i}": camera_config(server.url(f"c{i}"), detect_fps) for i in range(count)
    }
    service = RunningService(
        work, MODELS, cameras, model={"name": "yolox_nano", "dir": str(MODELS)}
    )
    service.start()
    feed = AlertFeed(service)
    try:
        service.wait_streaming(cameras, timeout=60 + count)
        feed.start()
        time.sleep(warmup)
        first = Window(service, server)
        if profile:
            pid = service.process.pid
            busy = profile_service(pid, seconds / 2, gil_only=False)
            gil = profile_service(pid, seconds / 2, gil_only=True)
            row = summarise(first, Window(service, server), feed, detect_fps)
            return {**row, "profile_busy": busy, "profile_gil": gil}
        if not minutes:
            time.sleep(seconds)
            return summarise(first, Window(service, server), feed, detect_fps)
        per_minute, previous = [], first
        for _ in range(int(minutes)):
            time.sleep(60)
            current = Window(service, server)
            per_minute.append(summarise(previous, current, feed, detect_fps))
            previous = current
        total = summarise(first, previous, feed, detect_fps)
        total["per_minute"] = per_minute
        total["rss_first_mb"] = round(first.rss_mb, 1)
        return total
    finally:
        feed.stop()
        service.stop()
        server.stop()


# Parts of the pipeline, each with the function names that mark its stacks.
COMPONENTS = (
    ("inference", ("Session.run",)),
    ("decode and demux", ("decode_video", "_record_only")),
    ("frame conversion", ("_handle_frame", "letterbox_into")),
    ("detector post-processing", ("Detector._decode", "merge_boxes")),
    ("evidence", ("write_clip", "write_jpeg", "draw_snapshot", "PacketRing")),
    ("tracking and rules", ("ByteTracker", "Rule.", "Zone.", "Detections.")),
    ("Redis, API and publisher", ("redis/", "uvicorn", "starlette", "Publisher")),
)


def profile_service(pid: int, seconds: float, gil_only: bool) -> dict:
    """Sample `pid` with py-spy and return the share of samples per component.

    Without `gil_only`, every thread running Python or native code is sampled
    (a busy-thread profile); with it, only the thread holding the GIL.
    """
    out = Path(tempfile.mkdtemp(prefix="sharpeyes-prof-")) / "stacks.txt"
    command = [str(Path(sys.executable).with_name("py-spy")), "record"]
    command += ["--pid", str(pid), "--duration", f"{seconds:g}", "--rate", "50"]
    command += ["--format", "raw", "--output", str(out), "--nonblocking"]
    subprocess.run(
        command + (["--gil"] if gil_only else []),
        capture_output=True,
        check=True,
        timeout=seconds + 60,
    )
    shares: dict[str, float] = {}
    total = 0
    for line in out.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        total += int(count)
        component = "other"
        for frame in reversed(frames):
            matches = [n for n, keys in COMPONENTS if any(k in frame for k in keys)]
            if matches:
                component = matches[0]
                break
        shares[component] = shares.get(component, 0) + int(count)
    possible = seconds * 50
    return {
        "samples": total,
        "threads_busy": round(total / possible, 2),
        "shares": {k: round(v / max(total, 1), 3) for k, v in sorted(shares.items())},
    }


def run_naive(clip: Path, count: int, seconds: float, warmup: float, fps: float):
    server = start_rtsp_server({f"c{i}": clip for i in range(count)})
    try:
        output = subprocess.run(
            [
                sys.executable,
                "-m",
                "benchmarks.naive",
                "--fps",
                str(fps),
                "--seconds",
                str(seconds),
                "--warmup",
                str(warmup),
                *(server.url(f"c{i}") for i in range(count)),
            ],
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=seconds + warmup + 120,
            check=True,
        ).stdout
    finally:
        server.stop()
    result = json.loads(output.strip().splitlines()[-1])
    rates = result["fps"]
    return {
        "cameras": count,
        "min_fps": min(rates),
        "mean_fps": round(sum(rates) / len(rates), 2),
        "cpu_cores": result["cpu_cores"],
        "holds": min(rates) >= HOLD_SHARE * fps,
    }


def sweep(counts, measure) -> list[dict]:
    """Measure each count in order and stop after the first that fails."""
    rows = []
    for count in counts:
        row = measure(count)
        rows.append(row)
        print(json.dumps(row), flush=True)
        if not row["holds"]:
            break
    return rows


def largest_holding(rows: list[dict]) -> int:
    holding = [row["cameras"] for row in rows if row["holds"]]
    return max(holding, default=0)


def software_versions() -> str:
    import av
    import cv2
    import numpy
    import onnxruntime

    gstreamer = subprocess.run(
        [
            "/usr/bin/python3",
            "-c",
            "import gi; gi.require_version('Gst', '1.0'); from gi.repository "
            "import Gst; Gst.init(None); print(Gst.version_string())",
        ],
        capture_output=True,
        text=True,
    ).stdout.strip()
    libavcodec = av.library_versions.get("libavcodec", ())
    return (
        f"Python {platform.python_version()}, onnxruntime {onnxruntime.__version__}, "
        f"PyAV {av.__version__} (libavcodec {'.'.join(map(str, libavcodec))}), "
        f"OpenCV {cv2.__version__}, numpy {numpy.__version__}, {gstreamer}"
    )


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--counts",
        default="16,18,20,22,24",
        help="720p camera counts to try, comma-separated; stops at the first "
        "that does not hold",
    )
    parser.add_argument(
        "--counts-1080",
        default="6,8,10,12",
        help="1080p camera counts to try, comma-separated; empty skips 1080p",
    )
    parser.add_argument(
        "--naive-counts",
        default="2,4,6,8",
        help="camera counts for the naive OpenCV baseline (benchmarks/naive.py)",
    )
    parser.add_argument(
        "--seconds", type=float, default=60, help="measuring window in seconds"
    )
    parser.add_argument(
        "--warmup", type=float, default=15, help="seconds streamed before measuring"
    )
    parser.add_argument(
        "--detect-fps", type=float, default=5.0, help="analysed frames/s per camera"
    )
    parser.add_argument(
        "--soak-minutes",
        type=int,
        default=0,
        help="then run the largest 720p count that held for this many minutes",
    )
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        help="also profile a run of this many 720p cameras with py-spy",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="the CI version: 2 cameras for 8 s after 4 s, 1 baseline camera, "
        "no 1080p or soak, short limit runs; replaces the options above",
    )
    parser.add_argument(
        "--record",
        action="store_true",
        help="append a --quick run to benchmarks/THROUGHPUT.md too",
    )
    parser.add_argument(
        "--no-record",
        action="store_true",
        help="do not append to benchmarks/THROUGHPUT.md (full runs append)",
    )
    parser.add_argument(
        "--json", type=Path, metavar="FILE", help="also write the result as JSON"
    )
    args = parser.parse_args()
    if args.record and args.no_record:
        parser.error("--record and --no-record exclude each other")
    if args.quick:
        args.counts, args.counts_1080, args.naive_counts = "2", "", "1"
        args.seconds, args.warmup, args.soak_minutes = 8, 4, 0
    limit_s = 2 if args.quick else 10
    clip_s = args.warmup + args.seconds + 60 + args.soak_minutes * 60
    cores = os.cpu_count() or 1
    started = datetime.now(UTC)

    clip720 = make_clip(720, clip_s)
    decode = [decode_throughput(clip720, limit_s, threads) for threads in (1, 0)]
    server = start_rtsp_server({f"c{i}": clip720 for i in range(8)})
    try:
        urls = [server.url(f"c{i}") for i in range(8)]
        live = rtsp_decode_cost(urls, limit_s * 2)
    finally:
        server.stop()
    spec = load_model_spec("yolox_nano", MODELS)
    inference, layouts = best_inference(spec, sample_frames(clip720, 16), limit_s)
    # Share of the whole machine that one camera costs: decoding the live
    # stream, which the pipeline must do, and the best inference layout.
    camera_share = SOURCE_FPS / live.per_second
    camera_share += args.detect_fps / inference.per_second
    limit = 1 / camera_share

    def pipeline(clip):
        return lambda n: run_pipeline(
            clip, n, args.seconds, args.warmup, args.detect_fps
        )

    results = {"720p": sweep(parse_counts(args.counts), pipeline(clip720))}
    if parse_counts(args.counts_1080):
        clip1080 = make_clip(1080, clip_s)
        results["1080p"] = sweep(parse_counts(args.counts_1080), pipeline(clip1080))
    naive = sweep(
        parse_counts(args.naive_counts),
        lambda n: run_naive(clip720, n, args.seconds, args.warmup, args.detect_fps),
    )
    largest = largest_holding(results["720p"])
    largest_rows = [r for r in results["720p"] if r["cameras"] == largest]
    server_share = (
        largest_rows[0]["server_cores"] / largest / cores if largest_rows else 0.0
    )
    limit_beside_server = 1 / (camera_share + server_share)
    soak = None
    if args.soak_minutes and largest:
        soak = run_pipeline(
            clip720, largest, 0, args.warmup, args.detect_fps, args.soak_minutes
        )

    profile = None
    if args.profile:
        profile = run_pipeline(
            clip720,
            args.profile,
            args.seconds,
            args.warmup,
            args.detect_fps,
            profile=True,
        )

    result = {
        "date": started.isoformat(timespec="seconds"),
        "command": "python -m benchmarks.throughput " + " ".join(sys.argv[1:]),
        "machine": f"{cpu_model()}, {cores} CPUs, {platform.machine()}",
        "software": software_versions(),
        "decode": [asdict(d) for d in [*decode, live]],
        "inference": [asdict(i) for i in layouts],
        "limit_cameras": round(limit, 1),
        "limit_cores_per_camera": round(camera_share * cores, 4),
        "limit_beside_server": round(limit_beside_server, 1),
        "pipeline": results,
        "largest_720p": largest,
        "largest_1080p": largest_holding(results.get("1080p", [])),
        "naive": naive,
        "largest_naive": largest_holding(naive),
        "soak": soak,
        "profile": profile,
    }
    text = render(result, args.detect_fps)
    print(text)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    if (not args.quick or args.record) and not args.no_record:
        with PAGE.open("a") as handle:
            handle.write(text)


def parse_counts(text: str) -> list[int]:
    return [int(value) for value in text.split(",") if value.strip()]


def render(result: dict, detect_fps: float) -> str:
    lines = [
        f"\n## Run {result['date']}\n",
        f"- Command: `{result['command']}`",
        f"- Machine: {result['machine']}; the RTSP server runs on it too",
        f"- Software: {result['software']}",
        "- Stream: PETS09 re-encoded to 25 fps H.264, GOP 2 s, no B-frames; "
        f"detect_fps {detect_fps:g}; rules per camera: gathering and loitering",
        "",
        "Limits of this machine, measured in this run:",
        "",
        "| what | per second, all cores | CPU ms each |",
        "| --- | --- | --- |",
    ]
    for item in result["decode"] + result["inference"]:
        lines.append(
            f"| {item['label']} | {item['per_second']:.0f} | "
            f"{item['core_seconds'] * 1000:.2f} |"
        )
    lines += render_measurements(result, detect_fps)
    lines += render_soak(result["soak"]) + render_profile(result["profile"])
    return "\n".join(lines) + "\n"


def render_measurements(result: dict, detect_fps: float) -> list[str]:
    lines = [
        "",
        f"Those costs allow **{result['limit_cameras']}** cameras "
        f"({result['limit_beside_server']} beside the RTSP server's measured CPU).",
    ]
    for resolution, rows in result["pipeline"].items():
        lines += [
            "",
            f"Pipeline, {resolution}:",
            "",
            "| cameras | min fps | mean fps | dropped | rules p50 / p95 s "
            "| alert p50 / p95 s (events) | service cores | cores per camera "
            "| server cores | RSS MB | holds |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        lines += [pipeline_row(row) for row in rows]

    lines += [
        "",
        "Naive baseline (one VideoCapture loop and session.run per camera), 720p:",
        "",
        "| cameras | min fps | mean fps | CPU cores | holds |",
        "| --- | --- | --- | --- | --- |",
    ]
    for row in result["naive"]:
        lines.append(
            f"| {row['cameras']} | {row['min_fps']} | {row['mean_fps']} | "
            f"{row['cpu_cores']} | {'yes' if row['holds'] else 'no'} |"
        )
    return lines + render_verdict(result, detect_fps)


def render_verdict(result: dict, detect_fps: float) -> list[str]:
    """Return the lines that compare the largest holding count with the limit
    and the baseline."""
    largest, naive = result["largest_720p"], result["largest_naive"]
    at_1080 = (
        f"**{result['largest_1080p']}**" if "1080p" in result["pipeline"] else "not run"
    )
    ratio = f"{largest / naive:.1f} times" if naive else "no baseline count held"
    limit = result["limit_beside_server"]
    share = largest / limit if limit else 0

    lines = [
        "",
        f"Largest count that holds (every camera at least {HOLD_SHARE:.0%} of "
        f"{detect_fps:g} fps, rules and alert p95 under {MAX_P95_S:g} s): "
        f"**{largest}** at 720p, {at_1080} at 1080p; "
        f"{share:.0%} of the limit beside the server; naive baseline "
        f"{naive}, so {ratio} the baseline.",
    ]

    largest_rows = [r for r in result["pipeline"]["720p"] if r["cameras"] == largest]
    if largest_rows:
        spent = largest_rows[0]["cores_per_camera"]
        needed = result["limit_cores_per_camera"]
        lines.append(
            f"At {largest} cameras the service spent {spent} cores per camera, "
            f"against {needed} that decoding and inference alone cost in the "
            f"limit runs ({needed / spent:.0%})."
        )
    return lines


def render_soak(soak: dict | None) -> list[str]:
    lines: list[str] = []
    if soak:
        minutes = ", ".join(
            f"{i}: {m['rules_p95_s']}/{m['alert_p95_s']}/{m['min_fps']}"
            for i, m in enumerate(soak["per_minute"])
        )
        lines += [
            "",
            f"Soak, {soak['cameras']} cameras at 720p for "
            f"{len(soak['per_minute'])} min: {pipeline_row(soak)}",
            "",
            f"Per minute, rules p95 / alert p95 / min fps: {minutes}. RSS "
            f"{soak['rss_first_mb']} MB at the start, then at the end of each "
            f"minute: {', '.join(str(m['rss_mb']) for m in soak['per_minute'])} MB.",
        ]
    return lines


def render_profile(profile: dict | None) -> list[str]:
    lines: list[str] = []
    if profile:
        lines += [
            "",
            f"Profile of {profile['cameras']} cameras at 720p (py-spy, 50 Hz), "
            "share of samples by part:",
            "",
            "| part | threads busy | GIL held |",
            "| --- | --- | --- |",
        ]
        busy, gil = profile["profile_busy"], profile["profile_gil"]
        for part in sorted(set(busy["shares"]) | set(gil["shares"])):
            lines.append(
                f"| {part} | {busy['shares'].get(part, 0):.1%} | "
                f"{gil['shares'].get(part, 0):.1%} |"
            )
        lines += [
            "",
            f"Threads busy on average: {busy['threads_busy']}; the GIL was held in "
            f"{gil['threads_busy']:.0%} of the samples. Pipeline row of that run: "
            f"{pipeline_row(profile)}",
        ]
    return lines


def pipeline_row(row: dict) -> str:
    return (
        f"| {row['cameras']} | {row['min_fps']} | {row['mean_fps']} | "
        f"{row['dropped']} | {row['rules_p50_s']} / {row['rules_p95_s']} | "
        f"{row['alert_p50_s']} / {row['alert_p95_s']} ({row['alerts']}) | "
        f"{row['service_cores']} | {row['cores_per_camera']} | "
        f"{row['server_cores']} | {row['rss_mb']} | "
        f"{'yes' if row['holds'] else 'no'} |"
    )


if __name__ == "__main__":
    main()
