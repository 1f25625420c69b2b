"""Regression tests of issue 11 for the engine's CLIs and compositing, each reproducing a failure
found by trying hostile inputs. Those marked xfail document a defect whose fix lives in code other
people are changing (the reason names the file and the change); they flip when it lands."""

from __future__ import annotations

import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageCms

from engine.errors import FaceInpaintError
from engine.models.base import CropCompletion, InpaintModel, ModelInfo

SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
RNG = np.random.default_rng(11)


@pytest.fixture
def photo_and_mask(tmp_path) -> tuple[Path, Path, np.ndarray]:
    """A 16-bit RGBA PNG with an sRGB profile, and a mask with a 10 x 10 hole."""
    samples = RNG.integers(0, 65536, (40, 50, 4), dtype=np.uint16)
    ok, encoded = cv2.imencode(".png", samples[:, :, [2, 1, 0, 3]])
    assert ok
    from tests.engine.test_imageio import chunk

    data = encoded.tobytes()
    photo = tmp_path / "photo.png"
    photo.write_bytes(data[:33] + chunk(b"iCCP", b"srgb\x00\x00" + __import__("zlib").compress(SRGB)) + data[33:])
    mask = np.zeros((40, 50), np.uint8)
    mask[10:20, 10:20] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    return photo, tmp_path / "mask.png", samples


def inpaint_cli(argv: list[str], capsys) -> tuple[int, str]:
    from engine.cli_inpaint import main

    try:
        code = main([str(a) for a in argv])
    except SystemExit as exit_:  # argparse
        code = exit_.code
    return code, capsys.readouterr().err


def one_line(err: str) -> bool:
    return "Traceback" not in err and len([line for line in err.splitlines() if line.strip()]) == 1


@pytest.fixture
def model_never_runs(monkeypatch):
    """Fails the test if any model starts completing: the input error must come before the work."""

    def refuse(*args, **kwargs):
        raise AssertionError("the model ran before the bad input was refused")

    monkeypatch.setattr(InpaintModel, "inpaint", refuse)


# -- defect 5: alpha, profile, 16-bit and lossy outputs -------------------------------------------
def test_inpaint_cli_keeps_alpha_depth_and_profile_outside_the_hole(photo_and_mask, tmp_path, capsys):
    from engine.imageio import read_image_with_info

    photo, mask, samples = photo_and_mask
    code, err = inpaint_cli([photo, "--mask", mask, "--model", "telea", "-o", tmp_path / "out.png"], capsys)
    assert code == 0, err
    back = read_image_with_info(tmp_path / "out.png")
    outside = np.ones((40, 50), bool)
    outside[10:20, 10:20] = False
    assert back.deep is not None and back.icc_profile == SRGB
    np.testing.assert_array_equal(back.deep[outside], samples[outside])


def test_inpaint_cli_warns_when_the_output_format_loses_something(photo_and_mask, tmp_path, capsys):
    photo, mask, _ = photo_and_mask
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # only what the CLI itself prints counts
        code, err = inpaint_cli([photo, "--mask", mask, "--model", "telea", "-o", tmp_path / "out.jpg"], capsys)
    assert code == 0
    assert "warning" in err and "lossy" in err and "16-bit" in err and "transparen" in err


# -- defect 6: one line and exit 2 ----------------------------------------------------------------
def test_an_unknown_device_is_one_line_even_for_a_baseline(photo_and_mask, tmp_path, capsys, model_never_runs):
    photo, mask, _ = photo_and_mask
    code, err = inpaint_cli([photo, "--mask", mask, "--device", "nonsense", "-o", tmp_path / "o.png"], capsys)
    assert code == 2 and one_line(err) and "nonsense" in err


def test_eval_refuses_an_unknown_device_before_any_work(tmp_path, capsys, monkeypatch, sample_photo_path):
    from engine import cli_eval

    monkeypatch.setattr(cli_eval, "evaluate", lambda *a, **k: pytest.fail("evaluated before checking --device"))
    (tmp_path / "faces").mkdir()
    Image.open(sample_photo_path).save(tmp_path / "faces" / "a.png")
    try:
        code = cli_eval.main(["--data", str(tmp_path / "faces"), "--protocol", next(iter(cli_eval.PROTOCOLS)),
                              "--models", "telea", "--device", "nonsense"])
    except SystemExit as exit_:
        code = exit_.code
    err = capsys.readouterr().err
    assert code == 2 and "nonsense" in err and "Traceback" not in err


# -- defect 7: outputs checked before the work ----------------------------------------------------
def test_a_missing_output_folder_is_refused_before_the_model_runs(photo_and_mask, tmp_path, capsys, model_never_runs):
    photo, mask, _ = photo_and_mask
    code, err = inpaint_cli([photo, "--mask", mask, "-o", tmp_path / "missing" / "out.png"], capsys)
    assert code == 2 and one_line(err) and "missing" in err


