"""Evaluation protocols on a tiny folder made from the bundled sample photo."""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np
import pytest
from PIL import Image

from engine.evaluation import PROTOCOLS, EvalConfig, _ModelRunner, evaluate, list_images
from engine.models import ModelSpec, create_model
from engine.models.base import CropCompletion, ModelInfo
from tests.engine.models import toy_models

ROW_KEYS = {"model", "case", "n", "psnr", "ssim", "l1_hole", "landmark_nme", "identity_dist", "sample_spread"}


@pytest.fixture(scope="module")
def faces_dir(tmp_path_factory, sample_photo):
    """Three variants of the sample face and one image without a face."""
    folder = tmp_path_factory.mktemp("faces")
    Image.fromarray(sample_photo).save(folder / "a_photo.png")
    Image.fromarray(np.ascontiguousarray(sample_photo[:, ::-1])).save(folder / "b_flipped.jpg", quality=95)
    Image.fromarray(sample_photo[20:340, 60:380]).save(folder / "c_crop.png")
    Image.fromarray(np.full((200, 200, 3), 127, np.uint8)).save(folder / "d_no_face.png")
    (folder / "notes.txt").write_text("not an image")
    return folder


@pytest.fixture(scope="module")
def masks_dir(tmp_path_factory):
    """Irregular-style masks with 5%, 15% and 35% holes."""
    folder = tmp_path_factory.mktemp("masks")
    for i, ratio in enumerate((0.05, 0.15, 0.35)):
        mask = np.zeros((256, 256), np.uint8)
        side = int(256 * math.sqrt(ratio))
        mask[10 : 10 + side, 20 : 20 + side] = 255
        Image.fromarray(mask).save(folder / f"m{i}.png")
    return folder


class Flat64Inpainter(toy_models.GreyInpainter):
    """A 64 px face model: paints the hole mid-grey."""


FLAT_64 = ModelSpec(ModelInfo(name="test-flat-64", display_name="Flat 64", paper="none", resolution=64),
                    f"{__name__}:Flat64Inpainter", toy_models.ToySettings)


def run(faces_dir, protocol: str, **kwargs):
    config = EvalConfig(data=[faces_dir], protocol=protocol, models=kwargs.pop("models", ["telea"]), **kwargs)
    return evaluate(config, progress=False)


def test_images_are_listed_sorted_and_limited(faces_dir):
    names = [p.name for p in list_images([faces_dir])]
    assert names == ["a_photo.png", "b_flipped.jpg", "c_crop.png", "d_no_face.png"]
    assert [p.name for p in list_images([faces_dir], limit=2)] == names[:2]
    assert [p.name for p in list_images([faces_dir], subset=2)] == [names[0], names[2]]
    assert [p.name for p in list_images([faces_dir], limit=3, subset=1)] == names[:1]
    assert list_images([faces_dir], subset=10) == list_images([faces_dir])


@pytest.mark.parametrize("protocol", [p for p in PROTOCOLS if p != "irregular"])
def test_telea_runs_every_protocol(faces_dir, protocol):
    report = run(faces_dir, protocol)
    data = report.to_json()
    assert data["skipped"] == 1 and data["skipped_images"][0]["file"].endswith("d_no_face.png")
    assert data["config"]["resolution"] == PROTOCOLS[protocol].default_resolution
    assert data["config"]["cases"] == report.cases and len(data["rows"]) == len(report.cases) >= 1
    for row in data["rows"]:
        assert set(row) == ROW_KEYS and row["model"] == "telea" and row["n"] == 3
        assert 10 < row["psnr"] < 60 and 0 < row["ssim"] < 1 and 0 < row["l1_hole"] < 1
        assert row["identity_dist"] is None or 0 <= row["identity_dist"] < 2
        assert row["landmark_nme"] is None or 0 <= row["landmark_nme"] < 1


