"""Alignment to the canonical template, mask warping, and pasting a completed crop back."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

import engine.face.align as align
from engine.errors import MaskError
from engine.face import Face, align_face, canonical_five_points, paste_back, similarity_fit
from engine.face.types import LEFT_EYE, MOUTH_LEFT, MOUTH_RIGHT, NOSE_TIP, RIGHT_EYE, five_points, yaw_proxy

SIZES = (64, 96, 128, 256)


def _template_face(sample_face: Face, size: int = 256) -> Face:
    """The sample face's landmarks nudged so its five points are an exact similarity of the template."""
    matrix = align.alignment_matrix(sample_face.landmarks, size)
    lm = align.transform_points(matrix, sample_face.landmarks)
    target = canonical_five_points(size)
    lm[LEFT_EYE] += target[0] - lm[LEFT_EYE].mean(axis=0)
    lm[RIGHT_EYE] += target[1] - lm[RIGHT_EYE].mean(axis=0)
    lm[[NOSE_TIP, MOUTH_LEFT, MOUTH_RIGHT]] = target[2:]
    return Face(box=sample_face.box, landmarks=align.transform_points(cv2.invertAffineTransform(matrix), lm))


def test_similarity_fit_recovers_a_known_transform():
    angle, scale, shift = 0.3, 1.7, np.array([12.0, -5.0])
    rotation = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    source = np.random.default_rng(1).uniform(0, 100, (5, 2))
    matrix = similarity_fit(source, source @ rotation.T + shift)
    np.testing.assert_allclose(matrix[:, :2], rotation, atol=1e-9)
    np.testing.assert_allclose(matrix[:, 2], shift, atol=1e-9)
    with pytest.raises(ValueError, match="degenerate"):
        similarity_fit(np.ones((5, 2)), source)


@pytest.mark.parametrize("size", SIZES)
def test_alignment_puts_the_eyes_on_the_template(sample_photo, sample_face, size):
    exact = align_face(sample_photo, _template_face(sample_face), size)
    template = canonical_five_points(size)
    assert exact.crop.shape == (size, size, 3) and exact.crop.dtype == np.uint8
    np.testing.assert_allclose(five_points(exact.landmarks), template, atol=0.05)
    # The real face: the least-squares fit spreads the residual of a broad smile over all five
    # points, so the eyes land within a few percent of the crop, not exactly.
    real = align_face(sample_photo, sample_face, size)
    eyes = five_points(real.landmarks)[:2]
    assert np.linalg.norm(eyes - template[:2], axis=1).max() < 0.03 * size
    assert real.source_shape == sample_photo.shape[:2]


def test_crop_sizes_are_rescalings_of_each_other(sample_photo, sample_face):
    big = align_face(sample_photo, sample_face, 256).crop
    small = align_face(sample_photo, sample_face, 128).crop
    shrunk = cv2.resize(big, (128, 128), interpolation=cv2.INTER_AREA)
    assert np.abs(shrunk.astype(int) - small.astype(int)).mean() < 4.0


def test_points_map_both_ways(sample_photo, sample_face):
    aligned = align_face(sample_photo, sample_face, 128)
    np.testing.assert_allclose(aligned.to_image(aligned.landmarks), sample_face.landmarks, atol=1e-3)
    np.testing.assert_allclose(aligned.to_crop(sample_face.landmarks), aligned.landmarks, atol=1e-3)
    np.testing.assert_allclose(aligned.inverse, cv2.invertAffineTransform(aligned.matrix))


def test_warp_mask_keeps_the_hole_where_it_was(sample_photo, sample_face):
    aligned = align_face(sample_photo, sample_face, 128)
    left_eye = sample_face.landmarks5[0]
    radius = 0.35 * sample_face.interocular
    mask = np.zeros(sample_photo.shape[:2], dtype=np.uint8)
    cv2.circle(mask, tuple(int(v) for v in np.round(left_eye)), int(radius), 255, -1)
    crop_mask = aligned.warp_mask(mask)
    assert crop_mask.shape == (128, 128) and set(np.unique(crop_mask)) == {0, 255}
    ex, ey = np.round(five_points(aligned.landmarks)[0]).astype(int)
    rx, ry = np.round(five_points(aligned.landmarks)[1]).astype(int)
    assert crop_mask[ey, ex] == 255 and crop_mask[ry, rx] == 0
    expected_area = np.pi * (radius * aligned.scale) ** 2
    assert 0.8 * expected_area < (crop_mask > 0).sum() < 1.5 * expected_area


