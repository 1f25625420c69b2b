from __future__ import annotations

import cv2
import numpy as np
import pytest

from engine.models import create_model
from engine.prefill import MAX_RADIUS, MIN_RADIUS, WORK_HALF_THICKNESS, radius_for_hole


def disc(shape: tuple[int, int], centre: tuple[int, int], radius: int) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    cv2.circle(mask, centre, radius, 255, -1)
    return mask


def test_radius_grows_with_hole_thickness_within_bounds():
    thin = np.zeros((200, 200), np.uint8)
    cv2.line(thin, (10, 100), (190, 100), 255, 2)
    medium = disc((200, 200), (100, 100), 40)
    huge = disc((600, 600), (300, 300), 280)
    radii = [radius_for_hole(m) for m in (thin, medium, huge)]
    assert radii[0] == MIN_RADIUS and radii[2] == MAX_RADIUS
    assert MIN_RADIUS < radii[1] < MAX_RADIUS


@pytest.mark.parametrize("name", ["telea", "navier-stokes"])
def test_flat_colour_is_continued_into_the_hole(name):
    image = np.zeros((96, 96, 3), np.uint8)
    image[:] = (200, 40, 90)
    image[30:60, 30:60] = 0  # what the hole hides must not matter
    mask = np.zeros((96, 96), np.uint8)
    mask[25:65, 25:65] = 255
    [out] = create_model(name).inpaint_crop(image, mask, seed=0)
    assert np.abs(out.image[mask > 0].astype(int) - (200, 40, 90)).max() <= 4  # fast marching rounds a little


@pytest.mark.parametrize("name", ["telea", "navier-stokes"])
def test_thick_holes_are_filled_at_reduced_scale_close_to_full_resolution(name, sample_photo, monkeypatch):
    from engine import prefill

    mask = disc(sample_photo.shape[:2], (256, 200), 3 * WORK_HALF_THICKNESS)
    model = create_model(name)
    [reduced] = model.inpaint_crop(sample_photo, mask, seed=0)
    monkeypatch.setattr(prefill, "WORK_HALF_THICKNESS", 10_000)  # force the full-resolution fill
    [full] = model.inpaint_crop(sample_photo, mask, seed=0)
    hole = mask > 0
    assert np.array_equal(reduced.image[~hole], sample_photo[~hole])
    # same smooth fill: the two differ by a few grey levels on average
    assert np.abs(reduced.image[hole].astype(int) - full.image[hole]).mean() < 12


def test_deterministic_and_channel_masks_count_as_one_hole(sample_photo):
    mask = disc(sample_photo.shape[:2], (250, 250), 30)
    model = create_model("telea")
    first = model.inpaint(sample_photo, mask, seed=1)[0].image
    assert np.array_equal(model.inpaint(sample_photo, mask, seed=99)[0].image, first)
    grey3 = np.repeat(mask[:, :, None], 3, axis=2)
    assert np.array_equal(model.inpaint(sample_photo, grey3, seed=1)[0].image, first)
