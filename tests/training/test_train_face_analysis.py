import math

import pytest
import torch

from training.data import build_datasets, collate
from training.export import export_run
from training.face_analysis import FaceAnalysisConfig, FaceAnalysisMethod
from training.trainer import run_training


def test_overfitting_one_batch_lowers_every_loss(tiny_config):
    train, _, _ = build_datasets(tiny_config(FaceAnalysisConfig))
    batch = collate([train[i] for i in range(4)])
    torch.manual_seed(0)
    method = FaceAnalysisMethod(tiny_config(FaceAnalysisConfig, width=8, depth=3, lr=3e-3), "cpu")
    method.build()
    method.train()
    history = [method.train_step(batch, step) for step in range(50)]
    for key in ("heatmaps", "parsing", "coordinates"):
        assert min(h[key] for h in history[-5:]) < 0.7 * history[0][key], key


def test_trained_run_exports_with_held_out_nme(tiny_config, tmp_path):
    cfg = tiny_config(FaceAnalysisConfig, width=8, depth=3, steps=4, lr=3e-3)
    run_training(FaceAnalysisMethod, cfg)
    notes = tmp_path / "notes.md"
    notes.write_text("## Departures from the paper\n\n- width 8 instead of 64\n")
    weights = export_run(cfg.out, tmp_path / "face-analysis.safetensors", notes=notes)
    from engine.errors import FaceInpaintError
    from engine.models.face_analysis import load_face_analysis
    from engine.weights import load_state_dict

    net, arch = load_face_analysis(weights)
    assert (arch.resolution, arch.width, arch.depth) == (64, 8, 3)
    _, metadata = load_state_dict(weights)
    import json

    metrics = json.loads(metadata["metrics"])
    assert math.isfinite(metrics["nme"]) and metrics["nme"] > 0 and 0 <= metrics["parsing_accuracy"] <= 1
    assert json.loads(metadata["training"])["held_out_evaluated"] == 2
    card = weights.with_suffix(".md").read_text()
    assert "nme" in card and "face-analysis" in card and "- width 8 instead of 64" in card
    with pytest.raises(FaceInpaintError, match="missing.md"):
        export_run(cfg.out, tmp_path / "again.safetensors", notes=tmp_path / "missing.md")


def test_perceptual_features_use_a_face_analysis_file(tiny_config, tmp_path):
    from training.perceptual import PerceptualFeatures, perceptual_loss

    cfg = tiny_config(FaceAnalysisConfig, width=8, depth=3, steps=1)
    run_training(FaceAnalysisMethod, cfg)
    weights = export_run(cfg.out, tmp_path / "fa.safetensors")
    features = PerceptualFeatures(weights)
    assert features.source.startswith("face-analysis")
    x = torch.rand(1, 3, 64, 64) * 2 - 1
    assert len(features(x)) == 4
    assert perceptual_loss(x, x, features=features) == 0
    assert perceptual_loss(x, -x, features=features) > 0


@pytest.mark.parametrize("layers", [("relu1_1", "relu3_1"), None])
def test_vgg19_state_dicts_load_with_torchvision_keys(tmp_path, layers):
    from training.perceptual import PerceptualFeatures, vgg19_features

    state = {f"features.{k}": v for k, v in vgg19_features().state_dict().items()}
    state["classifier.0.weight"] = torch.zeros(2, 2)  # the classifier is ignored
    path = tmp_path / "vgg19.pth"
    torch.save(state, path)
    features = PerceptualFeatures(path, layers=layers)
    out = features(torch.zeros(1, 3, 32, 32))
    assert features.source.startswith("vgg19") and len(out) == (2 if layers else 5)
    assert out[0].shape[1] == 64 and not any(p.requires_grad for p in features.parameters())


