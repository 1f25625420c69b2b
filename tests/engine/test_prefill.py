"""The mirror prefill: the face's other half where it is known, corrected for lighting, Telea elsewhere."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.prefill import classical_fill, mirror_fill


def symmetric_face(size: int = 64) -> np.ndarray:
    """A left-right symmetric test image with structure (an 'eye' on each side)."""
    rng = np.random.default_rng(0)
    half = rng.integers(60, 200, (size, size // 2, 3), dtype=np.uint8)
    half[20:28, 8:20] = 10  # a dark eye on the left half
    return np.ascontiguousarray(np.concatenate([half, half[:, ::-1]], axis=1))


def test_a_hidden_eye_of_a_symmetric_face_is_its_mirror_exactly():
    image = symmetric_face()
    hole = np.zeros(image.shape[:2], np.uint8)
    hole[16:32, 40:60] = 255  # the right eye; its mirror (columns 4-23) is known
    blanked = np.where(hole[..., None] > 0, 0, image).astype(np.uint8)
    filled = mirror_fill(blanked, hole)
    assert np.array_equal(filled[hole > 0], image[hole > 0])
    assert np.array_equal(filled[hole == 0], blanked[hole == 0])  # known pixels untouched
    assert not np.array_equal(classical_fill(blanked, hole)[hole > 0], image[hole > 0])  # Telea cannot draw it


def test_one_sided_lighting_is_corrected_without_a_seam():
    """The right half 30 grey levels brighter: the mirrored left eye comes back 30 levels brighter too."""
    image = symmetric_face().astype(np.int16)
    image[:, 32:] += 30
    image = np.clip(image, 0, 255).astype(np.uint8)
    hole = np.zeros(image.shape[:2], np.uint8)
    hole[16:32, 40:60] = 255
    filled = mirror_fill(np.where(hole[..., None] > 0, 0, image).astype(np.uint8), hole)
    error = np.abs(filled.astype(np.int16) - image.astype(np.int16))[hole > 0]
    assert error.mean() < 2.0  # the difference field is carried at half resolution in grey levels


def test_where_the_mirror_is_hidden_too_it_is_telea():
    image = symmetric_face()
    hole = np.zeros(image.shape[:2], np.uint8)
    hole[40:52, 20:44] = 255  # a mouth across the axis: every mirrored pixel is in the hole
    blanked = np.where(hole[..., None] > 0, 0, image).astype(np.uint8)
    assert np.array_equal(mirror_fill(blanked, hole), classical_fill(blanked, hole))


@settings(max_examples=40, deadline=None, database=None)  # nothing written into the checkout
@given(seed=st.integers(0, 2**31 - 1), x=st.integers(0, 40), y=st.integers(0, 40), w=st.integers(1, 24), h=st.integers(1, 24))
def test_known_pixels_never_change_and_symmetric_holes_are_telea(seed, x, y, w, h):
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    hole = np.zeros((64, 64), np.uint8)
    hole[y:y + h, x:x + w] = 255
    filled = mirror_fill(image, hole)
    assert filled.dtype == np.uint8 and filled.shape == image.shape
    assert np.array_equal(filled[hole == 0], image[hole == 0])
    symmetric = np.maximum(hole, hole[:, ::-1])  # every hole pixel's mirror is in the hole too
    assert np.array_equal(mirror_fill(image, symmetric), classical_fill(image, symmetric))
