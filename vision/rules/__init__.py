"""Incident rules on the tracked detections of one camera.

Each rule is a small state machine with one entry point, `update`, that takes the
detections of one analysed frame and returns the incident events it causes, and
`finish`, which closes what is open. Only the dust rule looks at pixels, through
the pure scoring functions of `vision.dust`. Its state machine and all other
rules work on detections alone, so they are tested with tables of detection
sequences.
"""

from vision.rules.analyser import CameraAnalyser
from vision.rules.base import MIN_GAP_FRAMES, ActiveHours, CameraInfo, Observation
from vision.rules.dust import DustRule
from vision.rules.gathering import GatheringRule
from vision.rules.lines import LineCounter
from vision.rules.presence import IntrusionRule, LoiteringRule, ZoneMembership

__all__ = [
    "MIN_GAP_FRAMES",
    "ActiveHours",
    "CameraAnalyser",
    "CameraInfo",
    "DustRule",
    "GatheringRule",
    "IntrusionRule",
    "LineCounter",
    "LoiteringRule",
    "Observation",
    "ZoneMembership",
]
