"""Contract of engine.inpainter, exercised through the OpenCV baselines and tiny fake models."""

from __future__ import annotations

import logging

import cv2
import numpy as np
import pytest

from engine import inpainter
from engine.errors import CancelledError, MaskError, UnknownModelError
from engine.inpainter import CropCompletion, InpaintModel, ModelInfo, create_model, list_models


def centre_mask(shape: tuple[int, int], fraction: float = 0.2) -> np.ndarray:
    h, w = shape
    mask = np.zeros((h, w), np.uint8)
    dy, dx = int(h * fraction / 2), int(w * fraction / 2)
    mask[h // 2 - dy : h // 2 + dy, w // 2 - dx : w // 2 + dx] = 255
    return mask


class NoiseModel(InpaintModel):
    """Diverse fake: fills the hole with noise drawn from the sample's seed."""

    info = ModelInfo(name="test-noise", display_name="Noise", paper="none", resolution=0, diverse=True, needs_face=False)

    def complete_crop(self, crop, mask, *, seeds, progress, should_cancel):
        return [
            CropCompletion(np.random.default_rng(s).integers(0, 256, crop.shape, dtype=np.uint8), seed=s) for s in seeds
        ]


class OutOfMemoryOnceModel(InpaintModel):
    """Fails like a GPU that ran out of memory on its first call, then works."""

    info = ModelInfo(name="test-oom", display_name="OOM", paper="none", resolution=0, needs_face=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.calls = 0

    def complete_crop(self, crop, mask, *, seeds, progress, should_cancel):
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return [CropCompletion(np.full_like(crop, 128), seed=seeds[0])]


class FlatFaceModel(InpaintModel):
    """Face model stand-in: paints the crop's hole mid-grey at 64 px."""

    info = ModelInfo(name="test-face", display_name="Flat face", paper="none", resolution=64, needs_face=True)

    def complete_crop(self, crop, mask, *, seeds, progress, should_cancel):
        assert crop.shape == (64, 64, 3)
        return [CropCompletion(np.full_like(crop, 128), seed=seeds[0])]


def test_registry_lists_the_baselines_first():
    names = [info.name for info in list_models()]
    assert names[:2] == ["telea", "navier-stokes"]
    for name in names[:2]:
        info = inpainter.get_model_class(name).info
        assert not info.needs_face and info.resolution == 0 and info.weights_name is None
        assert inpainter.get_model_class(name).weights_status().ready


def test_register_and_create_a_model(monkeypatch):
    monkeypatch.setattr(inpainter, "MODELS", dict(inpainter.MODELS))
    inpainter.register(NoiseModel)
    assert isinstance(create_model("test-noise"), NoiseModel)
    with pytest.raises(ValueError, match="two models"):
        inpainter.register(type("Impostor", (NoiseModel,), {}))


def test_unknown_model_names_the_known_ones():
    with pytest.raises(UnknownModelError, match="telea"):
        create_model("no-such-model")


@pytest.mark.parametrize(
    "image, mask, reason",
    [
        (np.zeros((32, 32, 3), np.uint8), np.full((16, 32), 255, np.uint8), "32x16"),
        (np.zeros((32, 32, 3), np.uint8), np.zeros((32, 32), np.uint8), "empty"),
        (np.zeros((32, 32, 3), np.float32), np.full((32, 32), 255, np.uint8), "uint8"),
        (np.zeros((32, 32), np.uint8), np.full((32, 32), 255, np.uint8), "H x W x 3"),
    ],
)
def test_bad_inputs_raise_mask_error(image, mask, reason):
    with pytest.raises(MaskError, match=reason):
        create_model("telea").inpaint(image, mask)


@pytest.mark.parametrize("name", ["telea", "navier-stokes"])
def test_baseline_changes_only_the_hole_of_the_sample_photo(name, sample_photo):
    mask = centre_mask(sample_photo.shape[:2])
    [result] = create_model(name).inpaint(sample_photo, mask, seed=7)
    assert result.image.shape == sample_photo.shape and result.image.dtype == np.uint8
    outside = mask == 0
    assert np.array_equal(result.image[outside], sample_photo[outside])
    assert not np.array_equal(result.image[~outside], sample_photo[~outside])
    assert result.seed == 7 and result.model == name


def test_baseline_on_a_12_megapixel_canvas(sample_photo):
    canvas = cv2.resize(sample_photo, (4000, 3000), interpolation=cv2.INTER_LINEAR)
    mask = np.zeros(canvas.shape[:2], np.uint8)
    cv2.circle(mask, (2000, 1300), 180, 255, -1)
    [result] = create_model("telea").inpaint(canvas, mask, seed=1)
    assert np.array_equal(result.image[mask == 0], canvas[mask == 0])
    assert not np.array_equal(result.image[mask > 0], canvas[mask > 0])
    assert result.crop.shape[0] < canvas.shape[0]  # worked on the hole's neighbourhood only


def test_deterministic_model_gives_one_sample_with_its_seed(sample_photo):
    results = create_model("telea").inpaint(sample_photo, centre_mask(sample_photo.shape[:2]), samples=3, seed=5)
    assert [r.seed for r in results] == [5]


def test_unseeded_run_records_a_drawn_seed(sample_photo):
    [result] = create_model("telea").inpaint(sample_photo, centre_mask(sample_photo.shape[:2]))
    assert isinstance(result.seed, int)


def test_diverse_model_uses_consecutive_seeds_and_reproduces_a_sample(sample_photo):
    model = NoiseModel()
    mask = centre_mask(sample_photo.shape[:2])
    results = model.inpaint(sample_photo, mask, samples=3, seed=100)
    assert [r.seed for r in results] == [100, 101, 102]
    assert not np.array_equal(results[0].image, results[1].image)
    [again] = model.inpaint(sample_photo, mask, samples=1, seed=results[1].seed)
    assert np.array_equal(again.image, results[1].image)


def test_should_cancel_stops_the_run(sample_photo):
    with pytest.raises(CancelledError):
        NoiseModel().inpaint(sample_photo, centre_mask(sample_photo.shape[:2]), should_cancel=lambda: True)


def test_out_of_memory_falls_back_to_the_cpu(sample_photo, caplog):
    model = OutOfMemoryOnceModel(device="cuda")
    mask = centre_mask(sample_photo.shape[:2])
    with caplog.at_level(logging.WARNING, logger="engine.inpainter"):
        [result] = model.inpaint(sample_photo, mask, seed=0)
    assert model.calls == 2 and model.requested_device == "cpu"
    assert "out of GPU memory" in caplog.text
    assert np.all(result.image[mask > 0] == 128)


def test_out_of_memory_on_the_cpu_is_not_retried(sample_photo):
    with pytest.raises(RuntimeError, match="out of memory"):
        OutOfMemoryOnceModel(device="cpu").inpaint(sample_photo, centre_mask(sample_photo.shape[:2]))


def test_face_model_returns_the_whole_photo_identical_outside_the_mask(sample_photo, sample_face):
    x0, y0, x1, y1 = (int(v) for v in sample_face.box)
    mask = np.zeros(sample_photo.shape[:2], np.uint8)
    mask[(y0 + y1) // 2 : y1, x0:x1] = 255  # lower half of the face box
    [result] = FlatFaceModel().inpaint(sample_photo, mask, seed=3)
    assert result.image.shape == sample_photo.shape
    assert np.array_equal(result.image[mask == 0], sample_photo[mask == 0])
    assert not np.array_equal(result.image[mask > 0], sample_photo[mask > 0])
    assert result.crop.shape == (64, 64, 3) and result.crop_mask.shape == (64, 64)
    assert result.alignment is not None and result.seed == 3


class PeekingModel(InpaintModel):
    """Records the crop it is given, to show the hole arrives blanked."""

    info = ModelInfo(name="test-peek", display_name="Peek", paper="none", resolution=0, needs_face=False)
    seen: np.ndarray | None = None

    def complete_crop(self, crop, mask, *, seeds, progress, should_cancel):
        PeekingModel.seen = crop.copy()
        return [CropCompletion(crop.copy(), seed=seeds[0])]


def test_models_never_see_the_pixels_of_the_hole(sample_photo):
    mask = centre_mask(sample_photo.shape[:2])
    PeekingModel().complete(sample_photo, mask, seed=0)
    hole = mask > 0
    assert not PeekingModel.seen[hole].any()
    np.testing.assert_array_equal(PeekingModel.seen[~hole], sample_photo[~hole])