def test_unsafe_or_wrong_vgg_files_are_refused(tmp_path):
    from engine.errors import WeightsError
    from training.perceptual import PerceptualFeatures

    path = tmp_path / "evil.pth"
    torch.save({"features.0.weight": object()}, path)  # a pickle weights_only refuses
    with pytest.raises(WeightsError, match="evil.pth"):
        PerceptualFeatures(path)
    wrong = tmp_path / "resnet.pth"
    torch.save({"features.0.weight": torch.zeros(3)}, wrong)
    with pytest.raises(WeightsError, match="not a torchvision VGG19"):
        PerceptualFeatures(wrong)


def test_without_any_weights_a_random_vgg_is_used_with_a_warning(caplog, monkeypatch, tmp_path):
    from training import perceptual

    monkeypatch.setattr(perceptual, "hub_vgg19_path", lambda: tmp_path / "none.pth")
    monkeypatch.setenv("FACEINPAINT_WEIGHTS_DIR", str(tmp_path))
    features = perceptual.PerceptualFeatures()
    assert features.source == "random" and "RANDOM" in caplog.text


def test_the_mean_face_prior_answers_with_the_training_mean_before_any_step(tiny_config):
    """Quality recipe: zero heads on the mean face, so step 0 is the mean shape, not noise."""
    import numpy as np

    from engine.face.labels import heatmap_peaks

    cfg = tiny_config(FaceAnalysisConfig, width=8, depth=3, mean_face_prior=True)
    train, _, _ = build_datasets(cfg)
    method = FaceAnalysisMethod(cfg, "cpu")
    method.build()
    method.prepare_data(train)
    samples = [train[i] for i in range(len(train))]
    mean = torch.stack([s["landmarks"] for s in samples]).mean(dim=0)
    assert torch.allclose(method.net.mean_landmarks, mean, atol=1e-4)
    method.net.eval()
    with torch.no_grad():
        heatmaps, parsing = method.net(samples[0]["image"][None])
    peaks = heatmap_peaks(heatmaps[0].numpy())
    assert np.abs(peaks - mean.numpy()).max() <= 1.0  # every peak on its mean landmark (integer grid + 1/4 px)
    assert torch.equal(parsing[0].argmax(dim=0), method.net.parsing_prior.argmax(dim=0))
    assert parsing[0].argmax(dim=0).unique().numel() > 2  # a face layout, not one class everywhere


def test_the_prior_travels_with_the_exported_weights(tiny_config, tmp_path):
    from engine.models.face_analysis import load_face_analysis

    cfg = tiny_config(FaceAnalysisConfig, width=8, depth=3, steps=2, mean_face_prior=True)
    run_training(FaceAnalysisMethod, cfg)
    net, arch = load_face_analysis(export_run(cfg.out, tmp_path / "face-analysis.safetensors"))
    assert arch.mean_face_prior
    assert net.mean_landmarks.abs().sum() > 0 and not torch.all(net.mean_landmarks == arch.resolution / 2)


REGRESSION = {"width": 8, "depth": 4, "mean_face_prior": True, "landmark_regression": True}


def _landmark_errors(net, samples) -> tuple[float, float]:
    """Mean pixel error of the regressed landmarks and of the mean face on ``samples`` (eval mode)."""
    net.eval()
    images = torch.stack([s["image"] for s in samples])
    truth = torch.stack([s["landmarks"] for s in samples])
    with torch.no_grad():
        _, _, points = net(images, with_landmarks=True)
    return float((points - truth).abs().mean()), float((net.mean_landmarks - truth).abs().mean())


def test_the_ridge_fit_solves_the_regressor_on_the_training_crops(tiny_config):
    """The closed-form fit folds its standardisation into the layer: the error it reports is the
    network's own, and it lands far closer to the faces than the mean face it starts from."""
    cfg = tiny_config(FaceAnalysisConfig, **REGRESSION, ridge_samples=100, ridge_lambda=1.0)
    train, _, _ = build_datasets(cfg)
    method = FaceAnalysisMethod(cfg, "cpu")
    method.build()
    method.prepare_data(train)
    samples = [train[i] for i in range(len(train))]
    assert _landmark_errors(method.net, samples)[0] == pytest.approx(_landmark_errors(method.net, samples)[1])
    from training.face_analysis import fit_landmark_regressor

    reported = fit_landmark_regressor(method.net, train, cfg.ridge_samples, cfg.ridge_lambda, "cpu")
    regressed, mean_face = _landmark_errors(method.net, samples)
    assert regressed == pytest.approx(reported, abs=0.02)
    assert regressed < 0.25 * mean_face


