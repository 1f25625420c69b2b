"""Heatmaps and the landmark-drawn parsing map."""

from __future__ import annotations

import numpy as np
import pytest

from engine.face.labels import (
    BROWS,
    EYES,
    INNER_MOUTH,
    LOWER_LIP,
    NOSE,
    PARSING_CLASSES,
    PARSING_COLORS,
    SKIN,
    UPPER_LIP,
    colorize_parsing,
    default_sigma,
    heatmap_peaks,
    heatmaps5,
    heatmaps68,
    landmark_heatmaps,
    parsing_map,
    skin_mask,
)
from engine.face.types import LEFT_EYE, NOSE_TIP, RIGHT_EYE


def test_heatmap_peaks_sit_at_their_points():
    points = np.array([[5, 7], [30, 12], [60, 63]], dtype=np.float32)
    maps = landmark_heatmaps(points, (64, 64))
    assert maps.shape == (3, 64, 64) and maps.dtype == np.float32
    for (x, y), heatmap in zip(points.astype(int), maps):
        assert np.unravel_index(heatmap.argmax(), heatmap.shape) == (y, x)
        assert heatmap[y, x] == pytest.approx(1.0)
        assert heatmap.min() >= 0.0


def test_heatmap_peaks_decode_sub_pixel_points():
    rng = np.random.default_rng(3)
    points = rng.uniform(4, 92, size=(10, 2)).astype(np.float32)
    decoded = heatmap_peaks(landmark_heatmaps(points, (96, 96)))
    assert np.abs(decoded - points).max() <= 0.5


def test_unknown_points_give_empty_maps_and_sigma_scales_with_size():
    maps = landmark_heatmaps(np.array([[np.nan, np.nan], [10, 10]]), (32, 48))
    assert maps.shape == (2, 32, 48)
    assert not maps[0].any() and maps[1].max() == pytest.approx(1.0)
    assert default_sigma((64, 64)) == pytest.approx(1.5)
    assert default_sigma((256, 256)) == pytest.approx(3.0)
    wide = landmark_heatmaps(np.array([[20, 20]]), (64, 64), sigma=4.0)
    narrow = landmark_heatmaps(np.array([[20, 20]]), (64, 64), sigma=1.0)
    assert wide.sum() > narrow.sum()
    with pytest.raises(ValueError):
        landmark_heatmaps(np.array([[1, 1]]), (8, 8), sigma=0)


def test_five_and_68_point_helpers(sample_face):
    lm = sample_face.landmarks - sample_face.landmarks.min(axis=0) + 4
    shape = (int(lm[:, 1].max()) + 8, int(lm[:, 0].max()) + 8)
    assert heatmaps68(lm, shape).shape == (68, *shape)
    five = heatmap_peaks(heatmaps5(lm, shape))
    assert np.abs(five - sample_face.landmarks5 + sample_face.landmarks.min(axis=0) - 4).max() <= 0.5
    with pytest.raises(ValueError):
        heatmaps68(lm[:5], shape)


def _label_at(labels: np.ndarray, point: np.ndarray) -> int:
    x, y = np.round(point).astype(int)
    return int(labels[y, x])


def test_parsing_map_on_the_sample_photo(sample_photo, sample_face):
    lm = sample_face.landmarks
    labels = parsing_map(lm, sample_photo.shape[:2])
    assert labels.shape == sample_photo.shape[:2] and labels.dtype == np.uint8
    assert set(np.unique(labels)) == set(range(len(PARSING_CLASSES)))
    assert _label_at(labels, lm[LEFT_EYE].mean(axis=0)) == EYES
    assert _label_at(labels, lm[RIGHT_EYE].mean(axis=0)) == EYES
    assert _label_at(labels, lm[NOSE_TIP]) == NOSE
    assert _label_at(labels, lm[19]) == BROWS
    assert _label_at(labels, (lm[51] + lm[62]) / 2) == UPPER_LIP
    assert _label_at(labels, (lm[57] + lm[66]) / 2) == LOWER_LIP
    assert _label_at(labels, lm[60:68].mean(axis=0)) == INNER_MOUTH
    # cheeks: below each eye, halfway down to the nostrils' level
    for eye in (LEFT_EYE, RIGHT_EYE):
        cheek = np.array([lm[eye][:, 0].mean(), (lm[eye][:, 1].mean() + lm[33, 1]) / 2])
        assert _label_at(labels, cheek) == SKIN
    # the forehead above the brows is skin, the photo's corners are background
    assert _label_at(labels, lm[27] - 0.6 * (lm[30] - lm[27])) == SKIN
    assert labels[0, 0] == 0 and labels[-1, -1] == 0


def test_skin_mask_is_the_face_without_its_features(sample_photo, sample_face):
    lm = sample_face.landmarks
    skin = skin_mask(lm, sample_photo.shape[:2])
    assert set(np.unique(skin)) == {0, 255}
    assert _label_at(skin, lm[NOSE_TIP]) == 255
    assert _label_at(skin, lm[LEFT_EYE].mean(axis=0)) == 0
    assert _label_at(skin, lm[60:68].mean(axis=0)) == 0


def test_colorize_parsing_uses_one_colour_per_class():
    labels = np.arange(len(PARSING_CLASSES), dtype=np.uint8).reshape(2, 4)
    rgb = colorize_parsing(labels)
    assert rgb.shape == (2, 4, 3) and rgb.dtype == np.uint8
    assert len({tuple(c) for c in rgb.reshape(-1, 3)}) == len(PARSING_CLASSES)
    np.testing.assert_array_equal(rgb[1, 3], PARSING_COLORS[7])
    with pytest.raises(ValueError, match="0..7"):
        colorize_parsing(np.full((2, 2), 9, dtype=np.uint8))
    with pytest.raises(ValueError):
        parsing_map(np.zeros((5, 2)), (10, 10))
