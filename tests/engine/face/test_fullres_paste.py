"""Issue 13, item 4: a small completion pasted into a large photo is smooth (no blocks) and carries
the grain of the pixels around the hole."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

import engine.face.align as align
from engine.face import Face, align_face, paste_back

PHOTO = 4000
CROP = 64  # the DCGAN's crop: the largest enlargement any model needs


@pytest.fixture(scope="module")
def large_photo(sample_photo, sample_face):
    """The sample photo enlarged to 4000 px with film-like grain, its face and a mouth hole."""
    scale = PHOTO / sample_photo.shape[1]
    big = cv2.resize(sample_photo, (PHOTO, PHOTO), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    grain = np.random.default_rng(0).normal(0.0, 5.0, big.shape[:2]).astype(np.float32)
    photo = np.clip(np.rint(big + grain[:, :, None]), 0, 255).astype(np.uint8)
    face = Face(box=tuple(v * scale for v in sample_face.box), landmarks=sample_face.landmarks * scale)
    mouth = face.landmarks[48:68]
    mask = np.zeros(photo.shape[:2], np.uint8)
    cv2.fillConvexPoly(mask, cv2.convexHull(mouth.astype(np.int32)), 255)
    mask = cv2.dilate(mask, np.ones((61, 61), np.uint8))
    return photo, face, mask


def constant_2x2_fraction(image: np.ndarray, region: np.ndarray) -> float:
    """Share of the 2 x 2 windows inside ``region`` whose four pixels are identical in every channel."""
    a = image.astype(np.int16)
    same = ((a[:-1, :-1] == a[1:, :-1]) & (a[:-1, :-1] == a[:-1, 1:]) & (a[:-1, :-1] == a[1:, 1:])).all(axis=2)
    inside = region[:-1, :-1] & region[1:, 1:]
    return float(same[inside].mean())


def grain_energy(image: np.ndarray, region: np.ndarray) -> float:
    return float(align.high_frequency(image)[region].std())


def quantised_enlargement(crop: np.ndarray, enlarge: float, box: tuple[int, int]) -> np.ndarray:
    """What OpenCV 4's warpAffine does (sample positions rounded to 1/32 of a source pixel)."""
    ys, xs = np.mgrid[0 : box[1], 0 : box[0]].astype(np.float32)
    to_source = lambda v: np.floor(v / enlarge * 32) / 32  # noqa: E731
    return cv2.remap(crop, to_source(xs), to_source(ys), cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)


def test_enlarging_a_crop_forty_times_gives_no_blocks(monkeypatch):
    crop = np.random.default_rng(1).integers(0, 256, (CROP, CROP, 3), dtype=np.uint8)
    enlarge, box = 40.0, (600, 600)
    region = np.ones(box[::-1], bool)
    quantised = quantised_enlargement(crop, enlarge, box)
    assert constant_2x2_fraction(quantised, region) > 0.02  # the check can fail
    scales = []
    real_warp = cv2.warpAffine
    monkeypatch.setattr(align.cv2, "warpAffine", lambda src, m, *a, **k: scales.append(align.matrix_scale(m)) or real_warp(src, m, *a, **k))
    smooth = align.upsampled_warp(crop, np.array([[enlarge, 0, 0], [0, enlarge, 0]]), box)
    assert constant_2x2_fraction(smooth, region) < 0.01
    assert max(scales) <= 1.0  # what is left to warpAffine is at most 1:1, where 1/32 px is invisible
    small = cv2.resize(smooth, (15, 15), interpolation=cv2.INTER_AREA).astype(float)  # the same picture
    assert np.abs(small - cv2.resize(quantised, (15, 15), interpolation=cv2.INTER_AREA)).mean() < 2.0


