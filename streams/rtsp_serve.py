#!/usr/bin/python3
"""Serve video files as RTSP cameras on 127.0.0.1 with GStreamer's RTSP server.

For tests, benchmarks and demos. Runs under Debian's /usr/bin/python3, whose `gi`
bindings see GStreamer (packages python3-gi, gir1.2-gst-rtsp-server-1.0 and
gstreamer1.0-plugins-{base,good,bad,ugly}); it imports nothing from sharpeyes.

    /usr/bin/python3 streams/rtsp_serve.py --port 8554 plaza=clip.mp4 road=road.mp4

Each NAME=FILE becomes rtsp://127.0.0.1:PORT/NAME. H.264 MP4 files are sent as
they are (MP4, MPEG-TS and Matroska); other codecs, or --fps/--size, are
re-encoded with x264. Every client
gets its own pipeline that starts at the beginning of the file, so a reader that
reconnects after the end of the file receives the clip again. Once listening the
script prints one line `READY <port>` and then serves until SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def probe_codec(path: str) -> str:
    """Return the codec name of the first video stream, using ffprobe if present."""
    try:
        output = subprocess.run(
            [
                "ffprobe",
                "-v",
                "error",
                "-select_streams",
                "v:0",
                "-show_entries",
                "stream=codec_name",
                "-of",
                "csv=p=0",
                path,
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return output or "unknown"


DEMUXERS = {
    ".mp4": "qtdemux",
    ".mov": "qtdemux",
    ".ts": "tsdemux",
    ".mkv": "matroskademux",
}


def launch_line(
    path: str, fps: float | None, size: str | None, gop: int, drop: float
) -> str:
    location = path.replace('"', '\\"')
    demuxer = DEMUXERS.get(os.path.splitext(path)[1].lower())
    # With loss, an identity element after the payloader drops whole RTP packets.
    # The RTSP server takes the element named pay0 as the stream's payloader, so
    # the name moves to it. The server then warns that it has no "pt" property.
    if drop > 0:
        payloader = (
            "rtph264pay pt=96 config-interval=1 ! "
            f"identity name=pay0 drop-probability={drop}"
        )
    else:
        payloader = "rtph264pay name=pay0 pt=96 config-interval=1"
    if demuxer and fps is None and size is None and probe_codec(path) == "h264":
        body = f'filesrc location="{location}" ! {demuxer} ! h264parse ! {payloader}'
    else:
        caps = []
        if size:
            width, height = size.split("x")
            caps.append(f"width={width},height={height}")
        if fps:
            caps.append(f"framerate={int(fps)}/1")
        filters = "videoconvert ! videoscale ! videorate"
        if caps:
            filters += " ! video/x-raw," + ",".join(caps)
        body = (
            f'filesrc location="{location}" ! decodebin ! {filters} ! '
            f"x264enc tune=zerolatency speed-preset=ultrafast key-int-max={gop} ! "
            f"video/x-h264,profile=constrained-baseline ! {payloader}"
        )
    return f"( {body} )"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8554, help="TCP port; 0 picks one")
    parser.add_argument("--address", default="127.0.0.1", help="address to bind")
    parser.add_argument("--fps", type=float, help="re-encode at this frame rate")
    parser.add_argument("--size", help="re-encode at this size, WIDTHxHEIGHT")
    parser.add_argument(
        "--gop",
        type=int,
        default=50,
        help="keyframe interval when re-encoding (frames)",
    )
    parser.add_argument(
        "--drop-probability",
        type=float,
        default=0.0,
        help="drop this fraction (0..1) of RTP packets, to imitate loss on UDP",
    )
    parser.add_argument(
        "--reject-auth",
        action="store_true",
        help="respond to every request with 401 Unauthorized, like a camera "
        "whose login fails",
    )
    parser.add_argument("mounts", nargs="+", metavar="NAME=FILE")
    args = parser.parse_args()

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address(args.address)
    server.set_service(str(args.port))
    mounts = server.get_mount_points()
    for item in args.mounts:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            parser.error(f"mount {item!r} must be NAME=FILE")
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(
            launch_line(path, args.fps, args.size, args.gop, args.drop_probability)
        )
        factory.set_shared(False)
        factory.set_eos_shutdown(True)
        mounts.add_factory(f"/{name}", factory)

    if args.reject_auth:
        # Require a login that no client has: every request gets 401 Unauthorized.
        auth = GstRtspServer.RTSPAuth()
        auth.add_basic(
            GstRtspServer.RTSPAuth.make_basic("nobody", os.urandom(16).hex()),
            GstRtspServer.RTSPToken(),
        )
        server.set_auth(auth)

    if server.attach(None) == 0:
        print(f"cannot listen on {args.address}:{args.port}", file=sys.stderr)
        return 1
    print(f"READY {server.get_bound_port()}", flush=True)

    loop = GLib.MainLoop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signum, loop.quit)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
