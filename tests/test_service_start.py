"""Start-up failures and the embedded Redis's life cycle."""

from __future__ import annotations

import os
import signal
import socket
import time

import yaml

from tests.conftest import media, run_cli, wait_for
from tests.running import RunningService


def test_api_port_in_use_fails_cleanly(tmp_path, model_dir):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    config = {
        "data_dir": str(tmp_path / "data"),
        "model": {"name": "yolox_nano", "dir": str(model_dir)},
        "api": {"host": "127.0.0.1", "port": port},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))

    try:
        result = run_cli("run", "--config", str(path), timeout=60)
    finally:
        taken.close()

    assert result.returncode == 2
    assert f"api.port: cannot listen on 127.0.0.1:{port}" in result.stderr
    assert not (tmp_path / "data" / "redis" / "redis.url").exists()


def test_api_without_running_pipeline_explains(tmp_path, model_dir):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"data_dir": str(tmp_path / "data")}))

    result = run_cli("api", "--config", str(path), timeout=60)

    assert result.returncode == 2
    assert "no embedded Redis runs under" in result.stderr


def test_analyze_rejects_non_video(tmp_path, model_dir):
    notes = tmp_path / "notes.mp4"
    notes.write_text("not a video\n")
    path = tmp_path / "config.yaml"
    config = {
        "model": {"name": "yolox_nano", "dir": str(model_dir)},
        "cameras": {"c": {"url": "rtsp://127.0.0.1/x"}},
    }
    path.write_text(yaml.safe_dump(config))

    result = run_cli("analyze", str(notes), "--config", str(path), "--camera", "c")

    assert result.returncode == 2
    assert "cannot decode" in result.stderr
    assert "Traceback" not in result.stderr


def test_embedded_redis_restarted_after_crash(tmp_path, model_dir, rtsp_server):
    server = rtsp_server({"a": media("pets09_s2l1_plaza.mp4")})
    service = RunningService(
        tmp_path, model_dir, {"a": {"url": server.url("a")}}
    ).start()
    try:
        service.wait_streaming(["a"], timeout=30)
        url_file = tmp_path / "data" / "redis" / "redis.url"
        port = int(url_file.read_text().strip().rsplit(":", 1)[1].split("/")[0])
        pid = wait_for(lambda: redis_pid(port), 5, message="redis-server pid")
        os.kill(pid, signal.SIGKILL)
        time.sleep(1)

        def healthy():
            try:
                return service.api.get("/healthz").json()["status"] == "ok"
            except Exception:
                return False

        wait_for(healthy, 15, message="healthz ok after Redis restart")
        assert redis_pid(port) != pid
        assert service.cameras()["a"]["state"] == "streaming"
    finally:
        assert service.stop() == 0
    assert "embedded Redis exited; restarting it" in service.log_text()


def redis_pid(port: int) -> int | None:
    """PID of the redis-server process listening on `port`, from /proc."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                command = handle.read().replace(b"\0", b" ")
        except OSError:
            continue
        # redis-server rewrites its title to "redis-server 127.0.0.1:PORT".
        if b"redis-server" in command and f":{port}".encode() in command:
            return int(entry)
    return None
