"""The gathering rule on tables of person counts, without video."""

from __future__ import annotations

import numpy as np
import pytest

from sharpeyes.config import GatheringRuleConfig
from vision.detections import Detections
from vision.rules import CameraInfo, GatheringRule, Observation
from vision.zones import Zone

FPS = 5.0
WIDTH, HEIGHT = 1000, 1000
CAMERA = CameraInfo("plaza", "square", "gate")


def people(count: int, x: float = 0.5, y: float = 0.5) -> Detections:
    """`count` person boxes whose bottom-centres sit at (x, y) in fractions."""
    cx, bottom = x * WIDTH, y * HEIGHT
    boxes = np.tile([cx - 10, bottom - 50, cx + 10, bottom], (count, 1))
    return Detections(
        xyxy=boxes.astype(np.float32),
        scores=np.full(count, 0.9, np.float32),
        class_ids=np.zeros(count, np.int64),
        class_names=("person",),
    )


def make_rule(zone: Zone | None = None, **settings) -> GatheringRule:
    config = dict(kind="gathering", min_people=5, min_seconds=4, quiet_seconds=3)
    config.update(settings)
    return GatheringRule(CAMERA, 0, GatheringRuleConfig(**config), zone)


def play(rule: GatheringRule, counts: list[int], start: float = 0.0):
    """Feed one count per frame at FPS; return (time, event) pairs."""
    events = []
    for index, count in enumerate(counts):
        t = start + index / FPS
        obs = Observation(t=t, wall=1_700_000_000 + t, width=WIDTH, height=HEIGHT)
        events += [(t, event) for event in rule.update(people(count), obs)]
    return events


def states(events) -> list[str]:
    return [event.state for _, event in events if event.state != "update"]


def test_opens_after_min_seconds_and_closes_after_quiet():
    counts = [2] * 10 + [6] * 40 + [1] * 30
    events = play(make_rule(), counts)

    assert states(events) == ["open", "close"]
    opened_at = events[0][0]
    assert opened_at == pytest.approx(2.0 + 4.0)
    close_t, close = [(t, e) for t, e in events if e.state == "close"][0]
    assert close_t == pytest.approx(10.0 + 3.0)
    assert close.ended_at == pytest.approx(1_700_000_000 + 10.0)
    assert close.started_at == pytest.approx(1_700_000_000 + 2.0)


def test_one_id_from_open_to_close():
    counts = [6] * 30 + [7] * 30 + [6] * 30 + [0] * 30
    events = play(make_rule(), counts)

    assert len({event.id for _, event in events}) == 1
    assert [event.seq for _, event in events] == list(range(1, len(events) + 1))
    assert states(events) == ["open", "close"]
    assert events[-1][1].peak_count == 7


@pytest.mark.parametrize("gap_frames", [1, 2])
def test_dropout_keeps_incident_open(gap_frames):
    counts = [6] * 40 + [0] * gap_frames + [6] * 40 + [0] * 30
    events = play(make_rule(quiet_seconds=0.1), counts)

    assert states(events) == ["open", "close"]


@pytest.mark.parametrize("gap_frames", [1, 2])
def test_dropout_while_pending_keeps_timer(gap_frames):
    counts = [6] * 10 + [0] * gap_frames + [6] * 15
    events = play(make_rule(min_seconds=4), counts)

    assert states(events) == ["open"]
    assert events[0][0] == pytest.approx(4.0)


def test_long_dip_while_pending_restarts_timer():
    counts = [6] * 10 + [0] * 10 + [6] * 25
    events = play(make_rule(min_seconds=4), counts)

    assert states(events) == ["open"]
    assert events[0][0] == pytest.approx(4.0 + 4.0)


def test_short_crowd_never_opens():
    events = play(make_rule(min_seconds=4), [6] * 15 + [0] * 20)

    assert events == []


def test_updates_are_rate_limited():
    counts = []
    for second in range(60):
        counts += [5 + second % 3] * int(FPS)
    events = play(make_rule(update_seconds=10), counts)

    updates = [t for t, event in events if event.state == "update"]
    assert updates
    assert all(b - a >= 10 - 1e-9 for a, b in zip(updates, updates[1:], strict=False))
    assert len(updates) <= 6


def test_steady_crowd_sends_no_updates():
    events = play(make_rule(), [6] * 300)

    assert [event.state for _, event in events] == ["open"]


def test_people_outside_zone_not_counted():
    zone = Zone.from_points("left", [[0.0, 0.0], [0.4, 0.0], [0.4, 1.0], [0.0, 1.0]])
    rule = make_rule(zone=zone)
    events = []
    for index in range(50):
        t = index / FPS
        obs = Observation(t=t, wall=t, width=WIDTH, height=HEIGHT)
        inside, outside = people(3, x=0.2), people(4, x=0.8)
        both = Detections(
            xyxy=np.concatenate([inside.xyxy, outside.xyxy]),
            scores=np.concatenate([inside.scores, outside.scores]),
            class_ids=np.concatenate([inside.class_ids, outside.class_ids]),
            class_names=("person",),
        )
        events += rule.update(both, obs)

    assert events == []


def test_finish_closes_open_incident():
    rule = make_rule()
    play(rule, [6] * 30)
    obs = Observation(t=100.0, wall=100.0, width=WIDTH, height=HEIGHT)

    events = rule.finish(obs, "end of file")

    assert [event.state for event in events] == ["close"]
    assert events[0].detail["close_reason"] == "end of file"
    assert rule.finish(obs, "again") == []


def test_low_scores_not_counted():
    rule = make_rule(min_score=0.95)
    events = play(rule, [6] * 40)

    assert events == []


def test_zone_contains_uses_normalised_points():
    zone = Zone.from_points("tri", [[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    points = np.array([[0.1, 0.1], [0.9, 0.9], [0.4, 0.4], [0.6, 0.6]])

    assert zone.contains(points).tolist() == [True, False, True, False]
