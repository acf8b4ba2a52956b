"""Intrusion, loitering and line counting end to end through `sharpeyes analyze`
on real footage."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.conftest import media, run_cli


def analyze(tmp_path, model_dir, camera: dict, clip: str, *extra: str) -> list[dict]:
    path = tmp_path / "config.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "model": {"name": "yolox_nano", "dir": str(model_dir)},
                "cameras": {"cam": {"url": "rtsp://127.0.0.1/x", **camera}},
            }
        )
    )
    result = run_cli(
        "analyze", str(media(clip)), "--config", str(path), "--camera", "cam", *extra
    )
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


@pytest.fixture(scope="module")
def pets_events(tmp_path_factory, model_dir) -> list[dict]:
    camera = {
        "detect_fps": 7,
        "zones": {
            # The lawn in the lower part of the scene, and the whole frame.
            "lawn": {"polygon": [[0.1, 0.55], [1.0, 0.55], [1.0, 1.0], [0.1, 1.0]]},
            "scene": {"polygon": [[0.1, 0.0], [1.0, 0.0], [1.0, 1.0], [0.1, 1.0]]},
        },
        "rules": [
            {
                "kind": "intrusion",
                "zone": "lawn",
                "classes": ["person"],
                "min_seconds": 1,
            },
            {"kind": "loitering", "zone": "scene", "min_seconds": 30},
        ],
    }
    return analyze(
        tmp_path_factory.mktemp("pets"), model_dir, camera, "pets09_s2l1_plaza.mp4"
    )


def lifecycles(events: list[dict], kind: str) -> dict[str, list[dict]]:
    incidents: dict[str, list[dict]] = {}
    for event in events:
        if event["kind"] == kind:
            incidents.setdefault(event["id"], []).append(event)
    return incidents


def test_intrusion_on_pets_lawn(pets_events):
    incidents = lifecycles(pets_events, "intrusion")

    assert 1 <= len(incidents) <= 10
    for events in incidents.values():
        assert events[0]["state"] == "open"
        assert events[-1]["state"] == "close"
        assert events[-1]["detail"]["track_ids"]
        assert all(box["label"] == "person" for box in events[-1]["boxes"])
        assert all(box["box"][3] >= 0.55 * 576 for box in events[0]["boxes"])


def test_loitering_on_pets_one_track_each(pets_events):
    incidents = lifecycles(pets_events, "loitering")

    # People cross the plaza in well under 30 s, but some linger near the
    # building; each loitering incident belongs to exactly one track.
    assert incidents
    for events in incidents.values():
        assert events[0]["state"] == "open"
        assert len(events[0]["detail"]["track_ids"]) == 1
        assert events[0]["detail"]["dwell_s"] >= 30
        assert events[-1]["state"] == "close"


def test_line_counts_motorway_both_ways(tmp_path, model_dir):
    camera = {
        "detect_fps": 12.5,
        "rules": [
            {
                "kind": "line",
                "name": "km12",
                "line": [[0.0, 0.55], [1.0, 0.55]],
                "classes": ["car", "truck", "bus"],
            }
        ],
    }
    counts_file = tmp_path / "counts.json"

    events = analyze(
        tmp_path,
        model_dir,
        camera,
        "uk_motorway_cctv_lorries.mp4",
        "--counts",
        str(counts_file),
    )

    counts = json.loads(counts_file.read_text())["km12"]
    towards = sum(counts["in"].values())
    away = sum(counts["out"].values())
    assert events == []
    # Both carriageways carry traffic through the line in 30 s of video.
    assert towards >= 3
    assert away >= 3
    assert towards + away <= 80
