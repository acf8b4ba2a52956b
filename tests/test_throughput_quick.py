"""The frame-rate benchmark's quick mode runs end to end; timings are not judged."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import REPO


def test_quick_benchmark_reports_every_part(tmp_path, model_dir):
    output = tmp_path / "result.json"
    page = REPO / "benchmarks" / "THROUGHPUT.md"
    page_before = page.read_text() if page.exists() else None

    run = subprocess.run(
        [sys.executable, "-m", "benchmarks.throughput", "--quick"]
        + ["--json", str(output)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
    )

    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(output.read_text())
    labels = [item["label"] for item in result["decode"] + result["inference"]]
    assert any("RTSP" in label for label in labels)
    assert any(label.startswith("inference at 256x416") for label in labels)
    for item in result["decode"] + result["inference"]:
        assert item["per_second"] > 0, item
        assert item["core_seconds"] > 0, item
    assert result["limit_cameras"] > 0
    (row,) = result["pipeline"]["720p"]
    assert row["cameras"] == 2
    assert row["min_fps"] > 0
    assert row["rules_p95_s"] is not None
    assert row["alerts"] > 0
    assert row["service_cores"] > 0
    assert row["rss_mb"] > 0
    (naive,) = result["naive"]
    assert naive["cameras"] == 1
    assert naive["min_fps"] > 0
    assert "| cameras | min fps |" in run.stdout
    # Quick runs are for CI and leave the history page alone.
    assert (page.read_text() if page.exists() else None) == page_before
