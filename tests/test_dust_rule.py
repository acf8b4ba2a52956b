"""The dust rule: its state machine on tables of (boxes, scores), the pixel score
on real photographs and frames, and the whole rule through `sharpeyes analyze`."""

from __future__ import annotations

import json
import subprocess

import av
import cv2
import numpy as np
import pytest
import yaml

from models.registry import load_model_spec
from sharpeyes.config import DustRuleConfig
from tests.conftest import media, run_cli
from vision.detections import Detections
from vision.detector import Detector
from vision.dust import (
    DustBackground,
    box_regions,
    dust_pixels,
    dust_threshold,
    learn_background,
    score_boxes,
)
from vision.rules import CameraInfo, DustRule, Observation
from vision.zones import Zone

FPS = 5.0
WIDTH, HEIGHT = 1000, 1000
CAMERA = CameraInfo("quarry", "site", "quarry gate")
NAMES = ("person", "car", "bus", "train", "truck")
START_WALL = 1_700_000_000.0
# BGR colours: beige dust, neutral asphalt grey and clear blue sky.
BEIGE = (150, 175, 200)
ASPHALT = (118, 116, 114)
SKY = (214, 139, 95)


def trucks(count: int, x: float = 0.5, label: str = "truck") -> Detections:
    """`count` side-by-side boxes of `label` whose bottom-centres are near (x, 0.8)."""
    rows = []
    for index in range(count):
        cx = x * WIDTH + index * 120
        rows.append([cx - 50, 700, cx + 50, 800])
    return Detections(
        xyxy=np.array(rows, np.float32).reshape(count, 4),
        scores=np.full(count, 0.8, np.float32),
        class_ids=np.full(count, NAMES.index(label), np.int64),
        class_names=NAMES,
    )


def make_rule(zone: Zone | None = None, **settings) -> DustRule:
    config = dict(kind="dust", min_seconds=2, quiet_seconds=3)
    config.update(settings)
    return DustRule(CAMERA, 0, DustRuleConfig(**config), zone)


def play(rule: DustRule, frames: list[tuple[int, float]], start: float = 0.0):
    """Feed (trucks, dust score of each) per frame at FPS to `decide`; return
    (time, event) pairs."""
    events = []
    for index, (count, score) in enumerate(frames):
        t = start + index / FPS
        obs = Observation(t=t, wall=START_WALL + t, width=WIDTH, height=HEIGHT)
        scores = np.full(count, score)
        events += [(t, event) for event in rule.decide(trucks(count), scores, obs)]
    return events


def states(events) -> list[str]:
    return [event.state for _, event in events if event.state != "update"]


DUSTY = (1, 0.6)
CLEAN = (1, 0.1)
NO_TRUCK = (0, 0.0)


def test_threshold_falls_with_sensitivity():
    levels = [dust_threshold(s / 10) for s in range(11)]

    assert levels[0] == pytest.approx(0.6)
    assert levels[-1] == pytest.approx(0.1)
    assert all(a > b for a, b in zip(levels, levels[1:], strict=False))
    with pytest.raises(ValueError, match="sensitivity"):
        dust_threshold(1.5)


def test_opens_after_min_seconds_and_closes_after_quiet():
    frames = [CLEAN] * 5 + [DUSTY] * 30 + [NO_TRUCK] * 25
    events = play(make_rule(), frames)

    assert states(events) == ["open", "close"]
    opened_t, opened = events[0]
    assert opened_t == pytest.approx(1.0 + 2.0)
    assert opened.started_at == pytest.approx(START_WALL + 1.0)
    assert opened.count == 1
    assert opened.detail["peak_dust_score"] == pytest.approx(0.6)
    assert opened.detail["threshold"] == pytest.approx(0.35)
    assert opened.boxes[0]["dust_score"] == pytest.approx(0.6)
    close_t, close = events[-1]
    assert close_t == pytest.approx(7.0 + 3.0)
    assert close.ended_at == pytest.approx(START_WALL + 7.0)
    assert close.detail["close_reason"] == "no dusty truck"


@pytest.mark.parametrize("gap_frames", [1, 2, 3])
def test_short_dropout_keeps_waiting(gap_frames):
    # Dusty for 1.6 s, a gap of up to 3 frames (0.6 s), then dusty again: the
    # wait started before the gap still counts.
    frames = [DUSTY] * 8 + [NO_TRUCK] * gap_frames + [DUSTY] * 20
    events = play(make_rule(), frames)

    # It opens on the first dusty frame at or after 2 s.
    assert states(events) == ["open"]
    assert events[0][0] == pytest.approx(max(2.0, (8 + gap_frames) / FPS))


def test_long_gap_restarts_wait():
    frames = [DUSTY] * 8 + [CLEAN] * 6 + [DUSTY] * 20
    events = play(make_rule(), frames)

    assert states(events) == ["open"]
    # The second dusty run starts at 2.8 s and needs its own 2 s.
    assert events[0][0] == pytest.approx(2.8 + 2.0)


