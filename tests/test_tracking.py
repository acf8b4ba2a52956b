"""The ByteTrack-style tracker on synthetic box sequences."""

from __future__ import annotations

import numpy as np

from vision.detections import Detections
from vision.tracking import NO_TRACK, ByteTracker, iou_matrix

NAMES = ("person", "car")


def boxes(*rows, scores=None, classes=None) -> Detections:
    count = len(rows)
    return Detections(
        xyxy=np.array(rows, np.float32).reshape(count, 4),
        scores=np.array(scores or [0.9] * count, np.float32),
        class_ids=np.array(classes or [0] * count, np.int64),
        class_names=NAMES,
    )


def walk(x: float) -> list[float]:
    return [x, 100, x + 20, 160]


def test_ids_only_after_confirmation():
    tracker = ByteTracker(min_hits=3)
    ids = [
        tracker.update(boxes(walk(10 + 5 * i)), i * 0.2).tracker_ids[0]
        for i in range(5)
    ]

    assert ids[:2] == [NO_TRACK, NO_TRACK]
    assert ids[2] == ids[3] == ids[4] != NO_TRACK


def test_two_people_keep_distinct_ids():
    tracker = ByteTracker(min_hits=1)
    seen = []
    for i in range(10):
        found = tracker.update(boxes(walk(10 + 4 * i), walk(200 - 4 * i)), i * 0.2)
        seen.append(tuple(found.tracker_ids))

    assert len(set(seen)) == 1
    assert seen[0][0] != seen[0][1]


def test_weak_detection_keeps_track_alive():
    tracker = ByteTracker(min_hits=1, high_score=0.5)
    first = tracker.update(boxes(walk(10)), 0.0).tracker_ids[0]
    weak = tracker.update(boxes(walk(12), scores=[0.2]), 0.2).tracker_ids[0]
    strong = tracker.update(boxes(walk(14)), 0.4).tracker_ids[0]

    assert weak == first
    assert strong == first


def test_weak_detection_never_starts_track():
    tracker = ByteTracker(min_hits=1, high_score=0.5)
    for i in range(5):
        found = tracker.update(boxes(walk(10), scores=[0.3]), i * 0.2)

    assert found.tracker_ids[0] == NO_TRACK


def test_short_gap_keeps_id_long_gap_does_not():
    tracker = ByteTracker(min_hits=1, max_lost_s=1.0)
    first = tracker.update(boxes(walk(10)), 0.0).tracker_ids[0]
    tracker.update(boxes(), 0.2)
    after_gap = tracker.update(boxes(walk(12)), 0.6).tracker_ids[0]
    tracker.update(boxes(), 1.0)
    after_long_gap = tracker.update(boxes(walk(14)), 3.0).tracker_ids[0]

    assert after_gap == first
    assert after_long_gap not in (first, NO_TRACK)


def test_classes_do_not_swap():
    tracker = ByteTracker(min_hits=1)
    person = tracker.update(boxes(walk(10), classes=[0]), 0.0).tracker_ids[0]
    car = tracker.update(boxes(walk(10), classes=[1]), 0.2).tracker_ids[0]

    assert car != person


def test_iou_matrix():
    a = np.array([[0, 0, 10, 10]], float)
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]], float)

    np.testing.assert_allclose(iou_matrix(a, b), [[1.0, 50 / 150, 0.0]])
