"""Run `sharpeyes run` as a subprocess and watch it through its HTTP API."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from alerts.redis_server import free_port
from tests.conftest import REPO

ADMIN_TOKEN = "test-admin-token-0123456789"


class RunningService:
    """A `sharpeyes run` process with its own embedded Redis and API port."""

    def __init__(self, tmp_path: Path, model_dir: Path, cameras: dict, **extra) -> None:
        self.tmp_path = tmp_path
        self.api_port = free_port()
        self.config = {
            "redis_url": None,
            "data_dir": str(tmp_path / "data"),
            "model": {"name": "yolox_nano", "dir": str(model_dir), "threads": 1},
            "api": {
                "host": "127.0.0.1",
                "port": self.api_port,
                "admin_token": ADMIN_TOKEN,
            },
            "cameras": cameras,
            **extra,
        }
        self.config_path = tmp_path / "config.yaml"
        self.write_config()
        self.log_path = tmp_path / "run.log"
        self.process: subprocess.Popen | None = None
        self.api = httpx.Client(
            base_url=f"http://127.0.0.1:{self.api_port}",
            timeout=5,
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        )

    def write_config(self) -> None:
        self.config_path.write_text(yaml.safe_dump(self.config))

    def start(self, env: dict | None = None) -> RunningService:
        log = self.log_path.open("w")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sharpeyes",
                "run",
                "--config",
                str(self.config_path),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
            env={**os.environ, **(env or {})},
        )
        return self

    def log_text(self) -> str:
        return self.log_path.read_text()

    def cameras(self) -> dict[str, dict]:
        """Camera status by id; fails the test if the service died."""
        if self.process.poll() is not None:
            pytest.fail(f"sharpeyes run exited: {self.log_text()[-3000:]}")
        try:
            response = self.api.get("/api/cameras")
        except httpx.TransportError:
            return {}
        return {camera["camera_id"]: camera for camera in response.json()}

    def wait_state(self, camera_id: str, states: set[str], timeout: float) -> dict:
        last: dict = {}

        def reached():
            camera = self.cameras().get(camera_id)
            last["status"] = camera
            return camera if camera and camera["state"] in states else None

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            camera = reached()
            if camera:
                return camera
            time.sleep(0.2)
        pytest.fail(
            f"{camera_id} not in {sorted(states)} after {timeout} s; "
            f"last status {last.get('status')}"
        )

    def wait_streaming(self, camera_ids, timeout: float = 30) -> None:
        for camera_id in camera_ids:
            self.wait_state(camera_id, {"streaming", "degraded"}, timeout)

    def open_files(self) -> int:
        return len(os.listdir(f"/proc/{self.process.pid}/fd"))

    def threads(self) -> int:
        return len(os.listdir(f"/proc/{self.process.pid}/task"))

    def rss_bytes(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0

    def stop(self) -> int:
        self.api.close()
        process = self.process
        if process is None:
            return 0
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                pytest.fail("sharpeyes run did not stop within 40 s of SIGTERM")
        return process.returncode


def timed(function):
    started = time.perf_counter()
    result = function()
    return result, time.perf_counter() - started
