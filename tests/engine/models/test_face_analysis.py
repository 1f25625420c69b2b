"""FaceAnalysisNet: output shapes, encoder features, soft-argmax landmarks, weights round trip."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from engine.errors import ConfigError, WeightsError
from engine.models.face_analysis import (
    FaceAnalysisArchitecture,
    FaceAnalysisNet,
    heatmap_landmarks,
    load_face_analysis,
)
from engine.weights import save_state_dict

TINY = FaceAnalysisArchitecture(resolution=32, width=4, depth=3)


def test_outputs_heatmaps_and_parsing_logits_at_the_input_size():
    net = FaceAnalysisNet(TINY).eval()
    heatmaps, parsing = net(torch.zeros(2, 3, 32, 32))
    assert heatmaps.shape == (2, 68, 32, 32) and 0 <= heatmaps.min() and heatmaps.max() <= 1
    assert parsing.shape == (2, 8, 32, 32)
    features = net.features(torch.zeros(1, 3, 32, 32))
    assert [f.shape[-1] for f in features] == [32, 16, 8, 4]


def test_soft_argmax_finds_gaussian_peaks():
    from engine.face.labels import landmark_heatmaps

    points = torch.tensor([[5.0, 7.0], [20.5, 11.25], [30.0, 2.0]])
    maps = torch.from_numpy(landmark_heatmaps(points.numpy(), (32, 40), sigma=1.5))[None]
    assert torch.allclose(heatmap_landmarks(maps)[0], points, atol=0.3)


def test_gradients_reach_the_input_through_the_landmarks():
    torch.manual_seed(0)
    image = (torch.rand(1, 3, 32, 32) * 2 - 1).requires_grad_(True)
    heatmaps, _ = FaceAnalysisNet(TINY).eval()(image)
    heatmap_landmarks(heatmaps).sum().backward()
    assert image.grad is not None and image.grad.abs().sum() > 0


def test_weights_round_trip_and_refusal(tmp_path):
    net = FaceAnalysisNet(TINY)
    path = tmp_path / "fa.safetensors"
    save_state_dict(path, net.state_dict(), {"method": "face-analysis", "architecture": dataclasses.asdict(TINY)})
    loaded, arch = load_face_analysis(path)
    assert arch == TINY and not loaded.training
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), net.state_dict().values()))
    wrong = tmp_path / "wrong.safetensors"
    save_state_dict(wrong, net.state_dict(), {"method": "face-analysis", "architecture": {"resolution": 32, "width": 8, "depth": 3}})
    with pytest.raises(WeightsError, match="wrong.safetensors"):
        load_face_analysis(wrong)
    with pytest.raises(ConfigError, match="divisible"):
        FaceAnalysisArchitecture(resolution=36, depth=3)


REGRESSING = FaceAnalysisArchitecture(resolution=32, width=4, depth=4, mean_face_prior=True, landmark_regression=True)


def test_the_landmark_regressor_moves_the_prior_peaks_and_passes_gradients():
    """Zero regressor: the peaks sit on the mean face; its output moves every peak with it."""
    from engine.face.labels import heatmap_peaks

    torch.manual_seed(0)
    net = FaceAnalysisNet(REGRESSING).eval()
    mean = torch.rand(68, 2) * 16 + 8
    net.mean_landmarks.copy_(mean)
    image = torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        heatmaps, _, points = net(image, with_landmarks=True)
    assert torch.equal(points[0], mean)
    assert abs(heatmap_peaks(heatmaps[0].numpy()) - mean.numpy()).max() <= 0.75
    shift = torch.tensor([3.0, -2.0]).repeat(68)
    with torch.no_grad():
        net.landmark_regressor.bias.copy_(shift)
        heatmaps, _, points = net(image, with_landmarks=True)
    moved = mean + torch.tensor([3.0, -2.0])
    assert torch.allclose(points[0], moved)
    assert abs(heatmap_peaks(heatmaps[0].numpy()) - moved.numpy()).max() <= 0.75
    with torch.no_grad():  # zero heads ignore the image; a trained regressor reads it
        net.landmark_regressor.weight.normal_(0, 0.01)
    image.requires_grad_(True)
    heatmap_landmarks(net(image)[0]).sum().backward()
    assert net.landmark_regressor.weight.grad.abs().sum() > 0 and image.grad.abs().sum() > 0


def test_the_landmark_regressor_needs_the_prior_and_the_deep_stages():
    with pytest.raises(ConfigError, match="mean_face_prior"):
        FaceAnalysisArchitecture(resolution=32, depth=4, landmark_regression=True)
    with pytest.raises(ConfigError, match="depth"):
        FaceAnalysisArchitecture(resolution=32, depth=3, mean_face_prior=True, landmark_regression=True)
    assert REGRESSING.regression_features() == (16 + 32 + 32) * 16
    assert FaceAnalysisNet(REGRESSING).landmark_regressor.in_features == REGRESSING.regression_features()
