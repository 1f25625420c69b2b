"""MDE engine side: network shapes, channel-wise masks, re-masking diversity, weights round trip."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from engine.errors import CancelledError
from engine.masks import channel_masks
from engine.models import create_model
from engine.models.base import CancelToken
from engine.models.mde import MDEArchitecture, MDEDiscriminator, MDEGenerator
from engine.weights import save_state_dict

TINY = MDEArchitecture(resolution=32, width=8, depth=2, bottleneck=64)


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("mde") / "mde.safetensors"
    save_state_dict(path, MDEGenerator(TINY).state_dict(), {"method": "mde", "architecture": dataclasses.asdict(TINY)})
    return path


@pytest.fixture(scope="module")
def face_crop(sample_square):
    return sample_square(96)


def test_generator_maps_masked_images_to_images_in_unit_range():
    g = MDEGenerator(TINY).eval()
    with torch.no_grad():
        out = g(torch.rand(2, 3, 32, 32))
    assert out.shape == (2, 3, 32, 32) and out.min() >= 0 and out.max() <= 1
    code, skips = g.encode(torch.rand(1, 3, 32, 32))
    assert code.shape == (1, TINY.bottleneck) and len(skips) == TINY.depth


def test_discriminator_regresses_one_box_per_channel_from_coordinates_too():
    d = MDEDiscriminator(TINY, coord=True)
    logits, boxes = d(torch.rand(4, 3, 32, 32))
    assert logits.shape == (4,) and boxes.shape == (4, 3, 4)
    assert boxes.min() >= 0 and boxes.max() <= 1
    assert d.features[0].in_channels == 5


def test_ordinary_mask_completes_the_hole_only(tiny_weights, face_crop):
    model = create_model("mde", device="cpu", weights=tiny_weights)
    mask = np.zeros((96, 96), np.uint8)
    mask[30:70, 20:76] = 255
    [result] = model.inpaint_crop(face_crop, mask, seed=3)
    hole = mask > 127
    assert np.array_equal(result.image[~hole], face_crop[~hole])
    assert not np.array_equal(result.image[hole], face_crop[hole])


def test_channel_wise_mask_keeps_each_channels_known_values(tiny_weights, face_crop):
    model = create_model("mde", device="cpu", weights=tiny_weights)
    mask = channel_masks((96, 96), "REC", 0.3, seed=1)
    [result] = model.inpaint_crop(face_crop, mask, seed=3)
    for c in range(3):
        known = mask[:, :, c] == 0
        assert np.array_equal(result.image[:, :, c][known], face_crop[:, :, c][known])


def test_seeds_re_mask_for_diversity_and_reproduce_exactly(tiny_weights, face_crop):
    model = create_model("mde", device="cpu", weights=tiny_weights)
    mask = np.zeros((96, 96), np.uint8)
    mask[30:70, 20:76] = 255
    first, second = model.inpaint_crop(face_crop, mask, samples=2, seed=5)
    assert not np.array_equal(first.image, second.image)
    [again] = model.inpaint_crop(face_crop, mask, samples=1, seed=second.seed)
    assert np.array_equal(again.image, second.image)


def test_iterative_resampling_changes_the_completion(tiny_weights, face_crop):
    model = create_model("mde", device="cpu", weights=tiny_weights)
    mask = np.zeros((96, 96), np.uint8)
    mask[30:70, 20:76] = 255
    [once] = model.inpaint_crop(face_crop, mask, seed=8)
    [thrice] = model.inpaint_crop(face_crop, mask, seed=8, settings={"resample_steps": 3})
    assert not np.array_equal(once.image, thrice.image)


def test_cancel_stops_mde_between_samples_and_between_resampling_steps(tiny_weights, face_crop):
    model = create_model("mde", device="cpu", weights=tiny_weights)
    mask = np.zeros((96, 96), np.uint8)
    mask[30:70, 20:76] = 255
    token = CancelToken()
    with pytest.raises(CancelledError, match="after 1 of 3"):
        model.inpaint_crop(face_crop, mask, samples=3, seed=0, cancel=token,
                           progress=lambda f, m="", p=None: token.cancel())
    polls = []  # cancelled from outside after the third look: during the second resampling step
    token = CancelToken(poll=lambda: polls.append(1) or len(polls) > 3)
    with pytest.raises(CancelledError, match="resampling step"):
        model.inpaint_crop(face_crop, mask, seed=0, cancel=token, settings={"resample_steps": 4})
