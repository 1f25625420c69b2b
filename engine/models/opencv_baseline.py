"""The two classical baselines: OpenCV's Telea and Navier-Stokes inpainting.

They need no weights and no face, work on any size and are deterministic, so they are always
available: the fallback of every front end and the floor every learned model must beat in eval.
"""

from __future__ import annotations

import cv2

from engine.inpainter import CropCompletion, InpaintModel, ModelInfo, register
from engine.prefill import classical_fill


class _OpenCVInpaint(InpaintModel):
    """Shared body: one deterministic completion (``engine.prefill.classical_fill``), whatever the number of seeds asked."""

    flag: int

    def complete_crop(self, crop, mask, *, seeds, progress, should_cancel):
        hole = mask if mask.ndim == 2 else mask.max(axis=2)
        return [CropCompletion(image=classical_fill(crop, hole, self.flag), seed=seeds[0])]


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
