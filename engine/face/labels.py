"""Dense labels drawn from 68 landmarks: Gaussian heatmaps and a face-parsing map.

Training uses them as targets (PD-GAN-style landmark priors, GFC's semantic parsing loss) and the
GUI shows them as overlays. Everything here is pure numpy/OpenCV and works at any crop size.
"""

from __future__ import annotations

import cv2
import numpy as np

from engine.face.landmarks68 import (
    INNER_LIPS,
    JAW,
    LEFT_BROW,
    LEFT_EYE,
    NOSE_BRIDGE,
    NOSE_LOWER,
    RIGHT_BROW,
    RIGHT_EYE,
)
from engine.face.types import five_points

# Label values of ``parsing_map`` (the index in this tuple is the value in the map):
#   0 background   everything that is not face (hair, neck, clothes, scenery)
#   1 skin         the face (jaw line closed over an extrapolated forehead) not covered below
#   2 brows        both eyebrows, drawn as thickened polylines
#   3 eyes         both eye openings (the six-point eye polygons)
#   4 nose         the wedge spanned by the nose bridge and the lower nose
#   5 upper_lip    upper half of the outer lip polygon, minus the inner mouth
#   6 lower_lip    lower half of the outer lip polygon, minus the inner mouth
#   7 inner_mouth  the inner lip polygon (teeth, tongue, the dark gap)
PARSING_CLASSES: tuple[str, ...] = (
    "background",
    "skin",
    "brows",
    "eyes",
    "nose",
    "upper_lip",
    "lower_lip",
    "inner_mouth",
)
BACKGROUND, SKIN, BROWS, EYES, NOSE, UPPER_LIP, LOWER_LIP, INNER_MOUTH = range(len(PARSING_CLASSES))

# Display colours (RGB) for ``colorize_parsing``, one per class.
PARSING_COLORS = np.array(
    [
        (0, 0, 0),
        (230, 180, 150),
        (120, 70, 30),
        (40, 120, 240),
        (250, 220, 60),
        (220, 40, 70),
        (160, 20, 110),
        (60, 220, 200),
    ],
    dtype=np.uint8,
)

# Outer lip points in iBUG order are 48..59 (48 = image-left corner, 54 = image-right corner, the
# upper contour 49..53 between them) and the inner ones 60..67 (60 and 64 the inner corners).
_UPPER_LIP = [48, 49, 50, 51, 52, 53, 54, 64, 63, 62, 61, 60]
_LOWER_LIP = [54, 55, 56, 57, 58, 59, 48, 60, 67, 66, 65, 64]

# Forehead height above the brows as a fraction of the brow-to-chin distance: the brows sit about
# two thirds of the way up from the chin to the hairline, so the forehead is about half of the
# brow-to-chin span; 0.4 stops short of the hairline, which hair often hides anyway.
_FOREHEAD = 0.4
# Brow thickness as a fraction of the inter-ocular distance (a brow is about 0.1-0.15 of it).
_BROW_THICKNESS = 0.12
# cv2 drawing with sub-pixel precision: coordinates are fixed point with this many fraction bits.
_SHIFT = 4


def default_sigma(shape: tuple[int, int]) -> float:
    """Heatmap sigma in pixels: 1.5 px at 64 px, growing with the square root of the size (3 px at 256).

    Linear growth would make peaks at 256 px four times wider than at 64 px and blur neighbouring
    landmarks together; the square root keeps them separable while staying learnable at large sizes.
    """
    return 1.5 * float(np.sqrt(min(shape[:2]) / 64.0))


def landmark_heatmaps(points: np.ndarray, shape: tuple[int, int], sigma: float | None = None) -> np.ndarray:
    """(N, H, W) float32 maps, one unnormalised Gaussian (peak 1.0) per point (x, y in pixels).

    Points with NaN coordinates give an all-zero map (a landmark that is not known).
    """
    pts = np.asarray(points, dtype=np.float32).reshape(-1, 2)
    height, width = int(shape[0]), int(shape[1])
    sigma = default_sigma((height, width)) if sigma is None else float(sigma)
    if sigma <= 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    xs = np.arange(width, dtype=np.float32)
    ys = np.arange(height, dtype=np.float32)
    # A 2-D Gaussian is the outer product of two 1-D ones: N*(H+W) exponentials instead of N*H*W.
    gx = np.exp(-((xs[None, :] - pts[:, :1]) ** 2) / (2 * sigma**2))
    gy = np.exp(-((ys[None, :] - pts[:, 1:]) ** 2) / (2 * sigma**2))
    maps = gy[:, :, None] * gx[:, None, :]
    return np.nan_to_num(maps, nan=0.0).astype(np.float32)


def heatmaps68(landmarks68: np.ndarray, shape: tuple[int, int], sigma: float | None = None) -> np.ndarray:
    """(68, H, W) heatmaps of the full iBUG layout."""
    lm = np.asarray(landmarks68, dtype=np.float32)
    if lm.shape != (68, 2):
        raise ValueError(f"expected (68, 2) landmarks, got {lm.shape}")
    return landmark_heatmaps(lm, shape, sigma)


