from __future__ import annotations

import math

import numpy as np
import pytest

from engine.errors import MaskError
from engine.metrics import l1_hole, landmark_nme, psnr, ssim


@pytest.fixture
def crop(sample_photo) -> np.ndarray:
    return sample_photo[100:228, 180:308].copy()


def template_landmarks(size: float = 128.0) -> np.ndarray:
    """68 points whose eye groups sit on the canonical eye centres, so inter-ocular = 0.29 size."""
    rng = np.random.default_rng(0)
    points = rng.uniform(0.2 * size, 0.8 * size, (68, 2))
    points[36:42] = (0.355 * size, 0.40 * size)
    points[42:48] = (0.645 * size, 0.40 * size)
    return points


def test_psnr_follows_its_definition(crop):
    shifted = np.clip(crop.astype(int) + 4, 0, 255).astype(np.uint8)
    mse = np.mean((shifted.astype(float) - crop) ** 2)
    assert psnr(crop, shifted) == pytest.approx(10 * math.log10(255**2 / mse))
    assert psnr(crop, crop) == math.inf


def test_ssim_is_one_for_equal_images_and_drops_with_noise(crop):
    noisy = np.clip(crop + np.random.default_rng(1).normal(0, 20, crop.shape), 0, 255).astype(np.uint8)
    assert ssim(crop, crop) == pytest.approx(1.0)
    assert 0 < ssim(crop, noisy) < 0.9
    assert ssim(crop, noisy) == pytest.approx(ssim(noisy, crop))


def test_metrics_refuse_mismatched_images(crop):
    with pytest.raises(ValueError, match="shape"):
        psnr(crop, crop[:64])
    with pytest.raises(ValueError, match="uint8"):
        ssim(crop.astype(np.float32), crop.astype(np.float32))


def test_l1_hole_only_sees_the_hole(crop):
    mask = np.zeros(crop.shape[:2], np.uint8)
    mask[32:64, 32:96] = 255
    changed = crop.copy()
    changed[mask > 0] = 255 - changed[mask > 0]
    changed[0:10] = 0  # outside the hole: must not count
    expected = np.abs(crop.astype(int) - changed)[mask > 0].mean() / 255
    assert l1_hole(crop, changed, mask) == pytest.approx(expected)
    assert l1_hole(crop, crop, mask) == 0.0


def test_l1_hole_with_a_channel_wise_mask(crop):
    mask = np.zeros(crop.shape, np.uint8)
    mask[:, :, 1] = 255  # only green is missing
    changed = crop.copy()
    changed[:, :, 0] = 0  # red changed, but red is known
    assert l1_hole(crop, changed, mask) == 0.0


def test_l1_hole_refuses_an_empty_or_misfit_mask(crop):
    with pytest.raises(MaskError, match="empty"):
        l1_hole(crop, crop, np.zeros(crop.shape[:2], np.uint8))
    with pytest.raises(MaskError, match="mask"):
        l1_hole(crop, crop, np.full((5, 5), 255, np.uint8))


def test_landmark_nme_normalises_by_the_reference_interocular():
    ref = template_landmarks()
    moved = ref + (3.0, 4.0)  # every point 5 px away
    assert landmark_nme(moved, ref) == pytest.approx(5.0 / (0.29 * 128))
    assert landmark_nme(ref, ref) == 0.0


def test_landmark_nme_checks_its_inputs():
    with pytest.raises(ValueError, match="68"):
        landmark_nme(np.zeros((5, 2)), template_landmarks())
    with pytest.raises(ValueError, match="eye"):
        landmark_nme(np.zeros((68, 2)), np.zeros((68, 2)))


def test_sample_spread_is_the_mean_difference_inside_the_hole_in_grey_levels():
    from engine.metrics import sample_spread

    first = np.zeros((8, 8, 3), np.uint8)
    second = first.copy()
    second[:4] = 30  # half the hole differs by 30, the other half not at all
    second[:, 6:] = 200  # outside the hole: ignored
    mask = np.zeros((8, 8), np.uint8)
    mask[:, :6] = 255
    assert sample_spread(first, second, mask) == pytest.approx(15.0)
    assert sample_spread(first, first, mask) == 0.0
