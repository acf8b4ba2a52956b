"""Privacy masks burned into evidence clips, which then need re-encoding."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np


def fill_masks(image: np.ndarray, masks: list[list[list[float]]]) -> None:
    """Fill each normalised polygon of `masks` black in a BGR image, in place."""
    height, width = image.shape[:2]
    for polygon in masks:
        corners = np.round(np.asarray(polygon) * [width, height]).astype(np.int32)
        cv2.fillPoly(image, [corners], (0, 0, 0))


def write_masked_clip(
    packets: list,
    template: av.video.stream.VideoStream,
    path: Path,
    masks: list[list[list[float]]],
) -> int:
    """Decode `packets`, fill the masks black and encode an H.264 MP4 at `path`.

    The decoder is set up from the input stream's codec parameters, because the
    packets start at a keyframe but carry no stream headers of their own.
    Returns the number of frames written.
    """
    decoder = av.CodecContext.create(template.codec_context.name, "r")
    if template.codec_context.extradata:
        decoder.extradata = template.codec_context.extradata
    time_base = template.time_base or Fraction(1, 90000)
    rate = template.average_rate or template.guessed_rate or Fraction(25)
    written = 0
    first_pts: int | None = None
    with av.open(str(path), mode="w", format="mp4") as output:
        stream = None

        def encode(frame: av.VideoFrame) -> None:
            nonlocal stream, written, first_pts
            if stream is None:
                stream = output.add_stream("libx264", rate=rate)
                stream.width, stream.height = frame.width, frame.height
                stream.pix_fmt = "yuv420p"
                stream.codec_context.time_base = time_base
                stream.options = {"crf": "23", "preset": "veryfast"}
            image = frame.to_ndarray(format="bgr24")
            fill_masks(image, masks)
            masked = av.VideoFrame.from_ndarray(image, format="bgr24")
            pts = frame.pts if frame.pts is not None else written
            first_pts = pts if first_pts is None else first_pts
            masked.pts = pts - first_pts
            masked.time_base = time_base
            for out_packet in stream.encode(masked):
                output.mux(out_packet)
            written += 1

        for item in packets:
            packet = av.Packet(bytes(item.packet))
            packet.pts, packet.dts = item.packet.pts, item.packet.dts
            packet.time_base = item.packet.time_base
            try:
                frames = decoder.decode(packet)
            except av.error.InvalidDataError:
                continue
            for frame in frames:
                encode(frame)
        for frame in decoder.decode(None):
            encode(frame)
        if stream is not None:
            for out_packet in stream.encode(None):
                output.mux(out_packet)
    return written
