"""The papers' random masks and free-form brush strokes.

Every generator takes ``seed``: an int (same int -> same mask), ``None`` (fresh entropy) or a
``np.random.Generator`` (drawn from, so a training loop can thread one generator through).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from engine.errors import MaskError
from engine.maskops import HOLE, Size, size_hw

Seed = int | np.random.Generator | None

CENTER_BLOCK_SIDE = 0.5  # the centre block's side as a fraction of the crop's (64 px at 128 px)


def make_rng(seed: Seed) -> np.random.Generator:
    return np.random.default_rng(seed)  # returns a Generator unchanged, seeds an int, draws for None


def random_block(size: Size = (128, 128), block: int | tuple[int, int] = 64, *, seed: Seed = None) -> np.ndarray:
    """One ``block`` square (or (h, w) rectangle) at a uniformly random position (Liao et al. 2018; Li et al. 2017).

    The block is given in pixels and does not scale with ``size``: at 128 px the papers use 64.
    """
    h, w = size_hw(size)
    bh, bw = size_hw(block)
    if bh > h or bw > w:
        raise MaskError(f"a {bw}x{bh} block does not fit in a {w}x{h} mask")
    rng = make_rng(seed)
    y = int(rng.integers(0, h - bh + 1))
    x = int(rng.integers(0, w - bw + 1))
    mask = np.zeros((h, w), np.uint8)
    mask[y : y + bh, x : x + bw] = HOLE
    return mask


def center_block(size: Size = (128, 128)) -> np.ndarray:
    """The centred square of side ``CENTER_BLOCK_SIDE`` of the crop, a quarter of its area (Sami,
    Khan and Rhidita 2018: "25% of the face missing"; Li et al. 2017's centre mask)."""
    h, w = size_hw(size)
    y0, x0 = int(h * (1 - CENTER_BLOCK_SIDE) / 2), int(w * (1 - CENTER_BLOCK_SIDE) / 2)
    mask = np.zeros((h, w), np.uint8)
    mask[y0 : h - y0, x0 : w - x0] = HOLE  # symmetric, so odd sizes stay centred
    return mask


def random_pattern(size: Size = (128, 128), ratio: float = 0.25, *, seed: Seed = None) -> np.ndarray:
    """Smooth random blobs covering ``ratio`` +- 0.05 of the image (the context encoder's pattern).

    After Pathak et al.'s released code: uniform noise on a coarse grid is upsampled bilinearly
    into a field larger than the image and thresholded, and a random window of it is kept if its
    hole ratio is within 0.05 of the target (their code accepted 20-30 %). The coarse grid has
    about 7.7 cells across the image (their 0.06 cells per pixel at 128 px), jittered by a
    random scale of 0.75-1.33 so blob sizes vary; blobs therefore scale with the image.
    """
    if not 0 < ratio < 1:
        raise MaskError(f"ratio must be between 0 and 1, got {ratio}")
    h, w = size_hw(size)
    rng = make_rng(seed)
    for _ in range(100):
        cell = min(h, w) / 7.68 * rng.uniform(0.75, 4 / 3)
        grid = (math.ceil(2 * h / cell) + 1, math.ceil(2 * w / cell) + 1)
        field = cv2.resize(
            rng.random(grid, dtype=np.float32),
            (round(grid[1] * cell), round(grid[0] * cell)),
            interpolation=cv2.INTER_LINEAR,
        )
        holes = field < np.quantile(field, ratio)
        y = int(rng.integers(0, field.shape[0] - h + 1))
        x = int(rng.integers(0, field.shape[1] - w + 1))
        window = holes[y : y + h, x : x + w]
        if abs(window.mean() - ratio) <= 0.05:
            return window.astype(np.uint8) * HOLE
    # Only tiny images get here (too few blobs to average out): threshold the window itself.
    window = field[y : y + h, x : x + w]
    return (window < np.quantile(window, ratio)).astype(np.uint8) * HOLE


def random_noise(size: Size = (128, 128), ratio: float = 0.8, *, seed: Seed = None) -> np.ndarray:
    """Each pixel missing independently with probability ``ratio`` (Liao et al. 2018: 80 %, after SII)."""
    if not 0 <= ratio <= 1:
        raise MaskError(f"ratio must be between 0 and 1, got {ratio}")
    return (make_rng(seed).random(size_hw(size)) < ratio).astype(np.uint8) * HOLE


@dataclass(frozen=True)
class StrokePreset:
    """Free-form brush parameters; lengths and widths are fractions of the mask's shorter side."""

    strokes: tuple[int, int]  # how many strokes (inclusive range)
    vertices: tuple[int, int]  # segments per stroke (inclusive range)
    width: tuple[float, float]  # brush width
    segment: tuple[float, float]  # length of one segment
    max_turn: float  # largest change of direction at a vertex, radians


# Mean hole ratios measured over 500 seeds at 256 px (5th-95th percentile): thin 11 % (4-18 %),
# medium 24 % (12-37 %), thick 37 % (11-62 %), the coverages LaMa's thin / medium / thick masks aim at.
STROKE_PRESETS: dict[str, StrokePreset] = {
    "thin": StrokePreset(strokes=(2, 6), vertices=(4, 9), width=(0.015, 0.035), segment=(0.08, 0.3), max_turn=2.0),
    "medium": StrokePreset(strokes=(2, 4), vertices=(4, 10), width=(0.06, 0.11), segment=(0.1, 0.3), max_turn=2.0),
    "thick": StrokePreset(strokes=(1, 4), vertices=(4, 10), width=(0.12, 0.22), segment=(0.1, 0.35), max_turn=2.0),
}


def brush_strokes(size: Size = (256, 256), preset: str = "medium", *, seed: Seed = None) -> np.ndarray:
    """Free-form strokes after DeepFill v2 / LaMa: random walks of thick lines with round joints.

    Each stroke starts anywhere, then turns by up to ``max_turn`` at each vertex; a disc at every
    vertex rounds the joints as a real brush would. ``STROKE_PRESETS`` lists the presets.
    """
    try:
        spec = STROKE_PRESETS[preset]
    except KeyError:
        raise MaskError(f"unknown stroke preset {preset!r}; choose one of {', '.join(STROKE_PRESETS)}") from None
    h, w = size_hw(size)
    side = min(h, w)
    rng = make_rng(seed)
    mask = np.zeros((h, w), np.uint8)
    for _ in range(int(rng.integers(spec.strokes[0], spec.strokes[1] + 1))):
        width = max(1, round(rng.uniform(*spec.width) * side))
        point = np.array([rng.uniform(0, w - 1), rng.uniform(0, h - 1)])
        heading = rng.uniform(0, 2 * math.pi)
        cv2.circle(mask, _pixel(point), width // 2, HOLE, thickness=-1)
        for _ in range(int(rng.integers(spec.vertices[0], spec.vertices[1] + 1))):
            heading += rng.uniform(-spec.max_turn, spec.max_turn)
            step = rng.uniform(*spec.segment) * side
            end = np.clip(point + step * np.array([math.cos(heading), math.sin(heading)]), 0, [w - 1, h - 1])
            cv2.line(mask, _pixel(point), _pixel(end), HOLE, thickness=width)
            cv2.circle(mask, _pixel(end), width // 2, HOLE, thickness=-1)
            point = end
    return mask


def _pixel(point: np.ndarray) -> tuple[int, int]:
    return int(round(point[0])), int(round(point[1]))
