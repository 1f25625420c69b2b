"""The FAN backend with a randomly initialised 2D-FAN-4 in a temporary torch hub folder.

Random weights say nothing about accuracy; they exercise loading, the crop convention, the
heatmap decoding and the way back to photo pixels, and "auto" choosing and falling back.
A FAN forward pass takes seconds on a CPU, so only one test runs it.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
fan_models = pytest.importorskip("face_alignment.models")

import engine.face.detection as detection  # noqa: E402
from engine.errors import BackendUnavailableError, WeightsError  # noqa: E402
from engine.face import available_backends, detect_faces, detect_landmarks, download_fan_weights  # noqa: E402


@pytest.fixture(scope="module")
def random_fan_file(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("fan") / detection.FAN_WEIGHTS_FILE
    torch.save(fan_models.FAN(4).state_dict(), path)
    return path


@pytest.fixture
def hub_dir(tmp_path, monkeypatch) -> Path:
    """An empty torch hub folder (TORCH_HOME/hub) for this test only."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)
    checkpoints = tmp_path / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    assert detection.fan_weights_path().parent == checkpoints
    return checkpoints


def test_fan_landmarks_and_auto_prefers_fan(sample_photo, hub_dir, random_fan_file):
    (hub_dir / detection.FAN_WEIGHTS_FILE).symlink_to(random_fan_file)
    assert available_backends()["fan"] == ""
    faces = detect_faces(sample_photo)
    assert len(faces) == 1 and faces[0].backend == "fan"
    landmarks = faces[0].landmarks
    assert landmarks.shape == (68, 2) and np.isfinite(landmarks).all()
    # FAN's input spans about twice the box around it; every peak must map back inside that.
    x0, y0, x1, y1 = faces[0].box
    width, height = x1 - x0, y1 - y0
    assert (landmarks[:, 0] > x0 - width).all() and (landmarks[:, 0] < x1 + width).all()
    assert (landmarks[:, 1] > y0 - height).all() and (landmarks[:, 1] < y1 + height).all()


def test_fan_crop_convention_maps_the_box_centre_to_the_input_centre():
    matrix = detection.fan_input_matrix((100, 200, 300, 400))
    centre = np.array([199.5, 299.5 - detection.FAN_CENTER_SHIFT * 200, 1.0])
    np.testing.assert_allclose(matrix @ centre, [127.5, 127.5])
    assert matrix[0, 0] == pytest.approx(256 / (200 * 400 / 195))


def test_a_truncated_fan_file_is_reported_and_auto_falls_back(sample_photo, hub_dir, random_fan_file):
    broken = hub_dir / detection.FAN_WEIGHTS_FILE
    broken.write_bytes(random_fan_file.read_bytes()[: 1 << 20])
    with pytest.raises(WeightsError, match=detection.FAN_WEIGHTS_FILE):
        detect_faces(sample_photo, backend="fan")
    assert detection.FAN_WEIGHTS_FILE in available_backends()["fan"]
    faces = detect_faces(sample_photo)
    assert len(faces) == 1 and faces[0].backend == "dlib"


def test_foreign_weights_are_reported_by_detect_landmarks(sample_photo, hub_dir):
    torch.save({"conv1.weight": torch.zeros(3)}, hub_dir / detection.FAN_WEIGHTS_FILE)
    with pytest.raises(WeightsError, match="2D-FAN-4"):
        detect_landmarks(sample_photo, (179, 83, 267, 171), backend="fan")


def test_without_weights_fan_is_unavailable(sample_photo, hub_dir):
    assert "download_fan_weights" in available_backends()["fan"]
    with pytest.raises(BackendUnavailableError, match="download_fan_weights"):
        detect_faces(sample_photo, backend="fan")


def test_downloading_offline_fails_fast_and_leaves_nothing(hub_dir, monkeypatch):
    def offline(url, timeout=None):
        raise urllib.error.URLError("Temporary failure in name resolution")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(WeightsError, match="by hand"):
        download_fan_weights()
    assert list(hub_dir.iterdir()) == []
