"""faceinpaint-inpaint, run in-process through ``main(argv)`` on the bundled sample photo."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from engine.cli_inpaint import main
from tests.engine.models import toy_models


def load(path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


@pytest.fixture
def mask_file(tmp_path, sample_photo):
    mask = np.zeros(sample_photo.shape[:2], np.uint8)
    mask[180:240, 200:260] = 255
    path = tmp_path / "hole.png"
    Image.fromarray(mask).save(path)
    return path, mask


def test_mask_file(tmp_path, sample_photo_path, sample_photo, mask_file, capsys):
    mask_path, mask = mask_file
    out = tmp_path / "done.png"
    assert main([str(sample_photo_path), "--mask", str(mask_path), "--seed", "3", "-o", str(out)]) == 0
    result = load(out)
    assert np.array_equal(result[mask == 0], sample_photo[mask == 0])
    assert not np.array_equal(result[mask > 0], sample_photo[mask > 0])
    assert str(out) in capsys.readouterr().out


def test_preset_lands_on_the_face(tmp_path, sample_photo_path, sample_photo, sample_face):
    out = tmp_path / "done.png"
    assert main([str(sample_photo_path), "--preset", "mouth", "--model", "navier-stokes", "-o", str(out)]) == 0
    changed = np.any(load(out) != sample_photo, axis=2)
    ys, xs = np.nonzero(changed)
    mouth = sample_face.landmarks[48:68]
    assert changed.any()
    assert mouth[:, 0].min() - 30 < xs.mean() < mouth[:, 0].max() + 30
    assert mouth[:, 1].min() - 30 < ys.mean() < mouth[:, 1].max() + 30


def test_samples_go_into_a_folder_named_by_seed(tmp_path, sample_photo_path, mask_file, monkeypatch):
    toy_models.add_row(monkeypatch, toy_models.NOISE)
    out = tmp_path / "samples"
    argv = [str(sample_photo_path), "--mask", str(mask_file[0]), "--model", "test-noise", "--samples", "3"]
    assert main([*argv, "--seed", "10", "-o", str(out)]) == 0
    stem = sample_photo_path.stem
    assert sorted(p.name for p in out.iterdir()) == [f"{stem}_seed{s}.png" for s in (10, 11, 12)]
    assert not np.array_equal(load(out / f"{stem}_seed10.png"), load(out / f"{stem}_seed11.png"))
    # one sample reproduced from its seed
    single = tmp_path / "again.png"
    assert main([str(sample_photo_path), "--mask", str(mask_file[0]), "--model", "test-noise", "--seed", "11", "-o", str(single)]) == 0
    assert np.array_equal(load(single), load(out / f"{stem}_seed11.png"))
    # the folder's files are not replaced without --overwrite
    assert main([*argv, "--seed", "10", "-o", str(out)]) == 2


def test_list_models(capsys):
    assert main(["--list-models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:2] == ["name", "display"]
    telea = next(line for line in lines if line.startswith("telea "))
    assert "Telea (OpenCV)" in telea and "any" in telea and telea.rstrip().endswith("ready")
    assert any(line.startswith("navier-stokes ") for line in lines)


def run_failing(argv, capsys, *reason: str) -> None:
    assert main([str(a) for a in argv]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    for word in reason:
        assert word in err


def test_missing_image(tmp_path, mask_file, capsys):
    run_failing([tmp_path / "nope.jpg", "--mask", mask_file[0], "-o", tmp_path / "o.png"], capsys, "nope.jpg")


def test_wrong_size_mask(tmp_path, sample_photo_path, capsys):
    small = tmp_path / "small.png"
    Image.fromarray(np.full((100, 80), 255, np.uint8)).save(small)
    run_failing([sample_photo_path, "--mask", small, "-o", tmp_path / "o.png"], capsys, "80x100")
    assert not (tmp_path / "o.png").exists()


def test_unknown_preset(tmp_path, sample_photo_path, capsys):
    run_failing([sample_photo_path, "--preset", "third-eye", "-o", tmp_path / "o.png"], capsys, "third-eye", "left-eye")


def test_unknown_model(tmp_path, sample_photo_path, mask_file, capsys):
    run_failing([sample_photo_path, "--mask", mask_file[0], "--model", "magic", "-o", tmp_path / "o.png"], capsys, "magic", "telea")


def test_output_onto_the_input_is_refused(tmp_path, sample_photo, mask_file, capsys):
    photo = tmp_path / "photo.png"
    Image.fromarray(sample_photo).save(photo)
    before = photo.read_bytes()
    run_failing([photo, "--mask", mask_file[0], "-o", photo], capsys, "photo.png", "input")
    assert photo.read_bytes() == before


def test_existing_output_is_kept_without_overwrite(tmp_path, sample_photo_path, mask_file, capsys):
    out = tmp_path / "o.png"
    out.write_bytes(b"keep me")
    run_failing([sample_photo_path, "--mask", mask_file[0], "-o", out], capsys, "o.png")
    assert out.read_bytes() == b"keep me"
    assert main([str(sample_photo_path), "--mask", str(mask_file[0]), "--overwrite", "-o", str(out)]) == 0


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["photo.jpg", "-o", "out.png"])  # no --mask or --preset
    assert exit_info.value.code == 2