def test_dropout_does_not_close_open_incident():
    frames = [DUSTY] * 20 + ([NO_TRUCK] * 3 + [DUSTY] * 5) * 4
    events = play(make_rule(quiet_seconds=1), frames)

    assert states(events) == ["open"]


def test_cooldown_blocks_new_incident():
    burst = [DUSTY] * 15 + [NO_TRUCK] * 20
    events = play(make_rule(cooldown_seconds=5), burst * 3)

    # Closes at 6 s and 20 s; the burst starting at 7 s falls into the cooldown.
    assert states(events) == ["open", "close", "open", "close"]


def test_count_is_dusty_trucks_and_peak_grows():
    rule = make_rule()
    events = []
    for index in range(40):
        t = index / FPS
        obs = Observation(t=t, wall=START_WALL + t, width=WIDTH, height=HEIGHT)
        scores = np.array([0.5, 0.1, 0.7 if index >= 20 else 0.2])
        events += rule.decide(trucks(3), scores, obs)
    close = rule.finish(
        Observation(t=8.0, wall=START_WALL + 8.0, width=WIDTH, height=HEIGHT),
        "end of file",
    )

    opened = events[0]
    assert opened.count == 1
    assert opened.detail["peak_dust_score"] == pytest.approx(0.5)
    assert close[0].peak_count == 2
    assert close[0].detail["peak_dust_score"] == pytest.approx(0.7)
    assert close[0].detail["close_reason"] == "end of file"
    assert len(close[0].boxes) == 2


def test_outside_active_hours_closes():
    rule = make_rule(active_hours=["00:00-12:00"])
    morning = START_WALL - START_WALL % 86400 + 11.5 * 3600
    events = []
    for index in range(20):
        t = index / FPS
        obs = Observation(t=t, wall=morning + t, width=WIDTH, height=HEIGHT)
        events += rule.decide(trucks(1), np.array([0.6]), obs)
    noon = Observation(t=5.0, wall=morning + 1800, width=WIDTH, height=HEIGHT)
    events += rule.update(trucks(1), noon)

    assert states_of(events) == ["open", "close"]
    assert events[-1].detail["close_reason"] == "outside active hours"


def states_of(events) -> list[str]:
    return [event.state for event in events if event.state != "update"]


def test_duplicate_labels_count_once():
    boxes = np.array([[100, 600, 300, 800], [105, 602, 298, 798]], np.float32)
    detections = Detections(
        xyxy=boxes,
        scores=np.array([0.2, 0.14], np.float32),
        class_ids=np.array([NAMES.index("train"), NAMES.index("truck")]),
        class_names=NAMES,
    )
    obs = Observation(t=0, wall=START_WALL, width=WIDTH, height=HEIGHT)

    found = make_rule(classes=["truck", "train"]).trucks(detections, obs)
    only_truck = make_rule(classes=["truck"]).trucks(detections, obs)

    assert found.labels == ["train"]
    # The same object's better label is `train`, so it is no truck here.
    assert len(only_truck) == 0


def test_zone_selects_trucks_by_bottom_centre():
    left = Zone.from_points("left", [[0, 0], [0.5, 0], [0.5, 1], [0, 1]])
    obs = Observation(t=0, wall=START_WALL, width=WIDTH, height=HEIGHT)

    inside = make_rule(zone=left).trucks(trucks(1, x=0.2), obs)
    outside = make_rule(zone=left).trucks(trucks(1, x=0.8), obs)

    assert len(inside) == 1
    assert len(outside) == 0


def patch(colour, size=(64, 64), noise: float = 0.0) -> np.ndarray:
    image = np.empty((*size, 3), np.uint8)
    image[:] = colour
    if noise:
        rng = np.random.default_rng(1)
        offsets = rng.normal(0, noise, size)[..., None]
        image = np.clip(image + offsets, 0, 255).astype(np.uint8)
    return image


