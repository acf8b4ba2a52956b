"""Intrusion, loitering, line counting, zone hysteresis and gathering options,
on tables of tracked boxes without video."""

from __future__ import annotations

import numpy as np
import pytest

from sharpeyes.config import CameraConfig
from vision.detections import Detections
from vision.rules import (
    ActiveHours,
    CameraAnalyser,
    CameraInfo,
    GatheringRule,
    IntrusionRule,
    LineCounter,
    LoiteringRule,
    Observation,
    ZoneMembership,
)
from vision.zones import Zone

FPS = 5.0
SIZE = 1000
NAMES = ("person", "bicycle", "car")
CAMERA = CameraInfo("gate", "village", "east gate")
LEFT_HALF = Zone.from_points("left", [[0, 0], [0.5, 0], [0.5, 1], [0, 1]])
# 2026-12-04 00:00 UTC as the start of every table.
MIDNIGHT = 1796342400.0


def tracked(*objects) -> Detections:
    """Boxes from (track id, x, y, class) with (x, y) the normalised bottom-centre."""
    rows, ids, classes = [], [], []
    for track_id, x, y, class_id in objects:
        cx, bottom = x * SIZE, y * SIZE
        rows.append([cx - 10, bottom - 40, cx + 10, bottom])
        ids.append(track_id)
        classes.append(class_id)
    count = len(rows)
    return Detections(
        xyxy=np.array(rows, np.float32).reshape(count, 4),
        scores=np.full(count, 0.9, np.float32),
        class_ids=np.array(classes, np.int64),
        class_names=NAMES,
        tracker_ids=np.array(ids, np.int64),
    )


def play(rule, frames, start_wall: float = MIDNIGHT + 12 * 3600):
    """Feed one Detections per frame at FPS; return (t, event) pairs."""
    events = []
    for index, detections in enumerate(frames):
        t = index / FPS
        obs = Observation(t=t, wall=start_wall + t, width=SIZE, height=SIZE)
        events += [(t, event) for event in rule.update(detections, obs)]
    return events


def config(kind: str, **settings):
    camera = CameraConfig.model_validate(
        {
            "url": "rtsp://127.0.0.1/x",
            "zones": {"left": {"polygon": [[0, 0], [0.5, 0], [0.5, 1], [0, 1]]}},
            "rules": [{"kind": kind, **settings}],
        }
    )
    return camera.rules[0]


def test_membership_ignores_edge_jitter():
    membership = ZoneMembership(LEFT_HALF, min_frames=2)
    changes = []
    inside_before = False
    for index in range(40):
        x = 0.49 if index % 2 else 0.51  # jitters across the edge every frame
        if index >= 20:
            x = 0.3  # then walks in for good
        inside = 1 in membership.update(
            tracked((1, x, 0.5, 0)), Observation(index / FPS, index / FPS, SIZE, SIZE)
        )
        if inside != inside_before:
            changes.append(index)
        inside_before = inside

    # Frames 19 (0.49) and 20 (0.3) are the first two inside in a row.
    assert changes == [20]


def test_intrusion_one_incident_per_occupation():
    rule = IntrusionRule(CAMERA, 0, config("intrusion", zone="left"), LEFT_HALF)
    outside, inside = (1, 0.8, 0.5, 0), (1, 0.2, 0.5, 0)
    second = (2, 0.3, 0.6, 2)
    frames = (
        [tracked(outside)] * 5
        + [tracked(inside)] * 20
        + [tracked(inside, second)] * 30
        + [tracked()] * 30
    )

    events = play(rule, frames)

    states = [event.state for _, event in events]
    assert states[0] == "open"
    assert states[-1] == "close"
    assert states.count("open") == 1
    assert "update" in states
    assert events[-1][1].detail["track_ids"] == [1, 2]
    assert events[-1][1].peak_count == 2


