"""Dust score of the image regions beside and behind a vehicle.

The score is the fraction of dust-like pixels in the regions next to a truck box,
less the fraction expected there without dust. A pixel is dust-like when both
hold:

- Colour: a warm, pale, weakly saturated veil, as raised from soil. That is
  R >= G >= B (hue 0-60 degrees) with a hue of at least `MIN_HUE_DEG`, chroma
  (max - min of R, G, B) of at least `MIN_CHROMA`, saturation of at most
  `MAX_SATURATION` and value of at least `MIN_VALUE`. Neutral or bluish grey
  (asphalt, concrete, overcast sky, smoke against the sky) and green-yellow
  surfaces fail it.
- Texture: the grey-level gradient (Sobel, per analysis pixel) is below
  `MAX_GRADIENT`, because a plume hides the edges of what lies behind it.

Everything is measured on the frame scaled to `ANALYSIS_WIDTH` pixels wide, so
the texture scale and the cost do not depend on the camera's resolution. Three
regions are scored per box. Those to its left and right are 0.8 box widths wide
and as tall as the box. The one above it is as wide as the box and 0.6 box
heights tall, which is behind the truck on a camera that looks down on the road.
Pixels inside any detected vehicle box are left out, because a pale lorry beside
the truck is not dust. A region's score is its dust-like fraction minus a
reference, and the box's score is that of its best region.

The reference is the camera's own view without trucks once `DustBackground` has
seen enough truck-free frames, so that tan ground which is always there does not
count. Before that, it is the dust-like fraction of the rest of the frame in the
same rows, because a plume is local while a dirt road or haze fills the band.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# Width of the scaled frame that every feature is measured on (pixels).
ANALYSIS_WIDTH = 192
# Colour prior of a dust-like pixel, on R, G, B scaled to 0..1.
MIN_HUE_DEG = 15.0
MIN_CHROMA = 0.02
MAX_SATURATION = 0.4
MIN_VALUE = 0.3
# Largest Sobel gradient of the grey image (0..1 per analysis pixel) that still
# counts as a veil without texture.
MAX_GRADIENT = 0.04
# Region sizes as fractions of the box width (sides) and height (above).
SIDE_WIDTH = 0.8
ABOVE_HEIGHT = 0.6
# NOTE: a region with fewer free analysis pixels than this is skipped, so a
# truck box narrower than about 65 px in a 1920 px wide frame scores 0 and
# far-away trucks are not judged at all.
MIN_REGION_PIXELS = 24
# Thresholds at sensitivity 0 and 1; the threshold falls linearly in between.
THRESHOLD_AT_0 = 0.6
THRESHOLD_AT_1 = 0.1


def dust_threshold(sensitivity: float) -> float:
    """Return the score at or above which a truck counts as dusty.

    Sensitivity 0 gives 0.6 and sensitivity 1 gives 0.1, falling linearly, so a
    higher sensitivity never raises the threshold.
    """
    if not 0.0 <= sensitivity <= 1.0:
        raise ValueError(f"sensitivity {sensitivity} must be within 0..1")
    return THRESHOLD_AT_0 + (THRESHOLD_AT_1 - THRESHOLD_AT_0) * sensitivity


def analysis_scale(width: int) -> float:
    """Return the factor from frame pixels to analysis pixels."""
    return ANALYSIS_WIDTH / width


def dust_pixels(image: np.ndarray) -> np.ndarray:
    """Return a boolean map of the dust-like pixels of a BGR uint8 image.

    The image must already be at analysis scale; see the module docstring for the
    colour and texture tests.
    """
    blue, green, red = (channel.astype(np.int32) for channel in cv2.split(image))
    # With R >= G >= B, value is R, chroma is R - B and the hue is
    # 60 * (G - B) / (R - B) degrees, so every test is integer arithmetic on
    # 0..255 levels.
    chroma = red - blue
    colour = (red >= green) & (green >= blue)
    colour &= chroma * 255 >= round(MIN_CHROMA * 255 * 255)
    colour &= chroma * 100 <= round(MAX_SATURATION * 100) * red
    colour &= red >= round(MIN_VALUE * 255)
    colour &= (green - blue) * 60 >= round(MIN_HUE_DEG) * chroma

    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    # A 3x3 Sobel kernel sums weights of 8, so the limit per pixel is scaled by
    # 8 and by 255 grey levels.
    dx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3)
    dy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3)
    limit = MAX_GRADIENT * 8 * 255
    smooth = dx * dx + dy * dy < limit * limit
    return colour & smooth


def scale_image(image: np.ndarray) -> np.ndarray:
    """Scale a whole BGR frame to ANALYSIS_WIDTH pixels wide."""
    height, width = image.shape[:2]
    scale = analysis_scale(width)
    size = (ANALYSIS_WIDTH, max(1, round(height * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


@dataclass(frozen=True)
class Region:
    """A rectangle in analysis pixels, [x1, x2) by [y1, y2)."""

    name: str
    x1: int
    y1: int
    x2: int
    y2: int


def box_regions(box: np.ndarray, width: int, height: int) -> list[Region]:
    """Return the left, right and above regions of a box (analysis pixels).

    Regions are clipped to the `width` x `height` analysis frame; those left
    with less than 2 x 2 pixels are dropped.
    """
    x1, y1, x2, y2 = (float(v) for v in box)
    box_w, box_h = x2 - x1, y2 - y1
    candidates = [
        ("left", x1 - SIDE_WIDTH * box_w, y1, x1, y2),
        ("right", x2, y1, x2 + SIDE_WIDTH * box_w, y2),
        ("above", x1, y1 - ABOVE_HEIGHT * box_h, x2, y1),
    ]
    regions = []
    for name, left, top, right, bottom in candidates:
        left, top = max(0, round(left)), max(0, round(top))
        right, bottom = min(width, round(right)), min(height, round(bottom))
        if right - left >= 2 and bottom - top >= 2:
            regions.append(Region(name, left, top, right, bottom))
    return regions


def vehicle_mask(boxes: np.ndarray, width: int, height: int) -> np.ndarray:
    """Return a (height, width) mask that is True inside any box (analysis px)."""
    mask = np.zeros((height, width), bool)
    for x1, y1, x2, y2 in np.round(boxes).astype(int):
        mask[max(0, y1) : max(0, y2), max(0, x1) : max(0, x2)] = True
    return mask


@dataclass(frozen=True)
class BoxScore:
    """The dust score of one box, the region it came from and its reference."""

    score: float
    region: str | None
    fraction: float
    reference: float


class DustBackground:
    # NOTE: no footage here has a fixed camera with dusty and dust-free trucks,
    # so this reference is tested only on synthetic frames, and its rate and
    # warm-up count are untuned guesses.
    """Per-pixel rate of dust-like pixels in a camera's normal view.

    A running average over the truck-free frames handed to `learn`, at analysis
    scale, that leaves out pixels inside vehicle boxes. A pixel is warm once it
    has been learned `warm_updates` times; cold pixels have no reference here.
    """

    def __init__(self, alpha: float = 0.05, warm_updates: int = 15) -> None:
        self.alpha = alpha
        self.warm_updates = warm_updates
        self.rate: np.ndarray | None = None
        self.updates: np.ndarray | None = None

    def learn(self, dust: np.ndarray, vehicles: np.ndarray) -> None:
        """Fold one full-frame dust map (analysis scale) into the average."""
        if self.rate is None or self.rate.shape != dust.shape:
            self.rate = np.zeros(dust.shape, np.float32)
            self.updates = np.zeros(dust.shape, np.int32)
        free = ~vehicles
        # The first updates of a pixel average equally, later ones decay with
        # alpha, so a fresh background is not biased towards zero.
        weight = np.maximum(self.alpha, 1.0 / (self.updates + 1.0))
        self.rate[free] += weight[free] * (dust[free] - self.rate[free])
        self.updates[free] += 1

    def warm(self, shape: tuple[int, int]) -> np.ndarray | None:
        """Return a mask of warm pixels, or None when the map has another shape."""
        if self.updates is None or self.updates.shape != shape:
            return None
        return self.updates >= self.warm_updates


def score_boxes(
    image: np.ndarray,
    trucks: np.ndarray,
    vehicles: np.ndarray,
    background: DustBackground | None = None,
) -> list[BoxScore]:
    """Score each truck box (frame pixels, rows of x1, y1, x2, y2) for dust.

    `image` is the whole BGR frame and `vehicles` every vehicle box of the frame,
    trucks included, whose pixels are left out. Only the band of rows that the
    trucks' regions span is scaled and analysed.
    """
    if len(trucks) == 0:
        return []
    height, width = image.shape[:2]
    scale = analysis_scale(width)
    analysis_h = max(1, round(height * scale))
    boxes = np.asarray(trucks, np.float64) * scale
    top = max(
        0,
        int(np.floor((boxes[:, 1] - ABOVE_HEIGHT * (boxes[:, 3] - boxes[:, 1])).min())),
    )
    bottom = min(analysis_h, int(np.ceil(boxes[:, 3].max())))
    if bottom - top < 2:
        return [BoxScore(0.0, None, 0.0, 0.0) for _ in boxes]

    # Scale only the band of rows, aligned to the analysis grid of the whole frame.
    band_top = min(height - 1, int(round(top / scale)))
    band_bottom = max(band_top + 1, min(height, int(round(bottom / scale))))
    band = cv2.resize(
        image[band_top:band_bottom],
        (ANALYSIS_WIDTH, bottom - top),
        interpolation=cv2.INTER_AREA,
    )
    dust = dust_pixels(band)
    occupied = vehicle_mask(
        np.asarray(vehicles, np.float64) * scale - [0, top, 0, top],
        ANALYSIS_WIDTH,
        bottom - top,
    )

    learned, warm = None, None
    if background is not None:
        warm_full = background.warm((analysis_h, ANALYSIS_WIDTH))
        if warm_full is not None:
            learned = background.rate[top:bottom]
            warm = warm_full[top:bottom]

    results = []
    for box in boxes - [0, top, 0, top]:
        regions = box_regions(box, ANALYSIS_WIDTH, bottom - top)
        used = occupied.copy()
        for region in regions:
            used[region.y1 : region.y2, region.x1 : region.x2] = True
        rows = slice(
            max(0, round(box[1] - ABOVE_HEIGHT * (box[3] - box[1]))),
            max(0, round(box[3])),
        )
        rest = ~used[rows]
        rest_fraction = (
            float(dust[rows][rest].mean()) if rest.sum() >= MIN_REGION_PIXELS else 0.0
        )

        best = BoxScore(0.0, None, 0.0, 0.0)
        for region in regions:
            window = (slice(region.y1, region.y2), slice(region.x1, region.x2))
            free = ~occupied[window]
            if free.sum() < MIN_REGION_PIXELS:
                continue
            fraction = float(dust[window][free].mean())
            reference = rest_fraction
            if warm is not None and warm[window][free].all():
                reference = float(learned[window][free].mean())
            score = max(0.0, fraction - reference)
            if score > best.score or best.region is None:
                best = BoxScore(
                    round(score, 4),
                    region.name,
                    round(fraction, 4),
                    round(reference, 4),
                )
        results.append(best)
    return results


def learn_background(
    background: DustBackground, image: np.ndarray, vehicles: np.ndarray
) -> None:
    """Fold a truck-free frame into `background`, leaving out vehicle boxes."""
    scaled = scale_image(image)
    scale = analysis_scale(image.shape[1])
    mask = vehicle_mask(
        np.asarray(vehicles, np.float64).reshape(-1, 4) * scale,
        scaled.shape[1],
        scaled.shape[0],
    )
    background.learn(dust_pixels(scaled).astype(np.float32), mask)
