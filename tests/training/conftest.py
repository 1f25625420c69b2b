"""A tiny face data set made in the test session from the bundled sample photo, with its landmark cache.

Six copies of the astronaut (small rotations, flips, shifts, scaled to 256 px) plus one file that
is not an image; faces are detected once per session and the cache is reused by every run. The held-out split
(``val_fraction=0.3``, by file-name hash) is face_1 and face_5; the four others train.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

COPIES = 6


@pytest.fixture(scope="session")
def face_folder(tmp_path_factory, sample_photo) -> Path:
    root = tmp_path_factory.mktemp("faces")
    base = Image.fromarray(sample_photo).resize((256, 256), Image.BILINEAR)
    for k in range(COPIES):
        image = base.rotate(-6 + 2.5 * k, resample=Image.BILINEAR, translate=(3 * k - 8, 2 * k - 5))
        if k % 2:
            image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        folder = root / ("nested" if k >= COPIES // 2 else "")
        folder.mkdir(exist_ok=True)
        image.save(folder / f"face_{k}.jpg", quality=92)
    (root / "not_an_image.jpg").write_bytes(b"this is not a jpeg")
    return root


@pytest.fixture(scope="session")
def landmark_cache(tmp_path_factory, face_folder) -> Path:
    """A cache folder already holding the landmarks of ``face_folder`` (detected once)."""
    from training.data import scan_folders

    cache = tmp_path_factory.mktemp("cache")
    records, _ = scan_folders([str(face_folder)], cache, workers=1)
    assert len(records) == COPIES
    return cache


@pytest.fixture
def tiny_config(tmp_path, face_folder, landmark_cache):
    """Factory of a fast config: 64 px crops, narrow networks, the shared landmark cache."""

    def make(cls, **overrides):
        values = dict(
            data=[str(face_folder)], out=str(tmp_path / "run"), cache_dir=str(landmark_cache),
            resolution=64, width=8, batch_size=2, steps=3, num_workers=0, device="cpu",
            checkpoint_every=100, sample_every=100, log_every=1, val_fraction=0.3, val_samples=2,
            val_eval_images=2, seed=3,
        )
        values.update(overrides)
        return cls(**values)

    return make



@pytest.fixture(scope="session")
def fast_features(tmp_path_factory) -> dict:
    """A tiny face-analysis network as the perceptual feature source: a random VGG19 is slow to build."""
    import dataclasses

    import torch

    from engine.models.face_analysis import FaceAnalysisArchitecture, FaceAnalysisNet
    from engine.weights import save_state_dict

    arch = FaceAnalysisArchitecture(resolution=32, width=4, depth=2)
    path = tmp_path_factory.mktemp("features") / "face-analysis.safetensors"
    torch.manual_seed(0)
    save_state_dict(path, FaceAnalysisNet(arch).state_dict(), {"method": "face-analysis", "architecture": dataclasses.asdict(arch)})
    return {"perceptual_weights": str(path)}