def test_eval_refuses_an_output_that_is_a_folder_before_any_work(tmp_path, capsys, monkeypatch):
    from engine import cli_eval

    monkeypatch.setattr(cli_eval, "evaluate", lambda *a, **k: pytest.fail("evaluated before checking --json"))
    (tmp_path / "faces").mkdir()
    (tmp_path / "taken").mkdir()
    try:
        code = cli_eval.main(["--data", str(tmp_path / "faces"), "--protocol", next(iter(cli_eval.PROTOCOLS)),
                              "--models", "telea", "--json", str(tmp_path / "taken")])
    except SystemExit as exit_:
        code = exit_.code
    assert code == 2 and "taken" in capsys.readouterr().err


# -- defect 8: eval with every image skipped ------------------------------------------------------
def test_eval_with_every_image_skipped_is_an_error(tmp_path, capsys):
    from engine import cli_eval

    (tmp_path / "faces").mkdir()
    Image.fromarray(np.full((64, 64, 3), 128, np.uint8)).save(tmp_path / "faces" / "no_face.png")
    code = cli_eval.main(["--data", str(tmp_path / "faces"), "--protocol", next(iter(cli_eval.PROTOCOLS)), "--models", "telea",
                          "--face-backend", "dlib", "--quiet"])
    assert code == 2 and "skipped" in capsys.readouterr().err


# -- defect 11: --weights given to a baseline -----------------------------------------------------
def test_weights_given_to_a_baseline_are_not_ignored_silently(photo_and_mask, tmp_path, capsys):
    from engine.weights import save_state_dict

    photo, mask, _ = photo_and_mask
    weights = save_state_dict(tmp_path / "w.safetensors", {"x": __import__("torch").zeros(1)}, {"method": "x"})
    code, err = inpaint_cli([photo, "--mask", mask, "--model", "telea", "--weights", weights,
                             "-o", tmp_path / "o.png"], capsys)
    assert "--weights" in err and code == 2


# -- defect 13: channel-wise masks pasted into the photo ------------------------------------------
class ChannelWiseFace(InpaintModel):
    """A stand-in for MDE: takes channel-wise masks, fills every crop pixel with 255."""

    info = ModelInfo(name="channel-wise-test", display_name="Channel-wise", paper="", resolution=64,
                     channel_masks=True)

    def _inpaint_crop(self, crop, mask, *, seeds, settings, progress, cancel, landmarks=None):
        return [CropCompletion(np.full_like(crop, 255), seed) for seed in seeds]


def test_a_green_only_hole_keeps_red_and_blue_when_pasted_into_the_photo(sample_photo, sample_face):
    mask = np.zeros(sample_photo.shape, np.uint8)
    x0, y0, x1, y1 = (int(v) for v in sample_face.box)
    mask[(y0 + y1) // 2 : y1, x0:x1, 1] = 255
    result = ChannelWiseFace(device="cpu").inpaint(sample_photo, mask, face=sample_face)[0].image
    np.testing.assert_array_equal(result[:, :, [0, 2]], sample_photo[:, :, [0, 2]])
    assert (result[:, :, 1] != sample_photo[:, :, 1]).any()


def test_face_inpaint_errors_are_face_inpaint_errors(sample_photo):
    """A mask of the wrong size for a face model is one MaskError (not a ValueError from the paste)."""
    with pytest.raises(FaceInpaintError):
        ChannelWiseFace(device="cpu").inpaint(sample_photo, np.zeros((5, 5), np.uint8))


# -- defect 4: --samples batches every sample at once ---------------------------------------------
def test_many_dcgan_samples_are_searched_in_bounded_batches(monkeypatch):
    import torch

    from engine.models import create_model
    from engine.models import dcgan

    batches = []

    def record(self, image, hole, seeds, *, progress=None, should_cancel=None, start=None):
        batches.append(len(seeds))
        size = image.shape[-1]
        return dcgan.SearchResult(torch.zeros(len(seeds), 3, size, size), torch.zeros(len(seeds)), [])

    monkeypatch.setattr(dcgan.LatentSearch, "run", record)
    model = create_model("dcgan", device="cpu")
    size = model.info.resolution
    crop = np.full((size, size, 3), 128, np.uint8)
    mask = np.zeros((size, size), np.uint8)
    mask[size // 4 : size // 2, size // 4 : size // 2] = 255
    try:
        model.inpaint_crop(crop, mask, samples=10_000, seed=0, settings={"poisson": False})
    except FaceInpaintError:
        return  # refused up front: fine too
    assert batches and max(batches) <= 64
