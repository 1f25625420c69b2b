"""collaGAN engine side: architecture, weights round trip, completion with parsing and heatmaps."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from engine.errors import WeightsError
from engine.models import create_model, get_model_class
from engine.models.collagan import CollaGANArchitecture, CollaGANGenerator
from engine.weights import save_state_dict

TINY = CollaGANArchitecture(resolution=64, width=4)


def export_random_generator(path, arch=TINY):
    torch.manual_seed(0)
    net = CollaGANGenerator(arch)
    save_state_dict(path, net.state_dict(), {"method": "collagan", "architecture": dataclasses.asdict(arch)})
    return path


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    return export_random_generator(tmp_path_factory.mktemp("collagan") / "collagan.safetensors")


@pytest.fixture
def face_mask(sample_photo, sample_face):
    """A hole over the face's nose and mouth."""
    mask = np.zeros(sample_photo.shape[:2], np.uint8)
    x0, y0, x1, y1 = map(int, sample_face.box)
    mask[(y0 + y1) // 2 : y1 - 5, x0 + 15 : x1 - 15] = 255
    return mask


def test_registered_with_its_extra_outputs():
    info = get_model_class("collagan").info
    assert info.resolution == 128 and info.weights_name == "collagan"
    assert set(info.extra_outputs) == {"segmentation", "heatmaps"}


def test_completes_the_sample_photo_with_segmentation_and_heatmaps(sample_photo, sample_face, face_mask, tiny_weights):
    model = create_model("collagan", weights=tiny_weights, device="cpu")
    (result,) = model.inpaint(sample_photo, face_mask, seed=7, face=sample_face)
    assert np.array_equal(result.image[face_mask == 0], sample_photo[face_mask == 0])
    assert not np.array_equal(result.image[face_mask > 0], sample_photo[face_mask > 0])
    assert result.extras["segmentation"].shape == (128, 128) and result.extras["segmentation"].max() < 8
    heatmaps = result.extras["heatmaps"]
    assert heatmaps.shape == (5, 128, 128) and 0 <= heatmaps.min() and heatmaps.max() <= 1
    (again,) = model.inpaint(sample_photo, face_mask, seed=7, face=sample_face)
    assert np.array_equal(again.image, result.image)  # the seed fixes the hole's noise


def test_a_single_task_model_has_no_extras(tmp_path, sample_photo, sample_face, face_mask):
    weights = export_random_generator(tmp_path / "mi.safetensors", CollaGANArchitecture(64, 4, ("i",)))
    (result,) = create_model("collagan", weights=weights, device="cpu").inpaint(sample_photo, face_mask, face=sample_face)
    assert result.extras == {}


def test_wrong_weights_are_refused_naming_the_file(tmp_path, tiny_weights, sample_photo, sample_face, face_mask):
    broken = tmp_path / "broken.safetensors"
    state = CollaGANGenerator(TINY).state_dict()
    state.pop(next(iter(state)))
    save_state_dict(broken, state, {"method": "collagan", "architecture": dataclasses.asdict(TINY)})
    with pytest.raises(WeightsError, match="broken.safetensors"):
        create_model("collagan", weights=broken, device="cpu").inpaint(sample_photo, face_mask, face=sample_face)


def test_cli_inpaint_runs_collagan(tmp_path, sample_photo_path, tiny_weights):
    from engine.cli_inpaint import main
    from engine.imageio import read_image

    out = tmp_path / "done.png"
    assert main([str(sample_photo_path), "--preset", "mouth", "--model", "collagan", "--weights", str(tiny_weights),
                 "--device", "cpu", "--face-backend", "dlib", "-o", str(out), "--seed", "1"]) == 0
    assert read_image(out).shape == read_image(sample_photo_path).shape


@pytest.mark.parametrize("prefill", ["telea", "mirror", "face-mirror"])
def test_zero_residual_collagan_completes_exactly_like_its_prefill(sample_square, tmp_path, prefill):
    """At step 0 a recipe model *is* its prefill (the telea baseline, the mirror fill, or the mirror
    kept inside the face outline of the landmarks it is handed): the same pixels, not merely close ones."""
    from engine.models import create_model
    from engine.models.collagan import CollaGANArchitecture, build_generator
    from engine.weights import save_state_dict

    crop = sample_square(128)
    mask = np.zeros(crop.shape[:2], np.uint8)
    mask[40:90, 30:100] = 255
    arch = CollaGANArchitecture(resolution=128, width=8, generator="residual-unet", prefill=prefill)
    torch.manual_seed(0)
    net = build_generator(arch)
    path = tmp_path / "collagan.safetensors"
    save_state_dict(path, net.state_dict(), {"method": "collagan", "architecture": dataclasses.asdict(arch)})
    # a head turned to the crop's left: the outline spans columns 16-80 of 128
    landmarks = np.full((68, 2), 60.0, np.float32)
    angles = np.linspace(np.pi, 0, 17)
    landmarks[:17] = np.stack([48 + 32 * np.cos(angles), 60 + 52 * np.sin(angles)], axis=1)
    landmarks[17:27] = np.stack([np.linspace(20, 76, 10), np.full(10, 24.0)], axis=1)
    [learned] = create_model("collagan", weights=path, device="cpu").inpaint_crop(crop, mask, seed=0, landmarks=landmarks)
    from engine.prefill import mirror_fill

    blanked = np.where(mask[..., None] > 127, 0, crop).astype(np.uint8)  # the model never sees the hole's pixels
    if prefill == "telea":
        expected = create_model("telea").inpaint_crop(crop, mask, seed=0)[0].image
    elif prefill == "mirror":  # the landmarks are not read
        expected = mirror_fill(blanked, mask)
    else:
        expected = mirror_fill(blanked, mask, landmarks)
        assert not np.array_equal(expected, mirror_fill(blanked, mask))
    assert np.array_equal(learned.image, expected)
