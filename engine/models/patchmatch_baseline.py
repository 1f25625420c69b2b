"""PatchMatch (Barnes et al. 2009) through PyPatchMatch: a third classical baseline.

It copies patches from the known part of the photo into the hole, so it keeps texture (skin pores,
hair) where Telea and Navier-Stokes smear colour; it knows nothing of faces. No weights, no torch.
The library's random search is seeded from the completion's seed, so a result is reproducible.
"""

from __future__ import annotations

import threading

import numpy as np

from engine.maskops import flatten
from engine.models.base import CropCompletion, InpaintModel

PATCH_RADIUS = 3  # 7 x 7 patches: the library's examples; larger ones cost far more for little gain at face scale
_SEED_LOCK = threading.Lock()  # the library's random generator is process-wide


class PatchMatchInpainter(InpaintModel):
    """One completion per seed: PatchMatch's random search differs with the seed."""

    def _inpaint_crop(self, crop, mask, *, seeds, settings, progress, cancel, landmarks=None):
        from patchmatch import patch_match

        hole = (flatten(mask) > 127).astype(np.uint8)
        results = []
        for index, seed in enumerate(seeds):
            cancel.check(f"before sample {index + 1}")
            with _SEED_LOCK:
                patch_match.set_random_seed(int(seed) % 2**31)
                filled = patch_match.inpaint(np.ascontiguousarray(crop), hole, patch_size=PATCH_RADIUS)
            results.append(CropCompletion(image=np.asarray(filled, np.uint8), seed=seed))
        return results