def test_warp_mask_keeps_channels_and_thin_strokes(sample_photo, sample_face):
    huge = cv2.resize(sample_photo, (2048, 2048), interpolation=cv2.INTER_LINEAR)
    face = Face(box=tuple(4 * v for v in sample_face.box), landmarks=sample_face.landmarks * 4 + 1.5)
    aligned = align_face(huge, face, 64)
    assert aligned.scale < 0.2
    mask = np.zeros((2048, 2048, 3), dtype=np.uint8)
    row = int(face.landmarks[NOSE_TIP, 1])
    mask[row, 700:1100, 0] = 255  # one photo pixel thick: a fifth of a crop pixel
    mask[row + 40 : row + 80, 700:1100, 2] = 255
    crop_mask = aligned.warp_mask(mask)
    assert crop_mask.shape == (64, 64, 3)
    assert crop_mask[:, :, 0].any() and not crop_mask[:, :, 1].any() and crop_mask[:, :, 2].any()
    with pytest.raises(MaskError, match="aligned photo"):
        aligned.warp_mask(mask[:100])


def _eye_band(shape, face: Face) -> np.ndarray:
    mask = np.zeros(shape, dtype=np.uint8)
    (lx, ly), (rx, ry) = face.landmarks5[:2]
    pad = 0.3 * face.interocular
    mask[int(ly - pad) : int(ry + pad), int(lx - pad) : int(rx + pad)] = 255
    return mask


@pytest.mark.parametrize("poisson", [False, True])
def test_paste_back_changes_only_the_mask(sample_photo, sample_face, poisson):
    aligned = align_face(sample_photo, sample_face, 128)
    mask = _eye_band(sample_photo.shape[:2], sample_face)
    completed = 255 - aligned.crop  # anything visibly different
    result = paste_back(sample_photo, completed, aligned, mask, poisson=poisson)
    outside = mask == 0
    np.testing.assert_array_equal(result[outside], sample_photo[outside])
    changed = np.any(result != sample_photo, axis=2)[mask > 0]
    assert changed.mean() > 0.9


def test_poisson_matches_the_crop_to_its_surroundings(sample_photo, sample_face):
    aligned = align_face(sample_photo, sample_face, 128)
    mask = _eye_band(sample_photo.shape[:2], sample_face)
    brighter = np.clip(aligned.crop.astype(int) + 40, 0, 255).astype(np.uint8)
    inside = mask > 0
    plain = paste_back(sample_photo, brighter, aligned, mask, feather=1)
    blended = paste_back(sample_photo, brighter, aligned, mask, poisson=True)
    plain_error = np.abs(plain[inside].astype(int) - sample_photo[inside]).mean()
    poisson_error = np.abs(blended[inside].astype(int) - sample_photo[inside]).mean()
    assert plain_error > 25 and poisson_error < 0.5 * plain_error


def test_feathering_fades_towards_the_mask_edge(sample_face):
    image = np.zeros((512, 512, 3), dtype=np.uint8)
    aligned = align_face(image, sample_face, 128)
    mask = np.zeros((512, 512), dtype=np.uint8)
    mask[100:160, 180:260] = 255
    crop = np.full((128, 128, 3), 200, dtype=np.uint8)
    result = paste_back(image, crop, aligned, mask, feather=6)
    assert (result[130, 220] == 200).all()  # deep inside
    assert 0 < result[100, 220, 0] < 100  # on the edge: mostly the photo
    assert result[101, 220, 0] < result[103, 220, 0] < result[106, 220, 0]
    hard = paste_back(image, crop, aligned, mask, feather=1)
    assert (hard[mask > 0] == 200).all()


