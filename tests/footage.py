"""Camera settings and ground-truth incidents for the PETS09-S2L1 clip."""

from __future__ import annotations

from sharpeyes.config import CameraConfig
from tests.conftest import media
from vision.zones import Zone

PETS_CLIP = "pets09_s2l1_plaza.mp4"
PETS_FPS = 7.0
PETS_FRAMES = 795
PETS_SIZE = (768, 576)
# The zone leaves out the left tenth of the frame, where the detector finds a
# person-like shape in every frame that the ground truth does not label.
PETS_ZONE = [[0.1, 0.0], [1.0, 0.0], [1.0, 1.0], [0.1, 1.0]]
PETS_RULE = {
    "kind": "gathering",
    "zone": "plaza",
    "min_people": 5,
    "min_seconds": 5,
    "quiet_seconds": 5,
}
# How far an incident's open or end may lie from the ground truth's (seconds).
TOLERANCE_S = 3.0


def pets_camera(url: str, detect_fps: float = PETS_FPS) -> dict:
    return {
        "url": url,
        "site": "square",
        "location": "PETS09 S2L1 plaza",
        "detect_fps": detect_fps,
        "zones": {"plaza": {"polygon": PETS_ZONE}},
        "rules": [dict(PETS_RULE)],
    }


def pets_expected_spans():
    from benchmarks.mot import gathering_spans_from_ground_truth, load_mot

    camera = CameraConfig.model_validate(pets_camera("rtsp://127.0.0.1/x"))
    return gathering_spans_from_ground_truth(
        load_mot(media("pets09_s2l1_plaza.gt.txt")),
        PETS_FRAMES,
        PETS_FPS,
        PETS_SIZE,
        camera.rules[0],
        Zone.from_points("plaza", PETS_ZONE),
    )


def assert_spans_match(expected, found, clip_end_s: float) -> None:
    """Each expected incident must open within TOLERANCE_S, close, and (unless cut
    off by the end of the clip) end within TOLERANCE_S; no extra incidents."""
    assert len(found) == len(expected), f"expected {expected}, found {found}"
    for want, got in zip(expected, found, strict=True):
        assert abs(got.opened_s - want.opened_s) <= TOLERANCE_S, (want, got)
        assert got.closed, got
        if want.ended_s is not None and want.ended_s < clip_end_s - TOLERANCE_S:
            assert got.ended_s is not None
            assert abs(got.ended_s - want.ended_s) <= TOLERANCE_S, (want, got)
