"""The mirror prefill: the face's other half where it is known, corrected for lighting, Telea elsewhere."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import prefill
from engine.prefill import classical_fill, face_region, mirror_fill


@pytest.fixture
def no_fade(monkeypatch):
    """The face-mirror fill without its fade-in from the hole's edge: the tests of which pixels are
    mirrored and how they are corrected read every mirrored pixel as the mirror."""
    monkeypatch.setattr(prefill, "MIRROR_DEPTH", 1e-9)


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


def turned_face_landmarks() -> np.ndarray:
    """68 points whose jaw and brows outline a face in columns 8-40 of a 64 px crop: the head turned
    so that the crop's right side holds background."""
    landmarks = np.full((68, 2), 30.0, np.float32)
    angles = np.linspace(np.pi, 0, 17)
    landmarks[:17] = np.stack([24 + 16 * np.cos(angles), 30 + 26 * np.sin(angles)], axis=1)  # the jaw, chin at y 56
    landmarks[17:27] = np.stack([np.linspace(10, 38, 10), np.full(10, 12.0)], axis=1)  # the brows
    return landmarks


def frontal_face_landmarks() -> np.ndarray:
    """The same outline centred on the crop's axis (x = 31.5): a frontal face."""
    landmarks = turned_face_landmarks()
    landmarks[:, 0] += 31.5 - 24
    return landmarks


