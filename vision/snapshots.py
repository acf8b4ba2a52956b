"""Evidence snapshots: the analysed frame with the incident's boxes drawn."""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np

BOX_COLOUR = (0, 0, 255)  # BGR red


def draw_snapshot(
    image: np.ndarray,
    boxes: list[dict],
    privacy_masks: list[list[list[float]]] = (),
) -> np.ndarray:
    """Return a copy of a BGR frame with privacy masks filled black, then each
    box and its label drawn."""
    canvas = image.copy()
    height, width = canvas.shape[:2]
    for polygon in privacy_masks:
        corners = np.round(np.asarray(polygon) * [width, height]).astype(np.int32)
        cv2.fillPoly(canvas, [corners], (0, 0, 0))
    thickness = max(1, round(min(canvas.shape[:2]) / 300))
    for record in boxes:
        x1, y1, x2, y2 = (round(v) for v in record["box"])
        cv2.rectangle(canvas, (x1, y1), (x2, y2), BOX_COLOUR, thickness)
        label = f"{record['label']} {record['score']:.2f}"
        cv2.putText(
            canvas,
            label,
            (x1, max(12, y1 - 4)),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.4 * thickness,
            BOX_COLOUR,
            thickness,
            cv2.LINE_AA,
        )
    return canvas


def write_jpeg(image: np.ndarray, path: Path, quality: int = 90) -> dict:
    """Encode a BGR image as JPEG at `path`; return its size and sha256."""
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    data = encoded.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".part")
    partial.write_bytes(data)
    partial.replace(path)
    return {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
