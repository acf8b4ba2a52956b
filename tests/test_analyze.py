"""`sharpeyes analyze` on real footage, against MOT ground truth."""

from __future__ import annotations

import json

import pytest
import yaml

from benchmarks.mot import spans_from_events
from tests.conftest import media, run_cli
from tests.footage import (
    PETS_CLIP,
    PETS_FPS,
    PETS_FRAMES,
    assert_spans_match,
    pets_camera,
    pets_expected_spans,
)


def write_config(tmp_path, model_dir, cameras: dict):
    path = tmp_path / "config.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "data_dir": str(tmp_path / "data"),
                "model": {"name": "yolox_nano", "dir": str(model_dir)},
                "cameras": cameras,
            }
        )
    )
    return path


def analyze(config, camera: str, clip: str) -> list[dict]:
    result = run_cli(
        "analyze", str(media(clip)), "--config", str(config), "--camera", camera
    )
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


@pytest.fixture(scope="module")
def pets_records(tmp_path_factory, model_dir) -> list[dict]:
    """Events of one analyze run over the PETS clip, shared by the tests below."""
    tmp_path = tmp_path_factory.mktemp("pets")
    camera = pets_camera("rtsp://127.0.0.1/x")
    config = write_config(tmp_path, model_dir, {"plaza": camera})
    return analyze(config, "plaza", PETS_CLIP)


def test_pets_gatherings_match_ground_truth(pets_records):
    expected = pets_expected_spans()

    spans = spans_from_events(pets_records)

    assert len(expected) >= 1
    assert_spans_match(expected, spans, PETS_FRAMES / PETS_FPS)
    for record in pets_records:
        assert record["camera_id"] == "plaza"
        assert record["kind"] == "gathering"
        assert record["started_at"].endswith("+00:00")
        assert record["peak_count"] >= 5
        assert len(record["boxes"]) == record["peak_count"]


def test_pets_events_follow_lifecycle(pets_records):
    by_id: dict[str, list[str]] = {}
    for record in pets_records:
        by_id.setdefault(record["id"], []).append(record["state"])
    for states in by_id.values():
        assert states[0] == "open"
        assert states[-1] == "close"
        assert set(states[1:-1]) <= {"update"}


def test_indoor_one_by_one_has_no_gathering(tmp_path, model_dir):
    camera = {
        "url": "rtsp://127.0.0.1/x",
        "detect_fps": 5,
        "rules": [{"kind": "gathering", "min_people": 3, "min_seconds": 5}],
    }
    config = write_config(tmp_path, model_dir, {"hall": camera})

    records = analyze(config, "hall", "indoor_one_by_one_people.mp4")

    assert records == []


def test_unknown_camera_rejected(tmp_path, model_dir):
    config = write_config(
        tmp_path, model_dir, {"plaza": pets_camera("rtsp://127.0.0.1/x")}
    )

    result = run_cli(
        "analyze", str(media(PETS_CLIP)), "--config", str(config), "--camera", "gate"
    )

    assert result.returncode == 2
    assert "'gate'" in result.stderr


def test_start_time_drives_timestamps_and_hours(tmp_path, model_dir):
    def run(hours: list[str]) -> list[dict]:
        camera = {
            "url": "rtsp://127.0.0.1/x",
            "detect_fps": 10,
            "rules": [
                {
                    "kind": "gathering",
                    "min_people": 3,
                    "min_seconds": 1,
                    "active_hours": hours,
                }
            ],
        }
        config = write_config(tmp_path, model_dir, {"walk": camera})
        result = run_cli(
            "analyze",
            str(media("tud_campus_walkers.mp4")),
            "--config",
            str(config),
            "--camera",
            "walk",
            "--start",
            "2026-01-01T12:00:00Z",
        )
        assert result.returncode == 0, result.stderr
        return [json.loads(line) for line in result.stdout.splitlines()]

    inside = run(["12:00-13:00"])
    outside = run(["13:00-14:00"])

    assert [r["state"] for r in inside][0] == "open"
    assert inside[0]["started_at"].startswith("2026-01-01T12:00:0")
    assert outside == []
