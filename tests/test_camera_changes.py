"""Adding, changing and removing cameras while the service runs."""

from __future__ import annotations

import signal
import time

import yaml

from tests.conftest import media, wait_for
from tests.running import RunningService

CLIP = "pets09_s2l1_plaza.mp4"


def test_sighup_and_api_change_cameras(tmp_path, model_dir, rtsp_server):
    server = rtsp_server({"a": media(CLIP), "b": media(CLIP), "c": media(CLIP)})
    base = {"detect_fps": 5, "read_timeout_s": 3}
    service = RunningService(
        tmp_path, model_dir, {"a": {"url": server.url("a"), **base}}
    ).start(env={"CAM_C_PASSWORD": "c-Secret-77"})
    try:
        service.wait_streaming(["a"], timeout=30)

        # SIGHUP: add b, keep a untouched.
        service.config["cameras"]["b"] = {"url": server.url("b"), **base}
        service.write_config()
        service.process.send_signal(signal.SIGHUP)
        service.wait_streaming(["b"], timeout=15)
        a_status = service.cameras()["a"]
        assert a_status["reconnects"] == 0
        assert a_status["state"] == "streaming"
        reloads = [
            r
            for r in service.api.get("/api/audit").json()
            if r["action"] == "config_reload"
        ]
        assert reloads[0]["actor"] == "sighup"
        assert reloads[0]["detail"]["cameras"] == ["a", "b"]

        # A bad edit is rejected as a whole; the running cameras carry on.
        service.config["cameras"]["b"]["zones"] = {
            "z": {"polygon": [[0, 0], [2, 0], [0, 1]]}
        }
        service.write_config()
        service.process.send_signal(signal.SIGHUP)
        wait_for(
            lambda: "config reload rejected" in service.log_text(), 10, message="reject"
        )
        assert "cameras.b.zones.z.polygon.1.0" in service.log_text()
        assert set(service.cameras()) == {"a", "b"}

        # The API adds a camera whose password comes from the service's environment.
        body = {
            "url": f"rtsp://admin:${{CAM_C_PASSWORD}}@127.0.0.1:{server.port}/c",
            **base,
        }
        response = service.api.put("/api/cameras/c", json=body)
        assert response.status_code == 202
        service.wait_state("c", {"streaming", "degraded"}, timeout=15)

        # Invalid bodies are rejected with the field named.
        bad = service.api.put(
            "/api/cameras/d", json={"url": server.url("a"), "detect_fps": 0}
        )
        assert bad.status_code == 422
        assert "detect_fps" in bad.text
        assert service.api.put("/api/cameras/bad id", json=body).status_code == 422

        # Change a through the API: only a restarts.
        b_before = service.cameras()["b"]
        response = service.api.put(
            "/api/cameras/a", json={"url": server.url("a"), "detect_fps": 2}
        )
        assert response.status_code == 202
        wait_for(
            lambda: service.cameras()["a"]["detect_fps"] == 2, 10, message="a at 2 fps"
        )
        service.wait_streaming(["a"], timeout=15)

        # Remove b (from the file) and c (from the API).
        assert service.api.delete("/api/cameras/b").status_code == 202
        assert service.api.delete("/api/cameras/c").status_code == 202
        assert service.api.delete("/api/cameras/nothere").status_code == 404
        wait_for(lambda: set(service.cameras()) == {"a"}, 10, message="only a left")
        time.sleep(3)
        b_after_remove = b_before["frames_received"]
        assert b_after_remove > 0
        assert service.cameras()["a"]["fps_analysed"] > 0
        text = service.api.get("/api/cameras").text
    finally:
        code = service.stop()
    assert code == 0
    assert "c-Secret-77" not in text
    assert "c-Secret-77" not in service.log_text()
    assert "camera b removed" in service.log_text()


def test_reload_keeps_file_untouched_cameras(tmp_path, model_dir, rtsp_server):
    server = rtsp_server({"a": media(CLIP)})
    cameras = {"a": {"url": server.url("a"), "detect_fps": 5}}
    service = RunningService(tmp_path, model_dir, cameras).start()
    try:
        service.wait_streaming(["a"], timeout=30)
        config = yaml.safe_load(service.config_path.read_text())
        config["model"]["score_threshold"] = 0.5
        service.config_path.write_text(yaml.safe_dump(config))
        service.process.send_signal(signal.SIGHUP)
        wait_for(
            lambda: (
                "config key model changed; it applies after a restart"
                in service.log_text()
            ),
            10,
            message="restart warning",
        )
        assert service.cameras()["a"]["reconnects"] == 0
    finally:
        assert service.stop() == 0
