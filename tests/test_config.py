"""Config validation: a bad input exits non-zero with one line naming key and value."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from sharpeyes.config import ConfigError, load_config
from tests.conftest import run_cli

GOOD_CAMERA = {
    "url": "rtsp://127.0.0.1:8554/plaza",
    "site": "square",
    "detect_fps": 5,
    "zones": {
        "centre": {"polygon": [[0.1, 0.2], [0.9, 0.2], [0.9, 0.95], [0.1, 0.95]]}
    },
    "rules": [
        {"kind": "gathering", "zone": "centre", "min_people": 5, "min_seconds": 10}
    ],
}


def write_config(tmp_path: Path, model_dir: Path, **overrides) -> Path:
    config = {
        "data_dir": str(tmp_path / "data"),
        "model": {"name": "yolox_nano", "dir": str(model_dir)},
        "cameras": {"plaza": dict(GOOD_CAMERA)},
    }
    config.update(overrides)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def check(path: Path):
    result = run_cli("check", "--config", str(path), timeout=120)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    return result, lines


def test_valid_config_passes(tmp_path, model_dir):
    result, lines = check(write_config(tmp_path, model_dir))

    assert result.returncode == 0, result.stderr
    assert lines == []
    assert "1 cameras" in result.stdout


@pytest.mark.parametrize(
    ("camera_change", "expected_key", "expected_value"),
    [
        ({"colour": "red"}, "cameras.plaza.colour", "'red'"),
        ({"url": None}, "cameras.plaza.url", "missing"),
        (
            {"zones": {"centre": {"polygon": [[0.1, 0.2], [1.5, 0.2], [0.9, 0.9]]}}},
            "cameras.plaza.zones.centre.polygon.1.0",
            "1.5",
        ),
        (
            {"rules": [{"kind": "gathering", "zone": "gate", "min_people": 3}]},
            "rules.0.zone",
            "'gate'",
        ),
        ({"detect_fps": -2}, "cameras.plaza.detect_fps", "-2"),
        ({"url": "http://127.0.0.1/cam"}, "cameras.plaza.url", "'http'"),
    ],
    ids=["unknown-key", "missing-url", "zone-point", "missing-zone", "fps", "scheme"],
)
def test_bad_camera_rejected(
    tmp_path, model_dir, camera_change, expected_key, expected_value
):
    camera = dict(GOOD_CAMERA)
    camera.update(camera_change)
    camera = {key: value for key, value in camera.items() if value is not None}
    path = write_config(tmp_path, model_dir, cameras={"plaza": camera})

    result, lines = check(path)

    assert result.returncode == 2
    assert len(lines) == 1, lines
    assert expected_key in lines[0]
    assert expected_value in lines[0]


def test_unknown_top_level_key(tmp_path, model_dir):
    result, lines = check(write_config(tmp_path, model_dir, redis_ur="redis://x"))

    assert result.returncode == 2
    assert len(lines) == 1, lines
    assert "redis_ur" in lines[0]
    assert "'redis://x'" in lines[0]


def test_missing_model_file(tmp_path, model_dir):
    empty = tmp_path / "weights"
    empty.mkdir()

    result, lines = check(write_config(tmp_path, empty))

    assert result.returncode == 2
    assert len(lines) == 1, lines
    assert "model.dir" in lines[0]
    assert "yolox_nano_dynbatch.onnx" in lines[0]
    assert "not found" in lines[0]


def test_model_with_wrong_sha256(tmp_path, model_dir):
    weights = tmp_path / "weights"
    weights.mkdir()
    damaged = weights / "yolox_nano_dynbatch.onnx"
    shutil.copyfile(model_dir / "yolox_nano_dynbatch.onnx", damaged)
    data = bytearray(damaged.read_bytes())
    data[-100] ^= 0xFF
    damaged.write_bytes(bytes(data))

    result, lines = check(write_config(tmp_path, weights))

    assert result.returncode == 2
    assert len(lines) == 1, lines
    assert "sha256" in lines[0]
    assert (
        "b6951444e55fdec8931f8f20b60cb38483158e145d7c6a51591bb9baab0afe8f" in lines[0]
    )


def test_unknown_model_name(tmp_path, model_dir):
    path = write_config(tmp_path, model_dir, model={"name": "yolo9000", "dir": "."})

    result, lines = check(path)

    assert result.returncode == 2
    assert len(lines) == 1, lines
    assert "'yolo9000'" in lines[0]


def test_password_from_environment_stays_hidden(tmp_path, model_dir, monkeypatch):
    monkeypatch.setenv("PLAZA_PASSWORD", "s3cr3t-pw")
    camera = dict(GOOD_CAMERA, url="http://admin:${PLAZA_PASSWORD}@127.0.0.1/cam")
    path = write_config(tmp_path, model_dir, cameras={"plaza": camera})

    result, lines = check(path)

    assert result.returncode == 2
    assert "s3cr3t-pw" not in result.stderr
    assert "***@127.0.0.1" in lines[0]


def test_environment_reference_expanded(tmp_path, model_dir, monkeypatch):
    monkeypatch.setenv("PLAZA_PASSWORD", "pw")
    camera = dict(GOOD_CAMERA, url="rtsp://admin:${PLAZA_PASSWORD}@127.0.0.1/cam")
    path = write_config(tmp_path, model_dir, cameras={"plaza": camera})

    config = load_config(path)

    assert config.cameras["plaza"].url == "rtsp://admin:pw@127.0.0.1/cam"


def test_unset_environment_reference(tmp_path, model_dir, monkeypatch):
    monkeypatch.delenv("NO_SUCH_PASSWORD", raising=False)
    camera = dict(GOOD_CAMERA, url="rtsp://admin:${NO_SUCH_PASSWORD}@127.0.0.1/cam")
    path = write_config(tmp_path, model_dir, cameras={"plaza": camera})

    with pytest.raises(ConfigError, match="cameras.plaza.url: environment variable"):
        load_config(path)


def test_relative_paths_follow_config_file(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("data_dir: ./state\nmodel: {dir: weights}\n")

    config = load_config(path)

    assert config.data_dir == tmp_path / "state"
    assert config.model.dir == tmp_path / "weights"


def test_invalid_yaml(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("cameras: [unclosed\n")

    result, lines = check(path)

    assert result.returncode == 2
    assert len(lines) == 1
    assert "invalid YAML" in lines[0]


@pytest.mark.parametrize(
    ("changes", "expected_key", "expected_text"),
    [
        (
            {"url": "rtsp://admin:hunter2@127.0.0.1:notaport/x"},
            "cameras.plaza.url",
            "invalid port",
        ),
        ({"rules": [{"zone": "centre", "min_people": 3}]}, "rules.0.kind", "missing"),
        ({"rules": [{"kind": "parade"}]}, "rules.0.kind", "'parade'"),
    ],
    ids=["bad-port", "rule-without-kind", "unknown-rule-kind"],
)
def test_more_bad_cameras(tmp_path, model_dir, changes, expected_key, expected_text):
    camera = dict(GOOD_CAMERA, **changes)
    result, lines = check(write_config(tmp_path, model_dir, cameras={"plaza": camera}))

    assert result.returncode == 2
    assert len(lines) == 1, lines
    assert expected_key in lines[0]
    assert expected_text in lines[0]
    assert "hunter2" not in result.stderr


@pytest.mark.parametrize(
    ("rule", "expected_key", "expected_text"),
    [
        (
            {"kind": "gathering", "active_hours": ["25:00-26:00"]},
            "cameras.plaza.rules.0.active_hours",
            "'25:00-26:00' is not a daily window",
        ),
        (
            {"kind": "gathering", "active_hours": ["10:00-10:00"]},
            "cameras.plaza.rules.0.active_hours",
            "starts and ends at the same time",
        ),
        (
            {"kind": "line", "name": "gate", "line": [[0.5, 0.1], [0.5, 0.1]]},
            "cameras.plaza.rules.0.line",
            "the same",
        ),
        (
            {"kind": "intrusion", "zone": "centre", "classes": ["dragon"]},
            "cameras.plaza.rules.0.classes",
            "'dragon'",
        ),
    ],
    ids=["hours-pattern", "empty-window", "line-one-point", "unknown-class"],
)
def test_bad_rules(tmp_path, model_dir, rule, expected_key, expected_text):
    camera = dict(GOOD_CAMERA, rules=[rule])
    result, lines = check(write_config(tmp_path, model_dir, cameras={"plaza": camera}))

    assert result.returncode == 2
    assert len(lines) == 1, lines
    assert expected_key in lines[0]
    assert ".gathering." not in lines[0]
    assert expected_text in lines[0]


@pytest.mark.parametrize(
    ("changes", "expected_key", "expected_text"),
    [({"timezone": "Mars/Olympus"}, "cameras.plaza.timezone", "'Mars/Olympus'")],
    ids=["timezone"],
)
def test_bad_timezone(tmp_path, model_dir, changes, expected_key, expected_text):
    camera = dict(GOOD_CAMERA, **changes)
    result, lines = check(write_config(tmp_path, model_dir, cameras={"plaza": camera}))

    assert result.returncode == 2
    assert len(lines) == 1, lines
    assert expected_key in lines[0]
    assert lines[0].count(expected_text) == 1


def test_redis_url_scheme_checked(tmp_path, model_dir):
    path = write_config(
        tmp_path, model_dir, redis_url="http://user:hunter2@127.0.0.1:1/0"
    )

    result, lines = check(path)

    assert result.returncode == 2
    assert len(lines) == 1, lines
    assert "redis_url" in lines[0]
    assert "hunter2" not in result.stderr


def test_unavailable_provider_rejected_by_check(tmp_path, model_dir):
    model = {
        "name": "yolox_nano",
        "dir": str(model_dir),
        "providers": ["NoSuchExecutionProvider"],
    }

    result, lines = check(write_config(tmp_path, model_dir, model=model))

    assert result.returncode == 2
    assert len(lines) == 1, lines
    assert "model.providers" in lines[0]
    assert "NoSuchExecutionProvider" in lines[0]
