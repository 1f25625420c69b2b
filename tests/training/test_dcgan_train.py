"""DCGAN training: steps through the shared trainer, overfitting one face, export -> engine -> CLI."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch

import engine.models.dcgan as engine_dcgan
from engine.models.dcgan import LatentSearch, SearchSettings
from training.data import build_datasets, collate
from training.dcgan import DCGANConfig, DCGANMethod
from training.export import export_run
from training.trainer import run_training

TINY = dict(resolution=32, width=8, eval_iterations=10, eval_restarts=2)


@pytest.fixture(scope="module")
def batch(face_folder, landmark_cache, tmp_path_factory):
    cfg = DCGANConfig(data=[str(face_folder)], out=str(tmp_path_factory.mktemp("dcgan")), cache_dir=str(landmark_cache),
                      num_workers=0, device="cpu", val_fraction=0.3, **TINY)
    train, _, _ = build_datasets(cfg)
    return collate([train[i] for i in range(4)])


def best_context_loss(method: DCGANMethod, image, hole) -> float:
    settings = SearchSettings(iterations=40, restarts=2, heatmap_loss=False, rank_by_landmarks=False, poisson=False)
    return float(LatentSearch(method.net, settings).run(image, hole, [0]).losses.min())


def test_paper_defaults():
    cfg = DCGANConfig()
    assert (cfg.resolution, cfg.latent_dim, cfg.lr, cfg.beta1) == (64, 100, 2e-4, 0.5)


def test_overfitting_one_face_lets_the_search_fit_its_context_better(face_folder, landmark_cache, tmp_path, batch):
    torch.manual_seed(0)
    cfg = DCGANConfig(data=[str(face_folder)], out=str(tmp_path), lr=2e-3, device="cpu", encoder=False, **TINY)
    method = DCGANMethod(cfg, "cpu")
    method.build()
    face = {"image": batch["image"][:1].repeat(4, 1, 1, 1)}
    hole = torch.zeros(1, 1, 32, 32)
    hole[..., 8:24, 8:24] = 1
    before = best_context_loss(method, face["image"][:1], hole)
    method.train()
    losses = [method.train_step(face, step) for step in range(40)]
    assert all(np.isfinite(v) for step in losses for v in step.values())
    after = best_context_loss(method, face["image"][:1], hole)
    assert after < 0.7 * before, f"context loss {before:.2f} -> {after:.2f}"


def test_train_export_and_inpaint_the_sample_photo(tiny_config, tmp_path, sample_photo_path, sample_photo, sample_face, monkeypatch):
    from engine.cli_inpaint import main
    from engine.imageio import read_image
    from PIL import Image

    cfg = tiny_config(DCGANConfig, **TINY, steps=3)
    outcome = run_training(DCGANMethod, cfg)
    assert outcome.step == 3
    weights = export_run(cfg.out, tmp_path / "dcgan.safetensors")

    monkeypatch.setattr(engine_dcgan, "SearchSettings", functools.partial(SearchSettings, iterations=8, restarts=2))
    x0, y0, x1, y1 = (int(v) for v in sample_face.box)
    mask = np.zeros(sample_photo.shape[:2], np.uint8)
    mask[(y0 + y1) // 2 : y1, x0:x1] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    out = tmp_path / "done.png"
    code = main([str(sample_photo_path), "--mask", str(tmp_path / "mask.png"), "--model", "dcgan",
                 "--weights", str(weights), "--face-backend", "dlib", "--seed", "1", "--device", "cpu", "-o", str(out)])
    assert code == 0
    done = read_image(out)
    assert np.array_equal(done[mask == 0], sample_photo[mask == 0])
    assert not np.array_equal(done[mask > 0], sample_photo[mask > 0])
