"""Camera readers under real network faults, against real RTSP servers.

Every camera here plays the PETS09 clip from a GStreamer RTSP server on
127.0.0.1, directly or through the fault-injecting proxy in tests/faultproxy.py.
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from alerts.redis_server import free_port
from tests.conftest import media
from tests.faultproxy import FaultProxy
from tests.running import RunningService

CLIP = "pets09_s2l1_plaza.mp4"
RECOVERY_S = 10.0
FAST_CAMERA = {"detect_fps": 5, "read_timeout_s": 3, "open_timeout_s": 4}


def camera(url: str, **settings) -> dict:
    return {"url": url, **FAST_CAMERA, **settings}


@pytest.mark.slow
def test_faults_recover_without_leaks(tmp_path, model_dir, rtsp_server):
    killed = rtsp_server({"cam": media(CLIP)})
    frozen = rtsp_server({"cam": media(CLIP)})
    shared = rtsp_server({"cam": media(CLIP)})
    lossy = rtsp_server({"cam": media(CLIP)}, "--drop-probability", "0.03")
    proxies = {
        name: FaultProxy(shared.port) for name in ("refused", "silent", "corrupt")
    }
    cameras = {
        "killed": camera(killed.url("cam")),
        "frozen": camera(frozen.url("cam")),
        "lossy": camera(lossy.url("cam"), transport="udp"),
        **{
            name: camera(f"rtsp://127.0.0.1:{proxy.port}/cam")
            for name, proxy in proxies.items()
        },
    }
    service = RunningService(tmp_path, model_dir, cameras).start()
    try:
        service.wait_streaming(cameras, timeout=40)
        time.sleep(3)
        files_before, threads_before = service.open_files(), service.threads()

        # Inject every fault at once; each camera must recover on its own.
        killed_port = killed.port
        killed.process.send_signal(signal.SIGKILL)
        killed.process.wait()
        os.kill(frozen.process.pid, signal.SIGSTOP)
        proxies["refused"].refuse()
        refused_at = time.monotonic()
        proxies["silent"].mode = "blackhole"
        proxies["corrupt"].mode = "corrupt"

        service.wait_state("killed", {"reconnecting"}, timeout=10)
        stalled = service.wait_state("frozen", {"stalled", "reconnecting"}, timeout=10)
        assert stalled["reconnects"] >= 1
        service.wait_state("silent", {"stalled"}, timeout=10)
        service.wait_state("refused", {"reconnecting"}, timeout=10)
        corrupt = service.wait_state("corrupt", {"degraded"}, timeout=20)
        assert corrupt["decode_errors"] > 0
        assert proxies["corrupt"].corrupted_packets > 0
        lossy_status = service.wait_state("lossy", {"degraded"}, timeout=30)
        assert lossy_status["decode_errors"] > 0
        assert lossy_status["fps_analysed"] > 0

        # Sources come back one by one.
        time.sleep(5)
        rtsp_server({"cam": media(CLIP)}, port=killed_port)
        service.wait_streaming(["killed"], timeout=RECOVERY_S)
        os.kill(frozen.process.pid, signal.SIGCONT)
        service.wait_streaming(["frozen"], timeout=RECOVERY_S)
        proxies["silent"].mode = "forward"
        service.wait_streaming(["silent"], timeout=RECOVERY_S)
        proxies["corrupt"].mode = "forward"

        time.sleep(max(0.0, 60 - (time.monotonic() - refused_at)))
        status = service.cameras()["refused"]
        assert status["state"] == "reconnecting"
        # Capped backoff: at most one try per 0.5 * retry_max_s after the first few.
        assert status["reconnects"] <= 25
        proxies["refused"].accept()
        service.wait_streaming(["refused"], timeout=RECOVERY_S)

        # Healthy again: no restart loop, frames analysed everywhere.
        before = service.cameras()
        time.sleep(6)
        after = service.cameras()
        for camera_id in ("killed", "frozen", "silent", "refused", "corrupt"):
            assert after[camera_id]["state"] in ("streaming", "degraded"), camera_id
            assert after[camera_id]["reconnects"] == before[camera_id]["reconnects"]
            assert after[camera_id]["fps_analysed"] >= 3, camera_id

        # Nothing leaked: sockets, decoder threads and files came back to the
        # count they had while all cameras were healthy.
        assert service.open_files() <= files_before + 4
        assert service.threads() <= threads_before + 2
    finally:
        for proxy in proxies.values():
            proxy.close()
        if frozen.process.poll() is None:
            os.kill(frozen.process.pid, signal.SIGCONT)
        code = service.stop()
    assert code == 0
    assert "Traceback" not in service.log_text()


def silent_tcp_server():
    """Return a socket that accepts connections and never responds."""
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    return listener


def test_dead_cameras_do_not_slow_healthy_ones(tmp_path, model_dir, rtsp_server):
    server = rtsp_server({"a": media(CLIP), "b": media(CLIP), "c": media(CLIP)})
    silent = silent_tcp_server()
    rejecting = rtsp_server({"cam": media(CLIP)}, "--reject-auth")
    cameras = {
        "a": camera(server.url("a")),
        "b": camera(server.url("b")),
        "c": camera(server.url("c")),
        "refused": camera(f"rtsp://127.0.0.1:{free_port()}/cam", retry_initial_s=0.2),
        "silent": camera(f"rtsp://127.0.0.1:{silent.getsockname()[1]}/cam"),
        "badlogin": camera(
            f"rtsp://admin:${{BAD_PASSWORD}}@127.0.0.1:{rejecting.port}/cam",
            retry_initial_s=0.2,
        ),
        "missing": camera(server.url("nothere"), retry_initial_s=0.2),
    }
    service = RunningService(tmp_path, model_dir, cameras)
    service.start(env={"BAD_PASSWORD": "wr0ng-Secret"})
    try:
        service.wait_streaming(["a", "b", "c"], timeout=40)
        failed = service.wait_state("badlogin", {"failed"}, timeout=20)
        assert failed["reason"] == "authentication rejected"
        missing = service.wait_state("missing", {"failed"}, timeout=20)
        assert missing["reason"] == "stream not found"
        time.sleep(6)

        slowest = 0.0
        for _ in range(20):
            started = time.perf_counter()
            response = service.api.get("/api/cameras")
            slowest = max(slowest, time.perf_counter() - started)
            assert response.status_code == 200
            time.sleep(0.1)
        statuses = service.cameras()

        assert slowest < 0.2
        for camera_id in ("a", "b", "c"):
            assert statuses[camera_id]["fps_analysed"] >= 0.9 * 5, statuses[camera_id]
        assert statuses["refused"]["state"] == "reconnecting"
        assert statuses["refused"]["reason"] == "connection refused"
        assert statuses["silent"]["state"] in ("connecting", "reconnecting")
        assert "wr0ng-Secret" not in service.api.get("/api/cameras").text
    finally:
        code = service.stop()
        silent.close()
    assert code == 0
    assert "wr0ng-Secret" not in service.log_text()