def test_collagan_protocol_reports_the_six_cases(faces_dir):
    report = run(faces_dir, "collagan-occlusions", models=["telea", "navier-stokes"], limit=1)
    assert report.cases == ["left-eye", "right-eye", "upper-face", "left-face", "right-face", "lower-face"]
    markdown = report.to_markdown()
    assert "| model | O1 left-eye | O2 right-eye" in markdown
    telea = next(line for line in markdown.splitlines() if line.startswith("| telea |"))
    ssim_percent, psnr_db = telea.split("|")[2].strip().split("/")
    row = report.rows[0]
    assert float(ssim_percent) == pytest.approx(100 * row["ssim"], abs=0.05)
    assert float(psnr_db) == pytest.approx(row["psnr"], abs=0.005)
    assert "L1 inside the hole" in markdown


def test_irregular_masks_are_reported_by_hole_area(faces_dir, masks_dir):
    report = run(faces_dir, "irregular", masks=masks_dir, seed=3)
    assert report.cases and all(case.endswith("%") for case in report.cases)
    assert set(report.cases) <= {"0-10%", "10-20%", "30-40%"}
    assert sum(row["n"] for row in report.rows) == 3


def test_same_seed_same_numbers(faces_dir):
    first = run(faces_dir, "random-block", seed=5, limit=2).rows
    assert run(faces_dir, "random-block", seed=5, limit=2).rows == first
    assert run(faces_dir, "random-block", seed=6, limit=2).rows != first


def test_sample_spread_is_measured_for_diverse_models_only(faces_dir, monkeypatch):
    """Noise drawn from two seeds differs by about 85 grey levels on average (|U - U'| of uniform 0-255);
    a deterministic model gets no spread, and without the option nobody does."""
    toy_models.add_row(monkeypatch, toy_models.NOISE)
    report = run(faces_dir, "center-block", models=["test-noise", "telea"], limit=1, face_metrics=False, sample_spread=True)
    spread = {row["model"]: row["sample_spread"] for row in report.rows}
    assert spread["test-noise"] == pytest.approx(255 / 3, rel=0.1) and spread["telea"] is None
    assert "Sample spread" in report.to_markdown() and "s + " in report.config["metrics"]
    plain = run(faces_dir, "center-block", models=["test-noise"], limit=1, face_metrics=False)
    assert plain.rows[0]["sample_spread"] is None and "Sample spread" not in plain.to_markdown()


def test_any_resolution_and_resized_face_models(faces_dir, monkeypatch):
    toy_models.add_row(monkeypatch, FLAT_64)
    report = run(faces_dir, "center-block", models=["test-flat-64", "telea"], resolution=96, limit=1)
    assert report.config["resolution"] == 96
    assert report.config["resized_models"] == ["test-flat-64 (64 px)"]
    assert "Resized to their native resolution" in report.to_markdown()
    flat, telea = report.rows
    assert flat["model"] == "test-flat-64" and flat["n"] == telea["n"] == 1
    assert 0 < flat["l1_hole"] < 1 and flat["l1_hole"] != telea["l1_hole"]


class Recording96Inpainter(toy_models.GreyInpainter):
    """A 96 px face model that keeps what it was handed, as MDE is run on 128 px crops."""

    seen: ClassVar[list[tuple[np.ndarray, np.ndarray]]] = []
    landmarks_seen: ClassVar[list] = []

    def _inpaint_crop(self, crop, mask, *, seeds, settings, progress, cancel, landmarks=None):
        type(self).seen.append((crop.copy(), mask.copy()))
        type(self).landmarks_seen.append(landmarks)
        return [CropCompletion(np.full_like(crop, settings.level), seed=seeds[0])]


RECORDING_96 = ModelSpec(ModelInfo(name="test-record-96", display_name="Record 96", paper="none", resolution=96),
                         f"{__name__}:Recording96Inpainter", toy_models.ToySettings)