def test_mask_beyond_the_crop_is_inpainted_not_left_as_a_hole(sample_photo, sample_face):
    aligned = align_face(sample_photo, sample_face, 64)
    photo = sample_photo.copy()
    mask = np.zeros(photo.shape[:2], dtype=np.uint8)
    mask[440:470, 440:470] = 255  # far from the face: outside the crop's footprint
    mask[120:130, 200:240] = 255  # on the face
    photo[mask > 0] = (255, 0, 255)
    result = paste_back(photo, aligned.crop, aligned, mask)
    corner = result[440:470, 440:470].reshape(-1, 3)
    assert not np.all(corner == (255, 0, 255), axis=1).any()
    surroundings = np.concatenate([photo[430:440, 440:470], photo[470:480, 440:470]]).reshape(-1, 3)
    assert np.abs(corner.mean(axis=0) - surroundings.mean(axis=0)).max() < 40
    np.testing.assert_array_equal(result[mask == 0], photo[mask == 0])


class _Cv2Spy:
    """Stands in for cv2 inside engine.face.align and records the largest array handed to it."""

    def __init__(self):
        self.largest = 0

    def __getattr__(self, name):
        attr = getattr(cv2, name)
        if not callable(attr):
            return attr

        def call(*args, **kwargs):
            for value in (*args, *kwargs.values()):
                if isinstance(value, np.ndarray):
                    self.largest = max(self.largest, value.size)
            return attr(*args, **kwargs)

        return call


@pytest.mark.parametrize("poisson", [False, True])
def test_paste_back_on_12_megapixels_touches_only_the_mask_box(sample_photo, sample_face, monkeypatch, poisson):
    canvas = np.zeros((3000, 4000, 3), dtype=np.uint8)
    canvas[1000:1512, 2000:2512] = sample_photo
    face = Face(box=sample_face.box, landmarks=sample_face.landmarks + (2000, 1000))
    spy = _Cv2Spy()
    monkeypatch.setattr(align, "cv2", spy)
    aligned = align_face(canvas, face, 128)
    mask = np.zeros(canvas.shape[:2], dtype=np.uint8)
    mask[1110:1140, 2190:2260] = 255
    result = paste_back(canvas, 255 - aligned.crop, aligned, mask, poisson=poisson)
    assert spy.largest < 300 * 300 * 3  # the face and the mask's box, never the photo
    changed = np.any(result != canvas, axis=2)
    assert changed[mask > 0].mean() > 0.9
    assert not changed[mask == 0].any()


def test_paste_back_rejects_mismatched_inputs(sample_photo, sample_face):
    aligned = align_face(sample_photo, sample_face, 64)
    mask = np.zeros(sample_photo.shape[:2], dtype=np.uint8)
    np.testing.assert_array_equal(paste_back(sample_photo, aligned.crop, aligned, mask), sample_photo)
    with pytest.raises(ValueError, match="64x64x3"):
        paste_back(sample_photo, aligned.crop[:32], aligned, mask)
    with pytest.raises(MaskError):
        paste_back(sample_photo, aligned.crop, aligned, mask[:10])
    with pytest.raises(ValueError, match="aligned on"):
        paste_back(sample_photo[:100], aligned.crop, aligned, mask[:100])
    with pytest.raises(ValueError, match="at least"):
        align_face(sample_photo, sample_face, 8)


def test_yaw_proxy_is_zero_for_a_frontal_face_and_grows_as_the_nose_moves_off_centre():
    landmarks = np.zeros((68, 2), np.float32)
    landmarks[0], landmarks[16] = (10, 50), (90, 50)  # jaw ends, centre x = 50
    landmarks[LEFT_EYE] = (30, 40)
    landmarks[RIGHT_EYE] = (70, 40)  # inter-ocular 40
    landmarks[NOSE_TIP] = (50, 60)
    assert yaw_proxy(landmarks) == 0
    landmarks[NOSE_TIP] = (40, 60)
    assert yaw_proxy(landmarks) == pytest.approx(0.25)
