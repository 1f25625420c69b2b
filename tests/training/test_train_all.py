"""``faceinpaint-train all`` on a tiny pack: the GPU sprint's command, run on the CPU so it cannot rot."""

from __future__ import annotations

import json

import numpy as np
import pytest

from training.cli import main

MiB = 2**20


@pytest.mark.slow
def test_all_methods_train_from_a_pack_and_come_back_as_few_small_loadable_files(
        tmp_path, face_folder, landmark_cache, monkeypatch, sample_photo):
    from engine.models import create_model
    from engine.models.face_analysis import load_face_analysis
    from training.pack import build_pack

    monkeypatch.setenv("FACEINPAINT_WEIGHTS_DIR", str(tmp_path / "no-shipped-weights"))  # face-analysis trains too
    (tmp_path / "no-shipped-weights").mkdir()
    (tmp_path / "no-shipped-weights" / "manifest.json").write_text('{"version": 1, "models": {}}')
    build_pack([str(face_folder)], tmp_path / "pack", resolution=64, encoding="jpeg", cache_dir=landmark_cache, workers=0)
    out = tmp_path / "out"
    assert main(["all", "--pack", str(tmp_path / "pack"), "--minutes", "0.2", "--out", str(out),
                 "--runs", str(tmp_path / "runs"), "--device", "cpu", "--set", "device_batches=true",
                 "--set", "resolution=64", "--set", "width=4", "--set", "batch_size=2", "--set", "val_every=2",
                 "--set", "val_eval_images=2", "--set", "val_fraction=0.3", "--set", "bottleneck=8",
                 "--set", "low_resolution=0"]) == 0
    files = sorted(p for p in out.rglob("*") if p.is_file())
    assert len(files) <= 8 and all(p.stat().st_size <= 16 * MiB for p in files), files
    log = json.loads((out / "all.json").read_text())
    methods = {"face-analysis", "collagan", "gfc", "mde", "pdgan", "dcgan"}
    assert set(log["methods"]) == methods
    assert all(entry["steps"] >= 1 and entry["images_per_second"] > 0 for entry in log["methods"].values())
    load_face_analysis(str(out / "face-analysis.safetensors"))
    from engine.weights import load_state_dict

    for name in methods:  # each card carries the method's departures from its paper (docs/model-notes)
        assert "## Departures from the paper" in load_state_dict(out / f"{name}.safetensors")[1]["card_text"], name
    import cv2

    from engine.models import MODELS

    side = min(sample_photo.shape[:2])
    for name in sorted(methods - {"face-analysis", "dcgan"}):  # PD-GAN's prior: the collaGAN beside it
        size = MODELS[name].info.resolution
        crop = cv2.resize(np.ascontiguousarray(sample_photo[:side, :side]), (size, size), interpolation=cv2.INTER_AREA)
        mask = np.zeros((size, size), np.uint8)
        mask[size // 3 : size * 2 // 3, size // 4 : size * 3 // 4] = 255
        model = create_model(name, weights=out / f"{name}.safetensors", device="cpu")
        [result] = model.inpaint_crop(crop, mask, seed=0)
        assert result.image.shape == crop.shape and np.array_equal(result.image[mask == 0], crop[mask == 0])
