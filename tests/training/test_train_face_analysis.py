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