def test_dust_pixels_colour_and_texture():
    assert dust_pixels(patch(BEIGE)).mean() > 0.95
    assert dust_pixels(patch(ASPHALT)).mean() < 0.05
    assert dust_pixels(patch(SKY)).mean() < 0.05
    # Beige in a 2 px checkerboard of two shades (like gravel) is not a veil.
    textured = patch(BEIGE)
    cells = (np.indices((64, 64)) // 2).sum(axis=0) % 2 == 1
    textured[cells] = (textured[cells] * 0.75).astype(np.uint8)
    assert dust_pixels(textured).mean() < 0.05


def test_box_regions_clipped_to_frame():
    regions = {r.name: r for r in box_regions(np.array([0, 50, 40, 100]), 100, 100)}

    assert set(regions) == {"right", "above"}
    assert (regions["right"].x1, regions["right"].x2) == (40, 72)
    assert (regions["above"].y1, regions["above"].y2) == (20, 50)


def scene(side_colour) -> tuple[np.ndarray, np.ndarray]:
    """A 640x360 grey-road frame with a dark truck and `side_colour` to its right."""
    image = patch(ASPHALT, (360, 640), noise=12)
    image[150:250, 300:400] = (40, 40, 40)
    image[150:250, 400:470] = side_colour
    return image, np.array([[300, 150, 400, 250]], np.float32)


def test_score_finds_plume_beside_truck():
    image, box = scene(BEIGE)
    clean, _ = scene(ASPHALT)

    dusty = score_boxes(image, box, box)[0]
    plain = score_boxes(clean, box, box)[0]

    assert dusty.region == "right"
    assert dusty.score >= dust_threshold(0.5)
    assert plain.score < dust_threshold(0.5)


def test_score_skips_other_vehicle_pixels():
    image, box = scene(BEIGE)
    beige_lorry = np.array([[400, 150, 480, 250]], np.float32)

    result = score_boxes(image, box, np.vstack([box, beige_lorry]))[0]

    assert result.score < dust_threshold(0.5)


def test_background_removes_ground_always_there():
    ground = patch(BEIGE, (360, 640))
    ground[150:250, 300:400] = (40, 40, 40)
    box = np.array([[300, 150, 400, 250]], np.float32)
    background = DustBackground()

    before = score_boxes(ground, box, box, background)[0]
    for _ in range(background.warm_updates):
        learn_background(background, ground, box)
    after = score_boxes(ground, box, box, background)[0]

    # Before warm-up the rest of the rows is as beige as the regions, so the
    # spatial reference already cancels it; afterwards the background does.
    assert before.reference > 0.9
    assert after.reference > 0.9
    assert after.score < 0.05


@pytest.fixture(scope="module")
def detector(model_dir) -> Detector:
    return Detector(load_model_spec("yolox_nano", model_dir), score_threshold=0.1)


def test_score_on_still_above_threshold(detector):
    image = cv2.imread(str(media("stills/dump_truck_dust_1.jpg")))
    found = detector.detect([image])[0]
    truck = found.of_classes({"truck"})

    result = score_boxes(image, truck.xyxy, found.xyxy)

    assert len(result) == 1
    assert result[0].region == "right"
    assert result[0].score >= dust_threshold(0.5)


def test_score_on_motorway_below_threshold(detector):
    rule = make_rule(classes=["truck", "bus", "train"])
    container = av.open(str(media("uk_motorway_cctv_lorries.mp4")))
    scores = []
    try:
        for index, frame in enumerate(container.decode(video=0)):
            if index % 25:
                continue
            image = frame.to_ndarray(format="bgr24")
            found = detector.detect([image])[0]
            obs = Observation(0.0, START_WALL, frame.width, frame.height)
            chosen = rule.trucks(found, obs)
            scores += [r.score for r in score_boxes(image, chosen.xyxy, found.xyxy)]
    finally:
        container.close()

    assert len(scores) >= 20
    assert max(scores) < dust_threshold(0.5)


def still_video(tmp_path, name: str) -> str:
    """Play a still photograph as an 8 s, 5 fps H.264 video."""
    out = tmp_path / f"{name}.mp4"
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-loop",
            "1",
            "-i",
            str(media(f"stills/{name}.jpg")),
            "-t",
            "8",
            "-r",
            "5",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            "-vf",
            "scale=trunc(iw/2)*2:trunc(ih/2)*2",
            str(out),
        ],
        check=True,
        timeout=60,
    )
    return str(out)


def analyze_dust(tmp_path, model_dir, video: str) -> list[dict]:
    # YOLOX-Nano gives the hazy truck of the second still only `train` 0.12-0.21
    # and `truck` 0.11-0.14, so the detector keeps boxes from 0.1 and trains. On
    # a canvas fitted to the frame the same truck scores 0.09-0.10, so these
    # runs keep the square canvas.
    config = {
        "model": {
            "name": "yolox_nano",
            "dir": str(model_dir),
            "score_threshold": 0.1,
            "fit_canvas": False,
            "classes": ["person", "car", "bus", "train", "truck"],
        },
        "cameras": {
            "cam": {
                "url": "rtsp://127.0.0.1/x",
                "detect_fps": 5,
                "rules": [{"kind": "dust", "classes": ["truck", "train"]}],
            }
        },
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    result = run_cli("analyze", video, "--config", str(path), "--camera", "cam")
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


@pytest.mark.parametrize("name", ["dump_truck_dust_1", "dump_truck_dust_2"])
def test_analyze_finds_dust_on_still(tmp_path, model_dir, name):
    events = analyze_dust(tmp_path, model_dir, still_video(tmp_path, name))

    assert [e["state"] for e in events] == ["open", "close"]
    opened, closed = events
    assert opened["kind"] == "dust"
    assert opened["id"] == closed["id"]
    assert opened["media_time_s"] == pytest.approx(3.0, abs=0.5)
    assert opened["count"] == 1
    assert opened["boxes"][0]["label"] in ("truck", "train")
    assert closed["detail"]["peak_dust_score"] >= closed["detail"]["threshold"]
    assert closed["detail"]["close_reason"] == "end of file"


def test_analyze_no_dust_on_motorway(tmp_path, model_dir):
    events = analyze_dust(
        tmp_path, model_dir, str(media("uk_motorway_cctv_lorries.mp4"))
    )

    assert events == []
