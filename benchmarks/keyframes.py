"""How many low-power (keyframes_only) 720p cameras this machine holds.

    .venv/bin/python -m benchmarks.keyframes --counts 8,16,32,48

Re-encodes the PETS clip to 1280x720 at 25 fps with a 2 s GOP, serves it N times
over RTSP on 127.0.0.1, runs `sharpeyes run` with N keyframes_only cameras and,
after a warm-up, measures for 40 s (--seconds) the service's CPU use and each camera's
analysed fps (one keyframe per GOP: 0.5 fps). The largest N at which every
camera keeps at least 95 % of that rate, with the service under 90 % of the
machine's CPU, is the capacity. A single fully decoded camera is measured in
the same run for comparison. The result is appended to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from tests.conftest import MEDIA, MODELS, start_rtsp_server
from tests.running import RunningService

RESULTS = Path(__file__).with_name("RESULTS.md")
GOP_S = 2.0
TICKS = os.sysconf("SC_CLK_TCK")


def make_clip(folder: Path) -> Path:
    clip = folder / "pets_720p25.mp4"
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-i",
            str(MEDIA / "pets09_s2l1_plaza.mp4"),
            "-t",
            "60",
            "-vf",
            "scale=1280:720,fps=25",
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-g",
            "50",
            "-bf",
            "0",
            str(clip),
        ],
        check=True,
        timeout=600,
    )
    return clip


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def measure(clip: Path, count: int, keyframes_only: bool, seconds: float) -> dict:
    work = Path(tempfile.mkdtemp(prefix="sharpeyes-kf-"))
    server = start_rtsp_server({f"c{i}": clip for i in range(count)})
    cameras = {
        f"c{i}": {
            "url": server.url(f"c{i}"),
            "detect_fps": 5,
            "keyframes_only": keyframes_only,
        }
        for i in range(count)
    }
    service = RunningService(work, MODELS, cameras, evidence={"enabled": False})
    service.start()
    try:
        service.wait_streaming(cameras, timeout=60)
        time.sleep(8)
        cpu_before = cpu_seconds(service.process.pid)
        server_before = cpu_seconds(server.process.pid)
        started = time.monotonic()
        frames_before = {c: s["frames_analysed"] for c, s in service.cameras().items()}
        time.sleep(seconds)
        elapsed = time.monotonic() - started
        statuses = service.cameras()
        cpu = (cpu_seconds(service.process.pid) - cpu_before) / elapsed
        server_cpu = (cpu_seconds(server.process.pid) - server_before) / elapsed
    finally:
        service.stop()
        server.stop()
    rates = [
        (statuses[c]["frames_analysed"] - frames_before[c]) / elapsed for c in cameras
    ]
    return {
        "cameras": count,
        "service_cpu_cores": round(cpu, 3),
        "server_cpu_cores": round(server_cpu, 3),
        "min_fps_analysed": round(min(rates), 3),
        "mean_fps_analysed": round(sum(rates) / len(rates), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", default="8,16,32,48", help="camera counts to try")
    parser.add_argument("--seconds", type=float, default=40.0, help="measuring time")
    parser.add_argument("--no-record", action="store_true", help="do not append")
    args = parser.parse_args()

    cores = os.cpu_count() or 1
    clip = make_clip(Path(tempfile.mkdtemp(prefix="sharpeyes-clip-")))
    full = measure(clip, 1, keyframes_only=False, seconds=args.seconds)
    rows = []
    for count in (int(value) for value in args.counts.split(",")):
        row = measure(clip, count, keyframes_only=True, seconds=args.seconds)
        # One keyframe more or less is counting noise, not a lost frame: allow it.
        expected = args.seconds / GOP_S
        row["holds"] = (
            row["min_fps_analysed"] * args.seconds >= 0.95 * expected - 1
            and row["service_cpu_cores"] <= 0.9 * cores
        )
        rows.append(row)
        print(row, flush=True)
        if not row["holds"]:
            break
    capacity = max((row["cameras"] for row in rows if row["holds"]), default=0)

    date = datetime.now(UTC).isoformat(timespec="seconds")
    lines = [
        f"\n### Keyframe-only capacity {date}\n",
        "- Command: `python -m benchmarks.keyframes "
        f"--counts {args.counts} --seconds {args.seconds:g}`",
        f"- Machine: {platform.node()} {platform.machine()}, {cores} CPUs; the "
        "RTSP server runs on the same machine",
        "- Stream: PETS09 re-encoded to 1280x720, 25 fps, GOP 2 s (0.5 keyframes/s)",
        f"- One fully decoded camera at detect_fps 5: {full['service_cpu_cores']} "
        f"cores, {full['mean_fps_analysed']} fps analysed",
        "",
        "| cameras | service CPU (cores) | RTSP server CPU (cores) | min fps analysed "
        "| mean fps analysed | holds |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        lines.append(
            f"| {row['cameras']} | {row['service_cpu_cores']} | "
            f"{row['server_cpu_cores']} | {row['min_fps_analysed']} | "
            f"{row['mean_fps_analysed']} | {'yes' if row['holds'] else 'no'} |"
        )
    if not any(row["holds"] for row in rows):
        verdict = f"No count tried held; the limit is below {rows[0]['cameras']}"
    elif all(row["holds"] for row in rows):
        verdict = (
            f"Every count tried held, so this machine holds more than {capacity} "
            "keyframe-only cameras"
        )
    else:
        verdict = f"Largest count that holds: **{capacity}** keyframe-only cameras"
    lines.append(
        f"\n{verdict} (every camera at least 95 % of 0.5 fps, give or take one "
        "keyframe in the window, with the service under 90 % of the CPUs)."
    )
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_record:
        with RESULTS.open("a") as handle:
            handle.write(text)


if __name__ == "__main__":
    main()
