"""PD-GAN training: both stages, a trained prior, the face losses, trainer run -> export -> diverse CLI samples."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from PIL import Image

from engine.models.face_analysis import FaceAnalysisArchitecture, FaceAnalysisNet
from engine.weights import save_state_dict
from training.data import build_datasets, collate
from training.export import export_run
from training.pdgan import MultiScaleDiscriminator, PDGANConfig, PDGANMethod
from training.trainer import run_training

TINY = dict(resolution=32, width=8, mask_mix={"strokes": 1.0}, face_analysis="")


@pytest.fixture(scope="module")
def config(face_folder, landmark_cache, tmp_path_factory, fast_features):
    def make(**overrides):
        values = dict(data=[str(face_folder)], out=str(tmp_path_factory.mktemp("pdgan")), cache_dir=str(landmark_cache),
                      batch_size=2, steps=100, num_workers=0, device="cpu", val_fraction=0.3, prior_steps=2, **TINY, **fast_features)
        return PDGANConfig(**{**values, **overrides})

    return make


@pytest.fixture(scope="module")
def batch(config):
    train, _, _ = build_datasets(config())
    return collate([train[i] for i in range(2)])


def make_method(cfg) -> PDGANMethod:
    torch.manual_seed(0)
    method = PDGANMethod(cfg, "cpu")
    method.build()
    method.train()
    return method


def test_defaults_are_the_papers():
    cfg = PDGANConfig()
    assert (cfg.resolution, cfg.latent_dim, cfg.batch_size, cfg.lr) == (256, 128, 8, 1e-3)
    assert (cfg.alpha_skin, cfg.beta_heatmap, cfg.probability) == (0.5, 10.0, "continuous")


def test_multi_scale_discriminator_uses_spectral_norm_at_every_scale():
    d = MultiScaleDiscriminator(4, 8, scales=2)
    outputs = d(torch.zeros(1, 4, 32, 32))
    assert len(outputs) == 2 and outputs[1][-1].shape[-1] < outputs[0][-1].shape[-1]
    convs = [m for m in d.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(hasattr(m, "parametrizations") for m in convs)


def test_stage_one_trains_the_prior_then_stage_two_the_generator(config, batch):
    method = make_method(config())
    prior_before = {k: v.clone() for k, v in method.prior.state_dict().items()}
    first = method.train_step(batch, 0)
    assert "prior_hole" in first and "diversity" not in first
    generator_before = {k: v.clone() for k, v in method.generator.state_dict().items()}
    prior_after_stage_one = {k: v.clone() for k, v in method.prior.state_dict().items()}
    second = method.train_step(batch, 2)
    assert {"adv", "fm", "perceptual", "diversity", "skin", "d", "g"} <= set(second)
    assert all(np.isfinite(v) for v in second.values())
    assert any(not torch.equal(prior_before[k], prior_after_stage_one[k]) for k in prior_before)
    assert all(torch.equal(prior_after_stage_one[k], v) for k, v in method.prior.state_dict().items())
    assert any(not torch.equal(generator_before[k], v) for k, v in method.generator.state_dict().items())


def test_overfitting_one_batch_lowers_the_priors_hole_loss(config, batch):
    method = make_method(config(prior_steps=1000, prior_lr=2e-3))
    history = [method.train_step(batch, step) for step in range(25)]
    first, last = history[0]["prior_hole"], min(h["prior_hole"] for h in history[-5:])
    assert last < 0.7 * first, f"prior hole L1 {first:.4f} -> {last:.4f}"


def test_heatmap_loss_joins_when_face_analysis_weights_are_given(config, batch, tmp_path):
    arch = FaceAnalysisArchitecture(resolution=32, width=4, depth=2)
    path = tmp_path / "fa.safetensors"
    save_state_dict(path, FaceAnalysisNet(arch).state_dict(), {"method": "face-analysis", "architecture": dataclasses.asdict(arch)})
    method = make_method(config(face_analysis=str(path)))
    losses = method.train_step(batch, 5)
    assert np.isfinite(losses["heatmap"])


def test_a_trained_prior_skips_stage_one(config, batch, tmp_path):
    donor = make_method(config())
    tensors, arch = donor.export()
    path = tmp_path / "prior.safetensors"
    save_state_dict(path, tensors, {"method": "pdgan", "architecture": arch})
    method = make_method(config(prior=str(path)))
    assert method.prior_steps == 0
    assert all(torch.equal(v, donor.prior.state_dict()[k]) for k, v in method.prior.state_dict().items())
    assert "diversity" in method.train_step(batch, 0)


def test_train_export_and_draw_four_different_samples(tiny_config, tmp_path, sample_photo_path, sample_photo, sample_face, fast_features):
    from engine.cli_inpaint import main
    from engine.imageio import read_image

    cfg = tiny_config(PDGANConfig, **TINY, **fast_features, steps=3, prior_steps=1)
    assert run_training(PDGANMethod, cfg).step == 3
    weights = export_run(cfg.out, tmp_path / "pdgan.safetensors")
    x0, y0, x1, y1 = (int(v) for v in sample_face.box)
    mask = np.zeros(sample_photo.shape[:2], np.uint8)
    mask[(y0 + y1) // 2 : y1, x0:x1] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    out = tmp_path / "samples"
    code = main([str(sample_photo_path), "--mask", str(tmp_path / "mask.png"), "--model", "pdgan", "--weights", str(weights),
                 "--samples", "4", "--face-backend", "dlib", "--seed", "9", "--device", "cpu", "-o", str(out)])
    assert code == 0
    images = [read_image(p) for p in sorted(out.iterdir())]
    assert len(images) == 4
    hole = mask > 0
    for image in images:
        assert np.array_equal(image[~hole], sample_photo[~hole])
    for a in range(4):
        for b in range(a + 1, 4):
            diff = np.abs(images[a][hole].astype(int) - images[b][hole].astype(int)).mean()
            assert diff > 1.0, f"samples {a} and {b} are nearly identical inside the mask"


# -- the quality recipe: a frozen collaGAN prior, a residual generator, a bounded diversity term -----
@pytest.fixture(scope="module")
def recipe_config(config, tmp_path_factory):
    """The recipe's PD-GAN on a tiny frozen collaGAN prior."""
    from engine.models.collagan import CollaGANArchitecture, build_generator
    from training.recipe import recipe_config as quality

    arch = CollaGANArchitecture(resolution=32, width=8, generator="residual-unet", prefill="telea")
    torch.manual_seed(1)
    path = tmp_path_factory.mktemp("prior") / "collagan.safetensors"
    save_state_dict(path, build_generator(arch).state_dict(), {"method": "collagan", "architecture": dataclasses.asdict(arch)})
    recipe = {f.name: getattr(quality(PDGANMethod, "quality"), f.name) for f in dataclasses.fields(PDGANConfig)}
    keep = {"diversity", "diversity_scale", "adversarial_start", "adversarial_scale", "prior_network", "rec_loss", "prefill"}
    return lambda **overrides: config(**{**{k: v for k, v in recipe.items() if k in keep}, "prior_weights": str(path), **overrides})