def test_intrusion_only_in_active_hours():
    rule = IntrusionRule(
        CAMERA,
        0,
        config("intrusion", zone="left", active_hours=["22:00-06:00"]),
        LEFT_HALF,
    )
    frames = [tracked((1, 0.2, 0.5, 0))] * 20

    at_noon = play(rule, frames, start_wall=MIDNIGHT + 12 * 3600)
    at_night = play(rule, frames, start_wall=MIDNIGHT + 23 * 3600)

    assert at_noon == []
    assert [event.state for _, event in at_night] == ["open"]


def test_intrusion_ignores_other_classes():
    rule = IntrusionRule(
        CAMERA, 0, config("intrusion", zone="left", classes=["car"]), LEFT_HALF
    )

    assert play(rule, [tracked((1, 0.2, 0.5, 0))] * 20) == []


def test_loitering_after_min_seconds_per_track():
    rule = LoiteringRule(
        CAMERA, 0, config("loitering", zone="left", min_seconds=10), LEFT_HALF
    )
    stays, passes = (1, 0.2, 0.5, 0), (2, 0.3, 0.5, 0)
    frames = [tracked(stays, passes)] * 25 + [tracked(stays)] * 40 + [tracked()] * 30

    events = play(rule, frames)

    opens = [(t, e) for t, e in events if e.state == "open"]
    assert len(opens) == 1
    assert opens[0][1].detail["track_ids"] == [1]
    assert opens[0][0] == pytest.approx(10.2, abs=0.3)
    assert [e.state for _, e in events][-1] == "close"


def test_line_counts_each_direction_once():
    counter = LineCounter(0, config("line", name="gate", line=[[0.5, 0], [0.5, 1]]))
    # From A (top) to B (bottom), the right side on screen is the left half.
    to_left = [tracked((1, 0.7 - 0.02 * i, 0.5, 2)) for i in range(20)]
    jitter = [
        tracked((2, 0.5 + (0.004 if i % 2 else -0.004), 0.5, 0)) for i in range(20)
    ]
    to_right = [tracked((3, 0.3 + 0.02 * i, 0.5, 0)) for i in range(20)]

    play(counter, to_left + jitter + to_right)

    assert counter.totals() == {"in": {"car": 1}, "out": {"person": 1}}


def test_line_ignores_crossing_beyond_segment():
    counter = LineCounter(0, config("line", name="gate", line=[[0.5, 0], [0.5, 0.4]]))
    below_end = [tracked((1, 0.7 - 0.02 * i, 0.8, 0)) for i in range(20)]

    play(counter, below_end)

    assert counter.totals() == {"in": {}, "out": {}}


def test_gathering_cluster_radius_splits_groups():
    rule = GatheringRule(
        CAMERA,
        0,
        config("gathering", min_people=5, min_seconds=2, cluster_radius=0.1),
        None,
    )
    group_a = [(i, 0.1 + 0.02 * i, 0.5, 0) for i in range(3)]
    group_b = [(10 + i, 0.8 + 0.02 * i, 0.5, 0) for i in range(3)]
    apart = play(rule, [tracked(*group_a, *group_b)] * 30)
    merged = play(
        rule,
        [tracked(*group_a, *[(10 + i, 0.2 + 0.02 * i, 0.5, 0) for i in range(3)])] * 30,
    )

    assert apart == []
    assert [e.state for _, e in merged] == ["open"]


def test_gathering_crowd_that_stays_is_one_incident():
    rule = GatheringRule(
        CAMERA, 0, config("gathering", min_people=5, min_seconds=5), None
    )
    crowd = tracked(*[(i, 0.1 * i, 0.5, 0) for i in range(6)])

    events = play(rule, [crowd] * int(3600 * FPS / 10))  # 6 minutes, steady

    assert [e.state for _, e in events] == ["open"]


