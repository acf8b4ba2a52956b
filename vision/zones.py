"""Polygon zones in normalised frame coordinates (0..1, origin top-left)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Zone:
    """A named polygon; a detection is inside when its box's bottom-centre is.

    Coordinates are fractions of the frame width and height, so a zone keeps its
    place on the scene when the camera changes resolution.
    """

    name: str
    polygon: np.ndarray  # (K, 2) float, normalised x, y

    @classmethod
    def from_points(cls, name: str, points: list[list[float]]) -> Zone:
        return cls(name=name, polygon=np.asarray(points, dtype=np.float64))

    def contains(self, points: np.ndarray) -> np.ndarray:
        """Return a boolean mask of which (N, 2) normalised points lie inside.

        Even-odd ray casting; a point exactly on an edge may fall either side.
        """
        if len(points) == 0:
            return np.zeros((0,), bool)
        x = points[:, 0][:, None]
        y = points[:, 1][:, None]
        x1, y1 = self.polygon[:, 0], self.polygon[:, 1]
        x2, y2 = np.roll(x1, -1), np.roll(y1, -1)
        straddles = (y1 <= y) != (y2 <= y)
        with np.errstate(divide="ignore", invalid="ignore"):
            crossing_x = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
        crossings = straddles & (x < crossing_x)
        return (crossings.sum(axis=1) % 2) == 1


def normalise_points(points: np.ndarray, width: int, height: int) -> np.ndarray:
    """Convert (N, 2) pixel points to fractions of the frame size."""
    return points / np.array([width, height], dtype=np.float64)
