"""MDE training: paper defaults, losses, overfitting one batch, trainer run -> export -> CLI."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from training.data import build_datasets, collate
from training.export import export_run
from training.mde import MDEConfig, MDEMethod, box_distance
from training.trainer import run_training

TINY = dict(resolution=32, width=8, depth=2, bottleneck=64)


@pytest.fixture(scope="module")
def config(face_folder, landmark_cache, tmp_path_factory, fast_features):
    def make(**overrides):
        values = dict(data=[str(face_folder)], out=str(tmp_path_factory.mktemp("mde")), cache_dir=str(landmark_cache),
                      batch_size=4, steps=100, num_workers=0, device="cpu", val_fraction=0.3, **TINY, **fast_features)
        return MDEConfig(**{**values, **overrides})

    return make


@pytest.fixture(scope="module")
def batch(config):
    train, _, _ = build_datasets(config())
    return collate([train[i] for i in range(4)])


def make_method(cfg) -> MDEMethod:
    torch.manual_seed(0)
    method = MDEMethod(cfg, "cpu")
    method.build()
    return method


def test_defaults_are_the_papers():
    cfg = MDEConfig()
    assert (cfg.resolution, cfg.batch_size, cfg.steps) == (96, 24, 300_000)
    assert (cfg.lr, cfg.lr_discriminator, cfg.beta1) == (2e-4, 2e-5, 0.5)
    assert (cfg.lambda_compl, cfg.lambda_adv, cfg.lambda_hns) == (2e-5, 1e-2, 1e-2)
    assert (cfg.channel_mode, cfg.channel_area, cfg.mask_mix) == ("REC", 0.1, {"channel": 1.0})


def test_batches_hold_channel_wise_masks_and_their_boxes(batch):
    assert batch["mask"].shape == (4, 3, 32, 32) and batch["mask_boxes"].shape == (4, 3, 4)
    assert not torch.equal(batch["mask"][:, 0], batch["mask"][:, 1])  # REC: channels differ


def test_box_distance_sums_channels_and_averages_images():
    target = torch.zeros(2, 3, 4)
    predicted = target.clone()
    predicted[0, 1] = torch.tensor([3.0, 4.0, 0.0, 0.0])
    assert box_distance(predicted, target).item() == pytest.approx(2.5)


def test_generator_hide_targets_are_random_boxes_like_the_masks(config):
    method = make_method(config())
    boxes = method.random_boxes(5)
    assert boxes.shape == (5, 3, 4) and boxes.min() >= 0 and boxes.max() <= 1
    assert torch.all(boxes[..., 2] > boxes[..., 0]) and not torch.equal(boxes[0], boxes[1])


def test_overfitting_one_batch_lowers_the_reconstruction_loss(config, batch):
    method = make_method(config(lr=2e-3))
    method.train()
    history = [method.train_step(batch, step) for step in range(30)]
    assert all(np.isfinite(v) for h in history for v in h.values())
    first, last = history[0]["rec"], min(h["rec"] for h in history[-5:])
    assert last < 0.6 * first, f"rec {first:.4f} -> {last:.4f}"


def test_sample_composites_each_channel_on_its_own(config, batch):
    method = make_method(config())
    method.train(False)
    out = method.sample(batch)
    kept = batch["mask"] == 0
    assert torch.allclose(out["composite"][kept], batch["image"][kept], atol=1e-6)


def test_train_export_and_inpaint_the_sample_photo(tiny_config, tmp_path, sample_photo_path, sample_photo, sample_face, fast_features):
    from engine.cli_inpaint import main
    from engine.imageio import read_image

    cfg = tiny_config(MDEConfig, **TINY, **fast_features, steps=3, batch_size=2)
    assert run_training(MDEMethod, cfg).step == 3
    weights = export_run(cfg.out, tmp_path / "mde.safetensors")
    x0, y0, x1, y1 = (int(v) for v in sample_face.box)
    mask = np.zeros(sample_photo.shape[:2], np.uint8)
    mask[(y0 + y1) // 2 : y1, x0:x1] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    out = tmp_path / "done.png"
    code = main([str(sample_photo_path), "--mask", str(tmp_path / "mask.png"), "--model", "mde", "--weights", str(weights),
                 "--face-backend", "dlib", "--seed", "2", "--device", "cpu", "-o", str(out)])
    assert code == 0
    done = read_image(out)
    assert np.array_equal(done[mask == 0], sample_photo[mask == 0])
    assert not np.array_equal(done[mask > 0], sample_photo[mask > 0])
