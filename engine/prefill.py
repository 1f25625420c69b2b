"""Classical hole fills shared by the OpenCV baselines and the learned models' prefill.

The quality recipe starts every learned model from Telea's fill (the network adds a residual to
it), so the fill must be exactly the one the ``telea`` baseline returns: both call this module.
No torch here: the baselines run without it.
"""

from __future__ import annotations

import cv2
import numpy as np

MIN_RADIUS = 3
MAX_RADIUS = 15
WORK_HALF_THICKNESS = 32  # px: thicker holes are filled at a reduced scale
FACE_OUTLINE = slice(0, 27)  # the jaw (0-16) and brows (17-26) of the 68 landmarks
MAX_LIGHTING_DIFFERENCE = 48  # grey levels: a pixel pair differing more is read as two materials, not shade
MIRROR_DEPTH = 1 / 8  # of the crop's width: how far into a hole the face-mirror fill passes from Telea's to the mirror


def hole_depth(hole: np.ndarray) -> np.ndarray:
    """(H, W) float32: each hole pixel's distance to the nearest known pixel (0 where known)."""
    return cv2.distanceTransform((hole > 127).astype(np.uint8), cv2.DIST_L2, 3)


def half_thickness(hole: np.ndarray) -> float:
    """The largest distance from a hole pixel to the nearest known pixel."""
    return float(hole_depth(hole).max())


def radius_for_hole(hole: np.ndarray) -> int:
    """Neighbourhood radius for ``cv2.inpaint`` scaled to the hole's thickness.

    OpenCV's default (3 px) suits scratches, but inside a thick hole the fast-marching front then
    copies thin streaks of boundary colour straight across. A radius of about a quarter of the
    hole's half-thickness averages over a wider band, clipped to [3, 15] px so thin strokes stay
    sharp and big holes stay affordable (the cost grows with radius squared).
    """
    return int(np.clip(round(half_thickness(hole) / 4), MIN_RADIUS, MAX_RADIUS))


def classical_fill(image: np.ndarray, hole: np.ndarray, flag: int = cv2.INPAINT_TELEA) -> np.ndarray:
    """Fill ``hole`` (H x W uint8, > 127 = missing) of ``image`` (H x W x 3 uint8) with Telea or Navier-Stokes.

    Both fill a hole with smooth colour, which a fill at lower resolution reproduces; so a hole
    thicker than ``2 * WORK_HALF_THICKNESS`` px is filled at the scale where it is that thick and
    the fill is scaled back up. Cost then follows the hole's shape, not the photo's pixel count,
    and thin strokes (the detailed case) are still filled at full resolution.
    """
    hole = np.where(hole > 127, 255, 0).astype(np.uint8)
    if not hole.any():
        return image.copy()
    scale = WORK_HALF_THICKNESS / max(half_thickness(hole), WORK_HALF_THICKNESS)
    if scale == 1.0:
        return cv2.inpaint(np.ascontiguousarray(image), hole, radius_for_hole(hole), flag)
    h, w = hole.shape
    work_size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = cv2.resize(image, work_size, interpolation=cv2.INTER_AREA)
    # a partly covered pixel stays a hole, so no colour from inside the hole leaks into the fill
    small_hole = np.where(cv2.resize(hole, work_size, interpolation=cv2.INTER_AREA) > 0, 255, 0).astype(np.uint8)
    small_fill = cv2.inpaint(np.ascontiguousarray(small), small_hole, radius_for_hole(small_hole), flag)
    return cv2.resize(small_fill, (w, h), interpolation=cv2.INTER_CUBIC)