def test_gathering_cooldown_after_close():
    rule = GatheringRule(
        CAMERA,
        0,
        config(
            "gathering",
            min_people=5,
            min_seconds=1,
            quiet_seconds=1,
            cooldown_seconds=30,
        ),
        None,
    )
    crowd = tracked(*[(i, 0.1 * i, 0.5, 0) for i in range(6)])
    frames = (
        [crowd] * 20
        + [tracked()] * 20
        + [crowd] * 20
        + [tracked()] * 100
        + [crowd] * 60
    )

    events = play(rule, frames)

    opens = [t for t, e in events if e.state == "open"]
    assert len(opens) == 2
    # The first incident closes at about 5 s, so nothing opens before 35 s,
    # although the crowd returns at 8 s and again at 32 s.
    assert opens[1] >= 5 + 30


def test_gathering_ignores_wall_clock_jumps():
    rule = GatheringRule(
        CAMERA, 0, config("gathering", min_people=5, min_seconds=4), None
    )
    crowd = tracked(*[(i, 0.1 * i, 0.5, 0) for i in range(6)])
    events = []
    for index in range(60):
        t = index / FPS
        # The wall clock steps back an hour halfway (an NTP correction).
        wall = MIDNIGHT + 12 * 3600 + t - (3600 if index >= 30 else 0)
        events += rule.update(crowd, Observation(t, wall, SIZE, SIZE))

    assert [e.state for e in events] == ["open"]


def test_two_zones_overlapping_incidents():
    camera = CameraConfig.model_validate(
        {
            "url": "rtsp://127.0.0.1/x",
            "zones": {
                "left": {"polygon": [[0, 0], [0.5, 0], [0.5, 1], [0, 1]]},
                "right": {"polygon": [[0.5, 0], [1, 0], [1, 1], [0.5, 1]]},
            },
            "rules": [
                {
                    "kind": "gathering",
                    "zone": "left",
                    "min_people": 3,
                    "min_seconds": 1,
                },
                {
                    "kind": "gathering",
                    "zone": "right",
                    "min_people": 3,
                    "min_seconds": 1,
                },
            ],
        }
    )
    analyser = CameraAnalyser("gate", camera)
    left = [(i, 0.1 + 0.1 * i, 0.5, 0) for i in range(3)]
    right = [(10 + i, 0.6 + 0.1 * i, 0.5, 0) for i in range(3)]
    frames = (
        [tracked(*left)] * 10 + [tracked(*left, *right)] * 10 + [tracked(*right)] * 40
    )

    events = []
    for index, detections in enumerate(frames):
        obs = Observation(index / FPS, index / FPS, SIZE, SIZE)
        events += analyser.process(detections.with_tracker_ids(None), obs)

    by_zone = {}
    for event in events:
        by_zone.setdefault(event.zone, []).append(event.state)
    assert by_zone["left"][0] == "open"
    assert by_zone["left"][-1] == "close"
    assert by_zone["right"][0] == "open"
    assert "close" not in by_zone["right"]
    assert len({e.id for e in events}) == 2


def test_active_hours_over_midnight():
    hours = ActiveHours(["22:00-06:00"], "Asia/Shanghai")

    # 22:30 and 05:59 in Shanghai (UTC+8) are inside; 12:00 is not.
    assert hours.active(MIDNIGHT + 14.5 * 3600)
    assert hours.active(MIDNIGHT + 21 * 3600 + 59 * 60)
    assert not hours.active(MIDNIGHT + 4 * 3600)


def test_gathering_open_lists_tracks_confirmed_later():
    rule = GatheringRule(
        CAMERA, 0, config("gathering", min_people=3, min_seconds=2), None
    )
    # The peak comes while the tracker has not confirmed anyone yet (id -1).
    unconfirmed = tracked(*[(-1, 0.1 * i, 0.5, 0) for i in range(1, 5)])
    confirmed = tracked(*[(i, 0.1 * i, 0.5, 0) for i in range(1, 4)])

    events = play(rule, [unconfirmed] * 3 + [confirmed] * 60)

    states = [e.state for _, e in events]
    assert states == ["open"]
    opened = events[0][1]
    assert opened.peak_count == 4
    assert opened.detail["track_ids"] == [1, 2, 3]
