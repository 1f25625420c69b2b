"""Fixtures of the learned models' engine tests."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image


@pytest.fixture(scope="session")
def sample_square(sample_photo):
    """``sample_square(size)``: the sample photo's centre square resized to a model's crop size."""

    def make(size: int) -> np.ndarray:
        h, w = sample_photo.shape[:2]
        side = min(h, w)
        square = sample_photo[(h - side) // 2 : (h + side) // 2, (w - side) // 2 : (w + side) // 2]
        return np.array(Image.fromarray(square).resize((size, size), Image.LANCZOS))

    return make
