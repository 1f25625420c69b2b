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


def test_samples_beyond_the_bound_are_refused_in_one_line(tmp_path, sample_photo_path, mask_file, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([str(sample_photo_path), "--mask", str(mask_file[0]), "--samples", "10000", "-o", str(tmp_path / "o")])
    assert exit_info.value.code == 2 and "--samples must be between 1 and" in capsys.readouterr().err


def test_a_seed_too_large_for_the_models_rngs_is_one_line(tmp_path, sample_photo_path, mask_file, capsys):
    run_failing([sample_photo_path, "--mask", mask_file[0], "--seed", 2**63, "-o", tmp_path / "o.png"], capsys, "--seed")


# -- batches: a folder of photos ------------------------------------------------------------------
def photo_folder(tmp_path, count: int = 3) -> tuple:
    """``count`` small photos in photos/ and a mask named like each in masks/ (the hole: a square)."""
    photos, masks = tmp_path / "photos", tmp_path / "masks"
    photos.mkdir()
    masks.mkdir()
    rng = np.random.default_rng(5)
    mask = np.zeros((40, 48), np.uint8)
    mask[10:22, 12:30] = 255
    pixels = {}
    for k in range(count):
        pixels[f"p{k}"] = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)
        Image.fromarray(pixels[f"p{k}"]).save(photos / f"p{k}.png")
        Image.fromarray(mask).save(masks / f"p{k}.png")
    return photos, masks, mask, pixels


def batch(argv, capsys) -> tuple[int, str]:
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err


def test_a_folder_is_completed_with_one_model_load(tmp_path, capsys, monkeypatch):
    from engine import cli_inpaint

    photos, masks, mask, pixels = photo_folder(tmp_path)
    created = []
    real = cli_inpaint.create_model
    monkeypatch.setattr(cli_inpaint, "create_model", lambda *a, **k: created.append(a) or real(*a, **k))
    code, err = batch([photos, "--mask", masks, "--model", "telea", "-o", tmp_path / "out"], capsys)
    assert code == 0, err
    assert len(created) == 1
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["p0.png", "p1.png", "p2.png"]
    for stem, original in pixels.items():
        done = load(tmp_path / "out" / f"{stem}.png")
        np.testing.assert_array_equal(done[mask == 0], original[mask == 0])
        assert not np.array_equal(done[mask > 0], original[mask > 0])
    assert "3 completed, 0 already done (skipped), 0 failed" in err


def test_an_interrupted_batch_resumes_and_skips_finished_photos(tmp_path, capsys):
    photos, masks, _, _ = photo_folder(tmp_path)
    out = tmp_path / "out"
    argv = [photos, "--mask", masks, "--model", "telea", "-o", out]
    assert batch(argv, capsys)[0] == 0
    (out / "p0.png").write_bytes(b"finished earlier")  # a finished photo is not redone
    (out / "p1.png").unlink()  # as if interrupted before p1
    code, err = batch(argv, capsys)
    assert code == 0 and "1 completed, 2 already done (skipped), 0 failed" in err
    assert (out / "p0.png").read_bytes() == b"finished earlier" and (out / "p1.png").is_file()
    code, err = batch([*argv, "--overwrite"], capsys)  # --overwrite redoes every photo
    assert code == 0 and "3 completed" in err and (out / "p0.png").read_bytes() != b"finished earlier"


def test_a_bad_photo_is_reported_and_skipped_and_the_batch_exits_2(tmp_path, capsys):
    photos, masks, mask, pixels = photo_folder(tmp_path)
    (photos / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    Image.fromarray(mask).save(masks / "broken.png")
    Image.fromarray(pixels["p0"]).save(photos / "unmasked.png")  # no mask named like it
    code, err = batch([photos, "--mask", masks, "--model", "telea", "-o", tmp_path / "out"], capsys)
    assert code == 2
    lines = err.splitlines()
    assert any(line.startswith("faceinpaint-inpaint: broken.png: error:") for line in lines)
    assert any("unmasked.png: error: no mask named unmasked.*" in line for line in lines)
    assert "3 completed, 0 already done (skipped), 2 failed" in err and "Traceback" not in err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["p0.png", "p1.png", "p2.png"]


def test_a_batch_refuses_bad_setups_before_any_work(tmp_path, capsys, monkeypatch):
    from engine import cli_inpaint

    monkeypatch.setattr(cli_inpaint, "create_model", lambda *a, **k: pytest.fail("the model loaded"))
    photos, masks, _, _ = photo_folder(tmp_path, count=1)
    run_failing([photos, "--mask", masks, "-o", photos], capsys, "photos' folder")
    run_failing([photos, "--mask", masks / "p0.png", "-o", tmp_path / "out"], capsys, "folder of masks")
    run_failing([photos, "--mask", masks, "-o", tmp_path / "no" / "out"], capsys, "does not exist")
    run_failing([photos, "--mask", masks, "--device", "gpu", "-o", tmp_path / "out"], capsys, "gpu")
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(photos / "p0.jpg")
    run_failing([photos, "--mask", masks, "-o", tmp_path / "out"], capsys, "p0.jpg", "p0.png")


def two_face_photo(tmp_path, sample_photo) -> tuple:
    """The sample portrait twice, side by side: two faces, the left one larger."""
    from engine.face import detect_faces

    small = np.asarray(Image.fromarray(sample_photo).resize((sample_photo.shape[1] * 3 // 4,
                                                              sample_photo.shape[0] * 3 // 4)))
    canvas = np.zeros((sample_photo.shape[0], sample_photo.shape[1] + small.shape[1], 3), np.uint8)
    canvas[:, : sample_photo.shape[1]] = sample_photo
    canvas[: small.shape[0], sample_photo.shape[1] :] = small
    folder = tmp_path / "group"
    folder.mkdir()
    Image.fromarray(canvas).save(folder / "group.png")
    faces = detect_faces(canvas, backend="dlib")  # largest first
    edge = sample_photo.shape[1]
    assert faces[0].box[0] < edge and any(face.box[0] >= edge for face in faces)
    return folder, canvas, faces


@pytest.mark.parametrize("model", ["telea", "test-face"])
def test_faces_all_completes_every_face_and_largest_only_the_largest(tmp_path, capsys, sample_photo, monkeypatch,
                                                                     model):
    toy_models.add_row(monkeypatch, toy_models.FACE)
    folder, canvas, _ = two_face_photo(tmp_path, sample_photo)
    left_edge = sample_photo.shape[1]
    changed = {}
    for which in ("largest", "all"):
        out = tmp_path / which
        code, err = batch([folder, "--preset", "mouth", "--faces", which, "--model", model,
                           "--face-backend", "dlib", "-o", out], capsys)
        assert code == 0, err
        changed[which] = np.any(load(out / "group.png") != canvas, axis=2)
    assert changed["largest"][:, :left_edge].any() and not changed["largest"][:, left_edge:].any()
    assert changed["all"][:, :left_edge].any() and changed["all"][:, left_edge:].any()
