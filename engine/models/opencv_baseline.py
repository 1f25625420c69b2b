"""The two classical baselines: OpenCV's Telea and Navier-Stokes inpainting.

They need no weights and no face, work on any size and are deterministic, so they are always
available: the fallback of every front end and the floor every learned model must beat in eval.
"""

from __future__ import annotations

import cv2
import numpy as np

from engine.models.base import CropCompletion, InpaintModel

MIN_RADIUS = 3
MAX_RADIUS = 15
WORK_HALF_THICKNESS = 32  # px: thicker holes are filled at a reduced scale


def half_thickness(hole: np.ndarray) -> float:
    """The largest distance from a hole pixel to the nearest known pixel."""
    return float(cv2.distanceTransform((hole > 127).astype(np.uint8), cv2.DIST_L2, 3).max())


def radius_for_hole(hole: np.ndarray) -> int:
    """Neighbourhood radius for ``cv2.inpaint`` scaled to the hole's thickness.

    OpenCV's default (3 px) suits scratches, but inside a thick hole the fast-marching front then
    copies thin streaks of boundary colour straight across. A radius of about a quarter of the
    hole's half-thickness averages over a wider band, clipped to [3, 15] px so thin strokes stay
    sharp and big holes stay affordable (the cost grows with radius squared).
    """
    return int(np.clip(round(half_thickness(hole) / 4), MIN_RADIUS, MAX_RADIUS))


class _OpenCVInpainter(InpaintModel):
    """Shared body: one deterministic completion, whatever the number of seeds asked.

    Both methods fill a hole with smooth colour, which a fill at lower resolution reproduces; so a
    hole thicker than ``2 * WORK_HALF_THICKNESS`` px is filled at the scale where it is that thick
    and the fill is scaled back up. Cost then follows the hole's shape, not the photo's pixel
    count, and thin strokes (the detailed case) are still filled at full resolution.
    """

    flag: int

    def _inpaint_crop(self, crop, mask, *, seeds, settings, progress, cancel):
        hole = mask if mask.ndim == 2 else mask.max(axis=2)
        scale = WORK_HALF_THICKNESS / max(half_thickness(hole), WORK_HALF_THICKNESS)
        if scale == 1.0:
            return [CropCompletion(image=self._fill(crop, hole), seed=seeds[0])]
        h, w = hole.shape
        work_size = (max(1, round(w * scale)), max(1, round(h * scale)))
        small = cv2.resize(crop, work_size, interpolation=cv2.INTER_AREA)
        # a partly covered pixel stays a hole, so no colour from inside the hole leaks into the fill
        small_hole = np.where(cv2.resize(hole, work_size, interpolation=cv2.INTER_AREA) > 0, 255, 0).astype(np.uint8)
        filled = cv2.resize(self._fill(small, small_hole), (w, h), interpolation=cv2.INTER_CUBIC)
        return [CropCompletion(image=filled, seed=seeds[0])]

    def _fill(self, image: np.ndarray, hole: np.ndarray) -> np.ndarray:
        return cv2.inpaint(np.ascontiguousarray(image), hole, radius_for_hole(hole), self.flag)


class TeleaInpainter(_OpenCVInpainter):
    """Telea 2004: fast marching from the hole's border."""

    flag = cv2.INPAINT_TELEA


class NavierStokesInpainter(_OpenCVInpainter):
    """Bertalmio et al. 2001: isophotes continued into the hole."""

    flag = cv2.INPAINT_NS
