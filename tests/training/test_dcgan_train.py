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
    from PIL import Image

    from engine.cli_inpaint import main
    from engine.imageio import read_image

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


# -- the encoder and BatchNorm statistics (issues 13 and 14) --------------------------------------
def test_the_encoder_learns_latents_whose_faces_fit_the_crops(face_folder, tmp_path, batch):
    torch.manual_seed(5)
    cfg = DCGANConfig(data=[str(face_folder)], out=str(tmp_path), lr=2e-3, device="cpu", freeze_gan=True, bn_batches=4,
                      batch_size=8, **TINY)
    method = DCGANMethod(cfg, "cpu")
    method.build()
    generator_before = {k: v.detach().clone() for k, v in method.generator.named_parameters()}
    encoder_before = {k: v.clone() for k, v in method.encoder.state_dict().items()}
    method.train()
    losses = [method.train_step(batch, step) for step in range(40)]
    first = np.mean([losses[k]["e_pixel"] for k in range(3)])
    last = np.mean([losses[k]["e_pixel"] for k in range(-3, 0)])
    assert last < first, (first, last)  # a random G fits faces poorly, but E finds its better latents
    assert not all(torch.equal(method.encoder.state_dict()[k], v) for k, v in encoder_before.items())
    assert set(losses[0]) == {"e_latent", "e_pixel"}  # freeze_gan: no GAN step
    after = dict(method.generator.named_parameters())
    assert all(torch.equal(after[k], v) for k, v in generator_before.items())  # G is not trained by E's losses


def test_recomputed_statistics_make_eval_mode_match_what_the_layers_saw_in_training(face_folder, tmp_path):
    from training.dcgan import recompute_batchnorm_statistics

    torch.manual_seed(6)
    cfg = DCGANConfig(data=[str(face_folder)], out=str(tmp_path), device="cpu", **TINY)
    method = DCGANMethod(cfg, "cpu")
    method.build()
    net = method.net
    for module in net.modules():  # stale statistics, as a fast-moving G leaves them
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.fill_(0.7)
            module.running_var.fill_(3.0)
    z = torch.rand(256, cfg.latent_dim, generator=torch.Generator().manual_seed(1)) * 2 - 1
    with torch.no_grad():
        net.generator.train()
        trained = net.generator(z)
        net.generator.eval()
        stale = (net.generator(z) - trained).abs().mean()
        recompute_batchnorm_statistics(net, batches=20, batch_size=64, seed=2, device="cpu")
        fresh = (net.generator(z) - trained).abs().mean()
    assert fresh < 0.25 * stale, (float(stale), float(fresh))
    assert not net.generator.training and net.discriminator.training  # each mode as it was


def test_export_ships_the_encoder_and_an_old_file_without_it_continues(tiny_config, tmp_path):
    import dataclasses
    import json

    from engine.models.dcgan import DCGANArchitecture, DCGANNet
    from engine.weights import load_state_dict, save_state_dict

    cfg = tiny_config(DCGANConfig, **TINY, steps=2, bn_batches=2)
    run_training(DCGANMethod, cfg)
    weights = export_run(cfg.out, tmp_path / "dcgan.safetensors")
    tensors, metadata = load_state_dict(weights)
    record = metadata["architecture"]
    record = json.loads(record) if isinstance(record, str) else record
    assert any(k.startswith("encoder.") for k in tensors) and record["encoder"] is True

    old_arch = DCGANArchitecture(resolution=32, width=8)
    old = DCGANNet(old_arch)
    record = {k: v for k, v in dataclasses.asdict(old_arch).items() if k != "encoder"}
    save_state_dict(tmp_path / "old.safetensors", old.state_dict(), {"method": "dcgan", "architecture": record})
    method = DCGANMethod(dataclasses.replace(cfg, out=str(tmp_path / "cont")), "cpu")
    method.build()
    method.init_from(str(tmp_path / "old.safetensors"))
    assert torch.equal(method.generator.net[0].weight, old.generator.net[0].weight)