def test_init_from_a_file_without_the_regressor_keeps_its_encoder_and_fits_the_regressor(tiny_config, tmp_path):
    from engine.weights import load_state_dict

    plain = tiny_config(FaceAnalysisConfig, width=8, depth=4, mean_face_prior=True, steps=1)
    run_training(FaceAnalysisMethod, plain)
    weights = export_run(plain.out, tmp_path / "plain.safetensors")
    cfg = tiny_config(FaceAnalysisConfig, **REGRESSION, ridge_samples=100, init=str(weights), out=str(tmp_path / "next"))
    train, _, _ = build_datasets(cfg)
    method = FaceAnalysisMethod(cfg, "cpu")
    method.build()
    method.init_from(str(weights))
    tensors, _ = load_state_dict(weights)
    assert torch.equal(method.net.stem[0].weight, tensors["stem.0.weight"])
    assert torch.equal(method.net.mean_landmarks, tensors["mean_landmarks"])
    assert method.net.landmark_regressor.weight.abs().sum() == 0
    assert method.fit_before_training(train) is True  # the trainer restarts the EMA from the fitted weights
    assert method.net.landmark_regressor.weight.abs().sum() > 0
    samples = [train[i] for i in range(len(train))]
    regressed, mean_face = _landmark_errors(method.net, samples)
    assert regressed < mean_face


def test_the_best_face_analysis_checkpoint_is_the_lowest_held_out_nme(tiny_config, monkeypatch):
    import json
    import time
    from pathlib import Path

    from training import face_analysis
    from training.export import load_run

    real_fit = face_analysis.fit_landmark_regressor
    monkeypatch.setattr(face_analysis, "fit_landmark_regressor", lambda *a, **k: time.sleep(0.3) or real_fit(*a, **k))
    cfg = tiny_config(FaceAnalysisConfig, **REGRESSION, ridge_samples=100, steps=3, val_every=1, lr=3e-2)
    run_training(FaceAnalysisMethod, cfg)
    _, progress = load_run(cfg.out)
    assert progress["wall_time_s"] >= 0.3  # the closed-form fit counts as training time, even if step 0 is best
    best = json.loads((Path(cfg.out) / "best.json").read_text())
    lines = [json.loads(line) for line in (Path(cfg.out) / "metrics.jsonl").read_text().splitlines()
             if "nme" in line] if (Path(cfg.out) / "metrics.jsonl").exists() else []
    assert "nme" in best and math.isfinite(best["nme"])
    if lines:
        assert best["nme"] == pytest.approx(min(entry["nme"] for entry in lines))


def test_frozen_batchnorm_keeps_its_statistics_while_the_weights_train(tiny_config):
    from training.recipe import recipe_config

    assert recipe_config(FaceAnalysisMethod, "quality", continuing=True).freeze_batchnorm
    assert not recipe_config(FaceAnalysisMethod, "quality").freeze_batchnorm
    for frozen in (True, False):
        cfg = tiny_config(FaceAnalysisConfig, **REGRESSION, freeze_batchnorm=frozen)
        train, _, _ = build_datasets(cfg)
        method = FaceAnalysisMethod(cfg, "cpu")
        method.build()
        method.train()
        before = {k: v.clone() for k, v in method.net.state_dict().items()}
        method.train_step(collate([train[i] for i in range(2)]), 0)
        after = method.net.state_dict()
        assert (not torch.equal(before["stem.1.running_mean"], after["stem.1.running_mean"])) is not frozen
        assert not torch.equal(before["landmark_regressor.weight"], after["landmark_regressor.weight"])
