"""Contract of engine.models.base, exercised through the OpenCV baselines and tiny fake models."""

from __future__ import annotations

import logging
from typing import ClassVar

import cv2
import numpy as np
import pytest

from engine.errors import CancelledError, ConfigError, MaskError, UnknownModelError
from engine.models import MODELS, ModelSpec, create_model, get_model_class, list_models
from engine.models.base import CancelToken, CropCompletion, InpaintModel, InpaintRequest, ModelInfo
from tests.engine.models import toy_models
from tests.engine.models.toy_models import add_row


def centre_mask(shape: tuple[int, int], fraction: float = 0.2) -> np.ndarray:
    h, w = shape
    mask = np.zeros((h, w), np.uint8)
    dy, dx = int(h * fraction / 2), int(w * fraction / 2)
    mask[h // 2 - dy : h // 2 + dy, w // 2 - dx : w // 2 + dx] = 255
    return mask


class OutOfMemoryOnceInpainter(InpaintModel):
    """Fails like a GPU that ran out of memory on its first call, then works."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.calls = 0

    def _inpaint_crop(self, crop, mask, *, seeds, settings, progress, cancel, landmarks=None):
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return [CropCompletion(np.full_like(crop, 128), seed=seeds[0])]


class PeekingInpainter(InpaintModel):
    """Records the crop it is given, to show the hole arrives blanked."""

    seen: np.ndarray | None = None

    def _inpaint_crop(self, crop, mask, *, seeds, settings, progress, cancel, landmarks=None):
        PeekingInpainter.seen = crop.copy()
        return [CropCompletion(crop.copy(), seed=seeds[0])]


OOM = ModelSpec(ModelInfo(name="test-oom", display_name="OOM", paper="none", resolution=0, needs_face=False),
                f"{__name__}:OutOfMemoryOnceInpainter")
PEEK = ModelSpec(ModelInfo(name="test-peek", display_name="Peek", paper="none", resolution=0, needs_face=False),
                 f"{__name__}:PeekingInpainter")


@pytest.fixture
def noise(monkeypatch):
    add_row(monkeypatch, toy_models.NOISE)
    return create_model("test-noise")


def test_registry_lists_the_baselines_first():
    names = [info.name for info in list_models()]
    assert names[:2] == ["telea", "navier-stokes"]
    for name in names[:2]:
        info = MODELS[name].info
        assert not info.needs_face and info.resolution == 0 and info.weights_name is None
        assert MODELS[name].weights_status().ready
        assert get_model_class(name).info is info


def test_a_row_names_its_class_which_is_imported_on_creation(monkeypatch):
    add_row(monkeypatch, toy_models.NOISE)
    model = create_model("test-noise")
    assert isinstance(model, toy_models.NoiseInpainter) and model.info is MODELS["test-noise"].info


def test_a_class_serves_one_row(monkeypatch):
    add_row(monkeypatch, toy_models.GREY)
    create_model("test-grey")
    other = ModelSpec(ModelInfo(name="test-other", display_name="Other", paper="", resolution=0, needs_face=False),
                      toy_models.GREY.target)
    monkeypatch.setitem(MODELS, "test-other", other)
    with pytest.raises(TypeError, match="each row its own class"):
        create_model("test-other")


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


def test_diverse_model_uses_consecutive_seeds_and_reproduces_a_sample(sample_photo, noise):
    model = noise
    mask = centre_mask(sample_photo.shape[:2])
    results = model.inpaint(sample_photo, mask, samples=3, seed=100)
    assert [r.seed for r in results] == [100, 101, 102]
    assert not np.array_equal(results[0].image, results[1].image)
    [again] = model.inpaint(sample_photo, mask, samples=1, seed=results[1].seed)
    assert np.array_equal(again.image, results[1].image)


def test_a_request_carries_explicit_seeds(sample_photo, noise):
    mask = centre_mask(sample_photo.shape[:2])
    results = noise.inpaint(InpaintRequest(sample_photo, mask, seeds=[40, 3]))
    assert [r.seed for r in results] == [40, 3]
    [again] = noise.inpaint(InpaintRequest(sample_photo, mask, seed=3))
    assert np.array_equal(again.image, results[1].image)


def test_out_of_memory_falls_back_to_the_cpu(sample_photo, caplog, monkeypatch):
    add_row(monkeypatch, OOM)
    model = create_model("test-oom", device="cuda")
    mask = centre_mask(sample_photo.shape[:2])
    with caplog.at_level(logging.WARNING, logger="engine.models.base"):
        [result] = model.inpaint(sample_photo, mask, seed=0)
    assert model.calls == 2 and model.requested_device == "cpu"
    assert "out of GPU memory" in caplog.text
    assert np.all(result.image[mask > 0] == 128)


def test_out_of_memory_on_the_cpu_is_not_retried(sample_photo, monkeypatch):
    add_row(monkeypatch, OOM)
    with pytest.raises(RuntimeError, match="out of memory"):
        create_model("test-oom", device="cpu").inpaint(sample_photo, centre_mask(sample_photo.shape[:2]))


def test_face_model_returns_the_whole_photo_identical_outside_the_mask(sample_photo, sample_face, monkeypatch):
    add_row(monkeypatch, toy_models.FACE)
    x0, y0, x1, y1 = (int(v) for v in sample_face.box)
    mask = np.zeros(sample_photo.shape[:2], np.uint8)
    mask[(y0 + y1) // 2 : y1, x0:x1] = 255  # lower half of the face box
    [result] = create_model("test-face").inpaint(InpaintRequest(sample_photo, mask, seed=3))
    assert result.image.shape == sample_photo.shape
    assert np.array_equal(result.image[mask == 0], sample_photo[mask == 0])
    assert not np.array_equal(result.image[mask > 0], sample_photo[mask > 0])
    assert result.crop.shape == (64, 64, 3) and result.crop_mask.shape == (64, 64)
    assert result.alignment is not None and result.seed == 3


def test_models_never_see_the_pixels_of_the_hole(sample_photo, monkeypatch):
    add_row(monkeypatch, PEEK)
    mask = centre_mask(sample_photo.shape[:2])
    create_model("test-peek").inpaint_crop(sample_photo, mask, seed=0)
    hole = mask > 0
    assert not PeekingInpainter.seen[hole].any()
    np.testing.assert_array_equal(PeekingInpainter.seen[~hole], sample_photo[~hole])


def test_settings_come_with_each_call_and_are_checked(sample_photo, monkeypatch):
    add_row(monkeypatch, toy_models.GREY)
    model = create_model("test-grey")
    mask = centre_mask(sample_photo.shape[:2])
    [default] = model.inpaint(InpaintRequest(sample_photo, mask))
    [dark] = model.inpaint(InpaintRequest(sample_photo, mask, settings={"level": 9}))
    [typed] = model.inpaint(InpaintRequest(sample_photo, mask, settings=toy_models.ToySettings(level=200)))
    hole = mask > 0
    assert np.all(default.image[hole] == 128) and np.all(dark.image[hole] == 9) and np.all(typed.image[hole] == 200)
    with pytest.raises(ConfigError, match="0, 255"):
        model.inpaint(InpaintRequest(sample_photo, mask, settings={"level": 300}))
    with pytest.raises(ConfigError, match="unknown setting"):
        model.inpaint(InpaintRequest(sample_photo, mask, settings={"lvl": 3}))


def test_cancel_stops_between_chunks_of_seeds(sample_photo, monkeypatch):
    add_row(monkeypatch, toy_models.COUNTING)
    toy_models.CountingInpainter.calls = []
    token = CancelToken()
    fractions = []

    def progress(fraction, message="", preview=None):
        fractions.append(fraction)
        token.cancel()  # the user presses Cancel while the first sample is drawn

    request = InpaintRequest(sample_photo, centre_mask(sample_photo.shape[:2]), samples=4, seed=1,
                             progress=progress, cancel=token)
    with pytest.raises(CancelledError, match="after 1 of 4"):
        create_model("test-count").inpaint(request)
    assert toy_models.CountingInpainter.calls == [[1]]
    assert fractions == [0.25]  # a chunk's progress is its share of the call


def test_chunks_report_progress_over_the_whole_call(sample_photo, monkeypatch):
    add_row(monkeypatch, toy_models.COUNTING)
    toy_models.CountingInpainter.calls = []
    fractions = []
    results = create_model("test-count").inpaint_crop(
        sample_photo, centre_mask(sample_photo.shape[:2]), samples=3, seed=5,
        progress=lambda f, m="", p=None: fractions.append(round(f, 3)))
    assert [r.seed for r in results] == [5, 6, 7] and toy_models.CountingInpainter.calls == [[5], [6], [7]]
    assert fractions == [0.333, 0.667, 1.0, 1.0]



class LandmarkPeekingInpainter(InpaintModel):
    """Records the landmarks it is handed (the face-mirror prefill reads them)."""

    seen: ClassVar[list] = []

    def _inpaint_crop(self, crop, mask, *, seeds, settings, progress, cancel, landmarks=None):
        LandmarkPeekingInpainter.seen.append(landmarks)
        return [CropCompletion(crop.copy(), seed=seeds[0])]


class LandmarkPeekingRegionInpainter(LandmarkPeekingInpainter):
    """The same, as a region model (a class serves one row)."""


LANDMARK_FACE = ModelSpec(ModelInfo(name="test-landmark-face", display_name="Landmarks", paper="none", resolution=64),
                          f"{__name__}:LandmarkPeekingInpainter")
LANDMARK_REGION = ModelSpec(ModelInfo(name="test-landmark-region", display_name="Landmarks", paper="none", resolution=0,
                                      needs_face=False), f"{__name__}:LandmarkPeekingRegionInpainter")


def test_a_face_model_is_handed_the_alignments_landmarks_in_crop_pixels(monkeypatch, sample_photo):
    import engine.face

    add_row(monkeypatch, LANDMARK_FACE)
    LandmarkPeekingInpainter.seen = []
    [result] = create_model("test-landmark-face").inpaint(sample_photo, centre_mask(sample_photo.shape[:2], 0.3))
    [seen] = LandmarkPeekingInpainter.seen
    assert seen.shape == (68, 2)
    assert np.allclose(seen, result.alignment.landmarks)
    face = engine.face.detect_faces(sample_photo)[0]
    assert np.allclose(seen, result.alignment.to_crop(face.landmarks), atol=1e-3)
    assert (seen > 0).all() and (seen < 64).all()  # the whole face inside the 64 px crop


def test_a_region_model_is_handed_no_landmarks_and_bad_ones_are_refused(monkeypatch, sample_photo):
    add_row(monkeypatch, LANDMARK_REGION)
    LandmarkPeekingInpainter.seen = []
    model = create_model("test-landmark-region")
    model.inpaint(sample_photo, centre_mask(sample_photo.shape[:2]))
    assert LandmarkPeekingInpainter.seen == [None]
    crop, mask = sample_photo[:64, :64], centre_mask((64, 64))
    for bad in (np.zeros((5, 2)), np.full((68, 2), np.nan)):
        with pytest.raises(MaskError, match="landmarks"):
            model.inpaint_crop(crop, mask, landmarks=bad)
    model.inpaint_crop(crop, mask, landmarks=np.zeros((68, 2)))
    assert LandmarkPeekingInpainter.seen[-1].dtype == np.float32