def test_a_pasted_hole_in_a_4000_px_photo_has_no_blocks_and_the_grain_of_its_surroundings(large_photo):
    photo, face, mask = large_photo
    aligned = align_face(photo, face, CROP)
    assert aligned.scale < 1 / 15  # each crop pixel covers over 15 x 15 photo pixels
    result = paste_back(photo, aligned.crop, aligned, mask)
    hole = mask > 127
    inside = cv2.erode(mask, np.ones((9, 9), np.uint8)) > 0
    ring = (cv2.dilate(mask, np.ones((25, 25), np.uint8)) > 0) & ~hole
    assert constant_2x2_fraction(result, inside) < 0.01
    ratio = grain_energy(result, inside) / grain_energy(photo, ring)
    assert 0.5 <= ratio <= 2.0, ratio
    plain = paste_back(photo, aligned.crop, aligned, mask, grain=False)
    assert grain_energy(plain, inside) / grain_energy(photo, ring) < 0.5  # without it the patch is plastic
    np.testing.assert_array_equal(result[~hole], photo[~hole])


def test_a_crop_that_is_its_own_prefill_pastes_as_the_photo_scale_fill(sample_photo, sample_face):
    """With the detail, a completion equal to Telea's crop-scale prefill (a residual network at
    step 0) pastes as Telea's fill made at the photo's scale: thin strokes keep the photo's
    sharpness; without it they are the enlarged crop's blur."""
    from engine.prefill import classical_fill

    photo = cv2.resize(sample_photo, (1024, 1024), interpolation=cv2.INTER_CUBIC)
    scale = 1024 / sample_photo.shape[1]
    face = Face(box=tuple(v * scale for v in sample_face.box), landmarks=sample_face.landmarks * scale)
    aligned = align_face(photo, face, 96)
    assert 1 / aligned.scale > align.DETAIL_ABOVE_ENLARGEMENT
    mask = np.zeros(photo.shape[:2], np.uint8)
    x0, y0, x1, y1 = (int(v) for v in face.box)
    for x in range(x0 + 10, x1 - 10, 23):  # two-pixel strokes across the face
        mask[y0:y1, x : x + 2] = 255
    crop_hole = aligned.warp_mask(mask)
    prefill_crop = classical_fill(aligned.crop, crop_hole)
    hole = mask > 127
    truth_fill = classical_fill(photo, mask)
    with_detail = paste_back(photo, prefill_crop, aligned, mask, feather=1.0, grain=False)
    without = paste_back(photo, prefill_crop, aligned, mask, feather=1.0, grain=False, detail=False)

    def error(image: np.ndarray) -> float:
        return float(np.abs(image.astype(np.int16) - truth_fill.astype(np.int16))[hole].mean())

    assert error(with_detail) <= 1.0
    assert error(without) > 3 * max(error(with_detail), 0.5)
    np.testing.assert_array_equal(with_detail[~hole], photo[~hole])


def test_samples_of_one_request_share_the_photo_scale_detail(sample_photo, sample_face, monkeypatch):
    """Pasting several completions with one ``shared`` dict gives exactly what separate pastes give,
    and pays the two Telea fills of the detail once instead of once a sample."""
    photo = cv2.resize(sample_photo, (1024, 1024), interpolation=cv2.INTER_CUBIC)
    scale = 1024 / sample_photo.shape[1]
    face = Face(box=tuple(v * scale for v in sample_face.box), landmarks=sample_face.landmarks * scale)
    aligned = align_face(photo, face, 96)
    mask = np.zeros(photo.shape[:2], np.uint8)
    x0, y0, x1, y1 = (int(v) for v in face.box)
    mask[(y0 + y1) // 2 : y1 - 20, x0 + 30 : x1 - 30] = 255
    rng = np.random.default_rng(1)
    crops = [np.clip(aligned.crop.astype(np.int16) + rng.integers(-30, 30, aligned.crop.shape), 0, 255).astype(np.uint8)
             for _ in range(3)]
    separate = [paste_back(photo, crop, aligned, mask) for crop in crops]
    calls = []
    real_fill = align.classical_fill
    monkeypatch.setattr(align, "classical_fill", lambda *a, **k: calls.append(1) or real_fill(*a, **k))
    shared: dict = {}
    crop_mask = aligned.warp_mask(mask)
    together = [paste_back(photo, crop, aligned, mask, crop_mask=crop_mask, shared=shared) for crop in crops]
    for a, b in zip(separate, together):
        np.testing.assert_array_equal(a, b)
    assert len(calls) == 2  # photo scale + crop scale, once for the three samples