def face_region(landmarks: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(H, W) bool: the pixels inside the outline of the jaw and brows of 68 ``landmarks`` (x, y pixels)."""
    span = 4 * max(shape)  # far-off points (a wild detection) stay far off without overflowing int32
    outline = np.clip(np.asarray(landmarks, np.float64)[FACE_OUTLINE], -span, span)
    region = np.zeros(shape, np.uint8)
    cv2.fillConvexPoly(region, cv2.convexHull(np.round(outline).astype(np.int32)), 1)
    return region.astype(bool)


def mirror_fill(image: np.ndarray, hole: np.ndarray, landmarks: np.ndarray | None = None) -> np.ndarray:
    """Fill ``hole`` of an aligned face crop with the face's own mirror image where it can, Telea elsewhere.

    Alignment puts the face's axis of symmetry on the crop's centre column, so a hidden eye or half
    face is, to first order, the other one flipped: a real eye of this person, which no smooth fill
    and no network trained for a few CPU-hours draws (on 38 held-out faces it took one-eye holes
    from 26.9 to 29.8 dB and identity distance from 0.387 to 0.295). Lighting from one side makes
    the two halves differ in brightness, so the mirrored pixels are corrected by a smooth (Telea)
    fill of the difference between the face and its mirror, read where both are known: no seam.
    Hole pixels whose mirror is hidden too (a mouth, both eyes) get Telea's fill.

    With the face's ``landmarks`` (68, in the crop's pixels) only pixels whose mirror lies inside
    the face too are mirrored: a turned head's far side is narrower than its near side, so the
    mirror of the near cheek is background or hair (a red and green blotch on a three-quarter
    view). The lighting correction is read only from pixel pairs that differ as shade does (at
    most ``MAX_LIGHTING_DIFFERENCE``), not as skin and backdrop do (skin minus a red backdrop
    tinted the mirrored cheek green). On 58 held-out faces at 96 px this took half-face holes
    from 19.8 / 20.2 dB (whole-crop mirror) and 20.5 / 20.7 (Telea) to 21.3 / 21.7 with the
    mirror's identity gain (0.40 / 0.38 against Telea's 0.46 / 0.43), one-eye holes to 29.3 /
    29.2 dB (mirror 28.8 / 29.5, Telea 26.9 / 27.0)
    (``python3 docs/probe_mirror_prefill.py --subset 60``).

    With landmarks the mirror also fades in with depth: a hole pixel at distance d from the
    nearest known pixel takes ``min(d / depth, 1)`` of the mirror and the rest of Telea's fill,
    ``depth = MIRROR_DEPTH`` of the crop's width. Near the edge of a hole its own surroundings
    predict a pixel better than the other half of the face does (no face is exactly symmetric
    nor exactly centred), so thin strokes stay Telea's: on 115 held-out faces of the irregular
    protocol the unfaded fill lost 0.8 to 4.7 dB to Telea in five of six hole-area buckets (10-20 %:
    28.1 against 32.8 dB), the faded one is within 0.25 dB of Telea or above it in every bucket;
    on 58 faces of ``mde-occlusions`` it also gained on one-eye holes (30.1 / 29.8 dB against
    29.3 / 29.2) and half faces (21.5 / 22.0 against 21.3 / 21.7).
    """
    missing = hole > 127
    mirrored_missing = missing[:, ::-1]
    from_mirror = missing & ~mirrored_missing
    unreadable = missing | mirrored_missing  # where the face-minus-mirror difference is unknown
    mirror = image[:, ::-1].astype(np.float32)
    difference = image.astype(np.float32) - mirror
    if landmarks is not None:
        inside = face_region(landmarks, missing.shape)
        from_mirror &= inside & inside[:, ::-1]
        # and read the lighting only from pairs that differ as shade does (a face half in the
        # shadow), not as skin and backdrop do: skin minus the red backdrop beside a turned head
        # tinted the mirrored cheek green
        unreadable |= np.abs(difference).max(axis=2) > MAX_LIGHTING_DIFFERENCE
    fill = classical_fill(image, hole)
    if not from_mirror.any():
        return fill
    if unreadable.all():
        correction = np.zeros_like(mirror)
    else:
        # the difference field, in half grey levels around 128 (8 bits for cv2.inpaint), filled where unknown
        field = np.clip(difference / 2 + 128, 0, 255).round().astype(np.uint8)
        unknown = np.where(unreadable, 255, 0).astype(np.uint8)
        correction = (classical_fill(field, unknown).astype(np.float32) - 128) * 2
    corrected = mirror + correction
    if landmarks is not None:
        weight = np.minimum(hole_depth(hole) / (MIRROR_DEPTH * missing.shape[1]), 1.0)[..., None]
        corrected = weight * corrected + (1 - weight) * fill
    fill[from_mirror] = np.clip(corrected, 0, 255).round().astype(np.uint8)[from_mirror]
    return fill
