"""The PatchMatch baseline: fills only the hole, reproducible from its seed, different across seeds."""

from __future__ import annotations

import numpy as np

from engine.models import MODELS, create_model


def test_patchmatch_fills_the_hole_reproducibly(sample_photo):
    image = np.ascontiguousarray(sample_photo[100:356, 100:356])
    mask = np.zeros(image.shape[:2], np.uint8)
    mask[90:150, 80:170] = 255
    model = create_model("patchmatch")
    first, second = model.inpaint_crop(image, mask, samples=2, seed=5)
    [again] = model.inpaint_crop(image, mask, seed=5)
    outside = mask == 0
    assert np.array_equal(first.image[outside], image[outside])
    assert np.array_equal(first.image, again.image)  # the same seed, the same completion
    assert not np.array_equal(first.image, second.image)  # another seed, another search
    assert np.abs(first.image[~outside].astype(int) - image[~outside].astype(int)).mean() < 60  # plausible colours
    assert MODELS["patchmatch"].weights_status().ready and not MODELS["patchmatch"].info.needs_face
