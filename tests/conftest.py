"""Shared fixtures: paths to the test footage and model, real Redis and RTSP servers.

The footage and model weights are not part of the repository. They are read from
the folder named by SHARPEYES_SHARED, by default `../shared` beside the checkout.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from alerts.redis_server import EmbeddedRedis

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SHARPEYES_SHARED", REPO.parent / "shared")).resolve()
MEDIA = SHARED / "media"
MODELS = SHARED / "models"
SYSTEM_PYTHON = os.environ.get("SHARPEYES_GST_PYTHON", "/usr/bin/python3")
RTSP_SERVE = REPO / "streams" / "rtsp_serve.py"


def media(name: str) -> Path:
    path = MEDIA / name
    if not path.is_file():
        pytest.fail(f"test footage {path} is missing; set SHARPEYES_SHARED")
    return path


@pytest.fixture(scope="session")
def model_dir() -> Path:
    if not (MODELS / "yolox_nano_dynbatch.onnx").is_file():
        pytest.fail(f"model weights missing in {MODELS}; set SHARPEYES_SHARED")
    return MODELS


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    """A real redis-server process, private to one test."""
    server = EmbeddedRedis(tmp_path / "redis")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_client(redis_server: EmbeddedRedis) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_server.url)
    yield client
    client.close()


@dataclass
class RtspServer:
    process: subprocess.Popen
    port: int

    def url(self, name: str) -> str:
        return f"rtsp://127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_rtsp_server(
    mounts: dict[str, Path], *extra: str, port: int = 0
) -> RtspServer:
    """Start streams/rtsp_serve.py under the system Python and wait for READY."""
    command = [SYSTEM_PYTHON, str(RTSP_SERVE), "--port", str(port), *extra]
    command += [f"{name}={path}" for name, path in mounts.items()]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    line = process.stdout.readline()
    if not line.startswith("READY"):
        process.kill()
        _, errors = process.communicate(timeout=5)
        pytest.fail(f"RTSP server did not start: {line!r} {errors[-2000:]}")
    return RtspServer(process=process, port=int(line.split()[1]))


@pytest.fixture
def rtsp_server() -> Iterator:
    """Factory that starts GStreamer RTSP servers on 127.0.0.1 and stops them."""
    started: list[RtspServer] = []

    def start(mounts: dict[str, Path], *extra: str, port: int = 0) -> RtspServer:
        server = start_rtsp_server(mounts, *extra, port=port)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def run_cli(*args: str, timeout: float = 600, **kwargs) -> subprocess.CompletedProcess:
    """Run `python -m sharpeyes ARGS` and capture its output."""
    return subprocess.run(
        [sys.executable, "-m", "sharpeyes", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        **kwargs,
    )


def wait_for(condition, timeout: float, interval: float = 0.2, message: str = ""):
    """Poll `condition` until it returns a truthy value; fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout} s waiting for {message or condition}")
