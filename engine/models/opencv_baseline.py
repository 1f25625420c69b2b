"""The two classical baselines: OpenCV's Telea and Navier-Stokes inpainting.

They need no weights and no face, work on any size and are deterministic, so they are always
available: the fallback of every front end and the floor every learned model must beat in eval.
"""

from __future__ import annotations

import cv2

from engine.maskops import flatten
from engine.models.base import CropCompletion, InpaintModel
from engine.prefill import classical_fill


class _OpenCVInpainter(InpaintModel):
    """Shared body: one deterministic completion (``engine.prefill.classical_fill``), whatever the number of seeds asked."""

    flag: int

    def _inpaint_crop(self, crop, mask, *, seeds, settings, progress, cancel, landmarks=None):
        hole = flatten(mask)
        return [CropCompletion(image=classical_fill(crop, hole, self.flag), seed=seeds[0])]


class TeleaInpainter(_OpenCVInpainter):
    """Telea 2004: fast marching from the hole's border."""

    flag = cv2.INPAINT_TELEA


class NavierStokesInpainter(_OpenCVInpainter):
    """Bertalmio et al. 2001: isophotes continued into the hole."""

    flag = cv2.INPAINT_NS