def face_before_two_coloured_backdrop(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``symmetric_face`` with everything outside the outline red on the left and green on the
    right, and that backdrop's mask."""
    image = symmetric_face()
    backdrop = ~face_region(landmarks, image.shape[:2])
    columns = np.arange(image.shape[1])[None, :]
    image[backdrop & (columns < 32)] = (220, 30, 30)
    image[backdrop & (columns >= 32)] = (40, 200, 40)
    return image, backdrop


def test_with_landmarks_only_pixels_whose_mirror_lies_in_the_face_are_mirrored(no_fade):
    image = symmetric_face()
    hole = np.zeros(image.shape[:2], np.uint8)
    hole[20:40, 34:60] = 255  # the right half of a turned face: its cheek, then background
    blanked = np.where(hole[..., None] > 0, 0, image).astype(np.uint8)
    landmarks = turned_face_landmarks()
    region = face_region(landmarks, hole.shape)
    assert region[30, 20] and region[30, 36] and not region[30, 50] and not region[5, 20]
    filled = mirror_fill(blanked, hole, landmarks)
    mirrored, telea = mirror_fill(blanked, hole), classical_fill(blanked, hole)
    both_inside = region & region[:, ::-1]
    assert np.array_equal(filled[(hole > 0) & both_inside], mirrored[(hole > 0) & both_inside])
    assert np.array_equal(filled[(hole > 0) & ~both_inside], telea[(hole > 0) & ~both_inside])
    assert ((hole > 0) & both_inside).any() and ((hole > 0) & ~both_inside).any()
    assert np.array_equal(filled[hole == 0], blanked[hole == 0])


def test_a_frontal_outline_keeps_every_mirrored_pixel_of_the_face(no_fade):
    """Mirror-symmetric landmarks around the crop's centre column: inside the face the restricted
    fill is the plain mirror."""
    image = symmetric_face()
    landmarks = frontal_face_landmarks()
    hole = np.zeros(image.shape[:2], np.uint8)
    hole[16:30, 38:45] = 255  # the right eye, inside the outline, and its mirror too
    blanked = np.where(hole[..., None] > 0, 0, image).astype(np.uint8)
    assert face_region(landmarks, hole.shape)[hole > 0].all()
    assert np.array_equal(mirror_fill(blanked, hole, landmarks), mirror_fill(blanked, hole))


def test_wild_landmarks_give_an_empty_face_and_telea_without_overflow(recwarn):
    image = symmetric_face()
    hole = np.zeros(image.shape[:2], np.uint8)
    hole[16:32, 40:60] = 255
    wild = np.random.default_rng(0).random((68, 2)) * 1e12
    assert not face_region(wild, hole.shape).any()
    assert np.array_equal(mirror_fill(image, hole, wild), classical_fill(image, hole))
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


def test_the_lighting_correction_reads_shade_not_backdrop_against_backdrop(no_fade):
    """A symmetric face before a backdrop that is red on one side and green on the other: the
    mirrored eye comes back exact, untinted by backdrop-minus-backdrop differences."""
    landmarks = frontal_face_landmarks()
    image, backdrop = face_before_two_coloured_backdrop(landmarks)
    hole = np.zeros(image.shape[:2], np.uint8)
    hole[14:34, 36:56] = 255  # the right eye and the backdrop beside it
    blanked = np.where(hole[..., None] > 0, 0, image).astype(np.uint8)
    mirrored = (hole > 0) & ~backdrop & ~backdrop[:, ::-1]
    filled = mirror_fill(blanked, hole, landmarks)
    assert mirrored.sum() > 100
    assert np.array_equal(filled[mirrored], image[mirrored])
    whole_crop = mirror_fill(blanked, hole)  # reads red against green beside the face
    assert np.abs(whole_crop[mirrored].astype(int) - image[mirrored]).mean() > 5


def test_a_hole_as_tall_as_the_face_is_still_mirrored_and_untinted(no_fade):
    """No face pixel pairs with a known mirror: the mirror goes uncorrected, rather than being
    dropped or tinted by the backdrop's pairs."""
    landmarks = frontal_face_landmarks()
    image, _ = face_before_two_coloured_backdrop(landmarks)
    hole = np.zeros(image.shape[:2], np.uint8)
    hole[:, 31:52] = 255  # the right half of the face and its axis, top to bottom: no face pair left
    blanked = np.where(hole[..., None] > 0, 0, image).astype(np.uint8)
    region = face_region(landmarks, hole.shape)
    mirrored = (hole > 0) & (hole[:, ::-1] == 0) & region & region[:, ::-1]
    assert mirrored.sum() > 200
    assert np.array_equal(mirror_fill(blanked, hole, landmarks)[mirrored], image[mirrored])


def test_a_hole_as_tall_as_the_face_reads_shade_from_the_pairs_around_the_face(no_fade):
    """No face pair left, the right side of the whole crop 30 levels brighter (light from the
    right): the pairs beside the face differ as shade does and carry the correction."""
    landmarks = frontal_face_landmarks()
    image = symmetric_face().astype(np.int16)
    image[:, 32:] += 30
    image = np.clip(image, 0, 255).astype(np.uint8)
    hole = np.zeros(image.shape[:2], np.uint8)
    hole[:, 31:52] = 255
    blanked = np.where(hole[..., None] > 0, 0, image).astype(np.uint8)
    region = face_region(landmarks, hole.shape)
    mirrored = (hole > 0) & (hole[:, ::-1] == 0) & region & region[:, ::-1]
    error = np.abs(mirror_fill(blanked, hole, landmarks).astype(np.int16) - image)[mirrored]
    assert error.mean() < 4.0


def test_with_landmarks_the_mirror_fades_in_from_the_holes_edge():
    """At depth d from the nearest known pixel the fill is d / depth of the mirror and the rest
    Telea's; from the full depth on (an eighth of the crop's width) it is the mirror alone."""
    image = symmetric_face()
    landmarks = frontal_face_landmarks()
    hole = np.zeros(image.shape[:2], np.uint8)
    hole[4:60, 36:60] = 255  # deep enough for a core of pure mirror; every mirror known
    blanked = np.where(hole[..., None] > 0, 0, image).astype(np.uint8)
    region = face_region(landmarks, hole.shape)
    mirrored = (hole > 0) & region & region[:, ::-1]
    depth = cv2.distanceTransform((hole > 0).astype(np.uint8), cv2.DIST_L2, 3)
    filled = mirror_fill(blanked, hole, landmarks).astype(np.float32)
    telea = classical_fill(blanked, hole).astype(np.float32)
    full = prefill.MIRROR_DEPTH * image.shape[1]
    core, edge = mirrored & (depth >= full), mirrored & (depth < full)
    assert core.sum() > 20 and edge.sum() > 100
    assert np.array_equal(filled[core], image[core])
    weight = (depth / full)[..., None]
    expected = weight * image + (1 - weight) * telea
    assert np.abs(filled - expected)[edge].max() <= 1.0
    rim = mirrored & (depth <= 1)
    assert np.abs(filled - telea)[rim].mean() < 0.2 * np.abs(image - telea)[rim].mean()