def test_a_shrunk_crop_hands_no_blanked_pixel_to_the_model_as_known(monkeypatch):
    """Thin strokes on a 128 px crop must stay holes at 96 px: the evaluator blanks the hole to
    black before shrinking, so any black-tinged pixel the model is told is known is a leak."""
    toy_models.add_row(monkeypatch, RECORDING_96)
    Recording96Inpainter.seen.clear()
    crop = np.full((128, 128, 3), 200, np.uint8)
    mask = np.zeros((128, 128), np.uint8)
    mask[:, 10:120:3] = 255  # one-pixel strokes, finer than the 4:3 shrink's step
    mask[40, :] = 255
    runner = _ModelRunner(create_model("test-record-96"), 128)
    out = runner(crop, mask, seed=0)
    small, small_mask = Recording96Inpainter.seen[-1]
    assert small.shape == (96, 96, 3) and small_mask.shape == (96, 96)
    known = small_mask == 0
    assert known.any() and small[known].min() >= 199, "blanked hole pixels were handed over as known"
    np.testing.assert_array_equal(out[mask == 0], crop[mask == 0])


def test_a_resized_crops_landmarks_follow_it_to_the_models_pixels(monkeypatch):
    """The face-mirror prefill reads the landmarks: at 96 px they must sit where the face is at 96 px
    (pixel centres: the crop's centre stays the centre, the corner pixel stays the corner pixel)."""
    toy_models.add_row(monkeypatch, RECORDING_96)
    Recording96Inpainter.landmarks_seen.clear()
    mask = np.zeros((128, 128), np.uint8)
    mask[40:60, 40:60] = 255
    landmarks = np.full((68, 2), 63.5, np.float32)
    landmarks[0] = (127.0, 0.0)
    _ModelRunner(create_model("test-record-96"), 128)(np.full((128, 128, 3), 90, np.uint8), mask, 0, landmarks)
    _ModelRunner(create_model("test-record-96"), 96)(np.full((96, 96, 3), 90, np.uint8), mask[:96, :96], 0)
    small, unknown = Recording96Inpainter.landmarks_seen
    assert unknown is None
    np.testing.assert_allclose(small[1:], 47.5)
    np.testing.assert_allclose(small[0], (127.5 * 0.75 - 0.5, 0.5 * 0.75 - 0.5))


def test_an_enlarged_crop_hands_no_blanked_pixel_to_the_model_as_known(monkeypatch):
    """A 96 px table run by a 128 px model (collaGAN on ``mde-occlusions``): bicubic enlarging
    spreads the blanked hole into the ring around it, so that ring must be a hole too."""
    toy_models.add_row(monkeypatch, RECORDING_96)
    Recording96Inpainter.seen.clear()
    crop = np.full((72, 72, 3), 200, np.uint8)
    mask = np.zeros((72, 72), np.uint8)
    mask[20:40, 30:50] = 255  # an eye-sized block
    mask[55, :] = 255  # and a thin stroke
    runner = _ModelRunner(create_model("test-record-96"), 72)
    out = runner(crop, mask, seed=0)
    big, big_mask = Recording96Inpainter.seen[-1]
    assert big.shape == (96, 96, 3) and big_mask.shape == (96, 96)
    known = big_mask == 0
    assert known.mean() > 0.6 and big[known].min() >= 199, "blanked hole pixels were handed over as known"
    np.testing.assert_array_equal(out[mask == 0], crop[mask == 0])


def test_bad_configurations_are_refused(faces_dir, tmp_path):
    from engine.errors import FaceInpaintError, ImageReadError, MaskError

    with pytest.raises(MaskError, match="--masks"):
        EvalConfig(data=[faces_dir], protocol="irregular", models=["telea"])
    with pytest.raises(FaceInpaintError, match="unknown protocol"):
        EvalConfig(data=[faces_dir], protocol="everything", models=["telea"])
    with pytest.raises(ImageReadError, match="nowhere"):
        run(tmp_path / "nowhere", "noise-80")
    with pytest.raises(ImageReadError, match="no images"):
        run(tmp_path, "noise-80")