def test_the_bounded_diversity_term_stays_finite_when_both_samples_are_equal(recipe_config, config, batch):
    method = make_method(recipe_config())
    assert method.cfg.diversity == "bounded"
    same = batch["image"].clone().requires_grad_(True)
    loss = method.diversity_loss(same, batch["image"], batch["mask"][:, :1])
    loss.backward()
    assert loss.item() == pytest.approx(1.0)  # distance 0: the bound, not 1e5
    assert torch.isfinite(same.grad).all()
    paper = make_method(config()).diversity_loss(batch["image"], batch["image"], batch["mask"][:, :1])
    assert paper.item() == pytest.approx(1e5)  # the paper's form, still selectable
    apart = method.diversity_loss(batch["image"], -batch["image"], batch["mask"][:, :1])
    assert 0.0 < apart.item() < 1.0


def test_the_recipe_starts_as_its_prior_and_learns_with_finite_losses(recipe_config, batch):
    method = make_method(recipe_config())
    method.progress = 0.0
    before = method.sample(batch)
    assert torch.allclose(before["output"], before["prior"], atol=1e-5)  # zero-initialised residual
    method.progress = 0.9  # the diversity phase
    losses = method.train_step(batch, 0)
    assert {"rec", "adv", "diversity"} <= set(losses) and all(np.isfinite(v) for v in losses.values())
    assert losses["diversity"] <= 1.0


def test_held_out_scores_count_for_the_best_checkpoint_only_in_the_diversity_phase(recipe_config, batch):
    method = make_method(recipe_config())
    method.progress = 0.1
    assert not method.counts_for_best()
    method.progress = 0.6
    assert method.counts_for_best()
    scores = method.validate(batch)
    assert set(scores) == {"psnr", "ssim", "sample_spread"} and len(scores["sample_spread"]) == batch["image"].shape[0]


def test_the_trainer_keeps_no_best_checkpoint_before_the_diversity_phase(recipe_config, tmp_path):
    from training.trainer import BEST_CHECKPOINT

    cfg = recipe_config(out=str(tmp_path / "run"), steps=4, val_every=1, adversarial_start=2.0)  # never reached
    run_training(PDGANMethod, cfg)
    assert not (tmp_path / "run" / BEST_CHECKPOINT).exists()
    cfg = recipe_config(out=str(tmp_path / "run2"), steps=4, val_every=1, adversarial_start=0.5)
    run_training(PDGANMethod, cfg)
    assert (tmp_path / "run2" / BEST_CHECKPOINT).exists()