def heatmaps5(landmarks68: np.ndarray, shape: tuple[int, int], sigma: float | None = None) -> np.ndarray:
    """(5, H, W) heatmaps of the eye centres, nose tip and mouth corners (``five_points`` order)."""
    return landmark_heatmaps(five_points(landmarks68), shape, sigma)


def heatmap_peaks(heatmaps: np.ndarray) -> np.ndarray:
    """(N, 2) x, y of each map's maximum, refined a quarter pixel towards the higher neighbour.

    The quarter-pixel step is the usual hourglass/FAN decoding (Newell et al.; face-alignment).
    """
    maps = np.asarray(heatmaps, dtype=np.float32)
    if maps.ndim != 3:
        raise ValueError(f"expected (N, H, W) heatmaps, got shape {maps.shape}")
    n, height, width = maps.shape
    ys, xs = np.divmod(maps.reshape(n, -1).argmax(axis=1), width)
    index = np.arange(n)
    left, right = np.clip(xs - 1, 0, width - 1), np.clip(xs + 1, 0, width - 1)
    up, down = np.clip(ys - 1, 0, height - 1), np.clip(ys + 1, 0, height - 1)
    dx = np.sign(maps[index, ys, right] - maps[index, ys, left])
    dy = np.sign(maps[index, down, xs] - maps[index, up, xs])
    return np.stack([xs + 0.25 * dx, ys + 0.25 * dy], axis=1).astype(np.float32)


def _fixed(points: np.ndarray) -> np.ndarray:
    return np.round(np.asarray(points, dtype=np.float64) * (1 << _SHIFT)).astype(np.int32)


def _fill(label_map: np.ndarray, points: np.ndarray, value: int) -> None:
    cv2.fillPoly(label_map, [_fixed(points)], int(value), lineType=cv2.LINE_8, shift=_SHIFT)


def _face_outline(lm: np.ndarray) -> np.ndarray:
    """Jaw line 0..16 closed over a forehead: the brows moved up along the face's vertical axis."""
    brows = np.concatenate([lm[LEFT_BROW], lm[RIGHT_BROW]])
    chin = lm[8]
    up = brows.mean(axis=0) - chin  # follows the head's roll, unlike the image's y axis
    forehead = brows + _FOREHEAD * up
    return np.concatenate([lm[JAW], forehead[::-1]])


def parsing_map(landmarks68: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """H x W uint8 label map (values index ``PARSING_CLASSES``) drawn from landmark polygons.

    Later parts are painted over earlier ones: face (skin), nose, brows, eyes, lips, inner mouth.
    It is a geometric approximation (no hair, ears or neck; the forehead is extrapolated), good
    enough as a parsing prior and overlay, not a substitute for a trained parser.
    """
    lm = np.asarray(landmarks68, dtype=np.float32)
    if lm.shape != (68, 2) or not np.isfinite(lm).all():
        raise ValueError(f"expected (68, 2) finite landmarks, got shape {lm.shape}")
    height, width = int(shape[0]), int(shape[1])
    labels = np.zeros((height, width), dtype=np.uint8)
    _fill(labels, _face_outline(lm), SKIN)
    nose = np.concatenate([lm[NOSE_BRIDGE], lm[NOSE_LOWER]])
    _fill(labels, cv2.convexHull(nose).reshape(-1, 2), NOSE)
    interocular = float(np.linalg.norm(lm[LEFT_EYE].mean(axis=0) - lm[RIGHT_EYE].mean(axis=0)))
    thickness = max(1, round(_BROW_THICKNESS * interocular))
    for brow in (LEFT_BROW, RIGHT_BROW):
        cv2.polylines(labels, [_fixed(lm[brow])], False, BROWS, thickness, cv2.LINE_8, _SHIFT)
    for eye in (LEFT_EYE, RIGHT_EYE):
        _fill(labels, lm[eye], EYES)
    _fill(labels, lm[_UPPER_LIP], UPPER_LIP)
    _fill(labels, lm[_LOWER_LIP], LOWER_LIP)
    _fill(labels, lm[INNER_LIPS], INNER_MOUTH)
    return labels


def skin_mask(landmarks68: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """H x W uint8, 255 = skin: the face minus brows, eyes, lips and inner mouth.

    The nose counts as skin (it is skin-coloured and skin-textured), which is what colour and
    texture statistics over "the skin" want.
    """
    labels = parsing_map(landmarks68, shape)
    return np.where((labels == SKIN) | (labels == NOSE), 255, 0).astype(np.uint8)


def colorize_parsing(label_map: np.ndarray) -> np.ndarray:
    """H x W x 3 uint8 RGB picture of a label map, one colour per class (``PARSING_COLORS``)."""
    labels = np.asarray(label_map)
    if labels.ndim != 2 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"expected an H x W integer label map, got {labels.dtype} of shape {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= len(PARSING_CLASSES)):
        raise ValueError(f"label values must lie in 0..{len(PARSING_CLASSES) - 1}, got {labels.min()}..{labels.max()}")
    return PARSING_COLORS[labels]
