"""The two classical baselines: OpenCV's Telea and Navier-Stokes inpainting.

They need no weights and no face, work on any size and are deterministic, so they are always
available: the fallback of every front end and the floor every learned model must beat in eval.
"""

from __future__ import annotations

import cv2
import numpy as np

from engine.inpainter import CropCompletion, InpaintModel, ModelInfo, register

MIN_RADIUS = 3
MAX_RADIUS = 15


def radius_for_hole(mask: np.ndarray) -> int:
    """Neighbourhood radius for ``cv2.inpaint`` scaled to the hole's thickness.

    OpenCV's default (3 px) suits scratches, but inside a thick hole the fast-marching front then
    copies thin streaks of boundary colour straight across. A radius of about a quarter of the
    hole's half-thickness (the largest distance from a hole pixel to known pixels) averages over
    a wider band, clipped to [3, 15] px so thin strokes stay sharp and big holes stay affordable
    (the cost grows with radius squared).
    """
    half_thickness = float(cv2.distanceTransform((mask > 127).astype(np.uint8), cv2.DIST_L2, 3).max())
    return int(np.clip(round(half_thickness / 4), MIN_RADIUS, MAX_RADIUS))


class _OpenCVInpaint(InpaintModel):
    """Shared body: one deterministic completion, whatever the number of seeds asked."""

    flag: int

    def complete_crop(self, crop, mask, *, seeds, progress, should_cancel):
        hole = mask if mask.ndim == 2 else mask.max(axis=2)
        filled = cv2.inpaint(np.ascontiguousarray(crop), hole, radius_for_hole(hole), self.flag)
        return [CropCompletion(image=filled, seed=seeds[0])]


@register
class TeleaInpaint(_OpenCVInpaint):
    info = ModelInfo(
        name="telea",
        display_name="Telea (OpenCV)",
        paper="Telea 2004, An image inpainting technique based on the fast marching method",
        resolution=0,
        needs_face=False,
        description="Fast classical fill from the hole's border; no face knowledge, no weights.",
    )
    flag = cv2.INPAINT_TELEA


@register
class NavierStokesInpaint(_OpenCVInpaint):
    info = ModelInfo(
        name="navier-stokes",
        display_name="Navier-Stokes (OpenCV)",
        paper="Bertalmio et al. 2001, Navier-Stokes, fluid dynamics, and image and video inpainting",
        resolution=0,
        needs_face=False,
        description="Classical fill that continues isophotes into the hole; no face knowledge, no weights.",
    )
    flag = cv2.INPAINT_NS
